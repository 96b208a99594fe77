// One sample through the filter (per-source statistics) and selection, with
// 8 sources; and the same through the whole SyncEngine (reply tests,
// statistics, selection, reference and clock).
#include <benchmark/benchmark.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "lib/noop_clock.hpp"
#include "lib/packet.hpp"
#include "lib/selection.hpp"
#include "lib/source_stats.hpp"
#include "lib/sync_engine.hpp"

using namespace gnomon;

namespace {

constexpr int kSources = 8;
const TimePoint kT0 = TimePoint::from_seconds(1.7e9);

// Deterministic noise in [-1, 1).
double noise(std::uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return static_cast<double>(s >> 11) * 0x1.0p-52 - 1.0;
}

NtpSample sample_at(TimePoint t, int source, std::uint64_t& rng) {
  NtpSample s;
  s.time = t;
  s.offset_s = 1e-4 * source + 5e-5 * noise(rng);
  s.peer_delay_s = 2e-4 + 1e-4 * std::fabs(noise(rng));
  s.peer_dispersion_s = 1e-6;
  s.root_delay_s = s.peer_delay_s + 1e-3;
  s.root_dispersion_s = 1e-4;
  s.stratum = 2;
  s.leap = Leap::None;
  return s;
}

void BM_FilterAndSelect8(benchmark::State& state) {
  // The engine's default estimator (the Kalman filter; the regression runs too).
  std::vector<SourceStats> stats(kSources, SourceStats(EngineOptions::default_stats_options()));
  std::vector<SelectionCandidate> cands(kSources);
  std::uint64_t rng = 0x1234567;
  TimePoint t = kT0;
  for (int k = 0; k < 32; ++k) {
    t = t + Duration::seconds(8);
    for (int i = 0; i < kSources; ++i) stats[static_cast<std::size_t>(i)].add_sample(sample_at(t, i, rng));
  }
  for (int i = 0; i < kSources; ++i) {
    auto& c = cands[static_cast<std::size_t>(i)];
    c.id = static_cast<std::uint32_t>(i + 1);
    c.name = "192.0.2." + std::to_string(i + 1);
    c.refid = 0xC0000200u + c.id;
    c.reach = 0377;
    c.reach_size = 8;
    c.stratum = 2;
    c.leap = Leap::None;
  }
  Selection selection;
  int next = 0;
  for (auto _ : state) {
    t = t + Duration::seconds(1);
    const auto i = static_cast<std::size_t>(next);
    stats[i].add_sample(sample_at(t, next, rng));
    for (std::size_t j = 0; j < cands.size(); ++j) {
      cands[j].data = stats[j].selection_data(t);
      cands[j].estimate = stats[j].estimate();
    }
    SelectionResult r = selection.select(t, cands, cands[i].id);
    benchmark::DoNotOptimize(r);
    next = (next + 1) % kSources;
  }
}
BENCHMARK(BM_FilterAndSelect8);

class BenchRng final : public RandomSource {
 public:
  void fill(std::span<std::uint8_t> out) override {
    for (auto& b : out) b = static_cast<std::uint8_t>(noise(state_) * 127.0 + 128.0);
  }

 private:
  std::uint64_t state_ = 0xABCDEF;
};

// A server reply to `request` from a server on true time at `t`.
std::array<std::uint8_t, kNtpHeaderLen> reply_to(std::span<const std::uint8_t> request, TimePoint t) {
  const NtpHeader req = decode_header(request.first<kNtpHeaderLen>());
  NtpHeader h;
  h.version = 4;
  h.mode = NtpMode::Server;
  h.stratum = 1;
  h.precision = -23;
  h.root_dispersion = NtpShort::from_seconds(1e-5);
  h.reference_id = 0x47505300u;
  h.reference_ts = NtpTimestamp::from_time(t - Duration::seconds(8));
  h.origin_ts = req.transmit_ts;
  h.receive_ts = NtpTimestamp::from_time(t + Duration{100000});
  h.transmit_ts = NtpTimestamp::from_time(t + Duration{105000});
  std::array<std::uint8_t, kNtpHeaderLen> out{};
  encode_header(h, out);
  return out;
}

void BM_EngineSample8(benchmark::State& state) {
  TimePoint now = kT0;
  NoControlClock clock([&] { return now; });
  SyncEngine engine(clock, EngineOptions{});
  for (int i = 0; i < kSources; ++i) {
    SourceConfig c;
    c.address = "192.0.2." + std::to_string(i + 1);
    c.minpoll = 0;
    c.maxpoll = 0;
    static_cast<void>(engine.add_entry(c, now));
  }
  BenchRng rng;
  static_cast<void>(engine.start(now));
  auto step = [&] {
    const auto w = engine.next_wakeup();
    if (w && *w > now) now = *w;
    Actions a = engine.handle_timer(now, rng);
    for (const SendRequest& s : a.sends) {
      const auto reply = reply_to(s.request.data(), now);
      ReplyContext ctx;
      ctx.tx_time = now;
      ctx.rx_time = now + Duration{210000};
      ctx.from = s.request.to;
      Actions r = engine.handle_reply(now + Duration{210000}, s.source, reply, ctx);
      benchmark::DoNotOptimize(r);
    }
    return a.sends.size();
  };
  // Warm up: every source past its first samples.
  for (int k = 0; k < 40 * kSources; ++k) static_cast<void>(step());
  std::size_t samples = 0;
  for (auto _ : state) samples += step();
  // Samples per iteration (one per request answered).
  state.counters["samples_per_iter"] =
      benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kAvgIterations);
  const auto rows = engine.sources(now);
  state.counters["synchronised"] = engine.synchronised() ? 1.0 : 0.0;
  state.counters["stats_samples_src1"] =
      static_cast<double>(engine.source(rows.front().id)->stats().samples());
}
BENCHMARK(BM_EngineSample8);

}  // namespace
