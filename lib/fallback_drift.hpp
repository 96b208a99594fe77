// chrony's `fallbackdrift MIN MAX`: averages of the clock's frequency over
// windows of 2^MIN .. 2^MAX s, kept while synchronised. When no update has
// come for 2^i s, the frequency falls back to the 2^i s average (longer
// windows as the outage lasts), so that a clock whose frequency swings (a
// daily temperature cycle) keeps its long-term rate instead of the last one.
#pragma once

#include <optional>
#include <vector>

namespace gnomon {

class FallbackDrift {
 public:
  FallbackDrift() = default;
  // min_log2 <= max_log2, in log2 s; min_log2 <= 0 disables it.
  FallbackDrift(int min_log2, int max_log2);

  [[nodiscard]] bool enabled() const { return !windows_.empty(); }
  // A reference update set the frequency to `freq_ppm`, `interval_s` after
  // the previous one (whose interval was `previous_interval_s`).
  void on_update(double freq_ppm, double interval_s, double previous_interval_s);
  // Seconds after the last update at which the next fallback applies;
  // nullopt when none is left.
  [[nodiscard]] std::optional<double> next_after_s() const;
  // `unsynchronised_s` after the last update: the frequency to fall back to
  // now, if a longer window than the one in use has become due.
  [[nodiscard]] std::optional<double> due(double unsynchronised_s);

 private:
  struct Window {
    double seconds = 0.0;     // 2^i
    double freq_ppm = 0.0;    // the average
    double filled_s = 0.0;    // how much of the window the average covers
    [[nodiscard]] bool ready() const { return filled_s >= seconds; }
  };
  std::vector<Window> windows_;
  int in_use_ = -1;           // index of the window applied since the last update
};

}  // namespace gnomon
