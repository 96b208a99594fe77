// What chrony's `local stratum N` serves when no real source is selected
// (reference.c): stratum N, LI 0, refid 127.127.1.1, root delay and root
// dispersion 0, and a reference time kept about 1 s behind now, refreshed
// every 64 s and fuzzed by up to 1 s so that it reveals little about our clock.
//
// When the local reference is served at all is chrony's rule too
// (LocalActivation below): `local distance` (our root distance over this
// while synchronised), `activate` (not before the distance was once below
// it), `waitsynced` (not sooner after the last clock update) and
// `waitunsynced` (not sooner after we became unsynchronised or started).
#pragma once

#include <cstdint>
#include <optional>

#include "lib/config.hpp"
#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon {

// How often the local reference time moves forward.
inline constexpr Duration kLocalRefUpdateInterval = Duration::seconds(64);

// A pure function of its inputs. `stratum` is clamped to 1..15. The reference
// time is constant within each 64-s window and lies 1..66 s before `now`
// (chrony: 1..65 s plus up to 1 s of fuzz). `fuzz_seed` (a per-daemon secret)
// picks the fuzz of each window; 0 is allowed.
[[nodiscard]] ServedState local_reference_state(int stratum, TimePoint now,
                                                std::int8_t precision,
                                                std::uint64_t fuzz_seed = 0);
[[nodiscard]] ServedState local_reference_state(const LocalConfig& local, TimePoint now,
                                                std::int8_t precision,
                                                std::uint64_t fuzz_seed = 0);

// chronyd's local reference time: kept while it is 1..64 s before `now`,
// otherwise moved to 1..2 s before `now` (the extra 0..1 s is fuzz picked
// from `fuzz_seed` and `now`). `previous` is the one served before, if any.
[[nodiscard]] TimePoint next_local_reference_time(std::optional<TimePoint> previous, TimePoint now,
                                                  std::uint64_t fuzz_seed);

// What the local reference serves with reference time `ref_time`: stratum
// (clamped to 1..15), LI 0, refid 127.127.1.1, root delay and dispersion 0.
[[nodiscard]] ServedState local_served_state(int stratum, TimePoint ref_time, std::int8_t precision);

// What the server hands out: the real reference, the local one, or nothing
// (unsynchronised).
enum class LocalDecision : std::uint8_t { Source, Local, Unsynchronised };

struct LocalInputs {
  bool synchronised = false;          // to a real source
  double root_distance_s = 0.0;       // ours now, while synchronised
  double since_update_s = 0.0;        // since the last clock update, while synchronised
  double since_unsynchronised_s = 0.0;  // since we became unsynchronised (or started)
};

// chrony's local reference activation. Stateful only in `activate`: once
// our root distance has been seen below it, the local reference may be used
// from then on.
class LocalActivation {
 public:
  // The decision now; `local.enabled` false means there is no local reference.
  [[nodiscard]] LocalDecision decide(const LocalConfig& local, const LocalInputs& in);
  // Seconds until decide() would change by itself, with the root distance
  // growing at `distance_rate` (s/s) and time passing; nullopt = not by itself.
  [[nodiscard]] std::optional<double> change_in_s(const LocalConfig& local, const LocalInputs& in,
                                                  double distance_rate) const;
  [[nodiscard]] bool activated() const { return activate_ok_; }

 private:
  [[nodiscard]] bool activate_ok(const LocalConfig& local, const LocalInputs& in) const;
  bool activate_ok_ = false;
};

}  // namespace gnomon
