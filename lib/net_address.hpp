// IP addresses, socket addresses and subnets as plain values, with strict
// parsers. No sockets and no name resolution here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gnomon {

enum class IpFamily : std::uint8_t { V4, V6 };

struct IpAddress {
  IpFamily family = IpFamily::V4;
  // Network byte order. IPv4 uses bytes[0..3]; the rest stay zero.
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress v4(std::uint32_t host_order);
  static IpAddress v6(const std::array<std::uint8_t, 16>& b);
  // Strict: dotted quad with 4 decimal parts 0..255, or RFC 4291 text
  // (with ::, and an embedded dotted quad at the end). No zone ids.
  static std::optional<IpAddress> parse(std::string_view text);

  [[nodiscard]] std::uint32_t v4_host_order() const;
  [[nodiscard]] bool is_v4() const { return family == IpFamily::V4; }
  [[nodiscard]] bool is_loopback() const;
  [[nodiscard]] bool is_unspecified() const;
  // True for ::ffff:a.b.c.d (an IPv4 peer seen through an IPv6 socket).
  [[nodiscard]] bool is_v4_mapped() const;
  // ::ffff:a.b.c.d -> a.b.c.d; any other address is returned unchanged.
  [[nodiscard]] IpAddress unmapped() const;
  // Number of significant bits: 32 or 128.
  [[nodiscard]] int bit_length() const { return is_v4() ? 32 : 128; }
  // Bit i (0 = most significant) of the address.
  [[nodiscard]] bool bit(int i) const { return (bytes[static_cast<std::size_t>(i / 8)] >> (7 - i % 8)) & 1; }
  // RFC 5952 text for IPv6 (lower case, longest zero run compressed; IPv4-mapped
  // addresses as ::ffff:a.b.c.d), dotted quad for IPv4.
  [[nodiscard]] std::string to_string() const;

  bool operator==(const IpAddress&) const = default;
};

struct SocketAddress {
  IpAddress ip;
  std::uint16_t port = 0;

  // "1.2.3.4:123", "[::1]:123"; a bare address takes `default_port`.
  static std::optional<SocketAddress> parse(std::string_view text, std::uint16_t default_port);
  [[nodiscard]] std::string to_string() const;  // "1.2.3.4:123" or "[::1]:123"
  bool operator==(const SocketAddress&) const = default;
};

struct Subnet {
  IpAddress address;  // host bits are always zero
  int prefix_len = 0; // 0..32 or 0..128

  enum class ParseStatus : std::uint8_t { Ok, HostBitsMasked, Invalid };
  struct Parsed;  // defined below: it holds a Subnet, which is incomplete here
  // "10.0.0.0/24", "2001:db8::/32", "10.0.0.1" (a host, /32 or /128), or
  // chrony's short IPv4 forms "10", "10.1" and "10.1.2" that cover /8, /16 and
  // /24 (an explicit "/len" overrides: "10/12"). The length is strict decimal
  // within 0..32 or 0..128. Host bits set are masked and reported as
  // HostBitsMasked. Anything else is Invalid. No host names.
  [[nodiscard]] static Parsed parse(std::string_view text);
  [[nodiscard]] bool contains(const IpAddress& a) const;
  [[nodiscard]] std::string to_string() const;  // "10.0.0.0/8", "2001:db8::/32"
  bool operator==(const Subnet&) const = default;
};

struct Subnet::Parsed {
  ParseStatus status = ParseStatus::Invalid;
  Subnet subnet;
};

}  // namespace gnomon
