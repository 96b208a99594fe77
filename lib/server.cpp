// The NTP server's reply: see server.hpp.
#include "lib/server.hpp"

#include <algorithm>
#include <cmath>

namespace gnomon {
namespace {

[[nodiscard]] DropReason from_parse_error(ParseError e) {
  switch (e) {
    case ParseError::None: return DropReason::None;
    case ParseError::TooShort: return DropReason::TooShort;
    case ParseError::BadLength: return DropReason::BadLength;
    case ParseError::BadVersion: return DropReason::BadVersion;
    case ParseError::BadExtension:
    case ParseError::TooManyExtensions: return DropReason::BadExtension;
  }
  return DropReason::BadExtension;
}

// The mode we answer with, or Reserved if the request must be dropped.
[[nodiscard]] NtpMode reply_mode(const NtpHeader& h, std::uint16_t client_port) {
  switch (h.mode) {
    case NtpMode::Client: return NtpMode::Server;
    case NtpMode::SymmetricActive: return NtpMode::SymmetricPassive;
    case NtpMode::Reserved:
      // NTPv1 has no mode field; a request from a port other than 123 is a client.
      return (h.version == 1 && client_port != kNtpPort) ? NtpMode::Server : NtpMode::Reserved;
    default: return NtpMode::Reserved;
  }
}

// Mask of the fraction bits below a precision of 2^precision s.
[[nodiscard]] std::uint32_t fuzz_mask(int precision) {
  const int bits = std::clamp(precision, -32, 0) + 32;  // 0..32
  return bits >= 32 ? 0xFFFFFFFFu : (1u << bits) - 1u;
}

[[nodiscard]] NtpTimestamp to_ntp_or_zero(TimePoint t) {
  // chrony sends zero for an unknown (zero) instant.
  return t.unix_ns == 0 ? NtpTimestamp{} : NtpTimestamp::from_time(t);
}

}  // namespace

const char* to_string(DropReason r) {
  switch (r) {
    case DropReason::None: return "answered";
    case DropReason::TooShort: return "shorter than 48 bytes";
    case DropReason::BadLength: return "length not a multiple of 4 or too long";
    case DropReason::BadVersion: return "unsupported version";
    case DropReason::BadMode: return "mode not answered";
    case DropReason::BadExtension: return "malformed extension field or MAC";
    case DropReason::Denied: return "denied by access rules";
    case DropReason::FromSelf: return "from our own address";
    case DropReason::AuthFailed: return "authentication failed";
    case DropReason::RateLimited: return "rate limited";
    case DropReason::NoRoom: return "reply would be longer than the request";
    case DropReason::Count: break;
  }
  return "unknown";
}

const char* metric_name(DropReason r) {
  switch (r) {
    case DropReason::None: return "none";
    case DropReason::TooShort: return "too_short";
    case DropReason::BadLength: return "bad_length";
    case DropReason::BadVersion: return "bad_version";
    case DropReason::BadMode: return "bad_mode";
    case DropReason::BadExtension: return "bad_extension";
    case DropReason::Denied: return "denied";
    case DropReason::FromSelf: return "from_self";
    case DropReason::AuthFailed: return "auth_failed";
    case DropReason::RateLimited: return "rate_limited";
    case DropReason::NoRoom: return "no_room";
    case DropReason::Count: break;
  }
  return "unknown";
}

bool is_interleaved_request(const NtpHeader& h) {
  return h.version == 4 && (h.origin_ts.fraction & 1u) != 0 && h.receive_ts != h.transmit_ts;
}

DropReason check_request(const RequestContext& ctx, ParsedPacket& parsed) {
  if (ctx.from_self) return DropReason::FromSelf;
  const DropReason parse = from_parse_error(parse_packet(ctx.request, parsed));
  if (parse != DropReason::None) return parse;
  if (!ctx.allowed) return DropReason::Denied;
  if (reply_mode(parsed.header, ctx.client.port) == NtpMode::Reserved) return DropReason::BadMode;
  return DropReason::None;
}

ServerReply write_reply(const ParsedPacket& parsed, const RequestContext& ctx,
                        const ServedState& state, const ServerOptions& options,
                        std::span<std::uint8_t> out) {
  ServerReply result;
  if (ctx.rate == RateDecision::Drop) {
    result.reason = DropReason::RateLimited;
    return result;
  }
  // A MAC or NTS fields: the authenticator decides (no authenticator: drop).
  std::optional<ServerAuthVerdict> auth;
  if (carries_auth(parsed)) {
    auth = ctx.auth != nullptr ? ctx.auth->check_request(parsed, ctx.request) : ServerAuthVerdict::Drop;
    if (*auth == ServerAuthVerdict::Drop) {
      result.reason = DropReason::AuthFailed;
      return result;
    }
  }
  if (out.size() < kNtpHeaderLen || parsed.length < kNtpHeaderLen) {
    result.reason = DropReason::NoRoom;
    return result;
  }

  const NtpHeader& req = parsed.header;
  const NtpMode mode = reply_mode(req, ctx.client.port);
  if (mode == NtpMode::Reserved) {  // a request that did not pass check_request
    result.reason = DropReason::BadMode;
    return result;
  }
  const int precision = std::clamp(static_cast<int>(state.precision), -32, 0);

  NtpHeader h;
  h.version = req.version;
  h.mode = mode;
  h.poll = static_cast<std::int8_t>(
      std::clamp(std::max(static_cast<int>(req.poll), options.min_reply_poll), kMinReplyPoll,
                 kMaxReplyPoll));
  h.precision = static_cast<std::int8_t>(precision);

  if (state.stratum <= 0 || state.stratum >= 16) {
    // Unsynchronised: chrony's REF_GetReferenceParams fallback.
    h.leap = Leap::Unsynchronised;
    h.stratum = 0;
    h.reference_id = 0;
    h.reference_ts = NtpTimestamp{};
    h.root_delay = NtpShort::from_seconds(kUnsyncRootDelayS);
    h.root_dispersion = NtpShort::from_seconds(kUnsyncRootDispersionS);
  } else {
    h.leap = state.leap;
    h.stratum = static_cast<std::uint8_t>(state.stratum);
    h.reference_id = state.refid;
    h.reference_ts = to_ntp_or_zero(state.reference_time);
    h.root_delay = NtpShort::from_seconds(state.root_delay_s);
    const double age_s = std::fabs((ctx.rx_time - state.reference_time).to_seconds());
    h.root_dispersion =
        NtpShort::from_seconds(state.root_dispersion_s + age_s * std::fabs(state.dispersion_rate));
  }

  if (ctx.rate == RateDecision::Kod) {
    h.leap = Leap::Unsynchronised;
    h.stratum = 0;
    h.reference_id = kKodRate;
  }
  if (auth == ServerAuthVerdict::Nak) {
    h.leap = Leap::Unsynchronised;
    h.stratum = 0;
    h.reference_id = kKodNtsNak;
  }

  const std::uint32_t mask = fuzz_mask(precision);
  const bool interleaved =
      ctx.interleaved_tx.has_value() && ctx.rate == RateDecision::Pass && req.version == 4;
  // Basic mode: origin = the client's transmit time. Interleaved: the client's
  // receive time of our previous reply, which our transmit time below matches.
  h.origin_ts = interleaved ? req.receive_ts : req.transmit_ts;

  // Receive timestamp: fuzzed below the precision, lowest bit set so that an
  // interleaved request (whose origin is this value) is recognisable, and never
  // equal to the origin.
  NtpTimestamp rx = NtpTimestamp::from_time(ctx.rx_time);
  rx.fraction = (rx.fraction ^ (ctx.rx_fuzz & mask)) | 1u;
  if (rx == h.origin_ts) rx.fraction ^= 2u;
  h.receive_ts = rx;

  if (interleaved) {
    NtpTimestamp tx = NtpTimestamp::from_time(*ctx.interleaved_tx);
    tx.fraction = (tx.fraction ^ (ctx.tx_fuzz & mask)) & ~1u;
    if (tx == h.origin_ts) tx.fraction ^= 2u;
    h.transmit_ts = tx;
  }

  encode_header(h, out.first<kNtpHeaderLen>());
  result.length = kNtpHeaderLen;
  result.needs_transmit_stamp = !interleaved;
  result.interleaved = interleaved;
  result.needs_auth = auth.has_value();
  result.receive_ts = rx;
  return result;
}

ServerReply build_reply(const RequestContext& ctx, const ServedState& state,
                        const ServerOptions& options, std::span<std::uint8_t> out) {
  ParsedPacket parsed;
  const DropReason reason = check_request(ctx, parsed);
  if (reason != DropReason::None) {
    ServerReply result;
    result.reason = reason;
    return result;
  }
  return write_reply(parsed, ctx, state, options, out);
}

void stamp_transmit(std::span<std::uint8_t> reply, TimePoint tx, std::uint32_t random_bits,
                    std::int8_t precision) {
  if (reply.size() < kNtpHeaderLen) return;
  NtpTimestamp ts = NtpTimestamp::from_time(tx);
  ts.fraction = (ts.fraction ^ (random_bits & fuzz_mask(precision))) & ~1u;
  if (ts == load_timestamp(reply.data() + kOriginTsOffset)) ts.fraction ^= 2u;
  store_timestamp(reply.data() + kTransmitTsOffset, ts);
}

}  // namespace gnomon
