// NTP packet codec: header decode/encode and the strict RFC 7822 walk of what
// follows the header.
#include "lib/packet.hpp"

namespace gnomon {
namespace {

[[nodiscard]] std::uint16_t load_be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

[[nodiscard]] std::uint32_t load_be32(const std::uint8_t* p) {
  return (static_cast<std::uint32_t>(p[0]) << 24) | (static_cast<std::uint32_t>(p[1]) << 16) |
         (static_cast<std::uint32_t>(p[2]) << 8) | static_cast<std::uint32_t>(p[3]);
}

void store_be32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

// Records a MAC occupying bytes[start, start + len).
void set_mac(std::span<const std::uint8_t> bytes, std::size_t start, std::size_t len,
             ParsedPacket& out) {
  out.has_mac = true;
  out.mac_key_id = load_be32(bytes.data() + start);
  out.mac_digest = bytes.subspan(start + kMacKeyIdLen, len - kMacKeyIdLen);
}

[[nodiscard]] bool is_v4_mac_length(std::size_t n) {
  return n == kMacKeyIdLen + kMinMacDigestLen || n == kMaxV4MacLen;
}

// NTPv4: extension fields, then nothing, a 20- or 24-byte MAC, or (with no
// extension fields) a 4-byte crypto-NAK whose key id is zero. As in RFC 7822
// and chrony, a remainder of MAC size ends the walk; anything else must parse
// as an extension field of at least 16 bytes.
[[nodiscard]] ParseError walk_v4(std::span<const std::uint8_t> bytes, ParsedPacket& out) {
  std::size_t pos = kNtpHeaderLen;
  const std::size_t len = bytes.size();

  if (len - pos == kMacKeyIdLen) {
    if (load_be32(bytes.data() + pos) != 0) return ParseError::BadExtension;
    set_mac(bytes, pos, kMacKeyIdLen, out);
    return ParseError::None;
  }

  while (pos < len) {
    const std::size_t remainder = len - pos;
    if (is_v4_mac_length(remainder)) {
      set_mac(bytes, pos, remainder, out);
      return ParseError::None;
    }
    if (remainder <= kMaxV4MacLen) return ParseError::BadExtension;
    // remainder >= 28 here, so the 4-byte head is readable.
    const std::uint16_t type = load_be16(bytes.data() + pos);
    const std::size_t ef_len = load_be16(bytes.data() + pos + 2);
    if (ef_len < kMinExtensionFieldLen || ef_len % 4 != 0 || ef_len > remainder) {
      return ParseError::BadExtension;
    }
    if (out.extensions_count == kMaxExtensionFields) return ParseError::TooManyExtensions;
    out.extensions[out.extensions_count++] =
        ExtensionField{type, bytes.subspan(pos + kExtensionHeadLen, ef_len - kExtensionHeadLen)};
    pos += ef_len;
  }
  return ParseError::None;
}

// NTPv1-3 carry no extension fields: anything after the header is a MAC of
// 4 bytes (key id only) or a key id with a 16..64-byte digest.
[[nodiscard]] ParseError walk_legacy(std::span<const std::uint8_t> bytes, ParsedPacket& out) {
  const std::size_t remainder = bytes.size() - kNtpHeaderLen;
  if (remainder != kMacKeyIdLen &&
      (remainder < kMacKeyIdLen + kMinMacDigestLen || remainder > kMaxMacLen)) {
    return ParseError::BadExtension;
  }
  set_mac(bytes, kNtpHeaderLen, remainder, out);
  return ParseError::None;
}

}  // namespace

NtpTimestamp load_timestamp(const std::uint8_t* p) {
  return NtpTimestamp{load_be32(p), load_be32(p + 4)};
}

void store_timestamp(std::uint8_t* p, NtpTimestamp ts) {
  store_be32(p, ts.seconds);
  store_be32(p + 4, ts.fraction);
}

NtpHeader decode_header(std::span<const std::uint8_t, kNtpHeaderLen> bytes) {
  const std::uint8_t* p = bytes.data();
  NtpHeader h;
  h.leap = static_cast<Leap>(p[0] >> 6);
  h.version = static_cast<std::uint8_t>((p[0] >> 3) & 0x7);
  h.mode = static_cast<NtpMode>(p[0] & 0x7);
  h.stratum = p[1];
  h.poll = static_cast<std::int8_t>(p[2]);
  h.precision = static_cast<std::int8_t>(p[3]);
  h.root_delay = NtpShort{load_be32(p + 4)};
  h.root_dispersion = NtpShort{load_be32(p + 8)};
  h.reference_id = load_be32(p + 12);
  h.reference_ts = load_timestamp(p + 16);
  h.origin_ts = load_timestamp(p + 24);
  h.receive_ts = load_timestamp(p + 32);
  h.transmit_ts = load_timestamp(p + 40);
  return h;
}

void encode_header(const NtpHeader& h, std::span<std::uint8_t, kNtpHeaderLen> out) {
  std::uint8_t* p = out.data();
  p[0] = static_cast<std::uint8_t>(((static_cast<unsigned>(h.leap) & 0x3u) << 6) |
                                   ((h.version & 0x7u) << 3) |
                                   (static_cast<unsigned>(h.mode) & 0x7u));
  p[1] = h.stratum;
  p[2] = static_cast<std::uint8_t>(h.poll);
  p[3] = static_cast<std::uint8_t>(h.precision);
  store_be32(p + 4, h.root_delay.raw);
  store_be32(p + 8, h.root_dispersion.raw);
  store_be32(p + 12, h.reference_id);
  store_timestamp(p + 16, h.reference_ts);
  store_timestamp(p + 24, h.origin_ts);
  store_timestamp(p + 32, h.receive_ts);
  store_timestamp(p + 40, h.transmit_ts);
}

ParseError parse_packet(std::span<const std::uint8_t> bytes, ParsedPacket& out) {
  out.length = bytes.size();
  out.extensions_count = 0;
  out.has_mac = false;
  out.mac_key_id = 0;
  out.mac_digest = {};

  if (bytes.size() < kNtpHeaderLen) return ParseError::TooShort;
  if (bytes.size() % 4 != 0 || bytes.size() > kMaxNtpPacketLen) return ParseError::BadLength;

  out.header = decode_header(bytes.first<kNtpHeaderLen>());
  if (out.header.version < 1 || out.header.version > 4) return ParseError::BadVersion;

  if (bytes.size() == kNtpHeaderLen) return ParseError::None;
  return out.header.version == 4 ? walk_v4(bytes, out) : walk_legacy(bytes, out);
}

const char* to_string(ParseError e) {
  switch (e) {
    case ParseError::None: return "ok";
    case ParseError::TooShort: return "shorter than the 48-byte header";
    case ParseError::BadLength: return "length not a multiple of 4 or too long";
    case ParseError::BadVersion: return "version not 1..4";
    case ParseError::BadExtension: return "malformed extension field or MAC";
    case ParseError::TooManyExtensions: return "too many extension fields";
  }
  return "unknown";
}

}  // namespace gnomon
