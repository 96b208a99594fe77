// The AEAD that NTS uses (RFC 8915 5.1): AEAD_AES_SIV_CMAC_256 of RFC 5297,
// algorithm id 15, a 32-byte key (two AES-128 keys), a 16-byte tag, the
// associated data as one S2V component and the nonce as the last one.
//
// The cipher sits behind an interface so that gnomon::core stays standard
// library only; lib/crypto/aes_siv.hpp implements it with OpenSSL.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace gnomon {

inline constexpr std::uint16_t kAeadAesSivCmac256 = 15;
inline constexpr std::size_t kAeadKeyLen = 32;
inline constexpr std::size_t kAeadTagLen = 16;

using AeadKey = std::array<std::uint8_t, kAeadKeyLen>;

// Overwrites secret bytes in a way the compiler does not remove.
void wipe_secret(std::span<std::uint8_t> bytes);

class Aead {
 public:
  virtual ~Aead() = default;
  // out = tag (16 bytes) || ciphertext; out.size() must be
  // plaintext.size() + kAeadTagLen. False on any failure.
  [[nodiscard]] virtual bool seal(const AeadKey& key, std::span<const std::uint8_t> nonce,
                                  std::span<const std::uint8_t> ad,
                                  std::span<const std::uint8_t> plaintext,
                                  std::span<std::uint8_t> out) = 0;
  // Inverse of seal: `sealed` is tag || ciphertext, out.size() must be
  // sealed.size() - kAeadTagLen. False if the tag does not verify (then
  // `out` holds no plaintext) or on any failure.
  [[nodiscard]] virtual bool open(const AeadKey& key, std::span<const std::uint8_t> nonce,
                                  std::span<const std::uint8_t> ad,
                                  std::span<const std::uint8_t> sealed,
                                  std::span<std::uint8_t> out) = 0;
};

}  // namespace gnomon
