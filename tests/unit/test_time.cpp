// lib/time.hpp: NTP timestamps (era wrap, rounding, round trips), timespec
// conversions, NtpShort and log2 conversions.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "lib/time.hpp"

using namespace gnomon;

namespace {

// Unix time of the first NTP era boundary: 2036-02-07 06:28:16 UTC.
constexpr std::int64_t kEra1UnixS = kNtpEraS - kNtpUnixOffsetS;

constexpr TimePoint at_s(std::int64_t unix_s, std::int64_t ns = 0) {
  return TimePoint{unix_s * kNsPerS + ns};
}

}  // namespace

TEST_CASE("era boundary is 2036-02-07 06:28:16 UTC", "[time]") {
  STATIC_REQUIRE(kEra1UnixS == 2085978496);
  STATIC_REQUIRE(NtpTimestamp::from_time(at_s(kEra1UnixS)) == NtpTimestamp{0, 0});
  STATIC_REQUIRE(NtpTimestamp::from_time(at_s(kEra1UnixS - 1)) == NtpTimestamp{0xFFFFFFFFu, 0});
  STATIC_REQUIRE(NtpTimestamp::from_time(at_s(0)) ==
                 NtpTimestamp{static_cast<std::uint32_t>(kNtpUnixOffsetS), 0});
}

TEST_CASE("era resolution across the 2036 wrap", "[time]") {
  const TimePoint before = at_s(kEra1UnixS - 10, 250'000'000);
  const TimePoint after = at_s(kEra1UnixS + 10, 750'000'000);
  const NtpTimestamp ts_before = NtpTimestamp::from_time(before);
  const NtpTimestamp ts_after = NtpTimestamp::from_time(after);
  CHECK(ts_before.seconds == 0xFFFFFFF6u);
  CHECK(ts_after.seconds == 10u);

  // Either pivot resolves both timestamps to the right era.
  for (TimePoint pivot : {before, after, at_s(kEra1UnixS), at_s(kEra1UnixS - 1'000'000'000),
                          at_s(kEra1UnixS + 1'000'000'000)}) {
    CHECK(ts_before.to_time(pivot) == before);
    CHECK(ts_after.to_time(pivot) == after);
  }
  // Pivots almost 2^31 s away still resolve to the same era; a pivot a whole
  // era later resolves to the next one.
  CHECK(ts_after.to_time(at_s(kEra1UnixS + (kNtpEraS / 2) - 100)) == after);
  CHECK(ts_before.to_time(at_s(kEra1UnixS - (kNtpEraS / 2) + 100)) == before);
  CHECK(ts_after.to_time(at_s(kEra1UnixS + kNtpEraS)) == at_s(kEra1UnixS + kNtpEraS + 10, 750'000'000));
  // And the era before 1900 + 2^32 s: an era-0 date resolved from 1970.
  CHECK(NtpTimestamp{static_cast<std::uint32_t>(kNtpUnixOffsetS), 0}.to_time(at_s(0)) == at_s(0));
}

TEST_CASE("era resolution picks the value within 2^31 s of the pivot", "[time]") {
  std::mt19937_64 rng(12345);
  std::uniform_int_distribution<std::int64_t> unix_ns(-2'000'000'000LL * kNsPerS,
                                                       7'000'000'000LL * kNsPerS);
  std::uniform_int_distribution<std::int64_t> offset_s(-(kNtpEraS / 2) + 3, (kNtpEraS / 2) - 3);
  for (int i = 0; i < 100'000; ++i) {
    const TimePoint t{unix_ns(rng)};
    const TimePoint pivot = t + Duration::seconds(offset_s(rng));
    REQUIRE(NtpTimestamp::from_time(t).to_time(pivot) == t);
  }
}

TEST_CASE("TimePoint -> NtpTimestamp -> TimePoint is exact to the nanosecond", "[time]") {
  // Every nanosecond value in a second round-trips; check edges and a sweep.
  for (std::int64_t ns : {0LL, 1LL, 2LL, 3LL, 232LL, 233LL, 499'999'999LL, 500'000'000LL,
                          500'000'001LL, 999'999'998LL, 999'999'999LL}) {
    const TimePoint t = at_s(1'700'000'000, ns);
    CHECK(NtpTimestamp::from_time(t).to_time(t) == t);
  }
  for (std::int64_t ns = 0; ns < kNsPerS; ns += 9973) {
    const TimePoint t = at_s(1'700'000'000, ns);
    REQUIRE(NtpTimestamp::from_time(t).to_time(t) == t);
  }
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> dist(std::numeric_limits<std::int64_t>::min() / 2,
                                                   std::numeric_limits<std::int64_t>::max() / 2);
  for (int i = 0; i < 200'000; ++i) {
    const TimePoint t{dist(rng)};
    REQUIRE(NtpTimestamp::from_time(t).to_time(t) == t);
  }
}

TEST_CASE("negative Unix times (before 1970) convert correctly", "[time]") {
  const TimePoint t{-1};  // 1969-12-31 23:59:59.999999999
  const NtpTimestamp ts = NtpTimestamp::from_time(t);
  CHECK(ts.seconds == static_cast<std::uint32_t>(kNtpUnixOffsetS - 1));
  CHECK(ts.fraction == 0xFFFFFFFCu);  // round(0.999999999 * 2^32)
  CHECK(ts.to_time(t) == t);

  const TimePoint half{-500'000'000};
  CHECK(NtpTimestamp::from_time(half) ==
        NtpTimestamp{static_cast<std::uint32_t>(kNtpUnixOffsetS - 1), 0x80000000u});
  CHECK(NtpTimestamp::from_time(half).to_time(TimePoint{}) == half);

  // Before 1900: NTP era -1.
  const TimePoint pre1900 = at_s(-kNtpUnixOffsetS - 1, 250'000'000);
  const NtpTimestamp ts_pre = NtpTimestamp::from_time(pre1900);
  CHECK(ts_pre.seconds == 0xFFFFFFFFu);
  CHECK(ts_pre.fraction == 0x40000000u);
  CHECK(ts_pre.to_time(pre1900) == pre1900);
}

TEST_CASE("fraction rounding", "[time]") {
  // TimePoint -> fraction rounds to nearest.
  STATIC_REQUIRE(NtpTimestamp::from_time(at_s(0, 500'000'000)).fraction == 0x80000000u);
  STATIC_REQUIRE(NtpTimestamp::from_time(at_s(0, 250'000'000)).fraction == 0x40000000u);
  STATIC_REQUIRE(NtpTimestamp::from_time(at_s(0, 1)).fraction == 4u);  // 4.295 -> 4
  STATIC_REQUIRE(NtpTimestamp::from_time(at_s(0, 3)).fraction == 13u);  // 12.885 -> 13
  STATIC_REQUIRE(NtpTimestamp::from_time(at_s(0, 999'999'999)).fraction == 0xFFFFFFFCu);

  // fraction -> ns rounds to nearest; the top fraction rounds to the next second.
  const TimePoint pivot = at_s(1'700'000'000);
  const std::uint32_t s = NtpTimestamp::from_time(pivot).seconds;
  CHECK(NtpTimestamp{s, 1}.to_time(pivot) == pivot);             // 0.23 ns -> 0
  CHECK(NtpTimestamp{s, 3}.to_time(pivot) == pivot + Duration{1});  // 0.70 ns -> 1
  CHECK(NtpTimestamp{s, 0x80000000u}.to_time(pivot) == pivot + Duration{500'000'000});
  CHECK(NtpTimestamp{s, 0xFFFFFFFFu}.to_time(pivot) == pivot + Duration::seconds(1));

  // Any fraction -> ns -> fraction lands within one fraction unit.
  std::mt19937 rng(7);
  for (int i = 0; i < 100'000; ++i) {
    const NtpTimestamp ts{s, static_cast<std::uint32_t>(rng())};
    const NtpTimestamp back = NtpTimestamp::from_time(ts.to_time(pivot));
    const std::int64_t diff = static_cast<std::int64_t>(back.to_u64()) -
                              static_cast<std::int64_t>(ts.to_u64());
    REQUIRE(std::llabs(diff) <= 3);  // 0.5 ns is 2.15 units
  }
}

TEST_CASE("u64 packing", "[time]") {
  STATIC_REQUIRE(NtpTimestamp{0x12345678u, 0x9ABCDEF0u}.to_u64() == 0x123456789ABCDEF0ull);
  STATIC_REQUIRE(NtpTimestamp::from_u64(0x123456789ABCDEF0ull) == NtpTimestamp{0x12345678u, 0x9ABCDEF0u});
  STATIC_REQUIRE(NtpTimestamp{}.is_zero());
  STATIC_REQUIRE(!NtpTimestamp{0, 1}.is_zero());
  STATIC_REQUIRE(!NtpTimestamp{1, 0}.is_zero());
}

TEST_CASE("timespec <-> TimePoint round trips", "[time]") {
  std::timespec ts{};
  ts.tv_sec = 1'700'000'000;
  ts.tv_nsec = 123'456'789;
  const TimePoint t = TimePoint::from_timespec(ts);
  CHECK(t.unix_ns == 1'700'000'000'123'456'789LL);
  const std::timespec back = t.to_timespec();
  CHECK(back.tv_sec == ts.tv_sec);
  CHECK(back.tv_nsec == ts.tv_nsec);

  // Negative instants normalise to 0 <= tv_nsec < 1e9.
  const std::timespec neg = TimePoint{-1}.to_timespec();
  CHECK(neg.tv_sec == -1);
  CHECK(neg.tv_nsec == 999'999'999);
  const std::timespec neg_whole = TimePoint{-2 * kNsPerS}.to_timespec();
  CHECK(neg_whole.tv_sec == -2);
  CHECK(neg_whole.tv_nsec == 0);

  std::mt19937_64 rng(99);
  std::uniform_int_distribution<std::int64_t> dist(-4'000'000'000LL * kNsPerS,
                                                   8'000'000'000LL * kNsPerS);
  for (int i = 0; i < 100'000; ++i) {
    const TimePoint p{dist(rng)};
    const std::timespec s = p.to_timespec();
    REQUIRE(s.tv_nsec >= 0);
    REQUIRE(s.tv_nsec < kNsPerS);
    REQUIRE(TimePoint::from_timespec(s) == p);
    // ... and through the NTP format, resolved against itself.
    REQUIRE(NtpTimestamp::from_time(TimePoint::from_timespec(s)).to_time(p) == p);
  }
}

TEST_CASE("Duration and TimePoint arithmetic and seconds conversions", "[time]") {
  STATIC_REQUIRE(Duration::from_seconds(1.5).ns == 1'500'000'000);
  STATIC_REQUIRE(Duration::from_seconds(-1.5).ns == -1'500'000'000);
  STATIC_REQUIRE(Duration::from_seconds(1e-9 * 0.6).ns == 1);   // rounds to nearest
  STATIC_REQUIRE(Duration::from_seconds(-1e-9 * 0.6).ns == -1);
  STATIC_REQUIRE(Duration::from_seconds(1e-9 * 0.4).ns == 0);
  STATIC_REQUIRE(Duration::from_ms(-3).ns == -3'000'000);
  STATIC_REQUIRE(Duration::seconds(2).ns == 2 * kNsPerS);
  STATIC_REQUIRE((at_s(10) - at_s(3)) == Duration::seconds(7));
  STATIC_REQUIRE((at_s(10) + Duration{-5}).unix_ns == 10 * kNsPerS - 5);
  STATIC_REQUIRE(-Duration{5} < Duration{});
  CHECK(Duration{1'500'000'000}.to_seconds() == 1.5);
  CHECK(TimePoint::from_seconds(-0.25).unix_ns == -250'000'000);
  CHECK(at_s(2).to_seconds() == 2.0);
  TimePoint t = at_s(1);
  t += Duration::from_ms(500);
  CHECK(t.unix_ns == 1'500'000'000);
}

TEST_CASE("NtpShort rounds up and saturates", "[time]") {
  STATIC_REQUIRE(NtpShort::from_seconds(0.0).raw == 0);
  STATIC_REQUIRE(NtpShort::from_seconds(-5.0).raw == 0);
  STATIC_REQUIRE(NtpShort::from_seconds(1.0).raw == 0x00010000u);
  STATIC_REQUIRE(NtpShort::from_seconds(0.5).raw == 0x00008000u);
  STATIC_REQUIRE(NtpShort::from_seconds(1e-9).raw == 1);  // never understated
  STATIC_REQUIRE(NtpShort::from_seconds(1.0 / 65536.0).raw == 1);
  STATIC_REQUIRE(NtpShort::from_seconds(1.5 / 65536.0).raw == 2);
  STATIC_REQUIRE(NtpShort::from_seconds(65535.0).raw == 0xFFFF0000u);
  STATIC_REQUIRE(NtpShort::from_seconds(65536.0).raw == 0xFFFFFFFFu);
  STATIC_REQUIRE(NtpShort::from_seconds(1e30).raw == 0xFFFFFFFFu);
  CHECK(NtpShort::from_seconds(std::numeric_limits<double>::infinity()).raw == 0xFFFFFFFFu);
  CHECK(NtpShort::from_seconds(std::numeric_limits<double>::quiet_NaN()).raw == 0);
  CHECK(NtpShort::from_seconds(-std::numeric_limits<double>::infinity()).raw == 0);
  CHECK(NtpShort{0x00018000u}.to_seconds() == 1.5);

  // Monotone and never below the input, everywhere up to saturation.
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> dist(0.0, 70000.0);
  for (int i = 0; i < 100'000; ++i) {
    const double s = dist(rng);
    const NtpShort v = NtpShort::from_seconds(s);
    if (v.raw != 0xFFFFFFFFu) {
      REQUIRE(v.to_seconds() >= s);
      REQUIRE(v.to_seconds() - s < 1.0 / 65536.0);
    } else {
      REQUIRE(s > 65535.99);
    }
  }
}

TEST_CASE("log2_to_seconds clamps hostile values", "[time]") {
  STATIC_REQUIRE(log2_to_seconds(0) == 1.0);
  STATIC_REQUIRE(log2_to_seconds(6) == 64.0);
  STATIC_REQUIRE(log2_to_seconds(-1) == 0.5);
  STATIC_REQUIRE(log2_to_seconds(-20) == 1.0 / 1048576.0);
  STATIC_REQUIRE(log2_to_seconds(30) == 1073741824.0);
  STATIC_REQUIRE(log2_to_seconds(127) == 1073741824.0);
  STATIC_REQUIRE(log2_to_seconds(-128) == 1.0 / 1073741824.0);
  STATIC_REQUIRE(log2_to_seconds(std::numeric_limits<int>::max()) == 1073741824.0);
  STATIC_REQUIRE(log2_to_seconds(std::numeric_limits<int>::min()) == 1.0 / 1073741824.0);
}
