#include "lib/noop_clock.hpp"

namespace gnomon {

NoControlClock::NoControlClock(std::function<TimePoint()> read_raw, bool virtual_correction,
                               double initial_freq_ppm)
    : read_raw_(std::move(read_raw)),
      virtual_correction_(virtual_correction),
      freq_ppm_(initial_freq_ppm) {
  intent_.freq_ppm = initial_freq_ppm;
}

void NoControlClock::fold(TimePoint raw) {
  if (!started_) {
    last_raw_ = raw;
    started_ = true;
    return;
  }
  const double elapsed_s = (raw - last_raw_).to_seconds();
  // A clock that gains freq_ppm is held back by that much.
  if (virtual_correction_) offset_s_ -= freq_ppm_ * 1e-6 * elapsed_s;
  last_raw_ = raw;
}

TimePoint NoControlClock::now() {
  const TimePoint raw = read_raw_ ? read_raw_() : TimePoint{};
  fold(raw);
  return raw + Duration::from_seconds(offset_s_);
}

double NoControlClock::correction_s() {
  static_cast<void>(now());
  return offset_s_;
}

void NoControlClock::set_frequency_ppm(double freq_ppm) {
  if (read_raw_) fold(read_raw_());
  freq_ppm_ = freq_ppm;
  intent_.freq_ppm = freq_ppm;
  ++intent_.frequency_sets;
}

void NoControlClock::slew_offset(Duration offset, Duration correction_time, double max_rate_ppm) {
  static_cast<void>(correction_time);
  static_cast<void>(max_rate_ppm);
  ++intent_.slews;
  intent_.slewed = intent_.slewed + offset;
  // As chronyd -x does: the virtual clock takes the correction at once.
  if (virtual_correction_) offset_s_ -= offset.to_seconds();
}

bool NoControlClock::step_offset(Duration offset) {
  ++intent_.steps;
  intent_.stepped = intent_.stepped + offset;
  intent_.last_step = offset;
  if (virtual_correction_) offset_s_ -= offset.to_seconds();
  return true;
}

void NoControlClock::set_sync_status(bool synchronised, double est_error_s, double max_error_s) {
  static_cast<void>(est_error_s);
  static_cast<void>(max_error_s);
  intent_.synchronised = synchronised;
}

}  // namespace gnomon
