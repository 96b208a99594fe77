#include "lib/sim/sim_metrics.hpp"

#include <algorithm>
#include <cmath>

namespace gnomon::sim {

std::optional<double> sync_time_s(std::span<const ClockSample> samples, const SyncCriterion& c) {
  if (samples.empty()) return std::nullopt;
  auto bad = [&c](const ClockSample& s) {
    return !(std::fabs(s.offset_s) <= c.max_offset_s) || !(std::fabs(s.freq_ppm) <= c.max_freq_ppm);
  };
  if (bad(samples.back())) return std::nullopt;
  for (std::size_t i = samples.size(); i-- > 0;) {
    if (bad(samples[i])) return samples[i + 1].t_s;
  }
  return samples.front().t_s;
}

std::optional<double> first_hold_time_s(std::span<const ClockSample> samples,
                                        const SyncCriterion& c, double hold_s) {
  std::optional<double> start;
  for (const auto& s : samples) {
    const bool ok =
        std::fabs(s.offset_s) <= c.max_offset_s && std::fabs(s.freq_ppm) <= c.max_freq_ppm;
    if (!ok) {
      start.reset();
      continue;
    }
    if (!start) start = s.t_s;
    if (s.t_s - *start >= hold_s) return start;
  }
  return std::nullopt;
}

ErrorStats error_stats(std::span<const ClockSample> samples, double stats_start_s) {
  ErrorStats e;
  double sum_off2 = 0.0, sum_freq2 = 0.0;
  for (const auto& s : samples) {
    if (s.t_s < stats_start_s) continue;
    ++e.samples;
    e.max_offset_s = std::max(e.max_offset_s, std::fabs(s.offset_s));
    e.max_freq_ppm = std::max(e.max_freq_ppm, std::fabs(s.freq_ppm));
    sum_off2 += s.offset_s * s.offset_s;
    sum_freq2 += s.freq_ppm * s.freq_ppm;
  }
  if (e.samples > 0) {
    const double n = static_cast<double>(e.samples);
    e.rms_offset_s = std::sqrt(sum_off2 / n);
    e.rms_freq_ppm = std::sqrt(sum_freq2 / n);
  }
  return e;
}

}  // namespace gnomon::sim
