// lib/server.hpp and lib/local_reference.hpp: every reply field, versions and
// modes, the unsynchronised and local-reference answers, hostile fields, drop
// reasons, interleaved replies, and the no-amplification property.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "lib/local_reference.hpp"
#include "lib/packet.hpp"
#include "lib/server.hpp"

using namespace gnomon;

namespace {

using Bytes = std::vector<std::uint8_t>;

const TimePoint kRx = TimePoint{1'700'000'000LL * kNsPerS + 123'456'789};
const TimePoint kRefTime = kRx - Duration::seconds(100);

NtpHeader request_header(std::uint8_t version = 4, NtpMode mode = NtpMode::Client) {
  NtpHeader h;
  h.leap = Leap::Unsynchronised;
  h.version = version;
  h.mode = mode;
  h.stratum = 0;
  h.poll = 6;
  h.precision = -20;
  h.root_delay = NtpShort{0x00010000u};
  h.root_dispersion = NtpShort{0x00010000u};
  h.reference_id = 0;
  h.origin_ts = NtpTimestamp{0x11111111u, 0x22222222u};
  h.receive_ts = NtpTimestamp{0x33333333u, 0x44444444u};
  h.transmit_ts = NtpTimestamp{0xE8E8E8E8u, 0x12345678u};
  return h;
}

Bytes encode(const NtpHeader& h) {
  Bytes b(kNtpHeaderLen);
  encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(b.data(), kNtpHeaderLen));
  return b;
}

ServedState synced_state() {
  ServedState s;
  s.leap = Leap::None;
  s.stratum = 2;
  s.refid = 0xC0000201u;
  s.reference_time = kRefTime;
  s.root_delay_s = 0.010;
  s.root_dispersion_s = 0.020;
  s.dispersion_rate = 1e-5;
  s.precision = -20;
  return s;
}

RequestContext context(const Bytes& req, std::uint16_t port = 40000) {
  RequestContext ctx;
  ctx.request = req;
  ctx.rx_time = kRx;
  ctx.client.ip = IpAddress::v4(0x7F000001u);
  ctx.client.port = port;
  ctx.allowed = true;
  return ctx;
}

struct Answer {
  ServerReply result;
  std::array<std::uint8_t, 64> buf{};
  [[nodiscard]] NtpHeader header() const {
    return decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(buf.data(), kNtpHeaderLen));
  }
};

Answer answer(const RequestContext& ctx, const ServedState& state = synced_state(),
              const ServerOptions& options = {}) {
  Answer a;
  a.buf.fill(0xEE);
  a.result = build_reply(ctx, state, options, a.buf);
  return a;
}

Answer answer(const Bytes& req, const ServedState& state = synced_state()) {
  return answer(context(req), state);
}

void add_words(Bytes& b, std::initializer_list<std::uint32_t> words) {
  for (std::uint32_t w : words) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(w >> s));
  }
}

std::uint32_t unfuzzed_fraction(TimePoint t) { return NtpTimestamp::from_time(t).fraction; }

}  // namespace

TEST_CASE("every field of a basic NTPv4 reply", "[server]") {
  const Bytes req = encode(request_header());
  const ServedState state = synced_state();
  Answer a = answer(context(req), state);
  REQUIRE(a.result.answered());
  REQUIRE(a.result.length == kNtpHeaderLen);
  CHECK(a.result.needs_transmit_stamp);
  CHECK_FALSE(a.result.interleaved);
  CHECK(a.buf[48] == 0xEE);  // nothing written past the reply

  const NtpHeader h = a.header();
  CHECK(h.leap == Leap::None);
  CHECK(h.version == 4);
  CHECK(h.mode == NtpMode::Server);
  CHECK(h.stratum == 2);
  CHECK(h.poll == 6);
  CHECK(h.precision == -20);
  CHECK(h.root_delay == NtpShort::from_seconds(0.010));
  // Root dispersion grows by rate * (rx - reference time) = 1e-5 * 100 s.
  CHECK(h.root_dispersion == NtpShort::from_seconds(0.020 + 100.0 * 1e-5));
  CHECK(h.reference_id == 0xC0000201u);
  CHECK(h.reference_ts == NtpTimestamp::from_time(kRefTime));
  CHECK(h.origin_ts == request_header().transmit_ts);
  // Receive: our rx time, lowest bit set, no fuzz given.
  const NtpTimestamp rx = NtpTimestamp::from_time(kRx);
  CHECK(h.receive_ts.seconds == rx.seconds);
  CHECK(h.receive_ts.fraction == (rx.fraction | 1u));
  CHECK(a.result.receive_ts == h.receive_ts);
  CHECK(h.receive_ts.to_time(kRx) - kRx <= Duration{1});
  CHECK(h.transmit_ts.is_zero());  // zero until stamped

  const TimePoint tx = kRx + Duration{25'000};
  stamp_transmit(std::span<std::uint8_t>(a.buf.data(), a.result.length), tx, 0, -20);
  const NtpHeader stamped = a.header();
  CHECK(stamped.transmit_ts.seconds == NtpTimestamp::from_time(tx).seconds);
  CHECK(stamped.transmit_ts.fraction == (unfuzzed_fraction(tx) & ~1u));
  // Stamping touches only the transmit timestamp.
  NtpHeader without_tx = stamped;
  without_tx.transmit_ts = h.transmit_ts;
  CHECK(without_tx == h);
}

TEST_CASE("root dispersion uses the age of the reference in either direction", "[server]") {
  ServedState s = synced_state();
  s.reference_time = kRx + Duration::seconds(50);  // reference after rx (clock stepped back)
  const Answer a = answer(encode(request_header()), s);
  CHECK(a.header().root_dispersion == NtpShort::from_seconds(0.020 + 50.0 * 1e-5));
  s.reference_time = kRx;
  CHECK(answer(encode(request_header()), s).header().root_dispersion ==
        NtpShort::from_seconds(0.020));
  s.root_dispersion_s = 1e9;  // saturates
  CHECK(answer(encode(request_header()), s).header().root_dispersion.raw == 0xFFFFFFFFu);
}

TEST_CASE("the reply echoes versions 1-4", "[server]") {
  for (std::uint8_t v = 1; v <= 4; ++v) {
    const Answer a = answer(encode(request_header(v)));
    REQUIRE(a.result.answered());
    CHECK(a.header().version == v);
    CHECK(a.header().mode == NtpMode::Server);
  }
}

TEST_CASE("modes", "[server]") {
  for (std::uint8_t v = 1; v <= 4; ++v) {
    for (std::uint8_t m = 0; m <= 7; ++m) {
      const Bytes req = encode(request_header(v, static_cast<NtpMode>(m)));
      INFO("version " << int{v} << " mode " << int{m});
      for (std::uint16_t port : std::initializer_list<std::uint16_t>{123, 40000}) {
        const Answer a = answer(context(req, port));
        if (m == 3) {
          REQUIRE(a.result.answered());
          CHECK(a.header().mode == NtpMode::Server);
        } else if (m == 1) {
          // Symmetric active from a stranger: a stateless passive answer.
          REQUIRE(a.result.answered());
          CHECK(a.header().mode == NtpMode::SymmetricPassive);
          CHECK(a.header().origin_ts == request_header().transmit_ts);
        } else if (m == 0 && v == 1 && port != 123) {
          // NTPv1 client (no mode field): answered in mode 4, never mode 0.
          REQUIRE(a.result.answered());
          CHECK(a.header().mode == NtpMode::Server);
          CHECK(a.header().version == 1);
        } else {
          // Mode 0 otherwise, 2, 4, 5 (no ping-pong), 6, 7.
          CHECK(a.result.reason == DropReason::BadMode);
          CHECK(a.result.length == 0);
        }
      }
    }
  }
}

TEST_CASE("unsynchronised answer", "[server]") {
  const ServedState unsynced;  // defaults: LI 3, stratum 0
  for (const ServedState& s : {unsynced, [] {
         ServedState x = synced_state();
         x.stratum = 16;  // stratum 16 and more: invalid, sent as unsynchronised
         return x;
       }(), [] {
         ServedState x = synced_state();
         x.stratum = 200;
         return x;
       }()}) {
    const Answer a = answer(encode(request_header()), s);
    REQUIRE(a.result.answered());
    const NtpHeader h = a.header();
    CHECK(h.leap == Leap::Unsynchronised);
    CHECK(h.stratum == 0);
    CHECK(h.reference_id == 0);
    CHECK(h.reference_ts.is_zero());
    CHECK(h.root_delay.raw == 0x00010000u);
    CHECK(h.root_dispersion.raw == 0x00010000u);
    CHECK(h.mode == NtpMode::Server);
    CHECK(h.origin_ts == request_header().transmit_ts);
    CHECK(h.receive_ts.seconds == NtpTimestamp::from_time(kRx).seconds);
  }
}

TEST_CASE("leap bits pass through; LI 3 during a leap keeps the stratum", "[server]") {
  ServedState s = synced_state();
  s.leap = Leap::Insert;
  CHECK(answer(encode(request_header()), s).header().leap == Leap::Insert);
  s.leap = Leap::Delete;
  CHECK(answer(encode(request_header()), s).header().leap == Leap::Delete);
  s.leap = Leap::Unsynchronised;
  const NtpHeader h = answer(encode(request_header()), s).header();
  CHECK(h.leap == Leap::Unsynchronised);
  CHECK(h.stratum == 2);
  CHECK(h.reference_id == 0xC0000201u);
}

TEST_CASE("local reference state", "[server][local]") {
  const ServedState s = local_reference_state(10, kRx, -22, 0x1234);
  CHECK(s.leap == Leap::None);
  CHECK(s.stratum == 10);
  CHECK(s.refid == kLocalRefid);
  CHECK(s.root_delay_s == 0.0);
  CHECK(s.root_dispersion_s == 0.0);
  CHECK(s.dispersion_rate == 0.0);
  CHECK(s.precision == -22);
  CHECK(s.synchronised());
  CHECK(local_reference_state(0, kRx, -20).stratum == 1);
  CHECK(local_reference_state(-5, kRx, -20).stratum == 1);
  CHECK(local_reference_state(16, kRx, -20).stratum == 15);
  LocalConfig cfg;
  cfg.enabled = true;
  cfg.stratum = 7;
  CHECK(local_reference_state(cfg, kRx, -20).stratum == 7);

  // The reference time lies 1..66 s behind now, holds within each 64-s window
  // and moves forward by 64 s (give or take the fuzz) between windows.
  std::set<std::int64_t> distinct;
  TimePoint previous_ref{};
  for (std::int64_t step = 0; step < 1000; ++step) {
    const TimePoint now = kRx + Duration::from_ms(step * 997);
    const TimePoint ref = local_reference_state(10, now, -20, 99).reference_time;
    const Duration age = now - ref;
    REQUIRE(age >= Duration::seconds(1));
    REQUIRE(age < Duration::seconds(66));
    REQUIRE(ref >= previous_ref);
    previous_ref = ref;
    distinct.insert(ref.unix_ns);
  }
  // ~997 s covered: 15 or 16 windows, each with one value.
  CHECK(distinct.size() >= 15);
  CHECK(distinct.size() <= 17);
  // Deterministic for a seed; the seed changes the fuzz.
  CHECK(local_reference_state(10, kRx, -20, 5).reference_time ==
        local_reference_state(10, kRx, -20, 5).reference_time);
  CHECK(local_reference_state(10, kRx, -20, 5).reference_time !=
        local_reference_state(10, kRx, -20, 6).reference_time);
  // Works before 1970 too (floor, not truncation).
  const TimePoint early{-1'000 * kNsPerS};
  const Duration early_age = early - local_reference_state(10, early, -20).reference_time;
  CHECK(early_age >= Duration::seconds(1));
  CHECK(early_age < Duration::seconds(66));
}

TEST_CASE("local reference answer (chrony's `local stratum 10`)", "[server][local]") {
  const ServedState s = local_reference_state(10, kRx, -20, 42);
  const Answer a = answer(encode(request_header()), s);
  REQUIRE(a.result.answered());
  const NtpHeader h = a.header();
  CHECK(h.leap == Leap::None);
  CHECK(h.stratum == 10);
  CHECK(h.reference_id == 0x7F7F0101u);
  CHECK(h.root_delay.raw == 0);
  CHECK(h.root_dispersion.raw == 0);
  const Duration age = kRx - h.reference_ts.to_time(kRx);
  CHECK(age >= Duration::seconds(1));
  CHECK(age < Duration::seconds(66));
}

TEST_CASE("all-zero and random request timestamps are answered correctly", "[server]") {
  NtpHeader zero = request_header();
  zero.origin_ts = {};
  zero.receive_ts = {};
  zero.transmit_ts = {};
  zero.reference_ts = {};
  const Answer a = answer(encode(zero));
  REQUIRE(a.result.answered());
  CHECK(a.header().origin_ts.is_zero());
  CHECK(a.header().receive_ts.seconds == NtpTimestamp::from_time(kRx).seconds);

  Bytes all_zero(kNtpHeaderLen, 0);
  all_zero[0] = (4 << 3) | 3;  // only version and mode
  REQUIRE(answer(all_zero).result.answered());

  std::mt19937_64 rng(5);
  for (int i = 0; i < 10'000; ++i) {
    NtpHeader h = request_header();
    h.origin_ts = NtpTimestamp::from_u64(rng());
    h.receive_ts = NtpTimestamp::from_u64(rng());
    h.transmit_ts = NtpTimestamp::from_u64(rng());
    h.reference_ts = NtpTimestamp::from_u64(rng());
    h.leap = static_cast<Leap>(rng() & 3);
    h.stratum = static_cast<std::uint8_t>(rng());
    const Answer r = answer(encode(h));
    REQUIRE(r.result.answered());
    REQUIRE(r.header().origin_ts == h.transmit_ts);
    REQUIRE(r.header().receive_ts.to_time(kRx) - kRx <= Duration{1});
    REQUIRE(r.header().receive_ts != r.header().origin_ts);
  }
}

TEST_CASE("hostile poll and precision are clamped", "[server]") {
  const auto poll_for = [](int client_poll, int min_poll) {
    NtpHeader h = request_header();
    h.poll = static_cast<std::int8_t>(client_poll);
    h.precision = -128;
    ServerOptions o;
    o.min_reply_poll = min_poll;
    return static_cast<int>(answer(context(encode(h)), synced_state(), o).header().poll);
  };
  CHECK(poll_for(127, -19) == kMaxReplyPoll);
  CHECK(poll_for(-128, -19) == -19);
  CHECK(poll_for(6, -19) == 6);
  CHECK(poll_for(0, -19) == 0);
  // The rate-limit interval raises the poll: max(client poll, interval).
  CHECK(poll_for(0, 3) == 3);
  CHECK(poll_for(6, 3) == 6);
  CHECK(poll_for(-128, 3) == 3);
  CHECK(poll_for(127, 3) == kMaxReplyPoll);
  CHECK(poll_for(-5, -100) == -5);
  CHECK(poll_for(-128, -100) == kMinReplyPoll);

  // Our own precision is clamped to [-32, 0]; the client's is ignored.
  ServedState s = synced_state();
  s.precision = -128;
  const Answer a = answer(encode(request_header()), s);
  CHECK(a.header().precision == -32);
  s.precision = 100;
  CHECK(answer(encode(request_header()), s).header().precision == 0);
}

TEST_CASE("fuzz stays below the precision", "[server]") {
  for (int precision : {-32, -30, -24, -20, -10, -1, 0}) {
    ServedState s = synced_state();
    s.precision = static_cast<std::int8_t>(precision);
    const Bytes req = encode(request_header());
    RequestContext ctx = context(req);
    ctx.rx_fuzz = 0xFFFFFFFFu;
    const Answer a = answer(ctx, s);
    // Fuzzed bits, plus the lowest bit (the interleaved marker).
    const std::uint64_t mask = (precision == 0 ? 0xFFFFFFFFull : ((1ull << (32 + precision)) - 1)) | 1u;
    const NtpTimestamp exact = NtpTimestamp::from_time(kRx);
    const NtpTimestamp got = a.header().receive_ts;
    INFO("precision " << precision);
    CHECK(got.seconds == exact.seconds);
    CHECK((got.fraction & ~static_cast<std::uint32_t>(mask)) == (exact.fraction & ~static_cast<std::uint32_t>(mask)));
    CHECK((got.fraction & 1u) == 1u);
    if (precision > -31) CHECK(got.fraction != (exact.fraction | 1u));  // fuzz applied

    std::array<std::uint8_t, 48> reply{};
    std::memcpy(reply.data(), a.buf.data(), reply.size());
    stamp_transmit(reply, kRx, 0xFFFFFFFFu, static_cast<std::int8_t>(precision));
    const NtpTimestamp tx = load_timestamp(reply.data() + kTransmitTsOffset);
    CHECK(tx.seconds == exact.seconds);
    CHECK((tx.fraction & ~static_cast<std::uint32_t>(mask)) == (exact.fraction & ~static_cast<std::uint32_t>(mask)));
    CHECK((tx.fraction & 1u) == 0u);
  }
  // A hostile precision argument is clamped, never a shift count.
  std::array<std::uint8_t, 48> reply{};
  stamp_transmit(reply, kRx, 0xFFFFFFFFu, -128);
  CHECK(load_timestamp(reply.data() + kTransmitTsOffset).fraction == (unfuzzed_fraction(kRx) & ~1u));
  stamp_transmit(reply, kRx, 0xFFFFFFFFu, 127);
  CHECK(load_timestamp(reply.data() + kTransmitTsOffset).seconds == NtpTimestamp::from_time(kRx).seconds);
}

TEST_CASE("receive and transmit never equal the origin", "[server]") {
  // A request whose transmit timestamp equals the receive timestamp we will send.
  NtpHeader h = request_header();
  NtpTimestamp ours = NtpTimestamp::from_time(kRx);
  ours.fraction |= 1u;
  h.transmit_ts = ours;
  const Answer a = answer(encode(h));
  REQUIRE(a.result.answered());
  CHECK(a.header().origin_ts == ours);
  CHECK(a.header().receive_ts != ours);
  CHECK(a.header().receive_ts.to_time(kRx) - kRx <= Duration{1});

  // And a transmit time whose stamp would equal the origin.
  NtpHeader g = request_header();
  const TimePoint tx = kRx + Duration::from_ms(1);
  NtpTimestamp tx_ts = NtpTimestamp::from_time(tx);
  tx_ts.fraction &= ~1u;
  g.transmit_ts = tx_ts;
  Answer b = answer(encode(g));
  REQUIRE(b.result.answered());
  stamp_transmit(std::span<std::uint8_t>(b.buf.data(), 48), tx, 0, -20);
  const NtpHeader stamped = b.header();
  CHECK(stamped.transmit_ts != stamped.origin_ts);
  CHECK(stamped.transmit_ts != stamped.receive_ts);
  CHECK(stamped.transmit_ts.to_time(tx) - tx <= Duration{1});
  CHECK(tx - stamped.transmit_ts.to_time(tx) <= Duration{1});
}

TEST_CASE("drop reasons", "[server]") {
  const Bytes good = encode(request_header());

  for (std::size_t n = 0; n < kNtpHeaderLen; ++n) {
    const Bytes b(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    REQUIRE(answer(b).result.reason == DropReason::TooShort);
  }
  for (std::size_t n : {49u, 50u, 51u, 54u}) {
    Bytes b = good;
    b.resize(n, 0);
    CHECK(answer(b).result.reason == DropReason::BadLength);
  }
  {
    Bytes huge = good;
    huge.resize(65536, 0);
    CHECK(answer(huge).result.reason == DropReason::BadLength);
  }
  for (std::uint8_t v : std::initializer_list<std::uint8_t>{0, 5, 6, 7}) {
    CHECK(answer(encode(request_header(v))).result.reason == DropReason::BadVersion);
  }
  {
    Bytes b = good;
    add_words(b, {0x01040003u, 0, 0, 0, 0, 0, 0, 0});  // field length 3
    CHECK(answer(b).result.reason == DropReason::BadExtension);
  }
  {
    RequestContext ctx = context(good);
    ctx.allowed = false;
    CHECK(answer(ctx).result.reason == DropReason::Denied);
    // Malformed packets from denied hosts count as malformed, as in chrony.
    Bytes short_req(20, 0);
    ctx.request = short_req;
    CHECK(answer(ctx).result.reason == DropReason::TooShort);
  }
  {
    RequestContext ctx = context(good);
    ctx.from_self = true;
    CHECK(answer(ctx).result.reason == DropReason::FromSelf);
  }
  SECTION("any MAC fails without keys") {
    Bytes nak = good;
    add_words(nak, {0});
    CHECK(answer(nak).result.reason == DropReason::AuthFailed);
    for (int digest_words : {4, 5}) {
      Bytes mac = good;
      add_words(mac, {7});
      for (int i = 0; i < digest_words; ++i) add_words(mac, {0xABCDEF01u});
      CHECK(answer(mac).result.reason == DropReason::AuthFailed);
    }
    Bytes v3 = encode(request_header(3));
    add_words(v3, {7, 1, 2, 3, 4, 5, 6, 7, 8});  // SHA256-sized MAC
    CHECK(answer(v3).result.reason == DropReason::AuthFailed);
  }
  SECTION("NTS fields without NTS") {
    for (std::uint16_t type : std::initializer_list<std::uint16_t>{0x0104, 0x0204, 0x0304, 0x0404}) {
      Bytes b = good;
      add_words(b, {(static_cast<std::uint32_t>(type) << 16) | 36u, 1, 2, 3, 4, 5, 6, 7, 8});
      CHECK(answer(b).result.reason == DropReason::AuthFailed);
    }
  }
  SECTION("an unknown extension field is ignored, and the reply is shorter") {
    Bytes b = good;
    add_words(b, {0x7777001Cu, 1, 2, 3, 4, 5, 6});
    const Answer a = answer(b);
    REQUIRE(a.result.answered());
    CHECK(a.result.length == kNtpHeaderLen);
    CHECK(a.result.length < b.size());
  }
  SECTION("rate limiting") {
    RequestContext ctx = context(good);
    ctx.rate = RateDecision::Drop;
    CHECK(answer(ctx).result.reason == DropReason::RateLimited);
    ctx.rate = RateDecision::Kod;
    const Answer a = answer(ctx);
    REQUIRE(a.result.answered());
    const NtpHeader h = a.header();
    CHECK(h.leap == Leap::Unsynchronised);
    CHECK(h.stratum == 0);
    CHECK(h.reference_id == kKodRate);
    CHECK(h.origin_ts == request_header().transmit_ts);
    CHECK(h.mode == NtpMode::Server);
  }
  SECTION("no room in the output buffer") {
    std::array<std::uint8_t, 47> small{};
    const ServerReply r = build_reply(context(good), synced_state(), {}, small);
    CHECK(r.reason == DropReason::NoRoom);
    CHECK(r.length == 0);
  }
}

TEST_CASE("drop reason names", "[server]") {
  std::set<std::string> texts;
  std::set<std::string> metrics;
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    const auto r = static_cast<DropReason>(i);
    const std::string m = metric_name(r);
    texts.insert(to_string(r));
    metrics.insert(m);
    CHECK_FALSE(m.empty());
    for (char c : m) CHECK(((c >= 'a' && c <= 'z') || c == '_'));
  }
  CHECK(texts.size() == kDropReasonCount);
  CHECK(metrics.size() == kDropReasonCount);
  CHECK(std::string(metric_name(DropReason::TooShort)) == "too_short");
  CHECK(std::string(metric_name(DropReason::Denied)) == "denied");
}

TEST_CASE("two-phase API matches build_reply", "[server]") {
  const Bytes req = encode(request_header());
  const RequestContext ctx = context(req);
  ParsedPacket parsed;
  REQUIRE(check_request(ctx, parsed) == DropReason::None);
  std::array<std::uint8_t, 48> one{};
  std::array<std::uint8_t, 48> two{};
  const ServerReply r1 = write_reply(parsed, ctx, synced_state(), {}, one);
  const ServerReply r2 = build_reply(ctx, synced_state(), {}, two);
  CHECK(r1.length == r2.length);
  CHECK(one == two);
}

TEST_CASE("interleaved replies", "[server][xleave]") {
  NtpHeader h = request_header();
  h.origin_ts = NtpTimestamp{0xE9000000u, 0x00000101u};  // one of our receive timestamps (odd)
  h.receive_ts = NtpTimestamp{0xE9000000u, 0x55555555u};
  h.transmit_ts = NtpTimestamp{0xE9000001u, 0x66666666u};
  CHECK(is_interleaved_request(h));
  {
    NtpHeader basic = h;
    basic.origin_ts.fraction &= ~1u;
    CHECK_FALSE(is_interleaved_request(basic));
    NtpHeader same = h;
    same.receive_ts = same.transmit_ts;
    CHECK_FALSE(is_interleaved_request(same));
    NtpHeader v3 = h;
    v3.version = 3;
    CHECK_FALSE(is_interleaved_request(v3));
  }

  const Bytes req = encode(h);
  RequestContext ctx = context(req);
  const TimePoint prev_tx = kRx - Duration::from_ms(1000);
  ctx.interleaved_tx = prev_tx;
  Answer a = answer(ctx);
  REQUIRE(a.result.answered());
  CHECK(a.result.interleaved);
  CHECK_FALSE(a.result.needs_transmit_stamp);
  const NtpHeader r = a.header();
  CHECK(r.origin_ts == h.receive_ts);
  CHECK(r.transmit_ts.seconds == NtpTimestamp::from_time(prev_tx).seconds);
  CHECK(r.transmit_ts.fraction == (unfuzzed_fraction(prev_tx) & ~1u));
  CHECK((r.receive_ts.fraction & 1u) == 1u);

  // Not with a KoD, and not before NTPv4.
  ctx.rate = RateDecision::Kod;
  Answer k = answer(ctx);
  REQUIRE(k.result.answered());
  CHECK_FALSE(k.result.interleaved);
  CHECK(k.result.needs_transmit_stamp);
  CHECK(k.header().origin_ts == h.transmit_ts);

  NtpHeader h3 = h;
  h3.version = 3;
  const Bytes req3 = encode(h3);
  RequestContext ctx3 = context(req3);
  ctx3.interleaved_tx = prev_tx;
  CHECK_FALSE(answer(ctx3).result.interleaved);
}

TEST_CASE("a reply is never longer than its request (random and mutated requests)",
          "[server][fuzz]") {
  std::vector<Bytes> seeds;
  for (std::uint8_t v = 1; v <= 4; ++v) {
    for (std::uint8_t m = 0; m <= 7; ++m) seeds.push_back(encode(request_header(v, static_cast<NtpMode>(m))));
  }
  {
    Bytes b = encode(request_header());
    add_words(b, {0x7777001Cu, 1, 2, 3, 4, 5, 6});
    seeds.push_back(b);
    add_words(b, {9, 1, 2, 3, 4});
    seeds.push_back(b);
  }

  std::mt19937_64 rng(31337);
  const std::array<ServedState, 3> states = {synced_state(), ServedState{},
                                             local_reference_state(10, kRx, -20)};
  int answered = 0;
  int dropped = 0;
  std::array<int, kDropReasonCount> by_reason{};
  for (int i = 0; i < 200'000; ++i) {
    Bytes b;
    if (i % 3 == 0) {
      b.resize(rng() % 200);
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    } else {
      b = seeds[rng() % seeds.size()];
      for (int m = static_cast<int>(rng() % 4); m >= 0; --m) {
        switch (rng() % 4) {
          case 0:
            if (!b.empty()) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
            break;
          case 1:
            b.resize(rng() % (b.size() + 8));
            break;
          case 2:
            for (int k = static_cast<int>(rng() % 16); k > 0; --k) b.push_back(static_cast<std::uint8_t>(rng()));
            break;
          case 3:
            if (!b.empty()) b[0] = static_cast<std::uint8_t>(rng());
            break;
        }
      }
    }
    b.shrink_to_fit();
    RequestContext ctx = context(b, static_cast<std::uint16_t>(rng() % 2 ? 123 : rng()));
    ctx.allowed = rng() % 8 != 0;
    ctx.rate = static_cast<RateDecision>(rng() % 3);
    ctx.rx_fuzz = static_cast<std::uint32_t>(rng());
    ctx.tx_fuzz = static_cast<std::uint32_t>(rng());
    if (rng() % 4 == 0) ctx.interleaved_tx = kRx - Duration::seconds(1);
    ServerOptions opts;
    opts.min_reply_poll = static_cast<int>(rng() % 40) - 20;
    std::array<std::uint8_t, 1200> out{};
    const ServerReply r = build_reply(ctx, states[rng() % states.size()], opts, out);
    if (r.answered()) {
      ++answered;
      REQUIRE(r.length == kNtpHeaderLen);
      REQUIRE(r.length <= b.size());
      if (r.needs_transmit_stamp) {
        stamp_transmit(std::span<std::uint8_t>(out.data(), r.length), kRx,
                       static_cast<std::uint32_t>(rng()),
                       static_cast<std::int8_t>(static_cast<std::uint8_t>(rng())));
      }
      const NtpHeader h = decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(out.data(), kNtpHeaderLen));
      const NtpHeader q = decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(b.data(), kNtpHeaderLen));
      REQUIRE((h.mode == NtpMode::Server || h.mode == NtpMode::SymmetricPassive));
      REQUIRE(h.version == q.version);
      REQUIRE(h.origin_ts == (r.interleaved ? q.receive_ts : q.transmit_ts));
      REQUIRE(h.poll >= kMinReplyPoll);
      REQUIRE(h.poll <= kMaxReplyPoll);
      REQUIRE(h.receive_ts != h.origin_ts);
      REQUIRE(h.transmit_ts != h.origin_ts);
    } else {
      ++dropped;
      REQUIRE(r.length == 0);
      ++by_reason[static_cast<std::size_t>(r.reason)];
    }
  }
  CHECK(answered > 1000);
  CHECK(dropped > 1000);
  for (DropReason reason : {DropReason::TooShort, DropReason::BadLength, DropReason::BadVersion,
                            DropReason::BadMode, DropReason::BadExtension, DropReason::Denied,
                            DropReason::AuthFailed, DropReason::RateLimited}) {
    INFO(metric_name(reason));
    CHECK(by_reason[static_cast<std::size_t>(reason)] > 0);
  }
}
