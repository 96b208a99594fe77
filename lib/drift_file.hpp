// The drift file's text, in chrony's format: "%20.6f %20.6f\n", the clock's
// frequency error in ppm (+ = the uncorrected clock runs fast, see
// lib/clock.hpp) and its skew (error bound) in ppm. Reading and the atomic
// write (tmp, fsync, rename, fsync of the directory) are the daemon's job;
// this is the parse and the format only. Parsing never throws: a bad file
// gives an error value, and the daemon warns and keeps the kernel frequency.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace gnomon {

// Largest frequency accepted from a drift file, ppm (chrony's maxdrift).
inline constexpr double kMaxDriftFreqPpm = 100000.0;
// Largest skew accepted, ppm (chrony starts from a skew of 1e6 ppm).
inline constexpr double kMaxDriftSkewPpm = 1e6;

struct DriftData {
  double freq_ppm = 0.0;
  double skew_ppm = 0.0;
  bool operator==(const DriftData&) const = default;
};

enum class DriftFileError : std::uint8_t {
  Empty,        // nothing but white space
  Malformed,    // not two numbers (or trailing garbage)
  NotFinite,    // nan or inf
  OutOfRange,   // |freq| > kMaxDriftFreqPpm, or skew < 0 or > kMaxDriftSkewPpm
};

[[nodiscard]] const char* to_string(DriftFileError e);

// Parses two numbers separated by white space; only white space may follow.
// chrony's own files parse.
[[nodiscard]] std::variant<DriftData, DriftFileError> parse_drift_file(std::string_view text);

// "%20.6f %20.6f\n". Non-finite or out-of-range values are clamped into
// range (nan -> 0), so that the result always parses.
[[nodiscard]] std::string format_drift_file(const DriftData& drift);

}  // namespace gnomon
