#include "daemon/metrics.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "daemon/control_server.hpp"
#include "daemon/ntp_server.hpp"
#include "daemon/time_sync.hpp"
#include "lib/server.hpp"

namespace gnomon::daemon {

namespace {

const char* mode_name(SourceRowMode m) {
  switch (m) {
    case SourceRowMode::Server: return "server";
    case SourceRowMode::Peer: return "peer";
    case SourceRowMode::Local: return "local";
  }
  return "server";
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.12g", v);
  return buf;
}

std::string format_value(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%" PRIu64, v);
  return buf;
}

std::string format_refid(std::uint32_t id) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08" PRIX32, id);
  return buf;
}

// Writes one metric family: HELP and TYPE once, then the samples added.
class Family {
 public:
  Family(std::string& out, const char* name, const char* type, const char* help) : out_(out), name_(name) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // `labels` is the inside of {...}, already escaped; "" = none.
  void sample(const std::string& labels, const std::string& value) {
    out_ += name_;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(const std::string& labels, double v) { sample(labels, format_value(v)); }
  void sample(const std::string& labels, std::uint64_t v) { sample(labels, format_value(v)); }

 private:
  std::string& out_;
  const char* name_;
};

std::string label(const char* key, const std::string& value) {
  return std::string(key) + "=\"" + escape_label_value(value) + "\"";
}

std::string source_labels(const SourceMetrics& s) {
  return label("name", s.name) + "," + label("address", s.address) + "," + label("mode", s.mode);
}

void render_system(std::string& out, const MetricsSnapshot& m) {
  const TrackingReport& t = m.tracking;
  auto gauge = [&](const char* name, const char* help, double v) {
    Family(out, name, "gauge", help).sample("", v);
  };
  gauge("gnomon_system_synchronised", "1 when the clock is synchronised to a real source, else 0",
        t.synchronised ? 1.0 : 0.0);
  gauge("gnomon_system_local_reference", "1 when the local clock is being served (no usable source), else 0",
        t.local ? 1.0 : 0.0);
  gauge("gnomon_system_stratum", "Stratum served to clients (0 = unsynchronised)", static_cast<double>(t.stratum));
  {
    Family f(out, "gnomon_system_reference_info", "gauge",
             "The current reference: refid as 8 hex digits and the source's name (LOCL for the local clock)");
    std::string source = t.local ? std::string("LOCL") : t.source_name;
    f.sample(label("refid", format_refid(t.ref_id)) + "," + label("source", source), 1.0);
  }
  gauge("gnomon_system_offset_seconds",
        "Offset of the system clock still being corrected, seconds, + = ahead of true time "
        "(chronyc tracking: System time)",
        t.system_time_offset_s);
  gauge("gnomon_system_last_offset_seconds", "Offset measured at the last clock update, seconds, + = ahead",
        t.last_offset_s);
  gauge("gnomon_system_rms_offset_seconds", "Long-term average of the offset at updates, seconds", t.rms_offset_s);
  gauge("gnomon_system_frequency_ppm", "Frequency error of the uncorrected clock, ppm, + = fast", t.freq_ppm);
  gauge("gnomon_system_residual_frequency_ppm",
        "Residual frequency of the selected source against the clock's correction, ppm", t.resid_freq_ppm);
  gauge("gnomon_system_skew_ppm", "Estimated error bound of the frequency, ppm", t.skew_ppm);
  gauge("gnomon_system_root_delay_seconds", "Total round-trip delay to the stratum-1 reference, seconds",
        t.root_delay_s);
  gauge("gnomon_system_root_dispersion_seconds", "Total dispersion to the stratum-1 reference, seconds",
        t.root_dispersion_s);
  gauge("gnomon_system_leap", "Leap status: 0 normal, 1 insert second, 2 delete second, 3 unsynchronised",
        static_cast<double>(static_cast<int>(t.leap)));
  gauge("gnomon_system_update_interval_seconds", "Interval between the last two clock updates, seconds",
        t.last_update_interval_s);
  gauge("gnomon_system_last_update_age_seconds", "Seconds since the reference was last updated (NaN = never)",
        m.last_update_age_s ? *m.last_update_age_s : std::nan(""));
}

void render_sources(std::string& out, const MetricsSnapshot& m) {
  auto per_source = [&](const char* name, const char* help, auto value_of) {
    Family f(out, name, "gauge", help);
    for (const auto& s : m.sources) {
      std::optional<double> v = value_of(s);
      if (v) f.sample(source_labels(s), *v);
    }
  };
  per_source("gnomon_source_state",
             "Selection state: 0 = * selected, 1 = + combined, 2 = - not combined, 3 = x falseticker, "
             "4 = ~ too variable, 5 = ? unusable",
             [](const SourceMetrics& s) -> std::optional<double> { return source_state_code(s.state); });
  per_source("gnomon_source_selected", "1 for the source the clock is synchronised to, else 0",
             [](const SourceMetrics& s) -> std::optional<double> { return s.state == '*' ? 1.0 : 0.0; });
  per_source("gnomon_source_reach", "Reachability register of the last 8 polls (377 octal = 255 = all answered)",
             [](const SourceMetrics& s) -> std::optional<double> { return static_cast<double>(s.reach); });
  per_source("gnomon_source_stratum", "Stratum of the source (0 = none yet)",
             [](const SourceMetrics& s) -> std::optional<double> { return static_cast<double>(s.stratum); });
  per_source("gnomon_source_poll_interval_seconds", "Current polling interval, seconds",
             [](const SourceMetrics& s) -> std::optional<double> { return std::ldexp(1.0, s.poll_log2); });
  per_source("gnomon_source_offset_seconds",
             "Offset of the last sample (local minus source, adjusted for slews since), seconds, + = we are ahead",
             [](const SourceMetrics& s) { return s.offset_s; });
  per_source("gnomon_source_delay_seconds", "Round-trip delay of the last measurement, seconds",
             [](const SourceMetrics& s) { return s.delay_s; });
  per_source("gnomon_source_jitter_seconds", "Standard deviation of the source's samples (sourcestats Std Dev), seconds",
             [](const SourceMetrics& s) { return s.jitter_s; });
  per_source("gnomon_source_samples", "Samples held for the source's statistics (sourcestats NP)",
             [](const SourceMetrics& s) -> std::optional<double> { return static_cast<double>(s.samples); });
  per_source("gnomon_source_last_sample_age_seconds", "Seconds since the source's last good sample",
             [](const SourceMetrics& s) { return s.last_sample_age_s; });
}

void render_server(std::string& out, const MetricsSnapshot& m) {
  const ServerCountersSnapshot& c = *m.server;
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    Family(out, name, "counter", help).sample("", v);
  };
  counter("gnomon_server_received_packets_total", "NTP requests read from the server sockets", c.received);
  counter("gnomon_server_answered_packets_total", "NTP replies sent (including KoD)", c.answered);
  {
    Family f(out, "gnomon_server_dropped_packets_total", "counter", "NTP requests dropped, by reason");
    for (std::size_t i = 1; i < kDropReasonCount; ++i) {
      f.sample(label("reason", metric_name(static_cast<DropReason>(i))), c.dropped[i]);
    }
  }
  std::uint64_t limited = c.dropped[static_cast<std::size_t>(DropReason::RateLimited)] + c.kod_sent;
  counter("gnomon_server_rate_limited_packets_total",
          "NTP requests the rate limiter did not answer normally (dropped or answered with a RATE KoD)", limited);
  counter("gnomon_server_kod_sent_packets_total", "Kiss-o'-death replies sent", c.kod_sent);
  counter("gnomon_server_interleaved_packets_total", "Replies sent in interleaved mode", c.interleaved);
  counter("gnomon_server_send_errors_total", "Replies the kernel refused to send", c.send_errors);
  Family(out, "gnomon_server_workers", "gauge", "NTP server worker threads").sample("", static_cast<double>(m.server_workers));
}

void render_control(std::string& out, const ControlCountersSnapshot& c) {
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    Family(out, name, "counter", help).sample("", v);
  };
  counter("gnomon_control_received_packets_total", "Command requests received (UDP and Unix socket)", c.received);
  counter("gnomon_control_answered_packets_total", "Command replies sent", c.answered);
  counter("gnomon_control_dropped_packets_total", "Command requests dropped (malformed, denied or rate-limited)",
          c.dropped);
}

}  // namespace

int source_state_code(char state) {
  switch (state) {
    case '*': return 0;
    case '+': return 1;
    case '-': return 2;
    case 'x': return 3;
    case '~': return 4;
    default: return 5;
  }
}

std::string escape_label_value(const std::string& v) {
  std::string r;
  r.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      r += "\\\\";
    } else if (c == '"') {
      r += "\\\"";
    } else if (c == '\n') {
      r += "\\n";
    } else {
      r += c;
    }
  }
  return r;
}

MetricsSnapshot collect_metrics(TimeSync& sync, const NtpServer* server, const ControlCounters* control,
                                double start_time_s) {
  MetricsSnapshot m;
  m.version = GNOMON_VERSION;
  m.start_time_s = start_time_s;
  SyncEngine& engine = sync.engine();
  TimePoint now = sync.now();
  m.tracking = engine.tracking(now);
  if ((m.tracking.synchronised || m.tracking.local) && m.tracking.ref_time.unix_ns != 0) {
    m.last_update_age_s = std::max(0.0, (now - m.tracking.ref_time).to_seconds());
  }
  std::unordered_map<SourceId, SourcestatsReport> stats;
  for (const auto& r : engine.sourcestats(now)) stats.emplace(r.id, r.stats);
  for (const auto& r : engine.sources(now)) {
    SourceMetrics s;
    s.name = r.mode == SourceRowMode::Local ? "LOCL" : r.name;
    if (r.address && r.mode != SourceRowMode::Local) s.address = r.address->ip.to_string();
    s.mode = mode_name(r.mode);
    s.state = r.state;
    s.reach = r.reach;
    s.stratum = r.stratum;
    s.poll_log2 = r.poll;
    if (r.last_sample.valid) s.offset_s = r.last_sample.offset_s;
    if (r.last_rx_ago_s && std::isfinite(*r.last_rx_ago_s)) s.last_sample_age_s = *r.last_rx_ago_s;
    if (auto it = stats.find(r.id); it != stats.end()) {
      s.samples = it->second.samples;
      if (s.samples > 0) s.jitter_s = it->second.std_dev_s;
    }
    if (const Source* src = engine.source(r.id); src != nullptr && src->ntp_data().total_valid_rx > 0) {
      s.delay_s = src->ntp_data().peer_delay_s;
    }
    m.sources.push_back(std::move(s));
  }
  if (server != nullptr) {
    m.server = server->counters();
    m.server_workers = server->worker_count();
  }
  if (control != nullptr) {
    m.control = ControlCountersSnapshot{control->received.get(), control->answered.get(), control->dropped.get()};
  }
  return m;
}

std::string render_metrics(const MetricsSnapshot& m) {
  std::string out;
  out.reserve(8192 + 2048 * m.sources.size());
  {
    Family f(out, "gnomon_build_info", "gauge", "Build information of gnomond; the value is always 1");
    f.sample(label("version", m.version), 1.0);
  }
  Family(out, "gnomon_start_time_seconds", "gauge", "Unix time gnomond started, seconds").sample("", m.start_time_s);
  render_system(out, m);
  render_sources(out, m);
  if (m.server) render_server(out, m);
  if (m.control) render_control(out, *m.control);
  return out;
}

}  // namespace gnomon::daemon
