// The reference and the clock discipline (chrony's reference.c): what we are
// synchronised to, and how the clock is steered towards it.
//
// On each update from selection (a new sample of the system peer):
// - the offset is extrapolated to now; the frequency is blended with the
//   current one with gain 3s^2/(3s^2 + m^2) (s: our skew, m: the
//   measurement's), and not updated at all when m > maxupdateskew;
// - the maxchange guard may refuse the update (and ask the daemon to exit);
// - the clock is stepped while makestep allows it (|offset| > threshold in
//   the first `limit` updates, -1 = always), otherwise the offset is slewed
//   over a time proportional to the offset's std dev and the update interval
//   (chrony's correction time ratio 3: the slew rate grows with the square
//   of the offset), at most at maxslewrate. gnomon corrects offsets near
//   their uncertainty 10x faster (ratio 0.3), but at most at 5 ppm unless
//   chrony's rate is faster: with the Kalman estimate the latest offset is
//   the best one, and lingering on it costs accuracy (default scenario RMS
//   22.8 -> 21.6 us; at 64 s polling, 10 us jitter, 8.5 -> 7.4 us), while the
//   5 ppm keeps the frequency error small (chrony's "10 ppm" criteria; at
//   20 ppm the first 300 us corrections after sync were done 4x sooner, but
//   the clock's frequency was then more than 10 ppm off for a while, and
//   iburst without a drift file took 113 s instead of 23 to be within
//   100 us and 10 ppm);
// - a new update during a running slew adds its own rate to the running one
//   instead of re-planning the whole pending amount from its own (short)
//   interval: after a holdover, a large correction planned over minutes is
//   not re-slewed within a second by the next small update (14000 ppm);
// - our stratum is the source's + 1; root delay and root dispersion come from
//   the source, and the dispersion grows by (skew + |residual freq| + 1 ppm)
//   per second afterwards.
// All clock adjustments go through ClockControl. Every adjustment is also
// returned as data, so that the caller can rebase whatever holds timestamps.
//
// Times: `now` is the controlled clock's reading (ClockControl::now()). The
// reference works in "cooked" time, the reading minus the slew still pending
// (what the clock will read once the slew is done); sample times must be in
// that time scale too (SyncEngine takes care of it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/clock.hpp"
#include "lib/config.hpp"
#include "lib/drift_file.hpp"
#include "lib/local_reference.hpp"
#include "lib/selection.hpp"
#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon {

struct ReferenceOptions {
  std::optional<MakeStepConfig> makestep = MakeStepConfig{};  // nullopt = never step
  double maxslewrate_ppm = 83333.333;
  double maxupdateskew_ppm = 1000.0;
  double max_clock_error_ppm = 1.0;    // maxclockerror: our clock's own instability
  double correction_time_ratio = 3.0;  // corrtimeratio
  // Offsets near their own uncertainty are corrected with this ratio
  // instead (10x faster), at most at fine_slew_rate_ppm (unless chrony's
  // rate is faster); 0 = chrony's correction only. See correction_time().
  double fine_correction_time_ratio = 0.3;
  double fine_slew_rate_ppm = 5.0;
  double max_drift_ppm = 100000.0;     // |frequency| set on the clock is clamped here
  std::optional<MaxChangeConfig> maxchange;  // nullopt = no panic guard
  double log_change_threshold_s = 1.0; // "System clock wrong by" warning above this
  LocalConfig local;                   // [local] / local stratum N
  std::int8_t precision = -20;         // log2 s, what we serve
  double drift_interval_s = 3600.0;    // how often the drift should be saved
  // Secret that fuzzes our served reference time by up to 1 s (chrony does,
  // so that it reveals little); 0 = no fuzz.
  std::uint64_t fuzz_seed = 0;
};

// What one update did to the clock. Offsets: + = the clock was ahead and was
// moved back (or is being slewed back).
struct ClockCorrection {
  TimePoint when{};              // cooked time just before the change
  double offset_s = 0.0;         // the offset measured, at `when`
  double slewed_s = 0.0;         // offset accrued to the slew
  double stepped_s = 0.0;        // offset removed by a step (0 = none)
  double dfreq = 0.0;            // change of the frequency correction, s/s (+ = slower)
  double freq_ppm = 0.0;         // frequency set (ClockControl's sign)
};

struct ReferenceResult {
  bool updated = false;          // the reference took the new data
  bool panic = false;            // maxchange exceeded: the daemon must exit (panic code)
  ClockCorrection correction;    // valid when updated
  bool write_drift = false;      // time to save drift() (hourly)
  std::vector<LogEvent> events;
};

// chronyc `tracking`, in gnomon's signs (see each field).
struct TrackingReport {
  std::uint32_t ref_id = 0;
  std::optional<std::uint32_t> source_id;  // the system peer (not when LOCL/unsync)
  std::string source_name;
  int stratum = 0;
  TimePoint ref_time{};
  // How far the clock is ahead of where it should be, s (+ = fast): the
  // slew still pending. chrony's wire "current correction" is minus this.
  double system_time_offset_s = 0.0;
  double last_offset_s = 0.0;    // + = clock was ahead
  double rms_offset_s = 0.0;
  double offset_sd_s = 0.0;      // std dev of the offset taken at the last update
  double freq_ppm = 0.0;         // + = clock (uncorrected) fast; chronyc "N ppm fast"
  double resid_freq_ppm = 0.0;
  double skew_ppm = 0.0;
  double root_delay_s = 0.0;
  double root_dispersion_s = 0.0;
  double last_update_interval_s = 0.0;
  Leap leap = Leap::Unsynchronised;
  bool synchronised = false;     // to a real source
  bool local = false;            // serving the local reference
};

// Which start-up correction Reference::initial_correction makes.
enum class InitialCorrection : std::uint8_t { InitStepSlew, UpdateOnce };

class Reference {
 public:
  Reference(ClockControl& clock, const ReferenceOptions& options);

  void set_options(const ReferenceOptions& options);
  [[nodiscard]] const ReferenceOptions& options() const { return options_; }

  // Start-up: the frequency and skew from a good drift file (sets the clock's
  // frequency). Without one, the clock's current frequency is kept.
  void load_drift(const DriftData& drift);
  // What to save in the drift file now.
  [[nodiscard]] DriftData drift() const;

  // Updates the reference with selection's result at `now`.
  [[nodiscard]] ReferenceResult update(TimePoint now, const ReferenceInput& input);
  // chrony's initstepslew and -q: corrects the clock once by the offset of
  // `input` (stepped when at least `step_threshold_s` off, else slewed at
  // the fastest rate) and leaves the reference itself untouched. `kind`
  // picks chronyd's log line for the one or the other.
  [[nodiscard]] ReferenceResult initial_correction(TimePoint now, const ReferenceInput& input,
                                                   double step_threshold_s,
                                                   InitialCorrection kind = InitialCorrection::InitStepSlew);
  // chrony's REF_SetUnsynchronised.
  void set_unsynchronised();
  // After an unexplained step: unsynchronised, and the next update starts
  // afresh (no update interval from before the step).
  void on_unknown_step();
  // The leap vote changed between updates (only used while synchronised).
  void update_leap(Leap leap);
  // Selection's verdict: the local reference is the selected source (shown
  // by `sources`; what is served follows the activation rules instead).
  void set_local_active(bool active) { local_active_ = active; }
  // The engine's time now: when we stopped being synchronised (for the
  // local reference's waitunsynced) is taken from these calls, so call it
  // after anything that may change synchronised() or local_active().
  void note_time(TimePoint now);
  // chronyc `makestep`: finish the pending slew with a step now. Returns the
  // correction made (stepped_s = 0 when nothing was pending).
  [[nodiscard]] ClockCorrection make_step(TimePoint now);
  // The clock was changed outside update() (step by `offset`, + = moved
  // back; dfreq + = slower at cooked time `when`): rebase our reference time.
  void on_clock_adjusted(TimePoint when, double offset_s, double dfreq);

  // What the NTP server sends now.
  [[nodiscard]] ServedState served_state(TimePoint now);
  [[nodiscard]] TrackingReport tracking(TimePoint now);

  [[nodiscard]] bool synchronised() const { return synchronised_; }
  [[nodiscard]] bool local_active() const { return local_active_; }
  [[nodiscard]] int updates() const { return updates_; }
  // Our root distance now (root delay/2 + root dispersion), s.
  [[nodiscard]] double root_distance_s(TimePoint now);
  // When the local reference's activation rules (root distance growing, a
  // wait running out) will change the served state by itself, after the
  // last note_time(); nullopt if nothing will change by itself.
  [[nodiscard]] std::optional<TimePoint> local_switch_at() const;
  // Cooked time of the last update; nullopt before the first.
  [[nodiscard]] std::optional<TimePoint> last_update() const { return last_update_; }
  [[nodiscard]] double last_update_interval_s() const { return last_update_interval_s_; }
  // Sets the clock's frequency (ClockControl's sign, ppm) between updates,
  // as a fallback; returns the change, for those holding cooked timestamps.
  [[nodiscard]] ClockCorrection set_frequency(TimePoint now, double freq_ppm);

 private:
  [[nodiscard]] TimePoint cooked(TimePoint now);
  [[nodiscard]] double root_dispersion_at(TimePoint cooked_now) const;
  [[nodiscard]] LocalInputs local_inputs(TimePoint cooked_now) const;
  [[nodiscard]] LocalDecision local_decision(TimePoint cooked_now);
  void set_leap(Leap leap);
  [[nodiscard]] TimePoint fuzz(TimePoint t);
  // The slew rate (s/s) for an offset alone, from its std dev and the
  // update interval.
  [[nodiscard]] double slew_rate(double offset_s, double offset_sd_s,
                                 double update_interval_s) const;
  // How long the slew of the pending amount plus `offset_s` should take, s
  // (0 = as fast as allowed).
  [[nodiscard]] double correction_time(TimePoint now, double pending_s, double offset_s,
                                       double offset_sd_s, double update_interval_s) const;

  ClockControl& clock_;
  ReferenceOptions options_;
  int step_limit_ = 0;           // makestep updates left (-1 = unlimited)
  int maxchange_delay_ = 0;
  int maxchange_ignore_ = 0;

  bool synchronised_ = false;
  bool local_active_ = false;
  LocalActivation local_activation_;
  std::optional<TimePoint> local_ref_time_;   // cooked; what the local reference serves
  std::optional<TimePoint> unsync_since_;     // raw; since when not synchronised
  std::optional<TimePoint> last_noted_;       // raw; the last note_time()
  bool was_synced_ = false;
  int updates_ = 0;
  std::uint64_t fuzz_counter_ = 0;
  Leap leap_ = Leap::Unsynchronised;
  int stratum_ = 0;              // ours (source + 1)
  std::uint32_t ref_id_ = 0;
  std::optional<std::uint32_t> source_id_;
  std::string source_name_;
  TimePoint ref_time_{};         // cooked time of the reference data
  bool have_ref_time_ = false;
  double skew_ = 1.0;            // s/s
  double residual_freq_ = 0.0;   // s/s
  double root_delay_s_ = 1.0;
  double root_dispersion_s_ = 1.0;
  double offset_sd_s_ = 0.0;
  double frequency_sd_ = 0.0;
  std::optional<TimePoint> last_update_;
  double last_update_interval_s_ = 0.0;
  double last_offset_s_ = 0.0;
  double avg2_offset_ = 0.0;
  bool avg2_moving_ = false;
  double drift_age_s_ = 0.0;
  // Clock reading at which the running slew was planned to end.
  std::optional<TimePoint> slew_end_;
};

}  // namespace gnomon
