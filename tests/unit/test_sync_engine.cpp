// SyncEngine end to end with a FakeClock and simulated servers: sync, steps,
// falsetickers, LOCL fallback and return, reload, DNS, -x and the panic guard.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <deque>
#include <optional>
#include <utility>
#include <string>
#include <vector>

#include "lib/noop_clock.hpp"
#include "lib/sim/fake_clock.hpp"
#include "lib/packet.hpp"
#include "lib/sync_engine.hpp"

using namespace gnomon;

namespace {

class TestRng final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) {
      state_ ^= state_ << 13;
      state_ ^= state_ >> 7;
      state_ ^= state_ << 17;
      b = static_cast<std::uint8_t>(state_);
    }
  }

 private:
  std::uint64_t state_ = 0x9E3779B97F4A7C15ULL;
};

SocketAddress addr(const char* ip, std::uint16_t port = 123) {
  return SocketAddress{*IpAddress::parse(ip), port};
}

// A minimal NTP server on true time plus a fixed offset (a falseticker is one
// with a large offset), answering with packet.hpp's codec.
struct UpstreamConfig {
  int stratum = 1;
  double offset_s = 0.0;
  double root_delay_s = 0.0;
  double root_dispersion_s = 10e-6;
  Leap leap = Leap::None;
};

class TestServer {
 public:
  TestServer(const UpstreamConfig& c, SocketAddress a) : config_(c), address_(a) {}
  const SocketAddress& address() const { return address_; }
  TimePoint clock_at(double t_s) const {
    return sim::kSimEpoch + Duration::from_seconds(t_s + config_.offset_s);
  }
  // Request delivered at true time t_s; the reply leaves 5 us later.
  std::optional<std::pair<double, std::vector<std::uint8_t>>> handle(
      double t_s, std::span<const std::uint8_t> request) const {
    if (request.size() < kNtpHeaderLen) return std::nullopt;
    const NtpHeader req = decode_header(request.first<kNtpHeaderLen>());
    if (req.mode != NtpMode::Client) return std::nullopt;
    NtpHeader h;
    h.leap = config_.leap;
    h.version = req.version;
    h.mode = NtpMode::Server;
    h.stratum = static_cast<std::uint8_t>(config_.stratum);
    h.poll = req.poll;
    h.precision = -23;
    h.root_delay = NtpShort::from_seconds(config_.root_delay_s);
    h.root_dispersion = NtpShort::from_seconds(config_.root_dispersion_s);
    h.reference_id = 0x47505300u;
    h.reference_ts = NtpTimestamp::from_time(clock_at(t_s) - Duration::seconds(8));
    h.origin_ts = req.transmit_ts;
    h.receive_ts = NtpTimestamp::from_time(clock_at(t_s));
    const double send_s = t_s + 5e-6;
    h.transmit_ts = NtpTimestamp::from_time(clock_at(send_s));
    std::vector<std::uint8_t> out(kNtpHeaderLen);
    encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(out.data(), kNtpHeaderLen));
    return std::make_pair(send_s, std::move(out));
  }

 private:
  UpstreamConfig config_;
  SocketAddress address_;
};

SourceConfig server_config(const std::string& address, bool iburst = true) {
  SourceConfig c;
  c.address = address;
  c.iburst = iburst;
  c.minpoll = 4;
  c.maxpoll = 6;
  return c;
}

// Drives a SyncEngine over a FakeClock, with servers reached over a network
// of fixed delay that can be switched off.
struct Harness {
  sim::FakeClock fake;
  ClockControl* clock;
  SyncEngine engine;
  std::vector<TestServer> servers;
  struct InFlight {
    double arrive_s;
    SourceId id;
    std::vector<std::uint8_t> bytes;
    TimePoint tx;
  };
  std::deque<InFlight> flight;
  TestRng rng;
  double delay_s = 200e-6;
  bool network_up = true;
  std::vector<SocketAddress> dead;  // servers that do not answer
  SocketAddress client = addr("127.0.0.99", 40000);
  std::vector<LogEvent> events;
  std::vector<ClockEvent> clock_events;
  std::vector<ResolveRequest> resolves;
  bool panic = false;

  Harness(const sim::FakeClockConfig& fc, const EngineOptions& eo, ClockControl* control = nullptr)
      : fake(fc), clock(control ? control : &fake), engine(*clock, eo) {}

  void add_server(const char* ip, const UpstreamConfig& sc) {
    servers.emplace_back(sc, addr(ip));
  }

  TestServer* server_at(const SocketAddress& a) {
    for (auto& s : servers)
      if (s.address() == a) return &s;
    return nullptr;
  }

  void take(Actions a) {
    const double t = fake.true_time_s();
    for (auto& e : a.events) events.push_back(e);
    for (auto& c : a.clock) clock_events.push_back(c);
    for (auto& r : a.resolves) resolves.push_back(r);
    if (a.panic) panic = true;
    for (const SendRequest& s : a.sends) {
      TestServer* srv = server_at(s.request.to);
      if (!srv || !network_up) continue;
      if (std::find(dead.begin(), dead.end(), s.request.to) != dead.end()) continue;
      auto rep = srv->handle(t + delay_s, s.request.data());
      if (!rep) continue;
      flight.push_back({rep->first + delay_s, s.source, rep->second, clock->now()});
    }
    std::sort(flight.begin(), flight.end(),
              [](const InFlight& x, const InFlight& y) { return x.arrive_s < y.arrive_s; });
  }

  void start() { take(engine.start(clock->now())); }

  void run_until(double end_s) {
    for (int guard = 0; guard < 10000000; ++guard) {
      const double t = fake.true_time_s();
      if (t >= end_s) return;
      double next = end_s;
      if (!flight.empty()) next = std::min(next, flight.front().arrive_s);
      if (auto w = engine.next_wakeup()) {
        const double until = std::max(0.0, (*w - clock->now()).to_seconds());
        next = std::min(next, t + until + 1e-6);
      }
      fake.advance_to(std::max(next, t));
      if (!flight.empty() && flight.front().arrive_s <= fake.true_time_s()) {
        InFlight f = flight.front();
        flight.pop_front();
        ReplyContext ctx;
        ctx.rx_time = clock->now();
        ctx.tx_time = f.tx;
        ctx.from = engine.source(f.id) ? engine.source(f.id)->remote() : SocketAddress{};
        ctx.local_refid = 0x7F000063;
        take(engine.handle_reply(clock->now(), f.id, f.bytes, ctx));
        continue;
      }
      if (auto w = engine.next_wakeup(); w && *w <= clock->now())
        take(engine.handle_timer(clock->now(), rng));
    }
    FAIL("event loop did not finish");
  }

  bool logged(const std::string& text) const {
    return std::any_of(events.begin(), events.end(),
                       [&](const LogEvent& e) { return e.text == text; });
  }
  bool logged_prefix(const std::string& prefix) const {
    return std::any_of(events.begin(), events.end(),
                       [&](const LogEvent& e) { return e.text.rfind(prefix, 0) == 0; });
  }
  const SourceRow* row(const std::string& name) {
    rows_ = engine.sources(clock->now());
    for (const auto& r : rows_)
      if (r.name == name) return &r;
    return nullptr;
  }
  std::vector<SourceRow> rows_;
};

sim::FakeClockConfig clock_cfg(double offset_s, double freq_ppm) {
  sim::FakeClockConfig c;
  c.initial_offset_s = offset_s;
  c.freq_error_ppm = freq_ppm;
  c.seed = 7;
  return c;
}

}  // namespace

TEST_CASE("syncs to one server: selection, stratum, refid and accuracy", "[engine]") {
  Harness h(clock_cfg(0.05, 20.0), EngineOptions{});
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  h.start();
  h.run_until(30.0);
  REQUIRE(h.engine.selected_source());
  CHECK(h.logged("Selected source 127.0.0.1"));
  CHECK(h.engine.synchronised());
  const ServedState s = h.engine.served_state(h.clock->now());
  CHECK(s.stratum == 2);
  CHECK(s.refid == 0x7F000001u);
  CHECK(s.leap == Leap::None);
  const TrackingReport t = h.engine.tracking(h.clock->now());
  CHECK(t.stratum == 2);
  CHECK(t.ref_id == 0x7F000001u);
  const SourceRow* r = h.row("127.0.0.1");
  REQUIRE(r != nullptr);
  CHECK(r->state == '*');
  CHECK(r->stratum == 1);
  CHECK(r->reach != 0);

  h.run_until(1200.0);
  CHECK(std::fabs(h.fake.true_offset_s()) < 200e-6);
  CHECK(std::fabs(h.fake.residual_frequency_ppm()) < 1.0);
  CHECK(h.fake.count(sim::ClockAdjustment::Kind::Step) == 0);
  const auto stats = h.engine.sourcestats(h.clock->now());
  REQUIRE(stats.size() == 1);
  CHECK(stats[0].stats.samples >= 3);
}

TEST_CASE("makestep steps a large offset and the holders are told", "[engine]") {
  EngineOptions o;
  o.reference.makestep = MakeStepConfig{1.0, 3};
  Harness h(clock_cfg(100.0, 0.0), o);
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  h.start();
  h.run_until(30.0);
  CHECK(h.fake.count(sim::ClockAdjustment::Kind::Step) == 1);
  CHECK(h.logged_prefix("System clock was stepped by -100.0"));
  REQUIRE_FALSE(h.clock_events.empty());
  const auto step = std::find_if(h.clock_events.begin(), h.clock_events.end(),
                                 [](const ClockEvent& e) { return e.stepped != Duration{}; });
  REQUIRE(step != h.clock_events.end());
  CHECK(step->stepped.to_seconds() == Approx(100.0).margin(0.01));
  CHECK(std::fabs(h.fake.true_offset_s()) < 0.01);
  h.run_until(600.0);
  CHECK(std::fabs(h.fake.true_offset_s()) < 0.001);
}

TEST_CASE("one falseticker of three is marked x and never followed", "[engine]") {
  Harness h(clock_cfg(0.0, 0.0), EngineOptions{});
  UpstreamConfig bad;
  bad.offset_s = 0.5;
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.add_server("127.0.0.2", UpstreamConfig{});
  h.add_server("127.0.0.3", bad);
  for (const char* ip : {"127.0.0.1", "127.0.0.2", "127.0.0.3"})
    h.engine.add_entry(server_config(ip), h.clock->now());
  h.start();
  h.run_until(300.0);
  const SourceRow* r3 = h.row("127.0.0.3");
  REQUIRE(r3 != nullptr);
  CHECK(r3->state == 'x');
  CHECK(h.logged("Detected falseticker 127.0.0.3"));
  const auto sel = h.engine.selected_source();
  REQUIRE(sel);
  CHECK(h.engine.source(*sel)->remote() != addr("127.0.0.3"));
  CHECK(std::fabs(h.fake.true_offset_s()) < 0.001);
  const auto sd = h.engine.selectdata(h.clock->now());
  REQUIRE(sd.size() == 3);
  CHECK(sd[2].state_letter == 'x');
}

TEST_CASE("LOCL serves while no upstream is usable, and the upstream takes over", "[engine]") {
  EngineOptions o;
  o.reference.local.stratum = 10;
  // Our served root dispersion grows 1 ms/s, so that the local reference's
  // distance (1 s) is crossed about 1000 s after the last update.
  o.reference.max_clock_error_ppm = 1000.0;
  Harness h(clock_cfg(0.0, 0.0), o);
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.network_up = false;
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  SourceConfig locl;
  locl.address = "127.127.1.0";
  h.engine.add_entry(locl, h.clock->now());
  h.start();
  h.run_until(60.0);
  ServedState s = h.engine.served_state(h.clock->now());
  CHECK(s.stratum == 10);
  CHECK(s.refid == kLocalRefid);
  CHECK(s.leap == Leap::None);
  const SourceRow* l = h.row("LOCL");
  REQUIRE(l != nullptr);
  CHECK(l->mode == SourceRowMode::Local);
  CHECK(l->state == '*');
  CHECK(l->refid == kLoclRefid);
  CHECK(h.engine.tracking(h.clock->now()).ref_id == kLocalRefid);

  // Polling has backed off to maxpoll (64 s) meanwhile: 3 samples take a while.
  h.network_up = true;
  h.run_until(450.0);
  s = h.engine.served_state(h.clock->now());
  CHECK(s.stratum == 2);
  CHECK(s.refid == 0x7F000001u);
  CHECK(h.row("LOCL")->state == '-');
  CHECK(h.row("127.0.0.1")->state == '*');

  // All upstreams lost: after the reach register empties, LOCL is selected,
  // but (as chronyd) we stay synchronised and serve the old reference until
  // our root distance is over the local distance.
  h.network_up = false;
  h.run_until(450.0 + 9 * 64.0 + 30.0);
  s = h.engine.served_state(h.clock->now());
  CHECK(s.stratum == 2);
  CHECK(h.row("LOCL")->state == '*');
  CHECK(h.logged("Can't synchronise: no selectable sources (1 unreachable sources)"));
  h.run_until(450.0 + 1100.0);
  s = h.engine.served_state(h.clock->now());
  CHECK(s.stratum == 10);
  CHECK(s.refid == kLocalRefid);

  // And back.
  h.network_up = true;
  h.run_until(450.0 + 1100.0 + 450.0);
  CHECK(h.engine.served_state(h.clock->now()).stratum == 2);
}

TEST_CASE("chronyc local and local off change the local reference at run time", "[engine]") {
  Harness h(clock_cfg(0.0, 0.0), EngineOptions{});
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.network_up = false;
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  h.start();
  h.run_until(10.0);
  CHECK_FALSE(h.engine.served_state(h.clock->now()).synchronised());
  LocalConfig l;
  l.enabled = true;
  l.stratum = 7;
  l.wait_unsynced_s = 20.0;
  static_cast<void>(h.engine.set_local(l, h.clock->now()));
  CHECK_FALSE(h.engine.served_state(h.clock->now()).synchronised());  // waiting 20 s
  h.run_until(40.0);
  ServedState s = h.engine.served_state(h.clock->now());
  CHECK(s.stratum == 7);
  CHECK(s.refid == kLocalRefid);
  static_cast<void>(h.engine.set_local(LocalConfig{}, h.clock->now()));
  CHECK_FALSE(h.engine.served_state(h.clock->now()).synchronised());
}

TEST_CASE("reload keeps unchanged sources and their statistics", "[engine]") {
  Harness h(clock_cfg(0.0, 0.0), EngineOptions{});
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.add_server("127.0.0.2", UpstreamConfig{});
  h.add_server("127.0.0.3", UpstreamConfig{});
  const SourceConfig a = server_config("127.0.0.1");
  const SourceConfig b = server_config("127.0.0.2");
  const EntryId ea = h.engine.add_entry(a, h.clock->now());
  const EntryId eb = h.engine.add_entry(b, h.clock->now());
  h.start();
  h.run_until(100.0);
  const auto before = h.engine.sources(h.clock->now());
  REQUIRE(before.size() == 2);
  const SourceId id_a = before[0].id;
  const int samples_a = h.engine.source(id_a)->stats().samples();
  REQUIRE(samples_a >= 3);

  SourceConfig a2 = a;
  a2.origin = "other.conf:3";  // where it is written does not matter
  const ReloadResult rr = h.engine.reload({a2, server_config("127.0.0.3")}, h.clock->now());
  CHECK(rr.kept == std::vector<EntryId>{ea});
  CHECK(rr.removed == std::vector<EntryId>{eb});
  REQUIRE(rr.added.size() == 1);
  const auto after = h.engine.sources(h.clock->now());
  REQUIRE(after.size() == 2);
  CHECK(after[0].id == id_a);
  CHECK(h.engine.source(id_a)->stats().samples() == samples_a);
  CHECK(after[1].name == "127.0.0.3");
  CHECK(after[1].id != before[1].id);
  h.run_until(200.0);
  CHECK(h.engine.source(after[1].id)->stats().samples() >= 3);
}

TEST_CASE("names are resolved with retry and back-off", "[engine]") {
  Harness h(clock_cfg(0.0, 0.0), EngineOptions{});
  h.add_server("127.0.0.1", UpstreamConfig{});
  const EntryId e = h.engine.add_entry(server_config("ntp.example.org"), h.clock->now());
  h.start();
  REQUIRE(h.resolves.size() == 1);
  CHECK(h.resolves[0].entry == e);
  CHECK(h.resolves[0].name == "ntp.example.org");
  const SourceRow* r = h.row("ntp.example.org");
  REQUIRE(r != nullptr);
  CHECK_FALSE(r->address);
  CHECK(r->state == '?');
  CHECK(h.engine.activity().unresolved == 1);

  // The name does not resolve: retried after 8 s, then 16 s.
  h.take(h.engine.on_resolved(e, {}, h.clock->now()));
  h.run_until(7.0);
  CHECK(h.resolves.size() == 1);
  h.run_until(9.0);
  CHECK(h.resolves.size() == 2);
  h.run_until(24.0);
  CHECK(h.resolves.size() == 2);
  h.run_until(26.0);
  CHECK(h.resolves.size() == 3);

  h.take(h.engine.on_resolved(e, {*IpAddress::parse("127.0.0.1")}, h.clock->now()));
  CHECK(h.engine.activity().unresolved == 0);
  h.run_until(120.0);
  CHECK(h.engine.selected_source());
  r = h.row("ntp.example.org");
  REQUIRE(r != nullptr);
  REQUIRE(r->address);
  CHECK(*r->address == addr("127.0.0.1"));
  CHECK(h.resolves.size() == 3);  // no more queries once resolved
}

TEST_CASE("no-control mode (-x): the loop runs on a virtual clock, the real one is untouched", "[engine]") {
  sim::FakeClock real(clock_cfg(0.05, 30.0));
  NoControlClock noop([&] { return real.now(); });
  EngineOptions o;
  o.reference.makestep = MakeStepConfig{0.01, 3};
  Harness h(clock_cfg(0.0, 0.0), o, &noop);
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.engine.add_entry(server_config("127.0.0.1"), noop.now());
  h.start();
  // The harness advances its own FakeClock; keep the real one in step.
  for (double t = 10.0; t <= 600.0; t += 10.0) {
    h.run_until(t);
    real.advance_to(t);
  }
  CHECK(real.adjustments().empty());
  CHECK(noop.intent().steps == 1);
  CHECK(noop.intent().frequency_sets > 0);
  const TrackingReport t = h.engine.tracking(noop.now());
  CHECK(t.synchronised);
  CHECK(t.freq_ppm == Approx(30.0).margin(2.0));
  // The virtual clock is on time.
  CHECK(std::fabs((noop.now() - real.true_now()).to_seconds()) < 0.001);
}

TEST_CASE("maxchange asks the daemon to exit", "[engine]") {
  EngineOptions o;
  o.reference.makestep.reset();
  o.reference.maxchange = MaxChangeConfig{0.5, 0, 0};
  Harness h(clock_cfg(2.0, 0.0), o);
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  h.start();
  h.run_until(30.0);
  CHECK(h.panic);
  CHECK(h.logged_prefix("Adjustment of -2.0"));
  CHECK(h.fake.count(sim::ClockAdjustment::Kind::Slew) == 0);
}

TEST_CASE("options from the config", "[engine]") {
  Config c;
  c.clock.makestep = MakeStepConfig{0.5, -1};
  c.clock.maxslewrate_ppm = 500.0;
  c.local.orphan = true;
  c.local.stratum = 8;
  SourceConfig l;
  l.address = "127.127.1.0";
  c.sources.push_back(l);
  const EngineOptions o = EngineOptions::from_config(c);
  CHECK(o.reference.makestep == MakeStepConfig{0.5, -1});
  CHECK(o.reference.maxslewrate_ppm == 500.0);
  CHECK(o.reference.local.enabled);
  CHECK(o.selection.orphan_stratum == 8);
  // gnomon's algorithms by default (see lib/source_stats.hpp for why).
  CHECK(o.stats.estimator == StatsEstimator::Kalman);
  CHECK(o.poll_rule == PollRule::KalmanEffectiveSamples);
  CHECK(o.iburst_ramp);
  CHECK(o.reference.fine_slew_rate_ppm > 0.0);
  EngineOptions chrony = o;
  chrony.use_chrony_algorithms();
  CHECK(chrony.stats.estimator == StatsEstimator::Regression);
  CHECK(chrony.poll_rule == PollRule::ChronySamples);
  CHECK_FALSE(chrony.iburst_ramp);
  CHECK(chrony.reference.fine_slew_rate_ppm == 0.0);
  CHECK(chrony.reference.makestep == MakeStepConfig{0.5, -1});  // the config is kept
}

TEST_CASE("initstepslew steps once from its own servers, then the configured ones take over", "[engine]") {
  EngineOptions o;
  o.reference.makestep.reset();
  o.initstepslew = InitStepSlewConfig{0.5, {"127.0.0.2"}};
  Harness h(clock_cfg(2.0, 0.0), o);
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.add_server("127.0.0.2", UpstreamConfig{});
  h.engine.add_entry(server_config("127.0.0.1", false), h.clock->now());
  h.start();
  h.run_until(30.0);
  CHECK(h.fake.count(sim::ClockAdjustment::Kind::Step) == 1);
  CHECK(h.logged_prefix("System's initial offset : 2.0"));
  CHECK(std::fabs(h.fake.true_offset_s()) < 0.01);
  h.run_until(600.0);
  CHECK(h.logged("Selected source 127.0.0.1"));
  CHECK(h.row("127.0.0.2") == nullptr);
  CHECK(h.fake.count(sim::ClockAdjustment::Kind::Step) == 1);
}

TEST_CASE("initstepslew below its threshold slews, and gives up without an answer", "[engine]") {
  SECTION("slew") {
    EngineOptions o;
    o.reference.makestep.reset();
    o.initstepslew = InitStepSlewConfig{1.0, {"127.0.0.2"}};
    Harness h(clock_cfg(0.2, 0.0), o);
    h.add_server("127.0.0.2", UpstreamConfig{});
    h.start();
    h.run_until(60.0);
    CHECK(h.fake.count(sim::ClockAdjustment::Kind::Step) == 0);
    CHECK(h.logged_prefix("System's initial offset : 0.2"));
    CHECK(std::fabs(h.fake.true_offset_s()) < 0.01);
  }
  SECTION("the one correction is all: no source is left to steer the frequency") {
    EngineOptions o;
    o.reference.makestep.reset();
    o.initstepslew = InitStepSlewConfig{1.0, {"127.0.0.2"}};
    Harness h(clock_cfg(100.0, 0.0), o);
    h.add_server("127.0.0.2", UpstreamConfig{});
    h.start();
    h.run_until(300.0);
    CHECK(h.fake.count(sim::ClockAdjustment::Kind::Step) == 1);
    CHECK(h.fake.count(sim::ClockAdjustment::Kind::Frequency) == 0);
    CHECK(h.engine.sources(h.clock->now()).empty());
  }
  SECTION("no answer") {
    EngineOptions o;
    o.initstepslew = InitStepSlewConfig{1.0, {"127.0.0.2"}};
    Harness h(clock_cfg(0.2, 0.0), o);
    h.add_server("127.0.0.1", UpstreamConfig{});
    h.add_server("127.0.0.2", UpstreamConfig{});
    h.dead.push_back(addr("127.0.0.2"));
    h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
    h.start();
    h.run_until(120.0);
    CHECK(h.logged("No suitable source for initstepslew"));
    CHECK_FALSE(h.logged_prefix("System's initial offset"));
    h.run_until(400.0);
    CHECK(h.logged("Selected source 127.0.0.1"));
  }
}

TEST_CASE("update once (-q): the first update steps the clock, then quit", "[engine]") {
  SECTION("a source answers") {
    EngineOptions o;
    o.update_once = true;
    Harness h(clock_cfg(0.3, 0.0), o);
    h.add_server("127.0.0.1", UpstreamConfig{});
    h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
    h.start();
    h.run_until(60.0);
    CHECK(h.logged_prefix("System clock wrong by -0.3"));
    CHECK(h.fake.count(sim::ClockAdjustment::Kind::Step) == 1);
    CHECK(std::fabs(h.fake.true_offset_s()) < 0.001);
  }
  SECTION("Actions::quit carries the exit status") {
    EngineOptions o;
    o.update_once = true;
    Harness h(clock_cfg(0.3, 0.0), o);
    h.add_server("127.0.0.1", UpstreamConfig{});
    h.dead.push_back(addr("127.0.0.1"));
    h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
    h.take(h.engine.start(h.clock->now()));
    std::optional<int> quit;
    for (int guard = 0; guard < 1000 && !quit; ++guard) {
      const auto w = h.engine.next_wakeup();
      REQUIRE(w);
      h.fake.advance_to(h.fake.true_time_s() + std::max(0.0, (*w - h.clock->now()).to_seconds()) + 1e-6);
      Actions a = h.engine.handle_timer(h.clock->now(), h.rng);
      quit = a.quit;
      h.take(std::move(a));
    }
    REQUIRE(quit);
    CHECK(*quit == 1);
    CHECK(h.logged("No suitable source for synchronisation"));
    CHECK(h.fake.count(sim::ClockAdjustment::Kind::Step) == 0);
  }
}

TEST_CASE("a source configured offline sends once a command puts it online", "[engine]") {
  Harness h(clock_cfg(0.01, 0.0), EngineOptions{});
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.add_server("127.0.0.2", UpstreamConfig{});
  SourceConfig off = server_config("127.0.0.1");
  off.offline = true;
  h.engine.add_entry(off, h.clock->now());
  h.engine.add_entry(server_config("127.0.0.2", false), h.clock->now());
  h.start();
  h.run_until(300.0);
  const SourceRow* r = h.row("127.0.0.1");
  REQUIRE(r != nullptr);
  CHECK(r->reach == 0);
  CHECK(h.engine.set_online(h.clock->now(), true, *IpAddress::parse("127.0.0.1")) == 1);
  h.run_until(400.0);
  r = h.row("127.0.0.1");
  REQUIRE(r != nullptr);
  CHECK(r->reach != 0);
  const ActivityReport act = h.engine.activity();
  CHECK(act.online == 2);
  CHECK(act.burst_online == 0);
}

TEST_CASE("minsources holds selection until enough sources agree", "[engine]") {
  EngineOptions o;
  o.selection.min_sources = 2;
  Harness h(clock_cfg(0.01, 0.0), o);
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.add_server("127.0.0.2", UpstreamConfig{});
  h.dead.push_back(addr("127.0.0.2"));
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  h.engine.add_entry(server_config("127.0.0.2"), h.clock->now());
  h.start();
  h.run_until(300.0);
  CHECK_FALSE(h.engine.selected_source());
  h.dead.clear();
  h.run_until(900.0);
  CHECK(h.engine.selected_source());
}

TEST_CASE("authselectmode require: an unauthenticated source is never selected", "[engine]") {
  EngineOptions o;
  o.auth_select = AuthSelectMode::Require;
  Harness h(clock_cfg(0.01, 0.0), o);
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  h.start();
  h.run_until(300.0);
  CHECK_FALSE(h.engine.selected_source());
  const SourceRow* r = h.row("127.0.0.1");
  REQUIRE(r != nullptr);
  CHECK(r->reach != 0);
}

TEST_CASE("trust: two falsetickers that overlap the trusted source do not move it", "[engine]") {
  // 0.6 s each way: every interval is +-0.6 s wide, so the falsetickers at
  // +1 s and +2 s overlap each other and the first overlaps the true one.
  Harness h(clock_cfg(0.1, 100.0), EngineOptions{});
  h.delay_s = 0.6;
  UpstreamConfig f1;
  f1.offset_s = 1.0;
  UpstreamConfig f2;
  f2.offset_s = 2.0;
  h.add_server("127.0.0.1", f1);
  h.add_server("127.0.0.2", f2);
  h.add_server("127.0.0.3", UpstreamConfig{});
  for (const char* a : {"127.0.0.1", "127.0.0.2", "127.0.0.3"}) {
    SourceConfig c = server_config(a, false);
    c.minpoll = 6;
    c.maxpoll = 10;
    c.trust = std::string(a) == "127.0.0.3";
    h.engine.add_entry(c, h.clock->now());
  }
  h.start();
  h.run_until(250.0);
  CHECK(h.logged("Selected source 127.0.0.3"));
  CHECK(h.logged("Detected falseticker 127.0.0.2"));
  // A long path with little jitter converges as fast as a short one: the
  // frequency is known after three samples.
  CHECK(std::fabs(h.fake.true_offset_s()) < 1e-3);
  CHECK(std::fabs(h.fake.residual_frequency_ppm()) < 1.0);
  h.run_until(2000.0);
  CHECK(std::fabs(h.fake.true_offset_s()) < 1e-4);
  CHECK_FALSE(h.logged("Selected source 127.0.0.1"));
}

TEST_CASE("a pool expands to max-sources servers and replaces an unreachable one", "[engine]") {
  Harness h(clock_cfg(0.0, 0.0), EngineOptions{});
  for (const char* ip : {"127.0.0.1", "127.0.0.2", "127.0.0.3"}) h.add_server(ip, UpstreamConfig{});
  SourceConfig pool = server_config("pool.example.org");
  pool.mode = SourceMode::Pool;
  pool.max_sources = 2;
  const EntryId e = h.engine.add_entry(pool, h.clock->now());
  h.start();
  REQUIRE(h.resolves.size() == 1);
  const std::vector<IpAddress> all{*IpAddress::parse("127.0.0.1"), *IpAddress::parse("127.0.0.2"),
                                   *IpAddress::parse("127.0.0.3")};
  h.take(h.engine.on_resolved(e, all, h.clock->now()));
  auto rows = h.engine.sources(h.clock->now());
  REQUIRE(rows.size() == 2);
  CHECK(*rows[0].address == addr("127.0.0.1"));
  CHECK(*rows[1].address == addr("127.0.0.2"));
  const SourceId first = rows[0].id;
  h.run_until(100.0);
  CHECK(h.engine.selected_source());

  // 127.0.0.1 stops answering: once its reach register is empty, the pool
  // name is resolved again and the member gets a new address, same id.
  h.dead.push_back(addr("127.0.0.1"));
  const std::size_t queries = h.resolves.size();
  h.run_until(100.0 + 10 * 64.0);
  REQUIRE(h.resolves.size() > queries);
  h.take(h.engine.on_resolved(e, all, h.clock->now()));
  rows = h.engine.sources(h.clock->now());
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].id == first);
  CHECK(*rows[0].address == addr("127.0.0.3"));
  CHECK(rows[0].reach == 0);
  h.run_until(100.0 + 10 * 64.0 + 300.0);
  CHECK(h.engine.source(first)->stats().samples() >= 3);
}

TEST_CASE("commands: offline, online, burst and makestep", "[engine]") {
  Harness h(clock_cfg(0.0, 0.0), EngineOptions{});
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.add_server("127.0.0.2", UpstreamConfig{});
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  h.engine.add_entry(server_config("127.0.0.2"), h.clock->now());
  h.start();
  h.run_until(20.0);
  CHECK(h.engine.activity().online == 2);
  CHECK(h.engine.set_online(h.clock->now(), false, *IpAddress::parse("127.0.0.2")) == 1);
  ActivityReport a = h.engine.activity();
  CHECK(a.online == 1);
  CHECK(a.offline == 1);
  CHECK(h.engine.set_online(h.clock->now(), true) == 2);
  a = h.engine.activity();
  CHECK(a.online + a.burst_online == 2);  // back online, with its iburst
  CHECK(a.offline == 0);
  CHECK(h.engine.burst(h.clock->now(), 2, 4) == 2);
  CHECK(h.engine.activity().burst_online == 2);
  // Nothing pending: makestep does nothing.
  h.run_until(200.0);
  const Actions m = h.engine.make_step(h.clock->now());
  CHECK(m.clock.empty());
  CHECK(h.engine.ntpdata(*IpAddress::parse("127.0.0.1")));
  CHECK_FALSE(h.engine.ntpdata(*IpAddress::parse("127.0.0.9")));
}

// The sources' timers move with the clock: a step of 1000 s back does not
// hold the next poll back by 1000 s.
TEST_CASE("polling goes on at once after a step", "[engine]") {
  EngineOptions o;
  o.reference.makestep = MakeStepConfig{1.0, 3};
  Harness h(clock_cfg(1000.0, 0.0), o);
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  h.start();
  h.run_until(15.0);
  REQUIRE(h.fake.count(sim::ClockAdjustment::Kind::Step) == 1);
  const auto next = h.engine.next_wakeup();
  REQUIRE(next);
  CHECK((*next - h.clock->now()).to_seconds() < 70.0);
}

TEST_CASE("a step of 1e8 s either way", "[engine]") {
  for (double offset : {1e8, -1e8}) {
    CAPTURE(offset);
    EngineOptions o;
    o.reference.makestep = MakeStepConfig{1.0, 3};
    Harness h(clock_cfg(offset, 10.0), o);
    h.add_server("127.0.0.1", UpstreamConfig{});
    h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
    h.start();
    h.run_until(600.0);
    CHECK(h.fake.count(sim::ClockAdjustment::Kind::Step) == 1);
    CHECK(std::fabs(h.fake.true_offset_s()) < 0.001);
    CHECK(h.engine.synchronised());
  }
}

TEST_CASE("an unexplained step drops the samples and the sync, and sync comes back", "[engine]") {
  Harness h(clock_cfg(0.05, 20.0), EngineOptions{});
  h.add_server("127.0.0.1", UpstreamConfig{});
  h.engine.add_entry(server_config("127.0.0.1"), h.clock->now());
  h.start();
  h.run_until(300.0);
  REQUIRE(h.engine.synchronised());
  h.take(h.engine.on_unknown_step(h.clock->now(), Duration::seconds(-100)));
  CHECK(h.logged("Backward time jump detected!"));
  CHECK_FALSE(h.engine.synchronised());
  const auto stats = h.engine.sourcestats(h.clock->now());
  REQUIRE(stats.size() == 1);
  CHECK(stats[0].stats.samples == 0);
  CHECK(h.engine.next_wakeup());  // polling goes on
  h.run_until(1200.0);
  CHECK(h.engine.synchronised());
}

TEST_CASE("requests to different sources leave at least the sampling separation apart", "[engine]") {
  Harness h(clock_cfg(0.0, 0.0), EngineOptions{});
  const char* ips[] = {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"};
  for (const char* ip : ips) {
    h.add_server(ip, UpstreamConfig{});
    h.engine.add_entry(server_config(ip, false), h.clock->now());
  }
  std::vector<double> sent;
  Actions a = h.engine.start(h.clock->now());
  for (int guard = 0; guard < 100000 && h.fake.true_time_s() < 200.0; ++guard) {
    for (std::size_t i = 0; i < a.sends.size(); ++i) sent.push_back(h.fake.true_time_s());
    auto w = a.next_wakeup;
    if (!w) break;
    h.fake.advance_to(h.fake.true_time_s() + std::max(0.0, (*w - h.clock->now()).to_seconds()) + 1e-6);
    a = h.engine.handle_timer(h.clock->now(), h.rng);
  }
  REQUIRE(sent.size() >= 8);
  std::sort(sent.begin(), sent.end());
  double min_gap = 1e9;
  for (std::size_t i = 1; i < sent.size(); ++i) min_gap = std::min(min_gap, sent[i] - sent[i - 1]);
  // poll 4 (minpoll): 16 s / 8 = 2 s, capped at 0.2 s.
  CHECK(min_gap >= 0.2);
}
