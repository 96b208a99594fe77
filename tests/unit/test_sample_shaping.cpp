// Per-source sample shaping: the median filter (chrony's `filter N`), the
// delay quantile (`maxdelayquant`) and the fallback drift windows
// (`fallbackdrift`).
#include <catch2/catch.hpp>

#include <cmath>
#include <optional>

#include "lib/delay_quantile.hpp"
#include "lib/fallback_drift.hpp"
#include "lib/sample_filter.hpp"

using namespace gnomon;

namespace {

NtpSample sample(double t_s, double offset_s, double delay_s) {
  NtpSample s;
  s.time = TimePoint::from_seconds(t_s);
  s.offset_s = offset_s;
  s.peer_delay_s = delay_s;
  s.peer_dispersion_s = 1e-6;
  s.root_delay_s = delay_s;
  s.root_dispersion_s = 1e-6;
  s.stratum = 2;
  return s;
}

}  // namespace

TEST_CASE("filter: off passes every sample through", "[filter]") {
  SampleFilter f(0);
  CHECK_FALSE(f.enabled());
  auto out = f.accumulate(sample(1, 0.001, 0.01));
  REQUIRE(out);
  CHECK(out->offset_s == 0.001);
  CHECK_FALSE(f.accumulate(std::nullopt));
}

TEST_CASE("filter: one sample per N polls, the median of the near-minimum delays", "[filter]") {
  SampleFilter f(5);
  REQUIRE(f.enabled());
  CHECK_FALSE(f.accumulate(sample(0, 0.010, 0.001)));
  CHECK_FALSE(f.accumulate(sample(1, 0.500, 0.100)));  // a delay far above the minimum: dropped
  CHECK_FALSE(f.accumulate(sample(2, 0.012, 0.0011)));
  CHECK_FALSE(f.accumulate(sample(3, 0.011, 0.0012)));
  auto out = f.accumulate(sample(4, 0.013, 0.0010));
  REQUIRE(out);
  // Kept offsets 10, 11, 12, 13 ms: the median is the mean of 11 and 12.
  CHECK(out->offset_s == Approx(0.0115));
  CHECK(out->peer_delay_s == Approx(0.00115));
  // The spread of the offsets kept bounds the dispersion from below.
  CHECK(out->peer_dispersion_s > 1e-3);
  // The next group starts empty.
  CHECK_FALSE(f.accumulate(sample(5, 0.020, 0.001)));
}

TEST_CASE("filter: polls without a sample count, and a group without any gives none", "[filter]") {
  SampleFilter f(3);
  CHECK_FALSE(f.accumulate(std::nullopt));
  CHECK_FALSE(f.accumulate(std::nullopt));
  CHECK_FALSE(f.accumulate(std::nullopt));  // third poll: nothing to reduce
  CHECK_FALSE(f.accumulate(sample(3, 0.002, 0.001)));
  CHECK_FALSE(f.accumulate(std::nullopt));
  auto out = f.accumulate(std::nullopt);  // one sample in three polls still gives one
  REQUIRE(out);
  CHECK(out->offset_s == 0.002);
}

TEST_CASE("filter: kept samples follow a clock step", "[filter]") {
  SampleFilter f(2);
  CHECK_FALSE(f.accumulate(sample(0, 0.5, 0.001)));
  f.on_clock_stepped(Duration::from_seconds(0.5));  // the clock went back by 0.5 s
  auto out = f.accumulate(sample(1, 0.0, 0.001));
  REQUIRE(out);
  CHECK(std::fabs(out->offset_s) < 1e-9);
  CHECK_FALSE(f.accumulate(sample(2, 0.1, 0.001)));
  f.reset();
  CHECK_FALSE(f.accumulate(sample(3, 0.1, 0.001)));  // reset dropped the pending one
}

TEST_CASE("delay quantile: the p-quantile of the window, and what passes", "[delayquant]") {
  DelayQuantile q(0.5);
  CHECK_FALSE(q.estimate());
  CHECK(q.passes(10.0));  // no estimate yet: everything passes
  for (int i = 1; i <= 9; ++i) q.accumulate(i * 1e-3);
  REQUIRE(q.estimate());
  CHECK(*q.estimate() == Approx(5e-3).margin(1e-3));
  CHECK(q.passes(4e-3));
  CHECK_FALSE(q.passes(8e-3));
  q.set_quantile(0.9);
  CHECK(*q.estimate() >= 8e-3);
  q.set_quantile(7.0);  // clamped
  CHECK(*q.estimate() <= 9e-3 + 1e-12);
  q.reset();
  CHECK_FALSE(q.estimate());
}

TEST_CASE("delay quantile: the window follows a change of path", "[delayquant]") {
  DelayQuantile q(0.3);
  for (int i = 0; i < 100; ++i) q.accumulate(1e-3);
  CHECK(*q.estimate() == Approx(1e-3));
  for (std::size_t i = 0; i < DelayQuantile::kWindow; ++i) q.accumulate(5e-3);
  CHECK(*q.estimate() == Approx(5e-3));
}

TEST_CASE("fallback drift: off unless 0 < min <= max", "[fallbackdrift]") {
  CHECK_FALSE(FallbackDrift(0, 4).enabled());
  CHECK_FALSE(FallbackDrift(5, 4).enabled());
  CHECK(FallbackDrift(2, 4).enabled());
}

TEST_CASE("fallback drift: longer windows apply as the outage lasts", "[fallbackdrift]") {
  FallbackDrift d(4, 6);  // 16, 32 and 64 s windows
  CHECK_FALSE(d.next_after_s());  // nothing averaged yet
  // Updates every 16 s: the frequency rises from 10 to 20 ppm.
  double prev = 16.0;
  for (int i = 0; i < 40; ++i) {
    d.on_update(i < 20 ? 10.0 : 20.0, 16.0, prev);
    prev = 16.0;
  }
  REQUIRE(d.next_after_s());
  CHECK(*d.next_after_s() == 16.0);
  CHECK_FALSE(d.due(10.0));
  auto f16 = d.due(16.0);
  REQUIRE(f16);
  CHECK(*f16 == Approx(20.0).margin(0.5));  // the short window holds the recent rate
  CHECK(*d.next_after_s() == 32.0);
  CHECK_FALSE(d.due(20.0));                 // the 16 s window is in use already
  auto f64 = d.due(100.0);                  // skips straight to the longest due window
  REQUIRE(f64);
  CHECK(*f64 < *f16);                       // the long window remembers the older, lower rate
  CHECK_FALSE(d.next_after_s());
  d.on_update(20.0, 16.0, 16.0);            // an update ends the outage
  CHECK(*d.next_after_s() == 16.0);
}

TEST_CASE("fallback drift: an outage's long interval is not averaged", "[fallbackdrift]") {
  FallbackDrift d(3, 3);
  for (int i = 0; i < 4; ++i) d.on_update(5.0, 8.0, 8.0);
  d.on_update(500.0, 1000.0, 8.0);  // 125x the previous interval
  auto f = d.due(8.0);
  REQUIRE(f);
  CHECK(*f == Approx(5.0));
}
