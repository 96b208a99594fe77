#include "lib/config/config_summary.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "lib/config/config_rules.hpp"

namespace gnomon {

namespace {

// Shortest text that reads back to the same double, always with a '.' or an
// exponent so that TOML sees a float.
std::string format_double(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, ec == std::errc() ? end : buf);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (ch == '"') out += "\\\"";
    else if (ch == '\\') out += "\\\\";
    else if (ch == '\n') out += "\\n";
    else if (ch == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

std::string toml_string_array(const std::vector<std::string>& items) {
  std::vector<std::string> quoted;
  quoted.reserve(items.size());
  for (const std::string& s : items) quoted.push_back(quote(s));
  return "[" + join(quoted, ", ") + "]";
}

std::vector<std::string> addresses(const std::vector<SocketAddress>& list) {
  std::vector<std::string> out;
  out.reserve(list.size());
  for (const SocketAddress& a : list) out.push_back(a.to_string());
  return out;
}

// Plain figures for people: "1", "0.5", "83333.333".
std::string human_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

const char* yes_no(bool b) { return b ? "true" : "false"; }

// ---- --check-config summary ----

std::string source_options(const SourceConfig& s) {
  const SourceConfig d;
  std::vector<std::string> o;
  if (s.port != d.port) o.push_back("port " + std::to_string(s.port));
  if (s.iburst) o.emplace_back("iburst");
  if (s.minpoll != d.minpoll || s.maxpoll != d.maxpoll) {
    o.push_back("minpoll " + std::to_string(s.minpoll));
    o.push_back("maxpoll " + std::to_string(s.maxpoll));
  }
  if (s.mode == SourceMode::Pool) o.push_back("maxsources " + std::to_string(s.max_sources));
  if (s.prefer) o.emplace_back("prefer");
  if (s.noselect) o.emplace_back("noselect");
  if (s.require) o.emplace_back("require");
  if (s.xleave) o.emplace_back("xleave");
  if (s.maxdelay_s != d.maxdelay_s) o.push_back("maxdelay " + human_number(s.maxdelay_s) + " s");
  if (s.key) o.push_back("key " + std::to_string(*s.key));
  if (s.nts) o.push_back("nts (NTS-KE port " + std::to_string(s.nts_port) + ")");
  return join(o, " ");
}

std::string resolution_note(const SourceConfig& s) {
  if (rules::classify_source_address(s.address) == rules::AddressKind::Ip) return "IP address";
  return s.mode == SourceMode::Pool ? "unresolved: pool hostname (resolved at run time)"
                                    : "unresolved: hostname (resolved at run time)";
}

void summarize_sources(const Config& c, std::string& out) {
  std::size_t servers = 0, pools = 0, peers = 0;
  for (const SourceConfig& s : c.sources) {
    (s.mode == SourceMode::Pool ? pools : s.mode == SourceMode::Peer ? peers : servers) += 1;
  }
  out += "Upstream sources: " + std::to_string(c.sources.size());
  std::vector<std::string> kinds;
  if (servers > 0) kinds.push_back(std::to_string(servers) + (servers == 1 ? " server" : " servers"));
  if (pools > 0) kinds.push_back(std::to_string(pools) + (pools == 1 ? " pool" : " pools"));
  if (peers > 0) kinds.push_back(std::to_string(peers) + (peers == 1 ? " peer" : " peers"));
  if (!kinds.empty()) out += " (" + join(kinds, ", ") + ")";
  out += '\n';
  std::size_t width = 0;
  for (const SourceConfig& s : c.sources) {
    width = std::max(width, rules::source_mode_name(s.mode).size() + 1 + s.address.size());
  }
  for (const SourceConfig& s : c.sources) {
    std::string head = std::string(rules::source_mode_name(s.mode)) + " " + s.address;
    head.resize(std::max(width, head.size()), ' ');
    std::string opts = source_options(s);
    out += "  " + head + "  " + (opts.empty() ? "" : opts + "  ") + "[" + resolution_note(s) + "]\n";
  }
}

void summarize_access(const std::vector<AccessRule>& rules_list, std::string_view nobody, std::string& out) {
  for (const AccessRule& r : rules_list) out += "  " + rules::describe_access_rule(r) + "\n";
  bool any_allow = std::any_of(rules_list.begin(), rules_list.end(), [](const AccessRule& r) { return r.allow; });
  out += any_allow ? "  (any other address is denied)\n" : "  " + std::string(nobody) + "\n";
}

void summarize_server(const Config& c, std::string& out) {
  const ServerConfig& s = c.server;
  if (!s.enabled) {
    out += "NTP server: off (client only)\n";
    return;
  }
  out += "NTP server: listening on " + (s.listen.empty() ? std::string("nothing") : join(addresses(s.listen), ", ")) +
         "\n";
  summarize_access(s.access, "no allow rule: every client is refused", out);
  if (s.ratelimit.enabled) {
    out += "  rate limit: interval " + std::to_string(s.ratelimit.interval) + " (log2 s), burst " +
           std::to_string(s.ratelimit.burst) + ", leak " + std::to_string(s.ratelimit.leak) +
           (s.ratelimit.kod ? ", KoD RATE on" : ", KoD off") + "\n";
  } else {
    out += "  rate limit: off\n";
  }
  out += "  client log: " + (s.clientloglimit == 0 ? std::string("off") : std::to_string(s.clientloglimit) + " bytes") +
         "; threads: " + (s.threads == 0 ? std::string("one per core") : std::to_string(s.threads)) + "\n";
}

void summarize_clock(const Config& c, std::string& out) {
  const ClockConfig& k = c.clock;
  out += std::string("Clock: ") + (k.control ? "adjusted by gnomond" : "never adjusted (measure and serve only)");
  if (!k.makestep) {
    out += "; never stepped (slew only)";
  } else if (k.makestep->limit < 0) {
    out += "; step if |offset| > " + human_number(k.makestep->threshold_s) + " s at any update";
  } else {
    out += "; step if |offset| > " + human_number(k.makestep->threshold_s) + " s in the first " +
           std::to_string(k.makestep->limit) + " updates";
  }
  out += "\n  drift file: " + (k.driftfile.empty() ? std::string("none") : k.driftfile) +
         "; maxslewrate " + human_number(k.maxslewrate_ppm) + " ppm; maxupdateskew " +
         human_number(k.maxupdateskew_ppm) + " ppm";
  if (k.rtcsync) out += "; rtcsync";
  if (!k.leapsectz.empty()) out += "; leap seconds from " + k.leapsectz;
  out += "\n";
}

// ---- --print-config TOML ----

bool allows_then_denies(const std::vector<AccessRule>& list) {
  bool seen_deny = false;
  for (const AccessRule& r : list) {
    if (r.both_families && !r.all) return false;
    if (!r.allow) seen_deny = true;
    else if (seen_deny) return false;
  }
  return true;
}

void toml_access(const std::vector<AccessRule>& list, std::string& out) {
  if (allows_then_denies(list)) {
    std::vector<std::string> allow, deny;
    for (const AccessRule& r : list) (r.allow ? allow : deny).push_back(rules::access_argument(r));
    out += "allow = " + toml_string_array(allow) + "\n";
    out += "deny = " + toml_string_array(deny) + "\n";
    return;
  }
  std::vector<std::string> ordered;
  for (const AccessRule& r : list) ordered.push_back(rules::describe_access_rule(r));
  out += "access = " + toml_string_array(ordered) + "   # in order, as in chrony.conf\n";
}

void toml_source(const SourceConfig& s, std::string& out) {
  const SourceConfig d;
  out += "\n[[source]]";
  if (!s.origin.empty()) out += "                 # " + s.origin;
  out += "\naddress = " + quote(s.address) + "\n";
  out += "mode = " + quote(rules::source_mode_name(s.mode)) + "\n";
  if (s.mode == SourceMode::Pool) out += "max-sources = " + std::to_string(s.max_sources) + "\n";
  if (s.port != d.port) out += "port = " + std::to_string(s.port) + "\n";
  if (s.iburst) out += "iburst = true\n";
  if (s.minpoll != d.minpoll) out += "minpoll = " + std::to_string(s.minpoll) + "\n";
  if (s.maxpoll != d.maxpoll) out += "maxpoll = " + std::to_string(s.maxpoll) + "\n";
  if (s.prefer) out += "prefer = true\n";
  if (s.noselect) out += "noselect = true\n";
  if (s.require) out += "require = true\n";
  if (s.xleave) out += "xleave = true\n";
  if (s.maxdelay_s != d.maxdelay_s) out += "maxdelay = " + format_double(s.maxdelay_s) + "\n";
  if (s.key) out += "key = " + std::to_string(*s.key) + "\n";
  if (s.nts) out += "nts = true\n";
  if (s.nts_port != d.nts_port) out += "nts-port = " + std::to_string(s.nts_port) + "\n";
  if (s.burst) out += "burst = true\n";
  if (s.offline) out += "offline = true\n";
  if (s.trust) out += "trust = true\n";
  if (s.maxdelayratio != d.maxdelayratio) out += "maxdelayratio = " + format_double(s.maxdelayratio) + "\n";
  if (s.maxdelaydevratio != d.maxdelaydevratio)
    out += "maxdelaydevratio = " + format_double(s.maxdelaydevratio) + "\n";
  if (s.maxdelayquant != d.maxdelayquant) out += "maxdelayquant = " + format_double(s.maxdelayquant) + "\n";
  if (s.polltarget) out += "polltarget = " + std::to_string(*s.polltarget) + "\n";
  if (s.minsamples) out += "minsamples = " + std::to_string(*s.minsamples) + "\n";
  if (s.maxsamples) out += "maxsamples = " + std::to_string(*s.maxsamples) + "\n";
  if (s.maxunreach != d.maxunreach) out += "maxunreach = " + std::to_string(s.maxunreach) + "\n";
  if (s.minstratum != d.minstratum) out += "minstratum = " + std::to_string(s.minstratum) + "\n";
  if (s.version != d.version) out += "version = " + std::to_string(s.version) + "\n";
  if (s.filter != d.filter) out += "filter = " + std::to_string(s.filter) + "\n";
  if (s.offset_s != d.offset_s) out += "offset = " + format_double(s.offset_s) + "\n";
}

std::string_view auth_select_name(AuthSelectMode m) {
  switch (m) {
    case AuthSelectMode::Require: return "require";
    case AuthSelectMode::Prefer: return "prefer";
    case AuthSelectMode::Mix: return "mix";
    case AuthSelectMode::Ignore: return "ignore";
  }
  return "mix";
}

void toml_select(const SelectConfig& s, std::string& out) {
  if (s == SelectConfig{}) return;
  out += "\n[select]\n";
  out += "authselectmode = " + quote(auth_select_name(s.auth_select)) + "\n";
  out += "minsources = " + std::to_string(s.min_sources) + "\n";
  out += "maxdistance = " + format_double(s.max_distance_s) + "\n";
  out += "maxjitter = " + format_double(s.max_jitter_s) + "\n";
  out += "combinelimit = " + format_double(s.combine_limit) + "\n";
  out += "reselectdist = " + format_double(s.reselect_distance_s) + "\n";
  out += "stratumweight = " + format_double(s.stratum_weight_s) + "\n";
  if (s.min_samples) out += "minsamples = " + std::to_string(*s.min_samples) + "\n";
  if (s.max_samples) out += "maxsamples = " + std::to_string(*s.max_samples) + "\n";
}

}  // namespace

std::string format_summary(const Config& c) {
  std::string out;
  out += "Configuration: " + (c.source_file.empty() ? std::string("(built in)") : c.source_file) + "\n";
  summarize_sources(c, out);
  out += c.local.enabled ? "Local clock: stratum " + std::to_string(c.local.stratum) +
                               (c.local.orphan ? " (orphan mode)" : "") +
                               ", served while no real source is usable (LOCL)\n"
                         : std::string("Local clock: off\n");
  summarize_server(c, out);
  if (c.nts.enabled) {
    out += "NTS-KE server: " + join(addresses(c.nts.listen), ", ") + "; certificate " + c.nts.certificate +
           ", key " + c.nts.key + "\n";
  }
  summarize_clock(c, out);
  if (!c.auth.keyfile.empty()) out += "Keys: " + c.auth.keyfile + "\n";
  out += "Control: socket " + (c.control.socket.empty() ? std::string("off") : c.control.socket) + "; UDP " +
         (c.control.listen.empty() ? std::string("off") : join(addresses(c.control.listen), ", ")) + "\n";
  for (const AccessRule& r : c.control.access) out += "  cmd" + rules::describe_access_rule(r) + "\n";
  std::vector<std::string> files;
  if (c.log.measurements) files.emplace_back("measurements");
  if (c.log.statistics) files.emplace_back("statistics");
  if (c.log.tracking) files.emplace_back("tracking");
  out += "Log: level " + std::string(rules::log_level_name(c.log.level)) + "; files: " +
         (files.empty() || c.log.dir.empty() ? std::string("none") : join(files, ", ") + " in " + c.log.dir) +
         "\n";
  out += "Metrics: " + (c.metrics.listen ? "http://" + c.metrics.listen->to_string() + "/metrics" : std::string("off")) +
         "\n";
  return out;
}

std::string format_as_toml(const Config& c) {
  std::string out = "# gnomon configuration";
  if (!c.source_file.empty()) out += ", from " + c.source_file;
  out += "\n";

  for (const SourceConfig& s : c.sources) toml_source(s, out);

  if (c.local != LocalConfig{}) {
    out += "\n[local]\n";
    if (!c.local.enabled) out += "enabled = false\n";
    out += "stratum = " + std::to_string(c.local.stratum) + "\n";
    out += std::string("orphan = ") + yes_no(c.local.orphan) + "\n";
    out += "distance = " + format_double(c.local.distance_s) + "\n";
    if (c.local.activate_s != 0.0) out += "activate = " + format_double(c.local.activate_s) + "\n";
    if (c.local.wait_synced_s != 0.0) out += "wait-synced = " + format_double(c.local.wait_synced_s) + "\n";
    if (c.local.wait_unsynced_s >= 0.0)
      out += "wait-unsynced = " + format_double(c.local.wait_unsynced_s) + "\n";
  }

  const ServerConfig& s = c.server;
  if (s == ServerConfig{}) {
    out += "\n# no [server]: gnomond answers no NTP clients\n";
  } else {
    out += "\n[server]\n";
    if (!s.enabled) out += "enabled = false\n";
    out += "listen = " + toml_string_array(addresses(s.listen)) + "\n";
    toml_access(s.access, out);
    out += "threads = " + std::to_string(s.threads) + "\n";
    out += "clientloglimit = " + std::to_string(s.clientloglimit) + "\n";
    if (s.ratelimit != RateLimitConfig{}) {
      out += "\n[server.ratelimit]\n";
      if (!s.ratelimit.enabled) out += "enabled = false\n";
      out += "interval = " + std::to_string(s.ratelimit.interval) + "\n";
      out += "burst = " + std::to_string(s.ratelimit.burst) + "\n";
      out += "leak = " + std::to_string(s.ratelimit.leak) + "\n";
      out += std::string("kod = ") + yes_no(s.ratelimit.kod) + "\n";
    }
  }

  const ClockConfig& k = c.clock;
  out += "\n[clock]\n";
  out += std::string("control = ") + yes_no(k.control) + "\n";
  if (k.makestep) {
    out += "makestep = { threshold = " + format_double(k.makestep->threshold_s) +
           ", limit = " + std::to_string(k.makestep->limit) + " }\n";
  } else {
    out += "makestep = false           # never step, slew only\n";
  }
  out += "maxslewrate-ppm = " + format_double(k.maxslewrate_ppm) + "\n";
  out += "maxupdateskew-ppm = " + format_double(k.maxupdateskew_ppm) + "\n";
  if (k.maxclockerror_ppm != ClockConfig{}.maxclockerror_ppm)
    out += "maxclockerror-ppm = " + format_double(k.maxclockerror_ppm) + "\n";
  out += "driftfile = " + quote(k.driftfile) + "\n";
  out += std::string("rtcsync = ") + yes_no(k.rtcsync) + "\n";
  out += "leapsectz = " + quote(k.leapsectz) + "\n";
  if (k.maxchange) {
    out += "maxchange = { offset = " + format_double(k.maxchange->offset_s) + ", start = " +
           std::to_string(k.maxchange->start_updates) + ", ignore = " + std::to_string(k.maxchange->ignore) + " }\n";
  }
  out += "maxdrift-ppm = " + format_double(k.maxdrift_ppm) + "\n";
  out += "corrtimeratio = " + format_double(k.corrtimeratio) + "\n";
  out += "logchange = " + format_double(k.logchange_s) + "\n";
  if (k.initstepslew) {
    out += "initstepslew = { threshold = " + format_double(k.initstepslew->threshold_s) +
           ", servers = " + toml_string_array(k.initstepslew->addresses) + " }\n";
  }
  if (k.fallbackdrift) {
    out += "fallbackdrift = { min = " + std::to_string(k.fallbackdrift->min_log2) +
           ", max = " + std::to_string(k.fallbackdrift->max_log2) + " }\n";
  }
  toml_select(c.select, out);

  out += "\n[auth]\nkeyfile = " + quote(c.auth.keyfile) + "\n";

  const NtsConfig& n = c.nts;
  if (n != NtsConfig{}) {
    out += "\n[nts]\n";
    if (!n.enabled) out += "enabled = false            # no NTS-KE server\n";
    out += "listen = " + toml_string_array(addresses(n.listen)) + "\n";
    out += "certificate = " + quote(n.certificate) + "\n";
    out += "key = " + quote(n.key) + "\n";
    out += "keydir = " + quote(n.keydir) + "\n";
    out += "trusted-certs = " + quote(n.trusted_certs) + "\n";
    out += "max-connections = " + std::to_string(n.max_connections) + "\n";
    out += "timeout = " + format_double(n.timeout_s) + "\n";
  }

  out += "\n[control]\n";
  out += "socket = " + quote(c.control.socket) + "\n";
  out += "listen = " + toml_string_array(addresses(c.control.listen)) + "\n";
  toml_access(c.control.access, out);
  if (c.control.open_commands != ControlConfig{}.open_commands)
    out += "open-commands = " + toml_string_array(c.control.open_commands) + "\n";

  out += "\n[log]\n";
  out += "level = " + quote(rules::log_level_name(c.log.level)) + "\n";
  out += "dir = " + quote(c.log.dir) + "\n";
  out += std::string("measurements = ") + yes_no(c.log.measurements) + "\n";
  out += std::string("statistics = ") + yes_no(c.log.statistics) + "\n";
  out += std::string("tracking = ") + yes_no(c.log.tracking) + "\n";

  out += "\n[metrics]\nlisten = " + quote(c.metrics.listen ? c.metrics.listen->to_string() : std::string()) + "\n";
  return out;
}

}  // namespace gnomon
