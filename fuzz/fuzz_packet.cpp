// NTP packet parsing (lib/packet.hpp): header, RFC 7822 extension fields and
// MAC detection. Every field span must lie inside the input, the header must
// round-trip, and parsing twice must agree.
#include <cstring>

#include "fuzz/fuzz_support.hpp"
#include "lib/packet.hpp"

using namespace gnomon;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  ParsedPacket p;
  const ParseError e = parse_packet(bytes, p);
  GNOMON_FUZZ_CHECK(p.length == size);
  GNOMON_FUZZ_CHECK(p.extensions_count <= kMaxExtensionFields);
  const std::uint8_t* end = data + size;
  for (const ExtensionField& ef : p.extension_fields()) {
    GNOMON_FUZZ_CHECK(ef.body.data() >= data + kNtpHeaderLen && ef.body.data() + ef.body.size() <= end);
    GNOMON_FUZZ_CHECK((ef.body.size() + kExtensionHeadLen) % 4 == 0);
    GNOMON_FUZZ_CHECK(ef.body.size() + kExtensionHeadLen >= kMinExtensionFieldLen);
  }
  if (p.has_mac) {
    GNOMON_FUZZ_CHECK(p.mac_digest.empty() || (p.mac_digest.data() > data && p.mac_digest.data() + p.mac_digest.size() == end));
    GNOMON_FUZZ_CHECK(p.mac_digest.size() + kMacKeyIdLen <= kMaxMacLen);
  }
  if (e == ParseError::None) {
    GNOMON_FUZZ_CHECK(size >= kNtpHeaderLen && size % 4 == 0 && size <= kMaxNtpPacketLen);
    GNOMON_FUZZ_CHECK(p.header.version >= 1 && p.header.version <= 4);
    std::uint8_t again[kNtpHeaderLen];
    encode_header(p.header, std::span<std::uint8_t, kNtpHeaderLen>(again, kNtpHeaderLen));
    GNOMON_FUZZ_CHECK(std::memcmp(again, data, kNtpHeaderLen) == 0);
    ParsedPacket q;
    GNOMON_FUZZ_CHECK(parse_packet(bytes, q) == ParseError::None);
    GNOMON_FUZZ_CHECK(q.extensions_count == p.extensions_count && q.has_mac == p.has_mac);
  }
  (void)to_string(e);
  return 0;
}
