// NoControlClock: the ClockControl of -x ([clock] control = false). It never
// adjusts the real clock. Like chronyd -x, it keeps a virtual correction
// (frequency and offset) on top of the real clock that an injected reader
// returns, so that the whole synchronisation loop, the tracking report and
// the time we serve work as usual while the system clock is left alone.
// Every adjustment asked for is also recorded, to report what would have been
// done to the real clock.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>

#include "lib/clock.hpp"

namespace gnomon {

// What the core asked of the clock since construction.
struct ClockIntent {
  double freq_ppm = 0.0;         // last frequency set
  int frequency_sets = 0;
  int slews = 0;
  int steps = 0;
  Duration slewed{};             // sum of offsets slewed (+ = clock was ahead)
  Duration stepped{};            // sum of offsets stepped
  Duration last_step{};
  Leap leap = Leap::None;
  bool synchronised = false;
};

class NoControlClock final : public ClockControl {
 public:
  // `read_raw` returns the real (unadjusted) clock, e.g. CLOCK_REALTIME.
  // With `virtual_correction` false, now() is the raw clock unchanged and
  // the clock only records (the loop then keeps seeing the full offset).
  explicit NoControlClock(std::function<TimePoint()> read_raw, bool virtual_correction = true,
                          double initial_freq_ppm = 0.0);

  [[nodiscard]] TimePoint now() override;
  [[nodiscard]] double frequency_ppm() const override { return freq_ppm_; }
  void set_frequency_ppm(double freq_ppm) override;
  void slew_offset(Duration offset, Duration correction_time, double max_rate_ppm) override;
  [[nodiscard]] Duration remaining_slew() override { return Duration{}; }
  [[nodiscard]] bool step_offset(Duration offset) override;
  void set_leap(Leap leap) override { intent_.leap = leap; }
  void set_sync_status(bool synchronised, double est_error_s, double max_error_s) override;

  [[nodiscard]] const ClockIntent& intent() const { return intent_; }
  // The virtual correction now: corrected minus raw time, in seconds.
  [[nodiscard]] double correction_s();

 private:
  // Folds the frequency correction accrued since last_raw_ into offset_s_.
  void fold(TimePoint raw);

  std::function<TimePoint()> read_raw_;
  bool virtual_correction_;
  double freq_ppm_;
  double offset_s_ = 0.0;        // virtual clock minus raw clock at last_raw_
  TimePoint last_raw_{};
  bool started_ = false;
  ClockIntent intent_{};
};

}  // namespace gnomon
