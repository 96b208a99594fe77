// Authentication hooks of NTP packets, shared by symmetric keys and
// NTS (RFC 8915). The core calls them; implementations that need crypto live
// outside gnomon::core (lib/crypto, daemon).
//
// Server side: server.cpp's write_reply() hands every request that carries a
// MAC or NTS extension fields to RequestContext::auth. The daemon then sets
// the transmit timestamp and calls finish_reply(), so that the MAC or the NTS
// authenticator covers the final header:
//
//   ServerReply r = build_reply(ctx{.auth = &a}, ...);   // a.check_request()
//   if (r.needs_auth) { stamp_transmit(out, ...); r.length = a.finish_reply(out, r.length); }
//
// Client side: a Source with an authenticator has it sign every request and
// verify every reply (test 5). A source configured with a key or NTS but with
// no authenticator accepts no reply, so it never falls back to plain NTP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "lib/net_address.hpp"
#include "lib/packet.hpp"
#include "lib/time.hpp"

namespace gnomon {

// Kiss code of an NTS negative acknowledgement ("NTSN", RFC 8915 5.7).
inline constexpr std::uint32_t kKodNtsNak = 0x4E54534Eu;

// True if a request carries a MAC (or crypto-NAK) or any NTS extension field.
[[nodiscard]] bool carries_auth(const ParsedPacket& p);
// True if it carries any NTS extension field.
[[nodiscard]] bool carries_nts(const ParsedPacket& p);

enum class ServerAuthVerdict : std::uint8_t {
  Ok,    // authentic: answer, then finish_reply()
  Nak,   // answer with a NAK (KoD "NTSN"), then finish_reply()
  Drop,  // no answer
};

class ServerAuthenticator {
 public:
  virtual ~ServerAuthenticator() = default;
  // Checks a request that carries_auth(). `request` is the datagram `parsed`
  // came from; it must stay valid and unchanged until finish_reply(). May do
  // the expensive work (decrypting, making cookies) now, before the reply's
  // transmit timestamp is taken. Never throws.
  [[nodiscard]] virtual ServerAuthVerdict check_request(const ParsedPacket& parsed,
                                                        std::span<const std::uint8_t> request) = 0;
  // Appends the authentication of the reply whose final header (transmit
  // timestamp set) is out[0, length), for the request of the latest
  // check_request(). Returns the reply's new length, never more than the
  // request's, or 0 to drop it.
  [[nodiscard]] virtual std::size_t finish_reply(std::span<std::uint8_t> out, std::size_t length) = 0;
};

enum class ReplyAuth : std::uint8_t {
  Ok,    // authentic reply to our latest request
  Fail,  // not authentic: test 5 fails
  Nak,   // an NTS NAK for our latest request: test 5 fails, new keys needed
};

class ClientAuthenticator {
 public:
  virtual ~ClientAuthenticator() = default;
  // Where requests go when the authenticator decides it (NTS-KE may
  // negotiate the NTP server and port); nullopt = the source's own address.
  [[nodiscard]] virtual std::optional<SocketAddress> ntp_address() const { return std::nullopt; }
  // Appends authentication to the request in buf[0, length). Returns the new
  // length, or 0 if no authenticated request can be made now (NTS: no
  // cookies yet, key exchange under way); the Source then sends nothing.
  [[nodiscard]] virtual std::size_t sign_request(std::span<std::uint8_t> buf, std::size_t length,
                                                 TimePoint now) = 0;
  // Checks a reply whose origin timestamp matched our latest request.
  [[nodiscard]] virtual ReplyAuth verify_reply(std::span<const std::uint8_t> bytes,
                                               const ParsedPacket& parsed) = 0;
};

}  // namespace gnomon
