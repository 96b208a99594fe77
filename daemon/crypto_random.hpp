// RandomSource (lib/source.hpp) backed by the kernel's CSPRNG, for nonces,
// unique identifiers and keys. One instance per thread.
#pragma once

#include "daemon/random_pool.hpp"
#include "lib/source.hpp"

namespace gnomon::daemon {

class CryptoRandom final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override { pool_.fill(out.data(), out.size()); }

 private:
  RandomPool pool_;
};

}  // namespace gnomon::daemon
