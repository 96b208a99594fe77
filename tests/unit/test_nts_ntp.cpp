// lib/nts_ntp.hpp and lib/nts_cookie.hpp: NTS requests through the real
// server reply path (lib/server.hpp) and back into the client session;
// cookies, the jar, unique identifiers, NAKs, server key rotation, and the
// NTS rows of the bad-input checklist.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "lib/crypto/aes_siv.hpp"
#include "lib/nts_cookie.hpp"
#include "lib/nts_ntp.hpp"
#include "lib/packet.hpp"
#include "lib/server.hpp"

using namespace gnomon;

namespace {

using Bytes = std::vector<std::uint8_t>;

class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(std::uint32_t seed) : rng_(seed) {}
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(rng_());
  }

 private:
  std::mt19937 rng_;
};

const TimePoint kNow = TimePoint{1'700'000'000LL * kNsPerS};

ServedState synced_state() {
  ServedState s;
  s.stratum = 2;
  s.leap = Leap::None;
  s.refid = 0x7F000001;
  s.reference_time = kNow - Duration::seconds(10);
  s.precision = -20;
  return s;
}

struct Fixture {
  SeededRandom rng{1};
  AesSivCmac256 server_aead;
  AesSivCmac256 client_aead;
  std::shared_ptr<NtsKeyRing> ring = std::make_shared<NtsKeyRing>();
  NtsServerAuth server{server_aead, rng};
  NtsClientSession client;
  NtsKeys keys;

  Fixture() {
    REQUIRE(ring->rotate(kNow, rng));
    server.set_keys(ring);
    rng.fill(keys.c2s);
    rng.fill(keys.s2c);
    client.install(keys, make_cookies(8));
  }

  std::vector<Bytes> make_cookies(std::size_t n) {
    std::vector<Bytes> out;
    for (std::size_t i = 0; i < n; ++i) {
      std::array<std::uint8_t, kCookieLen> c{};
      REQUIRE(seal_cookie(*ring, keys, server_aead, rng, c));
      out.emplace_back(c.begin(), c.end());
    }
    return out;
  }

  // A client request with NTS fields.
  Bytes request() {
    std::array<std::uint8_t, kMaxNtpPacketLen> buf{};
    NtpHeader h;
    h.version = 4;
    h.mode = NtpMode::Client;
    h.transmit_ts = NtpTimestamp{0xDEADBEEF, 0x12345678};
    encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(buf.data(), kNtpHeaderLen));
    const std::size_t len = client.sign_request(buf, kNtpHeaderLen, client_aead, rng);
    REQUIRE(len > kNtpHeaderLen);
    return Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
  }

  struct Answer {
    ServerReply reply;
    Bytes bytes;
  };

  // The server's answer, through lib/server.hpp as the daemon drives it.
  Answer answer(const Bytes& req, ServerAuthenticator* auth) {
    RequestContext ctx;
    ctx.request = req;
    ctx.rx_time = kNow;
    ctx.client = SocketAddress{*IpAddress::parse("192.0.2.1"), 40000};
    ctx.allowed = true;
    ctx.auth = auth;
    std::array<std::uint8_t, kMaxNtpPacketLen> out{};
    Answer a;
    a.reply = build_reply(ctx, synced_state(), ServerOptions{}, out);
    if (!a.reply.answered()) return a;
    std::size_t len = a.reply.length;
    if (a.reply.needs_transmit_stamp) stamp_transmit(std::span<std::uint8_t>(out.data(), len), kNow, 0, -20);
    if (a.reply.needs_auth) len = auth->finish_reply(out, len);
    a.bytes.assign(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(len));
    return a;
  }

  ReplyAuth verify(const Bytes& reply) {
    ParsedPacket p;
    REQUIRE(parse_packet(reply, p) == ParseError::None);
    return client.verify_reply(reply, p, client_aead);
  }
};

struct Field {
  std::uint16_t type;
  std::size_t offset;  // of the head
  std::size_t length;  // whole field
};

std::vector<Field> fields_of(const Bytes& pkt) {
  ParsedPacket p;
  REQUIRE(parse_packet(pkt, p) == ParseError::None);
  std::vector<Field> out;
  for (const auto& ef : p.extension_fields()) {
    const auto off = static_cast<std::size_t>(ef.body.data() - pkt.data()) - 4;
    out.push_back({ef.type, off, ef.body.size() + 4});
  }
  return out;
}

Bytes field_body(const Bytes& pkt, const Field& f) {
  return Bytes(pkt.begin() + static_cast<std::ptrdiff_t>(f.offset + 4),
               pkt.begin() + static_cast<std::ptrdiff_t>(f.offset + f.length));
}

Bytes without_field(const Bytes& pkt, const Field& f) {
  Bytes out(pkt.begin(), pkt.begin() + static_cast<std::ptrdiff_t>(f.offset));
  out.insert(out.end(), pkt.begin() + static_cast<std::ptrdiff_t>(f.offset + f.length), pkt.end());
  return out;
}

Bytes insert_at(const Bytes& pkt, std::size_t offset, const Bytes& bytes) {
  Bytes out = pkt;
  out.insert(out.begin() + static_cast<std::ptrdiff_t>(offset), bytes.begin(), bytes.end());
  return out;
}

Bytes field_bytes(const Bytes& pkt, const Field& f) {
  return Bytes(pkt.begin() + static_cast<std::ptrdiff_t>(f.offset),
               pkt.begin() + static_cast<std::ptrdiff_t>(f.offset + f.length));
}

}  // namespace

TEST_CASE("a request carries UID, cookie, placeholders and a final authenticator") {
  Fixture f;
  // With a full jar, one cookie goes out and one is asked back: no placeholder.
  const Bytes first = f.request();
  auto fs = fields_of(first);
  REQUIRE(fs.size() == 3);
  CHECK(fs[0].type == kEfNtsUniqueIdentifier);
  CHECK(fs[1].type == kEfNtsCookie);
  CHECK(fs[2].type == kEfNtsAuthenticator);
  // With the last cookie, seven placeholders ask for a full jar.
  f.client.install(f.keys, f.make_cookies(1));
  const Bytes req = f.request();
  fs = fields_of(req);
  REQUIRE(fs.size() == 10);  // uid, cookie, 7 placeholders, authenticator
  CHECK(fs[0].type == kEfNtsUniqueIdentifier);
  CHECK(fs[0].length == 4 + 32);
  CHECK(fs[1].type == kEfNtsCookie);
  CHECK(fs[1].length == 4 + kCookieLen);
  for (std::size_t i = 2; i < 9; ++i) {
    CHECK(fs[i].type == kEfNtsCookiePlaceholder);
    CHECK(fs[i].length == 4 + kCookieLen);
  }
  CHECK(fs[9].type == kEfNtsAuthenticator);
  CHECK(fs[9].length == 40);
  CHECK(f.client.cookies() == 0);
}

TEST_CASE("the server answers with the UID echoed, new cookies, and exactly the request's length") {
  Fixture f;
  const Bytes req = f.request();
  auto a = f.answer(req, &f.server);
  REQUIRE(a.reply.answered());
  CHECK(f.server.last_result() == NtsServerResult::Ok);
  CHECK(a.bytes.size() == req.size());
  const auto fs = fields_of(a.bytes);
  REQUIRE(fs.size() == 2);
  CHECK(fs[0].type == kEfNtsUniqueIdentifier);
  CHECK(field_body(a.bytes, fs[0]) == field_body(req, fields_of(req)[0]));
  CHECK(fs[1].type == kEfNtsAuthenticator);
  // No cookie travels in the clear.
  const Bytes cookie = field_body(req, fields_of(req)[1]);
  CHECK(std::search(a.bytes.begin(), a.bytes.end(), cookie.begin(), cookie.end()) == a.bytes.end());

  CHECK(f.verify(a.bytes) == ReplyAuth::Ok);
  CHECK(f.client.cookies() == 8);  // the jar is full again
  // A second copy of the reply does not verify again.
  CHECK(f.verify(a.bytes) == ReplyAuth::Fail);
}

TEST_CASE("many exchanges keep the jar full; cookies are never reused") {
  Fixture f;
  std::vector<Bytes> seen;
  for (int i = 0; i < 30; ++i) {
    const Bytes req = f.request();
    const Bytes cookie = field_body(req, fields_of(req)[1]);
    CHECK(std::find(seen.begin(), seen.end(), cookie) == seen.end());
    seen.push_back(cookie);
    auto a = f.answer(req, &f.server);
    REQUIRE(a.reply.answered());
    REQUIRE(f.verify(a.bytes) == ReplyAuth::Ok);
    CHECK(f.client.cookies() == 8);
  }
}

TEST_CASE("lost replies: the request asks for more cookies to refill the jar") {
  Fixture f;
  (void)f.request();
  (void)f.request();
  const Bytes req = f.request();  // 5 left after this one: asks for 3 (cookie + 2 placeholders)
  CHECK(f.client.cookies() == 5);
  auto fs = fields_of(req);
  std::size_t placeholders = 0;
  for (const auto& x : fs) placeholders += x.type == kEfNtsCookiePlaceholder ? 1 : 0;
  CHECK(placeholders == 2);
  auto a = f.answer(req, &f.server);
  REQUIRE(f.verify(a.bytes) == ReplyAuth::Ok);
  CHECK(f.client.cookies() == 8);
}

TEST_CASE("the client checks the unique identifier and the authenticator") {
  Fixture f;
  const Bytes req = f.request();
  auto a = f.answer(req, &f.server);
  REQUIRE(a.reply.answered());
  const auto fs = fields_of(a.bytes);
  SECTION("wrong UID") {
    Bytes bad = a.bytes;
    bad[fs[0].offset + 10] ^= 1;
    CHECK(f.verify(bad) == ReplyAuth::Fail);
    CHECK(f.verify(a.bytes) == ReplyAuth::Ok);  // the real one still does
  }
  SECTION("a changed header byte (the transmit timestamp)") {
    Bytes bad = a.bytes;
    bad[45] ^= 1;
    CHECK(f.verify(bad) == ReplyAuth::Fail);
  }
  SECTION("a changed ciphertext byte") {
    Bytes bad = a.bytes;
    bad[fs[1].offset + 30] ^= 1;
    CHECK(f.verify(bad) == ReplyAuth::Fail);
  }
  SECTION("no authenticator") {
    CHECK(f.verify(without_field(a.bytes, fs[1])) == ReplyAuth::Fail);
  }
  SECTION("a reply to an older request") {
    (void)f.request();
    CHECK(f.verify(a.bytes) == ReplyAuth::Fail);
  }
}

TEST_CASE("a NAK with our UID clears the session; one with another UID is ignored") {
  Fixture f;
  f.ring->rotate(kNow + Duration::seconds(kServerKeyRotationS), f.rng);
  f.ring->rotate(kNow + Duration::seconds(2 * kServerKeyRotationS), f.rng);
  f.ring->rotate(kNow + Duration::seconds(3 * kServerKeyRotationS), f.rng);  // first key gone
  const Bytes req = f.request();
  auto a = f.answer(req, &f.server);
  REQUIRE(a.reply.answered());
  CHECK(f.server.last_result() == NtsServerResult::Nak);
  // KoD NTSN: stratum 0, refid "NTSN", the UID and nothing else.
  ParsedPacket p;
  REQUIRE(parse_packet(a.bytes, p) == ParseError::None);
  CHECK(p.header.stratum == 0);
  CHECK(p.header.reference_id == kKodNtsNak);
  CHECK(p.header.leap == Leap::Unsynchronised);
  const auto fs = fields_of(a.bytes);
  REQUIRE(fs.size() == 1);
  CHECK(field_body(a.bytes, fs[0]) == field_body(req, fields_of(req)[0]));
  CHECK(a.bytes.size() <= req.size());

  Bytes other = a.bytes;
  other[fs[0].offset + 4] ^= 1;
  CHECK(f.verify(other) == ReplyAuth::Fail);
  CHECK(f.client.has_keys());
  CHECK(f.verify(a.bytes) == ReplyAuth::Nak);
  CHECK_FALSE(f.client.has_keys());
  CHECK(f.client.cookies() == 0);
}

TEST_CASE("bad-inputs: NTS requests the server NAKs or drops, never answers in the clear") {
  Fixture f;
  f.client.install(f.keys, f.make_cookies(1));  // a request with placeholders
  const Bytes req = f.request();
  const auto fs = fields_of(req);
  const Field& uid = fs[0];
  const Field& cookie = fs[1];
  const Field& auth = fs.back();

  auto expect = [&](const Bytes& bad, NtsServerResult want) {
    auto a = f.answer(bad, &f.server);
    CHECK(f.server.last_result() == want);
    if (want == NtsServerResult::Nak) {
      REQUIRE(a.reply.answered());
      CHECK(a.bytes.size() <= bad.size());
      const auto rf = fields_of(a.bytes);
      REQUIRE(rf.size() == 1);
      CHECK(field_body(a.bytes, rf[0]) == field_body(bad, fields_of(bad)[0]));
    } else {
      CHECK_FALSE(a.reply.answered());
      CHECK(a.reply.reason == DropReason::AuthFailed);
    }
  };

  SECTION("a bad cookie (one flipped bit) is NAKed") {
    Bytes bad = req;
    bad[cookie.offset + 40] ^= 1;
    expect(bad, NtsServerResult::Nak);
  }
  SECTION("a cookie with an unknown key id is NAKed") {
    Bytes bad = req;
    bad[cookie.offset + 4] ^= 0xFF;
    expect(bad, NtsServerResult::Nak);
  }
  SECTION("a short cookie (with matching placeholders) is NAKed") {
    // Rebuild the request with every cookie-sized field 4 bytes shorter.
    Bytes bad(req.begin(), req.begin() + static_cast<std::ptrdiff_t>(cookie.offset));
    for (std::size_t i = 1; i + 1 < fs.size(); ++i) {
      Bytes fld = field_bytes(req, fs[i]);
      fld.resize(fld.size() - 4);
      fld[3] = static_cast<std::uint8_t>(fld.size());
      bad.insert(bad.end(), fld.begin(), fld.end());
    }
    const Bytes a = field_bytes(req, auth);
    bad.insert(bad.end(), a.begin(), a.end());
    expect(bad, NtsServerResult::Nak);
  }
  SECTION("a failed tag is NAKed") {
    Bytes bad = req;
    bad[auth.offset + 4 + 4 + 16 + 3] ^= 1;
    expect(bad, NtsServerResult::Nak);
  }
  SECTION("a changed header byte fails the tag and is NAKed") {
    Bytes bad = req;
    bad[2] ^= 1;
    expect(bad, NtsServerResult::Nak);
  }
  SECTION("two cookies are dropped") {
    f.client.install(f.keys, f.make_cookies(8));  // a short request, so that two fit
    const Bytes small = f.request();
    const Field c = fields_of(small)[1];
    expect(insert_at(small, c.offset, field_bytes(small, c)), NtsServerResult::Malformed);
  }
  SECTION("a placeholder whose length differs from the cookie's is dropped") {
    Bytes ph = field_bytes(req, fs[2]);
    ph.resize(ph.size() + 4);
    ph[3] = static_cast<std::uint8_t>(ph.size());
    expect(insert_at(without_field(req, fs[2]), fs[2].offset, ph), NtsServerResult::Malformed);
  }
  SECTION("an authenticator that is not last is dropped") {
    Bytes extra(28, 0);  // long enough not to be taken for a MAC
    extra[0] = 0x12;
    extra[1] = 0x34;
    extra[3] = 28;
    Bytes bad = req;
    bad.insert(bad.end(), extra.begin(), extra.end());
    expect(bad, NtsServerResult::Malformed);
  }
  SECTION("no UID, no cookie or no authenticator: dropped") {
    expect(without_field(req, uid), NtsServerResult::Malformed);
    expect(without_field(req, cookie), NtsServerResult::Malformed);
    expect(without_field(req, auth), NtsServerResult::Malformed);
  }
  SECTION("a UID shorter than 32 bytes is dropped") {
    Bytes u = field_bytes(req, uid);
    u.resize(4 + 28);
    u[3] = static_cast<std::uint8_t>(u.size());
    expect(insert_at(without_field(req, uid), uid.offset, u), NtsServerResult::Malformed);
  }
  SECTION("a server-mode packet with NTS fields is dropped") {
    Bytes bad = req;
    bad[0] = static_cast<std::uint8_t>((bad[0] & ~7u) | 4u);
    auto a = f.answer(bad, &f.server);
    CHECK_FALSE(a.reply.answered());
  }
}

TEST_CASE("bad-inputs: an NTS request while NTS is off is dropped without a crash") {
  Fixture f;
  const Bytes req = f.request();
  auto a = f.answer(req, nullptr);
  CHECK_FALSE(a.reply.answered());
  CHECK(a.reply.reason == DropReason::AuthFailed);
  // An NTS server with no keys yet drops too.
  NtsServerAuth keyless(f.server_aead, f.rng);
  a = f.answer(req, &keyless);
  CHECK_FALSE(a.reply.answered());
  CHECK(keyless.last_result() == NtsServerResult::NoKeys);
}

TEST_CASE("a request stripped of its placeholders fails its tag: a NAK no longer than it") {
  Fixture f;
  f.client.install(f.keys, f.make_cookies(1));
  const Bytes req = f.request();
  const auto fs = fields_of(req);
  Bytes small(req.begin(), req.begin() + static_cast<std::ptrdiff_t>(fs[2].offset));
  const Bytes a = field_bytes(req, fs.back());
  small.insert(small.end(), a.begin(), a.end());
  auto ans = f.answer(small, &f.server);
  REQUIRE(ans.reply.answered());
  CHECK(f.server.last_result() == NtsServerResult::Nak);
  CHECK(ans.bytes.size() <= small.size());
}

TEST_CASE("random mutations of NTS requests: no crash and never a longer reply") {
  Fixture f;
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    if (f.client.cookies() == 0) f.client.install(f.keys, f.make_cookies(i % 2 == 0 ? 8 : 1));
    Bytes req = f.request();
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const std::size_t pos = 48 + rng() % (req.size() - 48);
      req[pos] = static_cast<std::uint8_t>(rng());
    }
    auto a = f.answer(req, &f.server);
    if (a.reply.answered()) {
      CHECK(a.bytes.size() <= req.size());
      CHECK((f.server.last_result() == NtsServerResult::Ok || f.server.last_result() == NtsServerResult::Nak));
    }
  }
}

TEST_CASE("server keys rotate daily, keep three, and survive a text round trip") {
  SeededRandom rng(3);
  NtsKeyRing ring;
  CHECK_FALSE(ring.next_rotation());
  CHECK(ring.rotate(kNow, rng));
  CHECK_FALSE(ring.rotate(kNow + Duration::seconds(3600), rng));
  REQUIRE(ring.next_rotation());
  CHECK(*ring.next_rotation() == kNow + Duration::seconds(kServerKeyRotationS));
  const std::uint32_t first = ring.current()->id;
  CHECK(ring.rotate(kNow + Duration::seconds(kServerKeyRotationS), rng));
  CHECK(ring.current()->id != first);
  CHECK(ring.find(first) != nullptr);
  CHECK(ring.rotate(kNow + Duration::seconds(2 * kServerKeyRotationS), rng));
  CHECK(ring.rotate(kNow + Duration::seconds(3 * kServerKeyRotationS), rng));
  CHECK(ring.size() == 3);
  CHECK(ring.find(first) == nullptr);  // erased

  const std::string text = ring.to_text();
  auto back = NtsKeyRing::from_text(text);
  REQUIRE(back);
  CHECK(back->to_text() == text);
  CHECK(back->current()->id == ring.current()->id);

  // A clock that went back far: a fresh key rather than trusting the future one.
  NtsKeyRing r2 = *back;
  CHECK(r2.rotate(kNow, rng));

  for (const std::string& bad : std::vector<std::string>{"", "gnomon-nts-server-keys 1\n", "nonsense\n",
                                "gnomon-nts-server-keys 1\n0102 5 00\n",
                                "gnomon-nts-server-keys 1\n01020304 x " + std::string(64, 'a') + "\n",
                                "gnomon-nts-server-keys 1\n01020304 5 " + std::string(64, 'g') + "\n",
                                "gnomon-nts-server-keys 1\n01020304 5 " + std::string(64, 'a')}) {
    INFO(bad);
    CHECK_FALSE(NtsKeyRing::from_text(bad));
  }
}

TEST_CASE("cookies open with their key and with nothing else") {
  SeededRandom rng(4);
  AesSivCmac256 aead;
  NtsKeyRing ring;
  ring.rotate(kNow, rng);
  NtsKeys keys;
  rng.fill(keys.c2s);
  rng.fill(keys.s2c);
  std::array<std::uint8_t, kCookieLen> c{};
  REQUIRE(seal_cookie(ring, keys, aead, rng, c));
  auto back = open_cookie(ring, aead, c);
  REQUIRE(back);
  CHECK(back->c2s == keys.c2s);
  CHECK(back->s2c == keys.s2c);
  // Still valid after one rotation.
  ring.rotate(kNow + Duration::seconds(kServerKeyRotationS), rng);
  CHECK(open_cookie(ring, aead, c));
  CHECK_FALSE(open_cookie(ring, aead, std::span<const std::uint8_t>(c.data(), c.size() - 4)));
  NtsKeyRing other;
  other.rotate(kNow, rng);
  CHECK_FALSE(open_cookie(other, aead, c));
}
