// MD5 per RFC 1321: 64-byte blocks, four rounds of 16 steps, little-endian
// words, and the message length in bits appended after a 0x80 pad byte.
#include "tools/gnomonc/md5.hpp"

#include <cmath>
#include <vector>

namespace gnomon::gnomonc {
namespace {

constexpr std::array<std::uint32_t, 64> kShifts{
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

// K[i] = floor(|sin(i + 1)| * 2^32), computed once.
std::array<std::uint32_t, 64> make_constants() {
  std::array<std::uint32_t, 64> k{};
  for (std::size_t i = 0; i < k.size(); ++i) {
    k[i] = static_cast<std::uint32_t>(std::floor(std::fabs(std::sin(static_cast<double>(i + 1))) * 4294967296.0));
  }
  return k;
}

std::uint32_t rotate_left(std::uint32_t x, std::uint32_t n) { return (x << n) | (x >> (32 - n)); }

}  // namespace

std::array<std::uint8_t, 16> md5_digest(std::span<const std::uint8_t> data) {
  static const std::array<std::uint32_t, 64> k = make_constants();

  std::vector<std::uint8_t> msg(data.begin(), data.end());
  const std::uint64_t bit_length = static_cast<std::uint64_t>(data.size()) * 8;
  msg.push_back(0x80);
  while (msg.size() % 64 != 56) msg.push_back(0);
  for (int i = 0; i < 8; ++i) msg.push_back(static_cast<std::uint8_t>(bit_length >> (8 * i)));

  std::uint32_t a0 = 0x67452301, b0 = 0xefcdab89, c0 = 0x98badcfe, d0 = 0x10325476;
  for (std::size_t block = 0; block < msg.size(); block += 64) {
    std::array<std::uint32_t, 16> w{};
    for (std::size_t i = 0; i < 16; ++i) {
      const std::size_t o = block + 4 * i;
      w[i] = static_cast<std::uint32_t>(msg[o]) | static_cast<std::uint32_t>(msg[o + 1]) << 8 |
             static_cast<std::uint32_t>(msg[o + 2]) << 16 | static_cast<std::uint32_t>(msg[o + 3]) << 24;
    }
    std::uint32_t a = a0, b = b0, c = c0, d = d0;
    for (std::size_t i = 0; i < 64; ++i) {
      std::uint32_t f = 0;
      std::size_t g = 0;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) % 16;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) % 16;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) % 16;
      }
      const std::uint32_t next = b + rotate_left(a + f + k[i] + w[g], kShifts[i]);
      a = d;
      d = c;
      c = b;
      b = next;
    }
    a0 += a;
    b0 += b;
    c0 += c;
    d0 += d;
  }

  std::array<std::uint8_t, 16> out{};
  const std::array<std::uint32_t, 4> words{a0, b0, c0, d0};
  for (std::size_t i = 0; i < 4; ++i) {
    for (std::size_t j = 0; j < 4; ++j) out[4 * i + j] = static_cast<std::uint8_t>(words[i] >> (8 * j));
  }
  return out;
}

}  // namespace gnomon::gnomonc
