// AEAD_AES_SIV_CMAC_256 (RFC 5297) on OpenSSL 3's AES: S2V with AES-CMAC
// (computed with AES-128-CBC) under the first half of the key, then
// AES-128-CTR under the second half.
//
// OpenSSL has an "AES-128-SIV" cipher, but it cannot be used here: in 3.0 it
// computes no tag for an empty plaintext (NTS requests have one), and it
// sets up a new CMAC (with cipher fetches) on every key, which costs more
// than the whole NTS reply. This implementation keys plain AES contexts once
// per key and keeps the last few keys (the server's cookie key is used for
// every request). Tests check it against OpenSSL's SIV and RFC 5297.
//
// One instance per thread: it keeps EVP contexts and a key cache.
#pragma once

#include <memory>

#include "lib/nts_aead.hpp"

namespace gnomon {

class AesSivCmac256 final : public Aead {
 public:
  AesSivCmac256();
  ~AesSivCmac256() override;
  AesSivCmac256(const AesSivCmac256&) = delete;
  AesSivCmac256& operator=(const AesSivCmac256&) = delete;

  // False if OpenSSL could not provide AES (then seal/open always fail).
  [[nodiscard]] bool available() const;

  [[nodiscard]] bool seal(const AeadKey& key, std::span<const std::uint8_t> nonce,
                          std::span<const std::uint8_t> ad, std::span<const std::uint8_t> plaintext,
                          std::span<std::uint8_t> out) override;
  [[nodiscard]] bool open(const AeadKey& key, std::span<const std::uint8_t> nonce,
                          std::span<const std::uint8_t> ad, std::span<const std::uint8_t> sealed,
                          std::span<std::uint8_t> out) override;

 private:
  struct Impl;
  // Created on first use, so that a daemon without NTS never loads AES.
  [[nodiscard]] Impl& impl() const;
  mutable std::unique_ptr<Impl> impl_;
};

}  // namespace gnomon
