#include "daemon/clock_precision.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>

namespace gnomon::daemon {

namespace {
std::int64_t read_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
}  // namespace

ClockPrecision measure_clock_precision() {
  constexpr int kSteps = 100;
  constexpr std::int64_t kGiveUpNs = 1'000'000'000;
  std::int64_t best = kGiveUpNs;
  const std::int64_t start = read_ns();
  std::int64_t prev = start;
  int steps = 0;
  while (steps < kSteps) {
    const std::int64_t now = read_ns();
    const std::int64_t d = now - prev;
    prev = now;
    if (d > 0) {
      best = std::min(best, d);
      ++steps;
    }
    if (now - start > kGiveUpNs || now < start) break;  // coarse clock, or stepped meanwhile
  }
  ClockPrecision p;
  p.quantum_s = static_cast<double>(std::max<std::int64_t>(best, 1)) * 1e-9;
  p.log2 = static_cast<std::int8_t>(std::clamp(static_cast<int>(std::lround(std::log2(p.quantum_s))), -30, 0));
  return p;
}

}  // namespace gnomon::daemon
