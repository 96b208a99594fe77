#include "tools/gnomonc/text_format.hpp"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>

#include "tools/gnomonc/names.hpp"

namespace gnomon::gnomonc {

std::string strprintf(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, format, ap);
  va_end(ap);
  std::string s;
  if (n > 0) {
    s.resize(static_cast<std::size_t>(n) + 1);
    std::vsnprintf(s.data(), s.size(), format, ap2);
    s.resize(static_cast<std::size_t>(n));
  }
  va_end(ap2);
  return s;
}

namespace text {
namespace {

constexpr double kSecondsPerDay = 86400.0;
constexpr double kSecondsPerYear = 86400.0 * 365;

}  // namespace

std::string interval(std::uint32_t s) {
  if (s == 0xFFFFFFFFu) return "   -";
  if (s < 1200) return strprintf("%4u", s);
  if (s < 36000) return strprintf("%3um", s / 60);
  if (s < 345600) return strprintf("%3uh", s / 3600);
  const std::uint32_t days = s / 86400;
  if (days > 999) return strprintf("%3uy", days / 365);
  return strprintf("%3ud", days);
}

std::string nanoseconds(double s) {
  const double x = std::fabs(s);
  if (x < 9999.5e-9) return strprintf("%4.0fns", x * 1e9);
  if (x < 9999.5e-6) return strprintf("%4.0fus", x * 1e6);
  if (x < 9999.5e-3) return strprintf("%4.0fms", x * 1e3);
  if (x < 999.5) return strprintf("%5.1fs", x);
  if (x < 99999.5) return strprintf("%5.0fs", x);
  if (x < 99999.5 * 60) return strprintf("%5.0fm", x / 60);
  if (x < 99999.5 * 3600) return strprintf("%5.0fh", x / 3600);
  if (x < 99999.5 * kSecondsPerDay) return strprintf("%5.0fd", x / kSecondsPerDay);
  return strprintf("%5.0fy", x / kSecondsPerYear);
}

std::string signed_nanoseconds(double s) {
  const double x = std::fabs(s);
  if (x < 9999.5e-9) return strprintf("%+5.0fns", s * 1e9);
  if (x < 9999.5e-6) return strprintf("%+5.0fus", s * 1e6);
  if (x < 9999.5e-3) return strprintf("%+5.0fms", s * 1e3);
  if (x < 999.5) return strprintf("%+6.1fs", s);
  if (x < 99999.5) return strprintf("%+6.0fs", s);
  if (x < 99999.5 * 60) return strprintf("%+6.0fm", s / 60);
  if (x < 99999.5 * 3600) return strprintf("%+6.0fh", s / 3600);
  if (x < 99999.5 * kSecondsPerDay) return strprintf("%+6.0fd", s / kSecondsPerDay);
  return strprintf("%+6.0fy", s / kSecondsPerYear);
}

std::string freq_ppm(double f) {
  return std::fabs(f) < 99999.5 ? strprintf("%10.3f", f) : strprintf("%10.0f", f);
}

std::string signed_freq_ppm(double f) {
  return std::fabs(f) < 99999.5 ? strprintf("%+10.3f", f) : strprintf("%+10.0f", f);
}

std::string clientlog_interval(int log2) {
  if (log2 >= cmdmon::kNoInterval) return " -";
  return strprintf("%2d", log2);
}

std::string leap(Leap l) {
  switch (l) {
    case Leap::None: return "Normal";
    case Leap::Insert: return "Insert second";
    case Leap::Delete: return "Delete second";
    case Leap::Unsynchronised: return "Not synchronised";
  }
  return "Invalid";
}

char leap_letter(Leap l) {
  switch (l) {
    case Leap::None: return 'N';
    case Leap::Insert: return '+';
    case Leap::Delete: return '-';
    case Leap::Unsynchronised: return '?';
  }
  return '?';
}

std::string utc_date(TimePoint t) {
  const std::timespec ts = t.to_timespec();
  std::tm tm{};
  if (gmtime_r(&ts.tv_sec, &tm) == nullptr) return "";
  char buf[64] = {};
  if (std::strftime(buf, sizeof buf, "%a %b %d %T %Y", &tm) == 0) return "";
  return buf;
}

char mode_symbol(cmdmon::SourceMode mode) {
  switch (mode) {
    case cmdmon::SourceMode::Client: return '^';
    case cmdmon::SourceMode::Peer: return '=';
    case cmdmon::SourceMode::Reference: return '#';
  }
  return ' ';
}

char state_symbol(cmdmon::SourceState state) {
  switch (state) {
    case cmdmon::SourceState::Selected: return '*';
    case cmdmon::SourceState::Unusable: return '?';
    case cmdmon::SourceState::Falseticker: return 'x';
    case cmdmon::SourceState::Jittery: return '~';
    case cmdmon::SourceState::Combined: return '+';
    case cmdmon::SourceState::NotCombined: return '-';
  }
  return ' ';
}

std::string ntp_mode(std::uint8_t mode) {
  switch (mode) {
    case cmdmon::kNtpModeActive: return "Symmetric active";
    case cmdmon::kNtpModePassive: return "Symmetric passive";
    case cmdmon::kNtpModeServer: return "Server";
    default: return "Invalid";
  }
}

std::string timestamping(char source) {
  switch (source) {
    case 'D': return "Daemon";
    case 'K': return "Kernel";
    case 'H': return "Hardware";
    default: return "Invalid";
  }
}

std::string header(std::string_view title) {
  std::string s(title);
  s += '\n';
  s.append(title.size(), '=');
  s += '\n';
  return s;
}

std::string sources_legend() {
  return "\n"
         "  .-- Source mode  '^' = server, '=' = peer, '#' = local clock.\n"
         " / .- Source state '*' = current best, '+' = combined, '-' = not combined,\n"
         "| /             'x' = may be in error, '~' = too variable, '?' = unusable.\n"
         "||                                                 .- xxxx [ yyyy ] +/- zzzz\n"
         "||      Reachability register (octal) -.           |  xxxx = adjusted offset,\n"
         "||      Log2(Polling interval) --.      |          |  yyyy = measured offset,\n"
         "||                                \\     |          |  zzzz = estimated error.\n"
         "||                                 |    |           \\\n";
}

std::string sources_header() {
  return header("MS Name/IP address         Stratum Poll Reach LastRx Last sample               ");
}

std::string sources_row(const cmdmon::SourceReport& r, std::string_view name) {
  const std::string n(name);
  return strprintf("%c%c %-27s  %2d  %2d   %3o  %s  %s[%s] +/- %s\n", mode_symbol(r.mode), state_symbol(r.state),
                   n.c_str(), r.stratum, r.poll_log2, static_cast<unsigned>(r.reachability),
                   interval(r.last_sample_ago_s).c_str(), signed_nanoseconds(r.adjusted_offset_s).c_str(),
                   signed_nanoseconds(r.original_offset_s).c_str(), nanoseconds(r.error_s).c_str());
}

std::string sourcestats_legend() {
  return "                             .- Number of sample points in measurement set.\n"
         "                            /    .- Number of residual runs with same sign.\n"
         "                           |    /    .- Length of measurement set (time).\n"
         "                           |   |    /      .- Est. clock freq error (ppm).\n"
         "                           |   |   |      /           .- Est. error in freq.\n"
         "                           |   |   |     |           /         .- Est. offset.\n"
         "                           |   |   |     |          |          |   On the -.\n"
         "                           |   |   |     |          |          |   samples. \\\n"
         "                           |   |   |     |          |          |             |\n";
}

std::string sourcestats_header() {
  return header("Name/IP Address            NP  NR  Span  Frequency  Freq Skew  Offset  Std Dev");
}

std::string sourcestats_row(const cmdmon::SourcestatsReport& r, std::string_view name) {
  const std::string n(name);
  return strprintf("%-25s %3u %3u  %s %s %s  %s  %s\n", n.c_str(), r.samples, r.runs, interval(r.span_s).c_str(),
                   signed_freq_ppm(r.residual_freq_ppm).c_str(), freq_ppm(r.skew_ppm).c_str(),
                   signed_nanoseconds(r.offset_s).c_str(), nanoseconds(r.std_dev_s).c_str());
}

std::string selectdata_legend() {
  return "  . State: N - noselect, s - unsynchronised, M - missing samples,\n"
         " /         d/D - large distance, ~ - jittery, w/W - waits for others,\n"
         "|          S - stale, O - orphan, T - not trusted, P - not preferred,\n"
         "|          U - waits for update,, x - falseticker, + - combined, * - best.\n"
         "|   Effective options   ---------.  (N - noselect, P - prefer\n"
         "|   Configured options  ----.     \\  T - trust, R - require)\n"
         "|   Auth. enabled (Y/N) -.   \\     \\     Offset interval --.\n"
         "|                        |    |     |                       |\n";
}

std::string selectdata_header() {
  return header("S Name/IP Address        Auth COpts EOpts Last Score     Interval  Leap");
}

namespace {
std::string option_letters(std::uint16_t options) {
  std::string s;
  s += (options & cmdmon::kSelectOptionNoselect) ? 'N' : '-';
  s += (options & cmdmon::kSelectOptionPrefer) ? 'P' : '-';
  s += (options & cmdmon::kSelectOptionTrust) ? 'T' : '-';
  s += (options & cmdmon::kSelectOptionRequire) ? 'R' : '-';
  s += '-';
  return s;
}
}  // namespace

std::string selectdata_row(const cmdmon::SelectDataReport& r, std::string_view name) {
  const std::string n(name);
  return strprintf("%c %-25s %c %s %s %s %5.1f %s %s  %c\n", r.state, n.c_str(), r.authenticated ? 'Y' : 'N',
                   option_letters(r.configured_options).c_str(), option_letters(r.effective_options).c_str(),
                   interval(r.last_sample_ago_s).c_str(), r.score, signed_nanoseconds(r.interval_low_s).c_str(),
                   signed_nanoseconds(r.interval_high_s).c_str(), leap_letter(r.leap));
}

std::string tracking(const cmdmon::TrackingReport& r, std::string_view name) {
  const std::string n(name);
  // chronyc: a positive correction means the clock is behind ("slow"); a
  // positive frequency means it runs fast.
  const double correction = r.current_correction_s;
  std::string s;
  s += strprintf("Reference ID    : %08X (%s)\n", r.ref_id, n.c_str());
  s += strprintf("Stratum         : %u\n", static_cast<unsigned>(r.stratum));
  s += strprintf("Ref time (UTC)  : %s\n", utc_date(r.ref_time).c_str());
  s += strprintf("System time     : %.9f seconds %s of NTP time\n", std::fabs(correction),
                 correction > 0.0 ? "slow" : "fast");
  s += strprintf("Last offset     : %+.9f seconds\n", r.last_offset_s);
  s += strprintf("RMS offset      : %.9f seconds\n", r.rms_offset_s);
  s += strprintf("Frequency       : %.3f ppm %s\n", std::fabs(r.freq_ppm), r.freq_ppm > 0.0 ? "fast" : "slow");
  s += strprintf("Residual freq   : %+.3f ppm\n", r.residual_freq_ppm);
  s += strprintf("Skew            : %.3f ppm\n", r.skew_ppm);
  s += strprintf("Root delay      : %.9f seconds\n", r.root_delay_s);
  s += strprintf("Root dispersion : %.9f seconds\n", r.root_dispersion_s);
  s += strprintf("Update interval : %.1f seconds\n", r.last_update_interval_s);
  s += strprintf("Leap status     : %s\n", leap(r.leap).c_str());
  return s;
}

std::string activity(const cmdmon::ActivityReport& r) {
  auto u = [](std::int32_t v) { return static_cast<std::uint32_t>(v); };
  return strprintf(
      "%u sources online\n"
      "%u sources offline\n"
      "%u sources doing burst (return to online)\n"
      "%u sources doing burst (return to offline)\n"
      "%u sources with unknown address\n",
      u(r.online), u(r.offline), u(r.burst_online), u(r.burst_offline), u(r.unresolved));
}

namespace {
// chronyc 4.3 prints 32-bit counters.
unsigned long counter32(std::uint64_t v) { return static_cast<unsigned long>(static_cast<std::uint32_t>(v)); }
}  // namespace

std::string serverstats(const cmdmon::ServerStatsReport& r) {
  return strprintf(
      "NTP packets received       : %lu\n"
      "NTP packets dropped        : %lu\n"
      "Command packets received   : %lu\n"
      "Command packets dropped    : %lu\n"
      "Client log records dropped : %lu\n"
      "NTS-KE connections accepted: %lu\n"
      "NTS-KE connections dropped : %lu\n"
      "Authenticated NTP packets  : %lu\n"
      "Interleaved NTP packets    : %lu\n"
      "NTP timestamps held        : %lu\n"
      "NTP timestamp span         : %lu\n",
      counter32(r.ntp_hits), counter32(r.ntp_drops), counter32(r.cmd_hits), counter32(r.cmd_drops),
      counter32(r.log_drops), counter32(r.nke_hits), counter32(r.nke_drops), counter32(r.ntp_auth_hits),
      counter32(r.ntp_interleaved_hits), counter32(r.ntp_timestamps), counter32(r.ntp_span_s));
}

namespace {
// chrony's UTI_Log2ToDouble: 2^l with l clamped to [-31, 31].
double log2_seconds(int l) {
  if (l > 31) l = 31;
  if (l < -31) l = -31;
  return std::ldexp(1.0, l);
}

// The lowest `bits` bits of `value`, most significant first.
std::string binary(unsigned value, int bits) {
  std::string s;
  for (int i = bits - 1; i >= 0; --i) s += (value >> i & 1U) ? '1' : '0';
  return s;
}
}  // namespace

std::string ntpdata(const cmdmon::NtpDataReport& r) {
  const std::string remote = address_to_string(r.remote_address);
  const std::string local = address_to_string(r.local_address);
  const std::string ref_text = r.stratum <= 1 ? refid_to_string(r.ref_id) : "";
  std::string s;
  s += strprintf("Remote address  : %s (%08X)\n", remote.c_str(), address_to_refid(r.remote_address));
  s += strprintf("Remote port     : %u\n", static_cast<unsigned>(r.remote_port));
  s += strprintf("Local address   : %s (%08X)\n", local.c_str(), address_to_refid(r.local_address));
  s += strprintf("Leap status     : %s\n", leap(r.leap).c_str());
  s += strprintf("Version         : %u\n", static_cast<unsigned>(r.version));
  s += strprintf("Mode            : %s\n", ntp_mode(r.mode).c_str());
  s += strprintf("Stratum         : %u\n", static_cast<unsigned>(r.stratum));
  s += strprintf("Poll interval   : %d (%.0f seconds)\n", r.poll_log2, log2_seconds(r.poll_log2));
  s += strprintf("Precision       : %d (%.9f seconds)\n", r.precision_log2, log2_seconds(r.precision_log2));
  s += strprintf("Root delay      : %.6f seconds\n", r.root_delay_s);
  s += strprintf("Root dispersion : %.6f seconds\n", r.root_dispersion_s);
  s += strprintf("Reference ID    : %08X (%s)\n", r.ref_id, ref_text.c_str());
  s += strprintf("Reference time  : %s\n", utc_date(r.ref_time).c_str());
  s += strprintf("Offset          : %+.9f seconds\n", r.offset_s);
  s += strprintf("Peer delay      : %.9f seconds\n", r.peer_delay_s);
  s += strprintf("Peer dispersion : %.9f seconds\n", r.peer_dispersion_s);
  s += strprintf("Response time   : %.9f seconds\n", r.response_time_s);
  s += strprintf("Jitter asymmetry: %+.2f\n", r.jitter_asymmetry);
  s += strprintf("NTP tests       : %s %s %s\n", binary(r.tests >> 7U, 3).c_str(), binary(r.tests >> 4U, 3).c_str(),
                 binary(r.tests, 4).c_str());
  s += strprintf("Interleaved     : %s\n", r.interleaved ? "Yes" : "No");
  s += strprintf("Authenticated   : %s\n", r.authenticated ? "Yes" : "No");
  s += strprintf("TX timestamping : %s\n", timestamping(r.tx_timestamping).c_str());
  s += strprintf("RX timestamping : %s\n", timestamping(r.rx_timestamping).c_str());
  s += strprintf("Total TX        : %u\n", r.total_tx);
  s += strprintf("Total RX        : %u\n", r.total_rx);
  s += strprintf("Total valid RX  : %u\n", r.total_valid_rx);
  s += strprintf("Total good RX   : %u\n", r.total_good_rx);
  return s;
}

std::string clients_header(bool nts) {
  return header(strprintf("Hostname                      NTP   Drop Int IntL Last  %6s   Drop Int  Last",
                          nts ? "NTS-KE" : "Cmd"));
}

std::string clients_row(const cmdmon::ClientAccessReport& r, std::string_view name, bool nts) {
  const std::string n(name);
  return strprintf("%-25s  %6u  %5u  %s  %s  %s  %6u  %5u  %s  %s\n", n.c_str(), r.ntp_hits, r.ntp_drops,
                   clientlog_interval(r.ntp_interval_log2).c_str(),
                   clientlog_interval(r.ntp_timeout_interval_log2).c_str(), interval(r.last_ntp_hit_ago_s).c_str(),
                   nts ? r.nke_hits : r.cmd_hits, nts ? r.nke_drops : r.cmd_drops,
                   clientlog_interval(nts ? r.nke_interval_log2 : r.cmd_interval_log2).c_str(),
                   interval(nts ? r.last_nke_hit_ago_s : r.last_cmd_hit_ago_s).c_str());
}

std::string status_line(std::uint16_t status) {
  using S = cmdmon::Status;
  switch (static_cast<S>(status)) {
    case S::Success: return "200 OK";
    case S::AccessAllowed: return "208 Access allowed";
    case S::AccessDenied: return "209 Access denied";
    case S::Failed: return "500 Failure";
    case S::Unauthorised: return "501 Not authorised";
    case S::Invalid: return "502 Invalid command";
    case S::NoSuchSource: return "503 No such source";
    case S::InvalidTimestamp: return "504 Duplicate or stale logon detected";
    case S::NotEnabled: return "505 Facility not enabled in daemon";
    case S::BadSubnet: return "507 Bad subnet";
    case S::NoHostAccess: return "510 No command access from this host";
    case S::SourceAlreadyKnown: return "511 Source already present";
    case S::TooManySources: return "512 Too many sources present";
    case S::NoRtc: return "513 RTC driver not running";
    case S::BadRtcFile: return "514 Can't write RTC parameters";
    case S::InvalidAddressFamily: return "515 Invalid address family";
    case S::BadSample: return "516 Sample index out of range";
    case S::BadPacketVersion: return "517 Protocol version mismatch";
    case S::BadPacketLength: return "518 Packet length mismatch";
    case S::Inactive: return "519 Client logging is not active in the daemon";
    case S::InvalidName: return "521 Invalid name";
  }
  return "520 Got unexpected error from daemon";
}

}  // namespace text
}  // namespace gnomon::gnomonc
