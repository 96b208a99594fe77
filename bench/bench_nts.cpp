// NTS server cost per request (lib/nts_ntp.hpp with OpenSSL's AES-SIV): a
// steady-state client request (one cookie, no placeholder) through the whole
// reply path, and the AEAD operations it is made of.
#include <benchmark/benchmark.h>

#include <array>
#include <memory>
#include <random>
#include <vector>

#include "lib/crypto/aes_siv.hpp"
#include "lib/nts_cookie.hpp"
#include "lib/nts_ntp.hpp"
#include "lib/server.hpp"

using namespace gnomon;

namespace {

class FastRandom final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(rng_());
  }

 private:
  std::mt19937 rng_{42};
};

const TimePoint kNow = TimePoint{1'700'000'000LL * kNsPerS};

struct NtsSetup {
  FastRandom rng;
  AesSivCmac256 aead;
  std::shared_ptr<NtsKeyRing> ring = std::make_shared<NtsKeyRing>();
  NtsKeys keys;
  std::vector<std::uint8_t> request;

  NtsSetup() {
    ring->rotate(kNow, rng);
    rng.fill(keys.c2s);
    rng.fill(keys.s2c);
    std::vector<std::vector<std::uint8_t>> cookies;
    for (int i = 0; i < 8; ++i) {
      std::array<std::uint8_t, kCookieLen> c{};
      (void)seal_cookie(*ring, keys, aead, rng, c);
      cookies.emplace_back(c.begin(), c.end());
    }
    NtsClientSession client;
    client.install(keys, cookies);
    std::array<std::uint8_t, kMaxNtpPacketLen> buf{};
    NtpHeader h;
    h.mode = NtpMode::Client;
    h.transmit_ts = NtpTimestamp{1, 2};
    encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(buf.data(), kNtpHeaderLen));
    const std::size_t len = client.sign_request(buf, kNtpHeaderLen, aead, rng);
    request.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
  }
};

void BM_NtsServerReply(benchmark::State& state) {
  NtsSetup s;
  NtsServerAuth auth(s.aead, s.rng);
  auth.set_keys(s.ring);
  ServedState served;
  served.stratum = 2;
  served.leap = Leap::None;
  served.reference_time = kNow;
  RequestContext ctx;
  ctx.request = s.request;
  ctx.rx_time = kNow;
  ctx.client = SocketAddress{*IpAddress::parse("192.0.2.1"), 40000};
  ctx.allowed = true;
  ctx.auth = &auth;
  std::array<std::uint8_t, kMaxNtpPacketLen> out{};
  for (auto _ : state) {
    ServerReply r = build_reply(ctx, served, ServerOptions{}, out);
    stamp_transmit(std::span<std::uint8_t>(out.data(), r.length), kNow, 7, -20);
    const std::size_t len = auth.finish_reply(out, r.length);
    benchmark::DoNotOptimize(len);
    if (len != s.request.size()) state.SkipWithError("reply not authenticated");
  }
}
BENCHMARK(BM_NtsServerReply);

// Requests from many clients: every request brings keys the AES-SIV key
// cache has not seen recently.
void BM_NtsServerReplyManyClients(benchmark::State& state) {
  std::vector<NtsSetup> clients(16);
  FastRandom rng;
  AesSivCmac256 aead;
  NtsServerAuth auth(aead, rng);
  for (auto& c : clients) c.ring = clients[0].ring;
  // Re-sign every client's request under the shared server key.
  for (auto& c : clients) {
    std::vector<std::vector<std::uint8_t>> cookies;
    for (int i = 0; i < 8; ++i) {
      std::array<std::uint8_t, kCookieLen> ck{};
      (void)seal_cookie(*c.ring, c.keys, aead, rng, ck);
      cookies.emplace_back(ck.begin(), ck.end());
    }
    NtsClientSession client;
    client.install(c.keys, cookies);
    std::array<std::uint8_t, kMaxNtpPacketLen> buf{};
    NtpHeader h;
    h.mode = NtpMode::Client;
    h.transmit_ts = NtpTimestamp{1, 2};
    encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(buf.data(), kNtpHeaderLen));
    const std::size_t len = client.sign_request(buf, kNtpHeaderLen, aead, rng);
    c.request.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(len));
  }
  auth.set_keys(clients[0].ring);
  ServedState served;
  served.stratum = 2;
  served.leap = Leap::None;
  served.reference_time = kNow;
  std::array<std::uint8_t, kMaxNtpPacketLen> out{};
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& req = clients[i++ % clients.size()].request;
    RequestContext ctx;
    ctx.request = req;
    ctx.rx_time = kNow;
    ctx.client = SocketAddress{*IpAddress::parse("192.0.2.1"), 40000};
    ctx.allowed = true;
    ctx.auth = &auth;
    ServerReply r = build_reply(ctx, served, ServerOptions{}, out);
    const std::size_t len = auth.finish_reply(out, r.length);
    benchmark::DoNotOptimize(len);
    if (len != req.size()) state.SkipWithError("reply not authenticated");
  }
}
BENCHMARK(BM_NtsServerReplyManyClients);

void BM_AesSivSeal(benchmark::State& state) {
  NtsSetup s;
  std::vector<std::uint8_t> plain(static_cast<std::size_t>(state.range(0)), 0x5A);
  std::vector<std::uint8_t> out(plain.size() + kAeadTagLen);
  std::array<std::uint8_t, 16> nonce{};
  std::array<std::uint8_t, 132> ad{};
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.aead.seal(s.keys.c2s, nonce, ad, plain, out));
  }
}
BENCHMARK(BM_AesSivSeal)->Arg(0)->Arg(64)->Arg(104);

void BM_AesSivOpen(benchmark::State& state) {
  NtsSetup s;
  std::vector<std::uint8_t> plain(static_cast<std::size_t>(state.range(0)), 0x5A);
  std::vector<std::uint8_t> sealed(plain.size() + kAeadTagLen);
  std::array<std::uint8_t, 16> nonce{};
  std::array<std::uint8_t, 132> ad{};
  (void)s.aead.seal(s.keys.c2s, nonce, ad, plain, sealed);
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.aead.open(s.keys.c2s, nonce, ad, sealed, plain));
  }
}
BENCHMARK(BM_AesSivOpen)->Arg(0)->Arg(64);

}  // namespace
