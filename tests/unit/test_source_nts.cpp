// An NTS source end to end in the core: lib/source.hpp with an authenticator
// built on NtsClientSession, against NtsServerAuth through lib/server.hpp.
// Checks that an NTS source never sends or accepts plain NTP, follows the
// NTP address NTS-KE negotiated, accepts authentic replies only, and stops
// sending after a NAK until new keys come.
#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "lib/crypto/aes_siv.hpp"
#include "lib/nts_cookie.hpp"
#include "lib/nts_ntp.hpp"
#include "lib/server.hpp"
#include "lib/source.hpp"
#include "tests/unit/seeded_rng.hpp"

using namespace gnomon;

namespace {

using TestRng = test::SeededRng;

// The daemon's NtsClientAuth without the key exchange: keys are handed in.
class TestNtsAuth final : public ClientAuthenticator {
 public:
  std::optional<SocketAddress> address;
  NtsClientSession session;
  AesSivCmac256 aead;
  TestRng rng{7};
  int sign_calls = 0;

  [[nodiscard]] std::optional<SocketAddress> ntp_address() const override { return address; }
  [[nodiscard]] std::size_t sign_request(std::span<std::uint8_t> buf, std::size_t length, TimePoint) override {
    ++sign_calls;
    return session.sign_request(buf, length, aead, rng);
  }
  [[nodiscard]] ReplyAuth verify_reply(std::span<const std::uint8_t> bytes, const ParsedPacket& parsed) override {
    return session.verify_reply(bytes, parsed, aead);
  }
};

const TimePoint kStart = TimePoint{1'710'504'000LL * kNsPerS};

struct World {
  SocketAddress configured = *SocketAddress::parse("192.0.2.1:123", 123);
  SocketAddress negotiated = *SocketAddress::parse("192.0.2.7:11123", 123);
  TestRng rng{1};
  AesSivCmac256 server_aead;
  std::shared_ptr<NtsKeyRing> ring = std::make_shared<NtsKeyRing>();
  NtsServerAuth server{server_aead, rng};
  NtsKeys keys;
  std::shared_ptr<TestNtsAuth> auth = std::make_shared<TestNtsAuth>();
  Source src;
  TimePoint now = kStart;
  std::optional<OutgoingRequest> last;
  TimePoint last_tx{};

  explicit World(bool with_auth = true) : src(configured, options()) {
    ring->rotate(kStart, rng);
    server.set_keys(ring);
    rng.fill(keys.c2s);
    rng.fill(keys.s2c);
    if (with_auth) src.set_authenticator(auth);
    src.start(now);
  }

  static SourceOptions options() {
    SourceOptions o;
    o.minpoll = 4;
    o.maxpoll = 4;
    o.nts = true;
    return o;
  }

  void key_exchange() {
    std::vector<std::vector<std::uint8_t>> cookies;
    for (int i = 0; i < 8; ++i) {
      std::array<std::uint8_t, kCookieLen> c{};
      REQUIRE(seal_cookie(*ring, keys, server_aead, rng, c));
      cookies.emplace_back(c.begin(), c.end());
    }
    auth->session.install(keys, cookies);
    auth->address = negotiated;
  }

  std::optional<OutgoingRequest> fire() {
    REQUIRE(src.next_timer());
    now = *src.next_timer();
    TimerAction a = src.handle_timer(now, rng);
    if (a.request) {
      last = a.request;
      last_tx = now;
    }
    return a.request;
  }

  // The server's answer to the last request.
  std::vector<std::uint8_t> answer(bool with_auth = true) {
    REQUIRE(last);
    RequestContext ctx;
    ctx.request = last->data();
    ctx.rx_time = last_tx + Duration::from_ms(1);
    ctx.client = *SocketAddress::parse("198.51.100.1:40000", 123);
    ctx.allowed = true;
    ctx.auth = with_auth ? &server : nullptr;
    ServedState s;
    s.stratum = 1;
    s.leap = Leap::None;
    s.refid = 0x47505300;
    s.reference_time = last_tx;
    s.precision = -20;
    std::array<std::uint8_t, kMaxNtpPacketLen> out{};
    if (!with_auth) ctx.request = last->data().first(kNtpHeaderLen);  // a server that ignores NTS
    ServerReply r = build_reply(ctx, s, ServerOptions{}, out);
    REQUIRE(r.answered());
    stamp_transmit(std::span<std::uint8_t>(out.data(), r.length), last_tx + Duration::from_ms(1), 0, -20);
    std::size_t len = r.length;
    if (r.needs_auth) len = server.finish_reply(out, len);
    return {out.begin(), out.begin() + static_cast<std::ptrdiff_t>(len)};
  }

  ReplyResult deliver(const std::vector<std::uint8_t>& bytes, std::optional<SocketAddress> from = {}) {
    ReplyContext ctx;
    ctx.tx_time = last_tx;
    ctx.rx_time = last_tx + Duration::from_ms(2);
    ctx.from = from ? *from : negotiated;
    now = ctx.rx_time;
    return src.handle_reply(bytes, ctx);
  }
};

}  // namespace

TEST_CASE("an NTS source without an authenticator never sends plain NTP") {
  World w(false);
  for (int i = 0; i < 10; ++i) CHECK_FALSE(w.fire());
  CHECK(w.src.reach() == 0);
}

TEST_CASE("no cookies yet: nothing is sent; after NTS-KE, authenticated requests go to the negotiated address") {
  World w;
  CHECK_FALSE(w.fire());
  CHECK_FALSE(w.fire());
  CHECK(w.auth->sign_calls == 2);  // asked each time (the daemon starts NTS-KE then)
  w.key_exchange();
  auto req = w.fire();
  REQUIRE(req);
  CHECK(req->to == w.negotiated);
  CHECK(w.src.remote() == w.negotiated);
  CHECK(req->length > kNtpHeaderLen);
  ParsedPacket p;
  REQUIRE(parse_packet(req->data(), p) == ParseError::None);
  CHECK(carries_nts(p));

  const ReplyResult r = w.deliver(w.answer());
  CHECK(r.disposition == ReplyDisposition::Accepted);
  CHECK(r.tests.test5());
  CHECK(w.src.ntp_data().authenticated);
  CHECK(w.auth->session.cookies() == 8);
}

TEST_CASE("replies that are not authentic are not used") {
  World w;
  w.key_exchange();
  SECTION("a plain reply from a server that ignores NTS") {
    REQUIRE(w.fire());
    const ReplyResult r = w.deliver(w.answer(false));
    CHECK_FALSE(r.tests.test5());
    CHECK(r.disposition == ReplyDisposition::Invalid);
    CHECK_FALSE(r.sample);
  }
  SECTION("a reply with a changed transmit timestamp") {
    REQUIRE(w.fire());
    auto bytes = w.answer();
    bytes[47] ^= 1;
    const ReplyResult r = w.deliver(bytes);
    CHECK_FALSE(r.tests.test5());
    CHECK_FALSE(r.sample);
  }
  SECTION("a reply from the configured address instead of the negotiated one") {
    REQUIRE(w.fire());
    const ReplyResult r = w.deliver(w.answer(), w.configured);
    CHECK(r.disposition == ReplyDisposition::Ignored);
  }
}

TEST_CASE("a NAK stops the requests until a new key exchange") {
  World w;
  w.key_exchange();
  REQUIRE(w.fire());
  CHECK(w.deliver(w.answer()).disposition == ReplyDisposition::Accepted);
  // The server forgets its keys: the next request's cookie is NAKed.
  auto fresh = std::make_shared<NtsKeyRing>();
  fresh->rotate(w.now, w.rng);
  w.server.set_keys(fresh);
  REQUIRE(w.fire());
  const ReplyResult r = w.deliver(w.answer());
  CHECK_FALSE(r.tests.test5());
  CHECK(w.server.last_result() == NtsServerResult::Nak);
  CHECK_FALSE(w.auth->session.has_keys());
  CHECK_FALSE(w.fire());  // no cookies: no request
  w.ring = fresh;
  w.key_exchange();
  REQUIRE(w.fire());
  CHECK(w.deliver(w.answer()).disposition == ReplyDisposition::Accepted);
}
