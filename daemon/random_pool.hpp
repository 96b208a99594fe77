// Cryptographically secure random bytes from the kernel (getrandom), read in
// blocks so that the per-packet cost is a copy. One pool per thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace gnomon::daemon {

class RandomPool {
 public:
  std::uint32_t next_u32();
  std::uint64_t next_u64();
  void fill(std::uint8_t* out, std::size_t n);

 private:
  void refill();
  std::array<std::uint8_t, 4096> buf_{};
  std::size_t pos_ = sizeof buf_;
};

}  // namespace gnomon::daemon
