// A seeded RandomSource for the client-association tests: reproducible
// request transmit timestamps and cookies. Header only (tests/unit/*.cpp
// each become a binary).
#pragma once

#include <cstdint>
#include <random>
#include <span>

#include "lib/source.hpp"

namespace gnomon::test {

class SeededRng final : public RandomSource {
 public:
  explicit SeededRng(std::uint64_t seed) : engine_(seed) {}
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(engine_() >> 56);
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace gnomon::test
