// gnomonc's JSON output (-j). The schema is documented at the top of
// json_format.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cmdmon.hpp"

namespace gnomon::gnomonc {

// A minimal JSON text builder: commas and string escaping are handled here.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(double d);  // NaN and infinities become null
  JsonWriter& value(std::int64_t i);
  JsonWriter& value(std::uint64_t u);
  JsonWriter& value(int i) { return value(static_cast<std::int64_t>(i)); }
  JsonWriter& value(unsigned u) { return value(static_cast<std::uint64_t>(u)); }
  JsonWriter& value(bool b);
  JsonWriter& null();
  [[nodiscard]] const std::string& str() const { return out_; }

 private:
  void separate();
  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

namespace json {

// Each writes one object (the caller places it in an array or document).
void source(JsonWriter& w, const cmdmon::SourceReport& r, std::string_view name);
void sourcestats(JsonWriter& w, const cmdmon::SourcestatsReport& r, std::string_view name);
void selectdata(JsonWriter& w, const cmdmon::SelectDataReport& r, std::string_view name);
void client(JsonWriter& w, const cmdmon::ClientAccessReport& r, std::string_view name);
void ntpdata(JsonWriter& w, const cmdmon::NtpDataReport& r);
// Complete documents.
[[nodiscard]] std::string tracking(const cmdmon::TrackingReport& r, std::string_view name);
[[nodiscard]] std::string activity(const cmdmon::ActivityReport& r);
[[nodiscard]] std::string serverstats(const cmdmon::ServerStatsReport& r);
// {"status": 200, "message": "OK"}; {"error": {"code": 501, "message": "Not authorised"}}
[[nodiscard]] std::string status(std::string_view status_line);
[[nodiscard]] std::string error(std::string_view status_line);

}  // namespace json
}  // namespace gnomon::gnomonc
