// The controlled system clock, as the synchronisation core sees it. The core
// never reads or adjusts a clock by itself: it goes through this interface.
// Implementations: daemon/linux_clock (clock_adjtime), lib/sim FakeClock, and
// lib/noop_clock NoControlClock (-x: a virtually corrected clock that never
// touches the real one).
//
// Sign conventions (chrony's, and gnomon's of lib/sync_types.hpp):
// - An OFFSET is clock minus true time: positive = the clock is AHEAD (fast).
//   step_offset(+0.5 s) moves the clock back by 0.5 s; slew_offset(+1 ms)
//   makes it run slow until 1 ms has been removed.
// - A FREQUENCY in ppm is the estimated rate error of the UNCORRECTED clock:
//   positive = it gains time (runs fast). set_frequency_ppm(+100) makes the
//   driver slow the clock down by 100 ppm (Linux: timex.freq = -100 * 2^16).
//   This is chrony's absolute frequency, what tracking prints as "N ppm fast"
//   and what the drift file stores.
#pragma once

#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon {

class ClockControl {
 public:
  virtual ~ClockControl() = default;

  // The current reading of the controlled clock (with all corrections made
  // so far, including the part of a slew already done).
  [[nodiscard]] virtual TimePoint now() = 0;

  // The frequency correction currently set, in ppm (see above). Does not
  // include the temporary extra rate of a running slew.
  [[nodiscard]] virtual double frequency_ppm() const = 0;
  virtual void set_frequency_ppm(double freq_ppm) = 0;

  // Adds `offset` (+ = clock ahead) to the pending slew, then restarts the
  // slew of the whole pending amount: the clock runs at an extra rate of
  // |pending| / max(correction_time, 1 s), never more than max_rate_ppm,
  // until nothing is pending. A step does not cancel a pending slew.
  virtual void slew_offset(Duration offset, Duration correction_time, double max_rate_ppm) = 0;

  // What is left of the pending slew (+ = the clock is still that much
  // ahead of where the slews want it). Zero when no slew is running.
  [[nodiscard]] virtual Duration remaining_slew() = 0;

  // Steps the clock by -offset at once (offset + = clock ahead). Returns
  // false if the step could not be made (the caller then slews instead).
  [[nodiscard]] virtual bool step_offset(Duration offset) = 0;

  // Leap second to insert/delete at the end of the current UTC day, or None.
  // Unsynchronised is passed when we have no reference (drivers that keep a
  // kernel sync flag clear it then).
  virtual void set_leap(Leap leap) = 0;

  // Optional: our synchronisation status and error bounds (the kernel's
  // STA_UNSYNC, esterror and maxerror), for rtcsync and other readers.
  virtual void set_sync_status(bool synchronised, double est_error_s, double max_error_s) {
    static_cast<void>(synchronised);
    static_cast<void>(est_error_s);
    static_cast<void>(max_error_s);
  }
};

}  // namespace gnomon
