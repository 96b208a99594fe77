// Client-side cost of one sample: a reply through the packet tests and the
// statistics (regression + Kalman bank), with a full 64-sample history.
#include <benchmark/benchmark.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <random>

#include "lib/packet.hpp"
#include "lib/source.hpp"
#include "lib/source_stats.hpp"

using namespace gnomon;

namespace {

class BenchRng : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(engine_() >> 56);
  }

 private:
  std::mt19937_64 engine_{1};
};

// A fake server 1 ms away with 10 us of jitter in each direction.
struct Exchange {
  SocketAddress server = *SocketAddress::parse("192.0.2.1:123", 123);
  Source src;
  BenchRng rng;
  std::mt19937_64 gen{7};
  std::exponential_distribution<double> jitter{1.0 / 10e-6};
  TimePoint now{1710504000LL * kNsPerS};
  std::array<std::uint8_t, kNtpHeaderLen> reply{};
  ReplyContext ctx;

  explicit Exchange(const SourceOptions& o) : src(server, o) { src.start(now); }

  // Sends the next request and prepares the server's reply to it.
  void prepare() {
    now = *src.next_timer();
    const TimerAction a = src.handle_timer(now, rng);
    const NtpHeader req =
        decode_header(std::span<const std::uint8_t, kNtpHeaderLen>(a.request->bytes.data(), kNtpHeaderLen));
    const double up = 0.0005 + jitter(gen);
    const double down = 0.0005 + jitter(gen);
    NtpHeader h;
    h.leap = Leap::None;
    h.version = 4;
    h.mode = NtpMode::Server;
    h.stratum = 2;
    h.precision = -20;
    h.root_delay = NtpShort::from_seconds(0.001);
    h.root_dispersion = NtpShort::from_seconds(0.001);
    h.reference_id = 0x0A000001u;
    h.reference_ts = NtpTimestamp::from_time(now - Duration::seconds(10));
    h.origin_ts = req.transmit_ts;
    h.receive_ts = NtpTimestamp::from_time(now + Duration::from_seconds(up));
    h.transmit_ts = NtpTimestamp::from_time(now + Duration::from_seconds(up + 1e-5));
    encode_header(h, reply);
    ctx.tx_time = now;
    ctx.rx_time = now + Duration::from_seconds(up + 1e-5 + down);
    ctx.from = server;
  }
};

SourceOptions bench_options() {
  SourceOptions o;
  o.minpoll = 4;
  o.maxpoll = 4;
  return o;
}

void BM_SourceReplyAccepted(benchmark::State& state) {
  Exchange ex(bench_options());
  for (int i = 0; i < 100; ++i) {  // fill the history
    ex.prepare();
    static_cast<void>(ex.src.handle_reply(ex.reply, ex.ctx));
  }
  std::int64_t accepted = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ex.prepare();
    state.ResumeTiming();
    const ReplyResult r = ex.src.handle_reply(ex.reply, ex.ctx);
    accepted += r.disposition == ReplyDisposition::Accepted ? 1 : 0;
    benchmark::DoNotOptimize(r);
  }
  state.counters["accepted"] = static_cast<double>(accepted);
}
BENCHMARK(BM_SourceReplyAccepted);

// The whole client cycle per sample: timer, request, reply, tests, stats.
void BM_SourceExchange(benchmark::State& state) {
  Exchange ex(bench_options());
  for (int i = 0; i < 100; ++i) {
    ex.prepare();
    static_cast<void>(ex.src.handle_reply(ex.reply, ex.ctx));
  }
  for (auto _ : state) {
    ex.prepare();
    const ReplyResult r = ex.src.handle_reply(ex.reply, ex.ctx);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SourceExchange);

// A reply that fails test 2 (spoofed origin): the cheap path.
void BM_SourceReplyBogus(benchmark::State& state) {
  Exchange ex(bench_options());
  ex.prepare();
  ex.reply[24] ^= 0xFF;  // origin timestamp
  for (auto _ : state) {
    const ReplyResult r = ex.src.handle_reply(ex.reply, ex.ctx);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SourceReplyBogus);

// SourceStats::add_sample alone with a full history (regression with the
// runs test, and the Kalman bank).
void BM_SourceStatsAddSample(benchmark::State& state) {
  SourceStats st;
  std::mt19937_64 gen(3);
  std::normal_distribution<double> noise(0.0, 20e-6);
  double t = 0.0;
  const TimePoint t0{1710504000LL * kNsPerS};
  const auto add = [&] {
    NtpSample s;
    s.time = t0 + Duration::from_seconds(t);
    s.offset_s = 1e-5 * t * 1e-3 + noise(gen);
    s.peer_delay_s = 0.001 + std::fabs(noise(gen));
    s.peer_dispersion_s = 1e-6;
    s.root_delay_s = s.peer_delay_s;
    s.root_dispersion_s = 1e-6;
    st.add_sample(s);
    t += 16.0;
  };
  for (int i = 0; i < 100; ++i) add();
  for (auto _ : state) {
    add();
    benchmark::DoNotOptimize(st.samples());
  }
  state.counters["NP"] = st.samples();
}
BENCHMARK(BM_SourceStatsAddSample);

}  // namespace
