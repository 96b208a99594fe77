// Shared by the libFuzzer targets: a byte reader over the fuzz input, the
// test key table, and a crash-on-violation check that survives NDEBUG.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "lib/crypto/openssl_mac.hpp"
#include "lib/symmetric_key.hpp"

namespace gnomon::fuzz {

// Aborts (a crash libFuzzer records) when an invariant does not hold.
#define GNOMON_FUZZ_CHECK(cond)                                                   \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                               \
    }                                                                             \
  } while (0)

// Takes bytes from the front of the input; zeros once it runs out.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | u8();
    return v;
  }
  bool flag() { return (u8() & 1) != 0; }
  std::span<const std::uint8_t> rest() { return {data_ + pos_, size_ - pos_}; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

// Keys 1..6: MD5, SHA1, SHA256, SHA512, AES128, AES256 (as the unit tests'
// and the seed corpora's signed packets use them).
inline std::shared_ptr<const KeyTable> fuzz_keys() {
  static const std::shared_ptr<const KeyTable> keys = [] {
    auto k = [](std::uint32_t id, MacAlgorithm a, std::size_t len) {
      std::vector<std::uint8_t> secret(len);
      for (std::size_t i = 0; i < len; ++i) secret[i] = static_cast<std::uint8_t>(id * 16 + i);
      return SymmetricKey{id, a, SecretBytes(std::move(secret))};
    };
    std::vector<SymmetricKey> v;
    v.push_back(k(1, MacAlgorithm::Md5, 20));
    v.push_back(k(2, MacAlgorithm::Sha1, 20));
    v.push_back(k(3, MacAlgorithm::Sha256, 20));
    v.push_back(k(4, MacAlgorithm::Sha512, 20));
    v.push_back(k(5, MacAlgorithm::Aes128Cmac, 16));
    v.push_back(k(6, MacAlgorithm::Aes256Cmac, 32));
    return std::make_shared<const KeyTable>(std::move(v), openssl_mac_provider());
  }();
  return keys;
}

}  // namespace gnomon::fuzz
