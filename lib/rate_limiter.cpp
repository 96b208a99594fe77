// Token buckets for response rate limiting: see rate_limiter.hpp.
#include "lib/rate_limiter.hpp"

#include <algorithm>

namespace gnomon {
namespace {

constexpr int kMinIntervalLog2 = -15 - kClientTickFracBits;  // -19
constexpr int kMaxIntervalLog2 = 12;
constexpr int kMinBurst = 1;
constexpr int kMaxBurst = 255;
constexpr int kMinLeakLog2 = 1;
constexpr int kMaxLeakLog2 = 4;
constexpr int kMaxKodLog2 = 4;
constexpr unsigned kTokenLimit = 1u << 16;  // tokens are 16-bit

}  // namespace

RateLimiter::RateLimiter(int interval_log2, int burst, int leak_log2, int kod_log2) {
  interval_log2_ = std::clamp(interval_log2, kMinIntervalLog2, kMaxIntervalLog2);
  unsigned b = static_cast<unsigned>(std::clamp(burst, kMinBurst, kMaxBurst));
  leak_log2_ = std::clamp(leak_log2, kMinLeakLog2, kMaxLeakLog2);
  kod_log2_ = std::clamp(kod_log2, 0, kMaxKodLog2);

  // One response costs 2^(interval + 4) ticks' worth of tokens. Large
  // products are scaled down by `shift` so that a full bucket fits 16 bits.
  const int ticks_log2 = interval_log2_ + kClientTickFracBits;
  unsigned per_hit = 1;
  if (ticks_log2 >= 0) {
    int shift = 0;
    while (shift < ticks_log2 && (b << (ticks_log2 - shift)) >= kTokenLimit) ++shift;
    token_shift_ = shift;
    per_hit = 1u << (ticks_log2 - shift);
  } else {
    // Shorter than a tick: each tick brings 2^-ticks_log2 tokens of one
    // response each, and the bucket holds at least one tick's worth.
    token_shift_ = ticks_log2;
    b = std::max(1u << -ticks_log2, b);
  }
  tokens_per_hit_ = static_cast<std::uint16_t>(per_hit);
  max_tokens_ = static_cast<std::uint16_t>(std::min(per_hit * b, kTokenLimit - 1));
}

RateLimiter RateLimiter::from_config(const RateLimitConfig& config, int kod_log2_when_on) {
  if (!config.enabled) return RateLimiter{};
  return RateLimiter(config.interval, config.burst, config.leak, config.kod ? kod_log2_when_on : 0);
}

std::uint16_t RateLimiter::refill(std::uint16_t tokens, ClientTicks prev, ClientTicks now) const {
  if (!enabled()) return 0;
  const std::uint32_t elapsed = now - prev;
  std::uint32_t earned;
  if (token_shift_ >= 0) {
    // Counted on shifted boundaries so that no fraction of a token is lost
    // between hits.
    earned = (now >> token_shift_) - (prev >> token_shift_);
  } else if (elapsed > max_tokens_) {
    earned = max_tokens_;
  } else {
    earned = elapsed << -token_shift_;
  }
  return static_cast<std::uint16_t>(std::min<std::uint32_t>(tokens + std::min<std::uint32_t>(earned, max_tokens_),
                                                            max_tokens_));
}

RateDecision RateLimiter::decide(std::uint16_t& tokens, bool retrying, std::uint32_t random_bits) const {
  if (!enabled()) return RateDecision::Pass;
  if (tokens >= tokens_per_hit_) {
    tokens = static_cast<std::uint16_t>(tokens - tokens_per_hit_);
    return RateDecision::Pass;
  }
  const std::uint32_t leak_mask = (1u << leak_log2_) - 1u;
  bool drop = (random_bits & leak_mask) != 0;  // answered once in 2^leak
  if (retrying) drop = !drop;
  if (!drop) {
    tokens = 0;
    return RateDecision::Pass;
  }
  if (kod_log2_ > 0) {
    const std::uint32_t kod_mask = (1u << kod_log2_) - 1u;
    if (((random_bits >> 8) & kod_mask) == 0) return RateDecision::Kod;
  }
  return RateDecision::Drop;
}

}  // namespace gnomon
