#include "lib/config/chrony_loader.hpp"

#include <glob.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include "lib/config/config_file.hpp"
#include "lib/config/config_rules.hpp"

namespace gnomon {

namespace {

namespace fs = std::filesystem;

struct Token {
  std::string_view text;
  int column = 0;  // 1-based
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

std::vector<Token> split_tokens(std::string_view line) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i])) != 0) ++i;
    std::size_t start = i;
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i])) == 0) ++i;
    if (i > start) out.push_back(Token{line.substr(start, i - start), static_cast<int>(start) + 1});
  }
  return out;
}

// chrony directives gnomon knows but does not implement: a warning, not an error.
constexpr std::string_view kUnsupportedDirectives[] = {
    "acquisitionport", "bindacqaddress", "bindacqdevice", "bindcmddevice",
    "binddevice", "broadcast", "clockprecision", "cmdratelimit",
    "dscp", "dumpdir", "dumponexit", "hwclockfile", "hwtimestamp", "hwtstimeout",
    "leapsecmode", "leapseclist", "lock_all", "logbanner",
    "mailonchange", "manual",
    "maxstratum", "maxtxbuffers",
    "minstratum", "nocerttimecheck", "nosystemcert", "ntpsigndsocket", "ntsaeads", "ntsratelimit",
    "ntsntpserver", "ntsprocesses", "ntsrefresh", "ntsrotate", "pidfile",
    "ptpdomain", "ptpport", "refclock", "refresh", "rtcautotrim", "rtcdevice",
    "rtcfile", "rtconutc", "sched_priority", "smoothtime", "tempcomp", "user",
    "commandkey", "generatecommandkey", "linux_freq_scale", "linux_hz"};

constexpr std::string_view kSupportedDirectives[] = {
    "server", "pool", "peer", "allow", "deny", "local", "makestep", "driftfile", "rtcsync",
    "logdir", "log", "keyfile", "leapsectz", "maxupdateskew", "maxslewrate", "ratelimit",
    "bindaddress", "port", "cmdport", "bindcmdaddress", "cmdallow", "cmddeny", "confdir",
    "sourcedir", "include", "clientloglimit", "noclientlog", "ntsserverkey", "ntsservercert",
    "ntsport", "ntstrustedcerts", "ntsdumpdir", "ntscachedir", "maxntsconnections", "minsources",
    "maxdistance", "maxjitter", "combinelimit", "reselectdist", "stratumweight", "minsamples",
    "maxsamples", "maxchange", "maxdrift", "corrtimeratio", "logchange", "initstepslew",
    "fallbackdrift", "authselectmode", "opencommands", "maxclockerror"};

bool contains(std::string_view word, const auto& list) {
  return std::find(std::begin(list), std::end(list), word) != std::end(list);
}

constexpr std::string_view kSourceOptions =
    "iburst, burst, offline, minpoll N, maxpoll N, port N, prefer, noselect, require, trust, "
    "xleave, maxdelay S, maxdelayratio R, maxdelaydevratio R, maxdelayquant P, polltarget N, "
    "minsamples N, maxsamples N, maxunreach N, minstratum N, version N, filter N, offset S, key ID, "
    "nts, ntsport N, maxsources N (pool)";

class ChronyLoader {
 public:
  void load_file(const std::string& path, bool from_include) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(path, ec);
    std::string key = ec ? path : canonical.string();
    if (std::find(stack_.begin(), stack_.end(), key) != stack_.end()) {
      std::string chain;
      for (const std::string& s : stack_) chain += s + " -> ";
      error(0, "include loop: " + chain + key, "files that do not include themselves");
      return;
    }
    if (static_cast<int>(stack_.size()) > kMaxChronyIncludeDepth) {
      error(0, "includes nested deeper than " + std::to_string(kMaxChronyIncludeDepth) + " levels",
            "at most " + std::to_string(kMaxChronyIncludeDepth) + " levels");
      return;
    }
    FileText ft = read_text_file(path);
    if (!ft.text) {
      if (from_include) error(0, "cannot read '" + path + "': " + ft.error, "");
      else diags_.push_back(ConfigDiagnostic{path, 0, 0, true, "cannot read file: " + ft.error, {}});
      return;
    }
    if (auto w = check_file_permissions(path, "config file")) diags_.push_back(*w);
    parse_text(*ft.text, path, key);
  }

  void load_text(std::string_view text, const std::string& name) {
    std::error_code ec;
    fs::path canonical = fs::weakly_canonical(name, ec);
    parse_text(text, name, ec ? name : canonical.string());
  }

  LoadResult finish(const std::string& name) {
    Config& c = cfg_;
    c.source_file = name;
    finish_server();
    finish_control();
    finish_nts();
    if (noclientlog_) c.server.clientloglimit = 0;
    if (c.sources.empty() && !c.local.enabled && !has_errors(diags_)) {
      diags_.push_back(ConfigDiagnostic{name, 0, 0, false,
                                        "no server, pool or peer and no local: there is nothing to "
                                        "synchronise to",
                                        {}});
    }
    LoadResult result;
    result.diagnostics = std::move(diags_);
    if (!has_errors(result.diagnostics)) result.config = std::move(c);
    return result;
  }

 private:
  // ---- diagnostics at the current file and line ----
  void add(int column, bool is_error, std::string message, std::string allowed) {
    diags_.push_back(ConfigDiagnostic{file_, line_, column, is_error, std::move(message), std::move(allowed)});
  }
  void error(int column, std::string message, std::string allowed = {}) {
    add(column, true, std::move(message), std::move(allowed));
  }
  void warn(int column, std::string message, std::string allowed = {}) {
    add(column, false, std::move(message), std::move(allowed));
  }

  // ---- reading ----
  void parse_text(std::string_view text, const std::string& name, const std::string& key) {
    std::string saved_file = file_;
    int saved_line = line_;
    stack_.push_back(key);
    file_ = name;
    int number = 0;
    std::size_t pos = text.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;  // a UTF-8 byte order mark
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = text.substr(pos, end - pos);
      pos = end + 1;
      line_ = ++number;
      parse_line(line);
    }
    stack_.pop_back();
    file_ = saved_file;
    line_ = saved_line;
  }

  void parse_line(std::string_view line) {
    if (line.size() > kMaxChronyLineLength) {
      error(0, "line is " + std::to_string(line.size()) + " characters long",
            "at most " + std::to_string(kMaxChronyLineLength) + " characters");
      return;
    }
    if (line.find('\0') != std::string_view::npos) {
      error(static_cast<int>(line.find('\0')) + 1, "NUL byte in line", "text");
      return;
    }
    std::vector<Token> tokens = split_tokens(line);
    if (tokens.empty()) return;
    char first = tokens[0].text.front();
    if (first == '!' || first == ';' || first == '#' || first == '%') return;  // chrony's comments
    const Token& directive = tokens[0];
    std::vector<Token> args(tokens.begin() + 1, tokens.end());
    dispatch(directive, args);
  }

  void dispatch(const Token& directive, const std::vector<Token>& args) {
    const std::string d = lower(directive.text);
    if (in_sourcedir_ && d != "server" && d != "pool" && d != "peer") {
      warn(directive.column, "only server, pool and peer lines are read from sourcedir files; '" + d +
                                 "' ignored");
      return;
    }
    if (d == "server") parse_source(SourceMode::Server, directive, args);
    else if (d == "pool") parse_source(SourceMode::Pool, directive, args);
    else if (d == "peer") parse_source(SourceMode::Peer, directive, args);
    else if (d == "allow" || d == "deny") parse_access(directive, args, d == "allow", cfg_.server.access);
    else if (d == "cmdallow" || d == "cmddeny") parse_access(directive, args, d == "cmdallow", cfg_.control.access);
    else if (d == "local") parse_local(args);
    else if (d == "makestep") parse_makestep(directive, args);
    else if (d == "driftfile") parse_driftfile(directive, args);
    else if (d == "rtcsync") { if (count_ok(directive, args, 0, 0, "rtcsync")) cfg_.clock.rtcsync = true; }
    else if (d == "noclientlog") { if (count_ok(directive, args, 0, 0, "noclientlog")) noclientlog_ = true; }
    else if (d == "logdir") string_arg(directive, args, "logdir DIRECTORY", cfg_.log.dir);
    else if (d == "log") parse_log(args);
    else if (d == "keyfile") string_arg(directive, args, "keyfile FILE", cfg_.auth.keyfile);
    else if (d == "leapsectz") string_arg(directive, args, "leapsectz TIMEZONE", cfg_.clock.leapsectz);
    else if (d == "maxupdateskew") ppm_arg(directive, args, "maxupdateskew PPM", cfg_.clock.maxupdateskew_ppm);
    else if (d == "maxclockerror") parse_maxclockerror(directive, args);
    else if (d == "maxslewrate") ppm_arg(directive, args, "maxslewrate PPM", cfg_.clock.maxslewrate_ppm);
    else if (d == "ratelimit") parse_ratelimit(args);
    else if (d == "bindaddress") parse_bind(directive, args, bind4_, bind6_);
    else if (d == "port") port_arg(directive, args, "port N (0 = no NTP server)", ntp_port_, &port_given_);
    else if (d == "cmdport") port_arg(directive, args, "cmdport N (0 = no UDP control)", cmd_port_, nullptr);
    else if (d == "bindcmdaddress") parse_bindcmdaddress(directive, args);
    else if (d == "opencommands") parse_opencommands(args);
    else if (d == "confdir") parse_dirs(directive, args, ".conf", false);
    else if (d == "sourcedir") parse_dirs(directive, args, ".sources", true);
    else if (d == "include") parse_include(directive, args);
    else if (d == "clientloglimit") parse_clientloglimit(directive, args);
    else if (d == "ntsserverkey") nts_file(directive, args, "ntsserverkey FILE", nts_key_);
    else if (d == "ntsservercert") nts_file(directive, args, "ntsservercert FILE", nts_cert_);
    else if (d == "ntsport") port_arg(directive, args, "ntsport N", nts_port_, nullptr);
    else if (d == "ntstrustedcerts") parse_ntstrustedcerts(directive, args);
    else if (d == "maxntsconnections") parse_maxntsconnections(directive, args);
    else if (d == "ntsdumpdir" || d == "ntscachedir") string_arg(directive, args, d + " DIRECTORY", cfg_.nts.keydir);
    else if (d == "minsources") int_arg(directive, args, "minsources N", 1, 64, cfg_.select.min_sources);
    else if (d == "maxdistance") seconds_arg(directive, args, "maxdistance S", true, cfg_.select.max_distance_s);
    else if (d == "maxjitter") seconds_arg(directive, args, "maxjitter S", true, cfg_.select.max_jitter_s);
    else if (d == "combinelimit") seconds_arg(directive, args, "combinelimit RATIO", false, cfg_.select.combine_limit);
    else if (d == "reselectdist") seconds_arg(directive, args, "reselectdist S", false, cfg_.select.reselect_distance_s);
    else if (d == "stratumweight") seconds_arg(directive, args, "stratumweight S", false, cfg_.select.stratum_weight_s);
    else if (d == "minsamples" || d == "maxsamples") parse_samples(directive, args, d);
    else if (d == "maxchange") parse_maxchange(directive, args);
    else if (d == "maxdrift") ppm_arg(directive, args, "maxdrift PPM", cfg_.clock.maxdrift_ppm);
    else if (d == "corrtimeratio") parse_corrtimeratio(directive, args);
    else if (d == "logchange") seconds_arg(directive, args, "logchange S", true, cfg_.clock.logchange_s);
    else if (d == "initstepslew") parse_initstepslew(directive, args);
    else if (d == "authselectmode") parse_authselectmode(directive, args);
    else if (d == "fallbackdrift") parse_fallbackdrift(directive, args);
    else if (contains(d, kUnsupportedDirectives))
      warn(directive.column, "chrony directive '" + d + "' is not supported by gnomon; ignored");
    else
      warn(directive.column, "unknown directive '" + std::string(directive.text) + "'; ignored");
  }

  // ---- argument helpers ----
  bool count_ok(const Token& directive, const std::vector<Token>& args, std::size_t lo, std::size_t hi,
                std::string_view usage) {
    if (args.size() < lo) {
      error(directive.column, "missing argument for " + lower(directive.text), std::string(usage));
      return false;
    }
    if (args.size() > hi) {
      error(args[hi].column, "extra argument '" + std::string(args[hi].text) + "' for " + lower(directive.text),
            std::string(usage));
      return false;
    }
    return true;
  }

  std::optional<std::int64_t> to_int(const Token& t, std::int64_t lo, std::int64_t hi, std::string_view what) {
    std::string_view s = t.text;
    if (s.size() > 1 && s.front() == '+') s.remove_prefix(1);
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    std::string allowed = "an integer " + std::to_string(lo) + ".." + std::to_string(hi);
    if (ec == std::errc::result_out_of_range) {
      error(t.column, std::string(what) + " '" + std::string(t.text) + "' is out of range", allowed);
      return std::nullopt;
    }
    if (ec != std::errc() || p != s.data() + s.size()) {
      error(t.column, std::string(what) + " '" + std::string(t.text) + "' is not an integer", allowed);
      return std::nullopt;
    }
    if (v < lo || v > hi) {
      error(t.column, std::string(what) + " " + std::to_string(v) + " is out of range", allowed);
      return std::nullopt;
    }
    return v;
  }

  std::optional<double> to_double(const Token& t, double lo, double hi, bool lo_open, std::string_view what) {
    std::string_view s = t.text;
    if (s.size() > 1 && s.front() == '+') s.remove_prefix(1);
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    char range[96];
    std::snprintf(range, sizeof range, "a finite number %s %g and <= %g", lo_open ? ">" : ">=", lo, hi);
    if (ec == std::errc() && p == s.data() + s.size() && std::isfinite(v) && v <= hi &&
        (lo_open ? v > lo : v >= lo)) {
      return v;
    }
    bool whole = p == s.data() + s.size();
    const char* problem = !whole || (ec != std::errc() && ec != std::errc::result_out_of_range) ? "is not a number"
                          : ec == std::errc() && !std::isfinite(v)                            ? "is not a finite number"
                                                                                              : "is out of range";
    error(t.column, std::string(what) + " '" + std::string(t.text) + "' " + problem, range);
    return std::nullopt;
  }

  void string_arg(const Token& directive, const std::vector<Token>& args, std::string_view usage,
                  std::string& out) {
    if (count_ok(directive, args, 1, 1, usage)) out = std::string(args[0].text);
  }

  void ppm_arg(const Token& directive, const std::vector<Token>& args, std::string_view usage, double& out) {
    if (!count_ok(directive, args, 1, 1, usage)) return;
    if (auto v = to_double(args[0], 0.0, rules::kPpmMax, true, lower(directive.text))) out = *v;
  }

  void port_arg(const Token& directive, const std::vector<Token>& args, std::string_view usage, int& out,
                bool* given) {
    if (!count_ok(directive, args, 1, 1, usage)) return;
    if (auto v = to_int(args[0], 0, rules::kPortMax, lower(directive.text))) {
      out = static_cast<int>(*v);
      if (given != nullptr) *given = true;
    }
  }

  void int_arg(const Token& directive, const std::vector<Token>& args, std::string_view usage,
               std::int64_t lo, std::int64_t hi, int& out) {
    if (!count_ok(directive, args, 1, 1, usage)) return;
    if (auto v = to_int(args[0], lo, hi, lower(directive.text))) out = static_cast<int>(*v);
  }

  // A non-negative number of seconds (or a ratio); lo_open: 0 not allowed.
  void seconds_arg(const Token& directive, const std::vector<Token>& args, std::string_view usage,
                   bool lo_open, double& out) {
    if (!count_ok(directive, args, 1, 1, usage)) return;
    if (auto v = to_double(args[0], 0.0, rules::kSecondsMax, lo_open, lower(directive.text))) out = *v;
  }

  void parse_samples(const Token& directive, const std::vector<Token>& args, const std::string& d) {
    int v = -1;
    int_arg(directive, args, d + " N", 0, rules::kSamplesMax, v);
    if (v >= 0) (d == "minsamples" ? cfg_.select.min_samples : cfg_.select.max_samples) = v;
  }

  void parse_maxchange(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 3, 3, "maxchange OFFSET START IGNORE")) return;
    auto offset = to_double(args[0], 0.0, rules::kSecondsMax, true, "maxchange offset");
    auto start = to_int(args[1], 0, std::numeric_limits<int>::max(), "maxchange start");
    auto ignore = to_int(args[2], -1, std::numeric_limits<int>::max(), "maxchange ignore");
    if (offset && start && ignore)
      cfg_.clock.maxchange = MaxChangeConfig{*offset, static_cast<int>(*start), static_cast<int>(*ignore)};
  }

  void parse_corrtimeratio(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 1, 1, "corrtimeratio RATIO")) return;
    // chrony never corrects faster than in one update interval.
    if (auto v = to_double(args[0], 0.0, rules::kRatioMax, false, "corrtimeratio"))
      cfg_.clock.corrtimeratio = std::max(*v, 1.0);
  }

  void parse_initstepslew(const Token& directive, const std::vector<Token>& args) {
    constexpr std::string_view usage = "initstepslew THRESHOLD ADDRESS [ADDRESS...]";
    if (!count_ok(directive, args, 2, 64, usage)) return;
    auto threshold = to_double(args[0], 0.0, rules::kSecondsMax, false, "initstepslew threshold");
    if (!threshold) return;
    InitStepSlewConfig c;
    c.threshold_s = *threshold;
    for (std::size_t i = 1; i < args.size(); ++i) {
      const std::string address(args[i].text);
      if (rules::classify_source_address(address) == rules::AddressKind::Invalid) {
        error(args[i].column, "invalid initstepslew address '" + address + "'",
              "a hostname, or an IPv4 or IPv6 literal");
        return;
      }
      c.addresses.push_back(address);
    }
    cfg_.clock.initstepslew = std::move(c);
  }

  void parse_authselectmode(const Token& directive, const std::vector<Token>& args) {
    constexpr std::string_view allowed = "require, prefer, mix or ignore";
    if (!count_ok(directive, args, 1, 1, "authselectmode MODE")) return;
    const std::string m = lower(args[0].text);
    if (m == "require") cfg_.select.auth_select = AuthSelectMode::Require;
    else if (m == "prefer") cfg_.select.auth_select = AuthSelectMode::Prefer;
    else if (m == "mix") cfg_.select.auth_select = AuthSelectMode::Mix;
    else if (m == "ignore") cfg_.select.auth_select = AuthSelectMode::Ignore;
    else error(args[0].column, "invalid authselectmode '" + std::string(args[0].text) + "'", std::string(allowed));
  }

  void parse_fallbackdrift(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 2, 2, "fallbackdrift MIN MAX (log2 s)")) return;
    auto lo = to_int(args[0], 0, 30, "fallbackdrift min");
    auto hi = to_int(args[1], 0, 30, "fallbackdrift max");
    if (!lo || !hi) return;
    if (*hi < *lo) {
      error(args[1].column, "fallbackdrift max " + std::to_string(*hi) + " is below min " + std::to_string(*lo),
            "min <= max");
      return;
    }
    cfg_.clock.fallbackdrift = FallbackDriftConfig{static_cast<int>(*lo), static_cast<int>(*hi)};
  }

  // ---- directives ----
  void parse_source(SourceMode mode, const Token& directive, const std::vector<Token>& args) {
    std::string name = lower(directive.text);
    if (args.empty()) {
      error(directive.column, "missing address for " + name, name + " ADDRESS [options]");
      return;
    }
    std::size_t errors_before = error_count();
    SourceConfig s;
    s.mode = mode;
    s.address = std::string(args[0].text);
    s.origin = file_ + ":" + std::to_string(line_);
    if (rules::classify_source_address(s.address) == rules::AddressKind::Invalid) {
      error(args[0].column, "invalid " + name + " address '" + s.address + "'",
            "a hostname, or an IPv4 or IPv6 literal");
    }
    bool min_given = false;
    bool max_given = false;
    int maxpoll_column = directive.column;
    for (std::size_t i = 1; i < args.size(); ++i) {
      const Token& opt = args[i];
      const std::string o = lower(opt.text);
      if (o == "iburst") { s.iburst = true; continue; }
      if (o == "prefer") { s.prefer = true; continue; }
      if (o == "noselect") { s.noselect = true; continue; }
      if (o == "require") { s.require = true; continue; }
      if (o == "xleave") { s.xleave = true; continue; }
      if (o == "nts") { s.nts = true; continue; }
      if (o == "burst") { s.burst = true; continue; }
      if (o == "offline") { s.offline = true; continue; }
      if (o == "trust") { s.trust = true; continue; }
      if (o == "auto_offline" || o == "copy" || o == "ipv4" || o == "ipv6") {
        warn(opt.column, name + " option '" + o + "' is not supported by gnomon; ignored");
        continue;
      }
      static constexpr std::array<std::string_view, 23> kValued = {
          "minpoll", "maxpoll", "port", "ntsport", "maxsources", "key", "maxdelay", "certset",
          "filter", "maxsamples", "maxunreach", "minsamples", "minstratum", "polltarget", "presend",
          "version", "asymmetry", "maxdelayratio", "maxdelaydevratio", "maxdelayquant", "mindelay",
          "offset", "extfield"};
      if (!contains(o, kValued)) {
        error(opt.column, "invalid " + name + " option '" + std::string(opt.text) + "'",
              std::string(kSourceOptions));
        continue;
      }
      if (i + 1 >= args.size()) {
        error(opt.column, "missing value for " + name + " option '" + o + "'", std::string(kSourceOptions));
        break;
      }
      const Token& val = args[++i];
      parse_source_value(s, mode, name, opt, o, val, min_given, max_given, maxpoll_column);
    }
    if (min_given && max_given && s.minpoll > s.maxpoll) {
      error(maxpoll_column,
            "minpoll " + std::to_string(s.minpoll) + " is greater than maxpoll " + std::to_string(s.maxpoll),
            "minpoll <= maxpoll");
    }
    rules::settle_poll_range(s, min_given, max_given);
    if (error_count() != errors_before) {
      if (in_sourcedir_) demote_errors(errors_before, "source ignored");
      return;
    }
    if (s.is_local_clock()) {
      // ntpd's local-clock idiom: serve our own clock when nothing else is usable.
      cfg_.local.enabled = true;
      return;
    }
    for (const SourceConfig& other : cfg_.sources) {
      if (other.address == s.address && other.mode == s.mode && other.port == s.port) {
        warn(args[0].column, "duplicate " + name + " " + s.address + " (first at " + other.origin + ")");
      }
    }
    cfg_.sources.push_back(std::move(s));
  }

  // One "option VALUE" pair of a server/pool/peer line.
  void parse_source_value(SourceConfig& s, SourceMode mode, const std::string& name, const Token& opt,
                          const std::string& o, const Token& val, bool& min_given, bool& max_given,
                          int& maxpoll_column) {
    const auto set_int = [&](std::int64_t lo, std::int64_t hi, auto& out) {
      if (auto v = to_int(val, lo, hi, o)) out = static_cast<int>(*v);
    };
    const auto set_double = [&](double lo, double hi, bool lo_open, double& out) {
      if (auto v = to_double(val, lo, hi, lo_open, o)) out = *v;
    };
    if (o == "minpoll" || o == "maxpoll") {
      if (auto v = to_int(val, rules::kPollMin, rules::kPollMax, o)) {
        (o == "minpoll" ? s.minpoll : s.maxpoll) = static_cast<int>(*v);
        (o == "minpoll" ? min_given : max_given) = true;
        if (o == "maxpoll") maxpoll_column = val.column;
      }
    } else if (o == "port") {
      if (auto v = to_int(val, rules::kPortMin, rules::kPortMax, o)) s.port = static_cast<std::uint16_t>(*v);
    } else if (o == "ntsport") {
      if (auto v = to_int(val, rules::kPortMin, rules::kPortMax, o)) s.nts_port = static_cast<std::uint16_t>(*v);
    } else if (o == "maxsources") {
      if (auto v = to_int(val, rules::kMaxSourcesMin, rules::kMaxSourcesMax, o)) {
        if (mode == SourceMode::Pool) s.max_sources = static_cast<int>(*v);
        else warn(opt.column, "maxsources applies to pool only; ignored");
      }
    } else if (o == "key") {
      if (auto v = to_int(val, 1, std::numeric_limits<std::uint32_t>::max(), o))
        s.key = static_cast<std::uint32_t>(*v);
    } else if (o == "maxdelay") {
      set_double(0.0, rules::kSecondsMax, true, s.maxdelay_s);
    } else if (o == "maxdelayratio") {
      set_double(1.0, rules::kMaxDelayRatio, false, s.maxdelayratio);
    } else if (o == "maxdelaydevratio") {
      set_double(0.0, rules::kMaxDelayRatio, false, s.maxdelaydevratio);
    } else if (o == "maxdelayquant") {
      set_double(0.0, 1.0, true, s.maxdelayquant);
    } else if (o == "polltarget") {
      int v = 0;
      set_int(rules::kPollTargetMin, rules::kPollTargetMax, v);
      if (v != 0) s.polltarget = v;
    } else if (o == "minsamples" || o == "maxsamples") {
      int v = -1;
      set_int(0, rules::kSamplesMax, v);
      if (v >= 0) (o == "minsamples" ? s.minsamples : s.maxsamples) = v;
    } else if (o == "maxunreach") {
      set_int(0, std::numeric_limits<std::int32_t>::max(), s.maxunreach);
    } else if (o == "minstratum") {
      set_int(0, rules::kStratumMax, s.minstratum);
    } else if (o == "version") {
      set_int(1, 4, s.version);
    } else if (o == "filter") {
      set_int(0, rules::kFilterMax, s.filter);
    } else if (o == "offset") {
      set_double(-rules::kSecondsMax, rules::kSecondsMax, false, s.offset_s);
    } else if (o == "extfield") {
      const bool valid = !val.text.empty() && val.text.size() <= 8 &&
                         std::all_of(val.text.begin(), val.text.end(),
                                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
      if (!valid) error(val.column, "extfield '" + std::string(val.text) + "' is not a hex number", "hex");
      else warn(opt.column, name + " option '" + o + "' is not supported by gnomon; ignored");
    } else if (o == "asymmetry" || o == "mindelay") {
      if (to_double(val, -rules::kSecondsMax, rules::kSecondsMax, false, o))
        warn(opt.column, name + " option '" + o + "' is not supported by gnomon; ignored");
    } else if (to_int(val, -32, std::numeric_limits<std::int32_t>::max(), o)) {  // certset, presend
      warn(opt.column, name + " option '" + o + "' is not supported by gnomon; ignored");
    }
  }

  void parse_access(const Token& directive, const std::vector<Token>& args, bool allow,
                    std::vector<AccessRule>& out) {
    std::string argument;
    for (const Token& t : args) argument += std::string(t.text) + " ";
    rules::AccessParse p = rules::parse_access_argument(argument, allow);
    int column = args.empty() ? directive.column : args.back().column;
    if (p.status == rules::AccessParse::Status::Invalid) {
      std::string message = p.message + " in " + lower(directive.text);
      if (p.message.rfind("invalid subnet", 0) == 0 &&
          rules::classify_source_address(args.back().text) == rules::AddressKind::Hostname)
        message += " (hostnames are not resolved here)";
      error(column, message, std::string(rules::kSubnetAllowed));
      return;
    }
    if (p.status == rules::AccessParse::Status::HostBitsMasked) warn(column, p.message);
    out.insert(out.end(), p.rules.begin(), p.rules.end());
  }

  // chrony accepts 0 (a perfect clock), unlike the other ppm directives.
  void parse_maxclockerror(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 1, 1, "maxclockerror PPM")) return;
    if (auto v = to_double(args[0], 0.0, rules::kPpmMax, false, "maxclockerror")) cfg_.clock.maxclockerror_ppm = *v;
  }

  void parse_local(const std::vector<Token>& args) {
    static constexpr const char* kLocalAllowed =
        "stratum N, orphan, distance S, activate S, waitsynced S, waitunsynced S";
    LocalConfig l;  // each `local` line starts from chrony's defaults
    l.enabled = true;
    bool ok = true;
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string o = lower(args[i].text);
      if (o == "orphan") {
        l.orphan = true;
        continue;
      }
      bool valued = o == "stratum" || o == "distance" || o == "activate" || o == "waitsynced" ||
                    o == "waitunsynced";
      if (!valued) {
        error(args[i].column, "invalid local option '" + std::string(args[i].text) + "'", kLocalAllowed);
        ok = false;
        continue;
      }
      if (i + 1 >= args.size()) {
        error(args[i].column, "missing value for local option '" + o + "'", kLocalAllowed);
        ok = false;
        break;
      }
      const Token& val = args[++i];
      if (o == "stratum") {
        if (auto v = to_int(val, rules::kStratumMin, rules::kStratumMax, "local stratum"))
          l.stratum = static_cast<int>(*v);
        else ok = false;
        continue;
      }
      // Seconds, 0 included (distance 0: the wait options alone decide).
      double* field = o == "distance"     ? &l.distance_s
                      : o == "activate"   ? &l.activate_s
                      : o == "waitsynced" ? &l.wait_synced_s
                                          : &l.wait_unsynced_s;
      if (auto v = to_double(val, 0.0, rules::kSecondsMax, false, "local " + o)) *field = *v;
      else ok = false;
    }
    if (ok) cfg_.local = l;
  }

  void parse_makestep(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 2, 2, "makestep THRESHOLD LIMIT")) return;
    auto threshold = to_double(args[0], 0.0, rules::kSecondsMax, false, "makestep threshold");
    auto limit = to_int(args[1], -1, std::numeric_limits<int>::max(), "makestep limit");
    if (threshold && limit) cfg_.clock.makestep = MakeStepConfig{*threshold, static_cast<int>(*limit)};
  }

  void parse_driftfile(const Token& directive, const std::vector<Token>& args) {
    constexpr std::string_view usage = "driftfile FILE [interval SECONDS]";
    if (args.size() == 2 || !count_ok(directive, args, 1, 3, usage)) {
      if (args.size() == 2) error(args[1].column, "incomplete driftfile option", std::string(usage));
      return;
    }
    if (args.size() == 3) {
      if (!iequals(args[1].text, "interval")) {
        error(args[1].column, "invalid driftfile option '" + std::string(args[1].text) + "'", std::string(usage));
        return;
      }
      if (!to_int(args[2], 1, std::numeric_limits<int>::max(), "driftfile interval")) return;
      warn(args[1].column, "driftfile interval is not supported by gnomon; the drift file is written hourly");
    }
    cfg_.clock.driftfile = std::string(args[0].text);
  }

  void parse_log(const std::vector<Token>& args) {
    for (const Token& t : args) {
      if (t.text == "measurements") cfg_.log.measurements = true;
      else if (t.text == "statistics") cfg_.log.statistics = true;
      else if (t.text == "tracking") cfg_.log.tracking = true;
      else if (t.text == "rawmeasurements") {
        cfg_.log.measurements = true;
        warn(t.column, "log rawmeasurements is written as measurements");
      } else if (t.text == "selection" || t.text == "rtc" || t.text == "refclocks" || t.text == "tempcomp") {
        warn(t.column, "log " + std::string(t.text) + " is not supported by gnomon; ignored");
      } else {
        error(t.column, "invalid log parameter '" + std::string(t.text) + "'",
              "measurements, statistics, tracking (rawmeasurements, selection, rtc, refclocks, tempcomp "
              "are accepted and ignored)");
      }
    }
  }

  void parse_ratelimit(const std::vector<Token>& args) {
    RateLimitConfig rl = cfg_.server.ratelimit;
    rl.enabled = true;
    constexpr std::string_view usage = "interval -19..12, burst 1..255, leak 1..4, kod 0..4";
    bool ok = true;
    for (std::size_t i = 0; i < args.size(); i += 2) {
      const std::string o = lower(args[i].text);
      if (o != "interval" && o != "burst" && o != "leak" && o != "kod") {
        error(args[i].column, "invalid ratelimit option '" + std::string(args[i].text) + "'", std::string(usage));
        ok = false;
        continue;
      }
      if (i + 1 >= args.size()) {
        error(args[i].column, "missing value for ratelimit option '" + o + "'", std::string(usage));
        ok = false;
        break;
      }
      const Token& val = args[i + 1];
      std::optional<std::int64_t> v;
      if (o == "interval") v = to_int(val, rules::kRateIntervalMin, rules::kRateIntervalMax, "ratelimit interval");
      else if (o == "burst") v = to_int(val, rules::kRateBurstMin, rules::kRateBurstMax, "ratelimit burst");
      else if (o == "leak") v = to_int(val, rules::kRateLeakMin, rules::kRateLeakMax, "ratelimit leak");
      else v = to_int(val, 0, 4, "ratelimit kod");
      if (!v) {
        ok = false;
        continue;
      }
      int x = static_cast<int>(*v);
      if (o == "interval") rl.interval = x;
      else if (o == "burst") rl.burst = x;
      else if (o == "leak") rl.leak = x;
      else rl.kod = x != 0;  // chrony's KoD rate (log2); gnomon sends KoD or not
    }
    if (ok) cfg_.server.ratelimit = rl;
  }

  void parse_bind(const Token& directive, const std::vector<Token>& args, std::optional<IpAddress>& v4,
                  std::optional<IpAddress>& v6) {
    if (!count_ok(directive, args, 1, 1, lower(directive.text) + " ADDRESS")) return;
    std::optional<IpAddress> ip = IpAddress::parse(args[0].text);
    if (!ip) {
      error(args[0].column, "invalid address '" + std::string(args[0].text) + "' in " + lower(directive.text),
            "an IPv4 or IPv6 address");
      return;
    }
    (ip->is_v4() ? v4 : v6) = *ip;
  }

  // chrony: the list replaces the previous one; none at all closes every
  // monitoring command to UDP.
  void parse_opencommands(const std::vector<Token>& args) {
    std::vector<std::string> names;
    for (const Token& t : args) {
      const std::string n = lower(t.text);
      if (!contains(std::string_view(n), rules::kOpenCommandNames)) {
        error(t.column, "invalid opencommands command '" + std::string(t.text) + "'",
              std::string(rules::kOpenCommandsAllowed));
        return;
      }
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
    cfg_.control.open_commands = std::move(names);
  }

  void parse_bindcmdaddress(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 1, 1, "bindcmdaddress ADDRESS|/PATH")) return;
    if (args[0].text.front() == '/') {
      // A path is the Unix socket; "/" alone disables it.
      cfg_.control.socket = args[0].text == "/" ? std::string() : std::string(args[0].text);
      return;
    }
    parse_bind(directive, args, bindcmd4_, bindcmd6_);
  }

  void parse_maxntsconnections(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 1, 1, "maxntsconnections N")) return;
    if (auto v = to_int(args[0], rules::kNtsConnectionsMin, rules::kNtsConnectionsMax, "maxntsconnections"))
      cfg_.nts.max_connections = static_cast<int>(*v);
  }

  void parse_clientloglimit(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 1, 1, "clientloglimit BYTES")) return;
    if (auto v = to_int(args[0], 0, rules::kClientLogLimitMax, "clientloglimit"))
      cfg_.server.clientloglimit = static_cast<std::uint64_t>(*v);
  }

  void nts_file(const Token& directive, const std::vector<Token>& args, std::string_view usage,
                std::string& out) {
    if (!count_ok(directive, args, 1, 1, usage)) return;
    if (!out.empty()) {
      warn(directive.column, "only one " + lower(directive.text) + " is supported; using " + out);
      return;
    }
    out = std::string(args[0].text);
  }

  void parse_ntstrustedcerts(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 1, 2, "ntstrustedcerts [SET-ID] FILE|DIRECTORY")) return;
    if (args.size() == 2 && !to_int(args[0], 0, std::numeric_limits<std::uint32_t>::max(), "ntstrustedcerts set"))
      return;
    if (!cfg_.nts.trusted_certs.empty()) {
      warn(directive.column, "only one ntstrustedcerts is supported; using " + cfg_.nts.trusted_certs);
      return;
    }
    cfg_.nts.trusted_certs = std::string(args.back().text);
  }

  void parse_include(const Token& directive, const std::vector<Token>& args) {
    if (!count_ok(directive, args, 1, 1, "include PATTERN")) return;
    std::string pattern(args[0].text);
    if (pattern.find_first_of("*?[") == std::string::npos) {
      load_file(pattern, true);  // a plain path must exist, as in chrony
      return;
    }
    glob_t gl{};
    int r = ::glob(pattern.c_str(), 0, nullptr, &gl);  // unreadable directories match nothing
    if (r == 0) {
      std::vector<std::string> paths(gl.gl_pathv, gl.gl_pathv + gl.gl_pathc);
      ::globfree(&gl);
      for (const std::string& p : paths) load_file(p, true);
      return;
    }
    ::globfree(&gl);
    if (r != GLOB_NOMATCH) error(args[0].column, "cannot search for files matching '" + pattern + "'", "");
  }

  // confdir / sourcedir: the *.conf or *.sources files of up to 10 directories,
  // in file-name order; a name in an earlier directory hides the same name later.
  void parse_dirs(const Token& directive, const std::vector<Token>& args, std::string_view suffix,
                  bool sources) {
    if (!count_ok(directive, args, 1, 10, lower(directive.text) + " DIRECTORY...")) return;
    std::map<std::string, std::string> by_name;  // file name -> first path
    for (const Token& dir : args) {
      std::error_code ec;
      fs::directory_iterator it(fs::path(dir.text), ec);
      if (ec) continue;  // a missing directory is not an error (chrony)
      for (const fs::directory_entry& e : it) {
        std::string fname = e.path().filename().string();
        if (fname.size() <= suffix.size() || fname.compare(fname.size() - suffix.size(), suffix.size(), suffix) != 0)
          continue;
        by_name.emplace(fname, e.path().string());
      }
    }
    for (const auto& [fname, path] : by_name) {
      if (!sources) {
        load_file(path, true);
        continue;
      }
      bool saved = in_sourcedir_;
      in_sourcedir_ = true;
      load_file(path, true);
      in_sourcedir_ = saved;
    }
  }

  // ---- results ----
  [[nodiscard]] std::size_t error_count() const {
    return static_cast<std::size_t>(
        std::count_if(diags_.begin(), diags_.end(), [](const ConfigDiagnostic& d) { return d.error; }));
  }

  // Errors in a sourcedir file skip the entry, as chrony does, with a warning.
  void demote_errors(std::size_t errors_before, std::string_view note) {
    std::size_t seen = 0;
    for (ConfigDiagnostic& d : diags_) {
      if (!d.error) continue;
      if (++seen <= errors_before) continue;
      d.error = false;
      d.message += "; " + std::string(note);
    }
  }

  static Subnet family_any(bool v4) {
    Subnet s;
    s.address = v4 ? IpAddress::v4(0) : IpAddress::v6({});
    return s;
  }

  void finish_server() {
    ServerConfig& s = cfg_.server;
    bool any_allow = false, allow4 = false, allow6 = false;
    for (const AccessRule& r : s.access) {
      if (!r.allow) continue;
      any_allow = true;
      allow4 = allow4 || r.both_families || r.subnet.address.is_v4();
      allow6 = allow6 || r.both_families || !r.subnet.address.is_v4();
    }
    // chronyd opens the NTP port only for a family that some allow covers;
    // an explicit `port` without allow gives a server that answers nobody.
    s.enabled = ntp_port_ != 0 && (any_allow || port_given_);
    s.listen.clear();
    if (!s.enabled) return;
    auto port = static_cast<std::uint16_t>(ntp_port_);
    if (allow4 || !any_allow) s.listen.push_back(SocketAddress{bind4_.value_or(family_any(true).address), port});
    if (allow6 || !any_allow) s.listen.push_back(SocketAddress{bind6_.value_or(family_any(false).address), port});
  }

  void finish_control() {
    ControlConfig& c = cfg_.control;
    c.listen.clear();
    if (cmd_port_ == 0) return;
    auto port = static_cast<std::uint16_t>(cmd_port_);
    std::vector<SocketAddress> defaults = default_control_listen();
    c.listen.push_back(SocketAddress{bindcmd4_.value_or(defaults[0].ip), port});
    c.listen.push_back(SocketAddress{bindcmd6_.value_or(defaults[1].ip), port});
  }

  void finish_nts() {
    NtsConfig& n = cfg_.nts;
    if (!nts_key_.empty()) n.key = nts_key_;
    if (!nts_cert_.empty()) n.certificate = nts_cert_;
    n.enabled = !nts_key_.empty() && !nts_cert_.empty();
    if (nts_key_.empty() != nts_cert_.empty()) {
      diags_.push_back(ConfigDiagnostic{cfg_.source_file, 0, 0, false,
                                        "the NTS server needs both ntsserverkey and ntsservercert; NTS "
                                        "server disabled",
                                        {}});
    }
    n.listen.clear();
    if (!n.enabled) return;
    auto port = static_cast<std::uint16_t>(nts_port_);
    if (nts_port_ == 0) {
      n.enabled = false;
      return;
    }
    n.listen.push_back(SocketAddress{bind4_.value_or(family_any(true).address), port});
    n.listen.push_back(SocketAddress{bind6_.value_or(family_any(false).address), port});
  }

  Config cfg_ = [] {
    Config c;
    c.clock.makestep.reset();  // chrony steps only when makestep says so
    c.clock.driftfile.clear();  // and keeps no drift file without driftfile
    return c;
  }();
  std::vector<ConfigDiagnostic> diags_;
  std::vector<std::string> stack_;  // canonical paths of the files being read
  std::string file_;
  int line_ = 0;
  bool in_sourcedir_ = false;

  int ntp_port_ = 123;
  bool port_given_ = false;
  std::optional<IpAddress> bind4_, bind6_;
  int cmd_port_ = 323;
  std::optional<IpAddress> bindcmd4_, bindcmd6_;
  int nts_port_ = 4460;
  std::string nts_key_, nts_cert_;
  bool noclientlog_ = false;
};

}  // namespace

bool is_chrony_directive(std::string_view word) {
  std::string w = lower(word);
  return contains(w, kSupportedDirectives) || contains(w, kUnsupportedDirectives);
}

LoadResult load_chrony_file(const std::string& path) {
  ChronyLoader loader;
  loader.load_file(path, false);
  return loader.finish(path);
}

LoadResult load_chrony_text(std::string_view text, const std::string& name) {
  ChronyLoader loader;
  loader.load_text(text, name);
  return loader.finish(name);
}

}  // namespace gnomon
