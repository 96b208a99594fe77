// lib/crypto/aes_siv.hpp: AEAD_AES_SIV_CMAC_256 against OpenSSL's own SIV
// cipher (itself checked with RFC 5297's vector) for many lengths and keys,
// the empty-plaintext case against an independent S2V built from OpenSSL's
// AES-CMAC, the key cache, and tamper detection.
#include <catch2/catch.hpp>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lib/crypto/aes_siv.hpp"

using namespace gnomon;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes hex(const std::string& s) {
  Bytes b;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
    b.push_back(static_cast<std::uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  }
  return b;
}

AeadKey key_of(const Bytes& b) {
  AeadKey k{};
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

// RFC 5297 S2V for components (S1..Sn-1, Sn) with Sn shorter than a block,
// written straight from the RFC with OpenSSL's CMAC, as an independent check.
Bytes reference_s2v(const Bytes& k1, const std::vector<Bytes>& components, const Bytes& last) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "CMAC", nullptr);
  auto cmac = [&](const Bytes& data) {
    EVP_MAC_CTX* c = EVP_MAC_CTX_new(mac);
    char name[] = "AES-128-CBC";
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, name, 0),
                      OSSL_PARAM_construct_end()};
    EVP_MAC_init(c, k1.data(), k1.size(), p);
    EVP_MAC_update(c, data.data(), data.size());
    Bytes out(16);
    std::size_t len = 0;
    EVP_MAC_final(c, out.data(), &len, out.size());
    EVP_MAC_CTX_free(c);
    return out;
  };
  auto dbl = [](Bytes& b) {
    const bool carry = (b[0] & 0x80) != 0;
    for (std::size_t i = 0; i < 15; ++i) b[i] = static_cast<std::uint8_t>((b[i] << 1) | (b[i + 1] >> 7));
    b[15] = static_cast<std::uint8_t>(b[15] << 1);
    if (carry) b[15] ^= 0x87;
  };
  Bytes d = cmac(Bytes(16, 0));
  for (const Bytes& s : components) {
    dbl(d);
    const Bytes t = cmac(s);
    for (std::size_t i = 0; i < 16; ++i) d[i] ^= t[i];
  }
  REQUIRE(last.size() < 16);
  dbl(d);
  Bytes padded = last;
  padded.push_back(0x80);
  padded.resize(16, 0);
  for (std::size_t i = 0; i < 16; ++i) d[i] ^= padded[i];
  const Bytes v = cmac(d);
  EVP_MAC_free(mac);
  return v;
}

const Bytes kKey = hex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");

}  // namespace

TEST_CASE("OpenSSL offers AES-SIV") {
  AesSivCmac256 siv;
  CHECK(siv.available());
}

TEST_CASE("with a nonce, the tag is S2V(K1, AD, nonce, P) and the plaintext round-trips") {
  AesSivCmac256 siv;
  const Bytes ad = hex("101112131415161718191a1b1c1d1e1f2021222324252627");
  const Bytes nonce = hex("00112233445566778899aabbccddeeff");
  const Bytes pt = hex("112233445566778899aabbccddee");
  Bytes out(pt.size() + 16);
  REQUIRE(siv.seal(key_of(kKey), nonce, ad, pt, out));
  // Tag = S2V(K1, AD, nonce, P); P is 14 bytes (< one block).
  const Bytes k1(kKey.begin(), kKey.begin() + 16);
  CHECK(Bytes(out.begin(), out.begin() + 16) == reference_s2v(k1, {ad, nonce}, pt));
  Bytes back(pt.size());
  REQUIRE(siv.open(key_of(kKey), nonce, ad, out, back));
  CHECK(back == pt);
}

TEST_CASE("RFC 5297 A.1 exactly, through the cipher") {
  // With the RFC's AD as the only component, EVP gives the RFC's output.
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-128-SIV", nullptr);
  REQUIRE(c != nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  const Bytes ad = hex("101112131415161718191a1b1c1d1e1f2021222324252627");
  const Bytes pt = hex("112233445566778899aabbccddee");
  Bytes ct(pt.size());
  Bytes tag(16);
  int len = 0;
  REQUIRE(EVP_EncryptInit_ex2(ctx, c, kKey.data(), nullptr, nullptr) == 1);
  REQUIRE(EVP_EncryptUpdate(ctx, nullptr, &len, ad.data(), static_cast<int>(ad.size())) == 1);
  REQUIRE(EVP_EncryptUpdate(ctx, ct.data(), &len, pt.data(), static_cast<int>(pt.size())) == 1);
  REQUIRE(EVP_EncryptFinal_ex(ctx, ct.data() + len, &len) == 1);
  REQUIRE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag.data()) == 1);
  CHECK(tag == hex("85632d07c6e8f37f950acd320a2ecc93"));
  CHECK(ct == hex("40c02b9690c4dc04daef7f6afe5c"));
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(c);
}

// OpenSSL's SIV with (ad, nonce) as the associated-data components.
Bytes openssl_siv(const Bytes& key, const Bytes& ad, const Bytes& nonce, const Bytes& pt) {
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-128-SIV", nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(16 + pt.size());
  int len = 0;
  REQUIRE(EVP_EncryptInit_ex2(ctx, c, key.data(), nullptr, nullptr) == 1);
  REQUIRE(EVP_EncryptUpdate(ctx, nullptr, &len, ad.data(), static_cast<int>(ad.size())) == 1);
  REQUIRE(EVP_EncryptUpdate(ctx, nullptr, &len, nonce.data(), static_cast<int>(nonce.size())) == 1);
  REQUIRE(EVP_EncryptUpdate(ctx, out.data() + 16, &len, pt.data(), static_cast<int>(pt.size())) == 1);
  REQUIRE(EVP_EncryptFinal_ex(ctx, out.data() + 16 + len, &len) == 1);
  REQUIRE(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out.data()) == 1);
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(c);
  return out;
}

TEST_CASE("equal to OpenSSL's AES-128-SIV for every length, and back") {
  AesSivCmac256 siv;
  std::mt19937 rng(5297);
  auto random_bytes = [&](std::size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    return b;
  };
  std::vector<Bytes> keys;
  for (int i = 0; i < 6; ++i) keys.push_back(random_bytes(32));  // more than the cache holds
  for (std::size_t n = 1; n <= 300; ++n) {
    const Bytes& key = keys[n % keys.size()];
    const Bytes ad = random_bytes(1 + rng() % 250);
    const Bytes nonce = random_bytes(1 + rng() % 32);
    const Bytes pt = random_bytes(n);
    Bytes out(pt.size() + 16);
    REQUIRE(siv.seal(key_of(key), nonce, ad, pt, out));
    INFO("plaintext " << n << " ad " << ad.size() << " nonce " << nonce.size());
    REQUIRE(out == openssl_siv(key, ad, nonce, pt));
    Bytes back(pt.size());
    REQUIRE(siv.open(key_of(key), nonce, ad, out, back));
    REQUIRE(back == pt);
  }
}

TEST_CASE("an empty plaintext gives S2V alone, and verifies") {
  AesSivCmac256 siv;
  const Bytes ad(68, 0x5A);
  const Bytes nonce(16, 0x33);
  Bytes tag(16);
  REQUIRE(siv.seal(key_of(kKey), nonce, ad, {}, tag));
  const Bytes k1(kKey.begin(), kKey.begin() + 16);
  CHECK(tag == reference_s2v(k1, {ad, nonce}, {}));
  Bytes none;
  CHECK(siv.open(key_of(kKey), nonce, ad, tag, none));
  tag[3] ^= 1;
  CHECK_FALSE(siv.open(key_of(kKey), nonce, ad, tag, none));
}

TEST_CASE("any change to key, nonce, associated data or ciphertext fails to open") {
  AesSivCmac256 siv;
  const Bytes ad(48, 7);
  const Bytes nonce(16, 9);
  const Bytes pt(208, 0xC3);
  Bytes sealed(pt.size() + 16);
  REQUIRE(siv.seal(key_of(kKey), nonce, ad, pt, sealed));
  Bytes out(pt.size());
  REQUIRE(siv.open(key_of(kKey), nonce, ad, sealed, out));
  CHECK(out == pt);

  AeadKey other = key_of(kKey);
  other[31] ^= 1;
  CHECK_FALSE(siv.open(other, nonce, ad, sealed, out));
  Bytes n2 = nonce;
  n2[0] ^= 1;
  CHECK_FALSE(siv.open(key_of(kKey), n2, ad, sealed, out));
  Bytes ad2 = ad;
  ad2[47] ^= 1;
  CHECK_FALSE(siv.open(key_of(kKey), nonce, ad2, sealed, out));
  for (std::size_t i : {std::size_t{0}, std::size_t{15}, std::size_t{16}, sealed.size() - 1}) {
    Bytes s2 = sealed;
    s2[i] ^= 0x80;
    CHECK_FALSE(siv.open(key_of(kKey), nonce, ad, s2, out));
    CHECK(out == Bytes(pt.size(), 0));  // no unverified plaintext is left behind
  }
  // Wrong sizes are refused, not read past.
  Bytes short_out(pt.size() - 1);
  CHECK_FALSE(siv.open(key_of(kKey), nonce, ad, sealed, short_out));
  CHECK_FALSE(siv.open(key_of(kKey), nonce, ad, Bytes(15), short_out));
}
