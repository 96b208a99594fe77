// Client log and rate limiter hot path. Targets: client-log update <= 50 ns,
// rate-limit decision <= 50 ns on the project machine.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "lib/client_log.hpp"
#include "lib/rate_limiter.hpp"
#include "lib/siphash.hpp"

namespace {

using namespace gnomon;

constexpr TimePoint kStart{1'700'000'000LL * kNsPerS};
const SipKey kKey{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
constexpr std::size_t kDefaultLimit = 524288;

// xorshift: cheap stand-in for the daemon's random pool.
std::uint32_t next_random(std::uint32_t& s) {
  s ^= s << 13;
  s ^= s >> 17;
  s ^= s << 5;
  return s;
}

void BM_SipHashWord(benchmark::State& state) {
  std::uint64_t w = 0x7F000001;
  for (auto _ : state) {
    benchmark::DoNotOptimize(siphash24_word(kKey, w, 4));
    ++w;
  }
}
BENCHMARK(BM_SipHashWord);

// One request logged: lookup, hit count, bucket refill, interval estimate.
// range(0) distinct clients in a table of the default size (13104 records).
void BM_ClientLogUpdate(benchmark::State& state) {
  ClientLog log(kDefaultLimit, RateLimiter(3, 8, 2, 0), kKey);
  const auto clients = static_cast<std::uint32_t>(state.range(0));
  std::uint32_t i = 0;
  std::int64_t t = kStart.unix_ns;
  for (auto _ : state) {
    benchmark::DoNotOptimize(log.log_access(IpAddress::v4(0x7F000000u + i), TimePoint{t}));
    if (++i == clients) i = 0;
    t += 1000;  // 1 us between requests
  }
}
BENCHMARK(BM_ClientLogUpdate)->Arg(1)->Arg(1000)->Arg(10000);

// A flood of new addresses: every request evicts the stalest record of a set.
void BM_ClientLogUpdateEvicting(benchmark::State& state) {
  ClientLog log(kDefaultLimit, RateLimiter(3, 8, 2, 0), kKey);
  std::uint32_t i = 0;
  std::int64_t t = kStart.unix_ns;
  for (auto _ : state) {
    benchmark::DoNotOptimize(log.log_access(IpAddress::v4(0x7F000000u + (i++ & 0xFFFFFF)), TimePoint{t}));
    t += 1000;
  }
  state.counters["evictions"] = static_cast<double>(log.stats().evictions);
}
BENCHMARK(BM_ClientLogUpdateEvicting);

// The limiter's verdict for a logged request (bucket mostly empty: the
// leak path with its random bits, the slower branch).
void BM_RateLimitDecision(benchmark::State& state) {
  ClientLog log(kDefaultLimit, RateLimiter(3, 8, 2, 1), kKey);
  std::vector<ClientLog::Index> idx;
  for (std::uint32_t c = 0; c < 1000; ++c) idx.push_back(log.log_access(IpAddress::v4(0x7F000000u + c), kStart));
  std::uint32_t rnd = 12345;
  std::size_t k = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(log.limit(idx[k], next_random(rnd)));
    if (++k == idx.size()) k = 0;
  }
}
BENCHMARK(BM_RateLimitDecision);

// Both, as the server does per request.
void BM_LogAndLimit(benchmark::State& state) {
  ClientLog log(kDefaultLimit, RateLimiter(3, 8, 2, 0), kKey);
  std::uint32_t i = 0;
  std::uint32_t rnd = 777;
  std::int64_t t = kStart.unix_ns;
  for (auto _ : state) {
    auto idx = log.log_access(IpAddress::v4(0x7F000000u + i), TimePoint{t});
    benchmark::DoNotOptimize(log.limit(idx, next_random(rnd)));
    if (++i == 1000) i = 0;
    t += 1000;
  }
}
BENCHMARK(BM_LogAndLimit);

}  // namespace
