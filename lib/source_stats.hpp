// Per-source sample statistics: the history of accepted measurements of one
// source and the estimates made from it (chrony's sourcestats).
//
// Two estimators run side by side on the same samples:
// - Regression: chrony's weighted least squares over up to 64 samples, with
//   weights (1 + (d - dmin)/sd)^2 by peer distance and a runs test that drops
//   the oldest samples when the residuals show a changed trend. Its numbers
//   are what `sourcestats`, `sources` and selection report, with chrony's
//   meaning (frequency, skew, std dev, NP, NR, span).
// - Kalman: a 2-state (offset, frequency) filter with a frequency random walk.
//   A sample delayed by e above the minimum delay has an offset error within
//   +-e/2 (uniform when the queueing is split at random between the two
//   directions), so its noise variance is (e + b)^2/12, b covering how far
//   the minimum seen may lie above the true floor (the whole delay while
//   fewer than 8 delays are known). The wander is not assumed: a bank of
//   filters with wanders from 1e-20 to 1e-13 (s/s)^2/s runs side by side,
//   and the estimate is their average weighted by the likelihood of their
//   recent predictions, none falling more than a likelihood ratio of about
//   3000 behind the best (so the bank turns back to a calmer model soon
//   after a burst of wander). A frequency prior (set_frequency_prior: the
//   reference's skew, e.g. from the drift file) starts the filter.
// SourceStatsOptions::estimator picks the one used for steering.
//
// Why gnomon steers from the Kalman filter (EngineOptions' default), as
// measured with lib/sim (tools/sim, 10 fixed seeds per scenario):
// - It weights each sample by the error its delay allows, not by chrony's
//   mild (1 + e/sd)^-2: the few samples that crossed an idle network carry
//   the estimate. Open loop, at 64 s polling, it predicts the offset within
//   7/29/167 us RMS at 10 us/100 us/1 ms of jitter where the regression
//   manages 12/54/189, close to a Kalman filter told the true floor and
//   wander (6.8/28/151).
// - It knows how good its estimate is, as a variance, which the rest uses:
//   the discipline corrects fast when the offset is significant, the poll
//   adaptation keeps the estimate worth 8 samples
//   (PollRule::KalmanEffectiveSamples) instead of holding 8 samples, and
//   the iburst ramp (lib/source.hpp) stops when the frequency is known.
//   Together: 22 us RMS in chrony's default scenario against 72 us for
//   chrony's algorithms in the same simulator (chrony: about 100 us).
// - With a drift file its prior keeps the first seconds right: within
//   100 us 5 s after an iburst start, where the regression needs 8-9 s.
// - Where it does not win: at 10 ms of jitter the first ten samples decide
//   the RMS and both estimators are about equal (1247 against 1210 us open
//   loop). StatsEstimator::Auto (per source, whichever predicted its recent
//   samples better) gains 10-15% there, but it starts on the regression and
//   so loses the drift-file start above; it stays an option.
// A hard delay filter (dropping samples well above the minimum delay) adds
// nothing: such samples already get a variance that makes them count little.
//
// Conventions (lib/sync_types.hpp, lib/clock.hpp):
// - offset: local clock minus source, + = we are ahead (fast).
// - frequency: seconds the local clock gains on the source per second of
//   local time (+ = local clock fast), a plain ratio (1e-6 = 1 ppm).
// - on_clock_* take corrections as ClockControl does: an offset that was
//   REMOVED from the clock (+ = the clock was moved back), and a change of the
//   frequency correction (+ = the clock now runs slower).
#pragma once

#include <array>
#include <cstdint>

#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon {

// Most samples held per source.
inline constexpr int kMaxStatsSamples = 64;
// Fewest samples for which a regression is made; also the fewest a source
// needs to be selectable.
inline constexpr int kMinSamplesForRegression = 3;
// Bounds reported when nothing is known: 2000 ppm skew, 4 s std dev.
inline constexpr double kWorstCaseSkew = 2000e-6;
inline constexpr double kWorstCaseStdDevS = 4.0;
// Smallest std dev reported, in s.
inline constexpr double kMinStdDevS = 1e-9;

enum class StatsEstimator : std::uint8_t {
  Regression,  // chrony's weighted regression (default: chrony's numbers)
  Kalman,      // 2-state Kalman filter with delay-based noise
  Auto,        // whichever of the two has predicted this source's recent
               // samples better (weighted by the samples' delay-based noise)
};

struct SourceStatsOptions {
  // chrony's minsamples/maxsamples. min_samples <= 0 means chrony's default
  // (the runs test stops at 3 samples).
  int min_samples = 0;
  int max_samples = kMaxStatsSamples;
  // Precision of our clock readings, s (chrony's LCL_GetSysPrecisionAsQuantum).
  double local_precision_s = 1e-9;
  // Which estimate `estimate()` returns for steering and combining.
  StatsEstimator estimator = StatsEstimator::Regression;
  // Kalman: frequency random walk, (s/s)^2 per s (1 ppb/s wander = 1e-18);
  // 0 = estimate it (filter bank).
  double kalman_freq_wander = 0.0;
  // maxjitter: the spread given to a source whose maxsamples is too small
  // for an estimate (1 or 2), so that it is still selectable, s.
  double max_jitter_s = 1.0;
};

// What the reference/discipline needs of a source (chrony's
// SST_GetTrackingData), from the chosen estimator.
struct SourceEstimate {
  TimePoint ref_time{};            // the instant offset_s refers to
  double offset_s = 0.0;           // local minus source at ref_time
  double offset_sd_s = kWorstCaseStdDevS;
  double frequency = 0.0;          // local gain on the source, s/s
  double frequency_sd = kWorstCaseSkew;
  double skew = kWorstCaseSkew;    // error bound of frequency, s/s
  double root_delay_s = 0.0;       // of the best sample
  double root_dispersion_s = 0.0;  // of the best sample, grown to ref_time, plus offset_sd_s
  double std_dev_s = kWorstCaseStdDevS;  // of the offsets around the fit
  int samples = 0;
};

// What selection needs (chrony's SST_GetSelectionData), at time `now`.
struct SelectionData {
  bool select_ok = false;          // a regression succeeded (>= 3 samples)
  double offset_s = 0.0;           // best sample extrapolated to now
  double root_distance_s = 0.0;    // root_delay/2 + root_dispersion + elapsed * skew
  double lo_limit_s = 0.0;         // offset_s - root_distance_s
  double hi_limit_s = 0.0;         // offset_s + root_distance_s
  double std_dev_s = kWorstCaseStdDevS;
  double first_sample_ago_s = 0.0;
  double last_sample_ago_s = 0.0;
  int samples = 0;
};

// The `sourcestats` row (raw numbers; formatting is elsewhere).
struct SourcestatsReport {
  int samples = 0;                 // NP
  int runs = 0;                    // NR
  double span_s = 0.0;             // newest minus oldest sample time, rounded
  double frequency_ppm = 0.0;      // "Frequency": + = local fast of the source
  double skew_ppm = kWorstCaseSkew * 1e6;  // "Freq Skew"
  double offset_s = 0.0;           // "Offset": estimate at `now`, + = local ahead
  double offset_err_s = 0.0;       // estimated error of offset_s
  double std_dev_s = kWorstCaseStdDevS;    // "Std Dev"
};

// The "Last sample" of the `sources` row.
struct LastSampleReport {
  bool valid = false;              // false: no samples (LastRx shows "-")
  double offset_s = 0.0;           // adjusted for clock corrections since
  double orig_offset_s = 0.0;      // as measured
  double error_s = 0.0;            // root_delay/2 + root_dispersion
  TimePoint time{};                // when it was taken (local time)
};

class SourceStats {
 public:
  explicit SourceStats(const SourceStatsOptions& options = {});

  // Drops every sample and returns to the worst-case bounds.
  void reset();

  // Adds one measurement and recomputes the estimates. A sample older than
  // or as old as the newest held one discards the history first (chrony).
  // Samples with non-finite fields are dropped.
  void add_sample(const NtpSample& sample);

  // Rebases samples and estimates after a change of the local clock, so that
  // predictions stay consistent with the corrected clock:
  // - stepped: the clock was moved back by `offset` (ClockControl::step_offset).
  // - slewed/changed at `when`: `offset_s` removed at once (+ = moved back),
  //   and the frequency correction increased by `dfreq` (+ = now slower).
  void on_clock_stepped(Duration offset);
  void on_clock_slewed(TimePoint when, double offset_s, double dfreq);

  // How well the local clock's frequency is known before any sample, s/s
  // (e.g. the reference's skew from a drift file): the Kalman filter's
  // initial frequency uncertainty. Default: 1000 ppm (nothing known).
  void set_frequency_prior(double sd);

  // Adds `dispersion_s` to every held sample's dispersion (e.g. an
  // uncertain step).
  void add_dispersion(double dispersion_s);

  // --- Queries -------------------------------------------------------------
  [[nodiscard]] int samples() const { return n_; }
  // The chosen estimator's estimate (see SourceStatsOptions::estimator).
  [[nodiscard]] SourceEstimate estimate() const;
  // Each estimator's estimate, whichever is chosen.
  [[nodiscard]] SourceEstimate regression_estimate() const;
  [[nodiscard]] SourceEstimate kalman_estimate() const;
  // How many typical samples the Kalman estimate is worth: the noise
  // variance of a typical sample over the variance of the estimate (0 before
  // the first sample). Small when the clock wanders fast against the noise.
  [[nodiscard]] double kalman_effective_samples() const;
  // The frequency wander the Kalman filter currently assumes, (s/s)^2 per s.
  [[nodiscard]] double kalman_wander() const;
  // Offset (local minus source) predicted at `t` by the chosen estimator;
  // with fewer than 3 samples, the newest sample's offset (0 with none).
  [[nodiscard]] double predict_offset(TimePoint t) const;
  [[nodiscard]] SelectionData selection_data(TimePoint now) const;
  [[nodiscard]] SourcestatsReport sourcestats_report(TimePoint now) const;
  [[nodiscard]] LastSampleReport last_sample_report() const;
  // Frequency and its error bound for the peer dispersion of the next
  // sample (chrony's SST_GetFrequencyRange): skew capped at 2000 ppm.
  [[nodiscard]] double frequency() const { return freq_; }
  [[nodiscard]] double skew() const { return skew_; }
  [[nodiscard]] double std_dev_s() const { return std_dev_s_; }
  // Smallest peer delay held (including samples kept for the runs test);
  // +infinity with no samples.
  [[nodiscard]] double min_round_trip_delay_s() const;

  // Inputs of chrony's delay tests B and C (maxdelayratio, maxdelaydevratio).
  // Available with at least 6 samples.
  struct DelayTestData {
    double last_sample_ago_s = 0.0;  // sample time minus the estimate's time
    double predicted_offset_s = 0.0; // local minus source at the sample time
    double min_delay_s = 0.0;
    double skew = 0.0;
    double std_dev_s = 0.0;
  };
  [[nodiscard]] bool delay_test_data(TimePoint sample_time, DelayTestData& out) const;

  [[nodiscard]] const SourceStatsOptions& options() const { return options_; }

 private:
  // Ring buffers: samples [oldest .. newest]; up to kRunsRatio * 64 times,
  // offsets and delays are kept so the runs test can look further back.
  static constexpr int kRunsRatio = 2;
  static constexpr int kRingLen = kMaxStatsSamples * kRunsRatio;

  // One filter of the bank: state at Kalman::time, covariance, and the
  // discounted log likelihood of its recent predictions.
  struct KalmanFilter {
    double wander = 0.0;    // (s/s)^2 per s
    double offset_s = 0.0;  // local minus source
    double freq = 0.0;      // s/s
    double p00 = 0.0, p01 = 0.0, p11 = 0.0;
    double score = 0.0;
  };
  static constexpr int kKalmanBank = 8;
  static constexpr int kKalmanDelays = 128;
  struct Kalman {
    bool initialised = false;
    TimePoint time{};        // time of the state
    std::array<KalmanFilter, kKalmanBank> filters{};
    int filter_count = 0;
    int best = 0;
    int rejects_in_row = 0;
    // Recent peer delays (ring), for the minimum and its uncertainty.
    std::array<double, kKalmanDelays> delays{};
    int delay_count = 0;
    int delay_next = 0;
    KalmanFilter mixed{};    // the bank averaged (see mix_kalman)
    double typical_noise_var = 0.0;  // s^2, of a median-delay sample
    double last_noise_var = 0.0;     // s^2, of the latest sample
  };
  // Auto: discounted, noise-weighted squared prediction errors of each
  // estimator on the samples as they arrived.
  struct PredictionScore {
    double regression = 0.0;
    double kalman = 0.0;
    int compared = 0;
  };

  [[nodiscard]] int ring_index(int i) const;  // i in [-runs_, n_)
  void regress();
  void update_kalman(const NtpSample& sample);
  void seed_kalman(const NtpSample& sample, double noise_var);
  void find_min_delay();
  void find_best_sample(TimePoint at);

  SourceStatsOptions options_;
  int min_samples_ = kMinSamplesForRegression;
  int max_samples_ = kMaxStatsSamples;

  int n_ = 0;          // samples in the regression window
  int runs_ = 0;       // extra older samples kept for the runs test
  int newest_ = -1;    // ring index of the newest sample
  std::array<TimePoint, kRingLen> times_{};
  std::array<double, kRingLen> offsets_{};        // rebased by clock corrections
  std::array<double, kRingLen> orig_offsets_{};   // as measured
  std::array<double, kRingLen> peer_delays_{};
  std::array<double, kRingLen> peer_dispersions_{};
  std::array<double, kRingLen> root_delays_{};
  std::array<double, kRingLen> root_dispersions_{};

  bool regression_ok_ = false;
  int best_sample_ = 0;   // index in [0, n_) of the smallest root distance
  int min_delay_ = -1;    // ring index of the smallest peer delay
  TimePoint offset_time_{};
  double offset_s_ = 0.0;
  double offset_sd_s_ = kWorstCaseStdDevS;
  double freq_ = 0.0;
  double freq_sd_ = kWorstCaseSkew;
  double skew_ = kWorstCaseSkew;
  double std_dev_s_ = kWorstCaseStdDevS;
  int nruns_ = 0;

  Kalman kalman_;
  double freq_prior_sd_ = 0.1;
  PredictionScore prediction_score_;
  [[nodiscard]] bool use_kalman() const;
  // The bank's model-averaged filter (kept in Kalman::mixed).
  [[nodiscard]] const KalmanFilter& kalman_state() const { return kalman_.mixed; }
  [[nodiscard]] KalmanFilter mixed_filter() const;
  void mix_kalman();
};

}  // namespace gnomon
