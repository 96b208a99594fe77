// The drift file's text: chrony's format, and every bad input of
// the bad-input checklist gives an error value (never a crash or a throw).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <variant>

#include "lib/drift_file.hpp"

using namespace gnomon;

namespace {

bool is_error(const std::variant<DriftData, DriftFileError>& r, DriftFileError e) {
  return std::holds_alternative<DriftFileError>(r) && std::get<DriftFileError>(r) == e;
}

}  // namespace

TEST_CASE("format is chrony's %20.6f %20.6f", "[drift]") {
  const std::string s = format_drift_file(DriftData{-12.3456789, 0.25});
  CHECK(s == "          -12.345679             0.250000\n");
  CHECK(s.size() == 42);
}

TEST_CASE("round trip", "[drift]") {
  for (double f : {0.0, 1.5, -499.999999, 100000.0, -100000.0}) {
    const auto r = parse_drift_file(format_drift_file(DriftData{f, 3.25}));
    REQUIRE(std::holds_alternative<DriftData>(r));
    CHECK(std::get<DriftData>(r).freq_ppm == Approx(f));
    CHECK(std::get<DriftData>(r).skew_ppm == Approx(3.25));
  }
}

TEST_CASE("chrony's own files and harmless variations parse", "[drift]") {
  auto ok = [](const char* text, double f, double s) {
    const auto r = parse_drift_file(text);
    REQUIRE(std::holds_alternative<DriftData>(r));
    CHECK(std::get<DriftData>(r).freq_ppm == Approx(f));
    CHECK(std::get<DriftData>(r).skew_ppm == Approx(s));
  };
  ok("            1.234000             0.012000\n", 1.234, 0.012);
  ok("1.5 2", 1.5, 2.0);
  ok("  -3e1\t+4.0  \n\n", -30.0, 4.0);
  ok("7\n8\n", 7.0, 8.0);
  ok("0 1000000", 0.0, 1e6);  // the skew chrony starts from
}

TEST_CASE("bad drift files give an error value", "[drift]") {
  CHECK(is_error(parse_drift_file(""), DriftFileError::Empty));
  CHECK(is_error(parse_drift_file("   \n\t "), DriftFileError::Empty));
  CHECK(is_error(parse_drift_file("abc"), DriftFileError::Malformed));
  CHECK(is_error(parse_drift_file("1.0 abc"), DriftFileError::Malformed));
  CHECK(is_error(parse_drift_file("1.0"), DriftFileError::Malformed));           // truncated
  CHECK(is_error(parse_drift_file("            1.2"), DriftFileError::Malformed));  // truncated
  CHECK(is_error(parse_drift_file("1.0 2.0 3.0"), DriftFileError::Malformed));
  CHECK(is_error(parse_drift_file("1.0x 2.0"), DriftFileError::Malformed));
  CHECK(is_error(parse_drift_file("+-1 2"), DriftFileError::Malformed));
  CHECK(is_error(parse_drift_file(std::string("1.0\0 2.0", 8)), DriftFileError::Malformed));
  CHECK(is_error(parse_drift_file("nan nan"), DriftFileError::NotFinite));
  CHECK(is_error(parse_drift_file("1 nan"), DriftFileError::NotFinite));
  CHECK(is_error(parse_drift_file("inf 0"), DriftFileError::OutOfRange));
  CHECK(is_error(parse_drift_file("1e308 0"), DriftFileError::OutOfRange));
  CHECK(is_error(parse_drift_file("1e999 0"), DriftFileError::OutOfRange));
  CHECK(is_error(parse_drift_file("100000.1 0"), DriftFileError::OutOfRange));
  CHECK(is_error(parse_drift_file("1 -0.5"), DriftFileError::OutOfRange));
  CHECK(is_error(parse_drift_file("1 1e7"), DriftFileError::OutOfRange));
  CHECK(std::string(to_string(DriftFileError::Malformed)).size() > 0);
}

TEST_CASE("long garbage is handled", "[drift]") {
  std::string s(100000, '9');
  CHECK(is_error(parse_drift_file(s), DriftFileError::Malformed));
  s += " 1";
  CHECK(is_error(parse_drift_file(s), DriftFileError::OutOfRange));
}

TEST_CASE("formatting never writes what cannot be read back", "[drift]") {
  for (const DriftData& d : {DriftData{std::nan(""), std::nan("")}, DriftData{1e308, -1.0},
                             DriftData{-INFINITY, INFINITY}}) {
    const auto r = parse_drift_file(format_drift_file(d));
    CHECK(std::holds_alternative<DriftData>(r));
  }
}
