// NTS extension fields in NTP packets (lib/nts_ntp.hpp), server and client.
// A genuine NTS request is built (client session with keys and cookies from
// the server's key ring), then the fuzz input either mutates it (pairs of
// offset and xor byte) or replaces it. The server must answer with a reply
// no longer than the request, or a NAK, or nothing; the client must accept
// only the genuine reply, once.
#include "fuzz/fuzz_support.hpp"
#include "lib/crypto/aes_siv.hpp"
#include "lib/nts_ntp.hpp"
#include "lib/server.hpp"

using namespace gnomon;
using namespace gnomon::fuzz;

namespace {

class CountingRng final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>((state_ = state_ * 6364136223846793005ull + 1442695040888963407ull) >> 56);
  }

 private:
  std::uint64_t state_ = 7;
};

struct World {
  AesSivCmac256 aead;
  CountingRng rng;
  std::shared_ptr<NtsKeyRing> ring = std::make_shared<NtsKeyRing>();
  NtsKeys keys;
  World() {
    (void)ring->rotate(TimePoint{1'700'000'000LL * kNsPerS}, rng);
    for (std::size_t i = 0; i < kAeadKeyLen; ++i) {
      keys.c2s[i] = static_cast<std::uint8_t>(i);
      keys.s2c[i] = static_cast<std::uint8_t>(0x80 + i);
    }
  }
};

World& world() {
  static World w;
  return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& w = world();
  if (!w.aead.available() || w.ring->empty()) return 0;
  Reader in(data, size);
  const std::uint8_t mode = in.u8();
  const std::size_t n_cookies = 1 + in.u8() % kNtsCookieJarSize;

  // The client's jar and its request.
  std::vector<std::vector<std::uint8_t>> cookies;
  for (std::size_t i = 0; i < n_cookies; ++i) {
    std::vector<std::uint8_t> c(kCookieLen);
    GNOMON_FUZZ_CHECK(seal_cookie(*w.ring, w.keys, w.aead, w.rng, std::span<std::uint8_t, kCookieLen>(c.data(), kCookieLen)));
    cookies.push_back(std::move(c));
  }
  NtsClientSession client;
  client.install(w.keys, cookies);
  std::vector<std::uint8_t> req(kMaxNtpPacketLen);
  NtpHeader h;
  h.version = 4;
  h.mode = NtpMode::Client;
  h.transmit_ts = NtpTimestamp{0xE9000000u, 0x12345678u};
  encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(req.data(), kNtpHeaderLen));
  const std::size_t req_len = client.sign_request(req, kNtpHeaderLen, w.aead, w.rng);
  GNOMON_FUZZ_CHECK(req_len > kNtpHeaderLen);
  req.resize(req_len);

  if (mode & 1) {
    const auto rest = in.rest();
    req.assign(rest.begin(), rest.end());  // raw: anything at all
  } else if (mode & 2) {
    while (true) {
      const auto rest = in.rest();
      if (rest.size() < 3) break;
      const std::size_t off = ((std::size_t{in.u8()} << 8) | in.u8()) % (req.size() + 8);
      const std::uint8_t x = in.u8();
      if (off < req.size()) req[off] ^= x;
      else if (x & 1) req.resize(req.size() - std::min<std::size_t>(req.size(), 4 * (x >> 5)));
    }
  }

  // Server.
  NtsServerAuth server(w.aead, w.rng);
  server.set_keys(w.ring);
  RequestContext ctx;
  ctx.request = req;
  ctx.rx_time = TimePoint{1'700'000'100LL * kNsPerS};
  ctx.client = *SocketAddress::parse("192.0.2.5:40000", 123);
  ctx.allowed = true;
  ctx.auth = &server;
  ServedState state;
  state.stratum = 2;
  state.leap = Leap::None;
  state.reference_time = ctx.rx_time;
  std::vector<std::uint8_t> out(kMaxNtpPacketLen);
  const ServerReply r = build_reply(ctx, state, ServerOptions{}, out);
  if (!r.answered()) return 0;
  std::size_t len = r.length;
  stamp_transmit(std::span<std::uint8_t>(out.data(), len), ctx.rx_time, 0, -20);
  if (r.needs_auth) len = server.finish_reply(out, len);
  if (len == 0) return 0;
  GNOMON_FUZZ_CHECK(len >= kNtpHeaderLen && len <= req.size());  // never amplifies
  out.resize(len);

  // Client: the reply to its request.
  ParsedPacket p;
  if (parse_packet(out, p) != ParseError::None) return 0;
  const ReplyAuth first = client.verify_reply(out, p, w.aead);
  if (first == ReplyAuth::Ok) {
    GNOMON_FUZZ_CHECK(client.verify_reply(out, p, w.aead) != ReplyAuth::Ok);  // at most once
  }
  return 0;
}
