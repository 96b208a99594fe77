// Deterministic random numbers for the simulator. std::mt19937_64's output
// sequence is fixed by the C++ standard, but the std distributions are not
// (each library may transform the bits differently), so the transforms are
// written out here: the same seed gives the same run on every platform.
#pragma once

#include <cstdint>
#include <random>

namespace gnomon::sim {

class SimRandom {
 public:
  explicit SimRandom(std::uint64_t seed) : engine_(seed) {}

  [[nodiscard]] std::uint64_t next_u64() { return engine_(); }
  [[nodiscard]] std::uint32_t next_u32() { return static_cast<std::uint32_t>(engine_() >> 32); }
  // Uniform in [0, 1), 53 random bits.
  [[nodiscard]] double uniform();
  // Exponential with mean 1 (inverse transform).
  [[nodiscard]] double exponential();
  // Standard normal (Box-Muller; the second value of each pair is kept).
  [[nodiscard]] double normal();
  // True with probability p (p <= 0: never, p >= 1: always, no bits drawn).
  [[nodiscard]] bool chance(double p);

 private:
  std::mt19937_64 engine_;
  double spare_normal_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace gnomon::sim
