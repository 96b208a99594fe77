#include "lib/fallback_drift.hpp"

#include <cmath>

namespace gnomon {

namespace {
// An update interval this many times the previous one is an outage, not a
// sample of the normal drift: it is not averaged.
constexpr double kMaxIntervalGrowth = 4.0;
constexpr double kMinIntervalS = 1.0;
constexpr int kMaxLog2 = 30;
}  // namespace

FallbackDrift::FallbackDrift(int min_log2, int max_log2) {
  if (min_log2 <= 0 || max_log2 < min_log2 || max_log2 > kMaxLog2) return;
  for (int i = min_log2; i <= max_log2; ++i) windows_.push_back(Window{std::ldexp(1.0, i), 0.0, 0.0});
}

void FallbackDrift::on_update(double freq_ppm, double interval_s, double previous_interval_s) {
  in_use_ = -1;
  if (!std::isfinite(freq_ppm) || !std::isfinite(interval_s)) return;
  if (interval_s < kMinIntervalS || interval_s > previous_interval_s * kMaxIntervalGrowth) return;
  for (Window& w : windows_) {
    // Each update stands for half its interval. A plain mean until the
    // window is covered, then an exponential average with the window's
    // time constant.
    const double weight = 0.5 * interval_s;
    if (!w.ready()) {
      w.freq_ppm = (w.freq_ppm * w.filled_s + weight * freq_ppm) / (w.filled_s + weight);
      w.filled_s += weight;
    } else {
      w.freq_ppm += (1.0 - std::exp(-interval_s / w.seconds)) * (freq_ppm - w.freq_ppm);
    }
  }
}

std::optional<double> FallbackDrift::next_after_s() const {
  for (int i = in_use_ + 1; i < static_cast<int>(windows_.size()); ++i)
    if (windows_[static_cast<std::size_t>(i)].ready()) return windows_[static_cast<std::size_t>(i)].seconds;
  return std::nullopt;
}

std::optional<double> FallbackDrift::due(double unsynchronised_s) {
  int best = -1;
  for (int i = in_use_ + 1; i < static_cast<int>(windows_.size()); ++i) {
    const Window& w = windows_[static_cast<std::size_t>(i)];
    if (w.ready() && w.seconds <= unsynchronised_s) best = i;
  }
  if (best < 0) return std::nullopt;
  in_use_ = best;
  return windows_[static_cast<std::size_t>(best)].freq_ppm;
}

}  // namespace gnomon
