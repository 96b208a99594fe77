// Local reference state: see local_reference.hpp.
#include "lib/local_reference.hpp"

#include <algorithm>
#include <cmath>

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

TimePoint next_local_reference_time(std::optional<TimePoint> previous, TimePoint now,
                                    std::uint64_t fuzz_seed) {
  if (previous) {
    const Duration age = now - *previous;
    if (age >= Duration::seconds(1) && age <= kLocalRefUpdateInterval) return *previous;
  }
  // Fuzz in [0, 1) s, from the seed and the time of the move.
  const std::uint64_t r = mix64(fuzz_seed ^ static_cast<std::uint64_t>(now.unix_ns)) >> 32;
  const auto fuzz_ns = static_cast<std::int64_t>((r * static_cast<std::uint64_t>(kNsPerS)) >> 32);
  return TimePoint{now.unix_ns - kNsPerS - fuzz_ns};
}

ServedState local_served_state(int stratum, TimePoint ref_time, std::int8_t precision) {
  ServedState s;
  s.leap = Leap::None;
  s.stratum = std::clamp(stratum, 1, 15);
  s.refid = kLocalRefid;
  s.reference_time = ref_time;
  s.root_delay_s = 0.0;
  s.root_dispersion_s = 0.0;
  s.dispersion_rate = 0.0;
  s.precision = precision;
  return s;
}

bool LocalActivation::activate_ok(const LocalConfig& local, const LocalInputs& in) const {
  return activate_ok_ || local.activate_s == 0.0 ||
         (in.synchronised && in.root_distance_s < local.activate_s);
}

LocalDecision LocalActivation::decide(const LocalConfig& local, const LocalInputs& in) {
  if (activate_ok(local, in)) activate_ok_ = true;
  const bool wait_ok = in.synchronised ? in.since_update_s >= local.wait_synced_s
                                       : in.since_unsynchronised_s >= local.effective_wait_unsynced_s();
  const bool may_serve_local = local.enabled && activate_ok_ && wait_ok;
  if (in.synchronised && !(may_serve_local && in.root_distance_s > local.distance_s))
    return LocalDecision::Source;
  return may_serve_local ? LocalDecision::Local : LocalDecision::Unsynchronised;
}

std::optional<double> LocalActivation::change_in_s(const LocalConfig& local, const LocalInputs& in,
                                                   double distance_rate) const {
  if (!local.enabled || !activate_ok(local, in)) return std::nullopt;
  if (!in.synchronised) {
    const double wait_s = local.effective_wait_unsynced_s() - in.since_unsynchronised_s;
    return wait_s > 0.0 ? std::optional<double>(wait_s) : std::nullopt;
  }
  // Synchronised: the local reference takes over once both the wait and the
  // growing distance allow it.
  const double wait_s = std::max(local.wait_synced_s - in.since_update_s, 0.0);
  double distance_s = 0.0;
  if (in.root_distance_s <= local.distance_s) {
    if (!(distance_rate > 0.0)) return std::nullopt;
    distance_s = (local.distance_s - in.root_distance_s) / distance_rate;
  }
  const double in_s = std::max(wait_s, distance_s);
  if (in_s <= 0.0 || !std::isfinite(in_s)) return std::nullopt;
  return in_s;
}

}  // namespace gnomon
