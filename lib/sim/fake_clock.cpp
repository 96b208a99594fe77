#include "lib/sim/fake_clock.hpp"

#include <algorithm>
#include <cmath>

namespace gnomon::sim {

FakeClock::FakeClock(const FakeClockConfig& config)
    : config_(config),
      random_(config.seed),
      offset_s_(config.initial_offset_s),
      uncorrected_ppm_(config.freq_error_ppm) {}

void FakeClock::integrate(double dt_s) {
  if (dt_s <= 0.0) return;
  const double gain = 1.0 + uncorrected_ppm_ * 1e-6;   // the oscillator's rate
  const double corr = correction_ppm_ * 1e-6;
  if (slew_rate_ > 0.0 && slew_pending_s_ != 0.0) {
    // The slew runs until |pending| is gone, at most for this interval.
    const double slew_time = std::min(dt_s, std::fabs(slew_pending_s_) / (gain * slew_rate_));
    const double slew = std::copysign(slew_rate_, slew_pending_s_);
    offset_s_ += (gain * (1.0 - corr - slew) - 1.0) * slew_time;
    slew_pending_s_ -= gain * slew * slew_time;
    if (slew_time < dt_s || std::fabs(slew_pending_s_) < 1e-15) {
      slew_pending_s_ = 0.0;
      slew_rate_ = 0.0;
    }
    dt_s -= slew_time;
  }
  offset_s_ += (gain * (1.0 - corr) - 1.0) * dt_s;
}

void FakeClock::advance_to(double true_s) {
  while (true_s_ < true_s) {
    const double until = std::min(true_s, next_wander_s_);
    integrate(until - true_s_);
    true_s_ = until;
    if (true_s_ >= next_wander_s_) {
      if (config_.wander_ppm != 0.0) uncorrected_ppm_ += config_.wander_ppm * random_.normal();
      next_wander_s_ += 1.0;
    }
  }
}

TimePoint FakeClock::true_now() const {
  return config_.epoch + Duration{std::llround(true_s_ * 1e9)};
}

TimePoint FakeClock::now() {
  return true_now() + Duration{std::llround(offset_s_ * 1e9)};
}

double FakeClock::true_frequency_error_ppm() const {
  double corr = correction_ppm_ * 1e-6;
  if (slew_pending_s_ != 0.0) corr += std::copysign(slew_rate_, slew_pending_s_);
  return ((1.0 + uncorrected_ppm_ * 1e-6) * (1.0 - corr) - 1.0) * 1e6;
}

double FakeClock::residual_frequency_ppm() const {
  return ((1.0 + uncorrected_ppm_ * 1e-6) * (1.0 - correction_ppm_ * 1e-6) - 1.0) * 1e6;
}

std::size_t FakeClock::count(ClockAdjustment::Kind kind) const {
  return static_cast<std::size_t>(
      std::count_if(log_.begin(), log_.end(), [kind](const auto& a) { return a.kind == kind; }));
}

void FakeClock::set_frequency_ppm(double freq_ppm) {
  if (!std::isfinite(freq_ppm)) freq_ppm = 0.0;
  correction_ppm_ = freq_ppm;
  log_.push_back(ClockAdjustment{ClockAdjustment::Kind::Frequency, true_s_, freq_ppm});
}

void FakeClock::slew_offset(Duration offset, Duration correction_time, double max_rate_ppm) {
  ClockAdjustment a{ClockAdjustment::Kind::Slew, true_s_, offset.to_seconds()};
  a.correction_time_s = correction_time.to_seconds();
  a.max_rate_ppm = max_rate_ppm;
  log_.push_back(a);

  slew_pending_s_ += offset.to_seconds();
  double rate = std::fabs(slew_pending_s_) / std::max(correction_time.to_seconds(), 1.0);
  double cap_ppm = std::min(max_rate_ppm, config_.max_slew_rate_ppm);
  if (!(cap_ppm > 0.0)) cap_ppm = 0.0;
  slew_rate_ = std::min(rate, cap_ppm * 1e-6);
  if (slew_pending_s_ == 0.0) slew_rate_ = 0.0;
}

Duration FakeClock::remaining_slew() {
  return Duration{std::llround(slew_pending_s_ * 1e9)};
}

bool FakeClock::step_offset(Duration offset) {
  ClockAdjustment a{ClockAdjustment::Kind::Step, true_s_, offset.to_seconds()};
  a.accepted = config_.can_step;
  log_.push_back(a);
  if (!config_.can_step) return false;
  offset_s_ -= offset.to_seconds();
  return true;
}

void FakeClock::set_leap(Leap leap) {
  ClockAdjustment a{ClockAdjustment::Kind::Leap, true_s_, 0.0};
  a.leap = leap;
  log_.push_back(a);
  leap_ = leap;
}

void FakeClock::set_sync_status(bool synchronised, double est_error_s, double max_error_s) {
  static_cast<void>(est_error_s);
  ClockAdjustment a{ClockAdjustment::Kind::SyncStatus, true_s_, max_error_s};
  a.accepted = synchronised;
  // Called at every update: keep only changes, so that long runs stay small.
  for (auto it = log_.rbegin(); it != log_.rend(); ++it) {
    if (it->kind != ClockAdjustment::Kind::SyncStatus) continue;
    if (it->accepted == synchronised) return;
    break;
  }
  log_.push_back(a);
}

}  // namespace gnomon::sim
