// Time representations: absolute instants, NTP 64-bit timestamps (32.32, era
// aware) and NTP short format (16.16). All conversions are exact or rounded to
// nearest, and constexpr so that tests can check them at compile time.
#pragma once

#include <cstdint>
#include <ctime>

namespace gnomon {

// Seconds between the NTP prime epoch (1900-01-01) and the Unix epoch (1970-01-01).
inline constexpr std::int64_t kNtpUnixOffsetS = 2208988800LL;
inline constexpr std::int64_t kNsPerS = 1000000000LL;
// Length of one NTP era in seconds (2^32).
inline constexpr std::int64_t kNtpEraS = 1LL << 32;

// A signed span of time in nanoseconds.
struct Duration {
  std::int64_t ns = 0;

  // Saturates at about +-292 years; NaN is 0.
  static constexpr Duration from_seconds(double s) {
    constexpr double kLimitS = 9.2e9;
    if (!(s == s)) return Duration{0};
    if (s >= kLimitS) return Duration{static_cast<std::int64_t>(kLimitS * 1e9)};
    if (s <= -kLimitS) return Duration{-static_cast<std::int64_t>(kLimitS * 1e9)};
    return Duration{static_cast<std::int64_t>(s * 1e9 + (s >= 0 ? 0.5 : -0.5))};
  }
  static constexpr Duration from_ms(std::int64_t ms) { return Duration{ms * 1000000}; }
  static constexpr Duration seconds(std::int64_t s) { return Duration{s * kNsPerS}; }
  [[nodiscard]] constexpr double to_seconds() const { return static_cast<double>(ns) * 1e-9; }

  constexpr Duration operator-() const { return Duration{-ns}; }
  constexpr Duration operator+(Duration o) const { return Duration{ns + o.ns}; }
  constexpr Duration operator-(Duration o) const { return Duration{ns - o.ns}; }
  constexpr auto operator<=>(const Duration&) const = default;
};

// An instant on the (possibly simulated) system clock: nanoseconds since the
// Unix epoch, leap seconds not counted. int64 covers the years 1677..2262.
struct TimePoint {
  std::int64_t unix_ns = 0;

  static constexpr TimePoint from_timespec(const std::timespec& ts) {
    return TimePoint{static_cast<std::int64_t>(ts.tv_sec) * kNsPerS + ts.tv_nsec};
  }
  [[nodiscard]] constexpr std::timespec to_timespec() const {
    std::int64_t s = unix_ns / kNsPerS;
    std::int64_t n = unix_ns % kNsPerS;
    if (n < 0) {
      n += kNsPerS;
      --s;
    }
    std::timespec ts{};
    ts.tv_sec = static_cast<std::time_t>(s);
    ts.tv_nsec = static_cast<long>(n);
    return ts;
  }
  static constexpr TimePoint from_seconds(double s) {
    return TimePoint{Duration::from_seconds(s).ns};
  }
  [[nodiscard]] constexpr double to_seconds() const { return static_cast<double>(unix_ns) * 1e-9; }

  constexpr TimePoint operator+(Duration d) const { return TimePoint{unix_ns + d.ns}; }
  constexpr TimePoint operator-(Duration d) const { return TimePoint{unix_ns - d.ns}; }
  constexpr Duration operator-(TimePoint o) const { return Duration{unix_ns - o.unix_ns}; }
  constexpr TimePoint& operator+=(Duration d) {
    unix_ns += d.ns;
    return *this;
  }
  constexpr auto operator<=>(const TimePoint&) const = default;
};

// NTP 64-bit timestamp: seconds since the start of the current era, and a
// 32-bit binary fraction. The era is not carried on the wire; it is resolved
// against a pivot instant when converting back (RFC 5905 section 6).
struct NtpTimestamp {
  std::uint32_t seconds = 0;
  std::uint32_t fraction = 0;

  static constexpr NtpTimestamp from_u64(std::uint64_t v) {
    return NtpTimestamp{static_cast<std::uint32_t>(v >> 32), static_cast<std::uint32_t>(v)};
  }
  [[nodiscard]] constexpr std::uint64_t to_u64() const {
    return (static_cast<std::uint64_t>(seconds) << 32) | fraction;
  }
  [[nodiscard]] constexpr bool is_zero() const { return seconds == 0 && fraction == 0; }

  // Rounds to the nearest fraction unit (~233 ps).
  static constexpr NtpTimestamp from_time(TimePoint t) {
    std::int64_t s = t.unix_ns / kNsPerS;
    std::int64_t n = t.unix_ns % kNsPerS;
    if (n < 0) {
      n += kNsPerS;
      --s;
    }
    std::uint64_t frac = ((static_cast<std::uint64_t>(n) << 32) + kNsPerS / 2) / kNsPerS;
    if (frac >> 32) {  // rounded up to a whole second
      frac = 0;
      ++s;
    }
    return NtpTimestamp{static_cast<std::uint32_t>(static_cast<std::uint64_t>(s + kNtpUnixOffsetS)),
                        static_cast<std::uint32_t>(frac)};
  }

  // Resolves the era so that the result lies within 2^31 s of `pivot`, and
  // rounds the fraction to the nearest nanosecond. Exact inverse of from_time.
  [[nodiscard]] constexpr TimePoint to_time(TimePoint pivot) const {
    std::int64_t pivot_s = pivot.unix_ns / kNsPerS + kNtpUnixOffsetS;  // NTP seconds, any era
    std::int64_t diff = static_cast<std::int64_t>(static_cast<std::int32_t>(
        seconds - static_cast<std::uint32_t>(static_cast<std::uint64_t>(pivot_s))));
    std::int64_t ntp_s = pivot_s + diff;
    std::int64_t ns = static_cast<std::int64_t>((static_cast<std::uint64_t>(fraction) * kNsPerS +
                                                 (1ULL << 31)) >> 32);
    return TimePoint{(ntp_s - kNtpUnixOffsetS) * kNsPerS + ns};
  }

  constexpr bool operator==(const NtpTimestamp&) const = default;
};

// NTP short format: 16-bit seconds and a 16-bit fraction, used for root delay
// and root dispersion. Unsigned on the wire.
struct NtpShort {
  std::uint32_t raw = 0;

  // Saturates at the representable range [0, 65536) s; rounds up so that an
  // error bound is never understated.
  static constexpr NtpShort from_seconds(double s) {
    if (!(s > 0.0)) return NtpShort{0};
    if (s >= 65535.99998) return NtpShort{0xFFFFFFFFu};
    double units = s * 65536.0;
    auto whole = static_cast<std::uint32_t>(units);
    if (static_cast<double>(whole) < units) ++whole;
    return NtpShort{whole};
  }
  [[nodiscard]] constexpr double to_seconds() const { return static_cast<double>(raw) / 65536.0; }
  constexpr bool operator==(const NtpShort&) const = default;
};

// Converts a log2-seconds value (poll, precision) to seconds. Clamped to
// [-30, 30] so that a hostile value is never used as a raw shift count.
[[nodiscard]] constexpr double log2_to_seconds(int log2) {
  if (log2 < -30) log2 = -30;
  if (log2 > 30) log2 = 30;
  return log2 >= 0 ? static_cast<double>(1LL << log2) : 1.0 / static_cast<double>(1LL << -log2);
}

}  // namespace gnomon
