// The chrony.conf loader: the seed's controller file, every directive that
// the documentation lists, include/confdir/sourcedir, and the bad inputs of
// the bad-input checklist ("Config loaders").
#include <catch2/catch.hpp>

#include <string>

#include "lib/config/chrony_loader.hpp"
#include "lib/config/config_loader.hpp"
#include "tests/unit/config_test_support.hpp"

using namespace gnomon;
using gnomon::test::all_messages;
using gnomon::test::count_errors;
using gnomon::test::count_warnings;
using gnomon::test::subnet;
using gnomon::test::TempDir;

namespace {

LoadResult load(const std::string& text) { return load_chrony_text(text, "chrony.conf"); }

Config must_load(const std::string& text) {
  LoadResult r = load(text);
  INFO(text);
  INFO(all_messages(r));
  REQUIRE(r.ok());
  return *r.config;
}

std::string must_fail(const std::string& text) {
  LoadResult r = load(text);
  INFO(text);
  INFO(all_messages(r));
  CHECK_FALSE(r.ok());
  CHECK(count_errors(r) >= 1);
  return all_messages(r);
}

SocketAddress sa(const char* text) { return *SocketAddress::parse(text, 0); }

}  // namespace

TEST_CASE("chrony: the seed's controller chrony.conf means what its author meant", "[config][chrony]") {
  std::string path = (gnomon::test::conf_dir() / "controller-chrony.conf").string();
  LoadResult r = load_config_file(path);
  INFO(all_messages(r));
  REQUIRE(r.ok());
  CHECK(count_errors(r) == 0);
  CHECK(count_warnings(r) == 0);
  const Config& c = *r.config;

  // Three upstream servers (the commented ones stay out), with iburst.
  REQUIRE(c.sources.size() == 3);
  CHECK(c.sources[0].address == "0.centos.pool.ntp.org");
  CHECK(c.sources[1].address == "1.centos.pool.ntp.org");
  CHECK(c.sources[2].address == "2.kr.pool.ntp.org");
  for (const SourceConfig& s : c.sources) {
    CHECK(s.mode == SourceMode::Server);
    CHECK(s.iburst);
    CHECK(s.port == 123);
    CHECK_FALSE(s.is_local_clock());
  }
  CHECK(c.sources[2].origin == path + ":5");

  // server 127.127.1.0: the local clock at stratum 10.
  CHECK(c.local.enabled);
  CHECK(c.local.stratum == 10);

  // allow 10.0.0.0/24: chronyd serves NTP on port 123 to that subnet only.
  CHECK(c.server.enabled);
  REQUIRE(c.server.access.size() == 1);
  CHECK(c.server.access[0].allow);
  CHECK_FALSE(c.server.access[0].all);
  CHECK(c.server.access[0].subnet == subnet("10.0.0.0/24"));
  REQUIRE(c.server.listen.size() == 1);  // only IPv4 is allowed, so only IPv4 is opened
  CHECK(c.server.listen[0] == sa("0.0.0.0:123"));

  // chrony's defaults for what the file leaves out.
  CHECK_FALSE(c.clock.makestep.has_value());
  CHECK(c.clock.driftfile.empty());
  CHECK(c.control.listen == default_control_listen());
  CHECK_FALSE(c.server.ratelimit.enabled);
}

TEST_CASE("chrony: local stratum N overrides the 127.127.1.0 default in any order", "[config][chrony]") {
  Config before = must_load("local stratum 8\nserver 127.127.1.0\n");
  CHECK(before.local.enabled);
  CHECK(before.local.stratum == 8);
  CHECK(before.sources.empty());
  Config after = must_load("server 127.127.1.0 iburst\nlocal stratum 5 orphan distance 0.5\n");
  CHECK(after.local.stratum == 5);
  CHECK(after.local.orphan);
  CHECK(after.local.distance_s == 0.5);
  Config plain = must_load("local\n");
  CHECK(plain.local.enabled);
  CHECK(plain.local.stratum == 10);
  CHECK_FALSE(plain.local.orphan);
}

TEST_CASE("chrony: local's activation options", "[config][chrony]") {
  Config c = must_load("local stratum 10 orphan distance 0.0 activate 0.5 waitsynced 7200 waitunsynced 20\n");
  CHECK(c.local.enabled);
  CHECK(c.local.orphan);
  CHECK(c.local.distance_s == 0.0);
  CHECK(c.local.activate_s == 0.5);
  CHECK(c.local.wait_synced_s == 7200.0);
  CHECK(c.local.wait_unsynced_s == 20.0);
  CHECK(c.local.effective_wait_unsynced_s() == 20.0);
  Config d = must_load("local orphan\n");
  CHECK(d.local.activate_s == 0.0);
  CHECK(d.local.wait_synced_s == 0.0);
  CHECK(d.local.effective_wait_unsynced_s() == 300.0);  // chrony's default with orphan
  CHECK(must_load("local\n").local.effective_wait_unsynced_s() == 0.0);
  LoadResult r = load("local waitsynced 10 activate 0.1\n");
  CHECK(r.ok());
  CHECK(count_warnings(r) == 0);

  CHECK_THAT(must_fail("server a.example\nlocal activate x\n"),
             Catch::Contains("chrony.conf:2:16: error: local activate 'x' is not a number"));
  CHECK_THAT(must_fail("local waitsynced -1\n"), Catch::Contains("chrony.conf:1:18: error: local waitsynced"));
  CHECK_THAT(must_fail("local waitunsynced\n"),
             Catch::Contains("chrony.conf:1:7: error: missing value for local option 'waitunsynced'"));
  CHECK_THAT(must_fail("local distance -0.5\n"), Catch::Contains("local distance"));
  CHECK_THAT(must_fail("local bogus 1\n"), Catch::Contains("invalid local option 'bogus'"));
}

TEST_CASE("chrony: maxclockerror and opencommands", "[config][chrony]") {
  CHECK(must_load("local\n").clock.maxclockerror_ppm == 1.0);
  CHECK(must_load("maxclockerror 1000\nlocal\n").clock.maxclockerror_ppm == 1000.0);
  CHECK(must_load("maxclockerror 0\nlocal\n").clock.maxclockerror_ppm == 0.0);
  CHECK_THAT(must_fail("local\nmaxclockerror -1\n"), Catch::Contains("chrony.conf:2:15: error: maxclockerror"));
  CHECK_THAT(must_fail("maxclockerror\nlocal\n"), Catch::Contains("chrony.conf:1:"));

  const std::vector<std::string> dflt{"activity", "manual", "rtcdata", "smoothing",
                                      "sourcename", "sources", "sourcestats", "tracking"};
  CHECK(must_load("local\n").control.open_commands == dflt);
  CHECK(must_load("opencommands\nlocal\n").control.open_commands.empty());
  CHECK(must_load("opencommands Tracking clients tracking\nlocal\n").control.open_commands ==
        std::vector<std::string>{"tracking", "clients"});
  CHECK_THAT(must_fail("opencommands tracking settime\nlocal\n"),
             Catch::Contains("chrony.conf:1:23: error: invalid opencommands command 'settime'"));
}

TEST_CASE("chrony: server, pool and peer with their options", "[config][chrony]") {
  Config c = must_load(
      "server a.example iburst minpoll 4 maxpoll 8 port 1123 prefer noselect require xleave maxdelay 0.25 "
      "key 7 nts ntsport 14460\n"
      "POOL 2.debian.pool.ntp.org IBURST maxsources 3\n"
      "peer 2001:db8::5 minpoll -7 maxpoll 24\n"
      "server 192.0.2.1 minpoll 12\n");
  REQUIRE(c.sources.size() == 4);
  const SourceConfig& a = c.sources[0];
  CHECK(a.mode == SourceMode::Server);
  CHECK(a.iburst);
  CHECK(a.minpoll == 4);
  CHECK(a.maxpoll == 8);
  CHECK(a.port == 1123);
  CHECK(a.prefer);
  CHECK(a.noselect);
  CHECK(a.require);
  CHECK(a.xleave);
  CHECK(a.maxdelay_s == 0.25);
  CHECK(a.key == std::optional<std::uint32_t>(7));
  CHECK(a.nts);
  CHECK(a.nts_port == 14460);
  CHECK(c.sources[1].mode == SourceMode::Pool);
  CHECK(c.sources[1].iburst);
  CHECK(c.sources[1].max_sources == 3);
  CHECK(c.sources[2].mode == SourceMode::Peer);
  CHECK(c.sources[2].minpoll == -7);
  CHECK(c.sources[2].maxpoll == 24);
  CHECK(c.sources[3].minpoll == 12);
  CHECK(c.sources[3].maxpoll == 12);  // maxpoll follows a lone minpoll, as in chrony
}

TEST_CASE("chrony: the further source options set their fields", "[config][chrony]") {
  Config c = must_load(
      "server a.example burst offline minstratum 2 polltarget 6 offset 0.001 trust filter 5 "
      "maxdelayratio 2.5 maxdelaydevratio 4 maxdelayquant 0.3 minsamples 4 maxsamples 16 "
      "maxunreach 3 version 3\n");
  REQUIRE(c.sources.size() == 1);
  const SourceConfig& s = c.sources[0];
  CHECK(s.burst);
  CHECK(s.offline);
  CHECK(s.trust);
  CHECK(s.minstratum == 2);
  CHECK(s.polltarget == std::optional<int>(6));
  CHECK(s.offset_s == 0.001);
  CHECK(s.filter == 5);
  CHECK(s.maxdelayratio == 2.5);
  CHECK(s.maxdelaydevratio == 4.0);
  CHECK(s.maxdelayquant == 0.3);
  CHECK(s.minsamples == std::optional<int>(4));
  CHECK(s.maxsamples == std::optional<int>(16));
  CHECK(s.maxunreach == 3);
  CHECK(s.version == 3);
}

TEST_CASE("chrony: options gnomon does not implement warn but still check their values", "[config][chrony]") {
  LoadResult r = load("server a.example burst extfield F323\n");
  INFO(all_messages(r));
  REQUIRE(r.ok());
  CHECK(count_warnings(r) == 1);
  CHECK_THAT(all_messages(r), Catch::Contains("chrony.conf:1:24: warning: server option 'extfield'"));
  CHECK_THAT(must_fail("server a.example polltarget x\n"), Catch::Contains("is not an integer"));
  CHECK_THAT(must_fail("server a.example polltarget 0\n"), Catch::Contains("polltarget"));
  CHECK_THAT(must_fail("server a.example maxdelayquant 1.5\n"), Catch::Contains("maxdelayquant"));
  CHECK_THAT(must_fail("server a.example version 5\n"), Catch::Contains("version"));
  CHECK_THAT(must_fail("server a.example offset 1e400\n"), Catch::Contains("out of range"));
  CHECK_THAT(must_fail("server a.example maxsources 3\nserver b.example bogus\n"),
             Catch::Contains("chrony.conf:2:18: error: invalid server option 'bogus'"));
}

TEST_CASE("chrony: allow and deny, with all, bare and short forms", "[config][chrony]") {
  Config c = must_load(
      "allow 10.0.0.0/24\n"
      "deny 10.0.0.99\n"
      "allow all 192.168.0.0/16\n"
      "deny all\n"
      "allow\n"
      "allow 172.16\n"
      "allow 10\n"
      "allow 192.0.2\n"
      "allow 2001:db8::/32\n");
  const std::vector<AccessRule>& a = c.server.access;
  REQUIRE(a.size() == 10);
  CHECK(a[0].allow);
  CHECK(a[0].subnet == subnet("10.0.0.0/24"));
  CHECK_FALSE(a[1].allow);
  CHECK(a[1].subnet == subnet("10.0.0.99/32"));
  CHECK(a[2].all);
  CHECK(a[2].subnet == subnet("192.168.0.0/16"));
  CHECK_FALSE(a[2].both_families);
  CHECK_FALSE(a[3].allow);
  CHECK(a[3].all);
  CHECK(a[3].both_families);
  // A bare allow covers every IPv4 and IPv6 address.
  CHECK(a[4].allow);
  CHECK_FALSE(a[4].all);
  CHECK(a[4].subnet == subnet("0.0.0.0/0"));
  CHECK(a[5].subnet == subnet("::/0"));
  CHECK(a[6].subnet == subnet("172.16.0.0/16"));
  CHECK(a[7].subnet == subnet("10.0.0.0/8"));
  CHECK(a[8].subnet == subnet("192.0.2.0/24"));
  CHECK(a[9].subnet == subnet("2001:db8::/32"));
  CHECK(c.server.enabled);
  CHECK(c.server.listen == default_server_listen());
}

TEST_CASE("chrony: bad subnets are errors with file and line; host bits warn", "[config][chrony]") {
  int line = 0;
  for (const char* bad : {"10.0.0.0/33", "::/129", "/-1", "10.0.0.0/", "/8x", "300.1.1.1", "10.0.0.0/24 extra",
                          "all 10.0.0.0/8 x", "host.example", "256", "1.2.3.4.5"}) {
    ++line;
    std::string out = must_fail(std::string("allow ") + bad + "\n");
    CHECK_THAT(out, Catch::Contains("chrony.conf:1:"));
    CHECK_THAT(out, Catch::Contains("allowed:"));
  }
  CHECK(line == 11);
  CHECK_THAT(must_fail("cmdallow 10.0.0.0/33\n"), Catch::Contains("in cmdallow"));
  CHECK_THAT(must_fail("deny ::/129\n"), Catch::Contains("in deny"));
  CHECK_THAT(must_fail("allow ntp.example\n"), Catch::Contains("hostnames are not resolved"));

  LoadResult masked = load("allow 10.0.0.1/8\nlocal\n");
  REQUIRE(masked.ok());
  REQUIRE(masked.diagnostics.size() == 1);
  CHECK(format_diagnostic(masked.diagnostics[0]) ==
        "chrony.conf:1:7: warning: host bits are set in '10.0.0.1/8'; using 10.0.0.0/8");
  CHECK(masked.config->server.access[0].subnet == subnet("10.0.0.0/8"));
}

TEST_CASE("chrony: the NTP server opens as chronyd opens it", "[config][chrony]") {
  // No allow: chronyd answers nobody and opens no server socket.
  Config none = must_load("server 192.0.2.1\n");
  CHECK_FALSE(none.server.enabled);
  CHECK(none.server.listen.empty());
  // Deny alone allows nothing.
  CHECK_FALSE(must_load("server 192.0.2.1\ndeny 10.0.0.0/8\n").server.enabled);
  // An explicit port opens the server even before any allow (it answers nobody).
  Config port = must_load("server 192.0.2.1\nport 11123\n");
  CHECK(port.server.enabled);
  CHECK(port.server.listen == std::vector<SocketAddress>{sa("0.0.0.0:11123"), sa("[::]:11123")});
  CHECK(port.server.access.empty());
  // port 0: client only, whatever allow says.
  Config client = must_load("server 192.0.2.1\nport 0\nallow 10.0.0.0/8\n");
  CHECK_FALSE(client.server.enabled);
  CHECK(client.server.listen.empty());
  // Only the families some allow covers are opened, on bindaddress if given.
  Config v6 = must_load("allow 2001:db8::/32\nbindaddress ::1\nbindaddress 127.0.0.1\nlocal\n");
  CHECK(v6.server.listen == std::vector<SocketAddress>{sa("[::1]:123")});
  Config both = must_load("allow all\nbindaddress 127.0.0.2\nport 1123\nlocal\n");
  CHECK(both.server.listen == std::vector<SocketAddress>{sa("127.0.0.2:1123"), sa("[::]:1123")});
}

TEST_CASE("chrony: clock, drift, log, key and leap directives", "[config][chrony]") {
  Config c = must_load(
      "makestep 1.5 -1\n"
      "driftfile /var/lib/chrony/chrony.drift\n"
      "rtcsync\n"
      "logdir /var/log/chrony\n"
      "log measurements statistics tracking\n"
      "keyfile /etc/chrony/chrony.keys\n"
      "leapsectz right/UTC\n"
      "maxupdateskew 100.0\n"
      "maxslewrate 500\n"
      "server 192.0.2.1\n");
  REQUIRE(c.clock.makestep.has_value());
  CHECK(c.clock.makestep->threshold_s == 1.5);
  CHECK(c.clock.makestep->limit == -1);
  CHECK(c.clock.driftfile == "/var/lib/chrony/chrony.drift");
  CHECK(c.clock.rtcsync);
  CHECK(c.log.dir == "/var/log/chrony");
  CHECK(c.log.measurements);
  CHECK(c.log.statistics);
  CHECK(c.log.tracking);
  CHECK(c.auth.keyfile == "/etc/chrony/chrony.keys");
  CHECK(c.clock.leapsectz == "right/UTC");
  CHECK(c.clock.maxupdateskew_ppm == 100.0);
  CHECK(c.clock.maxslewrate_ppm == 500.0);
  CHECK(c.clock.control);

  LoadResult interval = load("driftfile /var/lib/x interval 60\nserver 192.0.2.1\n");
  REQUIRE(interval.ok());
  CHECK(interval.config->clock.driftfile == "/var/lib/x");
  CHECK(count_warnings(interval) == 1);

  LoadResult raw = load("log rawmeasurements selection\nserver 192.0.2.1\n");
  REQUIRE(raw.ok());
  CHECK(raw.config->log.measurements);
  CHECK(count_warnings(raw) == 2);
}

TEST_CASE("chrony: ratelimit, client log and NTS server directives", "[config][chrony]") {
  Config c = must_load(
      "ratelimit interval 1 burst 16 leak 3 kod 2\n"
      "clientloglimit 1048576\n"
      "ntsserverkey /etc/k.pem\n"
      "ntsservercert /etc/c.pem\n"
      "ntsport 14460\n"
      "ntsdumpdir /var/lib/chrony\n"
      "ntstrustedcerts /etc/ca.pem\n"
      "bindaddress 127.0.0.1\n"
      "local\n");
  CHECK(c.server.ratelimit.enabled);
  CHECK(c.server.ratelimit.interval == 1);
  CHECK(c.server.ratelimit.burst == 16);
  CHECK(c.server.ratelimit.leak == 3);
  CHECK(c.server.ratelimit.kod);
  CHECK(c.server.clientloglimit == 1048576);
  CHECK(c.nts.enabled);
  CHECK(c.nts.key == "/etc/k.pem");
  CHECK(c.nts.certificate == "/etc/c.pem");
  CHECK(c.nts.keydir == "/var/lib/chrony");
  CHECK(c.nts.trusted_certs == "/etc/ca.pem");
  CHECK(c.nts.listen == std::vector<SocketAddress>{sa("127.0.0.1:14460"), sa("[::]:14460")});

  Config defaults = must_load("ratelimit\nlocal\n");
  CHECK(defaults.server.ratelimit.enabled);
  CHECK(defaults.server.ratelimit.interval == 3);
  CHECK(defaults.server.ratelimit.burst == 8);
  CHECK(defaults.server.ratelimit.leak == 2);
  CHECK_FALSE(defaults.server.ratelimit.kod);

  CHECK(must_load("noclientlog\nclientloglimit 4096\nlocal\n").server.clientloglimit == 0);

  LoadResult half = load("ntsserverkey /k.pem\nlocal\n");
  REQUIRE(half.ok());
  CHECK_FALSE(half.config->nts.enabled);
  CHECK(count_warnings(half) == 1);
  CHECK(must_load("ntstrustedcerts 1 /etc/ca\nlocal\n").nts.trusted_certs == "/etc/ca");
}

TEST_CASE("chrony: control channel directives", "[config][chrony]") {
  Config c = must_load(
      "cmdport 10323\n"
      "bindcmdaddress /run/test/gnomond.sock\n"
      "bindcmdaddress 127.0.0.5\n"
      "cmdallow 10.0.0.0/8\n"
      "cmddeny 10.1.0.0/16\n"
      "local\n");
  CHECK(c.control.socket == "/run/test/gnomond.sock");
  CHECK(c.control.listen == std::vector<SocketAddress>{sa("127.0.0.5:10323"), sa("[::1]:10323")});
  REQUIRE(c.control.access.size() == 2);
  CHECK(c.control.access[0].allow);
  CHECK_FALSE(c.control.access[1].allow);
  CHECK(c.server.access.empty());

  Config off = must_load("cmdport 0\nbindcmdaddress /\nlocal\n");
  CHECK(off.control.listen.empty());
  CHECK(off.control.socket.empty());
  CHECK(must_load("local\n").control.socket == "/run/gnomon/gnomond.sock");
}

TEST_CASE("chrony: other directives warn with file and line, and are not errors", "[config][chrony]") {
  LoadResult r = load(
      "server 192.0.2.1\n"
      "hwtimestamp eth0\n"
      "  pidfile /run/chrony/chronyd.pid\n"
      "refclock PHC /dev/ptp0 poll 3\n"
      "frobnicate 1 2 3\n"
      "fudge 127.127.1.0 stratum 10\n");
  INFO(all_messages(r));
  REQUIRE(r.ok());
  REQUIRE(r.diagnostics.size() == 5);
  CHECK(format_diagnostic(r.diagnostics[0]) ==
        "chrony.conf:2:1: warning: chrony directive 'hwtimestamp' is not supported by gnomon; ignored");
  CHECK(r.diagnostics[1].line == 3);
  CHECK(r.diagnostics[1].column == 3);
  CHECK(r.diagnostics[2].line == 4);
  CHECK(format_diagnostic(r.diagnostics[3]) == "chrony.conf:5:1: warning: unknown directive 'frobnicate'; ignored");
  CHECK(r.diagnostics[4].line == 6);
  for (const ConfigDiagnostic& d : r.diagnostics) CHECK_FALSE(d.error);
}

TEST_CASE("chrony: comments, blank lines, case and whitespace", "[config][chrony]") {
  Config c = must_load(
      "# hash\n"
      "! bang\n"
      "; semicolon\n"
      "% percent\n"
      "\n"
      "   \t \n"
      "\tSERVER\t192.0.2.1   IBurst\r\n"
      "Allow 10.0.0.0/24\r\n");
  REQUIRE(c.sources.size() == 1);
  CHECK(c.sources[0].iburst);
  CHECK(c.sources[0].origin == "chrony.conf:7");
  CHECK(c.server.access.size() == 1);
  // chrony has no trailing comments: "#" after a directive is an argument.
  CHECK_THAT(must_fail("server 192.0.2.1 iburst # comment\n"), Catch::Contains("invalid server option '#'"));
}

TEST_CASE("chrony: missing and extra arguments are errors", "[config][chrony]") {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"server\n", "chrony.conf:1:1: error: missing address for server"},
      {"pool\n", "missing address for pool"},
      {"server a.example minpoll\n", "chrony.conf:1:18: error: missing value for server option 'minpoll'"},
      {"makestep 1\n", "missing argument for makestep (allowed: makestep THRESHOLD LIMIT)"},
      {"makestep 1 3 5\n", "chrony.conf:1:14: error: extra argument '5' for makestep"},
      {"driftfile\n", "missing argument for driftfile"},
      {"driftfile /a /b\n", "incomplete driftfile option"},
      {"driftfile /a every 5\n", "invalid driftfile option 'every'"},
      {"rtcsync yes\n", "extra argument 'yes' for rtcsync"},
      {"noclientlog 1\n", "extra argument"},
      {"logdir\n", "missing argument for logdir"},
      {"logdir /a /b\n", "extra argument '/b'"},
      {"keyfile\n", "missing argument for keyfile"},
      {"leapsectz right/UTC x\n", "extra argument"},
      {"maxupdateskew\n", "missing argument"},
      {"port\n", "missing argument for port"},
      {"port 1 2\n", "extra argument"},
      {"cmdport\n", "missing argument"},
      {"bindaddress\n", "missing argument"},
      {"bindaddress eth0\n", "invalid address 'eth0'"},
      {"bindcmdaddress 1.2.3.4 5\n", "extra argument"},
      {"include\n", "missing argument for include"},
      {"include a b\n", "extra argument"},
      {"confdir\n", "missing argument for confdir"},
      {"sourcedir\n", "missing argument for sourcedir"},
      {"clientloglimit\n", "missing argument"},
      {"ratelimit interval\n", "missing value for ratelimit option 'interval'"},
      {"ratelimit rate 3\n", "invalid ratelimit option 'rate'"},
      {"local stratum\n", "missing value for local option 'stratum'"},
      {"local strata 3\n", "invalid local option 'strata'"},
      {"log bogus\n", "invalid log parameter 'bogus'"},
      {"ntsserverkey\n", "missing argument"},
      {"ntstrustedcerts 1 2 3\n", "extra argument"},
  };
  for (const Case& c : cases) CHECK_THAT(must_fail(c.text), Catch::Contains(c.expect));
}

TEST_CASE("chrony: bad numbers are errors", "[config][chrony]") {
  struct Case {
    const char* text;
    const char* expect;
  };
  const Case cases[] = {
      {"port 70000\n", "chrony.conf:1:6: error: port 70000 is out of range (allowed: an integer 0..65535)"},
      {"port -1\n", "out of range"},
      {"port 12a\n", "port '12a' is not an integer"},
      {"cmdport 99999\n", "out of range"},
      {"server a.example port 70000\n", "1..65535"},
      {"server a.example port 0\n", "1..65535"},
      {"server a.example minpoll -8\n", "-7..24"},
      {"server a.example maxpoll 25\n", "-7..24"},
      {"server a.example minpoll 9 maxpoll 8\n", "chrony.conf:1:36: error: minpoll 9 is greater than maxpoll 8"},
      {"server a.example key 0\n", "1..4294967295"},
      {"server a.example key 4294967296\n", "out of range"},
      {"pool a.example maxsources 17\n", "1..16"},
      {"server a.example maxdelay 1.0x\n", "maxdelay '1.0x' is not a number"},
      {"server a.example maxdelay nan\n", "maxdelay 'nan' is not a finite number"},
      {"server a.example maxdelay inf\n", "not a finite number"},
      {"server a.example maxdelay 1e400\n", "maxdelay '1e400' is out of range"},
      {"makestep nan 3\n", "not a finite number"},
      {"makestep 1.0x 3\n", "not a number"},
      {"makestep 1 3.5\n", "makestep limit '3.5' is not an integer"},
      {"makestep -1 3\n", ">= 0"},
      {"makestep 1 -2\n", "-1.."},
      {"maxupdateskew 1e400\n", "out of range"},
      {"maxupdateskew inf\n", "not a finite number"},
      {"maxupdateskew 0\n", "> 0"},
      {"maxslewrate nan\n", "not a finite number"},
      {"ratelimit interval -20\n", "-19..12"},
      {"ratelimit interval 13\n", "-19..12"},
      {"ratelimit burst 0\n", "1..255"},
      {"ratelimit burst 256\n", "1..255"},
      {"ratelimit leak 0\n", "1..4"},
      {"ratelimit leak 5\n", "1..4"},
      {"ratelimit kod 5\n", "0..4"},
      {"local stratum 0\n", "1..15"},
      {"local stratum 16\n", "1..15"},
      {"local distance nan\n", "not a finite number"},
      {"clientloglimit -1\n", "out of range"},
      {"clientloglimit 99999999999\n", "out of range"},
      {"ntsport 65536\n", "out of range"},
      {"driftfile /a interval x\n", "not an integer"},
  };
  for (const Case& c : cases) CHECK_THAT(must_fail(c.text), Catch::Contains(c.expect));
}

TEST_CASE("chrony: over-long lines and NUL bytes are errors", "[config][chrony]") {
  std::string ok_line = "server " + std::string(kMaxChronyLineLength - 7, 'a');
  REQUIRE(ok_line.size() == kMaxChronyLineLength);
  LoadResult ok = load(ok_line + "\n");
  // Not a valid hostname (a label over 63 characters), but not a length error.
  CHECK_THAT(all_messages(ok), !Catch::Contains("characters long"));

  std::string long_line = "# " + std::string(kMaxChronyLineLength, 'x');
  std::string out = must_fail("server 192.0.2.1\n" + long_line + "\n");
  CHECK_THAT(out, Catch::Contains("chrony.conf:2: error: line is 2048 characters long (allowed: at most 2046"));
  CHECK(must_load("\xEF\xBB\xBFserver 192.0.2.1\n").sources.size() == 1);

  std::string nul = std::string("server 192.0.2.1\nallow 10.0.0.0/8") + '\0' + "x\n";
  CHECK_THAT(must_fail(nul), Catch::Contains("chrony.conf:2:17: error: NUL byte"));
}

TEST_CASE("chrony: every error is collected with its own line", "[config][chrony]") {
  LoadResult r = load("server a.example minpoll 99\nallow 10.0.0.0/33\nport 70000\nmakestep x 1\nlocal stratum 0\n");
  CHECK_FALSE(r.ok());
  REQUIRE(count_errors(r) == 5);
  for (int i = 0; i < 5; ++i) CHECK(r.diagnostics[static_cast<std::size_t>(i)].line == i + 1);
}

TEST_CASE("chrony: include reads files, globs, and names the file in errors", "[config][chrony]") {
  TempDir dir;
  REQUIRE_FALSE(dir.path().empty());
  std::string d = dir.path().string();
  dir.write("inc/b.conf", "server b.example\n");
  dir.write("inc/a.conf", "server a.example\nallow 10.0.0.0/33\n");
  dir.write("inc/skip.txt", "server skip.example\n");
  std::string main = dir.write("main.conf", "include " + d + "/inc/*.conf\nserver c.example\n");
  LoadResult r = load_chrony_file(main);
  INFO(all_messages(r));
  CHECK_FALSE(r.ok());
  REQUIRE(count_errors(r) == 1);
  CHECK(format_diagnostic(r.diagnostics[0]).rfind(d + "/inc/a.conf:2:7: error: invalid subnet", 0) == 0);

  dir.write("inc/a.conf", "server a.example\n");
  LoadResult ok = load_chrony_file(main);
  INFO(all_messages(ok));
  REQUIRE(ok.ok());
  REQUIRE(ok.config->sources.size() == 3);
  CHECK(ok.config->sources[0].address == "a.example");  // glob order
  CHECK(ok.config->sources[1].address == "b.example");
  CHECK(ok.config->sources[2].address == "c.example");
  CHECK(ok.config->sources[0].origin == d + "/inc/a.conf:1");

  // A glob without matches is nothing; a plain missing path is an error.
  CHECK(load_chrony_file(dir.write("nomatch.conf", "include " + d + "/none/*.conf\nlocal\n")).ok());
  LoadResult missing = load_chrony_file(dir.write("missing.conf", "local\ninclude " + d + "/absent.conf\n"));
  CHECK_FALSE(missing.ok());
  CHECK_THAT(all_messages(missing), Catch::Contains("missing.conf:2: error: cannot read"));
}

TEST_CASE("chrony: include loops and runaway nesting are errors", "[config][chrony]") {
  TempDir dir;
  std::string d = dir.path().string();
  dir.write("a.conf", "server a.example\ninclude " + d + "/b.conf\n");
  dir.write("b.conf", "include " + d + "/a.conf\n");
  LoadResult loop = load_chrony_file(d + "/a.conf");
  INFO(all_messages(loop));
  CHECK_FALSE(loop.ok());
  REQUIRE(count_errors(loop) == 1);
  CHECK_THAT(format_diagnostic(loop.diagnostics[0]), Catch::StartsWith(d + "/b.conf:1: error: include loop"));

  LoadResult self = load_chrony_file(dir.write("self.conf", "local\ninclude " + d + "/self.conf\n"));
  CHECK_FALSE(self.ok());
  CHECK_THAT(all_messages(self), Catch::Contains("include loop"));

  // A loop through a glob and a confdir is caught as well.
  dir.write("conf.d/x.conf", "confdir " + d + "/conf.d\n");
  LoadResult via_dir = load_chrony_file(dir.write("top.conf", "local\nconfdir " + d + "/conf.d\n"));
  CHECK_FALSE(via_dir.ok());
  CHECK_THAT(all_messages(via_dir), Catch::Contains("include loop"));

  // A chain of distinct files deeper than chrony's limit.
  for (int i = 0; i < 12; ++i) {
    dir.write("deep" + std::to_string(i) + ".conf", "include " + d + "/deep" + std::to_string(i + 1) + ".conf\n");
  }
  dir.write("deep12.conf", "local\n");
  LoadResult deep = load_chrony_file(d + "/deep0.conf");
  CHECK_FALSE(deep.ok());
  CHECK_THAT(all_messages(deep), Catch::Contains("nested deeper than 10"));
}

TEST_CASE("chrony: confdir reads *.conf by name, earlier directories win", "[config][chrony]") {
  TempDir dir;
  std::string d = dir.path().string();
  dir.write("d1/20-pool.conf", "pool pool.example iburst\n");
  dir.write("d1/10-server.conf", "server first.example\n");
  dir.write("d2/10-server.conf", "server hidden.example\n");
  dir.write("d2/30-allow.conf", "allow 10.0.0.0/24\n");
  dir.write("d2/ignored.sources", "server nope.example\n");
  LoadResult r = load_chrony_file(dir.write("main.conf", "confdir " + d + "/d1 " + d + "/d2 " + d + "/absent\n"));
  INFO(all_messages(r));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  REQUIRE(c.sources.size() == 2);
  CHECK(c.sources[0].address == "first.example");
  CHECK(c.sources[1].address == "pool.example");
  CHECK(c.sources[1].mode == SourceMode::Pool);
  REQUIRE(c.server.access.size() == 1);
  CHECK(c.server.enabled);
}

TEST_CASE("chrony: sourcedir reads *.sources; bad entries warn and are skipped", "[config][chrony]") {
  TempDir dir;
  std::string d = dir.path().string();
  dir.write("src/dhcp.sources", "server 192.0.2.10 iburst\n# comment\nserver bad..name\nallow 10/8\npool p.example\n");
  dir.write("src/a.sources", "peer 192.0.2.20\n");
  dir.write("src/x.conf", "server notread.example\n");
  LoadResult r = load_chrony_file(dir.write("main.conf", "sourcedir " + d + "/src\nsourcedir " + d + "/missing\n"));
  INFO(all_messages(r));
  REQUIRE(r.ok());
  const Config& c = *r.config;
  REQUIRE(c.sources.size() == 3);
  CHECK(c.sources[0].address == "192.0.2.20");
  CHECK(c.sources[0].mode == SourceMode::Peer);
  CHECK(c.sources[1].address == "192.0.2.10");
  CHECK(c.sources[1].iburst);
  CHECK(c.sources[2].mode == SourceMode::Pool);
  CHECK(c.server.access.empty());  // allow is not read from a sources file
  CHECK(count_warnings(r) == 2);
  CHECK_THAT(all_messages(r), Catch::Contains(d + "/src/dhcp.sources:3:8: warning: invalid server address"));
  CHECK_THAT(all_messages(r), Catch::Contains("source ignored"));
  CHECK_THAT(all_messages(r), Catch::Contains(d + "/src/dhcp.sources:4:1: warning: only server, pool and peer"));
}

TEST_CASE("chrony: included files are checked for permissions", "[config][chrony]") {
  TempDir dir;
  std::string d = dir.path().string();
  dir.write("loose.conf", "server a.example\n", 0666);
  LoadResult r = load_chrony_file(dir.write("main.conf", "include " + d + "/loose.conf\n", 0600));
  REQUIRE(r.ok());
  REQUIRE(count_warnings(r) == 1);
  CHECK_THAT(all_messages(r), Catch::Contains(d + "/loose.conf: warning: config file is writable by group or others"));
  LoadResult main_loose = load_config_file(dir.write("main2.conf", "server a.example\n", 0620));
  REQUIRE(main_loose.ok());
  CHECK(count_warnings(main_loose) == 1);
}

TEST_CASE("chrony: Debian's default chrony.conf loads without errors", "[config][chrony]") {
  LoadResult r = load(
      "confdir /nonexistent/chrony/conf.d\n"
      "pool 2.debian.pool.ntp.org iburst\n"
      "sourcedir /nonexistent/chrony-dhcp\n"
      "sourcedir /nonexistent/chrony/sources.d\n"
      "keyfile /etc/chrony/chrony.keys\n"
      "driftfile /var/lib/chrony/chrony.drift\n"
      "ntsdumpdir /var/lib/chrony\n"
      "logdir /var/log/chrony\n"
      "maxupdateskew 100.0\n"
      "rtcsync\n"
      "makestep 1 3\n"
      "leapsectz right/UTC\n");
  INFO(all_messages(r));
  REQUIRE(r.ok());
  CHECK(r.diagnostics.empty());
  CHECK(r.config->sources.size() == 1);
  CHECK_FALSE(r.config->server.enabled);
  CHECK_FALSE(r.config->nts.enabled);
  CHECK(r.config->nts.keydir == "/var/lib/chrony");
}

TEST_CASE("chrony: arbitrary bytes never crash the loader", "[config][chrony]") {
  std::uint32_t x = 987654321;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  const char* const words[] = {"server", "pool", "allow", "deny", "local", "makestep", "port", "ratelimit",
                               "stratum", "iburst", "minpoll", "1e400", "nan", "-1", "10.0.0.0/24", "::/129",
                               "all", "\n", "\n", " ", "#", "interval", "kod", "bindcmdaddress", "/", "99999"};
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    std::size_t n = next() % 40;
    for (std::size_t k = 0; k < n; ++k) {
      if (next() % 10 == 0) text += static_cast<char>(next() % 256);
      else text += std::string(words[next() % std::size(words)]) + " ";
    }
    LoadResult r = load(text);
    CHECK((r.ok() || count_errors(r) > 0));
  }
}

TEST_CASE("chrony: selection and clock directives", "[config][chrony]") {
  Config c = must_load(
      "server a.example\n"
      "minsources 2\n"
      "maxdistance 1.5\n"
      "maxjitter 0.5\n"
      "combinelimit 4\n"
      "reselectdist 0.001\n"
      "stratumweight 0.01\n"
      "minsamples 4\n"
      "maxsamples 32\n"
      "maxchange 100 2 -1\n"
      "maxdrift 500\n"
      "corrtimeratio 0.5\n"
      "logchange 0.1\n"
      "initstepslew 0.5 a.example 192.0.2.1\n"
      "fallbackdrift 16 19\n"
      "authselectmode prefer\n");
  CHECK(c.select.min_sources == 2);
  CHECK(c.select.max_distance_s == 1.5);
  CHECK(c.select.max_jitter_s == 0.5);
  CHECK(c.select.combine_limit == 4.0);
  CHECK(c.select.reselect_distance_s == 0.001);
  CHECK(c.select.stratum_weight_s == 0.01);
  CHECK(c.select.min_samples == std::optional<int>(4));
  CHECK(c.select.max_samples == std::optional<int>(32));
  REQUIRE(c.clock.maxchange);
  CHECK(c.clock.maxchange->offset_s == 100.0);
  CHECK(c.clock.maxchange->start_updates == 2);
  CHECK(c.clock.maxchange->ignore == -1);
  CHECK(c.clock.maxdrift_ppm == 500.0);
  CHECK(c.clock.corrtimeratio == 1.0);  // never faster than one update interval
  CHECK(c.clock.logchange_s == 0.1);
  REQUIRE(c.clock.initstepslew);
  CHECK(c.clock.initstepslew->threshold_s == 0.5);
  CHECK(c.clock.initstepslew->addresses == std::vector<std::string>{"a.example", "192.0.2.1"});
  REQUIRE(c.clock.fallbackdrift);
  CHECK(c.clock.fallbackdrift->min_log2 == 16);
  CHECK(c.clock.fallbackdrift->max_log2 == 19);
  CHECK(c.select.auth_select == AuthSelectMode::Prefer);
}

TEST_CASE("chrony: selection and clock directives reject bad values with file and line", "[config][chrony]") {
  CHECK_THAT(must_fail("server a\nminsources 0\n"), Catch::Contains("chrony.conf:2:12: error"));
  CHECK_THAT(must_fail("server a\nmaxdistance -1\n"), Catch::Contains("out of range"));
  CHECK_THAT(must_fail("server a\nmaxsamples -1\n"), Catch::Contains("maxsamples"));
  CHECK_THAT(must_fail("server a\nmaxchange 100 2\n"), Catch::Contains("maxchange OFFSET START IGNORE"));
  CHECK_THAT(must_fail("server a\nmaxchange 100 2 -2\n"), Catch::Contains("maxchange ignore"));
  CHECK_THAT(must_fail("server a\ninitstepslew 0.5\n"), Catch::Contains("initstepslew THRESHOLD ADDRESS"));
  CHECK_THAT(must_fail("server a\ninitstepslew x a\n"), Catch::Contains("is not a number"));
  CHECK_THAT(must_fail("server a\nfallbackdrift 19 16\n"), Catch::Contains("below min"));
  CHECK_THAT(must_fail("server a\nfallbackdrift 1 31\n"), Catch::Contains("fallbackdrift max"));
  CHECK_THAT(must_fail("server a\nauthselectmode sometimes\n"),
             Catch::Contains("require, prefer, mix or ignore"));
  CHECK_THAT(must_fail("server a\nmaxdrift nan\n"), Catch::Contains("maxdrift"));
}
