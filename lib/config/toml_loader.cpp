#include "lib/config/toml_loader.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <initializer_list>
#include <limits>
#include <set>
#include <utility>

#include "lib/config/config_rules.hpp"
#include "lib/config/toml.hpp"

namespace gnomon {

namespace {

// Where diagnostics go while one document is read.
class Reporter {
 public:
  explicit Reporter(std::string file) : file_(std::move(file)) {}

  void error(const toml::source_region& where, std::string message, std::string allowed = {}) {
    add(where, true, std::move(message), std::move(allowed));
  }
  void warn(const toml::source_region& where, std::string message, std::string allowed = {}) {
    add(where, false, std::move(message), std::move(allowed));
  }
  [[nodiscard]] const std::string& file() const { return file_; }
  std::vector<ConfigDiagnostic>& diagnostics() { return diagnostics_; }

 private:
  void add(const toml::source_region& where, bool is_error, std::string message, std::string allowed) {
    diagnostics_.push_back(ConfigDiagnostic{file_, static_cast<int>(where.begin.line),
                                            static_cast<int>(where.begin.column), is_error,
                                            std::move(message), std::move(allowed)});
  }
  std::string file_;
  std::vector<ConfigDiagnostic> diagnostics_;
};

std::string_view type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
  return "an integer " + std::to_string(lo) + ".." + std::to_string(hi);
}

// One table being read: typed getters that record which keys were used, and
// an unknown-key report for the rest.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string name, std::initializer_list<std::string_view> known,
              Reporter& reporter)
      : table_(table), name_(std::move(name)), known_(known), reporter_(reporter) {}

  ~TableReader() = default;
  TableReader(const TableReader&) = delete;
  TableReader& operator=(const TableReader&) = delete;

  [[nodiscard]] const toml::node* find(std::string_view key) const { return table_.get(key); }
  [[nodiscard]] bool has(std::string_view key) const { return table_.contains(key); }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const toml::table& table() const { return table_; }

  // Reports every key that is not in `known`; call once at the end.
  void report_unknown_keys() {
    std::string allowed;
    for (std::string_view k : known_) allowed += (allowed.empty() ? "" : ", ") + std::string(k);
    for (auto&& [key, node] : table_) {
      if (std::find(known_.begin(), known_.end(), key.str()) != known_.end()) continue;
      reporter_.error(key.source(), "unknown key '" + std::string(key.str()) + "' in " + name_,
                      allowed.empty() ? "no keys" : allowed);
    }
  }

  bool read_bool(std::string_view key, bool& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return false;
    if (const auto* b = n->as_boolean()) {
      out = b->get();
      return true;
    }
    wrong_type(*n, key, "true or false");
    return false;
  }

  template <typename T>
  bool read_int(std::string_view key, std::int64_t lo, std::int64_t hi, T& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return false;
    const auto* i = n->as_integer();
    if (i == nullptr) {
      wrong_type(*n, key, range_text(lo, hi));
      return false;
    }
    std::int64_t v = i->get();
    if (v < lo || v > hi) {
      reporter_.error(n->source(), label(key) + " = " + std::to_string(v) + " is out of range",
                      range_text(lo, hi));
      return false;
    }
    out = static_cast<T>(v);
    return true;
  }

  // A finite number in [lo, hi] (or (lo, hi] when lo_open); integers are accepted.
  bool read_double(std::string_view key, double lo, double hi, bool lo_open, double& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return false;
    std::string allowed = std::string("a finite number ") + (lo_open ? "> " : ">= ") + format_number(lo) +
                          " and <= " + format_number(hi);
    double v = 0;
    if (const auto* f = n->as_floating_point()) {
      v = f->get();
    } else if (const auto* i = n->as_integer()) {
      v = static_cast<double>(i->get());
    } else {
      wrong_type(*n, key, allowed);
      return false;
    }
    if (!std::isfinite(v) || v < lo || v > hi || (lo_open && v == lo)) {
      reporter_.error(n->source(), label(key) + " = " + format_number(v) + " is out of range", allowed);
      return false;
    }
    out = v;
    return true;
  }

  bool read_string(std::string_view key, std::string& out) {
    const toml::node* n = find(key);
    if (n == nullptr) return false;
    if (const auto* s = n->as_string()) {
      out = s->get();
      return true;
    }
    wrong_type(*n, key, "a string");
    return false;
  }

  // An array of strings, each with its node for positions.
  bool read_string_array(std::string_view key, std::vector<std::pair<std::string, const toml::node*>>& out,
                         std::string_view element_allowed) {
    const toml::node* n = find(key);
    if (n == nullptr) return false;
    const auto* a = n->as_array();
    if (a == nullptr) {
      wrong_type(*n, key, "an array of strings: " + std::string(element_allowed));
      return false;
    }
    bool ok = true;
    for (const toml::node& e : *a) {
      if (const auto* s = e.as_string()) {
        out.emplace_back(s->get(), &e);
      } else {
        reporter_.error(e.source(), "element of " + label(key) + " is " + std::string(type_name(e)),
                        "strings: " + std::string(element_allowed));
        ok = false;
      }
    }
    return ok;
  }

  // A sub-table; anything else under that key is an error.
  const toml::table* read_table(std::string_view key) {
    const toml::node* n = find(key);
    if (n == nullptr) return nullptr;
    if (const auto* t = n->as_table()) return t;
    wrong_type(*n, key, "a table");
    return nullptr;
  }

  [[nodiscard]] std::string label(std::string_view key) const {
    return name_ + " " + std::string(key);
  }

  void wrong_type(const toml::node& n, std::string_view key, std::string allowed) {
    reporter_.error(n.source(), label(key) + " has the wrong type: " + std::string(type_name(n)),
                    std::move(allowed));
  }

  static std::string format_number(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.10g", v);
    return buf;
  }

 private:
  const toml::table& table_;
  std::string name_;
  std::vector<std::string_view> known_;
  Reporter& reporter_;
};

constexpr std::string_view kListenAllowed = "\"IPv4:port\", \"[IPv6]:port\" or a bare address";

// Socket addresses; a bare address takes default_port. Port 0 is refused.
void read_listen(TableReader& t, Reporter& r, std::uint16_t default_port, std::vector<SocketAddress>& out) {
  std::vector<std::pair<std::string, const toml::node*>> items;
  if (!t.read_string_array("listen", items, kListenAllowed)) return;
  out.clear();
  for (const auto& [text, node] : items) {
    std::optional<SocketAddress> a = SocketAddress::parse(text, default_port);
    if (!a || a->port == 0) {
      r.error(node->source(), "invalid listen address '" + text + "' in " + t.name(),
              std::string(kListenAllowed) + ", port 1..65535");
      continue;
    }
    out.push_back(*a);
  }
}

void add_access(Reporter& r, const toml::node& node, std::string_view argument, bool allow,
                std::vector<AccessRule>& out) {
  rules::AccessParse p = rules::parse_access_argument(argument, allow);
  if (p.status == rules::AccessParse::Status::Invalid) {
    r.error(node.source(), p.message, std::string(rules::kSubnetAllowed));
    return;
  }
  if (p.status == rules::AccessParse::Status::HostBitsMasked) r.warn(node.source(), p.message);
  out.insert(out.end(), p.rules.begin(), p.rules.end());
}

// allow = [...] and deny = [...] (allows first, then denies), or the ordered
// access = ["allow X", "deny Y", ...] that keeps chrony's order exactly.
void read_access(TableReader& t, Reporter& r, std::vector<AccessRule>& out) {
  std::vector<std::pair<std::string, const toml::node*>> allow, deny, access;
  const std::string element = "\"SUBNET\", \"all\" or \"all SUBNET\"";
  t.read_string_array("allow", allow, element);
  t.read_string_array("deny", deny, element);
  t.read_string_array("access", access, "\"allow SUBNET\", \"deny SUBNET\", \"allow all\", ...");
  if (t.has("access") && (t.has("allow") || t.has("deny"))) {
    r.error(t.find("access")->source(), t.name() + " has both access and allow/deny",
            "either allow/deny lists or one ordered access list");
    return;
  }
  out.clear();
  auto non_empty = [&](const std::string& text, const toml::node* node) {
    if (text.find_first_not_of(" \t") != std::string::npos) return true;
    r.error(node->source(), "empty subnet in " + t.name(), std::string(rules::kSubnetAllowed));
    return false;
  };
  for (const auto& [text, node] : allow)
    if (non_empty(text, node)) add_access(r, *node, text, true, out);
  for (const auto& [text, node] : deny)
    if (non_empty(text, node)) add_access(r, *node, text, false, out);
  for (const auto& [text, node] : access) {
    std::string_view s = text;
    std::size_t start = s.find_first_not_of(" \t");
    s = start == std::string_view::npos ? std::string_view{} : s.substr(start);
    std::string_view word = s.substr(0, s.find_first_of(" \t"));
    if (word != "allow" && word != "deny") {
      r.error(node->source(), "access entry '" + text + "' must start with allow or deny",
              "\"allow [all] [SUBNET]\" or \"deny [all] [SUBNET]\"");
      continue;
    }
    add_access(r, *node, s.substr(word.size()), word == "allow", out);
  }
}

void read_source(const toml::table& table, std::size_t index, Reporter& r, Config& cfg) {
  TableReader t(table, "[[source]] #" + std::to_string(index + 1),
                {"address", "mode", "max-sources", "port", "iburst", "minpoll", "maxpoll", "prefer",
                 "noselect", "require", "xleave", "maxdelay", "key", "nts", "nts-port", "burst", "offline",
                 "trust", "maxdelayratio", "maxdelaydevratio", "maxdelayquant", "polltarget", "minsamples",
                 "maxsamples", "maxunreach", "minstratum", "version", "filter", "offset"},
                r);
  SourceConfig s;
  s.origin = r.file() + ":" + std::to_string(table.source().begin.line);
  bool ok = true;
  if (!t.read_string("address", s.address)) {
    if (!t.has("address")) r.error(table.source(), t.name() + " has no address", "address = \"HOST or IP\"");
    ok = false;
  } else if (rules::classify_source_address(s.address) == rules::AddressKind::Invalid) {
    r.error(t.find("address")->source(), "invalid source address '" + s.address + "'",
            "a hostname, an IPv4 or IPv6 literal, or \"127.127.1.0\" for the local clock");
    ok = false;
  }
  std::string mode;
  if (t.read_string("mode", mode)) {
    if (mode == "server") s.mode = SourceMode::Server;
    else if (mode == "pool") s.mode = SourceMode::Pool;
    else if (mode == "peer") s.mode = SourceMode::Peer;
    else {
      r.error(t.find("mode")->source(), "unknown mode '" + mode + "'", "\"server\", \"pool\", \"peer\"");
      ok = false;
    }
  }
  int max_sources = s.max_sources;
  if (t.read_int("max-sources", rules::kMaxSourcesMin, rules::kMaxSourcesMax, max_sources)) {
    if (s.mode == SourceMode::Pool) s.max_sources = max_sources;
    else r.warn(t.find("max-sources")->source(), "max-sources applies to mode = \"pool\" only; ignored");
  }
  t.read_int("port", rules::kPortMin, rules::kPortMax, s.port);
  t.read_bool("iburst", s.iburst);
  bool min_given = t.read_int("minpoll", rules::kPollMin, rules::kPollMax, s.minpoll);
  bool max_given = t.read_int("maxpoll", rules::kPollMin, rules::kPollMax, s.maxpoll);
  if (min_given && max_given && s.minpoll > s.maxpoll) {
    r.error(t.find("maxpoll")->source(),
            "minpoll " + std::to_string(s.minpoll) + " is greater than maxpoll " + std::to_string(s.maxpoll),
            "minpoll <= maxpoll");
    ok = false;
  }
  rules::settle_poll_range(s, min_given, max_given);
  t.read_bool("prefer", s.prefer);
  t.read_bool("noselect", s.noselect);
  t.read_bool("require", s.require);
  t.read_bool("xleave", s.xleave);
  t.read_double("maxdelay", 0.0, rules::kSecondsMax, true, s.maxdelay_s);
  std::uint32_t key = 0;
  if (t.read_int("key", 1, std::numeric_limits<std::uint32_t>::max(), key)) s.key = key;
  t.read_bool("nts", s.nts);
  t.read_int("nts-port", rules::kPortMin, rules::kPortMax, s.nts_port);
  t.read_bool("burst", s.burst);
  t.read_bool("offline", s.offline);
  t.read_bool("trust", s.trust);
  t.read_double("maxdelayratio", 1.0, rules::kMaxDelayRatio, false, s.maxdelayratio);
  t.read_double("maxdelaydevratio", 0.0, rules::kMaxDelayRatio, false, s.maxdelaydevratio);
  t.read_double("maxdelayquant", 0.0, 1.0, true, s.maxdelayquant);
  int n = 0;
  if (t.read_int("polltarget", rules::kPollTargetMin, rules::kPollTargetMax, n)) s.polltarget = n;
  if (t.read_int("minsamples", 0, rules::kSamplesMax, n)) s.minsamples = n;
  if (t.read_int("maxsamples", 0, rules::kSamplesMax, n)) s.maxsamples = n;
  t.read_int("maxunreach", 0, std::numeric_limits<std::int32_t>::max(), s.maxunreach);
  t.read_int("minstratum", 0, rules::kStratumMax, s.minstratum);
  t.read_int("version", 1, 4, s.version);
  t.read_int("filter", 0, rules::kFilterMax, s.filter);
  t.read_double("offset", -rules::kSecondsMax, rules::kSecondsMax, false, s.offset_s);
  t.report_unknown_keys();
  if (!ok) return;
  if (s.is_local_clock()) {
    cfg.local.enabled = true;  // ntpd's local-clock idiom: our own clock as the fallback
    return;
  }
  cfg.sources.push_back(std::move(s));
}

void read_sources(const toml::node& node, Reporter& r, Config& cfg) {
  const auto* arr = node.as_array();
  if (arr == nullptr) {
    r.error(node.source(), "source must be an array of tables: write [[source]]", "[[source]] tables");
    return;
  }
  std::size_t index = 0;
  for (const toml::node& e : *arr) {
    if (const auto* t = e.as_table()) read_source(*t, index, r, cfg);
    else r.error(e.source(), "source entry is " + std::string(type_name(e)), "[[source]] tables");
    ++index;
  }
}

// `enabled = false` keeps a section's values while switching it off, so that
// --print-config can say everything a chrony.conf said.
bool read_enabled(TableReader& t) {
  bool enabled = true;
  t.read_bool("enabled", enabled);
  return enabled;
}

void read_local(const toml::table& table, Reporter& r, Config& cfg) {
  TableReader t(table, "[local]",
                {"enabled", "stratum", "orphan", "distance", "activate", "wait-synced", "wait-unsynced"}, r);
  cfg.local.enabled = read_enabled(t);
  t.read_int("stratum", rules::kStratumMin, rules::kStratumMax, cfg.local.stratum);
  t.read_bool("orphan", cfg.local.orphan);
  t.read_double("distance", 0.0, rules::kSecondsMax, false, cfg.local.distance_s);
  t.read_double("activate", 0.0, rules::kSecondsMax, false, cfg.local.activate_s);
  t.read_double("wait-synced", 0.0, rules::kSecondsMax, false, cfg.local.wait_synced_s);
  t.read_double("wait-unsynced", 0.0, rules::kSecondsMax, false, cfg.local.wait_unsynced_s);
  t.report_unknown_keys();
}

void read_ratelimit(const toml::table& table, Reporter& r, RateLimitConfig& rl) {
  TableReader t(table, "[server.ratelimit]", {"enabled", "interval", "burst", "leak", "kod"}, r);
  rl.enabled = read_enabled(t);
  t.read_int("interval", rules::kRateIntervalMin, rules::kRateIntervalMax, rl.interval);
  t.read_int("burst", rules::kRateBurstMin, rules::kRateBurstMax, rl.burst);
  t.read_int("leak", rules::kRateLeakMin, rules::kRateLeakMax, rl.leak);
  t.read_bool("kod", rl.kod);
  t.report_unknown_keys();
}

void read_server(const toml::table& table, Reporter& r, Config& cfg) {
  TableReader t(table, "[server]",
                {"enabled", "listen", "allow", "deny", "access", "threads", "clientloglimit", "ratelimit"}, r);
  ServerConfig& s = cfg.server;
  s.enabled = read_enabled(t);
  s.listen = default_server_listen();
  read_listen(t, r, 123, s.listen);
  read_access(t, r, s.access);
  t.read_int("threads", 0, rules::kThreadsMax, s.threads);
  t.read_int("clientloglimit", 0, rules::kClientLogLimitMax, s.clientloglimit);
  if (const toml::table* rl = t.read_table("ratelimit")) read_ratelimit(*rl, r, s.ratelimit);
  t.report_unknown_keys();
  if (s.enabled && s.listen.empty()) r.warn(table.source(), "[server] listen is empty: no NTP socket is opened");
  if (s.enabled && std::none_of(s.access.begin(), s.access.end(), [](const AccessRule& a) { return a.allow; })) {
    r.warn(table.source(), "[server] has no allow rule: every NTP client is refused",
           "allow = [\"SUBNET\", ...] to serve clients");
  }
}

void read_makestep(TableReader& parent, Reporter& r, ClockConfig& clock) {
  const toml::node* n = parent.find("makestep");
  if (n == nullptr) return;
  if (const auto* b = n->as_boolean()) {
    clock.makestep = b->get() ? std::optional<MakeStepConfig>(MakeStepConfig{}) : std::nullopt;
    return;
  }
  const auto* table = n->as_table();
  if (table == nullptr) {
    parent.wrong_type(*n, "makestep", "{ threshold = SECONDS, limit = N } or false");
    return;
  }
  TableReader t(*table, "[clock] makestep", {"threshold", "limit"}, r);
  MakeStepConfig m;
  t.read_double("threshold", 0.0, rules::kSecondsMax, false, m.threshold_s);
  t.read_int("limit", -1, std::numeric_limits<int>::max(), m.limit);
  t.report_unknown_keys();
  clock.makestep = m;
}

// A sub-table of [clock]; nullptr when absent or not a table (reported).
const toml::table* clock_table(TableReader& parent, std::string_view key, std::string_view allowed) {
  const toml::node* n = parent.find(key);
  if (n == nullptr) return nullptr;
  if (const auto* t = n->as_table()) return t;
  parent.wrong_type(*n, key, std::string(allowed));
  return nullptr;
}

void read_maxchange(TableReader& parent, Reporter& r, ClockConfig& clock) {
  const toml::table* table = clock_table(parent, "maxchange", "{ offset = S, start = N, ignore = N }");
  if (table == nullptr) return;
  TableReader t(*table, "[clock] maxchange", {"offset", "start", "ignore"}, r);
  MaxChangeConfig m;
  t.read_double("offset", 0.0, rules::kSecondsMax, true, m.offset_s);
  t.read_int("start", 0, std::numeric_limits<int>::max(), m.start_updates);
  t.read_int("ignore", -1, std::numeric_limits<int>::max(), m.ignore);
  t.report_unknown_keys();
  clock.maxchange = m;
}

void read_initstepslew(TableReader& parent, Reporter& r, ClockConfig& clock) {
  const toml::table* table = clock_table(parent, "initstepslew", "{ threshold = S, servers = [\"HOST\", ...] }");
  if (table == nullptr) return;
  TableReader t(*table, "[clock] initstepslew", {"threshold", "servers"}, r);
  InitStepSlewConfig c;
  t.read_double("threshold", 0.0, rules::kSecondsMax, false, c.threshold_s);
  std::vector<std::pair<std::string, const toml::node*>> servers;
  t.read_string_array("servers", servers, "hostnames or IP literals");
  bool ok = true;
  for (const auto& [address, node] : servers) {
    if (rules::classify_source_address(address) == rules::AddressKind::Invalid) {
      r.error(node->source(), "invalid initstepslew server '" + address + "'", "a hostname, or an IPv4 or IPv6 literal");
      ok = false;
    }
    c.addresses.push_back(address);
  }
  if (c.addresses.empty()) {
    r.error(table->source(), "[clock] initstepslew has no servers", "servers = [\"HOST\", ...]");
    ok = false;
  }
  t.report_unknown_keys();
  if (ok) clock.initstepslew = std::move(c);
}

void read_fallbackdrift(TableReader& parent, Reporter& r, ClockConfig& clock) {
  const toml::table* table = clock_table(parent, "fallbackdrift", "{ min = LOG2S, max = LOG2S }");
  if (table == nullptr) return;
  TableReader t(*table, "[clock] fallbackdrift", {"min", "max"}, r);
  FallbackDriftConfig f;
  t.read_int("min", 0, 30, f.min_log2);
  t.read_int("max", 0, 30, f.max_log2);
  t.report_unknown_keys();
  if (f.max_log2 < f.min_log2) {
    r.error(table->source(), "[clock] fallbackdrift max is below min", "min <= max");
    return;
  }
  clock.fallbackdrift = f;
}

void read_clock(const toml::table& table, Reporter& r, Config& cfg) {
  TableReader t(table, "[clock]",
                {"control", "makestep", "maxslewrate-ppm", "maxupdateskew-ppm", "maxclockerror-ppm",
                 "driftfile", "rtcsync", "leapsectz", "maxchange", "maxdrift-ppm", "corrtimeratio",
                 "logchange", "initstepslew", "fallbackdrift"},
                r);
  ClockConfig& c = cfg.clock;
  t.read_bool("control", c.control);
  read_makestep(t, r, c);
  t.read_double("maxslewrate-ppm", 0.0, rules::kPpmMax, true, c.maxslewrate_ppm);
  t.read_double("maxupdateskew-ppm", 0.0, rules::kPpmMax, true, c.maxupdateskew_ppm);
  t.read_double("maxclockerror-ppm", 0.0, rules::kPpmMax, false, c.maxclockerror_ppm);
  t.read_string("driftfile", c.driftfile);
  t.read_bool("rtcsync", c.rtcsync);
  t.read_string("leapsectz", c.leapsectz);
  read_maxchange(t, r, c);
  t.read_double("maxdrift-ppm", 0.0, rules::kPpmMax, true, c.maxdrift_ppm);
  if (t.read_double("corrtimeratio", 0.0, rules::kRatioMax, false, c.corrtimeratio))
    c.corrtimeratio = std::max(c.corrtimeratio, 1.0);  // never faster than one update interval
  t.read_double("logchange", 0.0, rules::kSecondsMax, true, c.logchange_s);
  read_initstepslew(t, r, c);
  read_fallbackdrift(t, r, c);
  t.report_unknown_keys();
}

void read_select(const toml::table& table, Reporter& r, Config& cfg) {
  TableReader t(table, "[select]",
                {"authselectmode", "minsources", "maxdistance", "maxjitter", "combinelimit", "reselectdist",
                 "stratumweight", "minsamples", "maxsamples"},
                r);
  SelectConfig& s = cfg.select;
  std::string mode;
  if (t.read_string("authselectmode", mode)) {
    if (mode == "require") s.auth_select = AuthSelectMode::Require;
    else if (mode == "prefer") s.auth_select = AuthSelectMode::Prefer;
    else if (mode == "mix") s.auth_select = AuthSelectMode::Mix;
    else if (mode == "ignore") s.auth_select = AuthSelectMode::Ignore;
    else
      r.error(t.find("authselectmode")->source(), "unknown authselectmode '" + mode + "'",
              "\"require\", \"prefer\", \"mix\", \"ignore\"");
  }
  t.read_int("minsources", 1, 64, s.min_sources);
  t.read_double("maxdistance", 0.0, rules::kSecondsMax, true, s.max_distance_s);
  t.read_double("maxjitter", 0.0, rules::kSecondsMax, true, s.max_jitter_s);
  t.read_double("combinelimit", 0.0, rules::kSecondsMax, false, s.combine_limit);
  t.read_double("reselectdist", 0.0, rules::kSecondsMax, false, s.reselect_distance_s);
  t.read_double("stratumweight", 0.0, rules::kSecondsMax, false, s.stratum_weight_s);
  int n = 0;
  if (t.read_int("minsamples", 0, rules::kSamplesMax, n)) s.min_samples = n;
  if (t.read_int("maxsamples", 0, rules::kSamplesMax, n)) s.max_samples = n;
  t.report_unknown_keys();
}

void read_auth(const toml::table& table, Reporter& r, Config& cfg) {
  TableReader t(table, "[auth]", {"keyfile"}, r);
  t.read_string("keyfile", cfg.auth.keyfile);
  t.report_unknown_keys();
}

void read_nts(const toml::table& table, Reporter& r, Config& cfg) {
  TableReader t(table, "[nts]",
                {"enabled", "listen", "certificate", "key", "keydir", "trusted-certs", "max-connections", "timeout"}, r);
  NtsConfig& n = cfg.nts;
  n.enabled = read_enabled(t);
  n.listen = default_nts_listen();
  read_listen(t, r, 4460, n.listen);
  t.read_string("certificate", n.certificate);
  t.read_string("key", n.key);
  t.read_string("keydir", n.keydir);
  t.read_string("trusted-certs", n.trusted_certs);
  t.read_int("max-connections", rules::kNtsConnectionsMin, rules::kNtsConnectionsMax, n.max_connections);
  t.read_double("timeout", 0.0, rules::kNtsTimeoutMaxS, true, n.timeout_s);
  t.report_unknown_keys();
}

void read_control(const toml::table& table, Reporter& r, Config& cfg) {
  TableReader t(table, "[control]", {"socket", "listen", "allow", "deny", "access", "open-commands"}, r);
  ControlConfig& c = cfg.control;
  if (t.read_string("socket", c.socket) && !c.socket.empty() && c.socket.front() != '/') {
    r.error(t.find("socket")->source(), "[control] socket '" + c.socket + "' is not an absolute path",
            "an absolute path, or \"\" for no Unix socket");
  }
  read_listen(t, r, 323, c.listen);
  read_access(t, r, c.access);
  // chrony's opencommands: the monitoring commands UDP may ask for.
  std::vector<std::pair<std::string, const toml::node*>> open;
  if (t.read_string_array("open-commands", open, rules::kOpenCommandsAllowed)) {
    std::vector<std::string> names;
    for (const auto& [name, node] : open) {
      if (std::find(std::begin(rules::kOpenCommandNames), std::end(rules::kOpenCommandNames), name) ==
          std::end(rules::kOpenCommandNames)) {
        r.error(node->source(), "invalid [control] open-commands command '" + name + "'",
                std::string(rules::kOpenCommandsAllowed));
      } else if (std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(name);
      }
    }
    c.open_commands = std::move(names);
  }
  t.report_unknown_keys();
}

void read_log(const toml::table& table, Reporter& r, Config& cfg) {
  TableReader t(table, "[log]", {"level", "dir", "measurements", "statistics", "tracking"}, r);
  LogConfig& l = cfg.log;
  std::string level;
  if (t.read_string("level", level)) {
    if (level == "trace") l.level = LogLevel::Trace;
    else if (level == "debug") l.level = LogLevel::Debug;
    else if (level == "info") l.level = LogLevel::Info;
    else if (level == "warn") l.level = LogLevel::Warn;
    else if (level == "error") l.level = LogLevel::Error;
    else
      r.error(t.find("level")->source(), "unknown log level '" + level + "'",
              "\"trace\", \"debug\", \"info\", \"warn\", \"error\"");
  }
  t.read_string("dir", l.dir);
  t.read_bool("measurements", l.measurements);
  t.read_bool("statistics", l.statistics);
  t.read_bool("tracking", l.tracking);
  if (l.dir.empty() && (l.measurements || l.statistics || l.tracking)) {
    r.warn(table.source(), "[log] measurements/statistics/tracking need [log] dir; no log files will be written");
  }
  t.report_unknown_keys();
}

void read_metrics(const toml::table& table, Reporter& r, Config& cfg) {
  TableReader t(table, "[metrics]", {"listen"}, r);
  std::string listen;
  if (t.read_string("listen", listen) && !listen.empty()) {
    std::optional<SocketAddress> a = SocketAddress::parse(listen, 0);
    if (!a || a->port == 0) {
      r.error(t.find("listen")->source(), "invalid [metrics] listen '" + listen + "'",
              "\"IPv4:port\" or \"[IPv6]:port\" with port 1..65535, or \"\" for no metrics");
    } else {
      cfg.metrics.listen = *a;
    }
  }
  t.report_unknown_keys();
}

}  // namespace

LoadResult load_toml_text(std::string_view text, const std::string& name) {
  Reporter r(name);
  LoadResult result;
  int line_number = 0;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    ++line_number;
    if (end - pos > kMaxTomlLineLength) {
      result.diagnostics.push_back(ConfigDiagnostic{name, line_number, 0, true,
                                                    "line is " + std::to_string(end - pos) + " characters long",
                                                    "at most " + std::to_string(kMaxTomlLineLength) + " characters"});
    }
    pos = end + 1;
  }
  if (has_errors(result.diagnostics)) return result;
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    r.error(e.source(), std::string(e.description()), "TOML syntax (https://toml.io)");
    result.diagnostics = std::move(r.diagnostics());
    return result;
  } catch (const std::exception& e) {
    result.diagnostics.push_back(ConfigDiagnostic{name, 0, 0, true, e.what(), {}});
    return result;
  }

  Config cfg;
  cfg.source_file = name;
  cfg.control.listen = default_control_listen();

  TableReader top(root, "the top level",
                  {"source", "local", "server", "clock", "select", "auth", "nts", "control", "log", "metrics"}, r);
  if (const toml::node* n = top.find("source")) read_sources(*n, r, cfg);
  using Section = void (*)(const toml::table&, Reporter&, Config&);
  const std::pair<std::string_view, Section> sections[] = {
      {"local", read_local}, {"server", read_server},   {"clock", read_clock}, {"auth", read_auth},
      {"select", read_select}, {"nts", read_nts},   {"control", read_control}, {"log", read_log},
      {"metrics", read_metrics}};
  for (const auto& [key, read] : sections) {
    if (const toml::table* t = top.read_table(key)) read(*t, r, cfg);
  }
  top.report_unknown_keys();

  result.diagnostics = std::move(r.diagnostics());
  std::stable_sort(result.diagnostics.begin(), result.diagnostics.end(),
                   [](const ConfigDiagnostic& a, const ConfigDiagnostic& b) {
                     return a.line != b.line ? a.line < b.line : a.column < b.column;
                   });
  if (has_errors(result.diagnostics)) return result;
  if (cfg.sources.empty() && !cfg.local.enabled) {
    result.diagnostics.push_back(ConfigDiagnostic{
        name, 0, 0, false, "no [[source]] and no [local]: there is nothing to synchronise to", {}});
  }
  result.config = std::move(cfg);
  return result;
}

}  // namespace gnomon
