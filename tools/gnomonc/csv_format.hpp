// chronyc's CSV output (-c): one line per record, fields separated by ',',
// no headers or legends. Offsets in seconds with 9 decimals, frequencies in
// ppm with 3, intervals as raw seconds (4294967295 = never), log2 intervals
// as numbers (127 = none), times as seconds.nanoseconds since the epoch.
#pragma once

#include <string>
#include <string_view>

#include "lib/cmdmon.hpp"

namespace gnomon::gnomonc::csv {

[[nodiscard]] std::string sources_row(const cmdmon::SourceReport& r, std::string_view name);
[[nodiscard]] std::string sourcestats_row(const cmdmon::SourcestatsReport& r, std::string_view name);
[[nodiscard]] std::string selectdata_row(const cmdmon::SelectDataReport& r, std::string_view name);
[[nodiscard]] std::string tracking(const cmdmon::TrackingReport& r, std::string_view name);
[[nodiscard]] std::string activity(const cmdmon::ActivityReport& r);
[[nodiscard]] std::string serverstats(const cmdmon::ServerStatsReport& r);
[[nodiscard]] std::string ntpdata(const cmdmon::NtpDataReport& r);
[[nodiscard]] std::string clients_row(const cmdmon::ClientAccessReport& r, std::string_view name, bool nts);
// "1795785093.638425793"
[[nodiscard]] std::string epoch_time(TimePoint t);

}  // namespace gnomon::gnomonc::csv
