// lib/packet.hpp: header codec round trips, the strict RFC 7822 walk of
// extension fields and MACs, and random/mutated inputs (run under ASan in CI:
// every buffer here is heap-allocated at its exact size, so any read past the
// end is caught).
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <vector>

#include "lib/packet.hpp"

using namespace gnomon;

namespace {

using Bytes = std::vector<std::uint8_t>;

NtpHeader sample_header(std::uint8_t version = 4, NtpMode mode = NtpMode::Client) {
  NtpHeader h;
  h.leap = Leap::Insert;
  h.version = version;
  h.mode = mode;
  h.stratum = 2;
  h.poll = 6;
  h.precision = -23;
  h.root_delay = NtpShort{0x00012345u};
  h.root_dispersion = NtpShort{0x0000ABCDu};
  h.reference_id = 0xC0A80001u;
  h.reference_ts = NtpTimestamp{0xE9000000u, 0x11111111u};
  h.origin_ts = NtpTimestamp{0xE9000001u, 0x22222222u};
  h.receive_ts = NtpTimestamp{0xE9000002u, 0x33333333u};
  h.transmit_ts = NtpTimestamp{0xE9000003u, 0x44444444u};
  return h;
}

Bytes header_bytes(std::uint8_t version = 4, NtpMode mode = NtpMode::Client) {
  Bytes b(kNtpHeaderLen);
  encode_header(sample_header(version, mode), std::span<std::uint8_t, kNtpHeaderLen>(b.data(), kNtpHeaderLen));
  return b;
}

// Appends an extension field of `total_len` bytes (head included) with a
// patterned body.
void add_ef(Bytes& b, std::uint16_t type, std::uint16_t total_len) {
  b.push_back(static_cast<std::uint8_t>(type >> 8));
  b.push_back(static_cast<std::uint8_t>(type));
  b.push_back(static_cast<std::uint8_t>(total_len >> 8));
  b.push_back(static_cast<std::uint8_t>(total_len));
  for (std::size_t i = 4; i < total_len; ++i) b.push_back(static_cast<std::uint8_t>(0xA0 + i));
}

// Appends a MAC: key id then `digest_len` bytes.
void add_mac(Bytes& b, std::uint32_t key_id, std::size_t digest_len) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(key_id >> s));
  for (std::size_t i = 0; i < digest_len; ++i) b.push_back(static_cast<std::uint8_t>(0x50 + i));
}

void add_raw(Bytes& b, std::initializer_list<std::uint8_t> bytes) {
  b.insert(b.end(), bytes.begin(), bytes.end());
}

ParseError parse(const Bytes& b, ParsedPacket& p) { return parse_packet(std::span<const std::uint8_t>(b), p); }

ParseError parse(const Bytes& b) {
  ParsedPacket p;
  return parse(b, p);
}

bool within(std::span<const std::uint8_t> inner, const Bytes& outer) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

// Structural invariants of a successful parse: the header, the fields and the
// MAC tile the packet exactly, and every span lies inside it.
void check_tiling(const Bytes& b, const ParsedPacket& p) {
  REQUIRE(p.length == b.size());
  REQUIRE(p.extensions_count <= kMaxExtensionFields);
  std::size_t pos = kNtpHeaderLen;
  for (const ExtensionField& ef : p.extension_fields()) {
    REQUIRE(within(ef.body, b));
    REQUIRE(ef.body.data() == b.data() + pos + kExtensionHeadLen);
    REQUIRE(ef.body.size() + kExtensionHeadLen >= kMinExtensionFieldLen);
    REQUIRE(ef.body.size() % 4 == 0);
    pos += ef.body.size() + kExtensionHeadLen;
  }
  if (p.has_mac) {
    REQUIRE(within(p.mac_digest, b));
    pos += kMacKeyIdLen + p.mac_digest.size();
  }
  REQUIRE(pos == b.size());
}

}  // namespace

TEST_CASE("header encode/decode round trip", "[packet]") {
  const NtpHeader h = sample_header();
  std::array<std::uint8_t, kNtpHeaderLen> buf{};
  encode_header(h, buf);
  CHECK(buf[0] == ((1u << 6) | (4u << 3) | 3u));
  CHECK(buf[1] == 2);
  CHECK(buf[2] == 6);
  CHECK(buf[3] == static_cast<std::uint8_t>(-23));
  CHECK(buf[4] == 0x00);
  CHECK(buf[5] == 0x01);
  CHECK(buf[6] == 0x23);
  CHECK(buf[7] == 0x45);
  CHECK(buf[12] == 0xC0);
  CHECK(buf[15] == 0x01);
  CHECK(buf[40] == 0xE9);
  CHECK(buf[47] == 0x44);
  CHECK(load_timestamp(buf.data() + kTransmitTsOffset) == h.transmit_ts);
  CHECK(load_timestamp(buf.data() + kOriginTsOffset) == h.origin_ts);
  CHECK(load_timestamp(buf.data() + kReceiveTsOffset) == h.receive_ts);
  CHECK(load_timestamp(buf.data() + kReferenceTsOffset) == h.reference_ts);
  CHECK(decode_header(buf) == h);

  // Every leap/version/mode combination and random field values.
  std::mt19937_64 rng(1);
  for (int i = 0; i < 20'000; ++i) {
    NtpHeader r;
    r.leap = static_cast<Leap>(rng() & 3);
    r.version = static_cast<std::uint8_t>(rng() & 7);
    r.mode = static_cast<NtpMode>(rng() & 7);
    r.stratum = static_cast<std::uint8_t>(rng());
    r.poll = static_cast<std::int8_t>(static_cast<std::uint8_t>(rng()));
    r.precision = static_cast<std::int8_t>(static_cast<std::uint8_t>(rng()));
    r.root_delay = NtpShort{static_cast<std::uint32_t>(rng())};
    r.root_dispersion = NtpShort{static_cast<std::uint32_t>(rng())};
    r.reference_id = static_cast<std::uint32_t>(rng());
    r.reference_ts = NtpTimestamp::from_u64(rng());
    r.origin_ts = NtpTimestamp::from_u64(rng());
    r.receive_ts = NtpTimestamp::from_u64(rng());
    r.transmit_ts = NtpTimestamp::from_u64(rng());
    encode_header(r, buf);
    REQUIRE(decode_header(buf) == r);
    std::array<std::uint8_t, kNtpHeaderLen> again{};
    encode_header(decode_header(buf), again);
    REQUIRE(again == buf);
  }
}

TEST_CASE("timestamp load/store is big-endian", "[packet]") {
  std::array<std::uint8_t, 8> b{};
  store_timestamp(b.data(), NtpTimestamp{0x01020304u, 0x05060708u});
  CHECK(b == std::array<std::uint8_t, 8>{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(load_timestamp(b.data()) == NtpTimestamp{0x01020304u, 0x05060708u});
}

TEST_CASE("plain 48-byte packets of versions 1-4 parse", "[packet]") {
  for (std::uint8_t v = 1; v <= 4; ++v) {
    const Bytes b = header_bytes(v);
    ParsedPacket p;
    REQUIRE(parse(b, p) == ParseError::None);
    CHECK(p.header == sample_header(v));
    CHECK(p.length == 48);
    CHECK(p.extensions_count == 0);
    CHECK_FALSE(p.has_mac);
    CHECK(p.extension_fields().empty());
  }
}

TEST_CASE("bad lengths", "[packet]") {
  const Bytes base = header_bytes();
  for (std::size_t n = 0; n < kNtpHeaderLen; ++n) {
    const Bytes b(base.begin(), base.begin() + static_cast<std::ptrdiff_t>(n));
    REQUIRE(parse(b) == ParseError::TooShort);
  }
  for (std::size_t n : {49u, 50u, 51u, 53u, 67u, 1023u}) {
    Bytes b = base;
    b.resize(n, 0);
    REQUIRE(parse(b) == ParseError::BadLength);
  }
  for (std::size_t n : {kMaxNtpPacketLen + 4, std::size_t{2048}, std::size_t{65536}, std::size_t{1} << 20}) {
    Bytes b = base;
    b.resize(n, 0);
    REQUIRE(parse(b) == ParseError::BadLength);
  }
  // The longest accepted: a chain of fields filling kMaxNtpPacketLen.
  Bytes b = base;
  add_ef(b, 0x1234, static_cast<std::uint16_t>(kMaxNtpPacketLen - kNtpHeaderLen));
  REQUIRE(b.size() == kMaxNtpPacketLen);
  CHECK(parse(b) == ParseError::None);
  // An empty span is too short, not a crash.
  ParsedPacket p;
  CHECK(parse_packet({}, p) == ParseError::TooShort);
}

TEST_CASE("bad versions", "[packet]") {
  for (std::uint8_t v : std::initializer_list<std::uint8_t>{0, 5, 6, 7}) {
    CHECK(parse(header_bytes(v)) == ParseError::BadVersion);
    Bytes b = header_bytes(v);
    add_mac(b, 1, 16);
    CHECK(parse(b) == ParseError::BadVersion);
  }
}

TEST_CASE("NTPv4 MAC layouts", "[packet]") {
  SECTION("crypto-NAK: 4 zero bytes") {
    Bytes b = header_bytes();
    add_mac(b, 0, 0);
    ParsedPacket p;
    REQUIRE(parse(b, p) == ParseError::None);
    CHECK(p.has_mac);
    CHECK(p.mac_key_id == 0);
    CHECK(p.mac_digest.empty());
    check_tiling(b, p);
  }
  SECTION("4 bytes with a non-zero key id are invalid") {
    Bytes b = header_bytes();
    add_mac(b, 7, 0);
    CHECK(parse(b) == ParseError::BadExtension);
  }
  SECTION("8, 12 and 16 trailing bytes are neither a MAC nor a field") {
    for (std::size_t n : {8u, 12u, 16u}) {
      Bytes b = header_bytes();
      add_mac(b, 1, n - 4);
      CHECK(parse(b) == ParseError::BadExtension);
    }
  }
  SECTION("key id + 16-byte digest (MD5, AES-CMAC)") {
    Bytes b = header_bytes();
    add_mac(b, 0x01020304u, 16);
    ParsedPacket p;
    REQUIRE(parse(b, p) == ParseError::None);
    CHECK(p.has_mac);
    CHECK(p.mac_key_id == 0x01020304u);
    REQUIRE(p.mac_digest.size() == 16);
    CHECK(p.mac_digest[0] == 0x50);
    CHECK(p.mac_digest.data() == b.data() + 52);
    CHECK(p.extensions_count == 0);
    check_tiling(b, p);
  }
  SECTION("key id + 20-byte digest (SHA1, truncated longer hashes)") {
    Bytes b = header_bytes();
    add_mac(b, 42, 20);
    ParsedPacket p;
    REQUIRE(parse(b, p) == ParseError::None);
    CHECK(p.mac_key_id == 42);
    CHECK(p.mac_digest.size() == 20);
    check_tiling(b, p);
  }
  SECTION("a 20- or 24-byte remainder is a MAC even if it also parses as a field") {
    for (std::uint16_t n : std::initializer_list<std::uint16_t>{20, 24}) {
      Bytes b = header_bytes();
      add_ef(b, 0x0104, n);
      ParsedPacket p;
      REQUIRE(parse(b, p) == ParseError::None);
      CHECK(p.has_mac);
      CHECK(p.extensions_count == 0);
      CHECK(p.mac_key_id == ((0x0104u << 16) | n));
    }
  }
  SECTION("untruncated SHA256/SHA512 MACs are not valid in NTPv4 (chrony truncates to 20)") {
    for (std::size_t digest : {32u, 64u}) {
      Bytes b = header_bytes();
      add_mac(b, 1, digest);  // key id 1 reads as type 0, length 1
      CHECK(parse(b) == ParseError::BadExtension);
    }
  }
}

TEST_CASE("NTPv4 extension field layouts", "[packet]") {
  SECTION("a field of the minimum length followed by more") {
    Bytes b = header_bytes();
    add_ef(b, 0x0104, 16);
    add_ef(b, 0x0204, 28);
    ParsedPacket p;
    REQUIRE(parse(b, p) == ParseError::None);
    REQUIRE(p.extensions_count == 2);
    CHECK(p.extensions[0].type == 0x0104);
    CHECK(p.extensions[0].body.size() == 12);
    CHECK(p.extensions[0].body.data() == b.data() + 52);
    CHECK(p.extensions[0].body[0] == 0xA4);
    CHECK(p.extensions[1].type == 0x0204);
    CHECK(p.extensions[1].body.data() == b.data() + 68);
    CHECK_FALSE(p.has_mac);
    check_tiling(b, p);
  }
  SECTION("a last field of 16 bytes is invalid: 16 bytes are too short for a MAC (RFC 7822)") {
    Bytes b = header_bytes();
    add_ef(b, 0x0104, 16);
    CHECK(parse(b) == ParseError::BadExtension);
    Bytes c = header_bytes();
    add_ef(c, 0x0104, 28);
    add_ef(c, 0x0104, 16);
    CHECK(parse(c) == ParseError::BadExtension);
  }
  SECTION("a 28-byte field is a field, not a MAC") {
    Bytes b = header_bytes();
    add_ef(b, 0x0204, 28);
    ParsedPacket p;
    REQUIRE(parse(b, p) == ParseError::None);
    CHECK(p.extensions_count == 1);
    CHECK(p.extensions[0].body.size() == 24);
    CHECK_FALSE(p.has_mac);
  }
  SECTION("fields followed by a MAC") {
    for (std::size_t digest : {16u, 20u}) {
      Bytes b = header_bytes();
      add_ef(b, 0x0104, 36);
      add_ef(b, 0x0204, 100);
      add_mac(b, 9, digest);
      ParsedPacket p;
      REQUIRE(parse(b, p) == ParseError::None);
      CHECK(p.extensions_count == 2);
      CHECK(p.extensions[1].type == 0x0204);
      CHECK(p.extensions[1].body.size() == 96);
      CHECK(p.has_mac);
      CHECK(p.mac_key_id == 9);
      CHECK(p.mac_digest.size() == digest);
      check_tiling(b, p);
    }
  }
  SECTION("a crypto-NAK after a field is invalid") {
    Bytes b = header_bytes();
    add_ef(b, 0x0104, 28);
    add_mac(b, 0, 0);
    CHECK(parse(b) == ParseError::BadExtension);
    // ... while 16 + 4 bytes are a 20-byte MAC as a whole.
    Bytes c = header_bytes();
    add_ef(c, 0x0104, 16);
    add_mac(c, 0, 0);
    ParsedPacket p;
    REQUIRE(parse(c, p) == ParseError::None);
    CHECK(p.has_mac);
    CHECK(p.extensions_count == 0);
  }
  SECTION("field lengths 0, 4, 8, 12: shorter than 16") {
    for (std::uint16_t len : std::initializer_list<std::uint16_t>{0, 4, 8, 12}) {
      Bytes b = header_bytes();
      add_raw(b, {0x01, 0x04, static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)});
      b.resize(b.size() + 28, 0);  // plenty of room after it
      CHECK(parse(b) == ParseError::BadExtension);
    }
  }
  SECTION("field length not a multiple of 4") {
    for (std::uint16_t len : std::initializer_list<std::uint16_t>{17, 18, 19, 30}) {
      Bytes b = header_bytes();
      add_raw(b, {0x01, 0x04, static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)});
      b.resize(b.size() + 28, 0);
      CHECK(parse(b) == ParseError::BadExtension);
    }
  }
  SECTION("field length past the end") {
    for (std::uint16_t len : std::initializer_list<std::uint16_t>{36, 40, 1000, 0xFFFC}) {
      Bytes b = header_bytes();
      add_raw(b, {0x01, 0x04, static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len)});
      b.resize(b.size() + 28, 0);  // 32 bytes after the header
      CHECK(parse(b) == ParseError::BadExtension);
    }
  }
  SECTION("a second field past the end") {
    Bytes b = header_bytes();
    add_ef(b, 0x0104, 16);
    add_raw(b, {0x02, 0x04, 0x00, 0x40});
    b.resize(b.size() + 28, 0);
    CHECK(parse(b) == ParseError::BadExtension);
  }
  SECTION("16 chained fields parse; 17 and 20 are too many") {
    for (int n : {1, 15, 16}) {
      Bytes b = header_bytes();
      for (int i = 0; i < n - 1; ++i) add_ef(b, static_cast<std::uint16_t>(i), 16);
      add_ef(b, static_cast<std::uint16_t>(n - 1), 28);
      ParsedPacket p;
      REQUIRE(parse(b, p) == ParseError::None);
      CHECK(p.extensions_count == static_cast<std::size_t>(n));
      CHECK(p.extensions[static_cast<std::size_t>(n - 1)].type == n - 1);
      check_tiling(b, p);
    }
    for (int n : {17, 20}) {
      Bytes b = header_bytes();
      for (int i = 0; i < n; ++i) add_ef(b, 0x0104, 28);
      ParsedPacket p;
      CHECK(parse(b, p) == ParseError::TooManyExtensions);
      CHECK(p.extensions_count == kMaxExtensionFields);
    }
  }
}

TEST_CASE("NTPv1-3: anything after the header is a MAC", "[packet]") {
  for (std::uint8_t v : std::initializer_list<std::uint8_t>{1, 2, 3}) {
    for (std::size_t digest : {0u, 16u, 20u, 24u, 32u, 48u, 64u}) {
      Bytes b = header_bytes(v);
      add_mac(b, 77, digest);
      ParsedPacket p;
      INFO("version " << int{v} << " digest " << digest);
      REQUIRE(parse(b, p) == ParseError::None);
      CHECK(p.has_mac);
      CHECK(p.mac_key_id == 77);
      CHECK(p.mac_digest.size() == digest);
      CHECK(p.extensions_count == 0);
      check_tiling(b, p);
    }
    for (std::size_t digest : {4u, 8u, 12u, 68u, 100u}) {
      Bytes b = header_bytes(v);
      add_mac(b, 77, digest);
      CHECK(parse(b) == ParseError::BadExtension);
    }
    // Extension fields are not recognised before NTPv4: 32 bytes of them
    // read as a MAC, 80 bytes are too long for one.
    Bytes b = header_bytes(v);
    add_ef(b, 0x0104, 16);
    add_ef(b, 0x0104, 16);
    ParsedPacket p;
    REQUIRE(parse(b, p) == ParseError::None);
    CHECK(p.has_mac);
    CHECK(p.extensions_count == 0);
    for (int i = 0; i < 3; ++i) add_ef(b, 0x0104, 16);
    CHECK(parse(b) == ParseError::BadExtension);
  }
}

TEST_CASE("on error, what was decoded so far is kept", "[packet]") {
  Bytes b = header_bytes();
  add_ef(b, 0x0104, 16);
  add_raw(b, {0, 0, 0, 3});
  b.resize(b.size() + 28, 0);
  ParsedPacket p;
  REQUIRE(parse(b, p) == ParseError::BadExtension);
  CHECK(p.header == sample_header());
  CHECK(p.extensions_count == 1);
  // The struct is reset by the next parse.
  REQUIRE(parse(header_bytes(), p) == ParseError::None);
  CHECK(p.extensions_count == 0);
  CHECK_FALSE(p.has_mac);
}

TEST_CASE("random inputs never crash and parse consistently", "[packet][fuzz]") {
  std::mt19937_64 rng(20240601);
  std::uniform_int_distribution<std::size_t> len_dist(0, kMaxNtpPacketLen + 64);
  int ok = 0;
  for (int i = 0; i < 100'000; ++i) {
    std::size_t n = len_dist(rng);
    if (i % 2 == 0) n = n / 4 * 4;  // more of them reach the walk
    Bytes b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (n >= 1 && i % 4 == 0) b[0] = static_cast<std::uint8_t>((b[0] & 0xC7) | (4 << 3));
    ParsedPacket p;
    const ParseError e = parse(b, p);
    if (e == ParseError::None) {
      ++ok;
      check_tiling(b, p);
    }
  }
  CHECK(ok > 0);
}

TEST_CASE("mutated valid packets never crash and parse consistently", "[packet][fuzz]") {
  // Seeds: valid layouts of every kind.
  std::vector<Bytes> seeds;
  seeds.push_back(header_bytes());
  {
    Bytes b = header_bytes();
    add_mac(b, 0, 0);
    seeds.push_back(b);
  }
  for (std::size_t d : {16u, 20u}) {
    Bytes b = header_bytes();
    add_mac(b, 5, d);
    seeds.push_back(b);
  }
  {
    Bytes b = header_bytes();
    add_ef(b, 0x0104, 36);
    add_ef(b, 0x0204, 104);
    add_ef(b, 0x0304, 104);
    add_ef(b, 0x0404, 40);
    seeds.push_back(b);
  }
  {
    Bytes b = header_bytes();
    for (int i = 0; i < 16; ++i) add_ef(b, 0x0104, 16);
    add_mac(b, 3, 20);
    seeds.push_back(b);
  }
  {
    Bytes b = header_bytes(3);
    add_mac(b, 3, 64);
    seeds.push_back(b);
  }

  std::mt19937_64 rng(777);
  int ok = 0;
  int errors = 0;
  for (int i = 0; i < 200'000; ++i) {
    Bytes b = seeds[rng() % seeds.size()];
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      switch (rng() % 5) {
        case 0:  // flip a byte
          if (!b.empty()) b[rng() % b.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
          break;
        case 1:  // rewrite an extension-field length word somewhere after the header
          if (b.size() > kNtpHeaderLen + 4) {
            const std::size_t at = kNtpHeaderLen + (rng() % ((b.size() - kNtpHeaderLen) / 4)) * 4 + 2;
            if (at + 1 < b.size()) {
              const std::uint16_t v = static_cast<std::uint16_t>(rng() % 3 == 0 ? rng() : rng() % 64);
              b[at] = static_cast<std::uint8_t>(v >> 8);
              b[at + 1] = static_cast<std::uint8_t>(v);
            }
          }
          break;
        case 2:  // truncate
          b.resize(rng() % (b.size() + 1));
          break;
        case 3:  // extend with random bytes
          for (std::size_t k = rng() % 32; k > 0; --k) b.push_back(static_cast<std::uint8_t>(rng()));
          break;
        case 4:  // change the version
          if (!b.empty()) b[0] = static_cast<std::uint8_t>((b[0] & 0xC7) | ((rng() % 8) << 3));
          break;
      }
    }
    b.shrink_to_fit();  // exact-size heap buffer: ASan sees any overread
    ParsedPacket p;
    if (parse(b, p) == ParseError::None) {
      ++ok;
      check_tiling(b, p);
    } else {
      ++errors;
    }
  }
  CHECK(ok > 1000);
  CHECK(errors > 1000);
}
