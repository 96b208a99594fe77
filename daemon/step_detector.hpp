// Notices steps of the system clock that nobody in this process made
// (another program setting the time, a VM resumed after a pause).
//
// On Linux, CLOCK_REALTIME and CLOCK_MONOTONIC run at the same adjusted
// frequency, so between two readings they advance equally except for steps.
// The detector subtracts the steps this process made itself and reports
// what is left when it exceeds the threshold. A leap second (1 s) stays
// below it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>

#include "lib/time.hpp"

namespace gnomon::daemon {

class StepDetector {
 public:
  // Least unexplained jump reported, ns.
  static constexpr std::int64_t kThresholdNs = 1500000000;

  // `real` and `mono` read together; `own_steps`: the total this process has
  // stepped the clock by so far (+ = forward). Returns the unexplained jump
  // since the previous call (+ = forward), if any.
  std::optional<Duration> check(TimePoint real, Duration mono, Duration own_steps) {
    std::optional<Duration> jump;
    if (have_) {
      const Duration d = (real - last_real_) - (mono - last_mono_) - (own_steps - last_own_);
      if (std::llabs(d.ns) >= kThresholdNs) jump = d;
    }
    have_ = true;
    last_real_ = real;
    last_mono_ = mono;
    last_own_ = own_steps;
    return jump;
  }

 private:
  bool have_ = false;
  TimePoint last_real_{};
  Duration last_mono_{};
  Duration last_own_{};
};

}  // namespace gnomon::daemon
