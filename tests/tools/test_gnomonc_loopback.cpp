// End to end on loopback: lib/cmdmon_server's handle_command() served on a
// Unix datagram socket and on UDP by a small in-test loop, queried by
// gnomonc's own command code and, when installed, by Debian's chronyc. The
// provider's data is fixed, so gnomonc's and chronyc's outputs must be equal
// byte for byte, and both must show what the provider reports.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "lib/cmdmon_server.hpp"
#include "tools/gnomonc/commands.hpp"
#include "tools/gnomonc/options.hpp"
#include "tools/gnomonc/session.hpp"
#include "tools/gnomonc/transport.hpp"

using namespace gnomon;
using namespace gnomon::cmdmon;
using namespace gnomon::gnomonc;

namespace {

constexpr std::uint32_t kLocl = 0x4C4F434Cu;  // "LOCL"

// The controller scenario while no upstream answers: the local clock is
// selected, one pool name is unresolved, one server is reachable.
class ScenarioProvider : public ControlDataProvider {
 public:
  std::uint32_t source_count() const override { return 3; }
  std::optional<SourceReport> source(std::uint32_t i) const override {
    SourceReport r;
    switch (i) {
      case 0:
        r.address = Address::inet4(kLocl);
        r.mode = SourceMode::Reference;
        r.state = SourceState::Selected;
        r.stratum = 10;
        r.poll_log2 = 6;
        r.reachability = 0377;
        r.last_sample_ago_s = 23;
        return r;
      case 1:
        r.address = Address::from_id(1);
        r.mode = SourceMode::Client;
        r.state = SourceState::Unusable;
        r.poll_log2 = 6;
        r.last_sample_ago_s = 0xFFFFFFFFu;
        return r;
      case 2:
        r.address = Address::inet4(0x7F000002u);
        r.mode = SourceMode::Client;
        r.state = SourceState::NotCombined;
        r.stratum = 2;
        r.poll_log2 = 6;
        r.reachability = 017;
        r.last_sample_ago_s = 3;
        r.adjusted_offset_s = -1858e-6;
        r.original_offset_s = -1858e-6;
        r.error_s = 40e-3;
        return r;
      default:
        return std::nullopt;
    }
  }
  std::optional<SourcestatsReport> sourcestats(std::uint32_t i) const override {
    if (i >= 3) return std::nullopt;
    SourcestatsReport r;
    r.ref_id = i == 0 ? kLocl : 0;
    r.address = i == 0 ? Address{} : i == 1 ? Address::from_id(1) : Address::inet4(0x7F000002u);
    r.skew_ppm = 2000.0;
    r.std_dev_s = 4.0;
    return r;
  }
  TrackingReport tracking() const override {
    TrackingReport t;
    t.ref_id = kLocl;
    t.stratum = 10;
    t.leap = Leap::None;
    t.ref_time = TimePoint{1795785093LL * kNsPerS};
    t.freq_ppm = 1.5;
    t.last_update_interval_s = 64.0;
    return t;
  }
  ActivityReport activity() const override { return ActivityReport{1, 0, 0, 0, 1}; }
  std::optional<std::string> source_name(const Address& a) const override {
    if (a == Address::from_id(1)) return std::string("0.centos.pool.ntp.org");
    if (a == Address::inet4(0x7F000002u)) return std::string("2.kr.pool.ntp.org");
    return std::nullopt;
  }
  std::optional<SelectDataReport> selectdata(std::uint32_t i) const override {
    if (i >= 3) return std::nullopt;
    SelectDataReport r;
    r.state = i == 0 ? '*' : 'M';
    r.ref_id = i == 0 ? kLocl : 0;
    r.address = i == 0 ? Address{} : i == 1 ? Address::from_id(1) : Address::inet4(0x7F000002u);
    r.score = 1.0;
    return r;
  }
  std::optional<NtpDataReport> ntp_data(const Address& remote) const override {
    if (!(remote == Address::inet4(0x7F000002u))) return std::nullopt;
    NtpDataReport r;
    r.remote_address = remote;
    r.local_address = Address::inet4(0x7F000001u);
    r.remote_port = 123;
    r.version = 4;
    r.mode = kNtpModeServer;
    r.stratum = 2;
    r.poll_log2 = 6;
    r.precision_log2 = -24;
    r.ref_id = 0x0A000001u;
    r.ref_time = TimePoint{1795785000LL * kNsPerS + 5};
    r.offset_s = 1858e-6;
    r.tests = 0x3FF;
    r.tx_timestamping = 'K';
    r.rx_timestamping = 'K';
    r.total_tx = r.total_rx = r.total_valid_rx = r.total_good_rx = 4;
    return r;
  }
  ServerStatsReport server_stats() const override {
    ServerStatsReport s;
    s.ntp_hits = 1234;
    s.cmd_hits = 56;
    s.ntp_span_s = 300;
    return s;
  }
  std::optional<ClientAccessesPage> client_accesses(std::uint32_t first, std::uint32_t max, std::uint32_t,
                                                    bool) override {
    ClientAccessesPage p;
    p.n_indices = 11;  // 11 clients: two pages
    std::uint32_t i = first;
    for (; i < p.n_indices && p.clients.size() < max; ++i) {
      ClientAccessReport c;
      c.address = Address::inet4(0x0A000000u + 10 + i);
      c.ntp_hits = 100 + i;
      c.ntp_interval_log2 = 6;
      c.last_ntp_hit_ago_s = i * 100;
      p.clients.push_back(c);
    }
    p.next_index = i;
    return p;
  }
  Status make_step() override { return Status::Success; }
  Status burst(const SourceMatch&, int, int) override { return Status::Success; }
  Status set_online(const SourceMatch& m, bool) override {
    return m.matches(Address::inet4(0x7F000002u)) ? Status::Success : Status::NoSuchSource;
  }
  Status reload_sources() override { return Status::Success; }
};

// Serves handle_command() on `fd` until destroyed.
class LoopbackServer {
 public:
  LoopbackServer(int fd, ChannelKind kind, ControlDataProvider& provider)
      : fd_(fd), thread_([this, kind, &provider] { serve(kind, provider); }) {}
  ~LoopbackServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

 private:
  void serve(ChannelKind kind, ControlDataProvider& provider) {
    std::vector<std::uint8_t> in(4096);
    std::vector<std::uint8_t> out(kMaxReplyLength);
    while (!stop_) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 50) <= 0) continue;
      sockaddr_storage from{};
      socklen_t from_len = sizeof from;
      const ssize_t n = ::recvfrom(fd_, in.data(), in.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      if (n < 0) continue;
      const CommandResult r =
          handle_command(std::span<const std::uint8_t>(in.data(), static_cast<std::size_t>(n)), kind, provider, out);
      if (r.replied()) {
        ::sendto(fd_, out.data(), r.reply_length, 0, reinterpret_cast<sockaddr*>(&from), from_len);
      }
    }
  }

  int fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gnomonc-loopback-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

int bind_unix(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  REQUIRE(path.size() < sizeof sun.sun_path);
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&sun), sizeof sun) == 0);
  return fd;
}

int bind_udp(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0);
  socklen_t len = sizeof sin;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
  port = ntohs(sin.sin_port);
  return fd;
}

struct Run {
  bool ok = false;
  std::string out;
};

// gnomonc's command code with the given flags and words, output captured.
Run run_gnomonc(const std::string& hosts, std::uint16_t port, std::vector<std::string> args) {
  std::vector<std::string> argv = {"-h", hosts, "-p", std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  const ParsedOptions parsed = parse_options(argv);
  REQUIRE(parsed.outcome == ParseOutcome::Run);
  Transport transport(resolve_targets(parsed.options.hosts, parsed.options.port, FamilyFilter::Any));
  REQUIRE(transport.open_next());
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  REQUIRE(out != nullptr);
  REQUIRE(err != nullptr);
  std::mt19937 rng(42);
  const OutputMode mode =
      parsed.options.json ? OutputMode::Json : parsed.options.csv ? OutputMode::Csv : OutputMode::Text;
  RetryPolicy fast;
  fast.initial_timeout = std::chrono::milliseconds(200);
  Session session(transport, mode, out, [&rng] { return static_cast<std::uint32_t>(rng()); }, fast);
  Run r;
  r.ok = run_command(CommandContext{parsed.options, session, out, err});
  std::fflush(out);
  std::rewind(out);
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, out)) > 0) r.out.append(buf, n);
  std::fclose(out);
  std::fclose(err);
  return r;
}

bool have_chronyc() { return ::access("/usr/bin/chronyc", X_OK) == 0; }

Run chronyc(const std::string& hosts, std::uint16_t port, const std::string& args) {
  const std::string cmd = "/usr/bin/chronyc -h " + hosts + " -p " + std::to_string(port) + " " + args + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  Run r;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  r.ok = ::pclose(p) == 0;
  return r;
}

std::vector<std::string> split(const std::string& s, const std::string& by) {
  std::vector<std::string> v;
  std::size_t start = 0;
  while (true) {
    const std::size_t i = s.find(by, start);
    v.push_back(s.substr(start, i - start));
    if (i == std::string::npos) return v;
    start = i + by.size();
  }
}

}  // namespace

TEST_CASE("gnomonc against handle_command over a Unix socket") {
  TempDir dir;
  const std::string sock = (dir.path / "gnomond.sock").string();
  ScenarioProvider provider;
  LoopbackServer server(bind_unix(sock), ChannelKind::UnixSocket, provider);

  const Run sources = run_gnomonc(sock, 323, {"-n", "sources"});
  CHECK(sources.ok);
  CHECK(sources.out ==
        "MS Name/IP address         Stratum Poll Reach LastRx Last sample               \n"
        "===============================================================================\n"
        "#* LOCL                         10   6   377    23     +0ns[   +0ns] +/-    0ns\n"
        "^? 0.centos.pool.ntp.org         0   6     0     -     +0ns[   +0ns] +/-    0ns\n"
        "^- 127.0.0.2                     2   6    17     3  -1858us[-1858us] +/-   40ms\n");

  const Run named = run_gnomonc(sock, 323, {"-N", "sources"});
  CHECK(split(named.out, "\n").at(4).rfind("^- 2.kr.pool.ntp.org ", 0) == 0);

  const Run stats = run_gnomonc(sock, 323, {"-n", "sourcestats"});
  CHECK(split(stats.out, "\n").at(2) ==
        "LOCL                        0   0     0     +0.000   2000.000     +0ns  4000ms");

  const Run tracking = run_gnomonc(sock, 323, {"-n", "tracking"});
  CHECK(tracking.out.rfind("Reference ID    : 4C4F434C (LOCL)\nStratum         : 10\n", 0) == 0);

  const Run clients = run_gnomonc(sock, 323, {"-n", "clients"});
  CHECK(clients.ok);
  const auto lines = split(clients.out, "\n");
  REQUIRE(lines.size() == 2 + 11 + 1);  // header, 11 clients over two pages, final ""
  CHECK(lines[2] == "10.0.0.10                     100      0   6   -     0       0      0   -     -");
  CHECK(lines[12].rfind("10.0.0.20 ", 0) == 0);

  const Run serverstats = run_gnomonc(sock, 323, {"serverstats"});
  CHECK(serverstats.out.rfind("NTP packets received       : 1234\n", 0) == 0);

  const Run ntpdata = run_gnomonc(sock, 323, {"ntpdata"});
  CHECK(ntpdata.out.rfind("\nRemote address  : 127.0.0.2 (7F000002)\n", 0) == 0);
  CHECK(run_gnomonc(sock, 323, {"ntpdata", "127.0.0.9"}).out == "503 No such source\n");

  CHECK(run_gnomonc(sock, 323, {"makestep"}).out == "200 OK\n");
  CHECK(run_gnomonc(sock, 323, {"online", "127.0.0.2"}).out == "200 OK\n");
  const Run missing = run_gnomonc(sock, 323, {"offline", "127.0.0.9"});
  CHECK_FALSE(missing.ok);
  CHECK(missing.out == "503 No such source\n");
  CHECK(run_gnomonc(sock, 323, {"reload", "sources"}).out == "200 OK\n");

  const Run json = run_gnomonc(sock, 323, {"-n", "-j", "sources"});
  CHECK(json.out.find("\"name\":\"0.centos.pool.ntp.org\",\"address\":null") != std::string::npos);
  CHECK(json.out.find("\"mode\":\"local\",\"mode_symbol\":\"#\",\"state\":\"selected\"") != std::string::npos);

  if (have_chronyc()) {
    // Debian's chronyc 4.3 against the same handler: identical text, except
    // the unresolved source, which chronyc hides unless given -a.
    const Run c = chronyc(sock, 323, "-n sources");
    CHECK(c.ok);
    CHECK(c.out ==
          "MS Name/IP address         Stratum Poll Reach LastRx Last sample               \n"
          "===============================================================================\n"
          "#* LOCL                         10   6   377    23     +0ns[   +0ns] +/-    0ns\n"
          "^- 127.0.0.2                     2   6    17     3  -1858us[-1858us] +/-   40ms\n");
    // gnomonc's default listing is chronyc's -a, with unresolved sources named
    // as configured (chronyc's -N does that for every source).
    CHECK(chronyc(sock, 323, "-n -N sources -a").out == run_gnomonc(sock, 323, {"-n", "-N", "sources"}).out);
    for (const char* cmd : {"tracking", "clients", "serverstats", "ntpdata", "ntpdata 127.0.0.2", "activity",
                            "makestep", "reload sources", "offline 127.0.0.9", "-N selectdata", "-N sourcestats",
                            "-c tracking", "-c clients", "-c serverstats", "-c ntpdata", "-c -N selectdata",
                            "-c -N sources"}) {
      CAPTURE(cmd);
      std::vector<std::string> words = {"-n"};
      for (const auto& w : split(cmd, " ")) words.push_back(w);
      const bool listing = std::string(cmd).find("-N") != std::string::npos;
      const Run mine = run_gnomonc(sock, 323, words);
      const Run theirs = chronyc(sock, 323, std::string("-n ") + cmd + (listing ? " -a" : ""));
      CHECK(mine.out == theirs.out);
      CHECK(mine.ok == theirs.ok);
    }
  }
}

TEST_CASE("gnomonc against handle_command over UDP: monitoring only") {
  std::uint16_t port = 0;
  ScenarioProvider provider;
  LoopbackServer server(bind_udp(port), ChannelKind::Udp, provider);

  CHECK(run_gnomonc("127.0.0.1", port, {"-n", "tracking"}).ok);
  CHECK(run_gnomonc("127.0.0.1", port, {"-n", "activity"}).out ==
        "200 OK\n1 sources online\n0 sources offline\n0 sources doing burst (return to online)\n"
        "0 sources doing burst (return to offline)\n1 sources with unknown address\n");
  const Run clients = run_gnomonc("127.0.0.1", port, {"-n", "clients"});
  CHECK_FALSE(clients.ok);
  CHECK(clients.out ==
        "Hostname                      NTP   Drop Int IntL Last     Cmd   Drop Int  Last\n"
        "===============================================================================\n"
        "501 Not authorised\n");
  for (const char* cmd : {"makestep", "serverstats", "reload"}) {
    std::vector<std::string> words = {"-n", cmd};
    if (std::string(cmd) == "reload") words.push_back("sources");
    const Run r = run_gnomonc("127.0.0.1", port, words);
    CAPTURE(cmd);
    CHECK_FALSE(r.ok);
    CHECK(r.out == "501 Not authorised\n");
  }
  const Run json = run_gnomonc("127.0.0.1", port, {"-j", "makestep"});
  CHECK(json.out == "{\"error\":{\"code\":501,\"message\":\"Not authorised\"}}\n");

  if (have_chronyc()) {
    struct Pair {
      std::vector<std::string> mine;
      std::string theirs;
    };
    for (const Pair& p : {Pair{{"-n", "-N", "sources"}, "-n -N sources -a"},
                          Pair{{"-n", "-N", "sourcestats"}, "-n -N sourcestats -a"},
                          Pair{{"-n", "tracking"}, "-n tracking"}, Pair{{"-n", "activity"}, "-n activity"},
                          Pair{{"-n", "clients"}, "-n clients"}, Pair{{"-n", "selectdata"}, "-n selectdata"},
                          Pair{{"-n", "makestep"}, "-n makestep"},
                          Pair{{"-n", "-c", "-N", "sources"}, "-n -c -N sources -a"},
                          Pair{{"-n", "-c", "tracking"}, "-n -c tracking"}}) {
      CAPTURE(p.theirs);
      const Run mine = run_gnomonc("127.0.0.1", port, p.mine);
      const Run theirs = chronyc("127.0.0.1", port, p.theirs);
      CHECK(mine.out == theirs.out);
      CHECK(mine.ok == theirs.ok);
    }
  }
}
