// lib/rate_limiter.hpp: chrony's token-bucket parameters, burst, refill,
// leak, KoD and the retrying-client inversion.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>

#include "lib/rate_limiter.hpp"

using namespace gnomon;

namespace {

constexpr std::uint32_t kDropBits = 0xFFFFFFFFu;  // never leaks, never KoD
constexpr std::uint32_t kLeakBits = 0xFFFFFF00u;  // leaks (low 8 bits zero)
constexpr std::uint32_t kKodBits = 0xFFFF00FFu;   // no leak, KoD bits zero

ClientTicks seconds(double s) { return static_cast<ClientTicks>(s * 16.0); }

}  // namespace

TEST_CASE("A disabled limiter passes everything and keeps no tokens") {
  RateLimiter rl;
  CHECK_FALSE(rl.enabled());
  std::uint16_t tokens = 0;
  for (int i = 0; i < 100; ++i) CHECK(rl.decide(tokens, false, kDropBits) == RateDecision::Pass);
  CHECK(rl.refill(0, 1, 1000) == 0);
  CHECK_FALSE(RateLimiter::from_config(RateLimitConfig{}).enabled());
}

TEST_CASE("Bucket sizes follow chrony's 16-bit scaling") {
  // Defaults: interval 3 (8 s = 128 ticks), burst 8.
  RateLimiter d(3, 8, 2, 0);
  CHECK(d.tokens_per_hit() == 128);
  CHECK(d.full_bucket() == 1024);
  // Interval 12 (4096 s), burst 255: 65536 ticks per response is scaled by 2^8.
  RateLimiter big(12, 255, 2, 0);
  CHECK(big.tokens_per_hit() == 256);
  CHECK(big.full_bucket() == 65280);
  // Interval -6: coarse, a tick (1/16 s) brings 4 responses and the bucket holds at least 4.
  RateLimiter coarse(-6, 1, 2, 0);
  CHECK(coarse.tokens_per_hit() == 1);
  CHECK(coarse.full_bucket() == 4);
  // Out-of-range values are clamped.
  RateLimiter clamped(-100, 1000, 9, 9);
  CHECK(clamped.interval_log2() == -19);
  CHECK(clamped.leak_log2() == 4);
  CHECK(clamped.kod_log2() == 4);
  CHECK(clamped.full_bucket() == 32768);
}

TEST_CASE("A full bucket passes `burst` requests, then only leaks") {
  RateLimiter rl(3, 8, 2, 0);
  std::uint16_t tokens = rl.full_bucket();
  for (int i = 0; i < 8; ++i) CHECK(rl.decide(tokens, false, kDropBits) == RateDecision::Pass);
  CHECK(tokens == 0);
  CHECK(rl.decide(tokens, false, kDropBits) == RateDecision::Drop);
  CHECK(rl.decide(tokens, false, kKodBits) == RateDecision::Drop);  // KoD off
  CHECK(rl.decide(tokens, false, kLeakBits) == RateDecision::Pass);
  // Only the low `leak` bits matter: 0b100 with leak 2 still leaks.
  CHECK(rl.decide(tokens, false, 0x4u) == RateDecision::Pass);
  CHECK(rl.decide(tokens, false, 0x1u) == RateDecision::Drop);
}

TEST_CASE("A leaked answer empties the bucket") {
  RateLimiter rl(0, 4, 1, 0);
  std::uint16_t tokens = static_cast<std::uint16_t>(rl.tokens_per_hit() / 2);  // half a response
  CHECK(rl.decide(tokens, false, kLeakBits) == RateDecision::Pass);
  CHECK(tokens == 0);
}

TEST_CASE("Tokens accrue at one response per interval, up to a full bucket") {
  RateLimiter rl(0, 2, 2, 0);  // 1 s, burst 2
  std::uint16_t tokens = 0;
  const ClientTicks t0 = 1000;
  tokens = rl.refill(tokens, t0, t0 + seconds(0.5));
  CHECK(rl.decide(tokens, false, kDropBits) == RateDecision::Drop);
  tokens = rl.refill(tokens, t0 + seconds(0.5), t0 + seconds(1.0));
  CHECK(rl.decide(tokens, false, kDropBits) == RateDecision::Pass);
  CHECK(rl.decide(tokens, false, kDropBits) == RateDecision::Drop);
  tokens = rl.refill(tokens, t0 + seconds(1.0), t0 + seconds(1000.0));
  CHECK(tokens == rl.full_bucket());
  // A wrapping tick counter refills the same way.
  CHECK(rl.refill(0, 0xFFFFFFF0u, 0x00000010u) == rl.full_bucket());
}

TEST_CASE("Scaled buckets lose no fraction of a token between hits") {
  RateLimiter rl(12, 255, 2, 0);  // 256 ticks per token
  std::uint16_t tokens = 0;
  ClientTicks t = 5;
  // 4096 s in 1 s steps adds exactly one response's worth.
  for (int i = 0; i < 4096; ++i) {
    tokens = rl.refill(tokens, t, t + 16);
    t += 16;
  }
  CHECK(tokens == rl.tokens_per_hit());
}

TEST_CASE("Coarse buckets give bursts of responses per tick") {
  RateLimiter rl(-6, 1, 4, 0);  // 64/s: 4 per tick
  std::uint16_t tokens = 0;
  tokens = rl.refill(tokens, 100, 101);
  int passed = 0;
  for (int i = 0; i < 10; ++i) passed += rl.decide(tokens, false, kDropBits) == RateDecision::Pass;
  CHECK(passed == 4);
}

TEST_CASE("KoD RATE replaces a share of the drops when on") {
  RateLimiter rl(3, 1, 2, 1);
  std::uint16_t tokens = 0;
  CHECK(rl.decide(tokens, false, kKodBits) == RateDecision::Kod);
  CHECK(rl.decide(tokens, false, kDropBits) == RateDecision::Drop);
  // The leak wins over the KoD.
  CHECK(rl.decide(tokens, false, 0u) == RateDecision::Pass);
  // No KoD while tokens last.
  tokens = rl.full_bucket();
  CHECK(rl.decide(tokens, false, kKodBits) == RateDecision::Pass);
  RateLimitConfig on;
  on.enabled = true;
  on.kod = true;
  CHECK(RateLimiter::from_config(on).kod_log2() == 2);
  CHECK(RateLimiter::from_config(on, 3).kod_log2() == 3);
  on.kod = false;
  CHECK(RateLimiter::from_config(on).kod_log2() == 0);
}

TEST_CASE("A retrying client gets the leak inverted") {
  RateLimiter rl(3, 1, 2, 0);
  std::uint16_t tokens = 0;
  CHECK(rl.decide(tokens, true, kDropBits) == RateDecision::Pass);
  CHECK(rl.decide(tokens, true, kLeakBits) == RateDecision::Drop);
}

TEST_CASE("Under a steady flood the answered share is the leak fraction") {
  std::mt19937 rng(7);
  for (int leak = 1; leak <= 4; ++leak) {
    RateLimiter rl(3, 8, leak, 0);
    std::uint16_t tokens = rl.full_bucket();
    int passed = 0;
    const int n = 100000;
    ClientTicks t = 1;
    for (int i = 0; i < n; ++i) {
      // 1000 requests per second: refill is negligible (1 per 8 s).
      if (i % 1000 == 0 && i > 0) {
        tokens = rl.refill(tokens, t, t + 16);
        t += 16;
      }
      passed += rl.decide(tokens, false, static_cast<std::uint32_t>(rng())) == RateDecision::Pass;
    }
    const double expect = n / double(1 << leak) + 8 + 100.0 / 8;
    INFO("leak " << leak << " passed " << passed << " expected " << expect);
    CHECK(passed > expect * 0.93);
    CHECK(passed < expect * 1.07);
  }
}
