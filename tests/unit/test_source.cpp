// lib/source.hpp: the client association. Fake replies are injected for every
// "Client side" rows of the bad-input checklist; request fields, iburst timing,
// reach register, poll adaptation and KoD handling are checked.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "lib/packet.hpp"
#include "lib/source.hpp"
#include "tests/unit/seeded_rng.hpp"

using namespace gnomon;

namespace {
// A wait of `nominal` s, stretched by the source's random 0..2 %.
bool stretched(double seconds, double nominal) {
  return seconds >= nominal - 1e-6 && seconds <= nominal * 1.02 + 1e-6;
}
}  // namespace

namespace {

constexpr std::int64_t kMarch15 = 1710504000;  // 2024-03-15 12:00:00 UTC
constexpr std::int64_t kJune30 = 1719748800;   // 2024-06-30 12:00:00 UTC
constexpr std::int64_t kEra1UnixS = kNtpEraS - kNtpUnixOffsetS;  // 2036-02-07 06:28:16

using TestRng = test::SeededRng;

// What the fake server puts in its reply. Unset timestamps are filled in from
// the request and the server's clock.
struct ReplySpec {
  Leap leap = Leap::None;
  std::uint8_t version = 4;
  NtpMode mode = NtpMode::Server;
  std::uint8_t stratum = 2;
  std::int8_t poll = 6;
  std::int8_t precision = -20;
  double root_delay_s = 0.001;
  double root_dispersion_s = 0.001;
  std::uint32_t refid = 0xC0000202u;
  std::optional<NtpTimestamp> origin;
  std::optional<NtpTimestamp> receive;
  std::optional<NtpTimestamp> transmit;
};

std::vector<std::uint8_t> encode(const NtpHeader& h) {
  std::vector<std::uint8_t> out(kNtpHeaderLen);
  encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(out.data(), kNtpHeaderLen));
  return out;
}

struct Harness {
  SocketAddress server = *SocketAddress::parse("192.0.2.1:123", 123);
  Source src;
  TestRng rng{42};
  TimePoint now;
  double server_ahead_s = 0.0;   // source minus local
  double one_way_s = 0.0005;     // network delay each way
  double server_hold_s = 0.00001;
  std::optional<OutgoingRequest> last_req;
  TimePoint last_tx{};

  explicit Harness(const SourceOptions& o, TimePoint start = TimePoint{kMarch15 * kNsPerS})
      : src(server, o), now(start) {
    src.start(now);
  }

  // Advances to the next timer and lets it fire; returns the request, if any.
  std::optional<OutgoingRequest> fire() {
    REQUIRE(src.next_timer().has_value());
    now = *src.next_timer();
    TimerAction a = src.handle_timer(now, rng);
    if (a.request) {
      last_req = a.request;
      last_tx = now;
    }
    return a.request;
  }

  [[nodiscard]] NtpHeader request_header() const {
    REQUIRE(last_req.has_value());
    return decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(last_req->bytes.data(), kNtpHeaderLen));
  }

  [[nodiscard]] std::vector<std::uint8_t> reply(const ReplySpec& s = {}) const {
    const TimePoint server_rx = last_tx + Duration::from_seconds(one_way_s + server_ahead_s);
    const TimePoint server_tx = server_rx + Duration::from_seconds(server_hold_s);
    NtpHeader h;
    h.leap = s.leap;
    h.version = s.version;
    h.mode = s.mode;
    h.stratum = s.stratum;
    h.poll = s.poll;
    h.precision = s.precision;
    h.root_delay = NtpShort::from_seconds(s.root_delay_s);
    h.root_dispersion = NtpShort::from_seconds(s.root_dispersion_s);
    h.reference_id = s.refid;
    h.reference_ts = NtpTimestamp::from_time(server_rx - Duration::seconds(30));
    h.origin_ts = s.origin ? *s.origin : request_header().transmit_ts;
    h.receive_ts = s.receive ? *s.receive : NtpTimestamp::from_time(server_rx);
    h.transmit_ts = s.transmit ? *s.transmit : NtpTimestamp::from_time(server_tx);
    return encode(h);
  }

  [[nodiscard]] TimePoint rx_time() const {
    return last_tx + Duration::from_seconds(2 * one_way_s + server_hold_s);
  }

  ReplyResult deliver(const std::vector<std::uint8_t>& bytes, std::optional<SocketAddress> from = {},
                      std::uint32_t local_refid = 0) {
    ReplyContext ctx;
    ctx.rx_time = rx_time();
    ctx.tx_time = last_tx;
    ctx.from = from ? *from : server;
    ctx.local_refid = local_refid;
    now = ctx.rx_time;
    return src.handle_reply(bytes, ctx);
  }

  // One full exchange with a good reply.
  ReplyResult exchange(const ReplySpec& s = {}) {
    REQUIRE(fire().has_value());
    return deliver(reply(s));
  }
};

SourceOptions basic_options() {
  SourceOptions o;
  o.minpoll = 6;
  o.maxpoll = 10;
  return o;
}

}  // namespace

TEST_CASE("request: only mode, version and a random transmit timestamp", "[source]") {
  Harness h(basic_options());
  auto req = h.fire();
  REQUIRE(req);
  CHECK(req->length == kNtpHeaderLen);
  CHECK(req->to == h.server);
  const NtpHeader r1 = h.request_header();
  CHECK(r1.leap == Leap::None);
  CHECK(r1.version == 4);
  CHECK(r1.mode == NtpMode::Client);
  CHECK(r1.stratum == 0);
  CHECK(r1.poll == 0);
  CHECK(r1.precision == 0);
  CHECK(r1.root_delay.raw == 0);
  CHECK(r1.root_dispersion.raw == 0);
  CHECK(r1.reference_id == 0);
  CHECK(r1.reference_ts.is_zero());
  CHECK(r1.origin_ts.is_zero());
  CHECK(r1.receive_ts.is_zero());
  CHECK_FALSE(r1.transmit_ts.is_zero());
  // Bytes 0..39 beyond the first are all zero: nothing leaks.
  for (std::size_t i = 1; i < 40; ++i) CHECK(req->bytes[i] == 0);
  CHECK(req->bytes[0] == ((4 << 3) | 3));
  // The transmit timestamp is not our clock: it is random each time.
  const NtpTimestamp local = NtpTimestamp::from_time(h.now);
  CHECK(std::llabs(static_cast<long long>(r1.transmit_ts.seconds) - static_cast<long long>(local.seconds)) > 10);
  h.fire();
  const NtpHeader r2 = h.request_header();
  CHECK_FALSE(r2.transmit_ts == r1.transmit_ts);
}

TEST_CASE("first request 0.2 s after start; polls at minpoll", "[source]") {
  const TimePoint t0{kMarch15 * kNsPerS};
  Harness h(basic_options(), t0);
  REQUIRE(h.src.next_timer());
  CHECK(*h.src.next_timer() == t0 + Duration::from_ms(200));
  // Calling early does nothing.
  TimerAction early = h.src.handle_timer(t0, h.rng);
  CHECK_FALSE(early.request);
  auto r = h.exchange();
  CHECK(r.disposition == ReplyDisposition::Accepted);
  REQUIRE(h.src.next_timer());
  CHECK(stretched((*h.src.next_timer() - h.last_tx).to_seconds(), 64.0));
}

TEST_CASE("iburst: 0.2 s, then 2 s spacing until 4 good samples", "[source][iburst]") {
  SourceOptions o = basic_options();
  o.iburst = true;
  const TimePoint t0{kMarch15 * kNsPerS};
  Harness h(o, t0);
  CHECK(*h.src.next_timer() == t0 + Duration::from_ms(200));
  CHECK(h.src.bursting());
  std::vector<double> tx_times;
  for (int i = 0; i < 4; ++i) {
    auto r = h.exchange();
    CHECK(r.disposition == ReplyDisposition::Accepted);
    tx_times.push_back((h.last_tx - t0).to_seconds());
  }
  CHECK(tx_times[0] == Approx(0.2));
  for (std::size_t k = 1; k < 4; ++k) CHECK(stretched(tx_times[k] - tx_times[k - 1], 2.0));
  CHECK_FALSE(h.src.bursting());
  CHECK(h.src.mode() == SourceOpMode::Online);
  CHECK(stretched((*h.src.next_timer() - h.last_tx).to_seconds(), 64.0));
  CHECK(h.src.stats().samples() == 4);
  CHECK(h.src.stats().selection_data(h.now).select_ok);
}

TEST_CASE("iburst ramp: 8 s after the burst, then doubling intervals up to the poll",
          "[source][iburst]") {
  SourceOptions o = basic_options();
  o.iburst = true;
  o.iburst_ramp = true;
  o.stats.estimator = StatsEstimator::Kalman;
  const TimePoint t0{kMarch15 * kNsPerS};
  Harness h(o, t0);
  // A server 100 us jittery in each direction, so that the frequency is
  // only slowly pinned down.
  std::mt19937_64 gen(5);
  std::exponential_distribution<double> queue(1.0 / 100e-6);
  std::vector<double> intervals;
  double prev_tx = 0.0;
  for (int i = 0; i < 16; ++i) {
    REQUIRE(h.fire());
    const double tx = (h.last_tx - t0).to_seconds();
    if (i >= 4) intervals.push_back(tx - prev_tx);
    prev_tx = tx;
    const double up = queue(gen);
    const double down = queue(gen);
    h.one_way_s = 0.0005 + (up + down) / 2.0;
    h.server_ahead_s = (up - down) / 2.0;
    REQUIRE(h.deliver(h.reply()).disposition == ReplyDisposition::Accepted);
  }
  INFO("intervals after the burst: " << intervals[0] << " " << intervals[1] << " " << intervals[2]
                                     << " ... " << intervals.back());
  // The first interval after the 4-sample burst is 8 s; each next one is
  // as long or twice as long; powers of 2 up to the 64 s poll; and the ramp
  // is over within its 8 requests.
  // Each wait is stretched by a random 0..2 %: compare the nominal ones.
  const auto nominal = [](double seconds) {
    for (double n : {8.0, 16.0, 32.0, 64.0})
      if (stretched(seconds, n)) return n;
    return 0.0;
  };
  CHECK(nominal(intervals[0]) == 8.0);
  for (std::size_t i = 1; i < intervals.size(); ++i) {
    const double ratio = nominal(intervals[i]) / nominal(intervals[i - 1]);
    CHECK((ratio == 1.0 || ratio == 2.0 || ratio == 4.0 || ratio == 8.0));
  }
  CHECK(nominal(intervals.back()) == 64.0);
  CHECK(nominal(intervals[8]) == 64.0);
}

TEST_CASE("no iburst ramp unless asked for", "[source][iburst]") {
  SourceOptions o = basic_options();
  o.iburst = true;
  CHECK_FALSE(o.iburst_ramp);
  Harness h(o);
  for (int i = 0; i < 4; ++i) REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  CHECK(stretched((*h.src.next_timer() - h.last_tx).to_seconds(), 64.0));
}

TEST_CASE("iburst with no replies stops after 8 requests", "[source][iburst]") {
  SourceOptions o = basic_options();
  o.iburst = true;
  const TimePoint t0{kMarch15 * kNsPerS};
  Harness h(o, t0);
  std::vector<double> tx_times;
  for (int i = 0; i < 10; ++i) {
    REQUIRE(h.fire());
    tx_times.push_back((h.last_tx - t0).to_seconds());
  }
  for (int i = 1; i < 8; ++i) CHECK(stretched(tx_times[static_cast<std::size_t>(i)] - tx_times[static_cast<std::size_t>(i - 1)], 2.0));
  // After the burst, the normal poll interval (lengthened by the losses).
  CHECK(tx_times[8] - tx_times[7] >= 64.0);
  CHECK(h.src.reach() == 0);
  CHECK(h.src.ntp_data().total_tx == 10);
}

TEST_CASE("burst command on an online source", "[source]") {
  Harness h(basic_options());
  REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  h.src.initiate_burst(h.now, 2, 4);
  CHECK(h.src.bursting());
  REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  CHECK(h.src.bursting());
  const TimePoint before = h.last_tx;
  REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  CHECK(stretched((h.last_tx - before).to_seconds(), 2.0));
  CHECK_FALSE(h.src.bursting());
  CHECK(h.src.online());
}

TEST_CASE("reach register shifts 1 per good reply and 0 per lost one", "[source][reach]") {
  Harness h(basic_options());
  for (int i = 0; i < 3; ++i) REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  CHECK(h.src.reach() == 07);
  REQUIRE(h.fire());  // no reply to this one
  CHECK(h.src.reach() == 07);  // a 0 goes in only when the next request is sent
  REQUIRE(h.fire());
  CHECK(h.src.reach() == 016);
  REQUIRE(h.deliver(h.reply()).disposition == ReplyDisposition::Accepted);
  CHECK(h.src.reach() == 035);
  for (int i = 0; i < 8; ++i) REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  CHECK(h.src.reach() == 0377);
  CHECK(h.src.reach_size() == 8);
  // An unsynchronised (but valid) reply puts a 0 in.
  ReplySpec unsync;
  unsync.leap = Leap::Unsynchronised;
  REQUIRE(h.exchange(unsync).disposition == ReplyDisposition::Unsynced);
  CHECK(h.src.reach() == 0376);
}

TEST_CASE("poll adaptation: lengthens with good samples, never beyond maxpoll", "[source][poll]") {
  SourceOptions o = basic_options();
  o.minpoll = 4;
  o.maxpoll = 7;
  Harness h(o);
  CHECK(h.src.poll() == 4);
  int max_seen = 4;
  for (int i = 0; i < 200; ++i) {
    REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
    max_seen = std::max(max_seen, h.src.poll());
    CHECK(h.src.poll() <= 7);
    CHECK(h.src.poll() >= 4);
  }
  CHECK(max_seen == 7);
  const double interval = (*h.src.next_timer() - h.last_tx).to_seconds();
  CHECK(stretched(interval, 128.0));
}

TEST_CASE("poll adaptation: lost replies back off by 0.25 each", "[source][poll]") {
  SourceOptions o = basic_options();
  o.minpoll = 4;
  o.maxpoll = 10;
  Harness h(o);
  REQUIRE(h.fire());
  REQUIRE(h.fire());  // first loss: +0.25
  CHECK(h.src.poll_score() == Approx(0.25));
  REQUIRE(h.fire());
  REQUIRE(h.fire());
  REQUIRE(h.fire());  // 4 losses: score reaches 1, poll + 1
  CHECK(h.src.poll() == 5);
  // The selected source backs off more slowly.
  h.src.set_sync_peer(true);
  const double before = h.src.poll_score();
  REQUIRE(h.fire());
  CHECK(h.src.poll_score() - before == Approx(0.1));
}

TEST_CASE("poll adaptation: a prediction error beyond the peer distance shortens the poll",
          "[source][poll]") {
  SourceOptions o = basic_options();
  o.minpoll = 4;
  o.maxpoll = 10;
  Harness h(o);
  for (int i = 0; i < 60; ++i) REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  const int settled = h.src.poll();
  REQUIRE(settled > 4);
  // The server jumps 0.1 s, far beyond the ~1 ms peer distance: -log2(100) ~ -6.6.
  h.server_ahead_s = 0.1;
  auto r = h.exchange();
  REQUIRE(r.disposition == ReplyDisposition::Accepted);
  CHECK(h.src.poll() < settled);
}

// --- Client side bad inputs --------------------------

TEST_CASE("bad input: wrong or zero origin is ignored", "[source][bad]") {
  Harness h(basic_options());
  REQUIRE(h.fire());
  const std::uint32_t valid_before = h.src.ntp_data().total_valid_rx;
  ReplySpec wrong;
  wrong.origin = NtpTimestamp{0x12345678u, 0x9abcdef0u};
  auto r = h.deliver(h.reply(wrong));
  CHECK(r.disposition == ReplyDisposition::Invalid);
  CHECK_FALSE(r.tests.test2());
  CHECK_FALSE(r.sample);
  ReplySpec zero;
  zero.origin = NtpTimestamp{};
  r = h.deliver(h.reply(zero));
  CHECK(r.disposition == ReplyDisposition::Invalid);
  CHECK_FALSE(r.tests.test2());
  CHECK_FALSE(r.tests.test3());
  CHECK(h.src.ntp_data().total_valid_rx == valid_before);
  CHECK(h.src.stats().samples() == 0);
  CHECK(h.src.reach() == 0);
  // The real reply is still accepted afterwards.
  CHECK(h.deliver(h.reply()).disposition == ReplyDisposition::Accepted);
}

TEST_CASE("bad input: zero receive or transmit timestamp fails test 3", "[source][bad]") {
  Harness h(basic_options());
  REQUIRE(h.fire());
  ReplySpec s;
  s.receive = NtpTimestamp{};
  auto r = h.deliver(h.reply(s));
  CHECK(r.disposition == ReplyDisposition::Invalid);
  CHECK_FALSE(r.tests.test3());
  CHECK(h.src.stats().samples() == 0);
}

TEST_CASE("bad input: a duplicate transmit timestamp is ignored", "[source][bad]") {
  Harness h(basic_options());
  REQUIRE(h.fire());
  const auto first = h.reply();
  REQUIRE(h.deliver(first).disposition == ReplyDisposition::Accepted);
  const NtpHeader fh = decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(first.data(), kNtpHeaderLen));
  // A replay of the same server timestamps answering the next request.
  REQUIRE(h.fire());
  ReplySpec dup;
  dup.receive = fh.receive_ts;
  dup.transmit = fh.transmit_ts;
  auto r = h.deliver(h.reply(dup));
  CHECK(r.disposition == ReplyDisposition::Invalid);
  CHECK_FALSE(r.tests.test1());
  CHECK(h.src.stats().samples() == 1);
}

TEST_CASE("bad input: a second reply to one request is ignored", "[source][bad]") {
  Harness h(basic_options());
  REQUIRE(h.fire());
  REQUIRE(h.deliver(h.reply()).disposition == ReplyDisposition::Accepted);
  h.server_hold_s = 0.00002;  // different timestamps, same origin
  h.server_ahead_s = 0.05;
  auto r = h.deliver(h.reply());
  CHECK(r.disposition == ReplyDisposition::Invalid);
  CHECK_FALSE(r.tests.test2());
  CHECK(h.src.stats().samples() == 1);
  CHECK(h.src.ntp_data().total_valid_rx == 1);
  CHECK(h.src.ntp_data().total_rx == 2);
}

TEST_CASE("bad input: a reply from the wrong address or port is ignored", "[source][bad]") {
  Harness h(basic_options());
  REQUIRE(h.fire());
  const auto bytes = h.reply();
  auto r = h.deliver(bytes, SocketAddress::parse("192.0.2.2:123", 123));
  CHECK(r.disposition == ReplyDisposition::Ignored);
  r = h.deliver(bytes, SocketAddress::parse("192.0.2.1:124", 123));
  CHECK(r.disposition == ReplyDisposition::Ignored);
  r = h.deliver(bytes, SocketAddress::parse("[2001:db8::1]:123", 123));
  CHECK(r.disposition == ReplyDisposition::Ignored);
  CHECK(h.src.ntp_data().total_rx == 0);
  CHECK(h.src.stats().samples() == 0);
  CHECK(h.deliver(bytes).disposition == ReplyDisposition::Accepted);
}

TEST_CASE("bad input: garbage and non-server modes are ignored", "[source][bad]") {
  Harness h(basic_options());
  REQUIRE(h.fire());
  std::vector<std::uint8_t> empty;
  CHECK(h.deliver(empty).disposition == ReplyDisposition::Ignored);
  std::vector<std::uint8_t> short_pkt(47, 0x24);
  CHECK(h.deliver(short_pkt).disposition == ReplyDisposition::Ignored);
  for (NtpMode m : {NtpMode::Client, NtpMode::SymmetricActive, NtpMode::SymmetricPassive,
                    NtpMode::Broadcast, NtpMode::Control, NtpMode::Private, NtpMode::Reserved}) {
    ReplySpec s;
    s.mode = m;
    CHECK(h.deliver(h.reply(s)).disposition == ReplyDisposition::Ignored);
  }
  // Random bytes never crash and never produce a sample.
  std::mt19937 gen(7);
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::uint8_t> junk(static_cast<std::size_t>(gen() % 120));
    for (auto& b : junk) b = static_cast<std::uint8_t>(gen());
    auto r = h.deliver(junk);
    CHECK(r.disposition != ReplyDisposition::Accepted);
  }
  CHECK(h.src.stats().samples() == 0);
}

TEST_CASE("bad input: KoD RATE with a bad origin is ignored", "[source][bad][kod]") {
  Harness h(basic_options());
  REQUIRE(h.fire());
  const auto timer_before = h.src.next_timer();
  ReplySpec kod;
  kod.leap = Leap::Unsynchronised;
  kod.stratum = 0;
  kod.refid = 0x52415445u;  // RATE
  kod.origin = NtpTimestamp{1, 2};
  auto r = h.deliver(h.reply(kod));
  CHECK(r.disposition == ReplyDisposition::Invalid);
  CHECK(r.kod == KissCode::None);
  CHECK(h.src.next_timer() == timer_before);
}

TEST_CASE("bad input: KoD RATE with a good origin backs off by 4 polls, past maxpoll too",
          "[source][bad][kod]") {
  ReplySpec kod;
  kod.leap = Leap::Unsynchronised;
  kod.stratum = 0;
  kod.refid = 0x52415445u;

  SECTION("poll 4: 16 s plus 4 x 16 s") {
    SourceOptions o = basic_options();
    o.minpoll = 4;
    Harness h(o);
    REQUIRE(h.fire());
    auto r = h.deliver(h.reply(kod));
    CHECK(r.kod == KissCode::Rate);
    CHECK(r.disposition == ReplyDisposition::Unsynced);
    CHECK_FALSE(r.sample);
    CHECK(stretched((*h.src.next_timer() - h.last_tx).to_seconds(), 80.0));
  }
  SECTION("past maxpoll: the server's request wins") {
    SourceOptions o = basic_options();
    o.minpoll = 6;
    o.maxpoll = 7;
    Harness h(o);
    REQUIRE(h.fire());
    REQUIRE(h.deliver(h.reply(kod)).kod == KissCode::Rate);
    CHECK(stretched((*h.src.next_timer() - h.last_tx).to_seconds(), 320.0));
  }
  SECTION("minpoll = maxpoll: every KoD backs off once, never longer") {
    SourceOptions o = basic_options();
    o.minpoll = 6;
    o.maxpoll = 6;
    Harness h(o);
    for (int i = 0; i < 20; ++i) {
      REQUIRE(h.fire());
      REQUIRE(h.deliver(h.reply(kod)).kod == KissCode::Rate);
      CHECK(stretched((*h.src.next_timer() - h.last_tx).to_seconds(), 320.0));
    }
  }
  SECTION("stops a burst") {
    SourceOptions o = basic_options();
    o.iburst = true;
    Harness h(o);
    REQUIRE(h.fire());
    REQUIRE(h.src.bursting());
    REQUIRE(h.deliver(h.reply(kod)).kod == KissCode::Rate);
    CHECK_FALSE(h.src.bursting());
    CHECK((*h.src.next_timer() - h.last_tx).to_seconds() > 64.0);
  }
  SECTION("without timestamps too, once per request") {
    SourceOptions o = basic_options();
    o.minpoll = 4;
    Harness h(o);
    REQUIRE(h.fire());
    ReplySpec bare = kod;
    bare.receive = NtpTimestamp{};  // fails test 3; tests 1 and 2 pass
    auto r = h.deliver(h.reply(bare));
    CHECK(r.kod == KissCode::Rate);
    CHECK(stretched((*h.src.next_timer() - h.last_tx).to_seconds(), 80.0));
  }
}

TEST_CASE("KoD DENY and RSTR stop polling", "[source][kod]") {
  for (std::uint32_t code : {0x44454E59u, 0x52535452u}) {
    Harness h(basic_options());
    REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
    REQUIRE(h.fire());
    ReplySpec kod;
    kod.leap = Leap::Unsynchronised;
    kod.stratum = 0;
    kod.refid = code;
    auto r = h.deliver(h.reply(kod));
    CHECK((r.kod == KissCode::Deny || r.kod == KissCode::Rstr));
    CHECK(h.src.mode() == SourceOpMode::Denied);
    CHECK_FALSE(h.src.next_timer());
    CHECK_FALSE(h.src.handle_timer(h.now + Duration::seconds(10000), h.rng).request);
    CHECK(h.src.reach() == 0);
  }
  // With a bad origin, DENY changes nothing.
  Harness h(basic_options());
  REQUIRE(h.fire());
  ReplySpec kod;
  kod.leap = Leap::Unsynchronised;
  kod.stratum = 0;
  kod.refid = 0x44454E59u;
  kod.origin = NtpTimestamp{5, 5};
  h.deliver(h.reply(kod));
  CHECK(h.src.mode() == SourceOpMode::Online);
  CHECK(h.src.next_timer());
}

TEST_CASE("bad input: unsynchronised or unsound servers are not used", "[source][bad]") {
  struct Case {
    const char* name;
    ReplySpec spec;
    bool test6;
    bool test7;
  };
  std::vector<Case> cases;
  {
    ReplySpec s;
    s.stratum = 0;  // not a KoD: LI 0
    s.refid = 0x58585858u;
    cases.push_back({"stratum 0 without LI 3", s, false, true});
  }
  {
    ReplySpec s;
    s.stratum = 16;
    cases.push_back({"stratum 16", s, false, true});
  }
  {
    ReplySpec s;
    s.stratum = 200;
    cases.push_back({"stratum 200", s, false, true});
  }
  {
    ReplySpec s;
    s.leap = Leap::Unsynchronised;
    cases.push_back({"LI 3", s, false, true});
  }
  {
    ReplySpec s;
    s.root_delay_s = 2.0;
    s.root_dispersion_s = 15.0;  // 1 + 15 = 16 s
    cases.push_back({"root distance 16 s", s, true, false});
  }
  {
    ReplySpec s;
    s.root_delay_s = 40.0;
    cases.push_back({"root delay 40 s", s, true, false});
  }
  for (const Case& c : cases) {
    INFO(c.name);
    Harness h(basic_options());
    REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
    REQUIRE(h.fire());
    auto r = h.deliver(h.reply(c.spec));
    CHECK(r.disposition == ReplyDisposition::Unsynced);
    CHECK(r.tests.test6() == c.test6);
    CHECK(r.tests.test7() == c.test7);
    CHECK_FALSE(r.sample);
    CHECK(h.src.stats().samples() == 1);
    CHECK(h.src.reach() == 02);
    CHECK(h.src.stratum() == 2);  // status from the last synchronised reply
  }
}

TEST_CASE("bad input: a leap flag on a day other than 30 June or 31 December is ignored",
          "[source][bad][leap]") {
  ReplySpec s;
  s.leap = Leap::Insert;
  {
    Harness h(basic_options(), TimePoint{kMarch15 * kNsPerS});
    auto r = h.exchange(s);
    REQUIRE(r.disposition == ReplyDisposition::Accepted);
    CHECK(r.sample->leap == Leap::None);
    CHECK(h.src.leap() == Leap::None);
    CHECK(h.src.ntp_data().leap == Leap::Insert);  // ntpdata shows what was sent
  }
  {
    Harness h(basic_options(), TimePoint{kJune30 * kNsPerS});
    auto r = h.exchange(s);
    REQUIRE(r.disposition == ReplyDisposition::Accepted);
    CHECK(r.sample->leap == Leap::Insert);
    CHECK(h.src.leap() == Leap::Insert);
  }
  {
    // 31 December 2016 (a real leap second), and 31 May is not allowed.
    Harness dec(basic_options(), TimePoint{1483185600LL * kNsPerS});
    s.leap = Leap::Delete;
    CHECK(dec.exchange(s).sample->leap == Leap::Delete);
    Harness may(basic_options(), TimePoint{1464696000LL * kNsPerS});  // 2016-05-31 12:00
    CHECK(may.exchange(s).sample->leap == Leap::None);
  }
}

TEST_CASE("bad input: an offset of 1e9 s has no overflow", "[source][bad]") {
  for (double ahead : {1e9, -1e9}) {
    INFO(ahead);
    Harness h(basic_options());
    h.server_ahead_s = ahead;
    auto r = h.exchange();
    REQUIRE(r.disposition == ReplyDisposition::Accepted);
    CHECK(r.sample->offset_s == Approx(-ahead).epsilon(1e-15));
    CHECK(std::fabs(r.sample->offset_s + ahead) < 1e-6);
    CHECK(r.sample->peer_delay_s == Approx(0.001).margin(1e-6));
    CHECK(h.src.stats().last_sample_report().offset_s == Approx(-ahead));
  }
}

TEST_CASE("bad input: the 2036 era wrap has no overflow", "[source][bad]") {
  SECTION("local before the wrap, server after") {
    Harness h(basic_options(), TimePoint{(kEra1UnixS - 1) * kNsPerS});
    h.server_ahead_s = 2.5;
    auto r = h.exchange();
    REQUIRE(r.disposition == ReplyDisposition::Accepted);
    CHECK(r.sample->offset_s == Approx(-2.5).margin(1e-6));
    const NtpHeader rq = h.request_header();
    static_cast<void>(rq);
  }
  SECTION("local after the wrap, server before") {
    Harness h(basic_options(), TimePoint{(kEra1UnixS + 1) * kNsPerS});
    h.server_ahead_s = -3.0;
    auto r = h.exchange();
    REQUIRE(r.disposition == ReplyDisposition::Accepted);
    CHECK(r.sample->offset_s == Approx(3.0).margin(1e-6));
  }
  SECTION("1e9 s across the wrap") {
    Harness h(basic_options(), TimePoint{(kEra1UnixS - 500000000LL) * kNsPerS});
    h.server_ahead_s = 1e9;
    auto r = h.exchange();
    REQUIRE(r.disposition == ReplyDisposition::Accepted);
    CHECK(r.sample->offset_s == Approx(-1e9));
  }
}

TEST_CASE("test A: maxdelay and the server's processing time", "[source]") {
  SourceOptions o = basic_options();
  o.max_delay_s = 0.1;
  {
    Harness h(o);
    h.one_way_s = 0.2;  // 0.4 s round trip
    auto r = h.exchange();
    CHECK(r.disposition == ReplyDisposition::Rejected);
    CHECK_FALSE(r.tests.testA());
    CHECK(r.tests.test1());
    CHECK(h.src.reach() == 1);  // synchronised reply: reachable, just not used
    CHECK(h.src.stats().samples() == 0);
  }
  {
    Harness h(basic_options());
    h.server_hold_s = 5.0;  // the server took 5 s to answer
    auto r = h.exchange();
    CHECK(r.disposition == ReplyDisposition::Rejected);
    CHECK_FALSE(r.tests.testA());
  }
}

TEST_CASE("test C: a delay spike with an unchanged offset is dropped", "[source]") {
  Harness h(basic_options());
  std::mt19937_64 gen(3);
  std::normal_distribution<double> jitter(0.0, 10e-6);
  for (int i = 0; i < 20; ++i) {
    h.one_way_s = 0.0005 + std::fabs(jitter(gen)) * 0.1;
    h.server_ahead_s = jitter(gen);
    REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  }
  REQUIRE(h.src.stats().samples() >= 6);
  h.server_ahead_s = 0.0;
  INFO("samples " << h.src.stats().samples() << " sd " << h.src.stats().std_dev_s()
       << " skew " << h.src.stats().skew() << " min delay " << h.src.stats().min_round_trip_delay_s());
  h.one_way_s = 0.05;  // 100 ms round trip, offset unchanged
  auto r = h.exchange();
  CHECK(r.disposition == ReplyDisposition::Rejected);
  CHECK_FALSE(r.tests.testC());
  CHECK(r.tests.testA());
}

TEST_CASE("test D: a server synchronised to us is not used", "[source]") {
  Harness h(basic_options());
  REQUIRE(h.fire());
  ReplySpec s;
  s.stratum = 3;
  s.refid = 0xC0000263u;  // our address
  auto r = h.deliver(h.reply(s), std::nullopt, 0xC0000263u);
  CHECK(r.disposition == ReplyDisposition::Rejected);
  CHECK_FALSE(r.tests.testD());
  // The same refid from a stratum-1 server is a reference clock name, not us.
  REQUIRE(h.fire());
  s.stratum = 1;
  r = h.deliver(h.reply(s), std::nullopt, 0xC0000263u);
  CHECK(r.disposition == ReplyDisposition::Accepted);
}

TEST_CASE("test D: a server that is us is not used", "[source]") {
  Harness h(basic_options());
  REQUIRE(h.fire());
  ServedState us;
  us.leap = Leap::None;
  us.stratum = 3;
  us.refid = 0x0A000001u;
  us.reference_time = h.now - Duration::seconds(20);
  us.root_delay_s = 0.004;
  ReplySpec s;
  s.stratum = 3;
  s.refid = us.refid;
  s.root_delay_s = us.root_delay_s;
  const auto bytes = [&] {
    auto b = h.reply(s);
    NtpHeader hd = decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(b.data(), kNtpHeaderLen));
    hd.reference_ts = NtpTimestamp::from_time(us.reference_time);
    return encode(hd);
  }();
  ReplyContext ctx;
  ctx.rx_time = h.rx_time();
  ctx.tx_time = h.last_tx;
  ctx.from = h.server;
  ctx.our_state = &us;
  auto r = h.src.handle_reply(bytes, ctx);
  CHECK(r.disposition == ReplyDisposition::Rejected);
  CHECK_FALSE(r.tests.testD());
}

TEST_CASE("a source with a key or NTS accepts nothing unauthenticated", "[source]") {
  SourceOptions o = basic_options();
  o.key = 5;
  Harness h(o);
  auto r = h.exchange();
  CHECK(r.disposition == ReplyDisposition::Invalid);
  CHECK_FALSE(r.tests.test5());
  CHECK(h.src.stats().samples() == 0);
}

TEST_CASE("ntpdata: counters, header fields and test bits", "[source]") {
  Harness h(basic_options());
  h.server_ahead_s = -0.000123;
  ReplySpec s;
  s.stratum = 3;
  s.poll = 5;
  s.precision = -23;
  s.refid = 0x7F7F0101u;
  auto r = h.exchange(s);
  REQUIRE(r.disposition == ReplyDisposition::Accepted);
  const NtpDataReport& d = h.src.ntp_data();
  CHECK(d.remote == h.server);
  CHECK(d.leap == Leap::None);
  CHECK(d.version == 4);
  CHECK(d.mode == 4);
  CHECK(d.stratum == 3);
  CHECK(d.poll == 5);
  CHECK(d.precision == -23);
  CHECK(d.ref_id == 0x7F7F0101u);
  CHECK(d.root_delay_s == Approx(0.001).margin(2e-5));
  CHECK(d.offset_s == Approx(0.000123).margin(1e-8));
  CHECK(d.peer_delay_s == Approx(0.001).margin(1e-8));
  CHECK(d.response_time_s == Approx(0.00001).margin(3e-9));
  CHECK(d.tests.bits == 0x3FF);
  CHECK(d.total_tx == 1);
  CHECK(d.total_rx == 1);
  CHECK(d.total_valid_rx == 1);
  CHECK(d.total_good_rx == 1);
  CHECK(h.src.stratum() == 3);
  CHECK(h.src.has_status());
  CHECK(h.src.refid() == 0xC0000201u);
}

TEST_CASE("sample: offset, delay and dispersion by RFC 5905", "[source]") {
  Harness h(basic_options());
  h.server_ahead_s = 0.25;   // the server is 0.25 s ahead: we are behind
  h.one_way_s = 0.003;
  h.server_hold_s = 0.001;
  auto r = h.exchange();
  REQUIRE(r.disposition == ReplyDisposition::Accepted);
  const NtpSample& s = *r.sample;
  CHECK(s.offset_s == Approx(-0.25).margin(1e-9));
  CHECK(s.peer_delay_s == Approx(0.006).margin(1e-9));
  CHECK(s.time == h.last_tx + Duration::from_seconds(0.0035));
  // precision 1e-9 + 2^-20, plus 2000 ppm over the 7 ms local interval.
  CHECK(s.peer_dispersion_s == Approx(1e-9 + std::ldexp(1.0, -20) + 2000e-6 * 0.007).margin(1e-9));
  CHECK(s.root_delay_s == Approx(0.006 + 0.001).margin(2e-5));
  CHECK(s.root_dispersion_s == Approx(s.peer_dispersion_s + 0.001).margin(2e-5));
  CHECK(s.stratum == 2);
}

TEST_CASE("offline and online", "[source]") {
  Harness h(basic_options());
  REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  h.src.set_online(h.now, false);
  CHECK_FALSE(h.src.next_timer());
  CHECK_FALSE(h.src.online());
  CHECK(h.src.reach() == 0);
  // A late reply to the old request is ignored.
  CHECK(h.deliver(h.reply()).disposition == ReplyDisposition::Ignored);
  h.now = h.now + Duration::seconds(10);
  h.src.set_online(h.now, true);
  REQUIRE(h.src.next_timer());
  // The spacing from the last request is kept (64 s poll).
  CHECK(stretched((*h.src.next_timer() - h.last_tx).to_seconds(), 64.0));
  CHECK(h.exchange().disposition == ReplyDisposition::Accepted);
}

TEST_CASE("a source created offline waits for set_online", "[source]") {
  SourceOptions o = basic_options();
  o.start_online = false;
  o.iburst = true;
  Harness h(o);
  CHECK_FALSE(h.src.next_timer());
  h.src.set_online(h.now, true);
  REQUIRE(h.src.next_timer());
  CHECK(h.src.bursting());
}

TEST_CASE("clock steps rebase the source's samples", "[source]") {
  Harness h(basic_options());
  h.server_ahead_s = -0.5;  // we are 0.5 s ahead
  for (int i = 0; i < 5; ++i) REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  CHECK(h.src.stats().predict_offset(h.now) == Approx(0.5).margin(1e-6));
  const TimePoint timer = *h.src.next_timer();
  h.src.on_clock_stepped(Duration::from_seconds(0.5));
  CHECK(h.src.stats().predict_offset(h.now - Duration::from_ms(500)) == Approx(0.0).margin(1e-6));
  CHECK(*h.src.next_timer() == timer - Duration::from_ms(500));
}

TEST_CASE("a step of 1e8 s moves the timer with the clock", "[source]") {
  Harness h(basic_options());
  REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  const TimePoint timer = *h.src.next_timer();
  h.src.on_clock_stepped(Duration::seconds(100000000));  // the clock was 1e8 s ahead
  CHECK(*h.src.next_timer() == timer - Duration::seconds(100000000));
}

TEST_CASE("a reply to a request in flight during a step is not used", "[source]") {
  Harness h(basic_options());
  REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  REQUIRE(h.fire());
  h.src.on_clock_stepped(Duration::from_seconds(0.2));
  const auto r = h.deliver(h.reply());
  CHECK(r.disposition == ReplyDisposition::Invalid);
  CHECK(h.src.stats().samples() == 1);
  // The next exchange works.
  CHECK(h.exchange().disposition == ReplyDisposition::Accepted);
}

TEST_CASE("options from config, clamped", "[source]") {
  SourceConfig c;
  c.minpoll = 12;
  c.maxpoll = 8;
  c.iburst = true;
  c.prefer = true;
  c.maxdelay_s = 0.5;
  SourceOptions o = SourceOptions::from_config(c);
  CHECK(o.iburst);
  CHECK(o.prefer);
  CHECK(o.max_delay_s == 0.5);
  Source s(*SocketAddress::parse("10.0.0.1", 123), o);
  CHECK(s.options().maxpoll == 12);
  CHECK(s.poll() == 12);
  SourceOptions wild;
  wild.minpoll = -100;
  wild.maxpoll = 100;
  wild.max_delay_s = std::nan("");
  Source w(*SocketAddress::parse("10.0.0.1", 123), wild);
  CHECK(w.options().minpoll == kMinPoll);
  CHECK(w.options().maxpoll == kMaxPoll);
  CHECK(w.poll() == 0);  // sub-second polls only once a LAN delay is measured
}

TEST_CASE("sub-second polling only on a LAN", "[source][poll]") {
  SourceOptions o;
  o.minpoll = -2;
  o.maxpoll = -2;
  Harness h(o);
  CHECK(h.src.poll() == 0);
  h.one_way_s = 0.0001;
  REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  CHECK(h.src.poll() == -2);
  // Over a WAN (50 ms) it is held at 1 s.
  Harness wan(o);
  wan.one_way_s = 0.025;
  for (int i = 0; i < 5; ++i) REQUIRE(wan.exchange().disposition == ReplyDisposition::Accepted);
  CHECK(wan.src.poll() == 0);
}

TEST_CASE("poll rule: Kalman effective samples keeps the poll short for a wandering clock",
          "[source][poll]") {
  // Our clock's frequency wanders 10 ppb/s against a server 100 us jittery.
  const auto mean_poll = [](PollRule rule) {
    SourceOptions o = basic_options();
    o.poll_rule = rule;
    o.stats.estimator = StatsEstimator::Kalman;
    Harness h(o);
    std::mt19937_64 gen(11);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::exponential_distribution<double> queue(1.0 / 100e-6);
    double freq = 0.0;
    double offset = 0.0;
    double sum = 0.0;
    TimePoint last = h.now;
    for (int i = 0; i < 300; ++i) {
      REQUIRE(h.fire());
      const double dt = (h.now - last).to_seconds();
      last = h.now;
      freq += 1e-8 * std::sqrt(dt) * normal(gen);
      offset += freq * dt;
      const double up = queue(gen);
      const double down = queue(gen);
      h.one_way_s = 0.0005 + (up + down) / 2.0;
      h.server_ahead_s = -offset + (up - down) / 2.0;
      static_cast<void>(h.deliver(h.reply()));
      sum += h.src.poll();
    }
    CHECK(h.src.stats().kalman_effective_samples() > 0.0);
    return sum / 300.0;
  };
  const double chrony = mean_poll(PollRule::ChronySamples);
  const double kalman = mean_poll(PollRule::KalmanEffectiveSamples);
  INFO("chrony rule " << chrony << " kalman rule " << kalman);
  CHECK(kalman <= chrony);
  CHECK(kalman < 10.0);
}

TEST_CASE("after an outage the poll restarts at minpoll when reset_poll_on_return is set", "[source][poll]") {
  SourceOptions o = basic_options();
  o.minpoll = 4;
  o.reset_poll_on_return = true;
  o.maxpoll = 10;
  Harness h(o);
  for (int i = 0; i < 5; ++i) REQUIRE(h.exchange().disposition == ReplyDisposition::Accepted);
  for (int i = 0; i < 40; ++i) REQUIRE(h.fire());  // the network is down
  CHECK(h.src.poll() == 10);
  CHECK(h.src.reach() == 0);
  REQUIRE(h.deliver(h.reply()).disposition == ReplyDisposition::Accepted);
  CHECK(h.src.poll() == 4);
  CHECK(h.src.reach() == 1);

  o.reset_poll_on_return = false;  // chrony keeps the backed-off poll
  Harness c(o);
  for (int i = 0; i < 5; ++i) REQUIRE(c.exchange().disposition == ReplyDisposition::Accepted);
  for (int i = 0; i < 40; ++i) REQUIRE(c.fire());
  REQUIRE(c.deliver(c.reply()).disposition == ReplyDisposition::Accepted);
  CHECK(c.src.poll() >= 9);
}
