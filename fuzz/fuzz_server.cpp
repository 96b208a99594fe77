// The whole server reply path (lib/server.hpp with symmetric keys): check,
// rate decision, authentication, reply, transmit stamp and MAC. The first
// bytes choose the context; the rest is the request. The reply must never be
// longer than the request (no amplification) nor shorter than a header.
#include "fuzz/fuzz_support.hpp"
#include "lib/server.hpp"

using namespace gnomon;
using namespace gnomon::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  const std::uint8_t flags = in.u8();
  const std::uint8_t state_sel = in.u8();
  const std::uint32_t fuzz_bits = in.u32();
  const std::span<const std::uint8_t> request = in.rest();

  RequestContext ctx;
  ctx.request = request;
  ctx.rx_time = TimePoint{1'700'000'000LL * kNsPerS + static_cast<std::int64_t>(fuzz_bits)};
  ctx.client = *SocketAddress::parse((flags & 0x40) ? "192.0.2.5:123" : "[2001:db8::5]:40000", 123);
  ctx.allowed = (flags & 1) == 0;
  ctx.from_self = (flags & 2) != 0;
  ctx.rate = static_cast<RateDecision>((flags >> 2) % 3);
  ctx.rx_fuzz = fuzz_bits;
  ctx.tx_fuzz = ~fuzz_bits;
  if (flags & 0x10) ctx.interleaved_tx = ctx.rx_time - Duration::from_seconds(0.5);
  SymmetricServerAuth auth(fuzz_keys());
  if ((flags & 0x20) == 0) ctx.auth = &auth;

  ServedState state;
  state.stratum = state_sel % 18;
  state.leap = static_cast<Leap>(state_sel >> 6);
  state.precision = static_cast<std::int8_t>(state_sel);
  state.refid = fuzz_bits;
  state.reference_time = ctx.rx_time - Duration::seconds(static_cast<std::int64_t>(state_sel) * 1000 - 9000);
  state.root_delay_s = state_sel * 0.37;
  state.root_dispersion_s = state_sel * 0.11;
  state.dispersion_rate = (flags & 0x80) ? 1e-5 : -1e300;
  ServerOptions options;
  options.min_reply_poll = static_cast<std::int8_t>(fuzz_bits >> 24);

  std::vector<std::uint8_t> out(kMaxNtpPacketLen);
  ServerReply r = build_reply(ctx, state, options, out);
  if (!r.answered()) {
    GNOMON_FUZZ_CHECK(r.length == 0);
    return 0;
  }
  GNOMON_FUZZ_CHECK(r.length >= kNtpHeaderLen && r.length <= request.size());
  stamp_transmit(std::span<std::uint8_t>(out.data(), r.length), ctx.rx_time + Duration::from_seconds(1e-6),
                 fuzz_bits, state.precision);
  std::size_t len = r.length;
  if (r.needs_auth) {
    GNOMON_FUZZ_CHECK(ctx.auth != nullptr);
    len = auth.finish_reply(out, r.length);
    if (len == 0) return 0;  // dropped
    // A signed reply verifies with the request's key.
    ParsedPacket p;
    GNOMON_FUZZ_CHECK(parse_packet(std::span<const std::uint8_t>(out.data(), len), p) == ParseError::None);
    GNOMON_FUZZ_CHECK(!p.has_mac || check_reply_mac(p, std::span<const std::uint8_t>(out.data(), len),
                                                    p.mac_key_id, fuzz_keys().get()));
  }
  GNOMON_FUZZ_CHECK(len >= kNtpHeaderLen && len <= request.size());
  const NtpHeader reply = decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(out.data(), kNtpHeaderLen));
  GNOMON_FUZZ_CHECK(reply.version == ((request[0] >> 3) & 7));
  GNOMON_FUZZ_CHECK(reply.mode == NtpMode::Server || reply.mode == NtpMode::SymmetricPassive);
  GNOMON_FUZZ_CHECK(reply.poll >= kMinReplyPoll && reply.poll <= kMaxReplyPoll);
  return 0;
}
