// chrony command protocol: codec (floats, addresses, timespecs, lengths,
// layouts, round trips) and the daemon-side handler's rules, including every
// row of the "Control channel" table of the bad-input checklist.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "lib/cmdmon.hpp"
#include "lib/cmdmon_server.hpp"

using namespace gnomon;
using namespace gnomon::cmdmon;

namespace {

std::uint16_t be16(const std::vector<std::uint8_t>& b, std::size_t o) {
  return static_cast<std::uint16_t>(b.at(o) << 8 | b.at(o + 1));
}
std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t o) {
  return static_cast<std::uint32_t>(be16(b, o)) << 16 | be16(b, o + 2);
}
void set16(std::vector<std::uint8_t>& b, std::size_t o, std::uint16_t v) {
  b.at(o) = static_cast<std::uint8_t>(v >> 8);
  b.at(o + 1) = static_cast<std::uint8_t>(v);
}
void set32(std::vector<std::uint8_t>& b, std::size_t o, std::uint32_t v) {
  set16(b, o, static_cast<std::uint16_t>(v >> 16));
  set16(b, o + 2, static_cast<std::uint16_t>(v));
}

// Request with a valid header for `command`, `length` bytes long.
std::vector<std::uint8_t> raw_request(std::uint16_t command, std::size_t length, std::uint8_t version = 6) {
  std::vector<std::uint8_t> p(length, 0);
  if (length >= 1) p[0] = version;
  if (length >= 2) p[1] = 1;
  if (length >= 6) set16(p, 4, command);
  if (length >= 12) set32(p, 8, 0xA1B2C3D4u);
  return p;
}

ReplyHeader header_for(Command c) {
  ReplyHeader h;
  h.command = static_cast<std::uint16_t>(c);
  h.sequence = 0x01020304u;
  return h;
}

// A provider with two sources, recording the actions asked of it.
class FakeProvider : public ControlDataProvider {
 public:
  std::uint32_t source_count() const override { return 2; }
  std::optional<SourceReport> source(std::uint32_t index) const override {
    if (index >= 2) return std::nullopt;
    SourceReport r;
    r.address = index == 0 ? Address::inet4(0x7F000001u) : Address::inet4(0x4C4F434Cu);
    r.mode = index == 0 ? SourceMode::Client : SourceMode::Reference;
    r.state = index == 0 ? SourceState::Selected : SourceState::Unusable;
    r.stratum = index == 0 ? 8 : 10;
    r.poll_log2 = -2;
    r.reachability = 0377;
    r.last_sample_ago_s = 14;
    r.original_offset_s = -1.051e-6;
    r.adjusted_offset_s = -0.835e-6;
    r.error_s = 3.137e-6;
    return r;
  }
  std::optional<SourcestatsReport> sourcestats(std::uint32_t index) const override {
    if (index >= 2) return std::nullopt;
    SourcestatsReport r;
    r.address = Address::inet4(0x7F000001u);
    r.samples = 27;
    r.runs = 13;
    r.span_s = 151;
    return r;
  }
  TrackingReport tracking() const override {
    TrackingReport r;
    r.ref_id = 0x7F000001u;
    r.address = Address::inet4(0x7F000001u);
    r.stratum = 9;
    r.leap = Leap::None;
    r.ref_time = TimePoint{1795785093LL * kNsPerS + 638425793};
    r.current_correction_s = -7.27e-7;
    r.freq_ppm = -0.001;
    return r;
  }
  ActivityReport activity() const override { return ActivityReport{3, 0, 0, 0, 1}; }
  std::optional<std::string> source_name(const Address& a) const override {
    if (a == Address::inet4(0x7F000001u)) return std::string("localhost");
    return std::nullopt;
  }
  std::optional<SelectDataReport> selectdata(std::uint32_t index) const override {
    if (index >= 2) return std::nullopt;
    SelectDataReport r;
    r.state = '*';
    r.address = Address::inet4(0x7F000001u);
    return r;
  }
  std::optional<NtpDataReport> ntp_data(const Address& remote) const override {
    if (!(remote == Address::inet4(0x7F000001u))) return std::nullopt;
    NtpDataReport r;
    r.remote_address = remote;
    r.remote_port = 11123;
    r.total_tx = 41;
    return r;
  }
  ServerStatsReport server_stats() const override {
    ServerStatsReport r;
    r.ntp_hits = 71;
    r.ntp_drops = 2;
    r.cmd_hits = 0x1'0000'0005ULL;  // more than 32 bits
    r.ntp_kernel_rx_timestamps = 70;
    return r;
  }
  std::optional<ClientAccessesPage> client_accesses(std::uint32_t first, std::uint32_t max, std::uint32_t min_hits,
                                                    bool reset) override {
    last_client_query = {first, max, min_hits, reset};
    if (!client_log_enabled) return std::nullopt;
    ClientAccessesPage p;
    p.n_indices = 20;
    p.next_index = first + 12;
    for (std::uint32_t i = 0; i < 12; ++i) {  // more than asked for: the handler must cut
      ClientAccessReport c;
      c.address = Address::inet4(0x7F000000u + i);
      c.ntp_hits = i;
      p.clients.push_back(c);
    }
    return p;
  }
  Status make_step() override {
    ++steps;
    return step_status;
  }
  Status burst(const SourceMatch& m, int good, int total) override {
    last_match = m;
    burst_good = good;
    burst_total = total;
    return Status::Success;
  }
  Status set_online(const SourceMatch& m, bool online) override {
    last_match = m;
    last_online = online;
    ++online_calls;
    return m.matches(Address::inet4(0x7F000001u)) ? Status::Success : Status::NoSuchSource;
  }
  Status reload_sources() override {
    ++reloads;
    return Status::Success;
  }
  Status set_local(const LocalRequest& l) override {
    local = l;
    return Status::Success;
  }
  std::optional<LocalRequest> local;

  struct ClientQuery {
    std::uint32_t first = 0, max = 0, min_hits = 0;
    bool reset = false;
  };
  bool client_log_enabled = true;
  ClientQuery last_client_query;
  Status step_status = Status::Success;
  int steps = 0, reloads = 0, online_calls = 0, burst_good = 0, burst_total = 0;
  bool last_online = false;
  SourceMatch last_match;
};

struct Served {
  CommandResult result;
  std::vector<std::uint8_t> reply;
};

Served serve_with(const std::vector<std::uint8_t>& request, ChannelKind channel, FakeProvider& provider,
                  const OpenCommands& open) {
  std::vector<std::uint8_t> out(kMaxReplyLength, 0xEE);
  Served s;
  s.result = handle_command(request, channel, provider, out, open);
  if (s.result.replied()) s.reply.assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(s.result.reply_length));
  return s;
}

Served serve(const std::vector<std::uint8_t>& request, ChannelKind channel, FakeProvider& provider) {
  return serve_with(request, channel, provider, OpenCommands());
}

std::uint16_t reply_status(const Served& s) { return be16(s.reply, 8); }

}  // namespace

// ---------------------------------------------------------------------------
// Float

TEST_CASE("cmdmon float: known encodings") {
  CHECK(encode_float(0.0) == 0u);
  CHECK(encode_float(1.0) == 0x04800000u);   // coef 2^23, exponent 2
  CHECK(encode_float(-1.0) == 0x05800000u);  // two's-complement coefficient
  CHECK(decode_float(0x04800000u) == 1.0);
  CHECK(decode_float(0x05800000u) == -1.0);
  CHECK(decode_float(0) == 0.0);
  CHECK(encode_float(std::nan("")) == 0u);
}

TEST_CASE("cmdmon float: round trips keep 24 bits") {
  const double values[] = {1e-9, -1e-9, 8.35e-7, -1.051e-6, 3.137e-6, 0.5, 16.1, 2000.0, -0.001, 123456.789,
                           1e12, -4.0e-3, 1.0 / 3.0, 86400.0 * 365 * 100, 2.5e-15};
  for (double v : values) {
    const double back = decode_float(encode_float(v));
    CAPTURE(v, back);
    CHECK(std::fabs(back - v) <= std::fabs(v) * std::ldexp(1.0, -23));
    CHECK(std::signbit(back) == std::signbit(v));
  }
}

TEST_CASE("cmdmon float: extremes saturate or flush, never wrap") {
  const double huge = decode_float(encode_float(1e300));
  CHECK(huge > 1e18);
  CHECK(decode_float(encode_float(-1e300)) < -1e18);
  CHECK(decode_float(encode_float(INFINITY)) == huge);
  CHECK(decode_float(encode_float(1e-300)) == 0.0);
  // Below the smallest normal value the coefficient loses bits but keeps the magnitude.
  const double tiny = std::ldexp(1.0, -80);
  CHECK(decode_float(encode_float(tiny)) == tiny);
  // Every bit pattern decodes to a finite number.
  std::mt19937 rng(7);
  for (int i = 0; i < 10000; ++i) CHECK(std::isfinite(decode_float(static_cast<std::uint32_t>(rng()))));
}

// ---------------------------------------------------------------------------
// Lengths and layouts

TEST_CASE("cmdmon lengths match chrony 4.3's tables") {
  auto req = [](Command c) { return required_request_length(static_cast<std::uint16_t>(c)); };
  CHECK(req(Command::NSources) == 32);
  CHECK(req(Command::SourceData) == 76);
  CHECK(req(Command::Tracking) == 104);
  CHECK(req(Command::Sourcestats) == 84);
  CHECK(req(Command::Activity) == 48);
  CHECK(req(Command::ServerStats) == 72);
  CHECK(req(Command::NtpData) == 152);
  CHECK(req(Command::NtpSourceName) == 284);
  CHECK(req(Command::ClientAccessesByIndex3) == 520);
  CHECK(req(Command::SelectData) == 76);
  CHECK(req(Command::MakeStep) == 28);
  CHECK(req(Command::Burst) == 68);
  CHECK(req(Command::Online) == 60);
  CHECK(req(Command::ReloadSources) == 28);
  CHECK(req(Command::Local) == 0);     // obsolete
  CHECK(required_request_length(500) == 0);
  CHECK(request_body_end(static_cast<std::uint16_t>(Command::SourceData)) == 24);
  CHECK(client_request_length(Command::ServerStats) == 196);
  CHECK(client_request_length(Command::NtpData) == 172);
  CHECK(client_request_length(Command::Tracking) == 104);

  auto rpl = [](ReplyType t) { return reply_length(static_cast<std::uint16_t>(t)); };
  CHECK(rpl(ReplyType::Null) == 28);
  CHECK(rpl(ReplyType::NSources) == 32);
  CHECK(rpl(ReplyType::SourceData) == 76);
  CHECK(rpl(ReplyType::Tracking) == 104);
  CHECK(rpl(ReplyType::Sourcestats) == 84);
  CHECK(rpl(ReplyType::Activity) == 48);
  CHECK(rpl(ReplyType::ServerStats3) == 72);
  CHECK(rpl(ReplyType::ServerStats4) == 196);
  CHECK(rpl(ReplyType::NtpData) == 152);
  CHECK(rpl(ReplyType::NtpData2) == 172);
  CHECK(rpl(ReplyType::ClientAccessesByIndex3) == 520);
  CHECK(rpl(ReplyType::SelectData) == 76);
  CHECK(rpl(ReplyType::NtpSourceName) == 284);
  CHECK(reply_length(0) == 0);
  CHECK(reply_length(99) == 0);
}

TEST_CASE("cmdmon requests: header, arguments, zero padding") {
  RequestArgs a;
  a.index = 0x01020304u;
  auto p = build_request(Command::SourceData, a);
  REQUIRE(p.size() == 76);
  CHECK(p[0] == 6);
  CHECK(p[1] == 1);
  CHECK(p[2] == 0);
  CHECK(p[3] == 0);
  CHECK(be16(p, 4) == 15);
  CHECK(be32(p, 20) == 0x01020304u);
  for (std::size_t i = 24; i < p.size(); ++i) CHECK(p[i] == 0);

  stamp_request(p, 0xDEADBEEFu, 2);
  CHECK(be16(p, 6) == 2);
  CHECK(be32(p, 8) == 0xDEADBEEFu);
  CHECK(be32(p, 12) == 0);
  CHECK(be32(p, 16) == 0);
  const auto h = decode_request_header(p);
  REQUIRE(h);
  CHECK(h->command == 15);
  CHECK(h->sequence == 0xDEADBEEFu);
  CHECK(decode_request_args(Command::SourceData, p).index == 0x01020304u);

  RequestArgs b;
  b.mask = Address::inet4(0xFFFFFF00u);
  b.address = Address::inet4(0xC0000200u);
  b.burst_good_samples = 2;
  b.burst_total_samples = 5;
  const auto burst = build_request(Command::Burst, b);
  REQUIRE(burst.size() == 68);
  CHECK(be16(burst, 36) == 1);  // mask family IPv4
  CHECK(be32(burst, 20) == 0xFFFFFF00u);
  CHECK(be32(burst, 40) == 0xC0000200u);
  CHECK(be32(burst, 60) == 2);
  CHECK(be32(burst, 64) == 5);
  const RequestArgs back = decode_request_args(Command::Burst, burst);
  CHECK(back.mask == b.mask);
  CHECK(back.address == b.address);
  CHECK(back.burst_total_samples == 5);

  RequestArgs c;
  c.first_index = 16;
  c.min_hits = 3;
  c.reset = true;
  const auto clients = build_request(Command::ClientAccessesByIndex3, c);
  REQUIRE(clients.size() == 520);
  CHECK(be32(clients, 20) == 16);
  CHECK(be32(clients, 24) == 8);
  CHECK(be32(clients, 28) == 3);
  CHECK(be32(clients, 32) == 1);

  RequestArgs m;
  m.makestep_limit = 3;
  m.makestep_threshold_s = 0.1;
  const auto ms = build_request(Command::ModifyMakestep, m);
  REQUIRE(ms.size() == 28);
  const RequestArgs mb = decode_request_args(Command::ModifyMakestep, ms);
  CHECK(mb.makestep_limit == 3);
  CHECK(mb.makestep_threshold_s == Approx(0.1).epsilon(1e-7));

  CHECK_FALSE(decode_request_header(std::vector<std::uint8_t>(19, 0)));
}

TEST_CASE("cmdmon addresses: families on the wire") {
  RequestArgs a;
  a.address = Address::from_id(7);
  auto p = build_request(Command::NtpData, a);
  CHECK(be32(p, 20) == 7);
  CHECK(be16(p, 36) == 3);
  CHECK(decode_request_args(Command::NtpData, p).address == Address::from_id(7));

  const auto v6 = IpAddress::parse("2001:db8::1");
  REQUIRE(v6);
  a.address = Address::from_ip(*v6);
  p = build_request(Command::NtpData, a);
  CHECK(p[20] == 0x20);
  CHECK(p[35] == 0x01);
  CHECK(be16(p, 36) == 2);
  const Address back = decode_request_args(Command::NtpData, p).address;
  REQUIRE(back.ip());
  CHECK(*back.ip() == *v6);

  set16(p, 36, 9);  // unknown family
  CHECK(decode_request_args(Command::NtpData, p).address.family == Address::Family::Unspec);
  CHECK_FALSE(Address{}.ip());
  CHECK(Address::inet4(0x7F000001u).v4_host_order() == 0x7F000001u);
}

TEST_CASE("cmdmon SourceMatch follows chrony's address/mask comparison") {
  SourceMatch all;
  CHECK(all.matches(Address::inet4(1)));
  CHECK(all.matches(Address::from_id(3)));

  SourceMatch net{Address::inet4(0xFFFFFF00u), Address::inet4(0x7F000000u)};
  CHECK(net.matches(Address::inet4(0x7F000001u)));
  CHECK_FALSE(net.matches(Address::inet4(0x7F000101u)));
  CHECK_FALSE(net.matches(Address::from_id(1)));

  SourceMatch host{Address{}, Address::inet4(0x7F000001u)};  // mask of another family: exact match
  CHECK(host.matches(Address::inet4(0x7F000001u)));
  CHECK_FALSE(host.matches(Address::inet4(0x7F000002u)));

  SourceMatch id{Address{}, Address::from_id(5)};
  CHECK(id.matches(Address::from_id(5)));
  CHECK_FALSE(id.matches(Address::from_id(6)));
}

// ---------------------------------------------------------------------------
// Reply layouts and round trips

TEST_CASE("cmdmon replies: source data layout and round trip") {
  SourceReport r;
  r.address = Address::inet4(0x7F000002u);
  r.poll_log2 = -3;
  r.stratum = 9;
  r.state = SourceState::NotCombined;
  r.mode = SourceMode::Peer;
  r.reachability = 0101;
  r.last_sample_ago_s = 0xFFFFFFFFu;
  r.original_offset_s = 1.62e-7;
  r.adjusted_offset_s = -1.62e-7;
  r.error_s = 1.859e-6;
  std::vector<std::uint8_t> out(kMaxReplyLength);
  const auto n = encode_reply(header_for(Command::SourceData), r, out);
  REQUIRE(n == 76);
  out.resize(n);
  CHECK(out[0] == 6);
  CHECK(out[1] == 2);
  CHECK(be16(out, 4) == 15);
  CHECK(be16(out, 6) == 3);
  CHECK(be16(out, 8) == 0);
  CHECK(be32(out, 16) == 0x01020304u);
  CHECK(be16(out, 48) == 0xFFFD);  // poll -3
  CHECK(be16(out, 52) == 5);
  CHECK(be16(out, 54) == 1);
  CHECK(be16(out, 58) == 0101);

  const auto d = decode_source_data(out);
  REQUIRE(d);
  CHECK(d->address == r.address);
  CHECK(d->poll_log2 == -3);
  CHECK(d->stratum == 9);
  CHECK(d->state == SourceState::NotCombined);
  CHECK(d->mode == SourceMode::Peer);
  CHECK(d->reachability == 0101);
  CHECK(d->last_sample_ago_s == 0xFFFFFFFFu);
  CHECK(d->adjusted_offset_s == Approx(-1.62e-7).epsilon(1e-6));
  CHECK(d->original_offset_s == Approx(1.62e-7).epsilon(1e-6));
  CHECK(d->error_s == Approx(1.859e-6).epsilon(1e-6));

  // The wrong type or a short reply does not decode.
  CHECK_FALSE(decode_sourcestats(out));
  CHECK_FALSE(decode_source_data(std::span<const std::uint8_t>(out).first(75)));
}

TEST_CASE("cmdmon replies: tracking, sourcestats, activity, selectdata round trips") {
  std::vector<std::uint8_t> out(kMaxReplyLength);
  FakeProvider p;

  TrackingReport t = p.tracking();
  REQUIRE(encode_reply(header_for(Command::Tracking), t, out) == 104);
  CHECK(be32(out, 56) == 0);  // seconds high
  CHECK(be32(out, 60) == 1795785093u);
  CHECK(be32(out, 64) == 638425793u);
  const auto td = decode_tracking(out);
  REQUIRE(td);
  CHECK(td->ref_id == 0x7F000001u);
  CHECK(td->stratum == 9);
  CHECK(td->leap == Leap::None);
  CHECK(td->ref_time == t.ref_time);
  CHECK(td->current_correction_s == Approx(-7.27e-7).epsilon(1e-6));

  SourcestatsReport s = *p.sourcestats(0);
  s.std_dev_s = 4.0;
  s.skew_ppm = 2000.0;
  REQUIRE(encode_reply(header_for(Command::Sourcestats), s, out) == 84);
  const auto sd = decode_sourcestats(out);
  REQUIRE(sd);
  CHECK(sd->samples == 27);
  CHECK(sd->runs == 13);
  CHECK(sd->span_s == 151);
  CHECK(sd->std_dev_s == 4.0);
  CHECK(sd->skew_ppm == 2000.0);

  REQUIRE(encode_reply(header_for(Command::Activity), ActivityReport{3, 1, 2, 0, -1}, out) == 48);
  const auto ad = decode_activity(out);
  REQUIRE(ad);
  CHECK(ad->online == 3);
  CHECK(ad->offline == 1);
  CHECK(ad->burst_online == 2);
  CHECK(ad->unresolved == -1);

  SelectDataReport sel;
  sel.ref_id = 0x4C4F434Cu;
  sel.state = 'x';
  sel.authenticated = true;
  sel.leap = Leap::Unsynchronised;
  sel.configured_options = kSelectOptionPrefer;
  sel.effective_options = kSelectOptionPrefer | kSelectOptionTrust;
  sel.last_sample_ago_s = 11;
  sel.score = 1.0;
  sel.interval_low_s = -2.13e-6;
  sel.interval_high_s = 2.999e-6;
  REQUIRE(encode_reply(header_for(Command::SelectData), sel, out) == 76);
  CHECK(out[52] == 'x');
  const auto se = decode_select_data(out);
  REQUIRE(se);
  CHECK(se->state == 'x');
  CHECK(se->authenticated);
  CHECK(se->leap == Leap::Unsynchronised);
  CHECK(se->effective_options == (kSelectOptionPrefer | kSelectOptionTrust));
  CHECK(se->interval_low_s == Approx(-2.13e-6).epsilon(1e-6));
}

TEST_CASE("cmdmon replies: timespec edge cases") {
  std::vector<std::uint8_t> out(kMaxReplyLength);
  TrackingReport t;
  REQUIRE(encode_reply(header_for(Command::Tracking), t, out) == 104);
  set32(out, 56, 0x7fffffffu);  // "no high seconds" marker
  set32(out, 60, 100);
  set32(out, 64, 2000000000u);  // nanoseconds out of range: clamped
  auto d = decode_tracking(out);
  REQUIRE(d);
  CHECK(d->ref_time.unix_ns == 100 * kNsPerS + 999999999);
  set32(out, 56, 0xFFFFFFFFu);  // absurd seconds: clamped, no overflow
  d = decode_tracking(out);
  REQUIRE(d);
  CHECK(d->ref_time.unix_ns < 0);
}

TEST_CASE("cmdmon replies: server stats in both layouts") {
  FakeProvider p;
  std::vector<std::uint8_t> out(kMaxReplyLength);
  REQUIRE(encode_reply(header_for(Command::ServerStats), p.server_stats(), ServerStatsLayout::V3, out) == 72);
  CHECK(be16(out, 6) == 24);
  CHECK(be32(out, 28) == 71);
  CHECK(be32(out, 36) == 0xFFFFFFFFu);  // cmd_hits saturated to 32 bits
  auto v3 = decode_server_stats(out);
  REQUIRE(v3);
  CHECK(v3->ntp_hits == 71);
  CHECK(v3->ntp_drops == 2);
  CHECK_FALSE(v3->has_timestamp_counts);

  REQUIRE(encode_reply(header_for(Command::ServerStats), p.server_stats(), ServerStatsLayout::V4, out) == 196);
  CHECK(be16(out, 6) == 25);
  CHECK(be32(out, 28) == 0);
  CHECK(be32(out, 32) == 71);
  CHECK(out[195] == 0xFF);  // reserved
  auto v4 = decode_server_stats(out);
  REQUIRE(v4);
  CHECK(v4->cmd_hits == 0x1'0000'0005ULL);
  CHECK(v4->ntp_kernel_rx_timestamps == 70);
  CHECK(v4->has_timestamp_counts);
}

TEST_CASE("cmdmon replies: ntp data in both layouts") {
  NtpDataReport r;
  r.remote_address = Address::inet4(0x7F000001u);
  r.local_address = Address::inet4(0x7F000001u);
  r.remote_port = 11133;
  r.version = 4;
  r.mode = kNtpModeServer;
  r.stratum = 8;
  r.poll_log2 = 4;
  r.precision_log2 = -26;
  r.ref_id = kLocalRefid;
  r.offset_s = 1.051e-6;
  r.tests = 0x3FF;
  r.interleaved = true;
  r.tx_timestamping = 'K';
  r.rx_timestamping = 'H';
  r.total_good_rx = 41;
  r.total_hw_rx_timestamps = 9;
  std::vector<std::uint8_t> out(kMaxReplyLength);
  REQUIRE(encode_reply(header_for(Command::NtpData), r, NtpDataLayout::V1, out) == 152);
  CHECK(be16(out, 6) == 16);
  CHECK(be16(out, 68) == 11133);
  CHECK(be16(out, 120) == 0x43FF);
  CHECK(out[151] == 0xFF);
  auto d = decode_ntp_data(std::span<const std::uint8_t>(out).first(152));
  REQUIRE(d);
  CHECK(d->precision_log2 == -26);
  CHECK(d->tests == 0x3FF);
  CHECK(d->interleaved);
  CHECK_FALSE(d->authenticated);
  CHECK(d->tx_timestamping == 'K');
  CHECK(d->rx_timestamping == 'H');
  CHECK(d->total_good_rx == 41);
  CHECK_FALSE(d->has_timestamp_counts);

  REQUIRE(encode_reply(header_for(Command::NtpData), r, NtpDataLayout::V2, out) == 172);
  CHECK(be16(out, 6) == 26);
  d = decode_ntp_data(out);
  REQUIRE(d);
  CHECK(d->total_hw_rx_timestamps == 9);
  CHECK(d->has_timestamp_counts);
}

TEST_CASE("cmdmon replies: clients page and source name") {
  ClientAccessesPage page;
  page.n_indices = 3;
  page.next_index = 3;
  ClientAccessReport c;
  c.address = Address::inet4(0x7F000003u);
  c.ntp_hits = 7;
  c.ntp_interval_log2 = -1;
  c.last_ntp_hit_ago_s = 18;
  page.clients.push_back(c);
  std::vector<std::uint8_t> out(kMaxReplyLength);
  REQUIRE(encode_reply(header_for(Command::ClientAccessesByIndex3), page, out) == 520);
  CHECK(be32(out, 36) == 1);
  CHECK(out[40 + 44] == 0xFF);  // interval -1
  const auto d = decode_client_accesses(out);
  REQUIRE(d);
  REQUIRE(d->clients.size() == 1);
  CHECK(d->clients[0].ntp_hits == 7);
  CHECK(d->clients[0].ntp_interval_log2 == -1);
  CHECK(d->clients[0].cmd_interval_log2 == kNoInterval);
  CHECK(d->clients[0].last_cmd_hit_ago_s == 0xFFFFFFFFu);
  set32(out, 36, 1000);  // a lying count is capped
  CHECK(decode_client_accesses(out)->clients.size() == 8);

  REQUIRE(encode_source_name_reply(header_for(Command::NtpSourceName), "0.pool.ntp.org", out) == 284);
  CHECK(decode_source_name(out) == std::optional<std::string>("0.pool.ntp.org"));
  REQUIRE(encode_source_name_reply(header_for(Command::NtpSourceName), std::string(300, 'a'), out) == 284);
  CHECK(decode_source_name(out)->size() == 255);
  std::fill(out.begin() + 28, out.begin() + 284, 'b');  // no terminating NUL
  CHECK_FALSE(decode_source_name(out));
}

TEST_CASE("cmdmon encoders refuse short buffers") {
  std::vector<std::uint8_t> small(75);
  CHECK(encode_reply(header_for(Command::SourceData), SourceReport{}, small) == 0);
  CHECK(encode_status_reply(header_for(Command::Null), std::span<std::uint8_t>(small).first(27)) == 0);
}

TEST_CASE("cmdmon check_reply follows chronyc's acceptance rules") {
  auto req = build_request(Command::Tracking);
  stamp_request(req, 0x11223344u, 0);
  std::vector<std::uint8_t> rep(kMaxReplyLength);
  ReplyHeader h;
  h.command = static_cast<std::uint16_t>(Command::Tracking);
  h.sequence = 0x11223344u;
  REQUIRE(encode_reply(h, TrackingReport{}, rep) == 104);
  rep.resize(104);
  CHECK(check_reply(req, rep) == ReplyCheck::Accept);

  auto wrong_seq = rep;
  set32(wrong_seq, 16, 1);
  CHECK(check_reply(req, wrong_seq) == ReplyCheck::Ignore);
  auto wrong_cmd = rep;
  set16(wrong_cmd, 4, 14);
  CHECK(check_reply(req, wrong_cmd) == ReplyCheck::Ignore);
  auto wrong_type = rep;
  wrong_type[1] = 1;
  CHECK(check_reply(req, wrong_type) == ReplyCheck::Ignore);
  auto wrong_version = rep;
  wrong_version[0] = 5;
  CHECK(check_reply(req, wrong_version) == ReplyCheck::Ignore);
  set16(wrong_version, 8, static_cast<std::uint16_t>(Status::BadPacketVersion));
  CHECK(check_reply(req, wrong_version) == ReplyCheck::Accept);
  auto reserved = rep;
  reserved[2] = 1;
  CHECK(check_reply(req, reserved) == ReplyCheck::Ignore);
  CHECK(check_reply(req, std::span<const std::uint8_t>(rep).first(27)) == ReplyCheck::Ignore);
  CHECK(check_reply(req, std::span<const std::uint8_t>(rep).first(100)) == ReplyCheck::Resend);
}

// ---------------------------------------------------------------------------
// Server handler: access rules and the Control channel bad-input table

TEST_CASE("cmdmon server: monitoring commands over UDP and the socket") {
  FakeProvider p;
  for (ChannelKind ch : {ChannelKind::Udp, ChannelKind::UnixSocket}) {
    auto n = serve(build_request(Command::NSources), ch, p);
    REQUIRE(n.result.replied());
    CHECK(decode_n_sources(n.reply) == std::optional<std::uint32_t>(2));

    RequestArgs a;
    a.index = 1;
    auto s = serve(build_request(Command::SourceData, a), ch, p);
    REQUIRE(s.result.replied());
    const auto sd = decode_source_data(s.reply);
    REQUIRE(sd);
    CHECK(sd->mode == SourceMode::Reference);
    CHECK(sd->address.v4_host_order() == 0x4C4F434Cu);

    a.index = 2;
    s = serve(build_request(Command::SourceData, a), ch, p);
    REQUIRE(s.result.replied());
    CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::NoSuchSource));
    CHECK(s.reply.size() == 28);

    CHECK(decode_tracking(serve(build_request(Command::Tracking), ch, p).reply));
    CHECK(decode_activity(serve(build_request(Command::Activity), ch, p).reply));
    a.index = 0;
    CHECK(decode_sourcestats(serve(build_request(Command::Sourcestats, a), ch, p).reply));

    RequestArgs na;
    na.address = Address::inet4(0x7F000001u);
    CHECK(decode_source_name(serve(build_request(Command::NtpSourceName, na), ch, p).reply) ==
          std::optional<std::string>("localhost"));
  }
}

TEST_CASE("cmdmon server: every non-monitoring command over UDP is 501") {
  FakeProvider p;
  for (Command c : {Command::SelectData, Command::NtpData, Command::ServerStats, Command::ClientAccessesByIndex3,
                    Command::MakeStep, Command::Burst, Command::Online, Command::Offline, Command::ReloadSources,
                    Command::Shutdown, Command::AddSource, Command::Dump}) {
    CAPTURE(static_cast<int>(c));
    const auto s = serve(build_request(c), ChannelKind::Udp, p);
    REQUIRE(s.result.replied());
    CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::Unauthorised));
    CHECK(s.result.status == Status::Unauthorised);
  }
  CHECK(p.steps == 0);
  CHECK(p.reloads == 0);
  CHECK(p.online_calls == 0);
}

TEST_CASE("cmdmon server: control commands on the Unix socket") {
  FakeProvider p;
  auto s = serve(build_request(Command::MakeStep), ChannelKind::UnixSocket, p);
  REQUIRE(s.result.replied());
  CHECK(reply_status(s) == 0);
  CHECK(be16(s.reply, 6) == static_cast<std::uint16_t>(ReplyType::Null));
  CHECK(p.steps == 1);
  p.step_status = Status::Failed;
  CHECK(reply_status(serve(build_request(Command::MakeStep), ChannelKind::UnixSocket, p)) == 1);

  RequestArgs a;
  a.address = Address::inet4(0x7F000001u);
  a.mask = Address::inet4(0xFFFFFFFFu);
  s = serve(build_request(Command::Offline, a), ChannelKind::UnixSocket, p);
  CHECK(reply_status(s) == 0);
  CHECK_FALSE(p.last_online);
  CHECK(p.last_match.address == a.address);
  a.address = Address::inet4(0x7F000009u);
  s = serve(build_request(Command::Online, a), ChannelKind::UnixSocket, p);
  CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::NoSuchSource));
  CHECK(p.last_online);

  RequestArgs b;
  b.burst_good_samples = 2;
  b.burst_total_samples = 4;
  s = serve(build_request(Command::Burst, b), ChannelKind::UnixSocket, p);
  CHECK(reply_status(s) == 0);
  CHECK(p.burst_good == 2);
  CHECK(p.burst_total == 4);
  CHECK(p.last_match.address.family == Address::Family::Unspec);

  s = serve(build_request(Command::ReloadSources), ChannelKind::UnixSocket, p);
  CHECK(reply_status(s) == 0);
  CHECK(p.reloads == 1);
}

TEST_CASE("cmdmon server: privileged reports on the Unix socket") {
  FakeProvider p;
  RequestArgs a;
  CHECK(decode_select_data(serve(build_request(Command::SelectData, a), ChannelKind::UnixSocket, p).reply));

  a.address = Address::inet4(0x7F000001u);
  auto s = serve(build_request(Command::NtpData, a), ChannelKind::UnixSocket, p);
  CHECK(be16(s.reply, 6) == static_cast<std::uint16_t>(ReplyType::NtpData2));  // gnomonc's 172-byte request
  REQUIRE(decode_ntp_data(s.reply));
  CHECK(decode_ntp_data(s.reply)->remote_port == 11123);
  a.address = Address::inet4(0x7F000002u);
  s = serve(build_request(Command::NtpData, a), ChannelKind::UnixSocket, p);
  CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::NoSuchSource));

  RequestArgs c;
  c.first_index = 4;
  c.max_clients = 50;  // capped at 8
  c.min_hits = 2;
  c.reset = true;
  s = serve(build_request(Command::ClientAccessesByIndex3, c), ChannelKind::UnixSocket, p);
  const auto page = decode_client_accesses(s.reply);
  REQUIRE(page);
  CHECK(page->clients.size() == 8);
  CHECK(page->n_indices == 20);
  CHECK(p.last_client_query.first == 4);
  CHECK(p.last_client_query.max == 8);
  CHECK(p.last_client_query.min_hits == 2);
  CHECK(p.last_client_query.reset);
  p.client_log_enabled = false;
  s = serve(build_request(Command::ClientAccessesByIndex3, c), ChannelKind::UnixSocket, p);
  CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::Inactive));
}

TEST_CASE("cmdmon server: serverstats and ntpdata layouts follow the request length") {
  FakeProvider p;
  // chronyc 4.3 pads SERVER_STATS to 72 bytes: the 4.3 layout fits.
  auto s = serve(raw_request(54, 72), ChannelKind::UnixSocket, p);
  REQUIRE(s.result.replied());
  CHECK(s.reply.size() == 72);
  CHECK(be16(s.reply, 6) == 24);
  // chronyc 4.4+ pads to 196: the 4.4 layout.
  s = serve(raw_request(54, 196), ChannelKind::UnixSocket, p);
  CHECK(s.reply.size() == 196);
  CHECK(be16(s.reply, 6) == 25);

  auto nd = raw_request(57, 152);
  set32(nd, 20, 0x7F000001u);
  set16(nd, 36, 1);
  s = serve(nd, ChannelKind::UnixSocket, p);
  CHECK(s.reply.size() == 152);
  CHECK(be16(s.reply, 6) == 16);
}

TEST_CASE("cmdmon server bad input: truncated header or oversized request is dropped") {
  FakeProvider p;
  for (std::size_t len : {0, 1, 19, 20, 27}) {
    CAPTURE(len);
    const auto s = serve(raw_request(14, len), ChannelKind::UnixSocket, p);
    CHECK_FALSE(s.result.replied());
    CHECK(s.result.outcome == CommandOutcome::DroppedMalformed);
  }
  CHECK_FALSE(serve(raw_request(14, kMaxRequestLength + 1), ChannelKind::UnixSocket, p).result.replied());
  CHECK_FALSE(serve(raw_request(14, 65536), ChannelKind::Udp, p).result.replied());
  CHECK(serve(raw_request(14, kMaxRequestLength), ChannelKind::UnixSocket, p).result.replied());

  auto not_request = build_request(Command::NSources);
  not_request[1] = 2;
  CHECK_FALSE(serve(not_request, ChannelKind::UnixSocket, p).result.replied());
  auto reserved = build_request(Command::NSources);
  reserved[3] = 1;
  CHECK_FALSE(serve(reserved, ChannelKind::UnixSocket, p).result.replied());
}

TEST_CASE("cmdmon server bad input: wrong protocol version") {
  FakeProvider p;
  for (std::uint8_t v : {std::uint8_t{5}, std::uint8_t{7}, std::uint8_t{255}}) {
    CAPTURE(static_cast<int>(v));
    const auto req = raw_request(14, 32, v);
    const auto s = serve(req, ChannelKind::Udp, p);
    REQUIRE(s.result.replied());
    CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::BadPacketVersion));
    CHECK(s.reply.size() <= req.size());
    CHECK(s.reply[0] == 6);
  }
  for (std::uint8_t v : {std::uint8_t{0}, std::uint8_t{1}, std::uint8_t{4}}) {
    CHECK_FALSE(serve(raw_request(14, 32, v), ChannelKind::Udp, p).result.replied());
  }
  // A version-5 request of exactly header length still gets its 28-byte answer.
  const auto s = serve(raw_request(14, 28, 5), ChannelKind::Udp, p);
  CHECK(s.result.replied());
  CHECK(s.reply.size() == 28);
}

TEST_CASE("cmdmon server bad input: unknown command is 502 Invalid") {
  FakeProvider p;
  for (std::uint16_t c : {std::uint16_t{12}, std::uint16_t{27}, std::uint16_t{75}, std::uint16_t{999},
                          std::uint16_t{0xFFFF}}) {
    CAPTURE(c);
    for (ChannelKind ch : {ChannelKind::Udp, ChannelKind::UnixSocket}) {
      const auto req = raw_request(c, 28);
      const auto s = serve(req, ch, p);
      REQUIRE(s.result.replied());
      CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::Invalid));
      CHECK(be16(s.reply, 4) == c);
      CHECK(be32(s.reply, 16) == 0xA1B2C3D4u);
    }
  }
  // Known to chrony but not served by gnomon: also 502 on the socket.
  const auto s = serve(build_request(Command::Dump), ChannelKind::UnixSocket, p);
  CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::Invalid));
}

TEST_CASE("cmdmon server bad input: request too short for its command is 518") {
  FakeProvider p;
  struct Case {
    Command command;
    std::size_t length;
  };
  for (const Case& c : {Case{Command::Tracking, 28}, Case{Command::Tracking, 103}, Case{Command::SourceData, 75},
                        Case{Command::NSources, 31}, Case{Command::ServerStats, 71},
                        Case{Command::ClientAccessesByIndex3, 519}, Case{Command::Burst, 67}}) {
    CAPTURE(static_cast<int>(c.command), c.length);
    const auto req = raw_request(static_cast<std::uint16_t>(c.command), c.length);
    const auto s = serve(req, ChannelKind::UnixSocket, p);
    REQUIRE(s.result.replied());
    CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::BadPacketLength));
    CHECK(s.reply.size() == 28);
  }
  // The length check comes before the access check, as in chronyd.
  const auto s = serve(raw_request(static_cast<std::uint16_t>(Command::MakeStep), 28), ChannelKind::Udp, p);
  CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::Unauthorised));
  const auto t = serve(raw_request(static_cast<std::uint16_t>(Command::ServerStats), 40), ChannelKind::Udp, p);
  CHECK(reply_status(t) == static_cast<std::uint16_t>(Status::BadPacketLength));
}

TEST_CASE("cmdmon server: chrony's newest write commands are known, so UDP gets 501") {
  FakeProvider p;
  // chronyc's `local ...` (LOCAL3) and `offset` (MODIFY_OFFSET): 48 bytes each.
  for (Command c : {Command::Local3, Command::ModifyOffset}) {
    CAPTURE(static_cast<int>(c));
    CHECK(required_request_length(static_cast<std::uint16_t>(c)) == 48);
    const auto s = serve(raw_request(static_cast<std::uint16_t>(c), 48), ChannelKind::Udp, p);
    REQUIRE(s.result.replied());
    CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::Unauthorised));
    const auto t = serve(raw_request(static_cast<std::uint16_t>(c), 47), ChannelKind::UnixSocket, p);
    REQUIRE(t.result.replied());
    CHECK(reply_status(t) == static_cast<std::uint16_t>(Status::BadPacketLength));
  }
}

TEST_CASE("cmdmon server: opencommands decides what UDP may ask for", "[cmdmon]") {
  FakeProvider p;
  const OpenCommands dflt;
  CHECK(dflt.open(static_cast<std::uint16_t>(Command::Tracking)));
  CHECK(dflt.open(static_cast<std::uint16_t>(Command::NSources)));
  CHECK_FALSE(dflt.open(static_cast<std::uint16_t>(Command::ServerStats)));
  CHECK_FALSE(dflt.open(static_cast<std::uint16_t>(Command::MakeStep)));

  std::string unknown;
  CHECK_FALSE(OpenCommands::from_names({"tracking", "settime"}, &unknown));
  CHECK(unknown == "settime");
  const OpenCommands none = OpenCommands::from_names({}).value();
  const OpenCommands stats = OpenCommands::from_names({"serverstats", "sources"}).value();
  CHECK(stats.open(static_cast<std::uint16_t>(Command::NSources)));
  CHECK(stats.open(static_cast<std::uint16_t>(Command::SourceData)));
  CHECK_FALSE(stats.open(static_cast<std::uint16_t>(Command::Tracking)));

  const auto closed = serve_with(build_request(Command::Tracking), ChannelKind::Udp, p, none);
  CHECK(reply_status(closed) == static_cast<std::uint16_t>(Status::Unauthorised));
  const auto opened = serve_with(build_request(Command::ServerStats), ChannelKind::Udp, p, stats);
  CHECK(reply_status(opened) == static_cast<std::uint16_t>(Status::Success));
  // The Unix socket serves everything whatever is open.
  const auto unix_socket = serve_with(build_request(Command::Tracking), ChannelKind::UnixSocket, p, none);
  CHECK(reply_status(unix_socket) == static_cast<std::uint16_t>(Status::Success));
}

TEST_CASE("cmdmon server: chronyc's local command (LOCAL3) reaches the provider", "[cmdmon]") {
  FakeProvider p;
  std::vector<std::uint8_t> req = raw_request(static_cast<std::uint16_t>(Command::Local3), 48);
  auto put = [&](std::size_t off, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) req[off + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
  };
  put(20, 1);                    // on
  put(24, 5);                    // stratum
  put(28, encode_float(1.0));    // distance
  put(32, 1);                    // orphan
  put(36, encode_float(0.5));    // activate
  put(40, encode_float(100.0));  // waitsynced
  put(44, encode_float(20.0));   // waitunsynced
  const auto s = serve(req, ChannelKind::UnixSocket, p);
  CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::Success));
  REQUIRE(p.local);
  CHECK(p.local->on);
  CHECK(p.local->stratum == 5);
  CHECK(p.local->distance_s == Approx(1.0));
  CHECK(p.local->orphan);
  CHECK(p.local->activate_s == Approx(0.5));
  CHECK(p.local->wait_synced_s == Approx(100.0));
  CHECK(p.local->wait_unsynced_s == Approx(20.0));
  put(20, 0);  // local off
  static_cast<void>(serve(req, ChannelKind::UnixSocket, p));
  CHECK_FALSE(p.local->on);
}

TEST_CASE("cmdmon server bad input: a write command over UDP is 501") {
  FakeProvider p;
  const auto s = serve(build_request(Command::MakeStep), ChannelKind::Udp, p);
  REQUIRE(s.result.replied());
  CHECK(reply_status(s) == static_cast<std::uint16_t>(Status::Unauthorised));
  CHECK(p.steps == 0);
}

TEST_CASE("cmdmon server: no reply is ever longer than its request; garbage never crashes") {
  FakeProvider p;
  std::mt19937 rng(1234);
  std::vector<std::uint8_t> out(kMaxReplyLength);
  for (int i = 0; i < 20000; ++i) {
    const std::size_t len = rng() % 900;
    std::vector<std::uint8_t> req(len);
    for (auto& b : req) b = static_cast<std::uint8_t>(rng());
    if (len >= 4 && (i % 2) == 0) {  // half of them with a plausible header
      req[0] = 6;
      req[1] = 1;
      req[2] = req[3] = 0;
      if (len >= 6) set16(req, 4, static_cast<std::uint16_t>(rng() % 80));
    }
    const ChannelKind ch = (i % 3) == 0 ? ChannelKind::Udp : ChannelKind::UnixSocket;
    const CommandResult r = handle_command(req, ch, p, out);
    if (r.replied()) {
      CHECK(r.reply_length <= req.size());
      CHECK(r.reply_length >= kReplyHeaderLength);
    }
  }
  // Every known command at exactly its required length.
  for (std::uint16_t c = 0; c < kCommandCount; ++c) {
    const std::size_t len = required_request_length(c);
    if (len == 0) continue;
    const auto s = serve(raw_request(c, len), ChannelKind::UnixSocket, p);
    CAPTURE(c);
    REQUIRE(s.result.replied());
    CHECK(s.reply.size() <= len);
  }
}

TEST_CASE("cmdmon server: a too small output buffer drops instead of overflowing") {
  FakeProvider p;
  std::vector<std::uint8_t> out(40);
  const auto r = handle_command(build_request(Command::Tracking), ChannelKind::Udp, p, out);
  CHECK(r.outcome == CommandOutcome::DroppedNoRoom);
}
