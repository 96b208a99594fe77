// The simulator's own parts: random numbers, FakeClock, SimNetwork, SimServer.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "lib/packet.hpp"
#include "lib/sim/fake_clock.hpp"
#include "lib/sim/sim_metrics.hpp"
#include "lib/sim/sim_network.hpp"
#include "lib/sim/sim_random.hpp"
#include "lib/sim/sim_server.hpp"

using namespace gnomon;
using namespace gnomon::sim;
using Kind = ClockAdjustment::Kind;

TEST_CASE("SimRandom replays and has the right moments") {
  SimRandom a(42), b(42), c(43);
  for (int i = 0; i < 10; ++i) CHECK(a.next_u64() == b.next_u64());
  CHECK(a.next_u64() != c.next_u64());

  // The first value of std::mt19937_64 seeded with 5489 is fixed by the standard.
  SimRandom d(5489);
  CHECK(d.next_u64() == 14514284786278117030ULL);

  SimRandom r(7);
  const int n = 200000;
  double sum_e = 0, sum_n = 0, sum_n2 = 0, sum_u = 0;
  for (int i = 0; i < n; ++i) {
    const double e = r.exponential();
    REQUIRE(e >= 0.0);
    sum_e += e;
    const double x = r.normal();
    sum_n += x;
    sum_n2 += x * x;
    const double u = r.uniform();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    sum_u += u;
  }
  CHECK(sum_e / n == Approx(1.0).margin(0.01));
  CHECK(sum_n / n == Approx(0.0).margin(0.01));
  CHECK(sum_n2 / n == Approx(1.0).margin(0.01));
  CHECK(sum_u / n == Approx(0.5).margin(0.005));
  CHECK_FALSE(r.chance(0.0));
  CHECK(r.chance(1.0));
}

TEST_CASE("FakeClock drifts with its frequency error and initial offset") {
  FakeClock clock(FakeClockConfig{.initial_offset_s = 0.1, .freq_error_ppm = 100.0});
  CHECK(clock.true_offset_s() == Approx(0.1));
  CHECK((clock.now() - kSimEpoch).to_seconds() == Approx(0.1));
  clock.advance_to(1000.0);
  CHECK(clock.true_offset_s() == Approx(0.1 + 0.1));  // 100 ppm * 1000 s
  CHECK(clock.true_frequency_error_ppm() == Approx(100.0));
  CHECK((clock.now() - clock.true_now()).to_seconds() == Approx(0.2).margin(1e-9));
  CHECK(clock.true_now() == kSimEpoch + Duration::seconds(1000));

  // Corrections scale the oscillator's rate: 100 ppm over-corrects 100 ppm
  // by 100 ppm x 100 ppm, and e/(1 + e) is exact.
  clock.set_frequency_ppm(100.0);
  CHECK(clock.frequency_ppm() == 100.0);
  CHECK(clock.residual_frequency_ppm() == Approx(-0.01).margin(1e-9));
  clock.set_frequency_ppm(100.0 / 1.0001);
  CHECK(clock.residual_frequency_ppm() == Approx(0.0).margin(1e-9));
  clock.advance(Duration::seconds(500));
  CHECK(clock.true_offset_s() == Approx(0.2).margin(1e-12));
  clock.set_frequency_ppm(150.0);  // over-corrected: (1 + 1e-4)(1 - 1.5e-4) - 1
  clock.advance(Duration::seconds(100));
  CHECK(clock.true_frequency_error_ppm() == Approx(-50.015).margin(1e-9));
  CHECK(clock.true_offset_s() == Approx(0.2 - 0.0050015).margin(1e-12));
  CHECK(clock.count(Kind::Frequency) == 3);
}

TEST_CASE("FakeClock never goes back in true time") {
  FakeClock clock(FakeClockConfig{.freq_error_ppm = 10.0});
  clock.advance_to(10.0);
  clock.advance_to(5.0);
  CHECK(clock.true_time_s() == 10.0);
}

TEST_CASE("FakeClock steps and logs the step") {
  FakeClock clock(FakeClockConfig{.initial_offset_s = -1e8});
  REQUIRE(clock.step_offset(Duration::from_seconds(-1e8)));
  CHECK(clock.true_offset_s() == Approx(0.0).margin(1e-6));
  REQUIRE(clock.adjustments().size() == 1);
  CHECK(clock.adjustments()[0].kind == Kind::Step);
  CHECK(clock.adjustments()[0].value == -1e8);

  FakeClock fixed(FakeClockConfig{.initial_offset_s = 1.0, .can_step = false});
  CHECK_FALSE(fixed.step_offset(Duration::seconds(1)));
  CHECK(fixed.true_offset_s() == 1.0);
  CHECK_FALSE(fixed.adjustments()[0].accepted);
}

TEST_CASE("FakeClock slews at the bounded rate and reports what remains") {
  FakeClock clock(FakeClockConfig{.initial_offset_s = 0.1, .max_slew_rate_ppm = 1000.0});
  // 0.1 s over a 10 s correction time wants 10000 ppm; the clock caps it at 1000.
  clock.slew_offset(Duration::from_ms(100), Duration::seconds(10), 83333.0);
  CHECK(clock.true_frequency_error_ppm() == Approx(-1000.0));
  clock.advance(Duration::seconds(50));
  CHECK(clock.true_offset_s() == Approx(0.05));
  CHECK(clock.remaining_slew().to_seconds() == Approx(0.05));
  clock.advance(Duration::seconds(60));  // finishes after 50 more seconds
  CHECK(clock.true_offset_s() == Approx(0.0).margin(1e-12));
  CHECK(clock.remaining_slew() == Duration{});
  CHECK(clock.true_frequency_error_ppm() == 0.0);

  // The caller's own cap applies too, and a new slew restarts the whole pending amount.
  clock.slew_offset(Duration::from_ms(-10), Duration::seconds(1), 500.0);
  CHECK(clock.true_frequency_error_ppm() == Approx(500.0));
  clock.advance(Duration::seconds(10));
  CHECK(clock.true_offset_s() == Approx(0.005));  // slewing -10 ms moves the clock forward
  clock.slew_offset(Duration::from_ms(5), Duration::seconds(1), 500.0);  // cancels the rest
  CHECK(clock.remaining_slew().to_seconds() == Approx(0.0).margin(1e-9));
  CHECK(clock.true_frequency_error_ppm() == Approx(0.0).margin(1e-9));
  CHECK(clock.count(Kind::Slew) == 3);
}

TEST_CASE("FakeClock slew rate follows the correction time") {
  FakeClock clock(FakeClockConfig{.initial_offset_s = 0.001});
  clock.slew_offset(Duration::from_ms(1), Duration::seconds(100), 83333.0);
  CHECK(clock.true_frequency_error_ppm() == Approx(-10.0));  // 1 ms / 100 s
  clock.advance(Duration::seconds(100));
  CHECK(clock.true_offset_s() == Approx(0.0).margin(1e-12));
}

TEST_CASE("FakeClock wander is a seeded random walk of the frequency") {
  auto run = [](std::uint64_t seed) {
    FakeClock c(FakeClockConfig{.freq_error_ppm = 100.0, .wander_ppm = 1e-3, .seed = seed});
    c.advance_to(10000.0);
    return std::pair{c.uncorrected_frequency_ppm(), c.true_offset_s()};
  };
  auto a = run(1);
  CHECK(a == run(1));
  CHECK(a != run(2));
  // After 10000 steps of 1 ppb the walk has a spread of 0.1 ppm.
  double sum2 = 0;
  const int seeds = 40;
  for (int s = 1; s <= seeds; ++s) {
    const double d = run(static_cast<std::uint64_t>(s)).first - 100.0;
    sum2 += d * d;
  }
  CHECK(std::sqrt(sum2 / seeds) == Approx(0.1).epsilon(0.35));
}

TEST_CASE("FakeClock logs leap and only changes of sync status") {
  FakeClock clock(FakeClockConfig{});
  clock.set_leap(Leap::Insert);
  CHECK(clock.leap() == Leap::Insert);
  clock.set_sync_status(true, 1e-5, 1e-3);
  clock.set_sync_status(true, 1e-5, 1e-3);
  clock.set_sync_status(false, 1, 16);
  CHECK(clock.count(Kind::Leap) == 1);
  CHECK(clock.count(Kind::SyncStatus) == 2);
}

TEST_CASE("SimNetwork delivers in time order with base delay plus jitter") {
  SimNetwork net;
  net.add_link(1, 2, LinkConfig::symmetric(100e-6, 100e-6, 9));
  std::vector<std::uint8_t> payload{1, 2, 3};
  double sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) REQUIRE(net.send(1.0, 1, 2, payload));
  double last = 0;
  for (int i = 0; i < n; ++i) {
    auto next = net.next_delivery_s();
    REQUIRE(next);
    auto d = net.pop_due(*next);
    REQUIRE(d);
    CHECK(d->deliver_s >= last);
    last = d->deliver_s;
    const double delay = d->deliver_s - d->sent_s;
    REQUIRE(delay >= 100e-6);
    sum += delay;
    REQUIRE(d->bytes == payload);
    REQUIRE(d->from == 1);
    REQUIRE(d->to == 2);
  }
  CHECK(sum / n == Approx(200e-6).epsilon(0.02));
  CHECK_FALSE(net.next_delivery_s());
  CHECK(net.counters().delivered == static_cast<std::uint64_t>(n));
}

TEST_CASE("SimNetwork: nothing is delivered early, and ties keep send order") {
  SimNetwork net;
  net.add_link(1, 2, LinkConfig::symmetric(1e-3, 0.0));
  REQUIRE(net.send(0.0, 1, 2, std::vector<std::uint8_t>{1}));
  REQUIRE(net.send(0.0, 2, 1, std::vector<std::uint8_t>{2}));
  CHECK_FALSE(net.pop_due(0.0005));
  auto a = net.pop_due(0.001);
  auto b = net.pop_due(0.001);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->bytes[0] == 1);
  CHECK(b->bytes[0] == 2);
}

TEST_CASE("SimNetwork asymmetry, per direction, whichever way the link was added") {
  SimNetwork net;
  net.add_link(5, 3, LinkConfig::symmetric(1e-3, 0.0).with_asymmetry(400e-6));
  REQUIRE(net.send(0.0, 5, 3, std::vector<std::uint8_t>{0}));
  REQUIRE(net.send(0.0, 3, 5, std::vector<std::uint8_t>{0}));
  auto first = net.pop_due(1.0);
  auto second = net.pop_due(1.0);
  REQUIRE(first);
  REQUIRE(second);
  CHECK(first->from == 3);
  CHECK(first->deliver_s == Approx(0.8e-3));
  CHECK(second->from == 5);
  CHECK(second->deliver_s == Approx(1.2e-3));
}

TEST_CASE("SimNetwork loss, outages and missing links") {
  SimNetwork net;
  LinkConfig lossy = LinkConfig::symmetric(1e-4, 0.0, 3);
  lossy.loss = 0.25;
  net.add_link(1, 2, lossy);
  int ok = 0;
  for (int i = 0; i < 10000; ++i) ok += net.send(0.0, 1, 2, std::vector<std::uint8_t>{0}) ? 1 : 0;
  CHECK(ok == Approx(7500).margin(200));
  CHECK(net.counters().lost == static_cast<std::uint64_t>(10000 - ok));

  CHECK_FALSE(net.send(0.0, 1, 7, std::vector<std::uint8_t>{0}));

  LinkSchedule daily{.period_s = 86400.0, .up_s = 1800.0};
  CHECK(daily.is_up(0.0));
  CHECK(daily.is_up(1799.0));
  CHECK_FALSE(daily.is_up(1800.0));
  CHECK_FALSE(daily.is_up(86399.0));
  CHECK(daily.is_up(86400.0 + 10.0));
  LinkSchedule gap{.down = {{100.0, 200.0}}};
  CHECK(gap.is_up(99.9));
  CHECK_FALSE(gap.is_up(150.0));
  CHECK(gap.is_up(200.0));

  LinkConfig* cfg = net.link_config(2, 1);
  REQUIRE(cfg);
  cfg->loss = 0.0;
  cfg->schedule = gap;
  CHECK_FALSE(net.send(150.0, 2, 1, std::vector<std::uint8_t>{0}));
  CHECK(net.send(250.0, 2, 1, std::vector<std::uint8_t>{0}));
}

TEST_CASE("SimServer answers a client request with its own clock, through build_reply") {
  SimServerConfig cfg;
  cfg.offset_s = 1.0;  // a falseticker, one second ahead
  cfg.stratum = 2;
  cfg.refid = 0x0A000001;
  const auto addr = *SocketAddress::parse("192.168.123.1", 123);
  SimServer server(cfg, addr);

  NtpHeader req;
  req.version = 4;
  req.mode = NtpMode::Client;
  req.transmit_ts = NtpTimestamp{0x12345678u, 0x9abcdef0u};
  std::array<std::uint8_t, kNtpHeaderLen> bytes{};
  encode_header(req, bytes);

  const auto client = *SocketAddress::parse("192.168.123.2:40000", 123);
  auto reply = server.handle(100.0, client, bytes);
  REQUIRE(reply);
  CHECK(reply->send_s == Approx(100.0 + cfg.processing_s));
  REQUIRE(reply->bytes.size() == kNtpHeaderLen);
  ParsedPacket p;
  REQUIRE(parse_packet(reply->bytes, p) == ParseError::None);
  CHECK(p.header.mode == NtpMode::Server);
  CHECK(p.header.stratum == 2);
  CHECK(p.header.reference_id == 0x0A000001u);
  CHECK(p.header.origin_ts == req.transmit_ts);
  const TimePoint expect_rx = kSimEpoch + Duration::seconds(101);
  CHECK(std::fabs((p.header.receive_ts.to_time(expect_rx) - expect_rx).to_seconds()) < 1e-6);
  const TimePoint tx = p.header.transmit_ts.to_time(expect_rx);
  CHECK((tx - expect_rx).to_seconds() == Approx(cfg.processing_s).margin(1e-6));
  CHECK(server.counters().answered == 1);

  // A server packet is not a request: dropped.
  req.mode = NtpMode::Server;
  encode_header(req, bytes);
  CHECK_FALSE(server.handle(101.0, client, bytes));
  CHECK(server.counters().dropped == 1);
}

TEST_CASE("SimServer unsynchronised answers with LI 3 and stratum 0") {
  SimServerConfig cfg;
  cfg.synchronised = false;
  SimServer server(cfg, *SocketAddress::parse("10.0.0.1", 123));
  NtpHeader req;
  req.mode = NtpMode::Client;
  req.transmit_ts = NtpTimestamp{1, 2};
  std::array<std::uint8_t, kNtpHeaderLen> bytes{};
  encode_header(req, bytes);
  auto reply = server.handle(0.0, *SocketAddress::parse("10.0.0.2:1000", 123), bytes);
  REQUIRE(reply);
  const NtpHeader h = decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(reply->bytes.data(), kNtpHeaderLen));
  CHECK(h.leap == Leap::Unsynchronised);
  CHECK(h.stratum == 0);
}

TEST_CASE("sync time is one second after the last bad sample") {
  std::vector<ClockSample> s;
  for (int t = 0; t < 10; ++t) s.push_back(ClockSample{double(t), t < 4 ? 0.01 : 1e-4, 10.0});
  s[6].freq_ppm = 600.0;  // a slew at more than 500 ppm is not synchronised
  REQUIRE(sync_time_s(s));
  CHECK(*sync_time_s(s) == 7.0);
  CHECK(*sync_time_s(s, SyncCriterion{1e-3, 1000.0}) == 4.0);
  CHECK(*sync_time_s(s, SyncCriterion{1.0, 1000.0}) == 0.0);
  s.back().offset_s = -0.002;
  CHECK_FALSE(sync_time_s(s));
  CHECK_FALSE(sync_time_s(std::vector<ClockSample>{}));
}

TEST_CASE("error stats start at the stats start time") {
  std::vector<ClockSample> s{{0, 1.0, 1000.0}, {1, 3e-6, -4.0}, {2, -4e-6, 3.0}};
  const ErrorStats e = error_stats(s, 1.0);
  CHECK(e.samples == 2);
  CHECK(e.max_offset_s == Approx(4e-6));
  CHECK(e.rms_offset_s == Approx(std::sqrt((9e-12 + 16e-12) / 2)));
  CHECK(e.max_freq_ppm == Approx(4.0));
  CHECK(e.rms_freq_ppm == Approx(std::sqrt(12.5)));
  CHECK(error_stats(s, 5.0).samples == 0);
}

TEST_CASE("first hold time needs the criterion to hold for the whole hold time") {
  std::vector<ClockSample> s;
  for (int t = 0; t < 100; ++t) s.push_back(ClockSample{double(t), 1e-5, 1.0});
  s[0].offset_s = 1.0;
  s[20].offset_s = 1.0;  // breaks the first run at 1..19
  s[90].offset_s = 1.0;  // after the second run has held 60 s
  const SyncCriterion c{1e-4, 10.0};
  REQUIRE(first_hold_time_s(s, c, 10.0));
  CHECK(*first_hold_time_s(s, c, 10.0) == 1.0);
  CHECK(*first_hold_time_s(s, c, 60.0) == 21.0);
  CHECK_FALSE(first_hold_time_s(s, c, 80.0));
}
