// lib/source.hpp, interleaved mode (`xleave`): the Source against gnomon's
// own server core (lib/server.hpp), which answers in interleaved mode when a
// request's origin is the receive timestamp of its previous reply to that
// client. The server's basic-mode transmit timestamp is read before the reply
// leaves, and the client's own transmit time before the request leaves, as a
// daemon's are; the kernel stamps are exact. Interleaved mode must remove
// both errors.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <optional>

#include "lib/packet.hpp"
#include "lib/server.hpp"
#include "lib/source.hpp"
#include "tests/unit/seeded_rng.hpp"

using namespace gnomon;

namespace {

constexpr std::int64_t kMarch15 = 1710504000;  // 2024-03-15 12:00:00 UTC

using TestRng = test::SeededRng;

struct Exchange {
  std::optional<ReplyResult> result;  // nullopt: the request or reply was lost
  NtpHeader request;
  bool server_interleaved = false;    // the server answered in interleaved mode
  NtpTimestamp reply_receive{};       // the receive timestamp the server sent
};

// One client and one server on a simulated network. The client's clock is
// true time plus `client_error_s`; the server's is true time plus
// `server_ahead_s`.
struct Net {
  SocketAddress server_addr = *SocketAddress::parse("192.0.2.1:123", 123);
  SocketAddress client_addr = *SocketAddress::parse("192.0.2.9:40000", 123);
  Source src;
  TestRng rng{7};
  double server_ahead_s = 0.0123;
  double client_error_s = 0.0;
  double out_s = 0.0004;             // network delay client -> server
  double back_s = 0.0004;            // network delay server -> client
  double server_hold_s = 0.00002;    // server rx to the reply leaving
  double server_tx_lead_s = 60e-6;   // basic transmit timestamp read this early
  double client_tx_lead_s = 20e-6;   // the client's own send time read this early
  bool server_supports_xleave = true;
  bool kernel_tx_at_client = true;   // the client knows when its request left
  ServedState state;
  // The server's memory of this client: its last receive timestamp as sent,
  // and when that reply really left (server clock).
  NtpTimestamp saved_rx{};
  std::optional<TimePoint> saved_tx;
  TimePoint true_now{kMarch15 * kNsPerS};

  explicit Net(const SourceOptions& o) : src(server_addr, o) {
    state.leap = Leap::None;
    state.stratum = 1;
    state.refid = 0x47505300u;  // "GPS"
    state.root_delay_s = 0.0;
    state.root_dispersion_s = 0.00001;
    state.precision = -20;
    src.start(local(true_now));
  }

  [[nodiscard]] TimePoint local(TimePoint t) const { return t + Duration::from_seconds(client_error_s); }
  [[nodiscard]] TimePoint server_clock(TimePoint t) const {
    return t + Duration::from_seconds(server_ahead_s);
  }

  Exchange exchange(bool lose_request = false, bool lose_reply = false) {
    Exchange ex;
    REQUIRE(src.next_timer().has_value());
    const TimePoint fire_local = *src.next_timer();
    true_now = fire_local - Duration::from_seconds(client_error_s);
    TimerAction a = src.handle_timer(fire_local, rng);
    REQUIRE(a.request.has_value());
    ex.request = decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(a.request->bytes.data(), kNtpHeaderLen));
    const TimePoint departs = true_now + Duration::from_seconds(client_tx_lead_s);
    if (lose_request) return ex;

    // The server, as the daemon drives lib/server.hpp.
    const TimePoint arrives = departs + Duration::from_seconds(out_s);
    RequestContext ctx;
    ctx.request = a.request->data();
    ctx.rx_time = server_clock(arrives);
    ctx.client = client_addr;
    ctx.allowed = true;
    if (server_supports_xleave && is_interleaved_request(ex.request) && ex.request.origin_ts == saved_rx &&
        saved_tx) {
      ctx.interleaved_tx = saved_tx;
    }
    std::array<std::uint8_t, kMaxNtpPacketLen> buf{};
    const ServerReply reply = build_reply(ctx, state, ServerOptions{}, buf);
    REQUIRE(reply.answered());
    const TimePoint leaves = arrives + Duration::from_seconds(server_hold_s);
    if (reply.needs_transmit_stamp) {
      stamp_transmit(std::span<std::uint8_t>(buf.data(), reply.length),
                     server_clock(leaves) - Duration::from_seconds(server_tx_lead_s), 0, state.precision);
    }
    ex.server_interleaved = reply.interleaved;
    ex.reply_receive = reply.receive_ts;
    saved_rx = reply.receive_ts;
    saved_tx = server_clock(leaves);
    if (lose_reply) return ex;

    ReplyContext rc;
    rc.rx_time = local(leaves + Duration::from_seconds(back_s));
    rc.tx_time = kernel_tx_at_client ? local(departs) : fire_local;
    rc.tx_source = kernel_tx_at_client ? TimestampSource::Kernel : TimestampSource::Daemon;
    rc.rx_source = TimestampSource::Kernel;
    rc.from = server_addr;
    true_now = leaves + Duration::from_seconds(back_s);
    ex.result = src.handle_reply(std::span<const std::uint8_t>(buf.data(), reply.length), rc);
    return ex;
  }

  // Source minus local is server_ahead_s - client_error_s; gnomon's offsets
  // are local minus source.
  [[nodiscard]] double true_offset_s() const { return client_error_s - server_ahead_s; }
};

SourceOptions xleave_options() {
  SourceOptions o;
  o.minpoll = 4;
  o.maxpoll = 4;
  o.xleave = true;
  return o;
}

constexpr double kTimestampResolutionS = 5e-9;

}  // namespace

TEST_CASE("xleave: basic first, then interleaved samples free of the send-time errors", "[source][xleave]") {
  Net net(xleave_options());

  // Exchange 1: nothing to interleave with yet, so a basic request.
  Exchange e1 = net.exchange();
  CHECK(e1.request.origin_ts.is_zero());
  CHECK(e1.request.receive_ts.is_zero());
  CHECK_FALSE(e1.server_interleaved);
  REQUIRE(e1.result->disposition == ReplyDisposition::Accepted);
  CHECK_FALSE(net.src.ntp_data().interleaved);
  // Basic mode: the server's early transmit stamp and our kernel stamp
  // leave an error of half the server's lead.
  const double basic_error = e1.result->sample->offset_s - net.true_offset_s();
  CHECK(basic_error == Approx(net.server_tx_lead_s / 2).margin(kTimestampResolutionS));
  CHECK(e1.result->sample->peer_delay_s ==
        Approx(net.out_s + net.back_s + net.server_tx_lead_s).margin(kTimestampResolutionS));

  // Exchange 2: an interleaved request: origin = the server's receive
  // timestamp of reply 1, receive = a cookie, unlike the transmit timestamp.
  Exchange e2 = net.exchange();
  CHECK(e2.request.origin_ts == e1.reply_receive);
  CHECK_FALSE(e2.request.receive_ts.is_zero());
  CHECK(e2.request.receive_ts != e2.request.transmit_ts);
  REQUIRE(e2.server_interleaved);
  // Its sample would be of exchange 1 again, whose basic sample was used:
  // test A fails it.
  CHECK(e2.result->disposition == ReplyDisposition::Rejected);
  CHECK_FALSE(e2.result->tests.testA());
  CHECK(net.src.ntp_data().interleaved);

  // From then on every sample is interleaved and exact. The outbound delay
  // changes at every request: each sample must be of the previous exchange.
  TimePoint last_sample_time = e1.result->sample->time;
  for (int i = 0; i < 10; ++i) {
    const double previous_out_s = net.out_s;
    net.out_s = 0.0004 - 0.00002 * i;  // falling: a rising delay would fail test C
    Exchange e = net.exchange();
    REQUIRE(e.server_interleaved);
    REQUIRE(e.result->disposition == ReplyDisposition::Accepted);
    const NtpSample& s = *e.result->sample;
    const double asymmetry_error = (net.back_s - previous_out_s) / 2;
    CHECK(s.offset_s == Approx(net.true_offset_s() + asymmetry_error).margin(kTimestampResolutionS));
    CHECK(s.peer_delay_s == Approx(previous_out_s + net.back_s).margin(kTimestampResolutionS));
    // The sample is of the previous exchange, a poll interval back.
    CHECK(s.time > last_sample_time);
    const double since_s = (net.local(net.true_now) - s.time).to_seconds();  // one poll, stretched 0..2 %
    CHECK(since_s >= 16.0 - 0.01);
    CHECK(since_s <= 16.0 * 1.02 + 0.01);
    last_sample_time = s.time;
    const NtpDataReport& d = net.src.ntp_data();
    CHECK(d.interleaved);
    CHECK(d.tx_source == TimestampSource::Kernel);
    CHECK(d.rx_source == TimestampSource::Kernel);
    CHECK(d.response_time_s == Approx(net.server_hold_s).margin(kTimestampResolutionS));
  }
  CHECK(net.src.ntp_data().total_kernel_tx == 12);
}

TEST_CASE("xleave: a server without interleaved mode is used in basic mode", "[source][xleave]") {
  Net net(xleave_options());
  net.server_supports_xleave = false;
  for (int i = 0; i < 6; ++i) {
    Exchange e = net.exchange();
    if (i > 0) CHECK_FALSE(e.request.origin_ts.is_zero());  // we keep asking
    CHECK_FALSE(e.server_interleaved);
    REQUIRE(e.result->disposition == ReplyDisposition::Accepted);
    CHECK_FALSE(net.src.ntp_data().interleaved);
    CHECK(e.result->sample->offset_s - net.true_offset_s() ==
          Approx(net.server_tx_lead_s / 2).margin(kTimestampResolutionS));
  }
}

TEST_CASE("xleave: without xleave requests stay basic and minimal", "[source][xleave]") {
  SourceOptions o = xleave_options();
  o.xleave = false;
  Net net(o);
  for (int i = 0; i < 4; ++i) {
    Exchange e = net.exchange();
    CHECK(e.request.origin_ts.is_zero());
    CHECK(e.request.receive_ts.is_zero());
    CHECK_FALSE(e.server_interleaved);
    CHECK(e.result->disposition == ReplyDisposition::Accepted);
  }
}

TEST_CASE("xleave: lost packets fall back to basic mode and recover", "[source][xleave]") {
  Net net(xleave_options());
  for (int i = 0; i < 4; ++i) net.exchange();
  REQUIRE(net.src.ntp_data().interleaved);

  // A reply lost after the server saw the request: the next request's origin
  // is the older receive timestamp, so the server answers in basic mode, and
  // the basic sample is used.
  net.exchange(false, true);
  Exchange after_lost_reply = net.exchange();
  CHECK_FALSE(after_lost_reply.server_interleaved);
  CHECK(after_lost_reply.result->disposition == ReplyDisposition::Accepted);
  CHECK_FALSE(net.src.ntp_data().interleaved);
  // The next interleaved reply refers to that accumulated exchange: rejected
  // once, then interleaved samples again.
  CHECK(net.exchange().result->disposition == ReplyDisposition::Rejected);
  Exchange back = net.exchange();
  CHECK(back.server_interleaved);
  CHECK(back.result->disposition == ReplyDisposition::Accepted);
  CHECK(back.result->sample->offset_s == Approx(net.true_offset_s()).margin(kTimestampResolutionS));

  // A lost request: the server still holds the exchange our next request
  // refers to, and its interleaved reply is good.
  net.exchange(true);
  Exchange after_lost_request = net.exchange();
  CHECK(after_lost_request.server_interleaved);
  REQUIRE(after_lost_request.result->disposition == ReplyDisposition::Accepted);
  CHECK(after_lost_request.result->sample->offset_s ==
        Approx(net.true_offset_s()).margin(kTimestampResolutionS));

  // Four requests in a row unanswered: the next one is basic, so that a
  // server never answers with a very old transmit timestamp.
  for (int i = 0; i < 4; ++i) net.exchange(true);
  Exchange fresh = net.exchange();
  CHECK(fresh.request.origin_ts.is_zero());
  CHECK(fresh.request.receive_ts.is_zero());
  CHECK(fresh.result->disposition == ReplyDisposition::Accepted);
}

TEST_CASE("xleave: a round trip long against the poll uses the two one-way legs", "[source][xleave]") {
  SourceOptions o = xleave_options();
  o.minpoll = 0;
  o.maxpoll = 0;
  o.max_delay_s = 3.0;
  Net net(o);
  net.out_s = 0.15;
  net.back_s = 0.17;
  for (int i = 0; i < 2; ++i) net.exchange();
  for (int i = 0; i < 6; ++i) {
    net.out_s = 0.15 - 0.01 * i;  // only this request's leg tells the branches apart
    Exchange e = net.exchange();
    REQUIRE(e.server_interleaved);
    REQUIRE(e.result->disposition == ReplyDisposition::Accepted);
    // Our receive of the previous reply and our send of this request: the
    // delay is one leg each way, and the offset is off by half the legs'
    // asymmetry, as any NTP measurement is.
    const double asymmetry_error = (net.back_s - net.out_s) / 2;
    CHECK(e.result->sample->offset_s ==
          Approx(net.true_offset_s() + asymmetry_error).margin(kTimestampResolutionS));
    CHECK(e.result->sample->peer_delay_s == Approx(net.out_s + net.back_s).margin(kTimestampResolutionS));
  }
}

TEST_CASE("xleave: without a kernel transmit time, interleaved still removes the server's error",
          "[source][xleave]") {
  Net net(xleave_options());
  net.kernel_tx_at_client = false;
  for (int i = 0; i < 2; ++i) net.exchange();
  Exchange e = net.exchange();
  REQUIRE(e.result->disposition == ReplyDisposition::Accepted);
  // Only our own early send time is left: half of it.
  CHECK(e.result->sample->offset_s - net.true_offset_s() ==
        Approx(-net.client_tx_lead_s / 2).margin(kTimestampResolutionS));
  CHECK(net.src.ntp_data().tx_source == TimestampSource::Daemon);
}

TEST_CASE("xleave bad input: replies that match no request are invalid", "[source][xleave][bad]") {
  Net net(xleave_options());
  for (int i = 0; i < 3; ++i) net.exchange();
  const std::uint32_t valid_before = net.src.ntp_data().total_valid_rx;

  // A request goes out; forged replies carry the wrong origin: the previous
  // request's cookie, the server's own receive timestamp, zero.
  REQUIRE(net.src.next_timer().has_value());
  const TimePoint t = *net.src.next_timer();
  TimerAction a = net.src.handle_timer(t, net.rng);
  REQUIRE(a.request.has_value());
  const NtpHeader req = decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(a.request->bytes.data(), kNtpHeaderLen));
  for (const NtpTimestamp origin : {req.origin_ts, NtpTimestamp{}, NtpTimestamp{1, 2}}) {
    NtpHeader h;
    h.leap = Leap::None;
    h.version = 4;
    h.mode = NtpMode::Server;
    h.stratum = 1;
    h.origin_ts = origin;
    h.receive_ts = NtpTimestamp::from_time(t);
    h.transmit_ts = NtpTimestamp::from_time(t + Duration::from_ms(1));
    std::array<std::uint8_t, kNtpHeaderLen> bytes{};
    encode_header(h, bytes);
    ReplyContext rc;
    rc.rx_time = t + Duration::from_ms(2);
    rc.tx_time = t;
    rc.from = net.server_addr;
    const ReplyResult r = net.src.handle_reply(bytes, rc);
    CHECK(r.disposition == ReplyDisposition::Invalid);
    CHECK_FALSE(r.tests.test2());
  }
  CHECK(net.src.ntp_data().total_valid_rx == valid_before);
}

TEST_CASE("xleave: a clock step moves the kept timestamps with the clock", "[source][xleave]") {
  Net net(xleave_options());
  for (int i = 0; i < 4; ++i) net.exchange();
  // The clock is stepped back by 0.5 s: local time reads 0.5 s less from now.
  net.src.on_clock_stepped(Duration::from_seconds(0.5));
  net.client_error_s -= 0.5;
  for (int i = 0; i < 4; ++i) {
    Exchange e = net.exchange();
    REQUIRE(e.result.has_value());
    if (e.result->disposition == ReplyDisposition::Accepted) {
      CHECK(e.result->sample->offset_s == Approx(net.true_offset_s()).margin(kTimestampResolutionS));
    }
  }
  CHECK(net.src.ntp_data().interleaved);
  CHECK(net.src.ntp_data().offset_s == Approx(net.true_offset_s()).margin(kTimestampResolutionS));
}
