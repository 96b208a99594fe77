// --check-config summaries and --print-config TOML: the printed TOML loads
// back to an equal Config, for the shipped files and for chrony.conf input.
#include <catch2/catch.hpp>

#include <string>

#include "lib/config/chrony_loader.hpp"
#include "lib/config/config_loader.hpp"
#include "lib/config/config_summary.hpp"
#include "lib/config/toml_loader.hpp"
#include "tests/unit/config_test_support.hpp"

using namespace gnomon;
using gnomon::test::all_messages;
using gnomon::test::without_origins;

namespace {

// Prints `c` as TOML, loads it back and requires an equal Config.
Config round_trip(const Config& c) {
  std::string toml = format_as_toml(c);
  LoadResult back = load_toml_text(toml, "printed.toml");
  INFO(toml);
  INFO(all_messages(back));
  REQUIRE(back.ok());
  CHECK_FALSE(has_errors(back.diagnostics));
  CHECK(without_origins(*back.config) == without_origins(c));
  return *back.config;
}

// The summary without its first line, which names the file.
std::string summary_body(const Config& c) {
  std::string s = format_summary(c);
  return s.substr(s.find('\n') + 1);
}

Config load_file(const std::string& path) {
  LoadResult r = load_config_file(path);
  INFO(path);
  INFO(all_messages(r));
  REQUIRE(r.ok());
  return *r.config;
}

}  // namespace

TEST_CASE("summary: the seed's chrony.conf shows three unresolved servers, LOCL 10 and its allow",
          "[config][summary]") {
  Config c = load_file((gnomon::test::conf_dir() / "controller-chrony.conf").string());
  std::string s = format_summary(c);
  INFO(s);
  CHECK_THAT(s, Catch::Contains("controller-chrony.conf"));
  CHECK_THAT(s, Catch::Contains("Upstream sources: 3 (3 servers)"));
  CHECK_THAT(s, Catch::Contains("server 0.centos.pool.ntp.org  iburst  [unresolved: hostname (resolved at run time)]"));
  CHECK_THAT(s, Catch::Contains("server 1.centos.pool.ntp.org"));
  CHECK_THAT(s, Catch::Contains("server 2.kr.pool.ntp.org"));
  CHECK_THAT(s, !Catch::Contains("127.127.1.0"));
  CHECK_THAT(s, Catch::Contains("Local clock: stratum 10"));
  CHECK_THAT(s, Catch::Contains("NTP server: listening on 0.0.0.0:123\n  allow 10.0.0.0/24\n"));
  CHECK_THAT(s, Catch::Contains("(any other address is denied)"));
  CHECK_THAT(s, Catch::Contains("Clock: "));
  CHECK_THAT(s, Catch::Contains("Control: socket /run/gnomon/gnomond.sock"));
  CHECK_THAT(s, Catch::Contains("Log: level info"));
  CHECK_THAT(s, Catch::Contains("Metrics: off"));
  std::size_t lines = static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
  CHECK(lines <= 24);  // one screen
}

TEST_CASE("print-config: the seed's chrony.conf becomes TOML with the same summary", "[config][summary]") {
  Config chrony = load_file((gnomon::test::conf_dir() / "controller-chrony.conf").string());
  std::string toml = format_as_toml(chrony);
  CHECK_THAT(toml, Catch::Contains("address = \"0.centos.pool.ntp.org\""));
  CHECK_THAT(toml, Catch::Contains("[local]\nstratum = 10\n"));
  CHECK_THAT(toml, Catch::Contains("allow = [\"10.0.0.0/24\"]"));
  Config back = round_trip(chrony);
  CHECK(summary_body(back) == summary_body(chrony));
}

TEST_CASE("print-config: every shipped conf file round-trips", "[config][summary]") {
  for (const char* name : {"controller.toml", "compute.toml", "controller-chrony.conf"}) {
    INFO(name);
    Config c = load_file((gnomon::test::conf_dir() / name).string());
    Config back = round_trip(c);
    // And printing the reloaded config gives the same text again.
    CHECK(format_as_toml(without_origins(back)) == format_as_toml(without_origins(c)));
  }
}

TEST_CASE("print-config: a chrony.conf using every supported directive round-trips", "[config][summary]") {
  gnomon::test::TempDir dir;
  std::string d = dir.path().string();
  dir.write("conf.d/50-extra.conf", "server extra.example maxpoll 12\n");
  dir.write("sources.d/a.sources", "pool pool.example maxsources 6 iburst\n");
  std::string full = "server 192.0.2.1 iburst minpoll 4 maxpoll 9 prefer xleave key 3 maxdelay 0.3\n"
                     "peer 2001:db8::7 noselect require\n"
                     "server nts.example nts ntsport 1460 port 1123\n"
                     "server 192.0.2.9 burst offline trust maxdelayratio 2 maxdelaydevratio 5 maxdelayquant 0.4 "
                     "polltarget 12 minsamples 3 maxsamples 20 maxunreach 5 minstratum 3 version 3 filter 4 "
                     "offset -0.002\n"
                     "minsources 2\n"
                     "maxdistance 2.5\n"
                     "maxjitter 0.3\n"
                     "combinelimit 5\n"
                     "reselectdist 0.0002\n"
                     "stratumweight 0.002\n"
                     "minsamples 5\n"
                     "maxsamples 40\n"
                     "authselectmode require\n"
                     "maxchange 10 1 2\n"
                     "maxdrift 300\n"
                     "corrtimeratio 10\n"
                     "logchange 0.01\n"
                     "initstepslew 0.1 192.0.2.1 ts.example\n"
                     "fallbackdrift 14 18\n"
                     "server 127.127.1.0\n"
                     "deny 10.0.0.99\n"
                     "allow 10.0.0.0/24\n"
                     "allow all 192.168.0.0/16\n"
                     "allow\n"
                     "local stratum 9 orphan distance 0.1 activate 0.5 waitsynced 100 waitunsynced 20\n"
                     "maxclockerror 10\n"
                     "opencommands tracking serverstats\n"
                     "makestep 0.5 -1\n"
                     "driftfile /var/lib/chrony/drift\n"
                     "rtcsync\n"
                     "logdir /var/log/chrony\n"
                     "log measurements tracking\n"
                     "keyfile /etc/chrony/chrony.keys\n"
                     "leapsectz right/UTC\n"
                     "maxupdateskew 100\n"
                     "maxslewrate 1000.5\n"
                     "ratelimit interval 2 burst 4 leak 3 kod 1\n"
                     "bindaddress 127.0.0.1\n"
                     "port 11123\n"
                     "cmdport 10323\n"
                     "bindcmdaddress /run/x/gnomond.sock\n"
                     "cmdallow 10.0.0.0/8\n"
                     "cmddeny 10.9.0.0/16\n"
                     "cmdallow 10.9.9.0/24\n"
                     "clientloglimit 65536\n"
                     "ntsserverkey /k.pem\n"
                     "ntsservercert /c.pem\n"
                     "ntsport 14460\n"
                     "ntsdumpdir /var/lib/nts\n"
                     "ntstrustedcerts /ca.pem\n"
                     "confdir " + d + "/conf.d\n"
                     "sourcedir " + d + "/sources.d\n";
  Config c = load_file(dir.write("full.conf", full));
  CHECK(c.sources.size() == 6);
  CHECK(c.local.enabled);
  CHECK(c.local.stratum == 9);
  CHECK(c.server.access.size() == 5);
  CHECK(c.control.access.size() == 3);
  CHECK(c.nts.enabled);
  std::string toml = format_as_toml(c);
  // deny before allow cannot be two lists: the ordered access list keeps it.
  CHECK_THAT(toml, Catch::Contains("access = [\"deny 10.0.0.99/32\", \"allow 10.0.0.0/24\", \"allow all 192.168.0.0/16\""));
  CHECK_THAT(toml, Catch::Contains("access = [\"allow 10.0.0.0/8\", \"deny 10.9.0.0/16\", \"allow 10.9.9.0/24\"]"));
  Config back = round_trip(c);
  CHECK(summary_body(back) == summary_body(c));
  CHECK(back.local == c.local);
  CHECK(back.local.wait_unsynced_s == 20.0);
  CHECK(back.clock.maxclockerror_ppm == 10.0);
  CHECK(back.control.open_commands == std::vector<std::string>{"tracking", "serverstats"});
}

TEST_CASE("print-config: switched-off sections keep what chrony.conf said", "[config][summary]") {
  // ratelimit without allow: no server, but the settings survive the round trip.
  Config c = *load_chrony_text("server 192.0.2.1\nratelimit burst 4\nntstrustedcerts /ca.pem\n", "x.conf").config;
  CHECK_FALSE(c.server.enabled);
  CHECK(c.server.ratelimit.enabled);
  CHECK_FALSE(c.nts.enabled);
  std::string toml = format_as_toml(c);
  CHECK_THAT(toml, Catch::Contains("[server]\nenabled = false\n"));
  CHECK_THAT(toml, Catch::Contains("[nts]\nenabled = false"));
  round_trip(c);

  // A plain client prints no [server] at all.
  Config client = *load_chrony_text("server 192.0.2.1\n", "y.conf").config;
  CHECK_THAT(format_as_toml(client), !Catch::Contains("[server]\n"));
  round_trip(client);
}

TEST_CASE("print-config: hand-built configs round-trip, including odd strings", "[config][summary]") {
  Config c;
  c.control.listen = default_control_listen();
  SourceConfig s;
  s.address = "time.example";
  s.mode = SourceMode::Pool;
  s.max_sources = 16;
  s.maxdelay_s = 0.1 + 0.2;  // not exactly representable in short decimal
  c.sources.push_back(s);
  c.clock.driftfile = "/var/lib/gnomon/drift \"quoted\" \\ back\ttab";
  c.clock.makestep = MakeStepConfig{1e-3, 0};
  c.clock.maxslewrate_ppm = 1e6;
  c.log.level = LogLevel::Error;
  c.log.dir = "/var/log/g\xC3\xA9";
  c.metrics.listen = SocketAddress::parse("[::1]:9100", 0);
  c.local.enabled = false;
  c.local.stratum = 4;  // disabled but set: printed with enabled = false
  round_trip(c);
}

TEST_CASE("summary: IP literals are not 'unresolved'; options and states are shown", "[config][summary]") {
  Config c = *load_chrony_text(
                  "server 192.0.2.1 iburst prefer port 1123\n"
                  "pool pool.example maxsources 6\n"
                  "ratelimit\n"
                  "port 0\n"
                  "makestep 1 -1\n",
                  "s.conf")
                  .config;
  std::string s = format_summary(c);
  INFO(s);
  CHECK_THAT(s, Catch::Contains("Upstream sources: 2 (1 server, 1 pool)"));
  CHECK_THAT(s, Catch::Contains("server 192.0.2.1   port 1123 iburst prefer  [IP address]"));
  CHECK_THAT(s, Catch::Contains("pool pool.example  maxsources 6  [unresolved: pool hostname (resolved at run time)]"));
  CHECK_THAT(s, Catch::Contains("Local clock: off"));
  CHECK_THAT(s, Catch::Contains("NTP server: off (client only)"));
  CHECK_THAT(s, Catch::Contains("step if |offset| > 1 s at any update"));

  Config t = *load_toml_text("[local]\nstratum = 12\n[server]\nlisten = [\"127.0.0.1:11123\"]\n[server.ratelimit]\n"
                             "[log]\ndir = \"/var/log/g\"\ntracking = true\n[metrics]\nlisten = \"127.0.0.1:9123\"\n",
                             "t.toml")
                 .config;
  std::string u = format_summary(t);
  INFO(u);
  CHECK_THAT(u, Catch::Contains("Upstream sources: 0\n"));
  CHECK_THAT(u, Catch::Contains("Local clock: stratum 12"));
  CHECK_THAT(u, Catch::Contains("NTP server: listening on 127.0.0.1:11123\n  no allow rule: every client is refused"));
  CHECK_THAT(u, Catch::Contains("rate limit: interval 3 (log2 s), burst 8, leak 2, KoD off"));
  CHECK_THAT(u, Catch::Contains("files: tracking in /var/log/g"));
  CHECK_THAT(u, Catch::Contains("Metrics: http://127.0.0.1:9123/metrics"));
}

TEST_CASE("diagnostics: the printed form names file, line, column and what is allowed", "[config][summary]") {
  CHECK(format_diagnostic({"a.toml", 3, 8, true, "port = 70000 is out of range", "an integer 1..65535"}) ==
        "a.toml:3:8: error: port = 70000 is out of range (allowed: an integer 1..65535)");
  CHECK(format_diagnostic({"c.conf", 12, 0, false, "unknown directive 'x'; ignored", ""}) ==
        "c.conf:12: warning: unknown directive 'x'; ignored");
  CHECK(format_diagnostic({"c.conf", 0, 0, true, "cannot read config file: No such file or directory", ""}) ==
        "c.conf: error: cannot read config file: No such file or directory");
  CHECK(has_errors({{"a", 1, 1, false, "w", ""}, {"a", 2, 1, true, "e", ""}}));
  CHECK_FALSE(has_errors({{"a", 1, 1, false, "w", ""}}));
}
