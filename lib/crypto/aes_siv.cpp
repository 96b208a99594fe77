// AEAD_AES_SIV_CMAC_256: see aes_siv.hpp. RFC 5297 section 2:
//   S2V(K1, S1..Sn): D = CMAC(0^128); D = dbl(D) xor CMAC(Si) for i < n;
//                    T = Sn xorend D if |Sn| >= 16, else dbl(D) xor pad(Sn);
//                    V = CMAC(T)
//   C = P xor AES-CTR(K2, V with bits 63 and 31 cleared); output V || C.
// Here S1 = associated data, S2 = nonce, S3 = plaintext.
#include "lib/crypto/aes_siv.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <vector>

#include "lib/packet.hpp"

namespace gnomon {
namespace {

constexpr std::size_t kBlock = 16;
using Block = std::array<std::uint8_t, kBlock>;
// Keys whose AES contexts are kept (the server key plus a client's two).
constexpr std::size_t kCachedKeys = 4;
// Longest input handled (bytes): any NTP packet, with room for padding.
constexpr std::size_t kMaxInput = kMaxNtpPacketLen + kBlock;

// Doubling in GF(2^128) (RFC 5297 2.3).
void dbl(Block& b) {
  const bool carry = (b[0] & 0x80u) != 0;
  for (std::size_t i = 0; i + 1 < kBlock; ++i) b[i] = static_cast<std::uint8_t>((b[i] << 1) | (b[i + 1] >> 7));
  b[kBlock - 1] = static_cast<std::uint8_t>(b[kBlock - 1] << 1);
  if (carry) b[kBlock - 1] ^= 0x87u;
}

void xor_into(Block& a, const std::uint8_t* b) {
  for (std::size_t i = 0; i < kBlock; ++i) a[i] ^= b[i];
}

struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  CipherCtx() = default;
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
  CipherCtx(const CipherCtx&) = delete;
  CipherCtx& operator=(const CipherCtx&) = delete;
};

// The AES contexts and CMAC constants of one SIV key.
// The contexts are keyed once and never re-initialised per operation (in
// OpenSSL 3 each re-initialisation costs parameter look-ups): CBC-MAC runs on
// a CBC context that keeps chaining, with the first block of each message
// XORed with the current chaining value (so each MAC starts from a zero IV),
// and CTR's key stream is made by ECB-encrypting the counter blocks.
struct KeyState {
  AeadKey key{};
  bool valid = false;
  std::uint64_t last_use = 0;
  CipherCtx cbc;  // AES-128-CBC under K1, for CMAC
  Block chain{};  // its current chaining value
  CipherCtx ecb;  // AES-128-ECB under K2, for CTR
  Block sub1{};   // CMAC subkeys K1' and K2' (RFC 4493)
  Block sub2{};
  Block d0{};     // CMAC(K1, 0^128), the start of S2V
};

// Constant-time equality of two keys.
bool same_key(const AeadKey& a, const AeadKey& b) {
  std::uint64_t diff = 0;
  for (std::size_t i = 0; i < a.size(); i += 8) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
  }
  return diff == 0;
}

}  // namespace

struct AesSivCmac256::Impl {
  EVP_CIPHER* cbc_cipher = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
  EVP_CIPHER* ecb_cipher = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  std::array<KeyState, kCachedKeys> keys;
  std::uint64_t uses = 0;
  std::vector<std::uint8_t> scratch_in = std::vector<std::uint8_t>(kMaxInput);
  std::vector<std::uint8_t> scratch_out = std::vector<std::uint8_t>(kMaxInput);

  Impl() = default;
  ~Impl() {
    for (auto& k : keys) wipe_secret(k.key);
    EVP_CIPHER_free(cbc_cipher);
    EVP_CIPHER_free(ecb_cipher);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  [[nodiscard]] bool ok() const {
    if (cbc_cipher == nullptr || ecb_cipher == nullptr) return false;
    return std::all_of(keys.begin(), keys.end(),
                       [](const KeyState& k) { return k.cbc.ctx != nullptr && k.ecb.ctx != nullptr; });
  }

  // CBC-MAC core: the last block of AES-CBC(K1, IV 0) over `data` (a whole
  // number of blocks, at most kMaxInput bytes, in scratch_in).
  [[nodiscard]] bool cbc_last(KeyState& k, std::uint8_t* data, std::size_t len, Block& out) {
    // The context continues from k.chain: cancel it in the first block.
    for (std::size_t i = 0; i < kBlock; ++i) data[i] ^= k.chain[i];
    int n = 0;
    if (EVP_EncryptUpdate(k.cbc.ctx, scratch_out.data(), &n, data, static_cast<int>(len)) != 1 ||
        static_cast<std::size_t>(n) != len) {
      k.valid = false;  // the chaining value is unknown now
      return false;
    }
    std::memcpy(k.chain.data(), scratch_out.data() + len - kBlock, kBlock);
    out = k.chain;
    return true;
  }

  // AES-CMAC(K1, msg) (RFC 4493), msg at most kMaxInput - 16 bytes.
  [[nodiscard]] bool cmac(KeyState& k, std::span<const std::uint8_t> msg, Block& out) {
    if (msg.size() > kMaxInput - kBlock) return false;
    const std::size_t full = msg.empty() ? 0 : (msg.size() - 1) / kBlock;  // blocks before the last
    const std::size_t last_len = msg.size() - full * kBlock;                // 0..16
    std::uint8_t* buf = scratch_in.data();
    if (!msg.empty()) std::memcpy(buf, msg.data(), msg.size());
    std::uint8_t* last = buf + full * kBlock;
    if (last_len == kBlock) {
      for (std::size_t i = 0; i < kBlock; ++i) last[i] ^= k.sub1[i];
    } else {
      std::memset(last + last_len, 0, kBlock - last_len);
      last[last_len] = 0x80;
      for (std::size_t i = 0; i < kBlock; ++i) last[i] ^= k.sub2[i];
    }
    return cbc_last(k, buf, (full + 1) * kBlock, out);
  }

  // The cached state for `key`, keyed now if it was not cached.
  KeyState* state_for(const AeadKey& key) {
    ++uses;
    KeyState* victim = &keys[0];
    for (auto& k : keys) {
      if (k.valid && same_key(k.key, key)) {
        k.last_use = uses;
        return &k;
      }
      if (!k.valid || k.last_use < victim->last_use) victim = &k;
    }
    KeyState& k = *victim;
    k.valid = false;
    static constexpr std::uint8_t kZero[kBlock] = {};
    // A context set up before is only re-keyed (no cipher look-up). Only
    // whole blocks are ever encrypted and there is no final call, so
    // padding never applies.
    const EVP_CIPHER* cbc = EVP_CIPHER_CTX_get0_cipher(k.cbc.ctx) == nullptr ? cbc_cipher : nullptr;
    const EVP_CIPHER* ecb = EVP_CIPHER_CTX_get0_cipher(k.ecb.ctx) == nullptr ? ecb_cipher : nullptr;
    if (EVP_EncryptInit_ex2(k.cbc.ctx, cbc, key.data(), kZero, nullptr) != 1 ||
        EVP_EncryptInit_ex2(k.ecb.ctx, ecb, key.data() + kBlock, nullptr, nullptr) != 1) {
      return nullptr;
    }
    k.chain = Block{};
    // L = AES(K1, 0); K1' = dbl(L); K2' = dbl(K1') (RFC 4493 2.3).
    Block l{};
    std::memset(scratch_in.data(), 0, kBlock);
    if (!cbc_last(k, scratch_in.data(), kBlock, l)) return nullptr;
    k.sub1 = l;
    dbl(k.sub1);
    k.sub2 = k.sub1;
    dbl(k.sub2);
    wipe_secret(l);
    k.key = key;
    k.valid = true;
    k.last_use = uses;
    if (!cmac(k, std::span<const std::uint8_t>(kZero, kBlock), k.d0)) {
      k.valid = false;
      return nullptr;
    }
    return &k;
  }

  // V = S2V(K1; ad, nonce, plaintext).
  [[nodiscard]] bool s2v(KeyState& k, std::span<const std::uint8_t> ad, std::span<const std::uint8_t> nonce,
                         std::span<const std::uint8_t> plaintext, Block& v) {
    Block d = k.d0;
    Block t{};
    for (std::span<const std::uint8_t> s : {ad, nonce}) {
      dbl(d);
      if (!cmac(k, s, t)) return false;
      xor_into(d, t.data());
    }
    if (plaintext.size() >= kBlock) {
      // T = plaintext xorend D: needs a copy of the plaintext.
      if (plaintext.size() > kMaxInput - kBlock) return false;
      std::vector<std::uint8_t>& copy = plain_copy;
      copy.assign(plaintext.begin(), plaintext.end());
      for (std::size_t i = 0; i < kBlock; ++i) copy[plaintext.size() - kBlock + i] ^= d[i];
      const bool ok = cmac(k, copy, v);
      wipe_secret(copy);
      return ok;
    }
    dbl(d);
    for (std::size_t i = 0; i < plaintext.size(); ++i) d[i] ^= plaintext[i];
    d[plaintext.size()] ^= 0x80u;
    return cmac(k, d, v);
  }

  // out = in xor AES-CTR(K2, Q), Q = V with bits 63 and 31 cleared, the
  // counter a 128-bit big-endian number.
  [[nodiscard]] bool ctr(KeyState& k, const Block& v, std::span<const std::uint8_t> in, std::uint8_t* out) {
    if (in.empty()) return true;
    if (in.size() > kMaxInput - kBlock) return false;
    Block q = v;
    q[8] &= 0x7Fu;
    q[12] &= 0x7Fu;
    const std::size_t blocks = (in.size() + kBlock - 1) / kBlock;
    for (std::size_t b = 0; b < blocks; ++b) {
      std::memcpy(scratch_in.data() + b * kBlock, q.data(), kBlock);
      for (std::size_t i = kBlock; i-- > 0;) {
        if (++q[i] != 0) break;
      }
    }
    int n = 0;
    const int len = static_cast<int>(blocks * kBlock);
    if (EVP_EncryptUpdate(k.ecb.ctx, scratch_out.data(), &n, scratch_in.data(), len) != 1 || n != len) {
      return false;
    }
    for (std::size_t i = 0; i < in.size(); ++i) out[i] = in[i] ^ scratch_out[i];
    return true;
  }

  std::vector<std::uint8_t> plain_copy = std::vector<std::uint8_t>(kMaxInput);
};

AesSivCmac256::AesSivCmac256() = default;

AesSivCmac256::Impl& AesSivCmac256::impl() const {
  if (!impl_) impl_ = std::make_unique<Impl>();
  return *impl_;
}
AesSivCmac256::~AesSivCmac256() = default;

bool AesSivCmac256::available() const { return impl().ok(); }

bool AesSivCmac256::seal(const AeadKey& key, std::span<const std::uint8_t> nonce,
                         std::span<const std::uint8_t> ad, std::span<const std::uint8_t> plaintext,
                         std::span<std::uint8_t> out) {
  Impl& m = impl();
  if (!m.ok() || out.size() != plaintext.size() + kAeadTagLen || ad.size() > kMaxNtpPacketLen ||
      nonce.size() > kMaxNtpPacketLen || plaintext.size() > kMaxNtpPacketLen) {
    return false;
  }
  KeyState* k = m.state_for(key);
  if (k == nullptr) return false;
  Block v{};
  if (!m.s2v(*k, ad, nonce, plaintext, v)) return false;
  if (!m.ctr(*k, v, plaintext, out.data() + kAeadTagLen)) return false;
  std::copy(v.begin(), v.end(), out.begin());
  return true;
}

bool AesSivCmac256::open(const AeadKey& key, std::span<const std::uint8_t> nonce,
                         std::span<const std::uint8_t> ad, std::span<const std::uint8_t> sealed,
                         std::span<std::uint8_t> out) {
  Impl& m = impl();
  if (!m.ok() || sealed.size() < kAeadTagLen || out.size() != sealed.size() - kAeadTagLen ||
      ad.size() > kMaxNtpPacketLen || nonce.size() > kMaxNtpPacketLen || out.size() > kMaxNtpPacketLen) {
    return false;
  }
  KeyState* k = m.state_for(key);
  if (k == nullptr) return false;
  Block v{};
  std::copy_n(sealed.begin(), kBlock, v.begin());
  Block check{};
  const bool ok = m.ctr(*k, v, sealed.subspan(kAeadTagLen), out.data()) && m.s2v(*k, ad, nonce, out, check) &&
                  CRYPTO_memcmp(check.data(), v.data(), kBlock) == 0;
  if (!ok) wipe_secret(out);
  return ok;
}

}  // namespace gnomon
