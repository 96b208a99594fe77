// NTP packet codec (RFC 5905 header, RFC 7822 extension fields and MAC).
// Parsing never throws and never reads outside the given bytes. Serialising
// writes into a buffer that the caller owns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon {

inline constexpr std::size_t kNtpHeaderLen = 48;

enum class NtpMode : std::uint8_t {
  Reserved = 0,
  SymmetricActive = 1,
  SymmetricPassive = 2,
  Client = 3,
  Server = 4,
  Broadcast = 5,
  Control = 6,
  Private = 7,
};

// The 48-byte header, decoded. Field names follow RFC 5905.
struct NtpHeader {
  Leap leap = Leap::None;
  std::uint8_t version = 4;     // 0..7 as on the wire
  NtpMode mode = NtpMode::Client;
  std::uint8_t stratum = 0;
  std::int8_t poll = 0;         // log2 s, raw (may be hostile; clamp before use)
  std::int8_t precision = 0;    // log2 s, raw
  NtpShort root_delay;
  NtpShort root_dispersion;
  std::uint32_t reference_id = 0;
  NtpTimestamp reference_ts;
  NtpTimestamp origin_ts;
  NtpTimestamp receive_ts;
  NtpTimestamp transmit_ts;

  bool operator==(const NtpHeader&) const = default;
};

// What follows the header. RFC 7822: extension fields (each type u16, length
// u16 including its 4-byte head, length a multiple of 4 and >= 16), then an
// optional MAC (key id u32 + digest of 16 or 20 bytes, or a 4-byte crypto-NAK).
// NTPv4 and later only: earlier versions may carry only a MAC.
struct ExtensionField {
  std::uint16_t type = 0;
  std::span<const std::uint8_t> body;  // the value, without the 4-byte head
};

inline constexpr std::size_t kMaxExtensionFields = 16;

// Extension field head (type u16, length u16) and the smallest legal field.
inline constexpr std::size_t kExtensionHeadLen = 4;
inline constexpr std::size_t kMinExtensionFieldLen = 16;
// MAC sizes, in bytes. NTPv4 (RFC 7822): key id + 16 or 20-byte digest, or a
// 4-byte crypto-NAK (key id 0, no extension fields). NTPv1-3: key id alone or
// key id + 16..64-byte digest (chrony: SHA256/SHA512 keys, MAC_LENGTH limit).
inline constexpr std::size_t kMacKeyIdLen = 4;
inline constexpr std::size_t kMinMacDigestLen = 16;
inline constexpr std::size_t kMaxV4MacLen = 24;
inline constexpr std::size_t kMaxMacLen = 68;

// NTS extension field types (RFC 8915).
inline constexpr std::uint16_t kEfNtsUniqueIdentifier = 0x0104;
inline constexpr std::uint16_t kEfNtsCookie = 0x0204;
inline constexpr std::uint16_t kEfNtsCookiePlaceholder = 0x0304;
inline constexpr std::uint16_t kEfNtsAuthenticator = 0x0404;

// Byte offsets of header fields.
inline constexpr std::size_t kReferenceTsOffset = 16;
inline constexpr std::size_t kOriginTsOffset = 24;
inline constexpr std::size_t kReceiveTsOffset = 32;
inline constexpr std::size_t kTransmitTsOffset = 40;

enum class ParseError : std::uint8_t {
  None = 0,
  TooShort,          // < 48 bytes
  BadLength,         // not a multiple of 4, or too long
  BadVersion,        // 0 or > 4
  BadExtension,      // malformed extension field chain that is not a valid MAC either
  TooManyExtensions,
};

struct ParsedPacket {
  NtpHeader header;
  std::size_t length = 0;                   // total bytes
  std::size_t extensions_count = 0;
  ExtensionField extensions[kMaxExtensionFields];
  bool has_mac = false;
  std::uint32_t mac_key_id = 0;
  std::span<const std::uint8_t> mac_digest; // empty for a crypto-NAK
  [[nodiscard]] std::span<const ExtensionField> extension_fields() const {
    return {extensions, extensions_count};
  }
};

// Longest NTP packet we accept, in bytes.
inline constexpr std::size_t kMaxNtpPacketLen = 1024;

// Decodes only the 48-byte header; `bytes` must hold at least 48.
[[nodiscard]] NtpHeader decode_header(std::span<const std::uint8_t, kNtpHeaderLen> bytes);
// Encodes the header into exactly 48 bytes.
void encode_header(const NtpHeader& h, std::span<std::uint8_t, kNtpHeaderLen> out);

// Full strict parse. On error, `out` holds what was decoded so far.
[[nodiscard]] ParseError parse_packet(std::span<const std::uint8_t> bytes, ParsedPacket& out);

[[nodiscard]] const char* to_string(ParseError e);

// Big-endian 64-bit timestamp at `p` (8 bytes readable/writable).
[[nodiscard]] NtpTimestamp load_timestamp(const std::uint8_t* p);
void store_timestamp(std::uint8_t* p, NtpTimestamp ts);

}  // namespace gnomon
