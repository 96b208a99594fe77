// SipHash-2-4: see siphash.hpp. Written from the algorithm's description:
// four 64-bit lanes, two ARX rounds per 8-byte block, four when finalising.
#include "lib/siphash.hpp"

#include <bit>

namespace gnomon {
namespace {

struct SipState {
  std::uint64_t v0, v1, v2, v3;

  explicit SipState(const SipKey& k)
      : v0(k[0] ^ 0x736f6d6570736575ULL),
        v1(k[1] ^ 0x646f72616e646f6dULL),
        v2(k[0] ^ 0x6c7967656e657261ULL),
        v3(k[1] ^ 0x7465646279746573ULL) {}

  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13) ^ v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16) ^ v2;
    v0 += v3;
    v3 = std::rotl(v3, 21) ^ v0;
    v2 += v1;
    v1 = std::rotl(v1, 17) ^ v2;
    v2 = std::rotl(v2, 32);
  }

  void absorb(std::uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }

  std::uint64_t finish() {
    v2 ^= 0xFF;
    round();
    round();
    round();
    round();
    return v0 ^ v1 ^ v2 ^ v3;
  }
};

std::uint64_t load_le(const std::uint8_t* p, std::size_t n) {
  std::uint64_t w = 0;
  for (std::size_t i = 0; i < n; ++i) w |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return w;
}

}  // namespace

std::uint64_t siphash24(const SipKey& key, std::span<const std::uint8_t> data) {
  SipState s(key);
  const std::size_t full = data.size() / 8 * 8;
  for (std::size_t i = 0; i < full; i += 8) s.absorb(load_le(data.data() + i, 8));
  // The last block carries the remaining bytes and the length's low byte on top.
  std::uint64_t last = load_le(data.data() + full, data.size() - full);
  last |= static_cast<std::uint64_t>(data.size() & 0xFF) << 56;
  s.absorb(last);
  return s.finish();
}

std::uint64_t siphash24_word(const SipKey& key, std::uint64_t word, std::uint8_t length) {
  SipState s(key);
  if (length >= 8) {
    s.absorb(word);
    s.absorb(static_cast<std::uint64_t>(length) << 56);
  } else {
    const std::uint64_t mask = (std::uint64_t{1} << (8 * length)) - 1;
    s.absorb((word & mask) | (static_cast<std::uint64_t>(length) << 56));
  }
  return s.finish();
}

}  // namespace gnomon
