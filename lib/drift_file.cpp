#include "lib/drift_file.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace gnomon {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

void skip_space(std::string_view text, std::size_t& pos) {
  while (pos < text.size() && is_space(text[pos])) ++pos;
}

// One decimal or exponent number ("+1.5", "-2e3", "nan", "inf"), from `pos`.
bool parse_number(std::string_view text, std::size_t& pos, double& out) {
  std::size_t begin = pos;
  if (begin < text.size() && text[begin] == '+') {  // from_chars refuses '+'
    ++begin;
    if (begin < text.size() && text[begin] == '-') return false;
  }
  std::size_t end = begin;
  while (end < text.size() && !is_space(text[end])) ++end;
  if (end == begin) return false;
  const char* first = text.data() + begin;
  const char* last = text.data() + end;
  auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec == std::errc::result_out_of_range) {
    out = HUGE_VAL;  // reported as out of range, not malformed
  } else if (ec != std::errc{}) {
    return false;
  }
  if (ptr != last) return false;
  pos = end;
  return true;
}

double clamp_finite(double v, double lo, double hi) {
  if (!std::isfinite(v)) return std::isnan(v) ? 0.0 : (v > 0 ? hi : lo);
  return std::clamp(v, lo, hi);
}

}  // namespace

const char* to_string(DriftFileError e) {
  switch (e) {
    case DriftFileError::Empty: return "empty";
    case DriftFileError::Malformed: return "not two numbers";
    case DriftFileError::NotFinite: return "not a finite number";
    case DriftFileError::OutOfRange: return "value out of range";
  }
  return "invalid";
}

std::variant<DriftData, DriftFileError> parse_drift_file(std::string_view text) {
  std::size_t pos = 0;
  skip_space(text, pos);
  if (pos >= text.size()) return DriftFileError::Empty;
  DriftData d;
  if (!parse_number(text, pos, d.freq_ppm)) return DriftFileError::Malformed;
  skip_space(text, pos);
  if (pos >= text.size()) return DriftFileError::Malformed;
  if (!parse_number(text, pos, d.skew_ppm)) return DriftFileError::Malformed;
  skip_space(text, pos);
  if (pos != text.size()) return DriftFileError::Malformed;
  if (!std::isfinite(d.freq_ppm) && !std::isinf(d.freq_ppm)) return DriftFileError::NotFinite;
  if (!std::isfinite(d.skew_ppm) && !std::isinf(d.skew_ppm)) return DriftFileError::NotFinite;
  if (std::isinf(d.freq_ppm) || std::isinf(d.skew_ppm)) {
    // "inf" written out, or a number beyond double's range.
    return DriftFileError::OutOfRange;
  }
  if (std::fabs(d.freq_ppm) > kMaxDriftFreqPpm || d.skew_ppm < 0.0 ||
      d.skew_ppm > kMaxDriftSkewPpm)
    return DriftFileError::OutOfRange;
  return d;
}

std::string format_drift_file(const DriftData& drift) {
  const double freq = clamp_finite(drift.freq_ppm, -kMaxDriftFreqPpm, kMaxDriftFreqPpm);
  const double skew = clamp_finite(drift.skew_ppm, 0.0, kMaxDriftSkewPpm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%20.6f %20.6f\n", freq, skew);
  return std::string(buf);
}

}  // namespace gnomon
