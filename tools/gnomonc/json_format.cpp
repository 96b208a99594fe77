// gnomonc -j: JSON output schema.
//
// Every command prints one JSON object and a newline. Units are SI and are
// named in the keys: seconds (_s), parts per million (_ppm), log2 seconds
// (_log2). A value that chronyc shows as "-" (never, none) is null. "name" is
// what the text output shows in its name column (reverse DNS unless -n, the
// refid text for reference clocks), never cut to the column width; "address"
// is the numeric address, or null for reference clocks and unresolved sources.
// Offsets of sources (sources, sourcestats, selectdata) are LOCAL MINUS
// SOURCE: positive means the local clock is ahead.
//
// sources      {"sources": [Source...]}
//   Source     {"mode": "server"|"peer"|"local", "mode_symbol": "^",
//               "state": "selected"|"combined"|"not_combined"|"falseticker"|
//                        "jittery"|"unusable", "state_symbol": "*",
//               "name": str, "address": str|null, "stratum": int,
//               "poll_log2": int, "reach": int (0..255; text shows it in octal),
//               "last_rx_s": int|null, "offset_s": num (adjusted for later
//               slews; the number before the brackets), "measured_offset_s":
//               num (in the brackets), "error_s": num (after "+/-")}
// sourcestats  {"sourcestats": [{"name", "address", "samples": int, "runs": int,
//               "span_s": int, "frequency_ppm": num (residual), "skew_ppm": num,
//               "offset_s": num, "std_dev_s": num, "offset_error_s": num}]}
// selectdata   {"selectdata": [{"state": str (one letter), "name", "address",
//               "authenticated": bool, "configured_options": Options,
//               "effective_options": Options, "last_sample_ago_s": int|null,
//               "score": num, "interval_low_s": num, "interval_high_s": num,
//               "leap": Leap}]}
//   Options    {"noselect": bool, "prefer": bool, "trust": bool, "require": bool}
//   Leap       "normal"|"insert_second"|"delete_second"|"not_synchronised"|"invalid"
// tracking     {"reference_id": "7F000001" (hex), "reference_name": str,
//               "reference_address": str|null, "stratum": int,
//               "ref_time_unix_s": num, "ref_time_utc": "2026-11-27T13:11:33.638425793Z",
//               "system_time_offset_s": num (local minus NTP time: > 0 is "fast"),
//               "last_offset_s": num, "rms_offset_s": num,
//               "frequency_ppm": num (> 0: the clock runs fast),
//               "residual_frequency_ppm": num, "skew_ppm": num,
//               "root_delay_s": num, "root_dispersion_s": num,
//               "update_interval_s": num, "leap": Leap}
// activity     {"online": int, "offline": int, "burst_online": int,
//               "burst_offline": int, "unresolved": int}
// clients      {"clients": [{"name", "address", "ntp_packets": int,
//               "ntp_drops": int, "ntp_interval_log2": int|null,
//               "ntp_timeout_interval_log2": int|null, "ntp_last_s": int|null,
//               "cmd_packets", "cmd_drops", "cmd_interval_log2", "cmd_last_s",
//               "nke_packets", "nke_drops", "nke_interval_log2", "nke_last_s"}]}
// serverstats  {"ntp_packets_received", "ntp_packets_dropped",
//               "command_packets_received", "command_packets_dropped",
//               "client_log_records_dropped", "nts_ke_connections_accepted",
//               "nts_ke_connections_dropped", "authenticated_ntp_packets",
//               "interleaved_ntp_packets", "ntp_timestamps_held",
//               "ntp_timestamp_span_s": all int; from a 4.4+ daemon also
//               "ntp_daemon_rx_timestamps", "ntp_daemon_tx_timestamps",
//               "ntp_kernel_rx_timestamps", "ntp_kernel_tx_timestamps",
//               "ntp_hw_rx_timestamps", "ntp_hw_tx_timestamps"}
// ntpdata      {"ntpdata": [{"remote_address": str, "remote_port": int,
//               "local_address": str, "leap": Leap, "version": int,
//               "mode": "server"|"symmetric_active"|"symmetric_passive"|"invalid",
//               "stratum": int, "poll_log2": int, "precision_log2": int,
//               "root_delay_s", "root_dispersion_s": num, "reference_id": hex str,
//               "reference_time_unix_s": num, "offset_s": num (REMOTE MINUS
//               LOCAL, the NTP definition, as chronyc prints it),
//               "peer_delay_s", "peer_dispersion_s", "response_time_s": num,
//               "jitter_asymmetry": num, "tests": "111 111 1111",
//               "interleaved": bool, "authenticated": bool,
//               "tx_timestamping", "rx_timestamping": "daemon"|"kernel"|"hardware"|"invalid",
//               "total_tx", "total_rx", "total_valid_rx", "total_good_rx": int;
//               from a daemon with the 4.6+ layout (gnomond) also
//               "total_kernel_tx_timestamps", "total_kernel_rx_timestamps",
//               "total_hw_tx_timestamps", "total_hw_rx_timestamps"}]}
// makestep, burst, online, offline, reload sources
//              {"status": 200, "message": "OK"}
// Any failure  {"error": {"code": 501, "message": "Not authorised"}}, exit code 1.
#include "tools/gnomonc/json_format.hpp"

#include <charconv>
#include <cmath>
#include <ctime>

#include "tools/gnomonc/names.hpp"
#include "tools/gnomonc/text_format.hpp"

namespace gnomon::gnomonc {

void JsonWriter::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

JsonWriter& JsonWriter::begin_object() {
  separate();
  out_ += '{';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_object() {
  out_ += '}';
  if (!first_.empty()) first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::begin_array() {
  separate();
  out_ += '[';
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::end_array() {
  out_ += ']';
  if (!first_.empty()) first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view k) {
  value(k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
  separate();
  out_ += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out_ += "\\\""; break;
      case '\\': out_ += "\\\\"; break;
      case '\n': out_ += "\\n"; break;
      case '\t': out_ += "\\t"; break;
      case '\r': out_ += "\\r"; break;
      default:
        if (c < 0x20) {
          out_ += strprintf("\\u%04x", static_cast<unsigned>(c));
        } else {
          out_ += ch;
        }
    }
  }
  out_ += '"';
  return *this;
}

JsonWriter& JsonWriter::value(double d) {
  if (!std::isfinite(d)) return null();
  separate();
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, d);
  out_.append(buf, res.ptr);
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t i) {
  separate();
  out_ += std::to_string(i);
  return *this;
}

JsonWriter& JsonWriter::value(std::uint64_t u) {
  separate();
  out_ += std::to_string(u);
  return *this;
}

JsonWriter& JsonWriter::value(bool b) {
  separate();
  out_ += b ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null() {
  separate();
  out_ += "null";
  return *this;
}

namespace json {
namespace {

void address_or_null(JsonWriter& w, const cmdmon::Address& a) {
  if (a.is_ip()) {
    w.value(address_to_string(a));
  } else {
    w.null();
  }
}

void seconds_or_null(JsonWriter& w, std::uint32_t s) {
  if (s == 0xFFFFFFFFu) {
    w.null();
  } else {
    w.value(static_cast<std::uint64_t>(s));
  }
}

void interval_or_null(JsonWriter& w, std::int8_t log2) {
  if (log2 >= cmdmon::kNoInterval) {
    w.null();
  } else {
    w.value(static_cast<int>(log2));
  }
}

const char* leap_name(Leap l) {
  switch (l) {
    case Leap::None: return "normal";
    case Leap::Insert: return "insert_second";
    case Leap::Delete: return "delete_second";
    case Leap::Unsynchronised: return "not_synchronised";
  }
  return "invalid";
}

const char* mode_name(cmdmon::SourceMode m) {
  switch (m) {
    case cmdmon::SourceMode::Client: return "server";
    case cmdmon::SourceMode::Peer: return "peer";
    case cmdmon::SourceMode::Reference: return "local";
  }
  return "invalid";
}

const char* state_name(cmdmon::SourceState s) {
  switch (s) {
    case cmdmon::SourceState::Selected: return "selected";
    case cmdmon::SourceState::Unusable: return "unusable";
    case cmdmon::SourceState::Falseticker: return "falseticker";
    case cmdmon::SourceState::Jittery: return "jittery";
    case cmdmon::SourceState::Combined: return "combined";
    case cmdmon::SourceState::NotCombined: return "not_combined";
  }
  return "invalid";
}

const char* ntp_mode_name(std::uint8_t mode) {
  switch (mode) {
    case cmdmon::kNtpModeActive: return "symmetric_active";
    case cmdmon::kNtpModePassive: return "symmetric_passive";
    case cmdmon::kNtpModeServer: return "server";
    default: return "invalid";
  }
}

const char* timestamping_name(char c) {
  switch (c) {
    case 'D': return "daemon";
    case 'K': return "kernel";
    case 'H': return "hardware";
    default: return "invalid";
  }
}

void options(JsonWriter& w, std::uint16_t o) {
  w.begin_object();
  w.key("noselect").value((o & cmdmon::kSelectOptionNoselect) != 0);
  w.key("prefer").value((o & cmdmon::kSelectOptionPrefer) != 0);
  w.key("trust").value((o & cmdmon::kSelectOptionTrust) != 0);
  w.key("require").value((o & cmdmon::kSelectOptionRequire) != 0);
  w.end_object();
}

double unix_seconds(TimePoint t) {
  const std::timespec ts = t.to_timespec();
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string iso_utc(TimePoint t) {
  const std::timespec ts = t.to_timespec();
  std::tm tm{};
  if (gmtime_r(&ts.tv_sec, &tm) == nullptr) return "";
  char buf[64] = {};
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0) return "";
  return strprintf("%s.%09ldZ", buf, static_cast<long>(ts.tv_nsec));
}

std::string hex32(std::uint32_t v) { return strprintf("%08X", v); }

// "200 OK" -> {200, "OK"}
std::pair<int, std::string> split_status(std::string_view line) {
  int code = 0;
  std::size_t i = 0;
  while (i < line.size() && line[i] >= '0' && line[i] <= '9') code = code * 10 + (line[i++] - '0');
  while (i < line.size() && line[i] == ' ') ++i;
  return {code, std::string(line.substr(i))};
}

}  // namespace

void source(JsonWriter& w, const cmdmon::SourceReport& r, std::string_view name) {
  w.begin_object();
  w.key("mode").value(mode_name(r.mode));
  w.key("mode_symbol").value(std::string(1, text::mode_symbol(r.mode)));
  w.key("state").value(state_name(r.state));
  w.key("state_symbol").value(std::string(1, text::state_symbol(r.state)));
  w.key("name").value(name);
  w.key("address");
  if (r.mode == cmdmon::SourceMode::Reference) {
    w.null();
  } else {
    address_or_null(w, r.address);
  }
  w.key("stratum").value(r.stratum);
  w.key("poll_log2").value(r.poll_log2);
  w.key("reach").value(static_cast<unsigned>(r.reachability));
  w.key("last_rx_s");
  seconds_or_null(w, r.last_sample_ago_s);
  w.key("offset_s").value(r.adjusted_offset_s);
  w.key("measured_offset_s").value(r.original_offset_s);
  w.key("error_s").value(r.error_s);
  w.end_object();
}

void sourcestats(JsonWriter& w, const cmdmon::SourcestatsReport& r, std::string_view name) {
  w.begin_object();
  w.key("name").value(name);
  w.key("address");
  address_or_null(w, r.address);
  w.key("samples").value(r.samples);
  w.key("runs").value(r.runs);
  w.key("span_s").value(r.span_s);
  w.key("frequency_ppm").value(r.residual_freq_ppm);
  w.key("skew_ppm").value(r.skew_ppm);
  w.key("offset_s").value(r.offset_s);
  w.key("std_dev_s").value(r.std_dev_s);
  w.key("offset_error_s").value(r.offset_error_s);
  w.end_object();
}

void selectdata(JsonWriter& w, const cmdmon::SelectDataReport& r, std::string_view name) {
  w.begin_object();
  w.key("state").value(std::string(1, r.state));
  w.key("name").value(name);
  w.key("address");
  address_or_null(w, r.address);
  w.key("authenticated").value(r.authenticated);
  w.key("configured_options");
  options(w, r.configured_options);
  w.key("effective_options");
  options(w, r.effective_options);
  w.key("last_sample_ago_s");
  seconds_or_null(w, r.last_sample_ago_s);
  w.key("score").value(r.score);
  w.key("interval_low_s").value(r.interval_low_s);
  w.key("interval_high_s").value(r.interval_high_s);
  w.key("leap").value(leap_name(r.leap));
  w.end_object();
}

void client(JsonWriter& w, const cmdmon::ClientAccessReport& r, std::string_view name) {
  w.begin_object();
  w.key("name").value(name);
  w.key("address");
  address_or_null(w, r.address);
  w.key("ntp_packets").value(r.ntp_hits);
  w.key("ntp_drops").value(r.ntp_drops);
  w.key("ntp_interval_log2");
  interval_or_null(w, r.ntp_interval_log2);
  w.key("ntp_timeout_interval_log2");
  interval_or_null(w, r.ntp_timeout_interval_log2);
  w.key("ntp_last_s");
  seconds_or_null(w, r.last_ntp_hit_ago_s);
  w.key("cmd_packets").value(r.cmd_hits);
  w.key("cmd_drops").value(r.cmd_drops);
  w.key("cmd_interval_log2");
  interval_or_null(w, r.cmd_interval_log2);
  w.key("cmd_last_s");
  seconds_or_null(w, r.last_cmd_hit_ago_s);
  w.key("nke_packets").value(r.nke_hits);
  w.key("nke_drops").value(r.nke_drops);
  w.key("nke_interval_log2");
  interval_or_null(w, r.nke_interval_log2);
  w.key("nke_last_s");
  seconds_or_null(w, r.last_nke_hit_ago_s);
  w.end_object();
}

void ntpdata(JsonWriter& w, const cmdmon::NtpDataReport& r) {
  w.begin_object();
  w.key("remote_address").value(address_to_string(r.remote_address));
  w.key("remote_port").value(static_cast<unsigned>(r.remote_port));
  w.key("local_address").value(address_to_string(r.local_address));
  w.key("leap").value(leap_name(r.leap));
  w.key("version").value(static_cast<unsigned>(r.version));
  w.key("mode").value(ntp_mode_name(r.mode));
  w.key("stratum").value(static_cast<unsigned>(r.stratum));
  w.key("poll_log2").value(static_cast<int>(r.poll_log2));
  w.key("precision_log2").value(static_cast<int>(r.precision_log2));
  w.key("root_delay_s").value(r.root_delay_s);
  w.key("root_dispersion_s").value(r.root_dispersion_s);
  w.key("reference_id").value(hex32(r.ref_id));
  w.key("reference_time_unix_s").value(unix_seconds(r.ref_time));
  w.key("offset_s").value(r.offset_s);
  w.key("peer_delay_s").value(r.peer_delay_s);
  w.key("peer_dispersion_s").value(r.peer_dispersion_s);
  w.key("response_time_s").value(r.response_time_s);
  w.key("jitter_asymmetry").value(r.jitter_asymmetry);
  std::string tests;
  for (int bit = 9; bit >= 0; --bit) {
    tests += (r.tests >> bit & 1U) ? '1' : '0';
    if (bit == 7 || bit == 4) tests += ' ';
  }
  w.key("tests").value(tests);
  w.key("interleaved").value(r.interleaved);
  w.key("authenticated").value(r.authenticated);
  w.key("tx_timestamping").value(timestamping_name(r.tx_timestamping));
  w.key("rx_timestamping").value(timestamping_name(r.rx_timestamping));
  w.key("total_tx").value(r.total_tx);
  w.key("total_rx").value(r.total_rx);
  w.key("total_valid_rx").value(r.total_valid_rx);
  w.key("total_good_rx").value(r.total_good_rx);
  if (r.has_timestamp_counts) {
    w.key("total_kernel_tx_timestamps").value(r.total_kernel_tx_timestamps);
    w.key("total_kernel_rx_timestamps").value(r.total_kernel_rx_timestamps);
    w.key("total_hw_tx_timestamps").value(r.total_hw_tx_timestamps);
    w.key("total_hw_rx_timestamps").value(r.total_hw_rx_timestamps);
  }
  w.end_object();
}

std::string tracking(const cmdmon::TrackingReport& r, std::string_view name) {
  JsonWriter w;
  w.begin_object();
  w.key("reference_id").value(hex32(r.ref_id));
  w.key("reference_name").value(name);
  w.key("reference_address");
  address_or_null(w, r.address);
  w.key("stratum").value(r.stratum);
  w.key("ref_time_unix_s").value(unix_seconds(r.ref_time));
  w.key("ref_time_utc").value(iso_utc(r.ref_time));
  w.key("system_time_offset_s").value(-r.current_correction_s);
  w.key("last_offset_s").value(r.last_offset_s);
  w.key("rms_offset_s").value(r.rms_offset_s);
  w.key("frequency_ppm").value(r.freq_ppm);
  w.key("residual_frequency_ppm").value(r.residual_freq_ppm);
  w.key("skew_ppm").value(r.skew_ppm);
  w.key("root_delay_s").value(r.root_delay_s);
  w.key("root_dispersion_s").value(r.root_dispersion_s);
  w.key("update_interval_s").value(r.last_update_interval_s);
  w.key("leap").value(leap_name(r.leap));
  w.end_object();
  return w.str() + "\n";
}

std::string activity(const cmdmon::ActivityReport& r) {
  JsonWriter w;
  w.begin_object();
  w.key("online").value(r.online);
  w.key("offline").value(r.offline);
  w.key("burst_online").value(r.burst_online);
  w.key("burst_offline").value(r.burst_offline);
  w.key("unresolved").value(r.unresolved);
  w.end_object();
  return w.str() + "\n";
}

std::string serverstats(const cmdmon::ServerStatsReport& r) {
  JsonWriter w;
  w.begin_object();
  w.key("ntp_packets_received").value(r.ntp_hits);
  w.key("ntp_packets_dropped").value(r.ntp_drops);
  w.key("command_packets_received").value(r.cmd_hits);
  w.key("command_packets_dropped").value(r.cmd_drops);
  w.key("client_log_records_dropped").value(r.log_drops);
  w.key("nts_ke_connections_accepted").value(r.nke_hits);
  w.key("nts_ke_connections_dropped").value(r.nke_drops);
  w.key("authenticated_ntp_packets").value(r.ntp_auth_hits);
  w.key("interleaved_ntp_packets").value(r.ntp_interleaved_hits);
  w.key("ntp_timestamps_held").value(r.ntp_timestamps);
  w.key("ntp_timestamp_span_s").value(r.ntp_span_s);
  if (r.has_timestamp_counts) {
    w.key("ntp_daemon_rx_timestamps").value(r.ntp_daemon_rx_timestamps);
    w.key("ntp_daemon_tx_timestamps").value(r.ntp_daemon_tx_timestamps);
    w.key("ntp_kernel_rx_timestamps").value(r.ntp_kernel_rx_timestamps);
    w.key("ntp_kernel_tx_timestamps").value(r.ntp_kernel_tx_timestamps);
    w.key("ntp_hw_rx_timestamps").value(r.ntp_hw_rx_timestamps);
    w.key("ntp_hw_tx_timestamps").value(r.ntp_hw_tx_timestamps);
  }
  w.end_object();
  return w.str() + "\n";
}

std::string status(std::string_view status_line) {
  const auto [code, message] = split_status(status_line);
  JsonWriter w;
  w.begin_object();
  w.key("status").value(code);
  w.key("message").value(message);
  w.end_object();
  return w.str() + "\n";
}

std::string error(std::string_view status_line) {
  const auto [code, message] = split_status(status_line);
  JsonWriter w;
  w.begin_object();
  w.key("error").begin_object();
  w.key("code").value(code);
  w.key("message").value(message);
  w.end_object();
  w.end_object();
  return w.str() + "\n";
}

}  // namespace json
}  // namespace gnomon::gnomonc
