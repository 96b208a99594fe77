// NTS extension fields in NTPv4 packets (RFC 8915 section 5).
//
// Request (client):  header | Unique Identifier (32 random bytes) | Cookie |
//                    Cookie Placeholder x (wanted - 1) | Authenticator
// Reply (server):    header | Unique Identifier (echoed) |
//                    Authenticator{ encrypted: New Cookies }
// NAK (server):      KoD "NTSN" header | Unique Identifier (echoed)
//
// The Authenticator field's body is: nonce length u16, ciphertext length u16,
// nonce (padded to 4), ciphertext (tag || encrypted fields, padded to 4), and
// extra padding; the AEAD's associated data is the packet up to the field.
// The server pads its reply to the request's length, so NTS never amplifies.
//
// NtsServerAuth implements ServerAuthenticator (lib/ntp_auth.hpp); one per
// server worker thread. NtsClientSession is the client side's state: the keys
// from NTS-KE, the jar of cookies and the identifier of the request in flight.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "lib/ntp_auth.hpp"
#include "lib/nts_aead.hpp"
#include "lib/nts_cookie.hpp"
#include "lib/nts_ke_records.hpp"
#include "lib/packet.hpp"
#include "lib/source.hpp"

namespace gnomon {

inline constexpr std::size_t kNtsUniqueIdLen = 32;
inline constexpr std::size_t kNtsNonceLen = 16;
// Cookies a client keeps (its jar) and asks for.
inline constexpr std::size_t kNtsCookieJarSize = 8;
// Most bytes of cookies (with their 4-byte field heads) a request carries,
// so that requests stay clear of IP fragmentation (chrony's limit).
inline constexpr std::size_t kMaxRequestCookieBytes = 8 * 108;

// Why the server did not authenticate a request; for counters and tests.
enum class NtsServerResult : std::uint8_t {
  Ok,
  Nak,              // cookie or authenticator did not verify: NAK sent
  NotClientMode,
  Malformed,        // missing/duplicate fields, lengths that disagree, auth not last
  NoKeys,           // the NTS server has no keys (not running)
  CryptoError,
};

class NtsServerAuth final : public ServerAuthenticator {
 public:
  // `aead` and `rng` must outlive this object; neither is shared with
  // another thread while it is used.
  NtsServerAuth(Aead& aead, RandomSource& rng);
  ~NtsServerAuth() override;

  // New server keys (after a rotation); shared read-only between threads.
  void set_keys(std::shared_ptr<const NtsKeyRing> keys) { keys_ = std::move(keys); }

  [[nodiscard]] ServerAuthVerdict check_request(const ParsedPacket& parsed,
                                                std::span<const std::uint8_t> request) override;
  [[nodiscard]] std::size_t finish_reply(std::span<std::uint8_t> out, std::size_t length) override;

  // Details of the latest check_request().
  [[nodiscard]] NtsServerResult last_result() const { return result_; }

 private:
  [[nodiscard]] NtsServerResult check(const ParsedPacket& parsed, std::span<const std::uint8_t> request);

  Aead& aead_;
  RandomSource& rng_;
  std::shared_ptr<const NtsKeyRing> keys_;
  // State of the latest request, for finish_reply().
  NtsServerResult result_ = NtsServerResult::Malformed;
  bool pending_ = false;                    // finish_reply() not called yet
  std::span<const std::uint8_t> uid_;       // into the request
  std::size_t request_len_ = 0;
  AeadKey s2c_{};
  std::array<std::uint8_t, kNtsNonceLen> nonce_{};
  std::array<std::array<std::uint8_t, kCookieLen>, kNtsCookieJarSize> cookies_{};
  std::size_t cookie_count_ = 0;
};

// The client's NTS state for one server.
class NtsClientSession {
 public:
  NtsClientSession() = default;
  ~NtsClientSession();
  NtsClientSession(const NtsClientSession&) = delete;
  NtsClientSession& operator=(const NtsClientSession&) = delete;

  // Installs keys and cookies from a successful NTS-KE (drops any old ones).
  void install(const NtsKeys& keys, const std::vector<std::vector<std::uint8_t>>& cookies);
  // Forgets keys and cookies (a NAK, or a new key exchange wanted).
  void clear();
  [[nodiscard]] std::size_t cookies() const { return jar_.size(); }
  [[nodiscard]] bool has_keys() const { return has_keys_; }

  // Appends the NTS fields to the request in buf[0, length), using one cookie
  // and asking for enough to refill the jar. Returns the new length, or 0 if
  // there is no cookie or no room. A new unique identifier each time; replies
  // to earlier requests no longer verify.
  [[nodiscard]] std::size_t sign_request(std::span<std::uint8_t> buf, std::size_t length,
                                         Aead& aead, RandomSource& rng);
  // Checks a reply to the latest request: the unique identifier, then the
  // authenticator, then stores the new cookies. At most one reply per
  // request verifies. A NAK with our identifier clears the session.
  [[nodiscard]] ReplyAuth verify_reply(std::span<const std::uint8_t> bytes, const ParsedPacket& parsed,
                                       Aead& aead);

 private:
  bool has_keys_ = false;
  NtsKeys keys_;
  std::vector<std::vector<std::uint8_t>> jar_;  // oldest first
  std::array<std::uint8_t, kNtsUniqueIdLen> uid_{};
  bool awaiting_reply_ = false;
};

}  // namespace gnomon
