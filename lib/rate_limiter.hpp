// Response rate limiting with chrony's semantics (clientlog.c): a token
// bucket per client, kept in the client's record of the client log.
//
// - `interval` (log2 s, -19..12) is the minimum mean interval between
//   responses and `burst` (1..255) how many may be sent back to back.
//   Tokens accrue with time; each response spends one response's worth.
//   Below an interval of 2^-4 s the bucket is coarse: time is counted in
//   client-log ticks (1/16 s), so responses come in bursts.
// - Once the bucket is empty a request is still answered with probability
//   2^-leak (leak 1..4), so that a spoofer cannot silence a victim entirely;
//   such a leaked answer empties the bucket.
// - With KoD on, a request that would be dropped gets a KoD RATE reply
//   instead with probability 2^-kod (kod 1..4; chrony's `kod N`).
// - A client that seems to send faster when it gets no answer than when it
//   does (a poorly written client retrying) has the leak inverted: most of
//   its requests are answered, which reduces the traffic overall.
//
// Pure arithmetic on values the caller keeps: no clock, no randomness of its
// own (the caller passes random bits), no allocation.
#pragma once

#include <cstdint>

#include "lib/config.hpp"
#include "lib/server.hpp"

namespace gnomon {

// Time in the client log: a wrapping 32-bit count of 1/16 s ticks (one wrap
// every 8.5 years; instants are compared by signed difference). 0 = never.
using ClientTicks = std::uint32_t;
inline constexpr int kClientTickFracBits = 4;

class RateLimiter {
 public:
  // Disabled: every request passes and buckets stay empty.
  RateLimiter() = default;
  // Out-of-range arguments are clamped to chrony's bounds.
  RateLimiter(int interval_log2, int burst, int leak_log2, int kod_log2);
  // `kod_log2_when_on`: the KoD rate used when the config says `kod = true`
  // (the config keeps only on/off).
  [[nodiscard]] static RateLimiter from_config(const RateLimitConfig& config, int kod_log2_when_on = 2);

  [[nodiscard]] bool enabled() const { return tokens_per_hit_ != 0; }
  [[nodiscard]] int interval_log2() const { return interval_log2_; }
  [[nodiscard]] int leak_log2() const { return leak_log2_; }
  [[nodiscard]] int kod_log2() const { return kod_log2_; }
  // A new client's bucket: full.
  [[nodiscard]] std::uint16_t full_bucket() const { return max_tokens_; }
  [[nodiscard]] std::uint16_t tokens_per_hit() const { return tokens_per_hit_; }

  // `tokens` plus what accrued between the client's previous hit and this
  // one (both in ticks, now after prev), capped at a full bucket.
  [[nodiscard]] std::uint16_t refill(std::uint16_t tokens, ClientTicks prev, ClientTicks now) const;

  // The verdict for one request, spending from `tokens`. `retrying`: the
  // client sends faster without answers (see above). `random_bits`: 32 bits
  // from a CSPRNG; the low 8 decide the leak, the next 8 the KoD.
  [[nodiscard]] RateDecision decide(std::uint16_t& tokens, bool retrying, std::uint32_t random_bits) const;

 private:
  std::uint16_t max_tokens_ = 0;
  std::uint16_t tokens_per_hit_ = 0;  // 0 = disabled
  int token_shift_ = 0;                // ticks >> shift = tokens; negative: coarse
  int interval_log2_ = -19;
  int leak_log2_ = 0;
  int kod_log2_ = 0;
};

}  // namespace gnomon
