#include "lib/source_stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace gnomon {
namespace {

// Ratio between the std dev of the offsets and the spread of peer distances
// assumed by the weighting (chrony's choice).
constexpr double kSdToDistanceRatio = 0.7;
// Bounds of the frequency SD used for the peer dispersion (s/s).
constexpr double kMinSkew = 1e-12;
constexpr double kMaxSkew = 1.0;

// P(|T| < t) for Student's t with `dof` degrees of freedom (closed forms for
// integer dof).
double t_two_sided_cdf(double t, int dof) {
  const double theta = std::atan(t / std::sqrt(static_cast<double>(dof)));
  const double s = std::sin(theta);
  const double c = std::cos(theta);
  const double c2 = c * c;
  if (dof % 2 == 1) {
    double sum = 0.0;
    double term = 1.0;
    for (int k = 0; k <= (dof - 3) / 2; ++k) {
      if (k > 0) term *= c2 * (2.0 * k) / (2.0 * k + 1.0);
      sum += term;
    }
    if (dof == 1) sum = 0.0;
    return 2.0 / std::numbers::pi * (theta + s * c * sum);
  }
  double sum = 0.0;
  double term = 1.0;
  for (int k = 0; k <= (dof - 2) / 2; ++k) {
    if (k > 0) term *= c2 * (2.0 * k - 1.0) / (2.0 * k);
    sum += term;
  }
  return s * sum;
}

// One-sided 99.95% quantile of Student's t (chrony's confidence for skew).
double t_coefficient(int dof) {
  constexpr int kTable = 2 * kMaxStatsSamples;
  static const std::array<double, kTable + 1> table = [] {
    std::array<double, kTable + 1> out{};
    for (int dof_i = 1; dof_i <= kTable; ++dof_i) {
      double lo = 0.0;
      double hi = 1000.0;
      for (int it = 0; it < 100; ++it) {
        const double mid = 0.5 * (lo + hi);
        if (t_two_sided_cdf(mid, dof_i) < 0.999) {
          lo = mid;
        } else {
          hi = mid;
        }
      }
      out[static_cast<std::size_t>(dof_i)] = 0.5 * (lo + hi);
    }
    out[0] = out[1];
    return out;
  }();
  return table[static_cast<std::size_t>(std::clamp(dof, 1, kTable))];
}

// Largest number of sign runs among n residuals that the runs test still
// rejects at 5% (normal approximation of the runs distribution with equal
// counts of each sign); 0 for small n, where the test has no power.
int critical_runs(int n) {
  if (n < 8) return 0;
  const double m = 0.5 * n;
  const double mean = m + 1.0;
  const double var = m * (m - 1.0) / (2.0 * m - 1.0);
  return static_cast<int>(std::floor(mean - 1.645 * std::sqrt(var)));
}

int count_runs(const double* resid, int n) {
  int runs = 1;
  for (int i = 1; i < n; ++i) {
    const bool same = (resid[i - 1] < 0.0 && resid[i] < 0.0) || (resid[i - 1] > 0.0 && resid[i] > 0.0);
    if (!same) ++runs;
  }
  return runs;
}

double median_of(double* x, int n) {
  std::sort(x, x + n);
  if (n % 2 == 1) return x[n / 2];
  return 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

bool finite_sample(const NtpSample& s) {
  return std::isfinite(s.offset_s) && std::isfinite(s.peer_delay_s) &&
         std::isfinite(s.peer_dispersion_s) && std::isfinite(s.root_delay_s) &&
         std::isfinite(s.root_dispersion_s);
}

// Auto estimator: discount of the prediction scores per sample, and how many
// predictions must be compared before the Kalman filter may be chosen.
constexpr double kPredictionScoreDecay = 0.97;
constexpr int kMinPredictionsCompared = 8;

// Seconds from b to a.
double seconds_between(TimePoint a, TimePoint b) { return (a - b).to_seconds(); }

// The instant `t` as the corrected clock would read it, and the change of an
// offset measured at t (see SourceStats::on_clock_slewed).
double rebase_delta_s(TimePoint t, TimePoint when, double offset_s, double dfreq) {
  return seconds_between(when, t) * dfreq - offset_s;
}

}  // namespace

SourceStats::SourceStats(const SourceStatsOptions& options) : options_(options) {
  max_samples_ = options_.max_samples > 0 ? std::clamp(options_.max_samples, 1, kMaxStatsSamples)
                                          : kMaxStatsSamples;
  min_samples_ = options_.min_samples > 0 ? std::clamp(options_.min_samples, 1, max_samples_)
                                          : 1;
  if (!(options_.local_precision_s > 0.0) || !std::isfinite(options_.local_precision_s)) {
    options_.local_precision_s = 1e-9;
  }
  if (!(options_.kalman_freq_wander >= 0.0) || !std::isfinite(options_.kalman_freq_wander)) {
    options_.kalman_freq_wander = 0.0;
  }
  reset();
}

void SourceStats::reset() {
  n_ = 0;
  runs_ = 0;
  newest_ = -1;
  regression_ok_ = false;
  best_sample_ = 0;
  min_delay_ = -1;
  offset_time_ = TimePoint{};
  offset_s_ = 0.0;
  offset_sd_s_ = kWorstCaseStdDevS;
  freq_ = 0.0;
  freq_sd_ = kWorstCaseSkew;
  skew_ = kWorstCaseSkew;
  std_dev_s_ = kWorstCaseStdDevS;
  nruns_ = 0;
  kalman_ = Kalman{};
  prediction_score_ = PredictionScore{};
}

int SourceStats::ring_index(int i) const {
  return ((newest_ - n_ + 1 + i) % kRingLen + 2 * kRingLen) % kRingLen;
}

void SourceStats::find_min_delay() {
  min_delay_ = -1;
  for (int i = -runs_; i < n_; ++i) {
    const int k = ring_index(i);
    if (min_delay_ < 0 || peer_delays_[static_cast<std::size_t>(k)] <
                              peer_delays_[static_cast<std::size_t>(min_delay_)]) {
      min_delay_ = k;
    }
  }
}

double SourceStats::min_round_trip_delay_s() const {
  if (n_ == 0 || min_delay_ < 0) return std::numeric_limits<double>::infinity();
  return peer_delays_[static_cast<std::size_t>(min_delay_)];
}

void SourceStats::add_sample(const NtpSample& sample) {
  if (!finite_sample(sample)) return;

  if (n_ > 0 && n_ >= max_samples_) {
    // Drop the oldest sample from the regression window; it stays for the
    // runs test while there is room.
    n_ -= 1;
    runs_ = std::min(runs_ + 1, n_ * (kRunsRatio - 1));
  }
  if (n_ > 0 && times_[static_cast<std::size_t>(newest_)] >= sample.time) {
    reset();  // out of order: the history no longer means anything
  }

  newest_ = (newest_ + 1) % kRingLen;
  const auto k = static_cast<std::size_t>(newest_);
  times_[k] = sample.time;
  offsets_[k] = sample.offset_s;
  orig_offsets_[k] = sample.offset_s;
  peer_delays_[k] = std::max(0.0, sample.peer_delay_s);
  peer_dispersions_[k] = std::max(0.0, sample.peer_dispersion_s);
  root_delays_[k] = std::max(0.0, sample.root_delay_s);
  root_dispersions_[k] = std::max(0.0, sample.root_dispersion_s);
  ++n_;
  // runs_ counts older entries still valid in the ring.
  runs_ = std::min(runs_, kRingLen - n_);
  find_min_delay();

  // Each estimator's prediction of this sample, before it learns from it.
  const bool compare = regression_ok_ && kalman_.initialised;
  const double regression_error =
      compare ? sample.offset_s - (offset_s_ + seconds_between(sample.time, offset_time_) * freq_) : 0.0;
  double kalman_error = 0.0;
  if (compare) {
    const KalmanFilter f = kalman_state();
    kalman_error = sample.offset_s - (f.offset_s + seconds_between(sample.time, kalman_.time) * f.freq);
  }

  regress();
  update_kalman(sample);

  if (compare && kalman_.last_noise_var > 0.0) {
    const double w = 1.0 / kalman_.last_noise_var;
    PredictionScore& ps = prediction_score_;
    ps.regression = kPredictionScoreDecay * ps.regression + w * regression_error * regression_error;
    ps.kalman = kPredictionScoreDecay * ps.kalman + w * kalman_error * kalman_error;
    ps.compared = std::min(ps.compared + 1, 1 << 20);
  }
}

bool SourceStats::use_kalman() const {
  switch (options_.estimator) {
    case StatsEstimator::Kalman:
      return kalman_.initialised;
    case StatsEstimator::Auto:
      return kalman_.initialised && prediction_score_.compared >= kMinPredictionsCompared &&
             prediction_score_.kalman < prediction_score_.regression;
    case StatsEstimator::Regression:
      break;
  }
  return false;
}

void SourceStats::regress() {
  constexpr int kMaxAll = kRingLen;
  double x_all[kMaxAll];
  double y_all[kMaxAll];
  double* x = x_all + runs_;  // x[i] for i in [-runs_, n_)
  double* y = y_all + runs_;
  double w[kMaxStatsSamples];
  double dist[kMaxStatsSamples];

  const TimePoint t_newest = times_[static_cast<std::size_t>(newest_)];
  for (int i = -runs_; i < n_; ++i) {
    const auto k = static_cast<std::size_t>(ring_index(i));
    x[i] = seconds_between(times_[k], t_newest);
    y[i] = offsets_[k];
  }

  if (n_ < kMinSamplesForRegression) {
    regression_ok_ = false;
    freq_sd_ = kWorstCaseSkew;
    skew_ = kWorstCaseSkew;
    offset_sd_s_ = kWorstCaseStdDevS;
    std_dev_s_ = kWorstCaseStdDevS;
    nruns_ = 0;
    offset_s_ = offsets_[static_cast<std::size_t>(newest_)];
    offset_time_ = t_newest;
    find_best_sample(t_newest);
    return;
  }

  // Weights by peer distance: the closest samples count the most.
  const double precision = options_.local_precision_s;
  double min_distance = std::numeric_limits<double>::infinity();
  for (int i = 0; i < n_; ++i) {
    const auto k = static_cast<std::size_t>(ring_index(i));
    dist[i] = 0.5 * peer_delays_[k] + peer_dispersions_[k];
    min_distance = std::min(min_distance, dist[i]);
  }
  double sorted[kMaxStatsSamples];
  std::copy(dist, dist + n_, sorted);
  const double median_distance = median_of(sorted, n_);
  double sd = (median_distance - min_distance) / kSdToDistanceRatio;
  if (sd < precision) {
    sd = precision;
  } else if (sd > min_distance) {
    sd = min_distance;
  }
  min_distance += precision;
  for (int i = 0; i < n_; ++i) {
    double weight = 1.0;
    if (dist[i] > min_distance) weight += (dist[i] - min_distance) / sd;
    w[i] = weight * weight;
  }

  // Weighted fit over [start, n_); drop the oldest samples while the signs of
  // the residuals (looking back up to twice as far) show too few runs.
  int start = 0;
  double a = 0.0;
  double b = 0.0;
  double u = 0.0;
  double big_v = 0.0;
  double big_w = 0.0;
  double resid[kMaxAll];
  int resid_start = 0;
  int nruns = 0;
  for (;;) {
    double big_u = 0.0;
    big_w = 0.0;
    for (int i = start; i < n_; ++i) {
      big_u += x[i] / w[i];
      big_w += 1.0 / w[i];
    }
    u = big_u / big_w;
    double p = 0.0;
    double q = 0.0;
    big_v = 0.0;
    for (int i = start; i < n_; ++i) {
      const double ui = x[i] - u;
      p += y[i] / w[i];
      q += y[i] * ui / w[i];
      big_v += ui * ui / w[i];
    }
    b = big_v > 0.0 ? q / big_v : 0.0;
    a = p / big_w - b * u;

    resid_start = std::max(n_ - (n_ - start) * kRunsRatio, -runs_);
    for (int i = resid_start; i < n_; ++i) resid[i - resid_start] = y[i] - a - b * x[i];
    nruns = count_runs(resid, n_ - resid_start);

    if (nruns > critical_runs(n_ - resid_start) || n_ - start <= kMinSamplesForRegression ||
        n_ - start <= min_samples_) {
      if (start != resid_start) nruns = count_runs(resid + (start - resid_start), n_ - start);
      break;
    }
    ++start;
  }

  const int npoints = n_ - start;
  double ss = 0.0;
  for (int i = start; i < n_; ++i) {
    const double r = resid[i - resid_start];
    ss += r * r / w[i];
  }
  ss /= static_cast<double>(npoints - 2);
  const double sb1 = big_v > 0.0 ? std::sqrt(ss / big_v) : kWorstCaseSkew;
  const double aa = u * sb1;
  const double sb0 = std::sqrt(ss / big_w + aa * aa);
  const double s2 = ss * static_cast<double>(npoints) / big_w;

  if (!std::isfinite(a) || !std::isfinite(b) || !std::isfinite(sb0) || !std::isfinite(sb1)) {
    // Degenerate data (e.g. identical times after rebasing): keep the worst case.
    regression_ok_ = false;
    freq_sd_ = kWorstCaseSkew;
    skew_ = kWorstCaseSkew;
    offset_sd_s_ = kWorstCaseStdDevS;
    std_dev_s_ = kWorstCaseStdDevS;
    nruns_ = 0;
    offset_s_ = offsets_[static_cast<std::size_t>(newest_)];
    offset_time_ = t_newest;
    find_best_sample(t_newest);
    return;
  }

  regression_ok_ = true;
  freq_ = b;
  freq_sd_ = std::clamp(sb1, kMinSkew, kMaxSkew);
  skew_ = std::clamp(sb1 * t_coefficient(npoints - 2), kMinSkew, kMaxSkew);
  offset_s_ = a;
  offset_time_ = t_newest;
  offset_sd_s_ = sb0;
  std_dev_s_ = std::max(kMinStdDevS, std::sqrt(s2));
  nruns_ = nruns;

  if (start > 0) {
    n_ -= start;
    runs_ = std::min(runs_ + start, n_ * (kRunsRatio - 1));
    find_min_delay();
  }
  find_best_sample(t_newest);
}

void SourceStats::find_best_sample(TimePoint at) {
  double best = std::numeric_limits<double>::infinity();
  best_sample_ = 0;
  for (int i = 0; i < n_; ++i) {
    const auto k = static_cast<std::size_t>(ring_index(i));
    const double elapsed = std::max(0.0, seconds_between(at, times_[k]));
    const double distance = root_dispersions_[k] + elapsed * skew_ + 0.5 * root_delays_[k];
    if (distance < best) {
      best = distance;
      best_sample_ = i;
    }
  }
}

// --- Kalman filter -----------------------------------------------------------

namespace {

// Discount of the filters' log-likelihood scores per sample.
constexpr double kScoreDecay = 0.99;
// How far (natural log-likelihood) a filter's score may fall behind the
// best one: a likelihood ratio of about 3000. Without a floor, a burst of
// wander (e.g. a server's clock still settling in its first minutes) left the
// calm filters so far behind that, with the slow discount above, the most
// wandering filter steered for 30-80 min after the source had calmed down,
// its frequency jumping by 1-3 ppm per 64 s sample.
constexpr double kMaxScoreLag = 8.0;
// An innovation beyond this many standard deviations is a spike; after a few
// in a row the model is wrong (e.g. an unannounced step) and the bank restarts.
constexpr double kGateSigmas2 = 10.0 * 10.0;
constexpr int kMaxRejectsInRow = 3;
// The frequency prior is never tighter than this (a source may differ from
// the clock it is compared with), s/s.
constexpr double kMinFrequencyPriorSd = 1e-7;
// ... and never wider than what the kernel can correct.
constexpr double kMaxFrequencyPriorSd = 0.1;
// How far the smallest delay seen may lie above the true floor (see
// update_kalman): with fewer delays than this, anywhere down to zero.
constexpr int kMinDelaysForFloor = 8;
// ... where closely agreeing delays still bound the jitter at this
// probability of being wrong.
constexpr double kFewDelaysConfidence = 0.05;
// ... otherwise at least this many times the gap up to the third smallest,
constexpr double kMinDelayGapFactor = 1.5;
// ... this fraction of the spread (median - minimum),
constexpr double kMinSpreadFactor = 0.2;
// ... and this many times the spread over sqrt(number of delays).
constexpr double kMinSpreadSqrtFactor = 1.5;

}  // namespace

void SourceStats::set_frequency_prior(double sd) {
  if (!(sd > 0.0)) return;
  freq_prior_sd_ = std::clamp(sd, kMinFrequencyPriorSd, kMaxFrequencyPriorSd);
}

void SourceStats::seed_kalman(const NtpSample& sample, double noise_var) {
  Kalman& k = kalman_;
  k.initialised = true;
  k.time = sample.time;
  k.rejects_in_row = 0;
  k.best = 0;
  if (options_.kalman_freq_wander > 0.0) {
    k.filter_count = 1;
    k.filters[0].wander = options_.kalman_freq_wander;
  } else {
    k.filter_count = kKalmanBank;
    for (int i = 0; i < kKalmanBank; ++i) {
      k.filters[static_cast<std::size_t>(i)].wander = std::pow(10.0, -20 + i);
    }
  }
  for (int i = 0; i < k.filter_count; ++i) {
    KalmanFilter& f = k.filters[static_cast<std::size_t>(i)];
    f.offset_s = sample.offset_s;
    f.freq = regression_ok_ ? freq_ : 0.0;
    f.p00 = noise_var;
    f.p01 = 0.0;
    f.p11 = freq_prior_sd_ * freq_prior_sd_;
    f.score = 0.0;
  }
  // The middle of the bank until the scores tell.
  if (k.filter_count > 1) k.best = 2;
  mix_kalman();
}

void SourceStats::update_kalman(const NtpSample& sample) {
  Kalman& k = kalman_;

  // The delay history: its minimum, and the gap up to the third smallest as
  // the uncertainty of that minimum.
  k.delays[static_cast<std::size_t>(k.delay_next)] = sample.peer_delay_s;
  k.delay_next = (k.delay_next + 1) % kKalmanDelays;
  k.delay_count = std::min(k.delay_count + 1, kKalmanDelays);
  std::array<double, kKalmanDelays> sorted{};
  std::copy(k.delays.begin(), k.delays.begin() + k.delay_count, sorted.begin());
  const auto used = static_cast<std::ptrdiff_t>(k.delay_count);
  std::nth_element(sorted.begin(), sorted.begin() + used / 2, sorted.begin() + used);
  const double median_delay = sorted[static_cast<std::size_t>(used / 2)];
  std::partial_sort(sorted.begin(), sorted.begin() + std::min<std::ptrdiff_t>(3, used),
                    sorted.begin() + used);
  const double min_delay = sorted[0];
  // How far the minimum may lie above the true floor. The smallest of n
  // queueing delays shrinks about as 1/sqrt(n) of their spread when small
  // delays are rare (gamma-like near zero), and the gap up to the third
  // smallest is of the same order. Too small a value makes the filter
  // trust its best samples beyond their real error; too large throws away
  // what they know. With few delays nothing is known: the error of a sample
  // is then only bounded by its whole delay.
  const double delay_spread = median_delay - min_delay;
  const double third_gap = sorted[static_cast<std::size_t>(std::min(2, k.delay_count - 1))] - min_delay;
  double min_uncertainty = std::max({kMinDelayGapFactor * third_gap, kMinSpreadFactor * delay_spread,
                                     kMinSpreadSqrtFactor * delay_spread /
                                         std::sqrt(static_cast<double>(k.delay_count))});
  if (k.delay_count < kMinDelaysForFloor) {
    // Few delays: the jitter's scale is barely known, and the whole delay
    // bounds it. But delays that agree closely say the jitter is small
    // whatever the path's length: n exponential delays fall within a range
    // R with probability about (R/mean)^(n-1), so the mean is below
    // R / kFewDelaysConfidence^(1/(n-1)) at that confidence. A long path
    // with little jitter (a satellite hop, a far server) then converges
    // as fast as a short one.
    double bound = min_delay;
    if (k.delay_count >= 2) {
      const double range = *std::max_element(k.delays.begin(), k.delays.begin() + k.delay_count) - min_delay;
      const double mean_bound =
          range / std::pow(kFewDelaysConfidence, 1.0 / static_cast<double>(k.delay_count - 1));
      bound = std::min(bound, 2.0 * mean_bound);  // both directions queue
    }
    min_uncertainty = std::max(min_uncertainty, bound);
  }

  const double floor_sd = std::max(options_.local_precision_s, 0.5 * sample.peer_dispersion_s);
  const auto noise_var = [&](double delay) {
    const double spread = std::max(0.0, delay - min_delay) + min_uncertainty;
    return floor_sd * floor_sd + spread * spread / 12.0;
  };
  const double r = noise_var(sample.peer_delay_s);
  k.typical_noise_var = noise_var(median_delay);
  k.last_noise_var = r;

  if (!k.initialised) {
    seed_kalman(sample, r);
    return;
  }

  const double dt = std::max(0.0, seconds_between(sample.time, k.time));
  // Gate on the filter in use.
  {
    const KalmanFilter& f = k.filters[static_cast<std::size_t>(k.best)];
    const double p00 = f.p00 + 2.0 * dt * f.p01 + dt * dt * f.p11 + f.wander * dt * dt * dt / 3.0;
    const double innovation = sample.offset_s - (f.offset_s + f.freq * dt);
    if (innovation * innovation > kGateSigmas2 * (p00 + r)) {
      if (++k.rejects_in_row <= kMaxRejectsInRow) return;
      seed_kalman(sample, r);
      return;
    }
    k.rejects_in_row = 0;
  }

  for (int i = 0; i < k.filter_count; ++i) {
    KalmanFilter& f = k.filters[static_cast<std::size_t>(i)];
    const double q = f.wander;
    const double offset_pred = f.offset_s + f.freq * dt;
    const double p00 = f.p00 + 2.0 * dt * f.p01 + dt * dt * f.p11 + q * dt * dt * dt / 3.0;
    const double p01 = f.p01 + dt * f.p11 + q * dt * dt / 2.0;
    const double p11 = f.p11 + q * dt;
    const double innovation = sample.offset_s - offset_pred;
    const double var = p00 + r;
    f.score = kScoreDecay * f.score - 0.5 * std::log(var) - 0.5 * innovation * innovation / var;
    const double g0 = p00 / var;
    const double g1 = p01 / var;
    f.offset_s = offset_pred + g0 * innovation;
    f.freq += g1 * innovation;
    f.p00 = (1.0 - g0) * p00;
    f.p01 = (1.0 - g0) * p01;
    f.p11 = std::max(0.0, p11 - g1 * p01);
  }
  k.time = sample.time;
  for (int i = 0; i < k.filter_count; ++i) {
    if (k.filters[static_cast<std::size_t>(i)].score >
        k.filters[static_cast<std::size_t>(k.best)].score) {
      k.best = i;
    }
  }
  // No filter falls more than kMaxScoreLag behind the best, so that the bank
  // can turn back within a few samples once a source stops wandering.
  const double lowest = k.filters[static_cast<std::size_t>(k.best)].score - kMaxScoreLag;
  for (int i = 0; i < k.filter_count; ++i) {
    double& score = k.filters[static_cast<std::size_t>(i)].score;
    score = std::max(score, lowest);
  }
  mix_kalman();
}

void SourceStats::mix_kalman() {
  kalman_.mixed = mixed_filter();
}

SourceStats::KalmanFilter SourceStats::mixed_filter() const {
  const Kalman& k = kalman_;
  if (k.filter_count <= 1) return k.filters[0];
  // Model averaging: each filter weighted by the (discounted) likelihood of
  // its recent predictions; the spread of the filters adds to the variance.
  const double top = k.filters[static_cast<std::size_t>(k.best)].score;
  std::array<double, kKalmanBank> weight{};
  double sum = 0.0;
  for (int i = 0; i < k.filter_count; ++i) {
    const auto u = static_cast<std::size_t>(i);
    weight[u] = std::exp(k.filters[u].score - top);
    sum += weight[u];
  }
  KalmanFilter out{};
  for (int i = 0; i < k.filter_count; ++i) {
    const auto u = static_cast<std::size_t>(i);
    weight[u] /= sum;
    out.offset_s += weight[u] * k.filters[u].offset_s;
    out.freq += weight[u] * k.filters[u].freq;
    out.wander += weight[u] * k.filters[u].wander;
  }
  for (int i = 0; i < k.filter_count; ++i) {
    const auto u = static_cast<std::size_t>(i);
    const KalmanFilter& f = k.filters[u];
    const double dx = f.offset_s - out.offset_s;
    const double df = f.freq - out.freq;
    out.p00 += weight[u] * (f.p00 + dx * dx);
    out.p01 += weight[u] * (f.p01 + dx * df);
    out.p11 += weight[u] * (f.p11 + df * df);
  }
  out.score = top;
  return out;
}

double SourceStats::kalman_effective_samples() const {
  if (!kalman_.initialised) return 0.0;
  const KalmanFilter f = kalman_state();
  if (!(f.p00 > 0.0)) return static_cast<double>(kMaxStatsSamples);
  return kalman_.typical_noise_var / f.p00;
}

double SourceStats::kalman_wander() const {
  if (!kalman_.initialised) return options_.kalman_freq_wander;
  return kalman_state().wander;
}

// --- Clock changes -----------------------------------------------------------

void SourceStats::on_clock_stepped(Duration offset) {
  on_clock_slewed(TimePoint{}, offset.to_seconds(), 0.0);
}

void SourceStats::on_clock_slewed(TimePoint when, double offset_s, double dfreq) {
  if (!std::isfinite(offset_s) || !std::isfinite(dfreq) || std::fabs(dfreq) >= 0.5) return;
  const auto rebase_time = [&](TimePoint t, double& offset) {
    const double delta = rebase_delta_s(t, when, offset_s, dfreq);
    offset += delta;
    return t + Duration::from_seconds(delta);
  };
  if (n_ > 0) {
    for (int i = -runs_; i < n_; ++i) {
      const auto k = static_cast<std::size_t>(ring_index(i));
      times_[k] = rebase_time(times_[k], offsets_[k]);
    }
  }
  offset_time_ = rebase_time(offset_time_, offset_s_);
  freq_ = (freq_ - dfreq) / (1.0 - dfreq);
  if (kalman_.initialised) {
    const TimePoint old_time = kalman_.time;
    for (int i = 0; i < kalman_.filter_count; ++i) {
      KalmanFilter& f = kalman_.filters[static_cast<std::size_t>(i)];
      kalman_.time = rebase_time(old_time, f.offset_s);
      f.freq = (f.freq - dfreq) / (1.0 - dfreq);
    }
    mix_kalman();
  }
}

void SourceStats::add_dispersion(double dispersion_s) {
  if (!(dispersion_s > 0.0) || !std::isfinite(dispersion_s)) return;
  for (int i = 0; i < n_; ++i) {
    const auto k = static_cast<std::size_t>(ring_index(i));
    root_dispersions_[k] += dispersion_s;
    peer_dispersions_[k] += dispersion_s;
  }
}

// --- Queries -----------------------------------------------------------------

SourceEstimate SourceStats::regression_estimate() const {
  SourceEstimate e;
  e.samples = n_;
  if (n_ == 0) return e;
  const auto bk = static_cast<std::size_t>(ring_index(best_sample_));
  e.ref_time = offset_time_;
  e.offset_s = offset_s_;
  e.offset_sd_s = offset_sd_s_;
  e.frequency = freq_;
  e.frequency_sd = freq_sd_;
  e.skew = skew_;
  e.std_dev_s = std_dev_s_;
  e.root_delay_s = root_delays_[bk];
  const double elapsed = seconds_between(offset_time_, times_[bk]);
  e.root_dispersion_s = root_dispersions_[bk] + skew_ * elapsed + offset_sd_s_;
  return e;
}

SourceEstimate SourceStats::kalman_estimate() const {
  SourceEstimate e = regression_estimate();
  if (!kalman_.initialised) return e;
  const KalmanFilter f = kalman_state();
  e.ref_time = kalman_.time;
  e.offset_s = f.offset_s;
  e.offset_sd_s = std::sqrt(std::max(0.0, f.p00));
  e.frequency = f.freq;
  e.frequency_sd = std::max(kMinSkew, std::sqrt(std::max(0.0, f.p11)));
  // A bound of the same confidence as the regression's skew.
  e.skew = std::clamp(3.5 * e.frequency_sd, kMinSkew, kWorstCaseSkew);
  if (n_ > 0) {
    const auto bk = static_cast<std::size_t>(ring_index(best_sample_));
    const double elapsed = std::max(0.0, seconds_between(kalman_.time, times_[bk]));
    e.root_dispersion_s = root_dispersions_[bk] + e.skew * elapsed + e.offset_sd_s;
  }
  return e;
}

SourceEstimate SourceStats::estimate() const {
  return use_kalman() ? kalman_estimate() : regression_estimate();
}

double SourceStats::predict_offset(TimePoint t) const {
  if (n_ < kMinSamplesForRegression) {
    return n_ > 0 ? offsets_[static_cast<std::size_t>(newest_)] : 0.0;
  }
  const SourceEstimate e = estimate();
  return e.offset_s + seconds_between(t, e.ref_time) * e.frequency;
}

SelectionData SourceStats::selection_data(TimePoint now) const {
  SelectionData d;
  d.samples = n_;
  if (n_ == 0) return d;
  const auto bk = static_cast<std::size_t>(ring_index(best_sample_));
  const double elapsed = std::fabs(seconds_between(now, times_[bk]));
  d.offset_s = offsets_[bk] + elapsed * freq_;
  d.root_distance_s = 0.5 * root_delays_[bk] + root_dispersions_[bk] + elapsed * skew_;
  d.lo_limit_s = d.offset_s - d.root_distance_s;
  d.hi_limit_s = d.offset_s + d.root_distance_s;
  d.std_dev_s = std_dev_s_;
  d.first_sample_ago_s = seconds_between(now, times_[static_cast<std::size_t>(ring_index(0))]);
  d.last_sample_ago_s = seconds_between(now, times_[static_cast<std::size_t>(newest_)]);
  d.select_ok = regression_ok_;
  // maxsamples below what an estimate needs (chronyd -q with maxsamples 1,
  // for one quick measurement): selectable once the samples are all there,
  // as chrony allows, with the largest spread selection accepts.
  if (!d.select_ok && n_ < kMinSamplesForRegression && n_ == max_samples_) {
    d.std_dev_s = options_.max_jitter_s;
    d.select_ok = true;
  }
  return d;
}

SourcestatsReport SourceStats::sourcestats_report(TimePoint now) const {
  SourcestatsReport r;
  r.samples = n_;
  r.runs = nruns_;
  r.frequency_ppm = freq_ * 1e6;
  r.skew_ppm = skew_ * 1e6;
  r.std_dev_s = std_dev_s_;
  if (n_ > 0) {
    const auto bk = static_cast<std::size_t>(ring_index(best_sample_));
    r.span_s = std::round(seconds_between(times_[static_cast<std::size_t>(newest_)],
                                          times_[static_cast<std::size_t>(ring_index(0))]));
    r.offset_s = offset_s_ + seconds_between(now, offset_time_) * freq_;
    r.offset_err_s = offset_sd_s_ + seconds_between(now, times_[bk]) * skew_ +
                     (0.5 * root_delays_[bk] + root_dispersions_[bk]);
  }
  return r;
}

LastSampleReport SourceStats::last_sample_report() const {
  LastSampleReport r;
  if (n_ == 0) return r;
  const auto k = static_cast<std::size_t>(newest_);
  r.valid = true;
  r.offset_s = offsets_[k];
  r.orig_offset_s = orig_offsets_[k];
  r.error_s = 0.5 * root_delays_[k] + root_dispersions_[k];
  r.time = times_[k];
  return r;
}

bool SourceStats::delay_test_data(TimePoint sample_time, DelayTestData& out) const {
  if (n_ < 6) return false;
  out.last_sample_ago_s = seconds_between(sample_time, offset_time_);
  out.predicted_offset_s = offset_s_ + out.last_sample_ago_s * freq_;
  out.min_delay_s = min_round_trip_delay_s();
  out.skew = skew_;
  out.std_dev_s = std_dev_s_;
  return true;
}

}  // namespace gnomon
