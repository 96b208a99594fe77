// Symmetric-key authentication of NTP packets (RFC 5905 MAC, chrony's key
// types). The MAC of a packet is
//   digest algorithms (MD5, SHA1, SHA2, SHA3): H(key || packet)   -- not HMAC
//   AES128 / AES256:                            AES-CMAC(key, packet)
// appended after the header (and extension fields) as key id u32 + digest.
// NTPv4 digests are truncated to 20 bytes (RFC 7822: a MAC is at most 24
// bytes, so that it cannot be mistaken for an extension field); NTPv1-3
// carry up to 64 bytes.
//
// The crypto itself sits behind MacProvider, so that gnomon::core stays
// standard-library only; lib/crypto/ implements it with OpenSSL.
//
// Key material never leaves this module except through MacProvider::compute:
// there is no accessor that formats a secret, and secrets are wiped when a
// key is destroyed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "lib/ntp_auth.hpp"
#include "lib/packet.hpp"

namespace gnomon {

enum class MacAlgorithm : std::uint8_t {
  Md5,
  Sha1,
  Sha256,
  Sha384,
  Sha512,
  Sha3_224,
  Sha3_256,
  Sha3_384,
  Sha3_512,
  Aes128Cmac,
  Aes256Cmac,
};

// chrony's key-file names: "MD5", "SHA1", "SHA256", "SHA384", "SHA512",
// "SHA3-224", "SHA3-256", "SHA3-384", "SHA3-512", "AES128", "AES256"
// (case-sensitive, as chrony compares them).
[[nodiscard]] std::optional<MacAlgorithm> mac_algorithm_from_name(std::string_view name);
[[nodiscard]] const char* to_string(MacAlgorithm a);
// Bytes of the full MAC output: 16 (MD5, CMAC), 20 (SHA1), 28..64 (SHA2/3).
[[nodiscard]] std::size_t mac_output_len(MacAlgorithm a);
// Key length a CMAC algorithm requires (16 or 32 bytes); 0 for digests,
// which take a key of any length.
[[nodiscard]] std::size_t required_key_len(MacAlgorithm a);
[[nodiscard]] bool is_cmac(MacAlgorithm a);

// Longest digest any algorithm produces, bytes.
inline constexpr std::size_t kMaxMacOutputLen = 64;
// Longest digest carried in an NTPv4 packet, and in NTPv1-3, bytes.
inline constexpr std::size_t kMaxV4DigestLen = kMaxV4MacLen - kMacKeyIdLen;  // 20
inline constexpr std::size_t kMaxLegacyDigestLen = kMaxMacLen - kMacKeyIdLen;  // 64
// chrony warns about keys shorter than 80 bits.
inline constexpr std::size_t kMinSecureKeyLen = 10;

// The crypto primitive. Implementations must be safe to call from several
// threads at once (server workers share one provider).
class MacProvider {
 public:
  virtual ~MacProvider() = default;
  // True if `a` can be computed (an OpenSSL build may lack SHA3, say).
  [[nodiscard]] virtual bool supports(MacAlgorithm a) const = 0;
  // Writes the full MAC of `data` under `key` into `out` (at least
  // mac_output_len(a) bytes). Returns the bytes written, 0 on failure.
  [[nodiscard]] virtual std::size_t compute(MacAlgorithm a, std::span<const std::uint8_t> key,
                                            std::span<const std::uint8_t> data,
                                            std::span<std::uint8_t> out) const = 0;
};

// Bytes that are zeroed when destroyed or overwritten. Holds key material.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::vector<std::uint8_t> bytes) : bytes_(std::move(bytes)) {}
  SecretBytes(const SecretBytes&) = default;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {}
  SecretBytes& operator=(const SecretBytes& other);
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  ~SecretBytes() { wipe(); }

  [[nodiscard]] std::span<const std::uint8_t> bytes() const { return bytes_; }
  [[nodiscard]] std::size_t size() const { return bytes_.size(); }
  void wipe();

 private:
  std::vector<std::uint8_t> bytes_;
};

struct SymmetricKey {
  std::uint32_t id = 0;
  MacAlgorithm algorithm = MacAlgorithm::Md5;
  SecretBytes secret;
};

// Digest bytes a MAC with algorithm `a` carries in a packet of `version`.
[[nodiscard]] std::size_t digest_len_for_version(MacAlgorithm a, int version);

// Constant-time comparison of two equally long byte strings.
[[nodiscard]] bool equal_constant_time(std::span<const std::uint8_t> a,
                                       std::span<const std::uint8_t> b);

// The configured keys, looked up by id. Immutable once built, so it can be
// shared (std::shared_ptr<const KeyTable>) by the server workers and the
// sources.
class KeyTable {
 public:
  // Duplicate ids: the first one listed wins (chrony: "arbitrary").
  KeyTable(std::vector<SymmetricKey> keys, std::shared_ptr<const MacProvider> provider);

  [[nodiscard]] const SymmetricKey* find(std::uint32_t id) const;
  [[nodiscard]] bool known(std::uint32_t id) const { return find(id) != nullptr; }
  [[nodiscard]] std::size_t size() const { return keys_.size(); }
  [[nodiscard]] bool empty() const { return keys_.empty(); }

  // Digest bytes a MAC with key `id` carries in a packet of `version`;
  // 0 if the key is unknown or unsupported.
  [[nodiscard]] std::size_t digest_len(std::uint32_t id, int version) const;

  // chrony's rule: the MAC over `data` (everything before the MAC) must
  // have exactly digest_len(id, version) bytes and match. Unknown key, wrong
  // length or mismatch: false. Never throws.
  [[nodiscard]] bool verify(std::uint32_t id, std::span<const std::uint8_t> data,
                            std::span<const std::uint8_t> digest, int version) const;

  // Appends key id + digest to the first `data_len` bytes of `packet`.
  // Returns the MAC's length (4 + digest), or 0 if the key is unknown or
  // `packet` has no room.
  [[nodiscard]] std::size_t sign(std::uint32_t id, std::span<std::uint8_t> packet,
                                 std::size_t data_len, int version) const;

 private:
  std::vector<SymmetricKey> keys_;  // sorted by id
  std::shared_ptr<const MacProvider> provider_;
};

// NTP's preferred request version with this key: 3 when an NTPv4 MAC would
// be truncated (digest longer than 20 bytes), as chrony does, else 4.
[[nodiscard]] int preferred_version_for_key(const KeyTable& keys, std::uint32_t id);

// Test 5 of a client for symmetric keys (chrony's NAU_CheckResponseAuth).
// `key` is the source's configured key (nullopt: unauthenticated source).
// Without a key, a reply must carry no MAC; with a key, it must carry a MAC
// with that key id that verifies. `bytes` is the reply `parsed` came from.
[[nodiscard]] bool check_reply_mac(const ParsedPacket& parsed, std::span<const std::uint8_t> bytes,
                                   std::optional<std::uint32_t> key, const KeyTable* keys);

// The server's check of a request's MAC: a known key and a good digest. A
// crypto-NAK (key id alone) never passes.
[[nodiscard]] bool check_request_mac(const ParsedPacket& parsed,
                                     std::span<const std::uint8_t> bytes, const KeyTable* keys);

// Bytes of `parsed`'s packet covered by its MAC (everything before it).
[[nodiscard]] std::size_t mac_offset(const ParsedPacket& parsed);

// The server side of symmetric keys (lib/ntp_auth.hpp). A request with a
// MAC that verifies gets a reply signed with the same key (so never longer
// than the request); an unknown key, a bad digest or a crypto-NAK is dropped
// with no state change (chrony does the same; there is no crypto-NAK reply).
// Requests with NTS fields go to `nts` when given, else are dropped.
// One instance per request in flight: it remembers the key of the latest
// check_request() for finish_reply().
class SymmetricServerAuth final : public ServerAuthenticator {
 public:
  explicit SymmetricServerAuth(std::shared_ptr<const KeyTable> keys,
                               ServerAuthenticator* nts = nullptr)
      : keys_(std::move(keys)), nts_(nts) {}
  [[nodiscard]] ServerAuthVerdict check_request(const ParsedPacket& parsed,
                                                std::span<const std::uint8_t> request) override;
  [[nodiscard]] std::size_t finish_reply(std::span<std::uint8_t> out, std::size_t length) override;

 private:
  std::shared_ptr<const KeyTable> keys_;
  ServerAuthenticator* nts_;
  enum class Pending : std::uint8_t { None, Mac, Nts } pending_ = Pending::None;
  std::uint32_t key_id_ = 0;
  int version_ = 4;
  std::size_t request_len_ = 0;
};

// The client side: signs requests with the source's key and checks that
// replies carry a good MAC of the same key (test 5). Requests go out as
// NTPv3 when the key's digest is longer than 20 bytes (chrony's rule, so
// that the MAC is not truncated), else with the source's version.
class SymmetricClientAuth final : public ClientAuthenticator {
 public:
  SymmetricClientAuth(std::shared_ptr<const KeyTable> keys, std::uint32_t key_id)
      : keys_(std::move(keys)), key_id_(key_id) {}
  [[nodiscard]] std::size_t sign_request(std::span<std::uint8_t> buf, std::size_t length,
                                         TimePoint now) override;
  [[nodiscard]] ReplyAuth verify_reply(std::span<const std::uint8_t> bytes,
                                       const ParsedPacket& parsed) override;
  [[nodiscard]] std::uint32_t key_id() const { return key_id_; }

 private:
  std::shared_ptr<const KeyTable> keys_;
  std::uint32_t key_id_;
};

}  // namespace gnomon
