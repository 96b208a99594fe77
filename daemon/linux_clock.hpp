// LinuxClock: the real ClockControl, steering CLOCK_REALTIME through
// clock_adjtime(2).
//
// - Frequency: the kernel's frequency offset (ADJ_FREQUENCY, ppm << 16,
//   at most +-500 ppm) plus, beyond that, the tick length (ADJ_TICK, one
//   microsecond of tick = USER_HZ ppm, up to +-10 % of the nominal tick).
//   Sign: set_frequency_ppm(+f) slows the clock by f (timex.freq = -f << 16).
// - Slew: as chrony does on Linux, not with the kernel PLL. The pending
//   offset is removed by running the clock at an extra frequency for as long
//   as it takes; time is measured on CLOCK_MONOTONIC, so steps do not
//   disturb it, and converted to oscillator time, since CLOCK_MONOTONIC
//   itself runs at the adjusted frequency. The daemon must call update() when slew_end_in() says so
//   (a timer); a late call is absorbed (the overshoot, late time x rate,
//   becomes a new slew back), but at 83333 ppm every 10 ms late is 0.8 ms.
// - Step: ADJ_SETOFFSET | ADJ_NANO.
// - Leap: STA_INS / STA_DEL with ADJ_STATUS; the kernel inserts or deletes
//   the second at the end of the UTC day.
// - Sync status: STA_UNSYNC, esterror and maxerror. STA_UNSYNC is cleared
//   only with rtcsync (otherwise the kernel's 11-minute mode would write
//   the RTC), as chrony does.
//
// Every system call goes through ClockSyscalls, so that tests can record the
// timex fields without touching the real clock.
#pragma once

#include <sys/timex.h>

#include <optional>

#include "lib/clock.hpp"
#include "lib/time.hpp"

namespace gnomon {

class ClockSyscalls {
 public:
  virtual ~ClockSyscalls() = default;
  // clock_adjtime(CLOCK_REALTIME, &tx): the clock state (TIME_OK, ...), or
  // -errno on failure. The kernel writes the current values back into tx.
  virtual int adjtime(timex& tx) = 0;
  virtual TimePoint realtime() = 0;     // clock_gettime(CLOCK_REALTIME)
  virtual Duration monotonic() = 0;     // clock_gettime(CLOCK_MONOTONIC)
  virtual long user_hz() = 0;           // sysconf(_SC_CLK_TCK)
};

// The real system calls.
class RealClockSyscalls final : public ClockSyscalls {
 public:
  int adjtime(timex& tx) override;
  TimePoint realtime() override;
  Duration monotonic() override;
  long user_hz() override;
};

struct LinuxClockOptions {
  bool rtcsync = false;              // let the kernel copy the time to the RTC when synchronised
  double max_slew_rate_ppm = 83333.333;
};

class LinuxClock final : public ClockControl {
 public:
  LinuxClock(ClockSyscalls& sys, LinuxClockOptions options = {});

  // Reads the kernel's frequency and tick (so that frequency_ppm() starts
  // from what the kernel has), cancels any adjtime() offset and turns the
  // kernel PLL off, marking the clock unsynchronised. Returns 0 or -errno.
  [[nodiscard]] int initialise();

  // --- ClockControl
  [[nodiscard]] TimePoint now() override;
  [[nodiscard]] double frequency_ppm() const override { return base_freq_ppm_; }
  void set_frequency_ppm(double freq_ppm) override;
  void slew_offset(Duration offset, Duration correction_time, double max_rate_ppm) override;
  [[nodiscard]] Duration remaining_slew() override;
  [[nodiscard]] bool step_offset(Duration offset) override;
  void set_leap(Leap leap) override;
  void set_sync_status(bool synchronised, double est_error_s, double max_error_s) override;

  // The total this clock has been stepped by through step_offset() (+ =
  // moved forward).
  [[nodiscard]] Duration own_steps() const { return own_steps_; }
  // Time left until the running slew is done (nullopt: none is running).
  [[nodiscard]] std::optional<Duration> slew_end_in();
  // Finishes a slew whose time is up (call at slew_end_in()); harmless at
  // any other time.
  void update();

  // The last -errno from clock_adjtime (0 if none), and how many calls failed.
  [[nodiscard]] int last_error() const { return last_error_; }
  [[nodiscard]] unsigned failures() const { return failures_; }
  [[nodiscard]] long nominal_tick_us() const { return nominal_tick_; }

 private:
  int call(timex& tx);
  // Sets kernel tick and frequency for a total correction of `freq_ppm`
  // (+ = slow down), clamped to what the kernel accepts.
  void apply_frequency(double freq_ppm);
  // Folds the slew done since slew_start_ into slew_pending_s_ and restarts
  // the clock of the slew at `mono`.
  void fold_slew(Duration mono);
  // Oscillator seconds in `mono_s` seconds of CLOCK_MONOTONIC at the
  // frequency now applied.
  [[nodiscard]] double oscillator_seconds(double mono_s) const;
  void start_slew(double max_rate_ppm);

  ClockSyscalls& sys_;
  LinuxClockOptions options_;
  long hz_ = 100;
  long nominal_tick_ = 10000;        // us
  double base_freq_ppm_ = 0.0;       // the correction asked for, ppm
  double applied_freq_ppm_ = 0.0;    // base + slew as the kernel has it (tick and freq), ppm
  double slew_pending_s_ = 0.0;      // + = the clock is still ahead by this much
  double slew_rate_ppm_ = 0.0;       // >= 0, applied in the direction of the pending offset
  double slew_max_rate_ppm_ = 0.0;   // the caller's bound of the running slew
  Duration slew_start_{};            // CLOCK_MONOTONIC at the last fold
  int status_ = STA_UNSYNC;          // the status bits we own
  Duration own_steps_{};             // sum of our steps, + = forward
  int last_error_ = 0;
  unsigned failures_ = 0;
};

}  // namespace gnomon
