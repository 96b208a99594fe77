#include "tools/gnomonc/commands.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tools/gnomonc/csv_format.hpp"
#include "tools/gnomonc/json_format.hpp"
#include "tools/gnomonc/names.hpp"
#include "tools/gnomonc/text_format.hpp"

namespace gnomon::gnomonc {
namespace {

using cmdmon::Command;
using cmdmon::ReplyType;

// Width of the name column where chronyc cuts long host names.
constexpr std::size_t kNameWidth = 25;
// Upper bound on CLIENT_ACCESSES_BY_INDEX3 pages, whatever the daemon says.
constexpr int kMaxClientPages = 1 << 20;
// chronyc hides sources whose names are not resolved yet unless given -a.
// gnomonc lists them, named as configured, because an unresolved pool is
// exactly what an admin looking at `sources` needs to see. Every row chronyc
// prints is printed identically.
constexpr bool kShowUnresolvedSources = true;

class Runner {
 public:
  explicit Runner(const CommandContext& ctx) : ctx_(ctx), mode_(ctx.session.mode()) {}

  bool run() {
    const auto& words = ctx_.options.words;
    const std::string& cmd = words.front();
    const std::vector<std::string> args(words.begin() + 1, words.end());
    if (cmd == "sources") return sources(args);
    if (cmd == "sourcestats") return sourcestats(args);
    if (cmd == "selectdata") return selectdata(args);
    if (cmd == "tracking") return tracking();
    if (cmd == "activity") return activity();
    if (cmd == "clients") return clients(args);
    if (cmd == "serverstats") return serverstats();
    if (cmd == "ntpdata") return ntpdata(args);
    if (cmd == "makestep") return makestep(args);
    if (cmd == "burst") return burst(args);
    if (cmd == "online") return connectivity(Command::Online, args);
    if (cmd == "offline") return connectivity(Command::Offline, args);
    if (cmd == "reload") return reload(args);
    error("Unrecognized command");
    return false;
  }

 private:
  [[nodiscard]] bool text() const { return mode_ == OutputMode::Text; }
  [[nodiscard]] bool csv() const { return mode_ == OutputMode::Csv; }
  [[nodiscard]] bool json() const { return mode_ == OutputMode::Json; }

  void print(const std::string& s) { std::fputs(s.c_str(), ctx_.out); }
  void error(const char* message) { std::fprintf(ctx_.err, "%s\n", message); }

  // After a failed request: the JSON error document (text and CSV have
  // printed the status line already).
  bool failed() {
    if (json()) print(json::error(ctx_.session.last_failure()));
    return false;
  }

  // A reply that passed the checks but does not decode (cannot happen for
  // replies of the accepted types; kept as a guard against our own bugs).
  bool bad_reply() {
    const std::string line = "508 Bad reply from daemon";
    print(json() ? json::error(line) : line + "\n");
    return false;
  }

  std::optional<std::vector<std::uint8_t>> request(Command c, const cmdmon::RequestArgs& a,
                                                   std::initializer_list<ReplyType> accepted,
                                                   StatusOutput output = StatusOutput::Errors) {
    return ctx_.session.request(c, a, accepted, output);
  }

  // The name the source was configured with (chronyc's get_source_name()):
  // nullopt if the daemon doesn't know it or it isn't printable.
  std::optional<std::string> configured_name(const cmdmon::Address& address, StatusOutput output) {
    cmdmon::RequestArgs a;
    a.address = address;
    const auto reply = request(Command::NtpSourceName, a, {ReplyType::NtpSourceName}, output);
    if (!reply) return std::nullopt;
    auto name = cmdmon::decode_source_name(*reply);
    if (!name) return std::nullopt;
    for (char c : *name) {
      if (!std::isgraph(static_cast<unsigned char>(c))) return std::nullopt;
    }
    return name;
  }

  // chronyc's format_name(): the refid text for reference clocks, else the
  // configured name (-N, "?" if unknown), the numeric address (-n, CSV) or
  // reverse DNS cut to `width` with '>'. JSON never cuts.
  //
  // Unlike chronyc, a source whose name is not resolved yet is named as
  // configured ("0.pool.ntp.org") instead of "ID#0000000001": gnomonc lists
  // such sources by default (see kShowUnresolvedSources).
  std::string name_of(std::size_t width, bool is_ref, std::uint32_t ref_id, bool is_source,
                      const cmdmon::Address& address) {
    if (is_ref) return refid_to_string(ref_id);
    if (is_source && ctx_.options.source_names) return configured_name(address, StatusOutput::Errors).value_or("?");
    if (is_source && address.family == cmdmon::Address::Family::Id) {
      const auto name = configured_name(address, StatusOutput::None);
      if (!name) return address_to_string(address);
      return json() ? *name : truncate_name(*name, width);
    }
    if (ctx_.options.no_dns || csv()) return address_to_string(address);
    std::string name = reverse_lookup(address);
    return json() ? name : truncate_name(std::move(name), width);
  }

  struct ListOptions {
    bool all = false;
    bool verbose = false;
  };

  ListOptions list_options(const std::vector<std::string>& args) const {
    ListOptions o;
    o.all = kShowUnresolvedSources;
    o.verbose = ctx_.options.verbose && text();
    for (const std::string& a : args) {
      if (a == "-a") o.all = true;
      if (a == "-v") o.verbose = text();
    }
    return o;
  }

  std::optional<std::uint32_t> source_count() {
    const auto reply = request(Command::NSources, {}, {ReplyType::NSources});
    if (!reply) return std::nullopt;
    return cmdmon::decode_n_sources(*reply);
  }

  bool sources(const std::vector<std::string>& args) {
    const ListOptions o = list_options(args);
    const auto n = source_count();
    if (!n) return failed();
    if (o.verbose) print(text::sources_legend());
    if (text()) print(text::sources_header());
    JsonWriter w;
    w.begin_object().key("sources").begin_array();
    for (std::uint32_t i = 0; i < *n; ++i) {
      cmdmon::RequestArgs a;
      a.index = i;
      const auto reply = request(Command::SourceData, a, {ReplyType::SourceData});
      if (!reply) return failed();
      const auto r = cmdmon::decode_source_data(*reply);
      if (!r) return bad_reply();
      if (!o.all && r->address.family == cmdmon::Address::Family::Id) continue;
      const bool is_ref = r->mode == cmdmon::SourceMode::Reference && r->address.family == cmdmon::Address::Family::Inet4;
      const std::string name = name_of(kNameWidth, is_ref, r->address.v4_host_order(), true, r->address);
      if (json()) {
        json::source(w, *r, name);
      } else {
        print(text() ? text::sources_row(*r, name) : csv::sources_row(*r, name));
      }
    }
    w.end_array().end_object();
    if (json()) print(w.str() + "\n");
    return true;
  }

  bool sourcestats(const std::vector<std::string>& args) {
    const ListOptions o = list_options(args);
    const auto n = source_count();
    if (!n) return failed();
    if (o.verbose) print(text::sourcestats_legend());
    if (text()) print(text::sourcestats_header());
    JsonWriter w;
    w.begin_object().key("sourcestats").begin_array();
    for (std::uint32_t i = 0; i < *n; ++i) {
      cmdmon::RequestArgs a;
      a.index = i;
      const auto reply = request(Command::Sourcestats, a, {ReplyType::Sourcestats});
      if (!reply) return failed();
      const auto r = cmdmon::decode_sourcestats(*reply);
      if (!r) return bad_reply();
      if (!o.all && r->address.family == cmdmon::Address::Family::Id) continue;
      const bool is_ref = r->address.family == cmdmon::Address::Family::Unspec;
      const std::string name = name_of(kNameWidth, is_ref, r->ref_id, true, r->address);
      if (json()) {
        json::sourcestats(w, *r, name);
      } else {
        print(text() ? text::sourcestats_row(*r, name) : csv::sourcestats_row(*r, name));
      }
    }
    w.end_array().end_object();
    if (json()) print(w.str() + "\n");
    return true;
  }

  bool selectdata(const std::vector<std::string>& args) {
    const ListOptions o = list_options(args);
    const auto n = source_count();
    if (!n) return failed();
    if (o.verbose) print(text::selectdata_legend());
    if (text()) print(text::selectdata_header());
    JsonWriter w;
    w.begin_object().key("selectdata").begin_array();
    for (std::uint32_t i = 0; i < *n; ++i) {
      cmdmon::RequestArgs a;
      a.index = i;
      const auto reply = request(Command::SelectData, a, {ReplyType::SelectData});
      if (!reply) return failed();
      const auto r = cmdmon::decode_select_data(*reply);
      if (!r) return bad_reply();
      if (!o.all && r->address.family == cmdmon::Address::Family::Id) continue;
      const bool is_ref = r->address.family == cmdmon::Address::Family::Unspec;
      const std::string name = name_of(kNameWidth, is_ref, r->ref_id, true, r->address);
      if (json()) {
        json::selectdata(w, *r, name);
      } else {
        print(text() ? text::selectdata_row(*r, name) : csv::selectdata_row(*r, name));
      }
    }
    w.end_array().end_object();
    if (json()) print(w.str() + "\n");
    return true;
  }

  bool tracking() {
    const auto reply = request(Command::Tracking, {}, {ReplyType::Tracking});
    if (!reply) return failed();
    const auto r = cmdmon::decode_tracking(*reply);
    if (!r) return bad_reply();
    const bool is_ref = r->address.family == cmdmon::Address::Family::Unspec;
    const std::string name = name_of(0, is_ref, r->ref_id, true, r->address);
    print(text() ? text::tracking(*r, name) : csv() ? csv::tracking(*r, name) : json::tracking(*r, name));
    return true;
  }

  bool activity() {
    const auto reply = request(Command::Activity, {}, {ReplyType::Activity});
    if (!reply) return failed();
    const auto r = cmdmon::decode_activity(*reply);
    if (!r) return bad_reply();
    if (text()) print("200 OK\n" + text::activity(*r));
    if (csv()) print(csv::activity(*r));
    if (json()) print(json::activity(*r));
    return true;
  }

  bool serverstats() {
    const auto reply = request(Command::ServerStats, {}, {ReplyType::ServerStats3, ReplyType::ServerStats4});
    if (!reply) return failed();
    const auto r = cmdmon::decode_server_stats(*reply);
    if (!r) return bad_reply();
    print(text() ? text::serverstats(*r) : csv() ? csv::serverstats(*r) : json::serverstats(*r));
    return true;
  }

  bool clients(const std::vector<std::string>& args) {
    bool nts = false;
    cmdmon::RequestArgs a;
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "-k") {
        nts = true;
      } else if (args[i] == "-r") {
        a.reset = true;
      } else if (args[i] == "-p") {
        char* end = nullptr;
        const std::string value = i + 1 < args.size() ? args[++i] : "";
        const unsigned long v = std::strtoul(value.c_str(), &end, 10);
        if (value.empty() || end == value.c_str() || v > 0xFFFFFFFFul) {
          error("Invalid syntax for clients command");
          return false;
        }
        a.min_hits = static_cast<std::uint32_t>(v);
      }
    }
    if (text()) print(text::clients_header(nts));
    JsonWriter w;
    w.begin_object().key("clients").begin_array();
    std::uint32_t next_index = 0;
    for (int page = 0; page < kMaxClientPages; ++page) {
      a.first_index = next_index;
      a.max_clients = cmdmon::kMaxClientsPerReply;
      const auto reply = request(Command::ClientAccessesByIndex3, a, {ReplyType::ClientAccessesByIndex3});
      if (!reply) return failed();
      const auto r = cmdmon::decode_client_accesses(*reply);
      if (!r) return bad_reply();
      for (const cmdmon::ClientAccessReport& c : r->clients) {
        if (c.address.family == cmdmon::Address::Family::Unspec) continue;
        const std::string name = name_of(kNameWidth, false, 0, false, c.address);
        if (json()) {
          json::client(w, c, name);
        } else {
          print(text() ? text::clients_row(c, name, nts) : csv::clients_row(c, name, nts));
        }
      }
      const std::uint32_t previous = next_index;
      next_index = r->next_index;
      if (next_index >= r->n_indices || r->clients.size() < cmdmon::kMaxClientsPerReply) break;
      if (next_index <= previous) break;  // no progress: a confused daemon
    }
    w.end_array().end_object();
    if (json()) print(w.str() + "\n");
    return true;
  }

  bool ntpdata(const std::vector<std::string>& args) {
    std::vector<cmdmon::Address> addresses;
    const bool specified = !args.empty();
    if (specified) {
      const auto address = resolve_source_address(args.front(), ctx_.options.family);
      if (!address) {
        error("Could not get address for hostname");
        return false;
      }
      addresses.push_back(*address);
    }
    std::uint32_t n = 1;
    if (!specified) {
      const auto count = source_count();
      if (!count) return failed();
      n = *count;
    }
    JsonWriter w;
    w.begin_object().key("ntpdata").begin_array();
    for (std::uint32_t i = 0; i < n; ++i) {
      cmdmon::RequestArgs a;
      if (specified) {
        a.address = addresses.front();
      } else {
        cmdmon::RequestArgs sa;
        sa.index = i;
        const auto reply = request(Command::SourceData, sa, {ReplyType::SourceData});
        if (!reply) return failed();
        const auto s = cmdmon::decode_source_data(*reply);
        if (!s) return bad_reply();
        if (s->mode != cmdmon::SourceMode::Client && s->mode != cmdmon::SourceMode::Peer) continue;
        if (!s->address.is_ip()) continue;
        a.address = s->address;
      }
      const auto reply = request(Command::NtpData, a, {ReplyType::NtpData, ReplyType::NtpData2});
      if (!reply) return failed();
      const auto r = cmdmon::decode_ntp_data(*reply);
      if (!r) return bad_reply();
      if (!specified && text()) print("\n");
      if (json()) {
        json::ntpdata(w, *r);
      } else {
        print(text() ? text::ntpdata(*r) : csv::ntpdata(*r));
      }
    }
    w.end_array().end_object();
    if (json()) print(w.str() + "\n");
    return true;
  }

  // A control command answered by a bare status: "200 OK" on success.
  bool control(Command command, const cmdmon::RequestArgs& args) {
    const auto reply = request(command, args, {ReplyType::Null}, StatusOutput::All);
    if (!reply) return failed();
    if (json()) print(json::status("200 OK"));
    return true;
  }

  bool makestep(const std::vector<std::string>& args) {
    if (args.empty()) return control(Command::MakeStep, {});
    char* end1 = nullptr;
    char* end2 = nullptr;
    const double threshold = args.size() == 2 ? std::strtod(args[0].c_str(), &end1) : 0.0;
    const long limit = args.size() == 2 ? std::strtol(args[1].c_str(), &end2, 10) : 0;
    if (args.size() != 2 || end1 == args[0].c_str() || end2 == args[1].c_str() || limit < -1 ||
        limit > 0x7FFFFFFFL) {
      error("Bad syntax for makestep command");
      return false;
    }
    cmdmon::RequestArgs a;
    a.makestep_threshold_s = threshold;
    a.makestep_limit = static_cast<std::int32_t>(limit);
    return control(Command::ModifyMakestep, a);
  }

  // chronyc's read_mask_address(): empty = all sources; "MASK/ADDRESS",
  // "ADDRESS/BITS", or one address or name.
  bool read_mask_address(const std::vector<std::string>& args, cmdmon::RequestArgs& a) {
    if (args.empty()) return true;
    const std::string& s = args.front();
    const auto slash = s.find('/');
    if (slash == std::string::npos) {
      const auto address = resolve_source_address(s, ctx_.options.family);
      if (!address) {
        error("Could not get address for hostname");
        return false;
      }
      a.address = *address;
      a.mask = full_mask(address->family);
      return true;
    }
    const auto first = IpAddress::parse(s.substr(0, slash));
    const std::string rest = s.substr(slash + 1);
    if (first) {
      if (const auto second = IpAddress::parse(rest); second && second->family == first->family) {
        a.mask = cmdmon::Address::from_ip(*first);
        a.address = cmdmon::Address::from_ip(*second);
        return true;
      }
      char* end = nullptr;
      const unsigned long bits = std::strtoul(rest.c_str(), &end, 10);
      if (!rest.empty() && end != rest.c_str()) {
        a.address = cmdmon::Address::from_ip(*first);
        a.mask = prefix_mask(a.address.family, static_cast<int>(std::min(bits, 128UL)));
        return true;
      }
    }
    error("Invalid syntax for mask/address");
    return false;
  }

  static cmdmon::Address prefix_mask(cmdmon::Address::Family family, int bits) {
    cmdmon::Address m;
    m.family = family;
    if (family != cmdmon::Address::Family::Inet4 && family != cmdmon::Address::Family::Inet6) {
      m.family = cmdmon::Address::Family::Unspec;
      return m;
    }
    const int width = family == cmdmon::Address::Family::Inet4 ? 32 : 128;
    if (bits > width) bits = width;
    for (int i = 0; i < bits; ++i) m.bytes[static_cast<std::size_t>(i / 8)] |= static_cast<std::uint8_t>(0x80 >> (i % 8));
    return m;
  }

  static cmdmon::Address full_mask(cmdmon::Address::Family family) { return prefix_mask(family, 128); }

  bool connectivity(Command command, const std::vector<std::string>& args) {
    cmdmon::RequestArgs a;
    if (!read_mask_address(args, a)) return false;
    return control(command, a);
  }

  bool burst(const std::vector<std::string>& args) {
    cmdmon::RequestArgs a;
    a.burst_good_samples = 4;
    a.burst_total_samples = 4;
    std::vector<std::string> rest = args;
    if (!rest.empty()) {
      int good = 0;
      int total = 0;
      char tail = 0;
      if (std::sscanf(rest.front().c_str(), "%d/%d%c", &good, &total, &tail) != 2) {
        error("Invalid syntax for burst command");
        return false;
      }
      a.burst_good_samples = good;
      a.burst_total_samples = total;
      rest.erase(rest.begin());
    }
    if (!read_mask_address(rest, a)) return false;
    return control(Command::Burst, a);
  }

  bool reload(const std::vector<std::string>& args) {
    if (args.size() != 1 || args.front() != "sources") {
      error("Invalid syntax for reload command");
      return false;
    }
    return control(Command::ReloadSources, {});
  }

  const CommandContext& ctx_;
  OutputMode mode_;
};

}  // namespace

bool run_command(const CommandContext& ctx) {
  if (ctx.options.words.empty()) return false;
  Runner runner(ctx);
  return runner.run();
}

}  // namespace gnomon::gnomonc
