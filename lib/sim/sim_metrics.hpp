// Scoring of a simulated run the way chrony's simulation tests score it
// (clknetsim statistics and test.common's find_sync): the true offset and
// frequency error of the client's clock are sampled once per true second.
// - Sync time: one second after the last sample with |offset| > 1 ms or
//   |frequency error| > 500 ppm (the frequency includes a running slew).
// - Max and RMS of the offset and of the frequency error, over the samples
//   from `stats_start_s` on (chrony resets its statistics at the largest
//   sync time it accepts, e.g. 210 s).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace gnomon::sim {

struct ClockSample {
  double t_s = 0.0;          // true time
  double offset_s = 0.0;     // clock minus true time
  double freq_ppm = 0.0;     // rate error, including a running slew
};

struct SyncCriterion {
  double max_offset_s = 1e-3;
  double max_freq_ppm = 500.0;
};

// First true time from which every later sample meets `c`; nullopt if the
// last sample does not (never synchronised, or lost sync at the end).
[[nodiscard]] std::optional<double> sync_time_s(std::span<const ClockSample> samples,
                                                const SyncCriterion& c = {});

// First true time from which `c` holds for at least `hold_s` (or to the end
// of the run, if that comes first and is at least hold_s away); nullopt if
// never. Used for "time to reach 100 us": a clock that gets there but later
// has an excursion still counts from its first arrival.
[[nodiscard]] std::optional<double> first_hold_time_s(std::span<const ClockSample> samples,
                                                      const SyncCriterion& c, double hold_s);

struct ErrorStats {
  std::size_t samples = 0;
  double max_offset_s = 0.0;   // of |offset|
  double rms_offset_s = 0.0;
  double max_freq_ppm = 0.0;   // of |freq|
  double rms_freq_ppm = 0.0;
};

// Over the samples with t_s >= stats_start_s.
[[nodiscard]] ErrorStats error_stats(std::span<const ClockSample> samples, double stats_start_s);

}  // namespace gnomon::sim
