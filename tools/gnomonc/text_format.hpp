// chronyc 4.3's human-readable layout, as pure functions of the decoded
// reports: column widths, unit scaling (ns/us/ms/s at 9999.5), LastRx units,
// octal reach, the `-v` legends, and the status lines ("200 OK", "501 Not
// authorised"). Every returned row ends with '\n'.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/cmdmon.hpp"

namespace gnomon::gnomonc {

// printf into a std::string.
[[nodiscard]] std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));

namespace text {

// Field renderers, each as wide as chronyc's column.
[[nodiscard]] std::string interval(std::uint32_t seconds);   // "  14", " 20m", "  3h", " 12d", "  3y", "   -"
[[nodiscard]] std::string nanoseconds(double seconds);       // " 3137ns", "  49ms", "  1.5s" (absolute value)
[[nodiscard]] std::string signed_nanoseconds(double seconds);// "  -835ns", " +817us"
[[nodiscard]] std::string freq_ppm(double ppm);              // "%10.3f", "%10.0f" from 99999.5
[[nodiscard]] std::string signed_freq_ppm(double ppm);
[[nodiscard]] std::string clientlog_interval(int log2);      // "%2d", " -" from 127
[[nodiscard]] std::string leap(Leap leap);                   // "Normal", "Insert second", ...
[[nodiscard]] char leap_letter(Leap leap);                   // 'N', '+', '-', '?'
[[nodiscard]] std::string utc_date(TimePoint t);             // "Fri Nov 27 13:11:33 2026"
[[nodiscard]] char mode_symbol(cmdmon::SourceMode mode);     // '^', '=', '#'
[[nodiscard]] char state_symbol(cmdmon::SourceState state);  // '*', '+', '-', 'x', '~', '?'
[[nodiscard]] std::string ntp_mode(std::uint8_t mode);       // "Server", "Symmetric active", ...
[[nodiscard]] std::string timestamping(char source);         // "Daemon", "Kernel", "Hardware"

// A title line and a line of '=' as long as it.
[[nodiscard]] std::string header(std::string_view title);

[[nodiscard]] std::string sources_legend();
[[nodiscard]] std::string sources_header();
[[nodiscard]] std::string sources_row(const cmdmon::SourceReport& r, std::string_view name);

[[nodiscard]] std::string sourcestats_legend();
[[nodiscard]] std::string sourcestats_header();
[[nodiscard]] std::string sourcestats_row(const cmdmon::SourcestatsReport& r, std::string_view name);

[[nodiscard]] std::string selectdata_legend();
[[nodiscard]] std::string selectdata_header();
[[nodiscard]] std::string selectdata_row(const cmdmon::SelectDataReport& r, std::string_view name);

[[nodiscard]] std::string tracking(const cmdmon::TrackingReport& r, std::string_view name);
[[nodiscard]] std::string activity(const cmdmon::ActivityReport& r);  // without the "200 OK" line
[[nodiscard]] std::string serverstats(const cmdmon::ServerStatsReport& r);
[[nodiscard]] std::string ntpdata(const cmdmon::NtpDataReport& r);

// `nts` selects the NTS-KE columns instead of the command columns (clients -k).
[[nodiscard]] std::string clients_header(bool nts);
[[nodiscard]] std::string clients_row(const cmdmon::ClientAccessReport& r, std::string_view name, bool nts);

// chronyc's line for a reply status: "200 OK", "501 Not authorised", ...
[[nodiscard]] std::string status_line(std::uint16_t status);

}  // namespace text
}  // namespace gnomon::gnomonc
