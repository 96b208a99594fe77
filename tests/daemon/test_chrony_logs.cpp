#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/chrony_logs.hpp"

using namespace gnomon;
using namespace gnomon::daemon;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

// 2016-11-09 05:40:50 UTC, the time of chrony's documentation example.
constexpr TimePoint kExampleTime{1478670050LL * 1'000'000'000LL};

}  // namespace

TEST_CASE("chrony logs: the measurements line of chrony's documentation") {
  MeasurementRecord r;
  r.time = kExampleTime;
  r.address = "203.0.113.15";
  r.leap = Leap::None;
  r.stratum = 2;
  r.tests.bits = 0x3FF;
  r.local_poll = 10;
  r.remote_poll = 10;
  r.score = 1.0;
  r.offset_s = -4.966e-03;
  r.peer_delay_s = 2.296e-01;
  r.peer_dispersion_s = 1.577e-05;
  r.root_delay_s = 1.615e-01;
  r.root_dispersion_s = 7.446e-03;
  r.refid = 0xCB00717B;
  r.mode = 4;
  r.tx_source = 'D';
  r.rx_source = 'K';
  CHECK(format_measurement_line(r) ==
        "2016-11-09 05:40:50 203.0.113.15    N  2 111 111 1111  10 10 1.00 -4.966e-03  2.296e-01  1.577e-05  "
        "1.615e-01  7.446e-03 CB00717B 4B D K");
  r.tests.bits = 0x3FE;  // test D failed
  r.interleaved = true;
  std::string l = format_measurement_line(r);
  CHECK(l.find(" 111 111 1110 ") != std::string::npos);
  CHECK(l.find(" 4I D K") != std::string::npos);
}

TEST_CASE("chrony logs: the statistics and tracking lines of chrony's documentation") {
  StatisticsRecord s;
  s.time = kExampleTime;
  s.address = "203.0.113.15";
  s.std_dev_s = 6.261e-03;
  s.offset_s = -3.247e-03;
  s.offset_sd_s = 2.220e-03;
  s.freq = 1.874e-06;
  s.skew = 1.080e-06;
  s.stress = 7.8e-02;
  s.samples = 16;
  s.best_start = 0;
  s.runs = 8;
  CHECK(format_statistics_line(s) ==
        "2016-11-09 05:40:50 203.0.113.15     6.261e-03 -3.247e-03  2.220e-03  1.874e-06  1.080e-06 7.8e-02  16   0"
        "   8  0.00");

  TrackingRecord t;
  t.time = kExampleTime;
  t.address = "203.0.113.15";
  t.stratum = 2;
  t.freq_ppm = -3.541;
  t.skew_ppm = 0.075;
  t.offset_s = -8.621e-06;
  t.leap = Leap::None;
  t.combined = 2;
  t.offset_sd_s = 2.940e-03;
  t.remaining_correction_s = -2.084e-04;
  t.root_delay_s = 1.534e-02;
  t.root_dispersion_s = 3.472e-04;
  t.max_error_s = 8.304e-03;
  CHECK(format_tracking_line(t) ==
        "2016-11-09 05:40:50 203.0.113.15     2     -3.541      0.075 -8.621e-06 N  2  2.940e-03 -2.084e-04  "
        "1.534e-02  3.472e-04  8.304e-03");
  t.leap = Leap::Unsynchronised;
  CHECK(format_tracking_line(t).find(" ? ") != std::string::npos);
}

TEST_CASE("chrony logs: time and refid text") {
  CHECK(format_log_time(TimePoint{0}) == "1970-01-01 00:00:00");
  CHECK(format_log_time(TimePoint{-1}) == "1969-12-31 23:59:59");
  CHECK(refid_text(0x4C4F434Cu) == "LOCL");
  CHECK(refid_text(0x47505300u) == "GPS");
}

TEST_CASE("chrony logs: banner every 32 lines, and a new file with a banner after a rename") {
  char tmpl[] = "/tmp/gnomon-logs-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  std::string path = dir + "/sub/tracking.log";  // the missing directory is made
  {
    ChronyLogFile f(path, kTrackingBanner);
    for (int i = 0; i < 33; ++i) f.write("line " + std::to_string(i));
    auto lines = lines_of(path);
    REQUIRE(lines.size() == 33 + 6);
    CHECK(lines[0] == std::string(kTrackingBanner.size(), '='));
    CHECK(lines[1] == kTrackingBanner);
    CHECK(lines[2] == lines[0]);
    CHECK(lines[3] == "line 0");
    CHECK(lines[36] == kTrackingBanner);
    CHECK(lines[38] == "line 32");

    REQUIRE(::rename(path.c_str(), (path + ".1").c_str()) == 0);
    f.write("after rotation");
    auto fresh = lines_of(path);
    REQUIRE(fresh.size() == 4);
    CHECK(fresh[1] == kTrackingBanner);
    CHECK(fresh[3] == "after rotation");
    CHECK(lines_of(path + ".1").size() == 39);

    REQUIRE(::unlink(path.c_str()) == 0);  // removed (logrotate without create)
    f.write("after removal");
    CHECK(lines_of(path).size() == 4);
  }
  for (const char* name : {"/sub/tracking.log", "/sub/tracking.log.1"}) ::unlink((dir + name).c_str());
  ::rmdir((dir + "/sub").c_str());
  ::rmdir(dir.c_str());
}

TEST_CASE("chrony logs: which files the config enables") {
  LogConfig c;
  CHECK_FALSE(ChronyLogs::from_config(c).any());
  c.dir = "/var/log/gnomon";
  CHECK_FALSE(ChronyLogs::from_config(c).any());
  c.tracking = true;
  c.statistics = true;
  ChronyLogs l = ChronyLogs::from_config(c);
  REQUIRE(l.tracking);
  CHECK(l.tracking->path() == "/var/log/gnomon/tracking.log");
  CHECK(l.statistics);
  CHECK_FALSE(l.measurements);
}
