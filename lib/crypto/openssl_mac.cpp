// OpenSSL 3 implementation of MacProvider.
#include "lib/crypto/openssl_mac.hpp"

#include <mutex>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>

namespace gnomon {
namespace {

constexpr std::size_t kAlgorithmCount = 11;

const char* openssl_name(MacAlgorithm a) {
  switch (a) {
    case MacAlgorithm::Md5: return "MD5";
    case MacAlgorithm::Sha1: return "SHA1";
    case MacAlgorithm::Sha256: return "SHA256";
    case MacAlgorithm::Sha384: return "SHA384";
    case MacAlgorithm::Sha512: return "SHA512";
    case MacAlgorithm::Sha3_224: return "SHA3-224";
    case MacAlgorithm::Sha3_256: return "SHA3-256";
    case MacAlgorithm::Sha3_384: return "SHA3-384";
    case MacAlgorithm::Sha3_512: return "SHA3-512";
    case MacAlgorithm::Aes128Cmac: return "AES-128-CBC";
    case MacAlgorithm::Aes256Cmac: return "AES-256-CBC";
  }
  return "";
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

class OpenSslMacProvider final : public MacProvider {
 public:
  OpenSslMacProvider() = default;
  ~OpenSslMacProvider() override {
    for (EVP_MD* md : mds_) EVP_MD_free(md);
    EVP_MAC_free(cmac_);
  }
  OpenSslMacProvider(const OpenSslMacProvider&) = delete;
  OpenSslMacProvider& operator=(const OpenSslMacProvider&) = delete;

  bool supports(MacAlgorithm a) const override {
    fetch_once();
    const auto i = static_cast<std::size_t>(a);
    if (i >= kAlgorithmCount) return false;
    return is_cmac(a) ? cmac_ != nullptr : mds_[i] != nullptr;
  }

  std::size_t compute(MacAlgorithm a, std::span<const std::uint8_t> key,
                      std::span<const std::uint8_t> data,
                      std::span<std::uint8_t> out) const override {
    if (!supports(a) || out.size() < mac_output_len(a)) return 0;
    return is_cmac(a) ? compute_cmac(a, key, data, out) : compute_digest(a, key, data, out);
  }

 private:
  // The algorithms are fetched on first use: a daemon without keys never
  // loads OpenSSL's digest providers (about 2-4 MB of resident memory).
  void fetch_once() const {
    std::call_once(fetched_, [this] {
      for (std::size_t i = 0; i < kAlgorithmCount; ++i) {
        const auto a = static_cast<MacAlgorithm>(i);
        if (!is_cmac(a)) mds_[i] = EVP_MD_fetch(nullptr, openssl_name(a), nullptr);
      }
      cmac_ = EVP_MAC_fetch(nullptr, "CMAC", nullptr);
    });
  }

  std::size_t compute_digest(MacAlgorithm a, std::span<const std::uint8_t> key,
                             std::span<const std::uint8_t> data,
                             std::span<std::uint8_t> out) const {
    // One context per thread, reused: no allocation per packet.
    thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    if (!ctx) return 0;
    unsigned len = 0;
    const bool ok = EVP_DigestInit_ex(ctx.get(), mds_[static_cast<std::size_t>(a)], nullptr) == 1 &&
                    EVP_DigestUpdate(ctx.get(), key.data(), key.size()) == 1 &&
                    EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1 &&
                    EVP_DigestFinal_ex(ctx.get(), out.data(), &len) == 1;
    return ok ? len : 0;
  }

  std::size_t compute_cmac(MacAlgorithm a, std::span<const std::uint8_t> key,
                           std::span<const std::uint8_t> data, std::span<std::uint8_t> out) const {
    if (key.size() != required_key_len(a)) return 0;
    std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(EVP_MAC_CTX_new(cmac_));
    if (!ctx) return 0;
    // OSSL_PARAM wants a non-const char*; OpenSSL only reads it.
    char* cipher = const_cast<char*>(openssl_name(a));
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
        OSSL_PARAM_construct_end(),
    };
    std::size_t len = 0;
    const bool ok = EVP_MAC_init(ctx.get(), key.data(), key.size(), params) == 1 &&
                    EVP_MAC_update(ctx.get(), data.data(), data.size()) == 1 &&
                    EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) == 1;
    return ok ? len : 0;
  }

  mutable std::once_flag fetched_;
  mutable std::array<EVP_MD*, kAlgorithmCount> mds_{};
  mutable EVP_MAC* cmac_ = nullptr;
};

}  // namespace

std::shared_ptr<const MacProvider> openssl_mac_provider() {
  static const std::shared_ptr<const MacProvider> provider = std::make_shared<OpenSslMacProvider>();
  return provider;
}

}  // namespace gnomon
