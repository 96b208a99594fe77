// What chrony's `local stratum N` serves when no real source is selected
// (reference.c): stratum N, LI 0, refid 127.127.1.1, root delay and root
// dispersion 0, and a reference time kept about 1 s behind now, refreshed
// every 64 s and fuzzed by up to 1 s so that it reveals little about our clock.
#pragma once

#include <cstdint>

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

}  // namespace gnomon
