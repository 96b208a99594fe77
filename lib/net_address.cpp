// Strict text parsers and formatters for IP addresses, socket addresses and
// subnets. Hand-written on purpose: no inet_pton, no resolver, no sockets.
#include "lib/net_address.hpp"

#include <cstddef>

namespace gnomon {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// One decimal number 0..max with 1..max_digits digits, no sign, no spaces.
// Leading zeros are rejected when `allow_leading_zero` is false ("0" itself is fine).
std::optional<unsigned> parse_decimal(std::string_view s, unsigned max, std::size_t max_digits,
                                      bool allow_leading_zero) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  if (!allow_leading_zero && s.size() > 1 && s[0] == '0') return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// Dotted quad: exactly four parts, each 0..255, no leading zeros (as inet_pton).
std::optional<std::array<std::uint8_t, 4>> parse_dotted_quad(std::string_view s) {
  std::array<std::uint8_t, 4> out{};
  std::size_t part = 0;
  while (true) {
    const std::size_t dot = s.find('.');
    const std::string_view field = s.substr(0, dot);
    const auto v = parse_decimal(field, 255, 3, false);
    if (!v || part >= 4) return std::nullopt;
    out[part++] = static_cast<std::uint8_t>(*v);
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  if (part != 4) return std::nullopt;
  return out;
}

// Colon-separated groups of 1-4 hex digits; the last group may be a dotted quad
// when `v4_tail_allowed`. Appends to groups[count..]. Returns false on error.
bool parse_hex_groups(std::string_view s, bool v4_tail_allowed, std::array<std::uint16_t, 8>& groups,
                      std::size_t& count) {
  if (s.empty()) return true;
  while (true) {
    const std::size_t colon = s.find(':');
    const std::string_view field = s.substr(0, colon);
    if (field.empty()) return false;
    if (colon == std::string_view::npos && v4_tail_allowed && field.find('.') != std::string_view::npos) {
      const auto quad = parse_dotted_quad(field);
      if (!quad || count + 2 > groups.size()) return false;
      groups[count++] = static_cast<std::uint16_t>((*quad)[0] << 8 | (*quad)[1]);
      groups[count++] = static_cast<std::uint16_t>((*quad)[2] << 8 | (*quad)[3]);
      return true;
    }
    if (field.size() > 4 || count >= groups.size()) return false;
    unsigned v = 0;
    for (char c : field) {
      const int h = hex_value(c);
      if (h < 0) return false;
      v = v << 4 | static_cast<unsigned>(h);
    }
    groups[count++] = static_cast<std::uint16_t>(v);
    if (colon == std::string_view::npos) return true;
    s.remove_prefix(colon + 1);
  }
}

// RFC 4291 section 2.2 text forms. No zone ids, no brackets.
std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view s) {
  if (s.size() < 2 || s.size() > 45) return std::nullopt;
  std::array<std::uint16_t, 8> head{};
  std::array<std::uint16_t, 8> tail{};
  std::size_t head_n = 0;
  std::size_t tail_n = 0;
  const std::size_t gap = s.find("::");
  if (gap == std::string_view::npos) {
    if (!parse_hex_groups(s, true, head, head_n) || head_n != 8) return std::nullopt;
  } else {
    const std::string_view before = s.substr(0, gap);
    const std::string_view after = s.substr(gap + 2);
    if (after.find("::") != std::string_view::npos) return std::nullopt;
    if (!parse_hex_groups(before, false, head, head_n)) return std::nullopt;
    if (!parse_hex_groups(after, true, tail, tail_n)) return std::nullopt;
    // "::" stands for at least one zero group.
    if (head_n + tail_n > 7) return std::nullopt;
  }
  std::array<std::uint16_t, 8> words{};
  for (std::size_t i = 0; i < head_n; ++i) words[i] = head[i];
  for (std::size_t i = 0; i < tail_n; ++i) words[8 - tail_n + i] = tail[i];
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(words[i] >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(words[i] & 0xff);
  }
  return out;
}

void append_hex16(std::string& out, unsigned v) {
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    const unsigned nibble = (v >> shift) & 0xf;
    if (nibble != 0 || started || shift == 0) {
      out.push_back(kHexDigits[nibble]);
      started = true;
    }
  }
}

void append_dotted_quad(std::string& out, const std::uint8_t* b) {
  for (int i = 0; i < 4; ++i) {
    if (i > 0) out.push_back('.');
    out += std::to_string(b[i]);
  }
}

// Zero every bit after the first `prefix_len`. Returns true if any bit was set.
bool mask_host_bits(IpAddress& a, int prefix_len) {
  bool changed = false;
  const int total = a.bit_length();
  for (int i = prefix_len; i < total; ++i) {
    const auto byte = static_cast<std::size_t>(i / 8);
    const auto bit = static_cast<std::uint8_t>(1u << (7 - i % 8));
    if (a.bytes[byte] & bit) {
      a.bytes[byte] = static_cast<std::uint8_t>(a.bytes[byte] & ~bit);
      changed = true;
    }
  }
  return changed;
}

}  // namespace

IpAddress IpAddress::v4(std::uint32_t host_order) {
  IpAddress a;
  a.family = IpFamily::V4;
  a.bytes[0] = static_cast<std::uint8_t>(host_order >> 24);
  a.bytes[1] = static_cast<std::uint8_t>(host_order >> 16);
  a.bytes[2] = static_cast<std::uint8_t>(host_order >> 8);
  a.bytes[3] = static_cast<std::uint8_t>(host_order);
  return a;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& b) {
  IpAddress a;
  a.family = IpFamily::V6;
  a.bytes = b;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.find(':') == std::string_view::npos) {
    const auto quad = parse_dotted_quad(text);
    if (!quad) return std::nullopt;
    IpAddress a;
    for (std::size_t i = 0; i < 4; ++i) a.bytes[i] = (*quad)[i];
    return a;
  }
  const auto b = parse_ipv6(text);
  if (!b) return std::nullopt;
  return v6(*b);
}

std::uint32_t IpAddress::v4_host_order() const {
  return static_cast<std::uint32_t>(bytes[0]) << 24 | static_cast<std::uint32_t>(bytes[1]) << 16 |
         static_cast<std::uint32_t>(bytes[2]) << 8 | static_cast<std::uint32_t>(bytes[3]);
}

bool IpAddress::is_loopback() const {
  if (is_v4()) return bytes[0] == 127;
  for (std::size_t i = 0; i < 15; ++i)
    if (bytes[i] != 0) return false;
  return bytes[15] == 1;
}

bool IpAddress::is_unspecified() const {
  for (std::uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

bool IpAddress::is_v4_mapped() const {
  if (is_v4()) return false;
  for (std::size_t i = 0; i < 10; ++i)
    if (bytes[i] != 0) return false;
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

IpAddress IpAddress::unmapped() const {
  if (!is_v4_mapped()) return *this;
  IpAddress a;
  for (std::size_t i = 0; i < 4; ++i) a.bytes[i] = bytes[12 + i];
  return a;
}

std::string IpAddress::to_string() const {
  std::string out;
  if (is_v4()) {
    append_dotted_quad(out, bytes.data());
    return out;
  }
  std::array<unsigned, 8> words{};
  for (std::size_t i = 0; i < 8; ++i) words[i] = static_cast<unsigned>(bytes[2 * i] << 8 | bytes[2 * i + 1]);
  // RFC 5952 4.2: compress the longest run of two or more zero groups (the first on a tie).
  int best_start = -1;
  int best_len = 0;
  for (int i = 0; i < 8;) {
    if (words[static_cast<std::size_t>(i)] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && words[static_cast<std::size_t>(j)] == 0) ++j;
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best_start = -1;
  // RFC 5952 5: IPv4-mapped addresses keep the dotted quad.
  const int hex_words = is_v4_mapped() ? 6 : 8;
  for (int i = 0; i < hex_words; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out.push_back(':');
    append_hex16(out, words[static_cast<std::size_t>(i)]);
  }
  if (hex_words == 6) {
    if (out.back() != ':') out.push_back(':');
    append_dotted_quad(out, bytes.data() + 12);
  }
  return out;
}

std::optional<SocketAddress> SocketAddress::parse(std::string_view text, std::uint16_t default_port) {
  std::string_view host = text;
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port_text = rest.substr(1);
      has_port = true;
    }
    // Brackets are for IPv6 only.
    if (host.find(':') == std::string_view::npos) return std::nullopt;
  } else {
    const std::size_t first = text.find(':');
    if (first != std::string_view::npos && text.find(':', first + 1) == std::string_view::npos) {
      host = text.substr(0, first);
      port_text = text.substr(first + 1);
      has_port = true;
    }
    // Two or more colons without brackets: a bare IPv6 address.
  }
  const auto ip = IpAddress::parse(host);
  if (!ip) return std::nullopt;
  SocketAddress sa;
  sa.ip = *ip;
  sa.port = default_port;
  if (has_port) {
    const auto port = parse_decimal(port_text, 65535, 5, true);
    if (!port) return std::nullopt;
    sa.port = static_cast<std::uint16_t>(*port);
  }
  return sa;
}

// Built by appending: GCC 12's -Wrestrict misfires on `"[" + std::string` at -O3.
std::string SocketAddress::to_string() const {
  std::string out;
  if (ip.is_v4()) {
    out = ip.to_string();
    out.push_back(':');
  } else {
    out.push_back('[');
    out += ip.to_string();
    out += "]:";
  }
  out += std::to_string(port);
  return out;
}

Subnet::Parsed Subnet::parse(std::string_view text) {
  Parsed result;
  std::string_view net = text;
  int bits = -1;
  const std::size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    net = text.substr(0, slash);
    const auto v = parse_decimal(text.substr(slash + 1), 128, 3, true);
    if (!v) return result;
    bits = static_cast<int>(*v);
  }
  if (net.empty()) return result;

  IpAddress address;
  int default_bits = 0;
  if (const auto ip = IpAddress::parse(net)) {
    address = *ip;
    default_bits = ip->bit_length();
  } else {
    // chrony's short IPv4 network forms: "10" = 10.0.0.0/8, "10.1" = /16, "10.1.2" = /24.
    int parts = 0;
    std::string_view rest = net;
    while (true) {
      const std::size_t dot = rest.find('.');
      const auto v = parse_decimal(rest.substr(0, dot), 255, 3, false);
      if (!v || parts >= 3) return result;
      address.bytes[static_cast<std::size_t>(parts)] = static_cast<std::uint8_t>(*v);
      ++parts;
      if (dot == std::string_view::npos) break;
      rest.remove_prefix(dot + 1);
    }
    default_bits = parts * 8;
  }
  if (bits < 0) bits = default_bits;
  if (bits > address.bit_length()) return result;

  result.subnet.prefix_len = bits;
  result.status = mask_host_bits(address, bits) ? ParseStatus::HostBitsMasked : ParseStatus::Ok;
  result.subnet.address = address;
  return result;
}

bool Subnet::contains(const IpAddress& a) const {
  if (a.family != address.family) return false;
  const int full_bytes = prefix_len / 8;
  for (int i = 0; i < full_bytes; ++i)
    if (a.bytes[static_cast<std::size_t>(i)] != address.bytes[static_cast<std::size_t>(i)]) return false;
  const int rest = prefix_len % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xffu << (8 - rest));
  const auto i = static_cast<std::size_t>(full_bytes);
  return (a.bytes[i] & mask) == (address.bytes[i] & mask);
}

std::string Subnet::to_string() const {
  std::string out = address.to_string();
  out.push_back('/');
  out += std::to_string(prefix_len);
  return out;
}

}  // namespace gnomon
