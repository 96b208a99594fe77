// lib/symmetric_key.hpp, lib/key_file.hpp and lib/crypto (OpenSSL): chrony's
// key file, the NTP MAC (H(key || packet), AES-CMAC) and its truncation
// rules, the server's verify-and-sign, the client's sign-and-verify (test 5),
// and that a wrong key never changes state.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lib/crypto/openssl_mac.hpp"
#include "lib/key_file.hpp"
#include "lib/packet.hpp"
#include "lib/server.hpp"
#include "lib/source.hpp"
#include "lib/symmetric_key.hpp"

using namespace gnomon;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes from_hex(std::string_view hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

Bytes ascii(std::string_view s) { return Bytes(s.begin(), s.end()); }

SymmetricKey make_key(std::uint32_t id, MacAlgorithm a, Bytes secret) {
  return SymmetricKey{id, a, SecretBytes(std::move(secret))};
}

// Keys 1..6 as in the interop test's key file, plus an AES256 key.
std::shared_ptr<const KeyTable> test_keys() {
  std::vector<SymmetricKey> keys;
  keys.push_back(make_key(1, MacAlgorithm::Md5, ascii("gnomon-test-key")));
  keys.push_back(make_key(2, MacAlgorithm::Sha1, ascii("gnomon-test-key")));
  keys.push_back(make_key(3, MacAlgorithm::Sha256, ascii("gnomon-test-key")));
  keys.push_back(make_key(4, MacAlgorithm::Sha512, ascii("gnomon-test-key")));
  keys.push_back(make_key(5, MacAlgorithm::Aes128Cmac, from_hex("2b7e151628aed2a6abf7158809cf4f3c")));
  keys.push_back(make_key(
      6, MacAlgorithm::Aes256Cmac,
      from_hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")));
  return std::make_shared<const KeyTable>(std::move(keys), openssl_mac_provider());
}

Bytes request_bytes(std::uint8_t version = 4) {
  NtpHeader h;
  h.leap = Leap::Unsynchronised;
  h.version = version;
  h.mode = NtpMode::Client;
  h.poll = 6;
  h.transmit_ts = NtpTimestamp{0xE8E8E8E8u, 0x12345678u};
  Bytes b(kNtpHeaderLen);
  encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(b.data(), kNtpHeaderLen));
  return b;
}

// A request signed with `id` (room for the largest MAC).
Bytes signed_request(const KeyTable& keys, std::uint32_t id, std::uint8_t version) {
  Bytes b = request_bytes(version);
  b.resize(kNtpHeaderLen + kMaxMacLen);
  const std::size_t mac = keys.sign(id, b, kNtpHeaderLen, version);
  REQUIRE(mac > 0);
  b.resize(kNtpHeaderLen + mac);
  return b;
}

ServedState synced_state(TimePoint now) {
  ServedState s;
  s.leap = Leap::None;
  s.stratum = 2;
  s.refid = 0xC0000201u;
  s.reference_time = now - Duration::seconds(10);
  s.root_delay_s = 0.01;
  s.root_dispersion_s = 0.01;
  s.precision = -20;
  return s;
}

const TimePoint kNow{1'700'000'000LL * kNsPerS};

struct ServerRun {
  ServerReply reply;
  Bytes out;
};

// The daemon's sequence: build_reply, stamp_transmit, finish_reply.
ServerRun serve(std::span<const std::uint8_t> request, ServerAuthenticator* auth) {
  RequestContext ctx;
  ctx.request = request;
  ctx.rx_time = kNow;
  ctx.client = *SocketAddress::parse("192.0.2.7:40000", 123);
  ctx.allowed = true;
  ctx.auth = auth;
  ServerRun run;
  run.out.assign(kMaxNtpPacketLen, 0);
  run.reply = build_reply(ctx, synced_state(kNow), ServerOptions{}, run.out);
  if (run.reply.answered()) {
    stamp_transmit(std::span<std::uint8_t>(run.out.data(), run.reply.length),
                   kNow + Duration::from_seconds(1e-5), 0x5555u, -20);
    if (run.reply.needs_auth && auth != nullptr) {
      run.reply.length = auth->finish_reply(run.out, run.reply.length);
    }
  }
  run.out.resize(run.reply.answered() ? run.reply.length : 0);
  return run;
}

}  // namespace

// --- Algorithms and the OpenSSL provider ---------------------------------------

TEST_CASE("symmetric keys: algorithm names and sizes are chrony's", "[keys]") {
  CHECK(mac_algorithm_from_name("MD5") == MacAlgorithm::Md5);
  CHECK(mac_algorithm_from_name("SHA1") == MacAlgorithm::Sha1);
  CHECK(mac_algorithm_from_name("SHA256") == MacAlgorithm::Sha256);
  CHECK(mac_algorithm_from_name("SHA512") == MacAlgorithm::Sha512);
  CHECK(mac_algorithm_from_name("SHA3-256") == MacAlgorithm::Sha3_256);
  CHECK(mac_algorithm_from_name("AES128") == MacAlgorithm::Aes128Cmac);
  CHECK(mac_algorithm_from_name("AES256") == MacAlgorithm::Aes256Cmac);
  CHECK_FALSE(mac_algorithm_from_name("md5").has_value());  // chrony compares case-sensitively
  CHECK_FALSE(mac_algorithm_from_name("HMAC-SHA1").has_value());
  CHECK(mac_output_len(MacAlgorithm::Md5) == 16);
  CHECK(mac_output_len(MacAlgorithm::Sha1) == 20);
  CHECK(mac_output_len(MacAlgorithm::Sha512) == 64);
  CHECK(mac_output_len(MacAlgorithm::Aes256Cmac) == 16);
  CHECK(required_key_len(MacAlgorithm::Aes128Cmac) == 16);
  CHECK(required_key_len(MacAlgorithm::Aes256Cmac) == 32);
  CHECK(required_key_len(MacAlgorithm::Sha1) == 0);
  // NTPv4 truncates to 20 bytes; NTPv1-3 carry up to 64.
  CHECK(digest_len_for_version(MacAlgorithm::Sha256, 4) == 20);
  CHECK(digest_len_for_version(MacAlgorithm::Sha256, 3) == 32);
  CHECK(digest_len_for_version(MacAlgorithm::Md5, 4) == 16);
  CHECK(digest_len_for_version(MacAlgorithm::Sha512, 3) == 64);
}

TEST_CASE("symmetric keys: the NTP MAC is H(key || data), not HMAC", "[keys]") {
  const auto p = openssl_mac_provider();
  const Bytes key = ascii("gnomon-test-key");
  Bytes data(48);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i);
  std::array<std::uint8_t, kMaxMacOutputLen> out{};
  // Reference values: Python's hashlib over key + data.
  REQUIRE(p->compute(MacAlgorithm::Md5, key, data, out) == 16);
  CHECK(Bytes(out.begin(), out.begin() + 16) == from_hex("b9c815078fb10d6211c63977ac999635"));
  REQUIRE(p->compute(MacAlgorithm::Sha1, key, data, out) == 20);
  CHECK(Bytes(out.begin(), out.begin() + 20) ==
        from_hex("819f0d5e56a754abe6a89df350cc8316f766e306"));
  REQUIRE(p->compute(MacAlgorithm::Sha256, key, data, out) == 32);
  CHECK(Bytes(out.begin(), out.begin() + 32) ==
        from_hex("68933b0f9cb3a45f88af1993e96e52a6478d45a67116a745d26644389017408a"));
  REQUIRE(p->compute(MacAlgorithm::Sha512, key, data, out) == 64);
  CHECK(Bytes(out.begin(), out.begin() + 8) == from_hex("a17c0176bb4db981"));
}

TEST_CASE("symmetric keys: AES-CMAC matches RFC 4493 and SP 800-38B", "[keys]") {
  const auto p = openssl_mac_provider();
  std::array<std::uint8_t, kMaxMacOutputLen> out{};
  const Bytes k128 = from_hex("2b7e151628aed2a6abf7158809cf4f3c");
  REQUIRE(p->compute(MacAlgorithm::Aes128Cmac, k128, {}, out) == 16);
  CHECK(Bytes(out.begin(), out.begin() + 16) == from_hex("bb1d6929e95937287fa37d129b756746"));
  const Bytes m16 = from_hex("6bc1bee22e409f96e93d7e117393172a");
  REQUIRE(p->compute(MacAlgorithm::Aes128Cmac, k128, m16, out) == 16);
  CHECK(Bytes(out.begin(), out.begin() + 16) == from_hex("070a16b46b4d4144f79bdd9dd04a287c"));
  const Bytes k256 = from_hex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  REQUIRE(p->compute(MacAlgorithm::Aes256Cmac, k256, {}, out) == 16);
  CHECK(Bytes(out.begin(), out.begin() + 16) == from_hex("028962f61b7bf89efc6b551f4667d983"));
  // A CMAC key of the wrong length is refused, not padded.
  CHECK(p->compute(MacAlgorithm::Aes128Cmac, ascii("short"), m16, out) == 0);
  // Too small an output buffer is refused.
  std::array<std::uint8_t, 8> small{};
  CHECK(p->compute(MacAlgorithm::Sha1, k128, m16, small) == 0);
}

// --- Key file -----------------------------------------------------------------

TEST_CASE("key file: chrony's formats", "[keys][keyfile]") {
  const auto f = parse_key_file(
      "# comment\n"
      "; also a comment\n"
      "\n"
      "1 MD5 ASCII:abcdefghijkl\n"
      "  2   SHA1   HEX:0102030405060708090A0b0c0d0e0f1011121314  \n"
      "3 plaintextkeyvalue\n"
      "4 AES128 HEX:2b7e151628aed2a6abf7158809cf4f3c\n"
      "5 AES256 HEX:603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4\n"
      "4294967295 SHA512 ASCII:x1234567890\r\n"
      "6 SHA3-256 ASCII:0123456789\n");
  CHECK(f.messages.empty());
  REQUIRE(f.keys.size() == 7);
  CHECK(f.keys[0].id == 1);
  CHECK(f.keys[0].algorithm == MacAlgorithm::Md5);
  CHECK(Bytes(f.keys[0].secret.bytes().begin(), f.keys[0].secret.bytes().end()) == ascii("abcdefghijkl"));
  CHECK(f.keys[1].algorithm == MacAlgorithm::Sha1);
  CHECK(Bytes(f.keys[1].secret.bytes().begin(), f.keys[1].secret.bytes().end()) ==
        from_hex("0102030405060708090a0b0c0d0e0f1011121314"));
  // Two words: the type is MD5 and the key is ASCII.
  CHECK(f.keys[2].algorithm == MacAlgorithm::Md5);
  CHECK(f.keys[2].secret.size() == 17);
  CHECK(f.keys[3].algorithm == MacAlgorithm::Aes128Cmac);
  CHECK(f.keys[4].secret.size() == 32);
  CHECK(f.keys[5].id == 4294967295u);
  CHECK(f.keys[6].algorithm == MacAlgorithm::Sha3_256);
}

TEST_CASE("key file: bad lines warn with their line, never with the key", "[keys][keyfile]") {
  const std::string secret_a = "SECRETAAAAAAAA";
  const std::string secret_b = "SECRETBBBBBBBB";
  const auto f = parse_key_file(
      "1 MD5\n"                                   // 1: two words: MD5 key "MD5", too short
      "2 SHA1 ASCII:" + secret_a + " extra\n"     // 2: four words
      "x SHA1 ASCII:" + secret_a + "\n"           // 3: bad id
      "4294967296 SHA1 ASCII:" + secret_a + "\n"  // 4: id too large
      "5 HMAC ASCII:" + secret_a + "\n"           // 5: unknown type
      "6 SHA1 HEX:0g\n"                           // 6: bad hex
      "7 SHA1 HEX:123\n"                          // 7: odd hex
      "8 AES128 ASCII:" + secret_b + "\n"         // 8: AES key not 128 bits
      "9 AES256 HEX:2b7e151628aed2a6abf7158809cf4f3c\n"  // 9: 128 bits for AES256
      "10 SHA1 ASCII:\n"                          // 10: empty key
      "11 SHA1 ASCII:tinykey\n"                   // 11: < 80 bits: warning, kept
      "12 SHA1 ASCII:" + secret_b + "\n"          // 12: kept
      "12 MD5 ASCII:" + secret_a + "\n");         // 13: duplicate: first wins
  std::vector<std::size_t> lines;
  for (const auto& m : f.messages) {
    lines.push_back(m.line);
    CHECK(m.text.find("SECRET") == std::string::npos);
    CHECK(m.text.find("tinykey") == std::string::npos);
  }
  CHECK(lines == std::vector<std::size_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13});
  REQUIRE(f.keys.size() == 4);
  CHECK(f.keys[0].id == 1);  // "1 MD5" is key "MD5" (chrony reads it the same way)
  CHECK(f.keys[1].id == 11);
  CHECK(f.keys[2].id == 12);
  KeyTable t(parse_key_file("12 SHA1 ASCII:" + secret_b + "\n12 MD5 ASCII:" + secret_a + "\n").keys,
             openssl_mac_provider());
  REQUIRE(t.find(12) != nullptr);
  CHECK(t.find(12)->algorithm == MacAlgorithm::Sha1);
  CHECK(t.size() == 1);
}

TEST_CASE("key file: over-long lines, NUL bytes and random bytes", "[keys][keyfile]") {
  std::string text = "1 SHA1 ASCII:" + std::string(3000, 'k') + "\n2 SHA1 ASCII:okokokokokok\n";
  text += std::string("3 SHA1 ASCII:ab\0cdefghijkl\n", 27);
  const auto f = parse_key_file(text);
  REQUIRE(f.keys.size() == 1);
  CHECK(f.keys[0].id == 2);
  CHECK(f.messages.size() == 2);

  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(static_cast<std::size_t>(rng() % 300), '\0');
    for (auto& c : junk) c = static_cast<char>("0123 \nHEX:ASCII:MD5SHA1AES128#\t\xff"[rng() % 33]);
    const auto r = parse_key_file(junk);
    for (const auto& k : r.keys) CHECK(k.secret.size() > 0);
  }
}

// --- KeyTable ---------------------------------------------------------------------

TEST_CASE("key table: sign and verify follow chrony's truncation rules", "[keys]") {
  const auto keys = test_keys();
  for (std::uint32_t id : {1u, 2u, 3u, 4u, 5u, 6u}) {
    for (int version : {3, 4}) {
      INFO("key " << id << " version " << version);
      const Bytes req = signed_request(*keys, id, static_cast<std::uint8_t>(version));
      const std::size_t digest = keys->digest_len(id, version);
      CHECK(req.size() == kNtpHeaderLen + 4 + digest);
      CHECK(digest <= (version == 4 ? 20u : 64u));
      ParsedPacket p;
      REQUIRE(parse_packet(req, p) == ParseError::None);
      REQUIRE(p.has_mac);
      CHECK(p.mac_key_id == id);
      CHECK(check_request_mac(p, req, keys.get()));
      // Any flipped bit in the header or the digest fails.
      for (std::size_t bit : {std::size_t{0}, std::size_t{100}, std::size_t{47 * 8}, (req.size() - 1) * 8}) {
        Bytes bad = req;
        bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
        ParsedPacket q;
        if (parse_packet(bad, q) == ParseError::None) CHECK_FALSE(check_request_mac(q, bad, keys.get()));
      }
    }
  }
  // A digest of the wrong length never verifies, even if it is a prefix of
  // the right one (chrony: exactly min(hash, 20 or 64) bytes).
  Bytes data = request_bytes();
  std::array<std::uint8_t, kMaxMacOutputLen> full{};
  REQUIRE(openssl_mac_provider()->compute(MacAlgorithm::Sha1, ascii("gnomon-test-key"), data, full) == 20);
  CHECK(keys->verify(2, data, std::span<const std::uint8_t>(full.data(), 20), 4));
  CHECK_FALSE(keys->verify(2, data, std::span<const std::uint8_t>(full.data(), 16), 4));
  CHECK_FALSE(keys->verify(7, data, std::span<const std::uint8_t>(full.data(), 20), 4));
  // SHA256 in NTPv4: only the first 20 bytes are carried.
  REQUIRE(openssl_mac_provider()->compute(MacAlgorithm::Sha256, ascii("gnomon-test-key"), data, full) == 32);
  CHECK(keys->verify(3, data, std::span<const std::uint8_t>(full.data(), 20), 4));
  CHECK_FALSE(keys->verify(3, data, std::span<const std::uint8_t>(full.data(), 32), 4));
  CHECK(keys->verify(3, data, std::span<const std::uint8_t>(full.data(), 32), 3));
  // No room: nothing written.
  Bytes tight = request_bytes();
  tight.resize(kNtpHeaderLen + 10);
  CHECK(keys->sign(2, tight, kNtpHeaderLen, 4) == 0);
  CHECK(keys->sign(99, tight, kNtpHeaderLen, 4) == 0);
  CHECK(preferred_version_for_key(*keys, 2) == 4);
  CHECK(preferred_version_for_key(*keys, 3) == 3);
  CHECK(preferred_version_for_key(*keys, 5) == 4);
}

TEST_CASE("secret bytes are wiped", "[keys]") {
  SecretBytes s(ascii("topsecret"));
  CHECK(s.size() == 9);
  s.wipe();
  CHECK(s.size() == 0);
  SecretBytes a(ascii("one"));
  SecretBytes b(ascii("two"));
  a = b;
  CHECK(a.size() == 3);
  CHECK(equal_constant_time(a.bytes(), b.bytes()));
  CHECK_FALSE(equal_constant_time(ascii("abc"), ascii("abd")));
  CHECK_FALSE(equal_constant_time(ascii("abc"), ascii("ab")));
}

// --- Server -----------------------------------------------------------------------

TEST_CASE("server: a good MAC gets a reply signed with the same key", "[keys][server]") {
  const auto keys = test_keys();
  for (std::uint32_t id : {1u, 2u, 3u, 4u, 5u, 6u}) {
    for (std::uint8_t version : {std::uint8_t{3}, std::uint8_t{4}}) {
      INFO("key " << id << " version " << int{version});
      SymmetricServerAuth auth(keys);
      const Bytes req = signed_request(*keys, id, version);
      const ServerRun run = serve(req, &auth);
      REQUIRE(run.reply.answered());
      CHECK(run.reply.needs_auth);
      CHECK(run.out.size() == req.size());  // same key, same MAC length
      ParsedPacket p;
      REQUIRE(parse_packet(run.out, p) == ParseError::None);
      CHECK(p.header.mode == NtpMode::Server);
      CHECK(p.header.version == version);
      CHECK(p.header.origin_ts == NtpTimestamp{0xE8E8E8E8u, 0x12345678u});
      REQUIRE(p.has_mac);
      CHECK(p.mac_key_id == id);
      // The MAC covers the final header, transmit timestamp included.
      CHECK(check_reply_mac(p, run.out, id, keys.get()));
      CHECK_FALSE(p.header.transmit_ts.is_zero());
    }
  }
}

TEST_CASE("server: unknown key, bad MAC or crypto-NAK is dropped as auth_failed", "[keys][server]") {
  const auto keys = test_keys();
  SymmetricServerAuth auth(keys);
  Bytes req = signed_request(*keys, 2, 4);

  Bytes unknown = req;
  unknown[48] = 0x00;
  unknown[51] = 0x63;  // key 99
  CHECK(serve(unknown, &auth).reply.reason == DropReason::AuthFailed);

  Bytes bad = req;
  bad.back() ^= 0x01;
  CHECK(serve(bad, &auth).reply.reason == DropReason::AuthFailed);

  Bytes changed = req;
  changed[40] ^= 0x80;  // transmit timestamp changed after signing
  CHECK(serve(changed, &auth).reply.reason == DropReason::AuthFailed);

  Bytes nak = request_bytes();
  nak.resize(52, 0);
  CHECK(serve(nak, &auth).reply.reason == DropReason::AuthFailed);

  // A key of another type with the same secret: wrong digest length or value.
  std::vector<SymmetricKey> other;
  other.push_back(make_key(2, MacAlgorithm::Md5, ascii("gnomon-test-key")));
  SymmetricServerAuth other_auth(std::make_shared<const KeyTable>(std::move(other), openssl_mac_provider()));
  CHECK(serve(req, &other_auth).reply.reason == DropReason::AuthFailed);

  // No authenticator at all (no key file): dropped too.
  CHECK(serve(req, nullptr).reply.reason == DropReason::AuthFailed);
  // Plain requests are still answered with plain replies.
  const ServerRun plain = serve(request_bytes(), &auth);
  CHECK(plain.reply.answered());
  CHECK_FALSE(plain.reply.needs_auth);
  CHECK(plain.out.size() == kNtpHeaderLen);
}

TEST_CASE("server: extension fields before a good MAC; reply is header + MAC", "[keys][server]") {
  const auto keys = test_keys();
  SymmetricServerAuth auth(keys);
  Bytes req = request_bytes();
  // An unknown 16-byte extension field, then a SHA1 MAC over both.
  const Bytes ef = {0x7f, 0x01, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  req.insert(req.end(), ef.begin(), ef.end());
  const std::size_t data_len = req.size();
  req.resize(data_len + 24);
  REQUIRE(keys->sign(2, req, data_len, 4) == 24);
  const ServerRun run = serve(req, &auth);
  REQUIRE(run.reply.answered());
  CHECK(run.out.size() == kNtpHeaderLen + 24);
  CHECK(run.out.size() < req.size());
}

TEST_CASE("server: NTS fields go to the NTS authenticator, or are dropped without one", "[keys][server]") {
  const auto keys = test_keys();
  Bytes req = request_bytes();
  // A Unique Identifier field (NTS), 36 bytes.
  Bytes uid = {0x01, 0x04, 0x00, 0x24};
  uid.resize(36, 0x5a);
  req.insert(req.end(), uid.begin(), uid.end());
  SymmetricServerAuth no_nts(keys);
  CHECK(serve(req, &no_nts).reply.reason == DropReason::AuthFailed);

  // A stand-in NTS authenticator: answers and pads to the request's length.
  struct FakeNts final : ServerAuthenticator {
    int checks = 0;
    std::size_t request_len = 0;
    ServerAuthVerdict check_request(const ParsedPacket& p, std::span<const std::uint8_t>) override {
      ++checks;
      request_len = p.length;
      return ServerAuthVerdict::Ok;
    }
    std::size_t finish_reply(std::span<std::uint8_t>, std::size_t) override { return request_len; }
  } nts;
  SymmetricServerAuth with_nts(keys, &nts);
  const ServerRun run = serve(req, &with_nts);
  REQUIRE(run.reply.answered());
  CHECK(nts.checks == 1);
  CHECK(run.out.size() == req.size());
  // MACs still go to the keys, not to NTS.
  CHECK(serve(signed_request(*keys, 2, 4), &with_nts).reply.answered());
  CHECK(nts.checks == 1);
}

// --- Client -----------------------------------------------------------------------

namespace {

class SeqRng : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(engine_());
  }

 private:
  std::mt19937 engine_{3};
};

struct ClientHarness {
  SocketAddress server = *SocketAddress::parse("192.0.2.1:123", 123);
  std::shared_ptr<const KeyTable> keys = test_keys();
  Source src;
  SeqRng rng;
  TimePoint now{1'710'504'000LL * kNsPerS};
  Bytes last_request;
  TimePoint last_tx{};

  ClientHarness(std::uint32_t key_id, std::shared_ptr<const KeyTable> client_keys)
      : src(server, options(key_id)) {
    src.set_authenticator(std::make_shared<SymmetricClientAuth>(std::move(client_keys), key_id));
    src.start(now);
  }

  static SourceOptions options(std::uint32_t key_id) {
    SourceOptions o;
    o.key = key_id;
    return o;
  }

  bool fire() {
    now = *src.next_timer();
    TimerAction a = src.handle_timer(now, rng);
    if (!a.request) return false;
    last_request.assign(a.request->data().begin(), a.request->data().end());
    last_tx = now;
    return true;
  }

  // The server's answer to the last request, through the real server path,
  // with the server's key table.
  Bytes answer(const std::shared_ptr<const KeyTable>& server_keys) {
    SymmetricServerAuth auth(server_keys);
    RequestContext ctx;
    ctx.request = last_request;
    ctx.rx_time = last_tx + Duration::from_seconds(0.001);
    ctx.client = *SocketAddress::parse("192.0.2.9:40000", 123);
    ctx.allowed = true;
    ctx.auth = &auth;
    Bytes out(kMaxNtpPacketLen);
    ServerReply r = build_reply(ctx, synced_state(ctx.rx_time), ServerOptions{}, out);
    if (!r.answered()) return {};
    stamp_transmit(std::span<std::uint8_t>(out.data(), r.length),
                   ctx.rx_time + Duration::from_seconds(1e-5), 0, -20);
    r.length = auth.finish_reply(out, r.length);
    out.resize(r.length);
    return out;
  }

  ReplyResult deliver(const Bytes& reply) {
    ReplyContext ctx;
    ctx.rx_time = last_tx + Duration::from_seconds(0.002);
    ctx.tx_time = last_tx;
    ctx.from = server;
    now = ctx.rx_time;
    return src.handle_reply(reply, ctx);
  }
};

std::shared_ptr<const KeyTable> wrong_keys() {
  std::vector<SymmetricKey> keys;
  for (std::uint32_t id = 1; id <= 6; ++id) {
    const MacAlgorithm a = id == 5 ? MacAlgorithm::Aes128Cmac
                           : id == 6 ? MacAlgorithm::Aes256Cmac
                           : id == 1 ? MacAlgorithm::Md5
                           : id == 2 ? MacAlgorithm::Sha1
                           : id == 3 ? MacAlgorithm::Sha256
                                     : MacAlgorithm::Sha512;
    Bytes secret(required_key_len(a) != 0 ? required_key_len(a) : 16, static_cast<std::uint8_t>(0xA0 + id));
    keys.push_back(make_key(id, a, std::move(secret)));
  }
  return std::make_shared<const KeyTable>(std::move(keys), openssl_mac_provider());
}

}  // namespace

TEST_CASE("client: requests are signed; SHA256 and longer keys use NTPv3", "[keys][source]") {
  for (std::uint32_t id : {1u, 2u, 3u, 4u, 5u, 6u}) {
    INFO("key " << id);
    ClientHarness h(id, test_keys());
    REQUIRE(h.fire());
    ParsedPacket p;
    REQUIRE(parse_packet(h.last_request, p) == ParseError::None);
    REQUIRE(p.has_mac);
    CHECK(p.mac_key_id == id);
    CHECK(p.header.version == (id == 3 || id == 4 ? 3 : 4));
    CHECK(p.header.mode == NtpMode::Client);
    CHECK(check_request_mac(p, h.last_request, h.keys.get()));
  }
}

TEST_CASE("client: replies signed with the right key are accepted", "[keys][source]") {
  for (std::uint32_t id : {1u, 2u, 3u, 5u, 6u}) {
    INFO("key " << id);
    ClientHarness h(id, test_keys());
    for (int i = 0; i < 4; ++i) {
      REQUIRE(h.fire());
      const Bytes reply = h.answer(h.keys);
      REQUIRE_FALSE(reply.empty());
      const ReplyResult r = h.deliver(reply);
      CHECK(r.tests.test5());
      CHECK(r.disposition == ReplyDisposition::Accepted);
    }
    CHECK(h.src.reach() == 0x0F);
    CHECK(h.src.stats().samples() == 4);
    CHECK(h.src.ntp_data().authenticated);
  }
}

TEST_CASE("client: a wrong key never changes state", "[keys][source]") {
  const auto bad = wrong_keys();
  for (std::uint32_t id : {2u, 3u, 5u}) {
    INFO("key " << id);
    ClientHarness h(id, test_keys());
    // One good exchange first, so that there is state to keep.
    REQUIRE(h.fire());
    REQUIRE(h.deliver(h.answer(h.keys)).disposition == ReplyDisposition::Accepted);
    const std::uint8_t reach = h.src.reach();
    const int samples = h.src.stats().samples();
    const auto valid_rx = h.src.ntp_data().total_valid_rx;

    REQUIRE(h.fire());
    // The server holds another secret under the same id: it drops our request...
    CHECK(h.answer(bad).empty());
    // ...and a reply signed with that secret (a forgery) fails test 5.
    SymmetricClientAuth forger(bad, id);
    Bytes forged = h.answer(h.keys);
    REQUIRE(forged.size() > kNtpHeaderLen);
    ParsedPacket fp;
    REQUIRE(parse_packet(forged, fp) == ParseError::None);
    const std::size_t mac_at = mac_offset(fp);
    REQUIRE(bad->sign(id, forged, mac_at, fp.header.version) == forged.size() - mac_at);
    ReplyResult r = h.deliver(forged);
    CHECK_FALSE(r.tests.test5());
    CHECK(r.disposition == ReplyDisposition::Invalid);
    CHECK_FALSE(r.sample.has_value());

    // No MAC at all, a crypto-NAK, and another known key: test 5 fails too.
    Bytes plain(forged.begin(), forged.begin() + static_cast<std::ptrdiff_t>(mac_at));
    CHECK_FALSE(h.deliver(plain).tests.test5());
    Bytes nak = plain;
    nak.resize(nak.size() + 4, 0);
    CHECK_FALSE(h.deliver(nak).tests.test5());
    Bytes other = plain;
    other.resize(other.size() + kMaxMacLen);
    const std::uint32_t other_id = id == 2 ? 1 : 2;
    const std::size_t n = h.keys->sign(other_id, other, plain.size(), fp.header.version);
    other.resize(plain.size() + n);
    CHECK_FALSE(h.deliver(other).tests.test5());

    CHECK(h.src.stats().samples() == samples);
    CHECK(h.src.reach() == reach);
    CHECK(h.src.ntp_data().total_valid_rx == valid_rx);
    // The genuine reply still gets through afterwards.
    CHECK(h.deliver(h.answer(h.keys)).disposition == ReplyDisposition::Accepted);
  }
}

TEST_CASE("client: a source without a key rejects a reply that carries a MAC", "[keys][source]") {
  // chrony: the authentication mode of a reply must match the source's.
  const auto keys = test_keys();
  NtpHeader h;
  h.version = 4;
  h.mode = NtpMode::Server;
  Bytes b(kNtpHeaderLen + 24);
  encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(b.data(), kNtpHeaderLen));
  REQUIRE(keys->sign(2, b, kNtpHeaderLen, 4) == 24);
  ParsedPacket p;
  REQUIRE(parse_packet(b, p) == ParseError::None);
  CHECK_FALSE(check_reply_mac(p, b, std::nullopt, keys.get()));
  CHECK(check_reply_mac(p, b, 2u, keys.get()));
  CHECK_FALSE(check_reply_mac(p, b, 2u, nullptr));
}

// --- No amplification, with keys ------------------------------------------------------

TEST_CASE("no amplification: random and mutated requests, with and without MACs", "[keys][server][amplification]") {
  const auto keys = test_keys();
  SymmetricServerAuth auth(keys);
  std::mt19937_64 rng(20240607);
  std::vector<Bytes> seeds;
  seeds.push_back(request_bytes(4));
  seeds.push_back(request_bytes(1));
  for (std::uint32_t id = 1; id <= 6; ++id) {
    seeds.push_back(signed_request(*keys, id, 4));
    seeds.push_back(signed_request(*keys, id, 3));
  }
  Bytes with_ef = request_bytes();
  with_ef.resize(kNtpHeaderLen + 32, 0);
  with_ef[48] = 0x02;
  with_ef[51] = 32;
  seeds.push_back(with_ef);

  std::size_t answered = 0;
  std::size_t signed_answers = 0;
  constexpr int kRounds = 60000;
  for (int i = 0; i < kRounds; ++i) {
    Bytes req;
    const auto kind = rng() % 4;
    if (kind == 0) {
      // Random bytes of a random length (multiples of 4 favoured).
      std::size_t len = rng() % 200;
      if (rng() % 2) len &= ~std::size_t{3};
      req.resize(len);
      for (auto& b : req) b = static_cast<std::uint8_t>(rng());
      if (len > 0 && rng() % 2) req[0] = static_cast<std::uint8_t>((req[0] & 0xC0) | 0x23);
    } else {
      req = seeds[rng() % seeds.size()];
      const int flips = static_cast<int>(rng() % 4);
      for (int f = 0; f < flips && !req.empty(); ++f) {
        req[rng() % req.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      }
      if (kind == 3) {
        // Grow or shrink the tail.
        const std::size_t n = (rng() % 9) * 4;
        if (rng() % 2 && req.size() > n) {
          req.resize(req.size() - n);
        } else {
          for (std::size_t k = 0; k < n; ++k) req.push_back(static_cast<std::uint8_t>(rng()));
        }
      }
    }
    const ServerRun run = serve(req, (rng() % 8) ? &auth : nullptr);
    if (!run.reply.answered()) continue;
    ++answered;
    if (run.out.size() > kNtpHeaderLen) ++signed_answers;
    REQUIRE(run.out.size() <= req.size());
    REQUIRE(run.out.size() >= kNtpHeaderLen);
  }
  // The generator must exercise both plain and signed answers.
  CHECK(answered > kRounds / 10);
  CHECK(signed_answers > 100);
}
