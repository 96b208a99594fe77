#include "daemon/linux_clock.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

namespace gnomon {
namespace {

// The kernel's frequency offset range, ppm.
constexpr double kMaxKernelFreqPpm = 500.0;
// timex.freq units per ppm.
constexpr double kFreqScale = 65536.0;
// Largest error bound the kernel is told, s (chrony's MAX_SYNC_ERROR).
constexpr double kMaxSyncErrorS = 16.0;
// A pending slew smaller than this is done, s.
constexpr double kSlewDoneS = 1e-9;

constexpr unsigned modes_of(int flags) { return static_cast<unsigned>(flags); }

}  // namespace

int RealClockSyscalls::adjtime(timex& tx) {
  const int r = ::clock_adjtime(CLOCK_REALTIME, &tx);
  return r < 0 ? -errno : r;
}

TimePoint RealClockSyscalls::realtime() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return TimePoint::from_timespec(ts);
}

Duration RealClockSyscalls::monotonic() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return Duration{static_cast<std::int64_t>(ts.tv_sec) * kNsPerS + ts.tv_nsec};
}

long RealClockSyscalls::user_hz() { return ::sysconf(_SC_CLK_TCK); }

LinuxClock::LinuxClock(ClockSyscalls& sys, LinuxClockOptions options)
    : sys_(sys), options_(options) {
  const long hz = sys_.user_hz();
  hz_ = hz > 0 && hz <= 100000 ? hz : 100;
  nominal_tick_ = (1000000L + hz_ / 2) / hz_;
}

int LinuxClock::call(timex& tx) {
  const int r = sys_.adjtime(tx);
  if (r < 0) {
    last_error_ = r;
    ++failures_;
  }
  return r;
}

int LinuxClock::initialise() {
  timex read{};
  read.modes = 0;
  int r = call(read);
  if (r < 0) return r;
  base_freq_ppm_ = static_cast<double>(hz_) * static_cast<double>(nominal_tick_ - read.tick) -
                   static_cast<double>(read.freq) / kFreqScale;

  // Cancel an offset left by adjtime(3), then reset the PLL offset and turn
  // the PLL off: from now on we alone steer the clock.
  timex single{};
  single.modes = modes_of(ADJ_OFFSET_SINGLESHOT);
  single.offset = 0;
  if ((r = call(single)) < 0) return r;

  status_ = STA_UNSYNC;
  timex pll{};
  pll.modes = modes_of(ADJ_OFFSET | ADJ_STATUS);
  pll.status = STA_PLL | status_;
  pll.offset = 0;
  if ((r = call(pll)) < 0) return r;

  timex off{};
  off.modes = modes_of(ADJ_STATUS);
  off.status = status_;
  if ((r = call(off)) < 0) return r;
  slew_start_ = sys_.monotonic();
  return 0;
}

TimePoint LinuxClock::now() { return sys_.realtime(); }

void LinuxClock::apply_frequency(double freq_ppm) {
  const double ppm_per_tick = static_cast<double>(hz_);
  const long max_delta_tick = nominal_tick_ / 10;  // the kernel's bound on tick
  const double limit = ppm_per_tick * static_cast<double>(max_delta_tick) + kMaxKernelFreqPpm;
  if (!std::isfinite(freq_ppm)) freq_ppm = 0.0;
  freq_ppm = std::clamp(freq_ppm, -limit, limit);

  long delta_tick = 0;
  if (std::fabs(freq_ppm) > kMaxKernelFreqPpm) {
    delta_tick = std::clamp(std::lround(freq_ppm / ppm_per_tick), -max_delta_tick, max_delta_tick);
  }
  const double residual_ppm = std::clamp(freq_ppm - ppm_per_tick * static_cast<double>(delta_tick),
                                         -kMaxKernelFreqPpm, kMaxKernelFreqPpm);
  timex tx{};
  tx.modes = modes_of(ADJ_FREQUENCY | ADJ_TICK);
  tx.freq = std::lround(-residual_ppm * kFreqScale);
  tx.tick = nominal_tick_ - delta_tick;
  if (call(tx) >= 0) {
    applied_freq_ppm_ = ppm_per_tick * static_cast<double>(delta_tick) + static_cast<double>(-tx.freq) / kFreqScale;
  }
}

void LinuxClock::set_frequency_ppm(double freq_ppm) {
  if (!std::isfinite(freq_ppm)) return;
  // The slew done so far ran at the old frequency.
  fold_slew(sys_.monotonic());
  base_freq_ppm_ = freq_ppm;
  apply_frequency(base_freq_ppm_ + std::copysign(slew_rate_ppm_, slew_pending_s_));
}

double LinuxClock::oscillator_seconds(double mono_s) const {
  // CLOCK_MONOTONIC runs at the adjusted rate, (1 - F) oscillator seconds per
  // second for a total correction of F; the slew removes its rate times
  // oscillator time. At 83333 ppm, ignoring this overshoots by 9 %.
  const double rate = 1.0 - applied_freq_ppm_ * 1e-6;
  return rate > 0.5 ? mono_s / rate : mono_s;
}

void LinuxClock::fold_slew(Duration mono) {
  const double elapsed_s = std::max(0.0, (mono - slew_start_).to_seconds());
  slew_start_ = mono;
  if (slew_rate_ppm_ <= 0.0 || slew_pending_s_ == 0.0) return;
  const double done_s = slew_rate_ppm_ * 1e-6 * oscillator_seconds(elapsed_s);
  // Past zero, the clock has overshot: what is pending changes sign.
  slew_pending_s_ -= std::copysign(done_s, slew_pending_s_);
}

void LinuxClock::start_slew(double max_rate_ppm) {
  slew_max_rate_ppm_ = max_rate_ppm;
  if (std::fabs(slew_pending_s_) < kSlewDoneS) {
    slew_pending_s_ = 0.0;
    slew_rate_ppm_ = 0.0;
  }
  apply_frequency(base_freq_ppm_ + std::copysign(slew_rate_ppm_, slew_pending_s_));
}

void LinuxClock::slew_offset(Duration offset, Duration correction_time, double max_rate_ppm) {
  fold_slew(sys_.monotonic());
  slew_pending_s_ += offset.to_seconds();
  const double time_s = std::max(correction_time.to_seconds(), 1.0);
  double cap_ppm = std::min(max_rate_ppm, options_.max_slew_rate_ppm);
  if (!(cap_ppm > 0.0)) cap_ppm = 0.0;
  slew_rate_ppm_ = std::min(std::fabs(slew_pending_s_) / time_s * 1e6, cap_ppm);
  start_slew(max_rate_ppm);
}

std::optional<Duration> LinuxClock::slew_end_in() {
  if (slew_rate_ppm_ <= 0.0 || slew_pending_s_ == 0.0) return std::nullopt;
  const double elapsed_s = std::max(0.0, (sys_.monotonic() - slew_start_).to_seconds());
  const double rate = 1.0 - applied_freq_ppm_ * 1e-6;
  const double left_osc_s = std::fabs(slew_pending_s_) / (slew_rate_ppm_ * 1e-6);
  const double left_s = left_osc_s * (rate > 0.5 ? rate : 1.0) - elapsed_s;
  return Duration::from_seconds(std::max(0.0, left_s));
}

void LinuxClock::update() {
  if (slew_rate_ppm_ <= 0.0 || slew_pending_s_ == 0.0) return;
  const double before_s = slew_pending_s_;
  fold_slew(sys_.monotonic());
  if (std::fabs(slew_pending_s_) < kSlewDoneS) {
    slew_pending_s_ = 0.0;
    slew_rate_ppm_ = 0.0;
    apply_frequency(base_freq_ppm_);
  } else if ((before_s > 0.0) != (slew_pending_s_ > 0.0)) {
    // Called late: slew the overshoot back over at least 2 s, so that a
    // caller that is late again (by less than 1 s) at most halves it.
    slew_rate_ppm_ = std::min(slew_rate_ppm_, std::fabs(slew_pending_s_) / 2.0 * 1e6);
    start_slew(slew_max_rate_ppm_);
  }
}

Duration LinuxClock::remaining_slew() {
  update();
  if (slew_rate_ppm_ <= 0.0) return Duration{};
  fold_slew(sys_.monotonic());
  return Duration::from_seconds(slew_pending_s_);
}

bool LinuxClock::step_offset(Duration offset) {
  // The clock moves by -offset; split into whole seconds (floor) and ns.
  const std::int64_t ns = -offset.ns;
  std::int64_t sec = ns / kNsPerS;
  std::int64_t rem = ns % kNsPerS;
  if (rem < 0) {
    rem += kNsPerS;
    --sec;
  }
  timex tx{};
  tx.modes = modes_of(ADJ_SETOFFSET | ADJ_NANO);
  tx.time.tv_sec = static_cast<decltype(tx.time.tv_sec)>(sec);
  tx.time.tv_usec = static_cast<decltype(tx.time.tv_usec)>(rem);  // ns with ADJ_NANO
  if (call(tx) < 0) return false;
  own_steps_ = own_steps_ - offset;
  return true;
}

void LinuxClock::set_leap(Leap leap) {
  status_ &= ~(STA_INS | STA_DEL);
  if (leap == Leap::Insert) status_ |= STA_INS;
  if (leap == Leap::Delete) status_ |= STA_DEL;
  if (leap == Leap::Unsynchronised) status_ |= STA_UNSYNC;
  timex tx{};
  tx.modes = modes_of(ADJ_STATUS);
  tx.status = status_;
  static_cast<void>(call(tx));
}

void LinuxClock::set_sync_status(bool synchronised, double est_error_s, double max_error_s) {
  if (!std::isfinite(est_error_s) || est_error_s < 0.0) est_error_s = kMaxSyncErrorS;
  if (!std::isfinite(max_error_s) || max_error_s < 0.0) max_error_s = kMaxSyncErrorS;
  if (synchronised) {
    est_error_s = std::min(est_error_s, kMaxSyncErrorS);
    if (max_error_s >= kMaxSyncErrorS) {
      max_error_s = kMaxSyncErrorS;
      synchronised = false;
    }
  } else {
    est_error_s = max_error_s = kMaxSyncErrorS;
  }
  if (!options_.rtcsync) synchronised = false;
  if (synchronised) {
    status_ &= ~STA_UNSYNC;
  } else {
    status_ |= STA_UNSYNC;
  }
  timex tx{};
  tx.modes = modes_of(ADJ_STATUS | ADJ_ESTERROR | ADJ_MAXERROR);
  tx.status = status_;
  tx.esterror = std::lround(est_error_s * 1e6);
  tx.maxerror = std::lround(max_error_s * 1e6);
  static_cast<void>(call(tx));
}

}  // namespace gnomon
