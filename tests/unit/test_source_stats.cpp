// lib/source_stats.hpp: regression on synthetic data with known offset and
// frequency, the runs test, skew and std dev, empty-state bounds, rebasing
// after clock steps and slews, and the Kalman estimator.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>

#include "lib/source_stats.hpp"

using namespace gnomon;

namespace {

const TimePoint kT0{1710504000LL * kNsPerS};

TimePoint at(double s) { return kT0 + Duration::from_seconds(s); }

NtpSample make_sample(double t_s, double offset_s, double delay_s = 0.001) {
  NtpSample s;
  s.time = at(t_s);
  s.offset_s = offset_s;
  s.peer_delay_s = delay_s;
  s.peer_dispersion_s = 1e-6;
  s.root_delay_s = delay_s + 0.0001;
  s.root_dispersion_s = 2e-6;
  s.stratum = 1;
  return s;
}

// A linear truth: offset(t) = o0 + f * t (local minus source), with
// Gaussian noise of sd `noise` and a fixed seed.
struct LinearTruth {
  double o0 = 0.0;
  double freq = 0.0;
  double noise = 0.0;
  std::mt19937_64 gen{12345};
  std::normal_distribution<double> normal{0.0, 1.0};

  NtpSample sample(double t_s) { return make_sample(t_s, o0 + freq * t_s + noise * normal(gen)); }
  [[nodiscard]] double offset_at(double t_s) const { return o0 + freq * t_s; }
};

}  // namespace

TEST_CASE("no samples: worst-case bounds", "[stats]") {
  SourceStats st;
  CHECK(st.samples() == 0);
  const SourcestatsReport r = st.sourcestats_report(kT0);
  CHECK(r.samples == 0);
  CHECK(r.runs == 0);
  CHECK(r.span_s == 0.0);
  CHECK(r.skew_ppm == Approx(2000.0));
  CHECK(r.std_dev_s == Approx(4.0));
  CHECK(r.offset_s == 0.0);
  CHECK(r.frequency_ppm == 0.0);
  const SelectionData d = st.selection_data(kT0);
  CHECK_FALSE(d.select_ok);
  CHECK(d.samples == 0);
  CHECK_FALSE(st.last_sample_report().valid);
  CHECK(st.predict_offset(kT0) == 0.0);
  CHECK(std::isinf(st.min_round_trip_delay_s()));
  SourceStats::DelayTestData dt;
  CHECK_FALSE(st.delay_test_data(kT0, dt));
}

TEST_CASE("fewer than 3 samples are not selectable; 3 are", "[stats]") {
  SourceStats st;
  st.add_sample(make_sample(0, 0.010));
  CHECK_FALSE(st.selection_data(at(1)).select_ok);
  CHECK(st.predict_offset(at(10)) == 0.010);
  CHECK(st.sourcestats_report(at(1)).skew_ppm == Approx(2000.0));
  st.add_sample(make_sample(2, 0.011));
  CHECK_FALSE(st.selection_data(at(3)).select_ok);
  st.add_sample(make_sample(4, 0.0121));
  const SelectionData d = st.selection_data(at(5));
  CHECK(d.select_ok);
  CHECK(d.samples == 3);
  CHECK(d.first_sample_ago_s == Approx(5.0));
  CHECK(d.last_sample_ago_s == Approx(1.0));
  CHECK(d.hi_limit_s - d.lo_limit_s == Approx(2 * d.root_distance_s));
  // Few samples: the skew bound is wide (Student-t with 1 degree of freedom).
  CHECK(std::isfinite(st.sourcestats_report(at(5)).skew_ppm));
}

TEST_CASE("maxsamples below 3: selectable once full, with maxjitter as the spread", "[stats]") {
  SourceStatsOptions o;
  o.max_samples = 1;
  o.max_jitter_s = 0.5;
  SourceStats st(o);
  CHECK_FALSE(st.selection_data(at(0)).select_ok);
  st.add_sample(make_sample(0, 0.010));
  const SelectionData d = st.selection_data(at(1));
  CHECK(d.select_ok);
  CHECK(d.std_dev_s == 0.5);
  CHECK(d.offset_s == Approx(0.010));
}

TEST_CASE("regression recovers offset and frequency", "[stats]") {
  LinearTruth truth;
  truth.o0 = 0.0123;
  truth.freq = 50e-6;
  truth.noise = 100e-6;
  SourceStats st;
  for (int i = 0; i < 64; ++i) st.add_sample(truth.sample(64.0 * i));
  const double t_end = 64.0 * 63;
  const SourcestatsReport r = st.sourcestats_report(at(t_end));
  INFO("NP " << r.samples << " NR " << r.runs << " freq " << r.frequency_ppm << " skew "
             << r.skew_ppm << " offset " << r.offset_s << " sd " << r.std_dev_s);
  // Slope SD ~ noise / (span * sqrt(n / 12)) ~ 0.01 ppm.
  CHECK(r.frequency_ppm == Approx(50.0).margin(0.1));
  CHECK(r.offset_s == Approx(truth.offset_at(t_end)).margin(60e-6));
  CHECK(r.std_dev_s == Approx(100e-6).margin(30e-6));
  CHECK(r.samples >= 32);
  CHECK(r.runs >= 10);
  CHECK(r.span_s == Approx(64.0 * (r.samples - 1)));
  // The skew is a 99.95% bound: it covers the actual error, and is small.
  CHECK(r.skew_ppm > std::fabs(r.frequency_ppm - 50.0));
  CHECK(r.skew_ppm < 0.5);
  CHECK(r.offset_err_s > 0.0);

  const SourceEstimate e = st.regression_estimate();
  CHECK(e.frequency == Approx(50e-6).margin(0.1e-6));
  CHECK(e.offset_sd_s < 60e-6);
  CHECK(e.offset_sd_s > 5e-6);
  CHECK(e.ref_time == at(t_end));
  // Prediction 1000 s ahead.
  CHECK(st.predict_offset(at(t_end + 1000)) == Approx(truth.offset_at(t_end + 1000)).margin(200e-6));
  // Selection: the interval contains the truth.
  const SelectionData d = st.selection_data(at(t_end + 10));
  CHECK(d.lo_limit_s < truth.offset_at(t_end + 10));
  CHECK(d.hi_limit_s > truth.offset_at(t_end + 10));
}

TEST_CASE("regression with noise-free data is exact", "[stats]") {
  SourceStats st;
  for (int i = 0; i < 10; ++i) st.add_sample(make_sample(16.0 * i, -0.5 + 1e-6 * 16.0 * i));
  const SourceEstimate e = st.regression_estimate();
  CHECK(e.frequency == Approx(1e-6).margin(1e-12));
  CHECK(e.offset_s == Approx(-0.5 + 1e-6 * 144.0).margin(1e-12));
  CHECK(e.std_dev_s == Approx(kMinStdDevS));
}

TEST_CASE("at most 64 samples (or maxsamples) are held", "[stats]") {
  LinearTruth truth;
  truth.noise = 1e-6;
  SourceStats st;
  for (int i = 0; i < 200; ++i) st.add_sample(truth.sample(2.0 * i));
  CHECK(st.samples() <= 64);
  SourceStatsOptions o;
  o.max_samples = 10;
  SourceStats small(o);
  for (int i = 0; i < 30; ++i) small.add_sample(truth.sample(2.0 * i));
  CHECK(small.samples() <= 10);
  CHECK(small.samples() >= 3);
}

TEST_CASE("the runs test drops samples of an old trend", "[stats]") {
  // 40 samples at +50 ppm, then the frequency changes to -50 ppm.
  std::mt19937_64 gen(99);
  std::normal_distribution<double> noise(0.0, 20e-6);
  SourceStats st;
  double offset = 0.0;
  double t = 0.0;
  for (int i = 0; i < 40; ++i, t += 64.0) {
    st.add_sample(make_sample(t, 50e-6 * t + noise(gen)));
  }
  const int before = st.samples();
  offset = 50e-6 * (t - 64.0);
  const double t_kink = t - 64.0;
  for (int i = 0; i < 20; ++i, t += 64.0) {
    st.add_sample(make_sample(t, offset - 50e-6 * (t - t_kink) + noise(gen)));
  }
  const SourcestatsReport r = st.sourcestats_report(at(t - 64.0));
  INFO("before " << before << " NP " << r.samples << " freq " << r.frequency_ppm);
  CHECK(before >= 30);
  CHECK(r.samples <= 25);  // the old trend is gone
  CHECK(r.frequency_ppm == Approx(-50.0).margin(2.0));
}

TEST_CASE("weights: far samples count less than close ones", "[stats]") {
  // Every 4th sample has a large delay and a biased offset; the fit follows
  // the low-delay samples.
  SourceStats st;
  for (int i = 0; i < 40; ++i) {
    const bool slow = i % 4 == 0;
    const double jitter = (i % 2 == 0 ? 1 : -1) * 1e-6;
    st.add_sample(make_sample(16.0 * i, slow ? 0.002 : jitter, slow ? 0.010 : 0.001));
  }
  const SourceEstimate e = st.regression_estimate();
  CHECK(std::fabs(e.offset_s) < 0.0005);
  CHECK(st.min_round_trip_delay_s() == Approx(0.001));
}

TEST_CASE("out-of-order and non-finite samples", "[stats]") {
  SourceStats st;
  for (int i = 0; i < 5; ++i) st.add_sample(make_sample(10.0 * i, 0.001));
  NtpSample bad = make_sample(100, std::numeric_limits<double>::quiet_NaN());
  st.add_sample(bad);
  CHECK(st.samples() == 5);
  bad = make_sample(100, 0.001, std::numeric_limits<double>::infinity());
  st.add_sample(bad);
  CHECK(st.samples() == 5);
  // A sample older than the newest discards the history.
  st.add_sample(make_sample(5.0, 0.002));
  CHECK(st.samples() == 1);
  CHECK(st.last_sample_report().offset_s == 0.002);
}

TEST_CASE("reset returns to the worst case", "[stats]") {
  SourceStats st;
  for (int i = 0; i < 10; ++i) st.add_sample(make_sample(10.0 * i, 0.001));
  st.reset();
  CHECK(st.samples() == 0);
  CHECK(st.sourcestats_report(kT0).skew_ppm == Approx(2000.0));
  CHECK(st.sourcestats_report(kT0).std_dev_s == Approx(4.0));
}

TEST_CASE("rebasing after a clock step keeps predictions consistent", "[stats]") {
  LinearTruth truth;
  truth.o0 = 0.7;  // we are 0.7 s ahead
  truth.freq = 10e-6;
  truth.noise = 10e-6;
  SourceStats st;
  for (int i = 0; i < 20; ++i) st.add_sample(truth.sample(16.0 * i));
  const double t_step = 16.0 * 19 + 8.0;
  const double predicted = st.predict_offset(at(t_step));
  CHECK(predicted == Approx(truth.offset_at(t_step)).margin(30e-6));

  // The clock is stepped back by 0.7 s.
  st.on_clock_stepped(Duration::from_seconds(0.7));
  // The same instant now reads 0.7 s earlier, and the offset is 0.7 s less.
  const TimePoint new_reading = at(t_step - 0.7);
  CHECK(st.predict_offset(new_reading) == Approx(predicted - 0.7).margin(1e-9));
  CHECK(st.last_sample_report().offset_s == Approx(st.last_sample_report().orig_offset_s - 0.7));
  CHECK(st.regression_estimate().frequency == Approx(10e-6).margin(0.5e-6));

  // New samples from the stepped clock continue the same line: no trimming.
  const int before = st.samples();
  for (int i = 0; i < 10; ++i) {
    const double t_true = t_step + 16.0 * (i + 1);
    st.add_sample(make_sample(t_true - 0.7, truth.offset_at(t_true) - 0.7 + 10e-6 * truth.normal(truth.gen)));
  }
  CHECK(st.samples() >= before + 5);
  CHECK(st.regression_estimate().frequency == Approx(10e-6).margin(0.5e-6));
}

TEST_CASE("rebasing after a slew and a frequency change", "[stats]") {
  // Our clock gains 100 ppm and is 1 ms ahead at t = 0.
  LinearTruth truth;
  truth.o0 = 0.001;
  truth.freq = 100e-6;
  truth.noise = 1e-6;
  SourceStats st;
  for (int i = 0; i < 30; ++i) st.add_sample(truth.sample(16.0 * i));
  const double w = 16.0 * 29 + 4.0;
  const double offset_w = truth.offset_at(w);
  CHECK(st.regression_estimate().frequency == Approx(100e-6).margin(0.1e-6));

  // The discipline removes the offset and the frequency error at w.
  st.on_clock_slewed(at(w), offset_w, 100e-6);
  CHECK(st.predict_offset(at(w - offset_w)) == Approx(0.0).margin(2e-6));
  CHECK(st.regression_estimate().frequency == Approx(0.0).margin(0.1e-6));
  CHECK(st.predict_offset(at(w + 1000)) == Approx(0.0).margin(5e-6));

  // The corrected clock now agrees with the source: new samples near zero
  // continue the rebased history without trimming.
  const int before = st.samples();
  for (int i = 1; i <= 10; ++i) st.add_sample(make_sample(w + 16.0 * i, 1e-6 * truth.normal(truth.gen)));
  CHECK(st.samples() >= before + 5);
  CHECK(std::fabs(st.regression_estimate().frequency) < 0.1e-6);
}

TEST_CASE("add_dispersion grows root distances", "[stats]") {
  SourceStats st;
  for (int i = 0; i < 5; ++i) st.add_sample(make_sample(10.0 * i, 0.0));
  const double before = st.selection_data(at(50)).root_distance_s;
  st.add_dispersion(0.5);
  CHECK(st.selection_data(at(50)).root_distance_s == Approx(before + 0.5));
  CHECK(st.last_sample_report().error_s > 0.5);
}

TEST_CASE("delay test data from 6 samples", "[stats]") {
  SourceStats st;
  for (int i = 0; i < 5; ++i) st.add_sample(make_sample(10.0 * i, 1e-6 * (i % 2), 0.002 + 1e-4 * i));
  SourceStats::DelayTestData dt;
  CHECK_FALSE(st.delay_test_data(at(60), dt));
  st.add_sample(make_sample(50, 0.0, 0.003));
  REQUIRE(st.delay_test_data(at(60), dt));
  CHECK(dt.min_delay_s == Approx(0.002));
  CHECK(dt.last_sample_ago_s == Approx(10.0));
}

TEST_CASE("Kalman estimator tracks offset and frequency with delay noise", "[stats][kalman]") {
  // Exponential queueing delays in each direction (mean 100 us) over a
  // 200 us base: the offset error of a sample is half the difference.
  SourceStatsOptions o;
  o.estimator = StatsEstimator::Kalman;
  SourceStats st(o);
  std::mt19937_64 gen(2024);
  std::exponential_distribution<double> queue(1.0 / 100e-6);
  const double o0 = -0.002;
  const double freq = 20e-6;
  double max_err_after = 0.0;
  for (int i = 0; i < 400; ++i) {
    const double t = 16.0 * i;
    const double up = queue(gen);
    const double down = queue(gen);
    const double delay = 200e-6 + up + down;
    // Local minus source: a late request makes the source look behind.
    const double measured = o0 + freq * t + (up - down) / 2.0;
    st.add_sample(make_sample(t, measured, delay));
    if (i > 100) {
      const SourceEstimate e = st.estimate();
      const double truth = o0 + freq * (e.ref_time - kT0).to_seconds();
      max_err_after = std::max(max_err_after, std::fabs(e.offset_s - truth));
    }
  }
  const SourceEstimate k = st.kalman_estimate();
  const SourceEstimate r = st.regression_estimate();
  INFO("kalman freq " << k.frequency << " regression freq " << r.frequency << " max err " << max_err_after);
  CHECK(k.frequency == Approx(freq).margin(0.2e-6));
  CHECK(max_err_after < 40e-6);  // single samples err up to ~100s of us
  CHECK(k.offset_sd_s > 0.0);
  CHECK(k.skew >= k.frequency_sd);
  // The reported numbers stay the regression's.
  CHECK(st.sourcestats_report(at(16.0 * 399)).frequency_ppm == Approx(r.frequency * 1e6));
}

TEST_CASE("Kalman estimate is rebased by clock corrections", "[stats][kalman]") {
  SourceStatsOptions o;
  o.estimator = StatsEstimator::Kalman;
  SourceStats st(o);
  for (int i = 0; i < 50; ++i) st.add_sample(make_sample(16.0 * i, 0.01 + 5e-6 * 16.0 * i));
  const double t = 16.0 * 49;
  CHECK(st.predict_offset(at(t)) == Approx(0.01 + 5e-6 * t).margin(1e-6));
  st.on_clock_slewed(at(t), 0.01 + 5e-6 * t, 5e-6);
  CHECK(st.predict_offset(at(t)) == Approx(0.0).margin(1e-6));
  CHECK(st.kalman_estimate().frequency == Approx(0.0).margin(0.05e-6));
  st.on_clock_stepped(Duration::from_seconds(-1.0));  // clock moved 1 s forward
  CHECK(st.predict_offset(at(t + 1.0)) == Approx(1.0).margin(1e-6));
}

TEST_CASE("Kalman: a frequency prior (drift file) tightens the first estimates", "[stats][kalman]") {
  // Three samples 2 s apart, 100 us noise, and a true frequency of 0 (the
  // clock already corrected by a good drift file known to 1 ppm).
  const auto first_estimate = [](double prior_sd) {
    SourceStatsOptions o;
    o.estimator = StatsEstimator::Kalman;
    SourceStats st(o);
    if (prior_sd > 0.0) st.set_frequency_prior(prior_sd);
    st.add_sample(make_sample(0.0, 50e-6, 300e-6));
    st.add_sample(make_sample(2.0, -80e-6, 450e-6));
    st.add_sample(make_sample(4.0, 60e-6, 350e-6));
    return st.kalman_estimate();
  };
  const SourceEstimate none = first_estimate(0.0);
  const SourceEstimate prior = first_estimate(1e-6);
  INFO("without prior: " << none.frequency << " +- " << none.frequency_sd << "; with: "
                         << prior.frequency << " +- " << prior.frequency_sd);
  CHECK(prior.frequency_sd <= 1.1e-6);
  CHECK(none.frequency_sd > 10e-6);
  CHECK(std::fabs(prior.frequency) < std::fabs(none.frequency));
  // Out-of-range priors are clamped, not taken.
  SourceStats st;
  st.set_frequency_prior(std::numeric_limits<double>::quiet_NaN());
  st.set_frequency_prior(-1.0);
  st.add_sample(make_sample(0.0, 0.0));
  CHECK(std::isfinite(st.kalman_estimate().frequency_sd));
}

TEST_CASE("Kalman: the wander bank is averaged by how well each filter predicted",
          "[stats][kalman]") {
  // A clock wandering 10 ppb/s: the filters assuming about that wander must
  // carry the estimate, and the averaged one must track the truth.
  SourceStatsOptions o;
  o.estimator = StatsEstimator::Kalman;
  SourceStats st(o);
  std::mt19937_64 gen(77);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::exponential_distribution<double> queue(1.0 / 20e-6);
  double freq = 0.0;
  double offset = 0.0;
  double sum2 = 0.0;
  int n = 0;
  for (int i = 0; i < 600; ++i) {
    const double t = 16.0 * i;
    for (int k = 0; k < 16; ++k) {
      freq += 1e-8 * normal(gen);
      offset += freq;
    }
    const double up = queue(gen);
    const double down = queue(gen);
    st.add_sample(make_sample(t, offset + (up - down) / 2.0, 200e-6 + up + down));
    if (i >= 200) {
      const SourceEstimate e = st.kalman_estimate();
      sum2 += (e.offset_s - offset) * (e.offset_s - offset);
      ++n;
    }
  }
  const double rms = std::sqrt(sum2 / n);
  INFO("wander " << st.kalman_wander() << " rms " << rms * 1e6 << " us");
  CHECK(st.kalman_wander() > 1e-17);
  CHECK(st.kalman_wander() < 1e-15);
  CHECK(rms < 10e-6);  // samples err by ~14 us RMS
}

TEST_CASE("Auto estimator: picks the better predictor of recent samples", "[stats][kalman]") {
  // Low jitter on a wandering clock: the Kalman filter predicts better than
  // the regression, and Auto switches to it; the reports stay chrony's.
  SourceStatsOptions o;
  o.estimator = StatsEstimator::Auto;
  SourceStats st(o);
  SourceStatsOptions ro;
  SourceStats reg(ro);
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::exponential_distribution<double> queue(1.0 / 10e-6);
  double offset = 0.0;
  double freq = 1e-6;
  double err_auto = 0.0;
  double err_reg = 0.0;
  for (int i = 0; i < 300; ++i) {
    for (int s = 0; s < 64; ++s) {
      offset += freq;
      freq += 1e-8 * normal(gen);
    }
    const double t = 64.0 * (i + 1);
    if (i > 30) {
      err_auto += std::pow(st.predict_offset(at(t)) - offset, 2);
      err_reg += std::pow(reg.predict_offset(at(t)) - offset, 2);
    }
    const double up = queue(gen);
    const double down = queue(gen);
    const NtpSample s = make_sample(t, offset + (up - down) / 2.0, 200e-6 + up + down);
    st.add_sample(s);
    reg.add_sample(s);
  }
  INFO("auto " << std::sqrt(err_auto / 269) << " regression " << std::sqrt(err_reg / 269));
  CHECK(err_auto < err_reg);
  const SourceEstimate e = st.estimate();
  const SourceEstimate k = st.kalman_estimate();
  CHECK(e.offset_s == k.offset_s);
  CHECK(st.sourcestats_report(at(64.0 * 300)).frequency_ppm ==
        Approx(st.regression_estimate().frequency * 1e6));
  CHECK(st.kalman_wander() > 0.0);
}
