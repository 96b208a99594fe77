#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <cmath>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "daemon/metrics.hpp"
#include "daemon/metrics_server.hpp"

using namespace gnomon;
using namespace gnomon::daemon;

namespace {

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot m;
  m.version = "1.2.3";
  m.start_time_s = 1700000000.5;
  m.tracking.synchronised = true;
  m.tracking.stratum = 3;
  m.tracking.ref_id = 0xC0000201;
  m.tracking.source_name = "ntp.example";
  m.tracking.freq_ppm = -12.5;
  m.tracking.skew_ppm = 0.25;
  m.tracking.root_delay_s = 0.0125;
  m.tracking.root_dispersion_s = 0.001;
  m.tracking.leap = Leap::Insert;
  m.last_update_age_s = 12.0;
  SourceMetrics s;
  s.name = "ntp.example";
  s.address = "192.0.2.1";
  s.mode = "server";
  s.state = '*';
  s.reach = 0377;
  s.stratum = 2;
  s.poll_log2 = 6;
  s.samples = 8;
  s.offset_s = -0.000123;
  s.delay_s = 0.0021;
  s.jitter_s = 0.00004;
  s.last_sample_age_s = 10.0;
  m.sources.push_back(s);
  SourceMetrics u;
  u.name = "odd \"name\"\\";
  u.mode = "server";
  m.sources.push_back(u);
  ServerCountersSnapshot c;
  c.received = 100;
  c.answered = 90;
  c.kod_sent = 2;
  c.dropped[static_cast<std::size_t>(DropReason::TooShort)] = 5;
  c.dropped[static_cast<std::size_t>(DropReason::RateLimited)] = 3;
  m.server = c;
  m.server_workers = 2;
  return m;
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("metrics: exposition lines, names and values") {
  std::string t = render_metrics(sample_snapshot());
  CHECK(has_line(t, "gnomon_build_info{version=\"1.2.3\"} 1"));
  CHECK(has_line(t, "# TYPE gnomon_system_stratum gauge"));
  CHECK(has_line(t, "gnomon_system_stratum 3"));
  CHECK(has_line(t, "gnomon_system_synchronised 1"));
  CHECK(has_line(t, "gnomon_system_frequency_ppm -12.5"));
  CHECK(has_line(t, "gnomon_system_leap 1"));
  CHECK(has_line(t, "gnomon_system_last_update_age_seconds 12"));
  CHECK(has_line(t, "gnomon_system_reference_info{refid=\"C0000201\",source=\"ntp.example\"} 1"));
  const std::string l = "{name=\"ntp.example\",address=\"192.0.2.1\",mode=\"server\"}";
  CHECK(has_line(t, "gnomon_source_state" + l + " 0"));
  CHECK(has_line(t, "gnomon_source_reach" + l + " 255"));
  CHECK(has_line(t, "gnomon_source_poll_interval_seconds" + l + " 64"));
  CHECK(has_line(t, "gnomon_source_offset_seconds" + l + " -0.000123"));
  CHECK(has_line(t, "gnomon_source_samples" + l + " 8"));
  // An unresolved source without samples has no offset/delay/jitter series.
  CHECK(has_line(t, "gnomon_source_state{name=\"odd \\\"name\\\"\\\\\",address=\"\",mode=\"server\"} 5"));
  CHECK(t.find("gnomon_source_offset_seconds{name=\"odd") == std::string::npos);
  CHECK(has_line(t, "# TYPE gnomon_server_received_packets_total counter"));
  CHECK(has_line(t, "gnomon_server_received_packets_total 100"));
  CHECK(has_line(t, "gnomon_server_dropped_packets_total{reason=\"too_short\"} 5"));
  CHECK(has_line(t, "gnomon_server_rate_limited_packets_total 5"));
  CHECK(has_line(t, "gnomon_server_kod_sent_packets_total 2"));
  CHECK(t.find("gnomon_control_") == std::string::npos);
}

TEST_CASE("metrics: every family has HELP and TYPE once; counters end in _total; names are gnomon_*") {
  std::string t = render_metrics(sample_snapshot());
  std::istringstream in(t);
  std::string line;
  std::set<std::string> helped, typed;
  std::regex sample_re(R"(^([a-z_][a-z0-9_]*)(\{.*\})? (\S+)$)");
  std::string type_of_current;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      std::string name = line.substr(7, line.find(' ', 7) - 7);
      CHECK(helped.insert(name).second);
    } else if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream f(line.substr(7));
      std::string name, type;
      f >> name >> type;
      CHECK(typed.insert(name).second);
      CHECK(helped.count(name) == 1);
      CHECK(name.rfind("gnomon_", 0) == 0);
      bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
      CHECK(total == (type == "counter"));
    } else {
      std::smatch m;
      REQUIRE(std::regex_match(line, m, sample_re));
      CHECK(typed.count(m[1].str()) == 1);
    }
  }
  CHECK(typed.size() > 25);
}

TEST_CASE("metrics: label values are escaped; NaN is spelt as Prometheus wants") {
  CHECK(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  MetricsSnapshot m;
  std::string t = render_metrics(m);
  CHECK(has_line(t, "gnomon_system_last_update_age_seconds NaN"));
  CHECK(t.find("gnomon_server_") == std::string::npos);
}

TEST_CASE("metrics: HTTP responses") {
  int calls = 0;
  MetricsServer::Render render = [&] {
    ++calls;
    return std::string("x 1\n");
  };
  std::string ok = http_response_for("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", render);
  CHECK(ok.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(ok.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(ok.find("Content-Length: 4\r\n") != std::string::npos);
  CHECK(ok.substr(ok.size() - 4) == "x 1\n");
  CHECK(http_response_for("GET /metrics?x=1 HTTP/1.0\r\n\r\n", render).rfind("HTTP/1.1 200", 0) == 0);
  std::string head = http_response_for("HEAD /metrics HTTP/1.1\r\n\r\n", render);
  CHECK(head.substr(head.size() - 4) == "\r\n\r\n");
  CHECK(calls == 3);
  CHECK(http_response_for("POST /metrics HTTP/1.1\r\n\r\n", render).rfind("HTTP/1.1 405", 0) == 0);
  CHECK(http_response_for("GET /other HTTP/1.1\r\n\r\n", render).rfind("HTTP/1.1 404", 0) == 0);
  CHECK(http_response_for("garbage\r\n\r\n", render).rfind("HTTP/1.1 400", 0) == 0);
  CHECK(http_response_for("", render).rfind("HTTP/1.1 400", 0) == 0);
  CHECK(calls == 3);
}

TEST_CASE("metrics: the server answers a scrape over TCP and survives a silent client") {
  namespace asio = boost::asio;
  asio::io_context ctx;
  MetricsServer server(ctx, [] { return std::string("gnomon_x 1\n"); });
  REQUIRE_FALSE(server.open(*SocketAddress::parse("127.0.0.1:0", 0)));
  REQUIRE(server.port() != 0);
  std::thread loop([&] { ctx.run_for(std::chrono::seconds(5)); });

  asio::io_context client_ctx;
  asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), server.port());
  asio::ip::tcp::socket silent(client_ctx);
  silent.connect(ep);  // never sends anything
  std::string reply;
  {
    asio::ip::tcp::socket s(client_ctx);
    s.connect(ep);
    asio::write(s, asio::buffer(std::string("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")));
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(reply), ec);  // until the server closes
  }
  ctx.stop();
  loop.join();
  CHECK(reply.rfind("HTTP/1.1 200 OK", 0) == 0);
  CHECK(reply.find("\r\n\r\ngnomon_x 1\n") != std::string::npos);
}
