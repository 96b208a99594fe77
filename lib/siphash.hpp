// SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed 64-bit hash. The client
// log keys its table with it, so that a client who does not know the secret
// key cannot pick addresses that crowd one bucket.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace gnomon {

// A 128-bit secret key as two 64-bit words (k0 = key bytes 0..7 read
// little-endian, k1 = bytes 8..15).
using SipKey = std::array<std::uint64_t, 2>;

[[nodiscard]] std::uint64_t siphash24(const SipKey& key, std::span<const std::uint8_t> data);

// The same for one 64-bit word given as its 8 little-endian bytes, with
// `length` (0..8) as the message length the hash encodes: the fast path for
// keys that fit a word.
[[nodiscard]] std::uint64_t siphash24_word(const SipKey& key, std::uint64_t word, std::uint8_t length);

}  // namespace gnomon
