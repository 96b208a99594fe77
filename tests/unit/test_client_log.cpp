// lib/client_log.hpp and lib/siphash.hpp: bounded memory, /64 grouping,
// eviction of the least recently seen, counters and intervals for `clients`,
// rate limiting through the log, interleaved-mode timestamps, and chrony's
// 135-ratelimit scenario.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "lib/client_log.hpp"
#include "lib/siphash.hpp"

using namespace gnomon;

namespace {

const SipKey kKey{0x0706050403020100ULL, 0x0F0E0D0C0B0A0908ULL};
const TimePoint kT0{1'700'000'000LL * kNsPerS};

TimePoint at(double s) { return kT0 + Duration::from_seconds(s); }

IpAddress ip4(std::uint32_t host) { return IpAddress::v4(host); }
IpAddress ip6(const char* text) { return *IpAddress::parse(text); }

RateLimiter limiter(int interval, int burst, int leak, int kod = 0) { return RateLimiter(interval, burst, leak, kod); }

}  // namespace

TEST_CASE("SipHash-2-4 matches the reference vectors") {
  std::vector<std::uint8_t> msg;
  const std::uint64_t expect[] = {0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL};
  CHECK(siphash24(kKey, msg) == expect[0]);
  msg.push_back(0);
  CHECK(siphash24(kKey, msg) == expect[1]);
  for (std::uint8_t i = 1; i < 16; ++i) msg.push_back(i);
  CHECK(siphash24(kKey, std::span(msg).first(8)) == 0x93f5f5799a932462ULL);
  CHECK(siphash24(kKey, std::span(msg).first(15)) == 0xa129ca6149be45e5ULL);
  CHECK(siphash24(kKey, msg) == 0x3f2acc7f57c29bdbULL);
  // The one-word fast path agrees with the general one.
  CHECK(siphash24_word(kKey, 0x0706050403020100ULL, 8) == 0x93f5f5799a932462ULL);
  CHECK(siphash24_word(kKey, 0x0706050403020100ULL, 0) == expect[0]);
  CHECK(siphash24_word(kKey, 0x0706050403020100ULL, 1) == expect[1]);
}

TEST_CASE("A zero limit turns the log off") {
  ClientLog log(0, limiter(3, 8, 2), kKey);
  CHECK_FALSE(log.active());
  CHECK(log.capacity() == 0);
  auto i = log.log_access(ip4(0x7F000001), kT0);
  CHECK(i == ClientLog::kNoRecord);
  CHECK(log.limit(i, 0xFFFFFFFFu) == RateDecision::Pass);
  CHECK_FALSE(log.report(0, kT0, 0, false));
  CHECK_FALSE(log.find(ip4(0x7F000001), kT0));
  CHECK_FALSE(log.take_interleaved_tx(i, NtpTimestamp{1, 1}, kT0));
  log.save_timestamps(i, NtpTimestamp{1, 1}, kT0, TxSource::Daemon);
  CHECK(log.stats().records == 0);
}

TEST_CASE("The table holds as many records as the memory limit allows") {
  CHECK(ClientLog(524288, {}, kKey).capacity() == 13104);  // chrony's default limit
  CHECK(ClientLog(524288, {}, kKey).capacity() * ClientLog::kRecordBytes <= 524288);
  CHECK(ClientLog(100, {}, kKey).capacity() == 8);          // at least one set
  CHECK(ClientLog(1 << 20, {}, kKey).capacity() * ClientLog::kRecordBytes <= (1u << 20));
}

TEST_CASE("One record per address, with hits and last seen") {
  ClientLog log(1 << 16, {}, kKey);
  auto a = log.log_access(ip4(0x0A000001), at(0));
  auto b = log.log_access(ip4(0x0A000002), at(1));
  CHECK(a != b);
  CHECK(log.log_access(ip4(0x0A000001), at(2)) == a);
  CHECK(log.log_access(ip4(0x0A000001), at(3)) == a);
  auto r = log.report(a, at(13.5), 0, false);
  REQUIRE(r);
  CHECK(r->address == ip4(0x0A000001));
  CHECK(r->hits == 3);
  CHECK(r->drops == 0);
  CHECK(r->last_hit_ago_s == 10);
  auto f = log.find(ip4(0x0A000002), at(1));
  REQUIRE(f);
  CHECK(f->hits == 1);
  CHECK(f->last_hit_ago_s == 0);
  CHECK(f->interval_log2 == kClientNoInterval);
  CHECK(log.stats().records == 2);
}

TEST_CASE("IPv6 clients are grouped by /64; mapped IPv4 is IPv4") {
  ClientLog log(1 << 16, {}, kKey);
  auto a = log.log_access(ip6("2001:db8:1:2::1"), at(0));
  CHECK(log.log_access(ip6("2001:db8:1:2:ffff:ffff:ffff:ffff"), at(1)) == a);
  CHECK(log.log_access(ip6("2001:db8:1:3::1"), at(1)) != a);
  auto r = log.report(a, at(1), 0, false);
  REQUIRE(r);
  CHECK(r->address == ip6("2001:db8:1:2::"));
  CHECK(r->hits == 2);
  auto v4 = log.log_access(ip4(0xC0000201), at(2));
  CHECK(log.log_access(ip6("::ffff:192.0.2.1"), at(3)) == v4);
  // An IPv6 /64 whose bits equal an IPv4 address is a different client.
  CHECK(log.log_access(ip6("::c000:201"), at(3)) != v4);
  CHECK(ClientLog::grouped_address(ip6("2001:db8::5:6:7:8")) == ip6("2001:db8::"));
}

TEST_CASE("Memory stays bounded under a flood of distinct addresses") {
  ClientLog log(40 * 1000, {}, kKey);
  const std::uint32_t cap = log.capacity();
  CHECK(cap == 1000);
  std::set<ClientLog::Index> seen;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    auto idx = log.log_access(ip4(0x7F000000u + static_cast<std::uint32_t>(i)), at(i * 1e-4));
    REQUIRE(idx < cap);
    seen.insert(idx);
  }
  ClientLogStats s = log.stats();
  CHECK(s.records <= cap);
  CHECK(s.records > cap * 9 / 10);  // the hash spreads clients over the sets
  CHECK(s.evictions == n - s.records);
  CHECK(seen.size() == s.records);
}

TEST_CASE("A full set evicts the client seen least recently") {
  ClientLog log(40 * 8, {}, kKey);  // one set of 8
  REQUIRE(log.capacity() == 8);
  for (std::uint32_t i = 0; i < 8; ++i) (void)log.log_access(ip4(100 + i), at(i));
  // Client 100 comes back: now 101 is the stalest.
  (void)log.log_access(ip4(100), at(10));
  (void)log.log_access(ip4(200), at(11));
  CHECK(log.find(ip4(100), at(11)));
  CHECK_FALSE(log.find(ip4(101), at(11)));
  CHECK(log.find(ip4(200), at(11)));
  CHECK(log.stats().evictions == 1);
  // On equal last-seen times, the one with fewer hits goes first.
  ClientLog tie(40 * 8, {}, kKey);
  for (std::uint32_t i = 0; i < 8; ++i) {
    (void)tie.log_access(ip4(100 + i), at(0));
    if (i != 5) (void)tie.log_access(ip4(100 + i), at(0));
  }
  (void)tie.log_access(ip4(300), at(0));
  CHECK_FALSE(tie.find(ip4(105), at(0)));
}

TEST_CASE("The secret key decides where clients land") {
  ClientLog a(40 * 4096, {}, kKey);
  ClientLog b(40 * 4096, {}, SipKey{1, 2});
  int same = 0;
  for (std::uint32_t i = 0; i < 200; ++i) {
    same += a.log_access(ip4(0x0A000000u + i), kT0) / ClientLog::kSetSize ==
            b.log_access(ip4(0x0A000000u + i), kT0) / ClientLog::kSetSize;
  }
  CHECK(same < 10);
}

TEST_CASE("Request intervals are estimated in log2 seconds") {
  ClientLog log(1 << 16, {}, kKey);
  ClientLog::Index i = 0;
  for (int k = 0; k < 20; ++k) i = log.log_access(ip4(1), at(4.0 * k));
  auto r = log.report(i, at(80), 0, false);
  REQUIRE(r);
  CHECK(r->interval_log2 == 2);
  for (int k = 0; k < 40; ++k) i = log.log_access(ip4(2), at(0.5 * k));
  CHECK(log.report(i, at(20), 0, false)->interval_log2 == -1);
  // Faster requests pull the estimate down only gradually.
  for (int k = 0; k < 10; ++k) i = log.log_access(ip4(3), at(64.0 * k));
  (void)log.log_access(ip4(3), at(64.0 * 9 + 1));
  CHECK(log.report(i, at(600), 0, false)->interval_log2 == 6);
  // Same-tick requests: chrony's shortest interval, 2^-5 s.
  for (int k = 0; k < 10; ++k) i = log.log_access(ip4(4), at(1));
  CHECK(log.report(i, at(1), 0, false)->interval_log2 == -5);
}

TEST_CASE("Rate limiting through the log counts drops; reset clears counts") {
  ClientLog log(1 << 16, limiter(3, 4, 2), kKey);
  int passed = 0;
  ClientLog::Index i = 0;
  for (int k = 0; k < 10; ++k) {
    i = log.log_access(ip4(7), at(0.01 * k));
    passed += log.limit(i, 0xFFFFFFFFu) == RateDecision::Pass;
  }
  CHECK(passed == 4);
  auto r = log.report(i, at(1), 0, true);
  REQUIRE(r);
  CHECK(r->hits == 10);
  CHECK(r->drops == 6);
  r = log.report(i, at(1), 0, false);
  REQUIRE(r);
  CHECK(r->hits == 0);
  CHECK(r->drops == 0);
  // min_hits hides quiet clients, and reset applies to them as well.
  (void)log.log_access(ip4(7), at(2));
  CHECK_FALSE(log.report(i, at(2), 2, false));
  CHECK(log.report(i, at(2), 1, false));
  // Another client has its own bucket.
  auto j = log.log_access(ip4(8), at(2));
  CHECK(log.limit(j, 0xFFFFFFFFu) == RateDecision::Pass);
  CHECK(log.limit(ClientLog::kNoRecord, 0xFFFFFFFFu) == RateDecision::Pass);
}

TEST_CASE("A client that retries faster when dropped is mostly answered") {
  // Answered requests come every 8 s; after a drop the client retries at once.
  ClientLog log(1 << 16, limiter(4, 1, 2), kKey);
  std::mt19937 rng(3);
  double t = 0;
  int answered = 0, total = 0;
  for (int k = 0; k < 400; ++k) {
    auto i = log.log_access(ip4(9), at(t));
    const bool ok = log.limit(i, static_cast<std::uint32_t>(rng())) == RateDecision::Pass;
    answered += ok;
    ++total;
    t += ok ? 8.0 : 0.25;
  }
  auto r = log.find(ip4(9), at(t));
  REQUIRE(r);
  CHECK(r->timeout_interval_log2 < r->interval_log2);
  // Without the inversion only about 1 in 4 of the retries would be answered.
  CHECK(answered > total / 2);
}

TEST_CASE("Interleaved timestamps are handed out once, for the right origin") {
  ClientLog log(1 << 16, {}, kKey);
  auto i = log.log_access(ip4(5), at(0));
  const NtpTimestamp rx = NtpTimestamp::from_time(at(0));
  const TimePoint tx = at(0) + Duration{35'000};
  log.save_timestamps(i, rx, tx, TxSource::Daemon);
  CHECK_FALSE(log.take_interleaved_tx(i, NtpTimestamp{rx.seconds, rx.fraction ^ 4}, at(1)));
  // The kernel's timestamp replaces the daemon's.
  CHECK(log.update_tx(i, rx, tx - Duration{5'000}, TxSource::Kernel));
  CHECK_FALSE(log.update_tx(i, NtpTimestamp{1, 2}, tx, TxSource::Kernel));
  auto got = log.take_interleaved_tx(i, rx, at(1));
  REQUIRE(got);
  CHECK(got->source == TxSource::Kernel);
  CHECK(std::llabs((got->tx - (tx - Duration{5'000})).ns) <= 1);
  CHECK_FALSE(log.take_interleaved_tx(i, rx, at(1)));  // once only
  // A transmit time far from the receive time is not kept.
  const NtpTimestamp rx2 = NtpTimestamp::from_time(at(2));
  log.save_timestamps(i, rx2, at(5), TxSource::Daemon);
  CHECK_FALSE(log.take_interleaved_tx(i, rx2, at(3)));
  // A repeated receive timestamp is never used.
  const NtpTimestamp rx3 = NtpTimestamp::from_time(at(4));
  log.save_timestamps(i, rx3, at(4), TxSource::Daemon);
  log.save_timestamps(i, rx3, at(4), TxSource::Daemon);
  CHECK_FALSE(log.take_interleaved_tx(i, rx3, at(5)));
  // Another client's origin finds nothing in this record.
  auto j = log.log_access(ip4(6), at(6));
  const NtpTimestamp rx4 = NtpTimestamp::from_time(at(6));
  log.save_timestamps(j, rx4, at(6), TxSource::Daemon);
  CHECK_FALSE(log.take_interleaved_tx(i, rx4, at(7)));
  ClientLogStats s = log.stats();
  CHECK(s.timestamps == 2);
  CHECK(s.timestamps_span_s == 2);
  log.clear_timestamps();
  CHECK(log.stats().timestamps == 0);
  CHECK_FALSE(log.take_interleaved_tx(j, rx4, at(7)));
}

// chrony's test/simulation/135-ratelimit: server `ratelimit interval 6 burst 2
// leak 4`, a client polling every 8 s for 10000 s: 1200-1300 requests and
// 180-220 replies. With `kod 2` (the client waits 4 polls more after a KoD
// RATE): 700-850 requests, 350-450 replies of which 100-140 are KoD RATE.
TEST_CASE("chrony's 135-ratelimit scenario") {
  for (unsigned seed = 1; seed <= 5; ++seed) {
    std::mt19937 rng(seed);
    ClientLog log(1 << 16, limiter(6, 2, 4), kKey);
    int requests = 0, replies = 0;
    for (double t = 0; t < 10000; t += 8) {
      auto i = log.log_access(ip4(1), at(t));
      ++requests;
      replies += log.limit(i, static_cast<std::uint32_t>(rng())) == RateDecision::Pass;
    }
    INFO("seed " << seed << ": " << requests << " requests, " << replies << " replies");
    CHECK(requests >= 1200);
    CHECK(requests <= 1300);
    CHECK(replies >= 180);
    CHECK(replies <= 220);
  }
  for (unsigned seed = 1; seed <= 5; ++seed) {
    std::mt19937 rng(seed);
    ClientLog log(1 << 16, limiter(6, 2, 4, 2), kKey);
    int requests = 0, replies = 0, kods = 0;
    for (double t = 0; t < 10000;) {
      auto i = log.log_access(ip4(1), at(t));
      ++requests;
      const RateDecision d = log.limit(i, static_cast<std::uint32_t>(rng()));
      replies += d != RateDecision::Drop;
      kods += d == RateDecision::Kod;
      t += d == RateDecision::Kod ? 8 + 4 * 8 : 8;
    }
    INFO("seed " << seed << ": " << requests << " requests, " << replies << " replies, " << kods << " KoD");
    CHECK(requests >= 700);
    CHECK(requests <= 850);
    CHECK(replies >= 350);
    CHECK(replies <= 450);
    CHECK(kods >= 100);
    CHECK(kods <= 140);
  }
}

TEST_CASE("Locating a client first finds the same record") {
  ClientLog log(1 << 16, {}, kKey);
  const auto where = log.locate(ip4(0x0A0B0C0D));
  auto a = log.log_access(where, at(0));
  CHECK(log.log_access(ip4(0x0A0B0C0D), at(1)) == a);
  CHECK(log.log_access(log.locate(ip4(0x0A0B0C0D)), at(2)) == a);
  CHECK(log.find_index(ip4(0x0A0B0C0D)) == a);
  CHECK(log.find_index(ip4(0x0A0B0C0E)) == ClientLog::kNoRecord);
  CHECK(log.report(a, at(2), 0, false)->hits == 3);
  log.count_drop(a);
  CHECK(log.report(a, at(2), 0, false)->drops == 1);
  // A location from a log that is off is harmless.
  ClientLog off(0, {}, kKey);
  CHECK(off.log_access(off.locate(ip4(1)), at(0)) == ClientLog::kNoRecord);
}
