// MD5 (RFC 1321), used only to derive the reference ID of an IPv6 address
// (the first four bytes of the digest of its 16 bytes), as NTP defines it.
// Not for security.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace gnomon::gnomonc {

[[nodiscard]] std::array<std::uint8_t, 16> md5_digest(std::span<const std::uint8_t> data);

}  // namespace gnomon::gnomonc
