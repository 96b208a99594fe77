// Local reference state: see local_reference.hpp.
#include "lib/local_reference.hpp"

#include <algorithm>

namespace gnomon {
namespace {

// splitmix64 finaliser: a well-mixed 64-bit value from a 64-bit input.
[[nodiscard]] std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// floor(a / b) for b > 0.
[[nodiscard]] std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b) != 0 && a < 0) --q;
  return q;
}

}  // namespace

ServedState local_reference_state(int stratum, TimePoint now, std::int8_t precision,
                                  std::uint64_t fuzz_seed) {
  const std::int64_t interval_ns = kLocalRefUpdateInterval.ns;
  const std::int64_t window = floor_div((now - Duration::seconds(1)).unix_ns, interval_ns);
  // Fuzz in [0, 1) s, fixed for the window.
  const std::uint64_t r = mix64(fuzz_seed ^ static_cast<std::uint64_t>(window)) >> 32;
  const auto fuzz_ns = static_cast<std::int64_t>((r * static_cast<std::uint64_t>(kNsPerS)) >> 32);

  ServedState s;
  s.leap = Leap::None;
  s.stratum = std::clamp(stratum, 1, 15);
  s.refid = kLocalRefid;
  s.reference_time = TimePoint{window * interval_ns - fuzz_ns};
  s.root_delay_s = 0.0;
  s.root_dispersion_s = 0.0;
  s.dispersion_rate = 0.0;
  s.precision = precision;
  return s;
}

ServedState local_reference_state(const LocalConfig& local, TimePoint now, std::int8_t precision,
                                  std::uint64_t fuzz_seed) {
  return local_reference_state(local.stratum, now, precision, fuzz_seed);
}

}  // namespace gnomon
