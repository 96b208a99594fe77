// NTS server cookies (RFC 8915 section 6) and the server keys that seal them.
//
// A cookie carries the client's C2S and S2C keys, sealed with the current
// server key, so that the server keeps no per-client state:
//   key id (u32) | nonce (16) | AEAD_AES_SIV_CMAC_256(server key, nonce,
//                                 ad = key id, c2s || s2c)      = 100 bytes
// Server keys rotate daily; the ring keeps the newest kKeptServerKeys, so a
// cookie stays valid for two to three days, and an older key is forgotten
// (and so erased from the key directory when the ring is next written).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lib/nts_aead.hpp"
#include "lib/source.hpp"
#include "lib/time.hpp"

namespace gnomon {

// The keys of one client's NTS association (RFC 8915 5.1), from the TLS
// exporter. Wiped when destroyed.
struct NtsKeys {
  AeadKey c2s{};
  AeadKey s2c{};
  NtsKeys() = default;
  NtsKeys(const NtsKeys&) = default;
  NtsKeys& operator=(const NtsKeys&) = default;
  ~NtsKeys() {
    wipe_secret(c2s);
    wipe_secret(s2c);
  }
};

inline constexpr std::size_t kCookieNonceLen = 16;
inline constexpr std::size_t kCookieLen = 4 + kCookieNonceLen + kAeadTagLen + 2 * kAeadKeyLen;
inline constexpr std::int64_t kServerKeyRotationS = 86400;
inline constexpr std::size_t kKeptServerKeys = 3;

struct NtsServerKey {
  std::uint32_t id = 0;
  AeadKey key{};
  std::int64_t created_unix_s = 0;
};

class NtsKeyRing {
 public:
  NtsKeyRing() = default;
  NtsKeyRing(const NtsKeyRing&) = default;
  NtsKeyRing& operator=(const NtsKeyRing&) = default;
  ~NtsKeyRing();

  [[nodiscard]] bool empty() const { return keys_.empty(); }
  [[nodiscard]] std::size_t size() const { return keys_.size(); }
  // The key new cookies are sealed with; nullptr when empty.
  [[nodiscard]] const NtsServerKey* current() const;
  [[nodiscard]] const NtsServerKey* find(std::uint32_t id) const;

  // Adds a fresh key if there is none, or the newest is kServerKeyRotationS
  // old (or from the future: the clock went back a lot), and forgets keys
  // beyond kKeptServerKeys. True if the ring changed.
  bool rotate(TimePoint now, RandomSource& rng);
  // When rotate() next has something to do; nullopt when empty (now).
  [[nodiscard]] std::optional<TimePoint> next_rotation() const;

  // Text form for the key directory: a header line, then one line per key
  // "ID-hex CREATED-unix-s KEY-hex", newest first. from_text() rejects any
  // deviation (nullopt): the daemon then starts with fresh keys.
  [[nodiscard]] std::string to_text() const;
  [[nodiscard]] static std::optional<NtsKeyRing> from_text(std::string_view text);

 private:
  std::vector<NtsServerKey> keys_;  // newest first
};

// Seals `keys` into a cookie with the ring's current key. Returns false if
// the ring is empty or sealing failed. `out` must hold kCookieLen bytes.
[[nodiscard]] bool seal_cookie(const NtsKeyRing& ring, const NtsKeys& keys, Aead& aead,
                               RandomSource& rng, std::span<std::uint8_t, kCookieLen> out);

// Opens a cookie: nullopt if its length is wrong, its key is unknown, or the
// tag does not verify.
[[nodiscard]] std::optional<NtsKeys> open_cookie(const NtsKeyRing& ring, Aead& aead,
                                                 std::span<const std::uint8_t> cookie);

}  // namespace gnomon
