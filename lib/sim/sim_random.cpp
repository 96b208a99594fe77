#include "lib/sim/sim_random.hpp"

#include <cmath>
#include <numbers>

namespace gnomon::sim {

double SimRandom::uniform() {
  return static_cast<double>(engine_() >> 11) * 0x1.0p-53;
}

double SimRandom::exponential() {
  // 1 - u lies in (0, 1], so the log is finite.
  return -std::log(1.0 - uniform());
}

double SimRandom::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_normal_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double a = 2.0 * std::numbers::pi * u2;
  spare_normal_ = r * std::sin(a);
  has_spare_ = true;
  return r * std::cos(a);
}

bool SimRandom::chance(double p) {
  if (p <= 0.0) return false;
  if (p >= 1.0) return true;
  return uniform() < p;
}

}  // namespace gnomon::sim
