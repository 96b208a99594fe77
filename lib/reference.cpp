#include "lib/reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <limits>

#include "lib/local_reference.hpp"

namespace gnomon {

namespace {

// Smallest skew we keep, s/s.
constexpr double kMinSkew = 1e-12;
// A pending slew smaller than this counts as none, s.
constexpr double kMinOffsetCorrectionS = 1e-9;

__attribute__((format(printf, 1, 2))) std::string format(const char* fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return std::string(buf);
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

bool finite_input(const ReferenceInput& in) {
  return std::isfinite(in.offset_s) && std::isfinite(in.offset_sd_s) &&
         std::isfinite(in.frequency) && std::isfinite(in.frequency_sd) &&
         std::isfinite(in.skew) && std::isfinite(in.root_delay_s) &&
         std::isfinite(in.root_dispersion_s);
}

}  // namespace

Reference::Reference(ClockControl& clock, const ReferenceOptions& options)
    : clock_(clock), options_(options) {
  step_limit_ = options_.makestep ? options_.makestep->limit : 0;
  if (options_.maxchange) {
    maxchange_delay_ = options_.maxchange->start_updates;
    maxchange_ignore_ = options_.maxchange->ignore;
  }
}

void Reference::set_options(const ReferenceOptions& options) {
  const bool makestep_changed = options.makestep != options_.makestep;
  const bool maxchange_changed =
      options.maxchange.has_value() != options_.maxchange.has_value() ||
      (options.maxchange && (options.maxchange->offset_s != options_.maxchange->offset_s ||
                             options.maxchange->start_updates != options_.maxchange->start_updates ||
                             options.maxchange->ignore != options_.maxchange->ignore));
  options_ = options;
  if (makestep_changed) step_limit_ = options_.makestep ? options_.makestep->limit : 0;
  if (maxchange_changed && options_.maxchange) {
    maxchange_delay_ = options_.maxchange->start_updates;
    maxchange_ignore_ = options_.maxchange->ignore;
  }
}

void Reference::load_drift(const DriftData& drift) {
  if (!std::isfinite(drift.freq_ppm) || !std::isfinite(drift.skew_ppm)) return;
  clock_.set_frequency_ppm(std::clamp(drift.freq_ppm, -options_.max_drift_ppm, options_.max_drift_ppm));
  skew_ = std::max(drift.skew_ppm * 1e-6, kMinSkew);
}

DriftData Reference::drift() const { return DriftData{clock_.frequency_ppm(), skew_ * 1e6}; }

TimePoint Reference::cooked(TimePoint now) { return now - clock_.remaining_slew(); }

double Reference::root_dispersion_at(TimePoint cooked_now) const {
  if (!have_ref_time_) return 1.0;
  const double elapsed_s = std::fabs((cooked_now - ref_time_).to_seconds());
  return root_dispersion_s_ +
         elapsed_s * (skew_ + std::fabs(residual_freq_) + options_.max_clock_error_ppm * 1e-6);
}

double Reference::root_distance_s(TimePoint now) {
  return root_delay_s_ / 2.0 + root_dispersion_at(cooked(now));
}

void Reference::note_time(TimePoint now) {
  const bool synced = synchronised_;
  if (!synced && (was_synced_ || !unsync_since_)) unsync_since_ = now;
  was_synced_ = synced;
  last_noted_ = now;
}

LocalInputs Reference::local_inputs(TimePoint cooked_now) const {
  // As chronyd: a selection that finds no usable source leaves us
  // synchronised (only no majority and the like unsynchronise), and the
  // growing root distance decides when the local reference takes over.
  LocalInputs in;
  in.synchronised = synchronised_;
  if (in.synchronised && have_ref_time_) {
    in.root_distance_s = root_delay_s_ / 2.0 + root_dispersion_at(cooked_now);
    in.since_update_s = (cooked_now - ref_time_).to_seconds();
  }
  // Never noted: unsynchronised since the beginning of time (no wait).
  in.since_unsynchronised_s =
      unsync_since_ ? (cooked_now - *unsync_since_).to_seconds() : std::numeric_limits<double>::infinity();
  return in;
}

LocalDecision Reference::local_decision(TimePoint cooked_now) {
  if (!unsync_since_) note_time(cooked_now);
  return local_activation_.decide(options_.local, local_inputs(cooked_now));
}

std::optional<TimePoint> Reference::local_switch_at() const {
  if (!options_.local.enabled || !last_noted_) return std::nullopt;
  const double rate = skew_ + std::fabs(residual_freq_) + options_.max_clock_error_ppm * 1e-6;
  const std::optional<double> in_s = local_activation_.change_in_s(options_.local, local_inputs(*last_noted_), rate);
  if (!in_s) return std::nullopt;
  // 1 ms late, so that the limit has been crossed when we look.
  return *last_noted_ + Duration::from_seconds(*in_s + 1e-3);
}

void Reference::set_leap(Leap leap) {
  if (leap == leap_) return;
  leap_ = leap;
  clock_.set_leap(leap);
}

TimePoint Reference::fuzz(TimePoint t) {
  if (options_.fuzz_seed == 0) return t;
  const std::uint64_t r = splitmix64(options_.fuzz_seed ^ ++fuzz_counter_);
  const double frac = static_cast<double>(r >> 11) * 0x1.0p-53;  // [0, 1)
  return t - Duration::from_seconds(frac);
}

void Reference::on_clock_adjusted(TimePoint when, double offset_s, double dfreq) {
  auto adjust = [&](TimePoint t) {
    const double delta_s = (t - when).to_seconds() * dfreq - offset_s;
    return t + Duration::from_seconds(delta_s);
  };
  if (have_ref_time_) ref_time_ = adjust(ref_time_);
  if (last_update_) last_update_ = adjust(*last_update_);
}

double Reference::slew_rate(double offset_s, double offset_sd_s, double update_interval_s) const {
  // chrony's correction rate: an offset of one std dev is corrected in
  // ratio/2 x the update interval, larger offsets proportionally faster, so
  // the slew rate grows with the square of the offset.
  const double scale = 0.5 * offset_sd_s * update_interval_s;
  const double x2 = offset_s * offset_s;
  const double chrony_rate = x2 / (options_.correction_time_ratio * scale);
  if (!(options_.fine_slew_rate_ppm > 0.0)) return chrony_rate;
  // Small offsets are corrected faster, but never faster than the fine slew
  // rate unless chrony's rate is faster still.
  const double fine_rate =
      std::min(options_.fine_slew_rate_ppm * 1e-6, x2 / (options_.fine_correction_time_ratio * scale));
  return std::max(chrony_rate, fine_rate);
}

double Reference::correction_time(TimePoint now, double pending_s, double offset_s,
                                  double offset_sd_s, double update_interval_s) const {
  const double pending_after = pending_s + offset_s;
  if (std::fabs(pending_after) <= kMinOffsetCorrectionS || !(offset_sd_s * update_interval_s > 0.0))
    return 0.0;
  const double alone_time_s =
      std::fabs(pending_after) / slew_rate(pending_after, offset_sd_s, update_interval_s);
  if (!slew_end_ || std::fabs(pending_s) <= kMinOffsetCorrectionS) return alone_time_s;
  // A slew is running. Its amount was planned to be done by slew_end_; the
  // new offset adds its own rate (as if it were alone) on top, so a small
  // new offset neither hurries nor stalls the running correction. (Taking
  // chrony's rate for the whole pending amount would, after a long gap,
  // re-slew a large correction planned over minutes within a second.)
  const double left_s = std::max((*slew_end_ - now).to_seconds(), 1.0);
  const double rate = pending_s / left_s +
                      std::copysign(slew_rate(offset_s, offset_sd_s, update_interval_s), offset_s);
  if (rate * pending_after <= 0.0) return alone_time_s;
  return std::fabs(pending_after / rate);
}

ClockCorrection Reference::set_frequency(TimePoint now, double freq_ppm) {
  ClockCorrection corr;
  corr.when = cooked(now);
  const double old_freq_ppm = clock_.frequency_ppm();
  clock_.set_frequency_ppm(std::clamp(freq_ppm, -options_.max_drift_ppm, options_.max_drift_ppm));
  corr.freq_ppm = clock_.frequency_ppm();
  corr.dfreq = (corr.freq_ppm - old_freq_ppm) / (1e6 - old_freq_ppm);
  on_clock_adjusted(corr.when, 0.0, corr.dfreq);
  return corr;
}

ReferenceResult Reference::initial_correction(TimePoint now, const ReferenceInput& in,
                                              double step_threshold_s, InitialCorrection kind) {
  ReferenceResult out;
  if (!finite_input(in)) return out;
  const double pending_s = clock_.remaining_slew().to_seconds();
  const TimePoint cnow = now - Duration::from_seconds(pending_s);
  const double offset_s = in.offset_s + (cnow - in.ref_time).to_seconds() * in.frequency;
  const bool step = std::fabs(offset_s) >= step_threshold_s;
  if (kind == InitialCorrection::UpdateOnce) {
    out.events.push_back(
        LogEvent{LogLevel::Info, format("System clock wrong by %.6f seconds (step)", -offset_s)});
  } else {
    out.events.push_back(LogEvent{LogLevel::Info,
                                  format("System's initial offset : %.6f seconds %s of true (%s)",
                                         std::fabs(offset_s), offset_s >= 0.0 ? "fast" : "slow",
                                         step ? "step" : "slew")});
  }
  ClockCorrection& corr = out.correction;
  corr.when = cnow;
  corr.offset_s = offset_s;
  corr.freq_ppm = clock_.frequency_ppm();
  if (step && clock_.step_offset(Duration::from_seconds(offset_s))) {
    corr.stepped_s = offset_s;
  } else {
    clock_.slew_offset(Duration::from_seconds(offset_s), Duration{}, options_.maxslewrate_ppm);
    slew_end_ = now + Duration::seconds(1);
    corr.slewed_s = offset_s;
  }
  on_clock_adjusted(cnow, offset_s, 0.0);
  out.updated = true;
  return out;
}

ReferenceResult Reference::update(TimePoint now, const ReferenceInput& in) {
  ReferenceResult out;
  if (!finite_input(in)) {
    out.events.push_back(LogEvent{LogLevel::Warn, "Ignored reference update with invalid data"});
    return out;
  }
  const double pending_s = clock_.remaining_slew().to_seconds();
  const TimePoint cnow = now - Duration::from_seconds(pending_s);
  const double elapsed_s = (cnow - in.ref_time).to_seconds();
  const double offset_s = in.offset_s + elapsed_s * in.frequency;
  const double update_interval_s =
      last_update_ ? std::max(0.0, (cnow - *last_update_).to_seconds()) : 0.0;

  // Blend the measured frequency with the current one (expected 0 relative
  // to the clock as now corrected), by their skews.
  double gain = 0.0;
  if (std::fabs(in.skew) <= options_.maxupdateskew_ppm * 1e-6) {
    const double s2 = 3.0 * skew_ * skew_;
    const double denom = s2 + in.skew * in.skew;
    gain = denom > 0.0 ? s2 / denom : 1.0;
  }
  if (!(gain >= 0.0)) gain = 0.0;
  gain = std::min(gain, 1.0);
  const double est_freq = gain * in.frequency;
  const double residual = in.frequency - est_freq;
  const double extra_skew =
      std::sqrt(est_freq * est_freq * (1.0 - gain) + residual * residual * gain);
  const double est_skew = skew_ + gain * (in.skew - skew_) + extra_skew;

  // Panic guard.
  if (options_.maxchange) {
    if (maxchange_delay_ > 0) {
      --maxchange_delay_;
    } else if (std::fabs(offset_s) > options_.maxchange->offset_s) {
      const bool exiting = maxchange_ignore_ == 0;
      out.events.push_back(LogEvent{
          LogLevel::Warn,
          format("Adjustment of %.3f seconds exceeds the allowed maximum of %.3f seconds (%s) ",
                 -offset_s, options_.maxchange->offset_s, exiting ? "exiting" : "ignored")});
      if (exiting) {
        out.panic = true;
      } else if (maxchange_ignore_ > 0) {
        --maxchange_ignore_;
      }
      return out;
    }
  }

  synchronised_ = true;
  stratum_ = in.stratum + 1;
  ref_id_ = in.refid;
  source_id_ = in.source_id;
  source_name_ = in.name;
  ref_time_ = in.ref_time;
  have_ref_time_ = true;
  skew_ = std::max(est_skew, kMinSkew);
  residual_freq_ = residual;
  root_delay_s_ = in.root_delay_s;
  root_dispersion_s_ = in.root_dispersion_s;
  frequency_sd_ = in.frequency_sd;
  offset_sd_s_ = in.offset_sd_s;
  last_update_ = cnow;
  last_update_interval_s_ = update_interval_s;
  last_offset_s_ = offset_s;
  ++updates_;

  // Step while makestep allows it; the step also takes over what is left
  // of the pending slew.
  bool step = false;
  if (options_.makestep && step_limit_ != 0) {
    if (step_limit_ > 0) --step_limit_;
    step = std::fabs(offset_s + pending_s) > options_.makestep->threshold_s;
  }
  const double accumulate_s = step ? -pending_s : offset_s;
  const double step_s = step ? offset_s + pending_s : 0.0;

  const double old_freq_ppm = clock_.frequency_ppm();
  double new_freq_ppm = old_freq_ppm + est_freq * (1e6 - old_freq_ppm);
  new_freq_ppm = std::clamp(new_freq_ppm, -options_.max_drift_ppm, options_.max_drift_ppm);
  clock_.set_frequency_ppm(new_freq_ppm);
  new_freq_ppm = clock_.frequency_ppm();
  const double dfreq = (new_freq_ppm - old_freq_ppm) / (1e6 - old_freq_ppm);

  ClockCorrection& corr = out.correction;
  corr.when = cnow;
  corr.offset_s = offset_s;
  corr.dfreq = dfreq;
  corr.freq_ppm = new_freq_ppm;

  if (accumulate_s != 0.0) {
    const double correction_time_s = correction_time(now, pending_s, accumulate_s,
                                                     in.offset_sd_s, update_interval_s);
    clock_.slew_offset(Duration::from_seconds(accumulate_s),
                       Duration::from_seconds(correction_time_s), options_.maxslewrate_ppm);
    slew_end_ = now + Duration::from_seconds(std::max(correction_time_s, 1.0));
    corr.slewed_s = accumulate_s;
  }
  on_clock_adjusted(cnow, accumulate_s, dfreq);

  if (std::fabs(offset_s) > options_.log_change_threshold_s) {
    out.events.push_back(
        LogEvent{LogLevel::Warn, format("System clock wrong by %.6f seconds", -offset_s)});
  }

  if (step_s != 0.0) {
    if (clock_.step_offset(Duration::from_seconds(step_s))) {
      corr.stepped_s = step_s;
      on_clock_adjusted(cnow, step_s, 0.0);
      out.events.push_back(
          LogEvent{LogLevel::Warn, format("System clock was stepped by %.6f seconds", -step_s)});
    } else {
      clock_.slew_offset(Duration::from_seconds(step_s), Duration{}, options_.maxslewrate_ppm);
      slew_end_ = now + Duration::seconds(1);
      corr.slewed_s += step_s;
      on_clock_adjusted(cnow, step_s, 0.0);
    }
  }

  set_leap(in.leap);
  clock_.set_sync_status(true, offset_sd_s_,
                         root_delay_s_ / 2.0 + root_dispersion_at(cooked(now)));
  ref_time_ = fuzz(ref_time_);

  drift_age_s_ += update_interval_s;
  if (drift_age_s_ >= options_.drift_interval_s) {
    out.write_drift = true;
    drift_age_s_ = 0.0;
  }

  // Moving average of squared offsets, quick to follow at the start.
  const double offset2 = offset_s * offset_s;
  if (avg2_moving_) {
    avg2_offset_ += 0.1 * (offset2 - avg2_offset_);
  } else {
    if (avg2_offset_ > 0.0 && avg2_offset_ < offset2) avg2_moving_ = true;
    avg2_offset_ = offset2;
  }

  out.updated = true;
  return out;
}

void Reference::set_unsynchronised() {
  set_leap(Leap::Unsynchronised);
  stratum_ = 0;
  ref_id_ = 0;
  source_id_.reset();
  source_name_.clear();
  synchronised_ = false;
  clock_.set_sync_status(false, 0.0, 0.0);
}

void Reference::on_unknown_step() {
  set_unsynchronised();
  last_update_.reset();
  slew_end_.reset();
}

void Reference::update_leap(Leap leap) {
  if (synchronised_) set_leap(leap);
}

ClockCorrection Reference::make_step(TimePoint now) {
  ClockCorrection corr;
  const double pending_s = clock_.remaining_slew().to_seconds();
  corr.when = now - Duration::from_seconds(pending_s);
  corr.freq_ppm = clock_.frequency_ppm();
  if (std::fabs(pending_s) < kMinOffsetCorrectionS) return corr;
  clock_.slew_offset(Duration::from_seconds(-pending_s), Duration{}, options_.maxslewrate_ppm);
  if (clock_.step_offset(Duration::from_seconds(pending_s))) {
    corr.slewed_s = -pending_s;
    corr.stepped_s = pending_s;
  } else {
    clock_.slew_offset(Duration::from_seconds(pending_s), Duration{}, options_.maxslewrate_ppm);
  }
  // The cooked time scale is unchanged: the step finished what the slew would have done.
  return corr;
}

ServedState Reference::served_state(TimePoint now) {
  const TimePoint cnow = cooked(now);
  const LocalDecision decision = local_decision(cnow);
  if (decision == LocalDecision::Source) {
    ServedState s;
    s.leap = leap_ == Leap::Unsynchronised ? Leap::None : leap_;
    s.stratum = stratum_;
    s.refid = ref_id_;
    s.reference_time = ref_time_;
    s.root_delay_s = root_delay_s_;
    s.root_dispersion_s = root_dispersion_s_;
    s.dispersion_rate = skew_ + std::fabs(residual_freq_) + options_.max_clock_error_ppm * 1e-6;
    s.precision = options_.precision;
    return s;
  }
  if (decision == LocalDecision::Local) {
    local_ref_time_ = next_local_reference_time(local_ref_time_, cnow, options_.fuzz_seed);
    return local_served_state(options_.local.stratum, *local_ref_time_, options_.precision);
  }
  ServedState s;
  s.precision = options_.precision;
  return s;
}

TrackingReport Reference::tracking(TimePoint now) {
  TrackingReport r;
  const Duration pending = clock_.remaining_slew();
  const TimePoint cnow = now - pending;
  r.system_time_offset_s = pending.to_seconds();
  r.last_offset_s = last_offset_s_;
  r.rms_offset_s = std::sqrt(avg2_offset_);
  r.offset_sd_s = offset_sd_s_;
  r.freq_ppm = clock_.frequency_ppm();
  r.last_update_interval_s = last_update_interval_s_;
  const LocalDecision decision = local_decision(cnow);
  if (decision == LocalDecision::Source) {
    r.ref_id = ref_id_;
    r.source_id = source_id_;
    r.source_name = source_name_;
    r.stratum = stratum_;
    r.ref_time = ref_time_;
    r.root_delay_s = root_delay_s_;
    r.root_dispersion_s = root_dispersion_at(cnow);
    r.leap = leap_ == Leap::Unsynchronised ? Leap::None : leap_;
    r.resid_freq_ppm = residual_freq_ * 1e6;
    r.skew_ppm = skew_ * 1e6;
    r.synchronised = true;
  } else if (decision == LocalDecision::Local) {
    local_ref_time_ = next_local_reference_time(local_ref_time_, cnow, options_.fuzz_seed);
    const ServedState s = local_served_state(options_.local.stratum, *local_ref_time_, options_.precision);
    r.ref_id = s.refid;
    r.stratum = s.stratum;
    r.ref_time = s.reference_time;
    r.root_delay_s = s.root_delay_s;
    r.root_dispersion_s = s.root_dispersion_s;
    r.leap = s.leap;
    r.local = true;
  } else {
    r.ref_id = 0;
    r.stratum = 0;
    r.root_delay_s = 1.0;
    r.root_dispersion_s = 1.0;
    r.leap = Leap::Unsynchronised;
  }
  return r;
}

}  // namespace gnomon
