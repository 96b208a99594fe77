// The NTP server's answer to one request, as a pure function of the request
// bytes, the kernel receive time, the client's address and what we serve.
// chrony's rules (ntp_core.c): versions 1..4 are answered with the same
// version; mode 3 gets mode 4, mode 1 gets a stateless mode 2, and mode 0 is
// answered (with mode 4) only for NTPv1 from a port other than 123. Anything
// else is dropped, with a reason for the counters. A reply is never longer
// than its request.
//
// Hot path: no allocation, no exceptions, no logging. The daemon reads the
// clock for the transmit timestamp and calls stamp_transmit() right before
// sendmsg.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "lib/net_address.hpp"
#include "lib/ntp_auth.hpp"
#include "lib/packet.hpp"
#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon {

inline constexpr std::uint16_t kNtpPort = 123;

// Why a request got no answer. `None` means it was answered.
enum class DropReason : std::uint8_t {
  None = 0,
  TooShort,      // < 48 bytes
  BadLength,     // not a multiple of 4, or longer than kMaxNtpPacketLen
  BadVersion,    // version 0 or 5..7
  BadMode,       // mode 0 (except NTPv1 from port != 123), 2, 4, 5, 6, 7
  BadExtension,  // malformed extension fields / MAC, or too many fields
  Denied,        // the access list denies the client
  FromSelf,      // one of our own addresses, or a reply loop the daemon detected
  AuthFailed,    // MAC with an unknown key or a bad digest, NTS without NTS, crypto-NAK
  RateLimited,   // the rate limiter said drop
  NoRoom,        // the reply would not fit the buffer or would outgrow the request
  Count,
};

inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::Count);

// Human-readable text, for logs and `serverstats`-like output.
[[nodiscard]] const char* to_string(DropReason r);
// Stable snake_case name for metrics labels ("too_short", ...).
[[nodiscard]] const char* metric_name(DropReason r);

// The rate limiter's verdict for this client; Pass when disabled.
enum class RateDecision : std::uint8_t { Pass, Drop, Kod };

// Kiss-o'-death codes sent as the refid (RFC 5905 section 7.4).
inline constexpr std::uint32_t kKodRate = 0x52415445u;  // "RATE"

// Everything the server needs to know about one received datagram.
struct RequestContext {
  std::span<const std::uint8_t> request;
  TimePoint rx_time;              // kernel receive timestamp
  SocketAddress client;
  bool allowed = false;           // ACL verdict, decided by the caller
  bool from_self = false;         // sent by one of our own addresses (the daemon knows)
  RateDecision rate = RateDecision::Pass;
  // Random bits from a CSPRNG, XORed below our precision into the receive
  // timestamp and, in interleaved mode, into the transmit timestamp.
  std::uint32_t rx_fuzz = 0;
  std::uint32_t tx_fuzz = 0;
  // Interleaved mode (chrony's xleave): the kernel transmit time of
  // our previous reply to this client, found by the daemon under the
  // request's origin timestamp (see is_interleaved_request). nullopt: basic mode.
  std::optional<TimePoint> interleaved_tx;
  // Checks requests that carry a MAC or NTS fields (lib/ntp_auth.hpp);
  // nullptr: such requests are dropped (AuthFailed).
  ServerAuthenticator* auth = nullptr;
};

struct ServerOptions {
  // Lower bound for the poll sent in replies, log2 s: the rate-limit interval
  // when rate limiting is on, else chrony's minimum of -19.
  int min_reply_poll = -19;
};

// Bounds of the poll we send back, whatever the client claims (log2 s).
inline constexpr int kMinReplyPoll = -19;
inline constexpr int kMaxReplyPoll = 24;

struct ServerReply {
  std::size_t length = 0;          // reply bytes in `out`; 0 when dropped
  DropReason reason = DropReason::None;
  bool needs_transmit_stamp = false;  // call stamp_transmit() before sending
  bool interleaved = false;
  NtpTimestamp receive_ts;         // as sent; the key for a later interleaved lookup
  // The request was authenticated (or gets an NTS NAK): after the transmit
  // timestamp, call ctx.auth->finish_reply() to append the authentication.
  bool needs_auth = false;
  [[nodiscard]] bool answered() const { return reason == DropReason::None; }
};

// True if a request asks for an interleaved reply as chrony's clients form it:
// NTPv4, origin's lowest bit set (it is one of our receive timestamps), and
// receive != transmit.
[[nodiscard]] bool is_interleaved_request(const NtpHeader& h);

// Phase 1: checks that need no per-client state (length, version, extension
// fields, self, ACL, mode). Fills `parsed`. Returns None if the request may be
// answered; the daemon may then consult the rate limiter.
[[nodiscard]] DropReason check_request(const RequestContext& ctx, ParsedPacket& parsed);

// Phase 2: rate decision, authentication and the reply itself, for a request
// that passed check_request. Fills everything except the transmit timestamp
// (unless interleaved). `out` must hold at least 48 bytes.
[[nodiscard]] ServerReply write_reply(const ParsedPacket& parsed, const RequestContext& ctx,
                                      const ServedState& state, const ServerOptions& options,
                                      std::span<std::uint8_t> out);

// Both phases.
[[nodiscard]] ServerReply build_reply(const RequestContext& ctx, const ServedState& state,
                                      const ServerOptions& options, std::span<std::uint8_t> out);

// Writes the transmit timestamp `tx` into a reply built above, with
// `random_bits` XORed in below `precision` (log2 s, clamped to [-32, 0]),
// the lowest bit cleared (chrony's marker for interleaved detection) and
// never equal to the origin timestamp. No-op on a buffer shorter than 48.
void stamp_transmit(std::span<std::uint8_t> reply, TimePoint tx, std::uint32_t random_bits,
                    std::int8_t precision);

}  // namespace gnomon
