// Server hot path: parse a request, build the reply, stamp the transmit time.
// Target: <= 100 ns per reply on the project machine.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>

#include "lib/local_reference.hpp"
#include "lib/packet.hpp"
#include "lib/server.hpp"

namespace {

using namespace gnomon;

constexpr TimePoint kStart{1'700'000'000LL * kNsPerS};

std::array<std::uint8_t, kNtpHeaderLen> make_request() {
  NtpHeader h;
  h.leap = Leap::Unsynchronised;
  h.version = 4;
  h.mode = NtpMode::Client;
  h.poll = 6;
  h.precision = -20;
  h.transmit_ts = NtpTimestamp{0xE8E8E8E8u, 0x12345678u};
  std::array<std::uint8_t, kNtpHeaderLen> b{};
  encode_header(h, b);
  return b;
}

ServedState synced_state() {
  ServedState s;
  s.leap = Leap::None;
  s.stratum = 2;
  s.refid = 0xC0000201u;
  s.reference_time = kStart;
  s.root_delay_s = 0.010;
  s.root_dispersion_s = 0.020;
  s.dispersion_rate = 1e-5;
  s.precision = -20;
  return s;
}

void BM_ParseRequest(benchmark::State& st) {
  const auto req = make_request();
  ParsedPacket parsed;
  for (auto _ : st) {
    benchmark::DoNotOptimize(req.data());
    const ParseError e = parse_packet(req, parsed);
    benchmark::DoNotOptimize(e);
    benchmark::DoNotOptimize(parsed);
  }
}
BENCHMARK(BM_ParseRequest);

// Parse + build + stamp, as the daemon does per request.
void BM_ServerReply(benchmark::State& st) {
  const auto req = make_request();
  const ServedState state = synced_state();
  const ServerOptions options;
  std::array<std::uint8_t, kNtpHeaderLen> out{};
  RequestContext ctx;
  ctx.request = req;
  ctx.client.ip = IpAddress::v4(0x7F000001u);
  ctx.client.port = 40000;
  ctx.allowed = true;
  TimePoint now = kStart + Duration::seconds(100);
  std::uint32_t random = 0x9E3779B9u;
  for (auto _ : st) {
    benchmark::DoNotOptimize(req.data());
    now += Duration{1000};
    random = random * 1664525u + 1013904223u;
    ctx.rx_time = now;
    ctx.rx_fuzz = random;
    const ServerReply r = build_reply(ctx, state, options, out);
    stamp_transmit(std::span<std::uint8_t>(out.data(), r.length), now + Duration{5000}, random >> 7,
                   state.precision);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ServerReply);

// The same, serving the local reference computed per packet.
void BM_ServerReplyLocalReference(benchmark::State& st) {
  const auto req = make_request();
  const ServerOptions options;
  std::array<std::uint8_t, kNtpHeaderLen> out{};
  RequestContext ctx;
  ctx.request = req;
  ctx.client.port = 40000;
  ctx.allowed = true;
  TimePoint now = kStart;
  for (auto _ : st) {
    benchmark::DoNotOptimize(req.data());
    now += Duration{1000};
    ctx.rx_time = now;
    const ServedState state = local_reference_state(10, now, -20, 12345);
    const ServerReply r = build_reply(ctx, state, options, out);
    stamp_transmit(std::span<std::uint8_t>(out.data(), r.length), now, 0, -20);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ServerReplyLocalReference);

}  // namespace
