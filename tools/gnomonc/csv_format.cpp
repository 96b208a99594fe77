#include "tools/gnomonc/csv_format.hpp"

#include <cmath>
#include <ctime>

#include "tools/gnomonc/names.hpp"
#include "tools/gnomonc/text_format.hpp"

namespace gnomon::gnomonc::csv {
namespace {

double log2_seconds(int l) {
  if (l > 31) l = 31;
  if (l < -31) l = -31;
  return std::ldexp(1.0, l);
}

std::string binary(unsigned value, int bits) {
  std::string s;
  for (int i = bits - 1; i >= 0; --i) s += (value >> i & 1U) ? '1' : '0';
  return s;
}

std::string option_fields(std::uint16_t options) {
  return strprintf("%c,%c,%c,%c,-", (options & cmdmon::kSelectOptionNoselect) ? 'N' : '-',
                   (options & cmdmon::kSelectOptionPrefer) ? 'P' : '-',
                   (options & cmdmon::kSelectOptionTrust) ? 'T' : '-',
                   (options & cmdmon::kSelectOptionRequire) ? 'R' : '-');
}

unsigned long counter32(std::uint64_t v) { return static_cast<unsigned long>(static_cast<std::uint32_t>(v)); }

}  // namespace

std::string epoch_time(TimePoint t) {
  const std::timespec ts = t.to_timespec();
  return strprintf("%lld.%09ld", static_cast<long long>(ts.tv_sec), static_cast<long>(ts.tv_nsec));
}

std::string sources_row(const cmdmon::SourceReport& r, std::string_view name) {
  const std::string n(name);
  return strprintf("%c,%c,%s,%d,%d,%o,%u,%.9f,%.9f,%.9f\n", text::mode_symbol(r.mode), text::state_symbol(r.state),
                   n.c_str(), r.stratum, r.poll_log2, static_cast<unsigned>(r.reachability), r.last_sample_ago_s,
                   r.adjusted_offset_s, r.original_offset_s, r.error_s);
}

std::string sourcestats_row(const cmdmon::SourcestatsReport& r, std::string_view name) {
  const std::string n(name);
  return strprintf("%s,%u,%u,%u,%.3f,%.3f,%.9f,%.9f\n", n.c_str(), r.samples, r.runs, r.span_s,
                   r.residual_freq_ppm, r.skew_ppm, r.offset_s, r.std_dev_s);
}

std::string selectdata_row(const cmdmon::SelectDataReport& r, std::string_view name) {
  const std::string n(name);
  return strprintf("%c,%s,%c,%s,%s,%u,%.1f,%.9f,%.9f,%s\n", r.state, n.c_str(), r.authenticated ? 'Y' : 'N',
                   option_fields(r.configured_options).c_str(), option_fields(r.effective_options).c_str(),
                   r.last_sample_ago_s, r.score, r.interval_low_s, r.interval_high_s, text::leap(r.leap).c_str());
}

std::string tracking(const cmdmon::TrackingReport& r, std::string_view name) {
  const std::string n(name);
  return strprintf("%08X,%s,%u,%s,%.9f,%.9f,%.9f,%.3f,%.3f,%.3f,%.9f,%.9f,%.1f,%s\n", r.ref_id, n.c_str(),
                   static_cast<unsigned>(r.stratum), epoch_time(r.ref_time).c_str(), r.current_correction_s,
                   r.last_offset_s, r.rms_offset_s, r.freq_ppm, r.residual_freq_ppm, r.skew_ppm, r.root_delay_s,
                   r.root_dispersion_s, r.last_update_interval_s, text::leap(r.leap).c_str());
}

std::string activity(const cmdmon::ActivityReport& r) {
  auto u = [](std::int32_t v) { return static_cast<std::uint32_t>(v); };
  return strprintf("%u,%u,%u,%u,%u\n", u(r.online), u(r.offline), u(r.burst_online), u(r.burst_offline),
                   u(r.unresolved));
}

std::string serverstats(const cmdmon::ServerStatsReport& r) {
  return strprintf("%lu,%lu,%lu,%lu,%lu,%lu,%lu,%lu,%lu,%lu,%lu\n", counter32(r.ntp_hits), counter32(r.ntp_drops),
                   counter32(r.cmd_hits), counter32(r.cmd_drops), counter32(r.log_drops), counter32(r.nke_hits),
                   counter32(r.nke_drops), counter32(r.ntp_auth_hits), counter32(r.ntp_interleaved_hits),
                   counter32(r.ntp_timestamps), counter32(r.ntp_span_s));
}

std::string ntpdata(const cmdmon::NtpDataReport& r) {
  const std::string remote = address_to_string(r.remote_address);
  const std::string local = address_to_string(r.local_address);
  const std::string ref_text = r.stratum <= 1 ? refid_to_string(r.ref_id) : "";
  std::string s;
  s += strprintf("%s,%08X,%u,%s,%08X,%s,%u,%s,%u,", remote.c_str(), address_to_refid(r.remote_address),
                 static_cast<unsigned>(r.remote_port), local.c_str(), address_to_refid(r.local_address),
                 text::leap(r.leap).c_str(), static_cast<unsigned>(r.version), text::ntp_mode(r.mode).c_str(),
                 static_cast<unsigned>(r.stratum));
  s += strprintf("%d,%.0f,%d,%.9f,%.6f,%.6f,%08X,%s,%s,", r.poll_log2, log2_seconds(r.poll_log2), r.precision_log2,
                 log2_seconds(r.precision_log2), r.root_delay_s, r.root_dispersion_s, r.ref_id, ref_text.c_str(),
                 epoch_time(r.ref_time).c_str());
  s += strprintf("%.9f,%.9f,%.9f,%.9f,%.2f,%s,%s,%s,%s,%s,", r.offset_s, r.peer_delay_s, r.peer_dispersion_s,
                 r.response_time_s, r.jitter_asymmetry, binary(r.tests >> 7U, 3).c_str(),
                 binary(r.tests >> 4U, 3).c_str(), binary(r.tests, 4).c_str(), r.interleaved ? "Yes" : "No",
                 r.authenticated ? "Yes" : "No");
  s += strprintf("%s,%s,%u,%u,%u,%u\n", text::timestamping(r.tx_timestamping).c_str(),
                 text::timestamping(r.rx_timestamping).c_str(), r.total_tx, r.total_rx, r.total_valid_rx,
                 r.total_good_rx);
  return s;
}

std::string clients_row(const cmdmon::ClientAccessReport& r, std::string_view name, bool nts) {
  const std::string n(name);
  return strprintf("%s,%u,%u,%d,%d,%u,%u,%u,%d,%u\n", n.c_str(), r.ntp_hits, r.ntp_drops, r.ntp_interval_log2,
                   r.ntp_timeout_interval_log2, r.last_ntp_hit_ago_s, nts ? r.nke_hits : r.cmd_hits,
                   nts ? r.nke_drops : r.cmd_drops, nts ? r.nke_interval_log2 : r.cmd_interval_log2,
                   nts ? r.last_nke_hit_ago_s : r.last_cmd_hit_ago_s);
}

}  // namespace gnomon::gnomonc::csv
