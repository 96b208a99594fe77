// gnomonc's output against chronyc 4.3's exact text (reference/
// chronyc-4.3-output.txt and the controller scenario): rows, headers,
// legends, CSV, unit scaling boundaries, LastRx units, '>' truncation; plus
// JSON, option parsing and the refid helpers.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tools/gnomonc/csv_format.hpp"
#include "tools/gnomonc/json_format.hpp"
#include "tools/gnomonc/md5.hpp"
#include "tools/gnomonc/names.hpp"
#include "tools/gnomonc/options.hpp"
#include "tools/gnomonc/text_format.hpp"

using namespace gnomon;
using namespace gnomon::cmdmon;
using namespace gnomon::gnomonc;

namespace {

SourceReport source(SourceMode mode, SourceState state, int stratum, int poll, unsigned reach, std::uint32_t last,
                    double adjusted, double measured, double error) {
  SourceReport r;
  r.mode = mode;
  r.state = state;
  r.stratum = stratum;
  r.poll_log2 = poll;
  r.reachability = static_cast<std::uint16_t>(reach);
  r.last_sample_ago_s = last;
  r.adjusted_offset_s = adjusted;
  r.original_offset_s = measured;
  r.error_s = error;
  r.address = Address::inet4(0x7F000001u);
  return r;
}

constexpr std::uint32_t kNever = 0xFFFFFFFFu;

TrackingReport reference_tracking() {
  TrackingReport t;
  t.ref_id = 0x7F000001u;
  t.address = Address::inet4(0x7F000001u);
  t.stratum = 9;
  t.ref_time = TimePoint{1795785093LL * kNsPerS + 638425793};
  t.current_correction_s = -0.000000727;
  t.last_offset_s = -0.000000216;
  t.rms_offset_s = 0.000000177;
  t.freq_ppm = -0.001;
  t.residual_freq_ppm = -0.0001;
  t.skew_ppm = 0.008;
  t.root_delay_s = 0.000004483;
  t.root_dispersion_s = 0.000014211;
  t.last_update_interval_s = 16.1;
  t.leap = Leap::None;
  return t;
}

ClientAccessReport client(std::uint32_t hits, std::uint32_t drops, int interval, int timeout_interval,
                          std::uint32_t last, std::uint32_t cmd_hits, int cmd_interval, std::uint32_t cmd_last) {
  ClientAccessReport c;
  c.address = Address::inet4(0x7F000001u);
  c.ntp_hits = hits;
  c.ntp_drops = drops;
  c.ntp_interval_log2 = static_cast<std::int8_t>(interval);
  c.ntp_timeout_interval_log2 = static_cast<std::int8_t>(timeout_interval);
  c.last_ntp_hit_ago_s = last;
  c.cmd_hits = cmd_hits;
  c.cmd_interval_log2 = static_cast<std::int8_t>(cmd_interval);
  c.last_cmd_hit_ago_s = cmd_last;
  return c;
}

}  // namespace

TEST_CASE("gnomonc sources: chronyc 4.3 header, legend and rows") {
  CHECK(text::sources_header() ==
        "MS Name/IP address         Stratum Poll Reach LastRx Last sample               \n"
        "===============================================================================\n");
  CHECK(text::sources_legend() ==
        "\n"
        "  .-- Source mode  '^' = server, '=' = peer, '#' = local clock.\n"
        " / .- Source state '*' = current best, '+' = combined, '-' = not combined,\n"
        "| /             'x' = may be in error, '~' = too variable, '?' = unusable.\n"
        "||                                                 .- xxxx [ yyyy ] +/- zzzz\n"
        "||      Reachability register (octal) -.           |  xxxx = adjusted offset,\n"
        "||      Log2(Polling interval) --.      |          |  yyyy = measured offset,\n"
        "||                                \\     |          |  zzzz = estimated error.\n"
        "||                                 |    |           \\\n");

  CHECK(text::sources_row(source(SourceMode::Client, SourceState::Selected, 8, 4, 0377, 14, -835e-9, -1051e-9,
                                 3137e-9),
                          "localhost") ==
        "^* localhost                     8   4   377    14   -835ns[-1051ns] +/- 3137ns\n");
  CHECK(text::sources_row(source(SourceMode::Client, SourceState::NotCombined, 9, 0, 0101, 2, 162e-9, 162e-9,
                                 1859e-9),
                          "127.0.0.2") ==
        "^- 127.0.0.2                     9   0   101     2   +162ns[ +162ns] +/- 1859ns\n");
  CHECK(text::sources_row(source(SourceMode::Client, SourceState::Unusable, 0, 6, 0, kNever, 0, 0, 0),
                          "127.127.1.0") ==
        "^? 127.127.1.0                   0   6     0     -     +0ns[   +0ns] +/-    0ns\n");
  CHECK(text::sources_row(source(SourceMode::Client, SourceState::Combined, 2, 6, 017, 0, -670e-6, -670e-6, 59e-3),
                          "dadns.cdnetworks.co.kr") ==
        "^+ dadns.cdnetworks.co.kr        2   6    17     0   -670us[ -670us] +/-   59ms\n");
  CHECK(text::sources_row(source(SourceMode::Client, SourceState::NotCombined, 2, 6, 017, 3, -1858e-6, -1858e-6,
                                 40e-3),
                          "210.183.236.141") ==
        "^- 210.183.236.141               2   6    17     3  -1858us[-1858us] +/-   40ms\n");
  CHECK(text::sources_row(source(SourceMode::Client, SourceState::Unusable, 2, 6, 3, 2, 817e-6, 817e-6, 51e-3),
                          truncate_name("ec2-54-180-134-81.ap-northeast-2.compute.amazonaws.com", 25)) ==
        "^? ec2-54-180-134-81.ap-nor>     2   6     3     2   +817us[ +817us] +/-   51ms\n");
  CHECK(text::sources_row(source(SourceMode::Reference, SourceState::Selected, 10, 6, 0377, 23, 0, 0, 0), "LOCL") ==
        "#* LOCL                         10   6   377    23     +0ns[   +0ns] +/-    0ns\n");
}

TEST_CASE("gnomonc sources: CSV") {
  CHECK(csv::sources_row(source(SourceMode::Client, SourceState::Selected, 8, 4, 0377, 14, -835e-9, -1051e-9,
                                3137e-9),
                         "127.0.0.1") == "^,*,127.0.0.1,8,4,377,14,-0.000000835,-0.000001051,0.000003137\n");
  CHECK(csv::sources_row(source(SourceMode::Client, SourceState::NotCombined, 9, 0, 0101, 2, 162e-9, 162e-9,
                                1859e-9),
                         "127.0.0.2") == "^,-,127.0.0.2,9,0,101,2,0.000000162,0.000000162,0.000001859\n");
  CHECK(csv::sources_row(source(SourceMode::Client, SourceState::Unusable, 0, 6, 0, kNever, 0, 0, 0),
                         "127.127.1.0") ==
        "^,?,127.127.1.0,0,6,0,4294967295,0.000000000,0.000000000,0.000000000\n");
}

TEST_CASE("gnomonc sourcestats: text and CSV") {
  CHECK(text::sourcestats_header() ==
        "Name/IP Address            NP  NR  Span  Frequency  Freq Skew  Offset  Std Dev\n"
        "==============================================================================\n");
  SourcestatsReport s;
  s.samples = 27;
  s.runs = 13;
  s.span_s = 151;
  s.residual_freq_ppm = -0.0004;
  s.skew_ppm = 0.007;
  s.offset_s = -5e-9;
  s.std_dev_s = 392e-9;
  CHECK(text::sourcestats_row(s, "localhost") ==
        "localhost                  27  13   151     -0.000      0.007     -5ns   392ns\n");
  SourcestatsReport empty;
  empty.skew_ppm = 2000.0;
  empty.std_dev_s = 4.0;
  CHECK(text::sourcestats_row(empty, "127.127.1.0") ==
        "127.127.1.0                 0   0     0     +0.000   2000.000     +0ns  4000ms\n");
  CHECK(csv::sourcestats_row(empty, "127.127.1.0") == "127.127.1.0,0,0,0,0.000,2000.000,0.000000000,4.000000000\n");
  const std::string legend = text::sourcestats_legend();
  CHECK(legend.rfind("                             .- Number of sample points in measurement set.\n", 0) == 0);
}

TEST_CASE("gnomonc tracking: text and CSV") {
  const TrackingReport t = reference_tracking();
  CHECK(text::tracking(t, "localhost") ==
        "Reference ID    : 7F000001 (localhost)\n"
        "Stratum         : 9\n"
        "Ref time (UTC)  : Fri Nov 27 13:11:33 2026\n"
        "System time     : 0.000000727 seconds fast of NTP time\n"
        "Last offset     : -0.000000216 seconds\n"
        "RMS offset      : 0.000000177 seconds\n"
        "Frequency       : 0.001 ppm slow\n"
        "Residual freq   : -0.000 ppm\n"
        "Skew            : 0.008 ppm\n"
        "Root delay      : 0.000004483 seconds\n"
        "Root dispersion : 0.000014211 seconds\n"
        "Update interval : 16.1 seconds\n"
        "Leap status     : Normal\n");
  TrackingReport c = t;
  c.root_dispersion_s = 0.000014246;
  CHECK(csv::tracking(c, "127.0.0.1") ==
        "7F000001,127.0.0.1,9,1795785093.638425793,-0.000000727,-0.000000216,0.000000177,-0.001,-0.000,0.008,"
        "0.000004483,0.000014246,16.1,Normal\n");

  // The other sides of the fast/slow words, an unsynchronised daemon.
  TrackingReport u;
  u.current_correction_s = 0.25;
  u.freq_ppm = 12.5;
  u.leap = Leap::Unsynchronised;
  const std::string s = text::tracking(u, "");
  CHECK(s.find("Reference ID    : 00000000 ()\n") != std::string::npos);
  CHECK(s.find("Ref time (UTC)  : Thu Jan 01 00:00:00 1970\n") != std::string::npos);
  CHECK(s.find("System time     : 0.250000000 seconds slow of NTP time\n") != std::string::npos);
  CHECK(s.find("Frequency       : 12.500 ppm fast\n") != std::string::npos);
  CHECK(s.find("Leap status     : Not synchronised\n") != std::string::npos);
  u.leap = static_cast<Leap>(7);
  CHECK(text::tracking(u, "").find("Leap status     : Invalid\n") != std::string::npos);
}

TEST_CASE("gnomonc activity and serverstats") {
  CHECK(text::activity(ActivityReport{3, 0, 0, 0, 0}) ==
        "3 sources online\n"
        "0 sources offline\n"
        "0 sources doing burst (return to online)\n"
        "0 sources doing burst (return to offline)\n"
        "0 sources with unknown address\n");
  CHECK(csv::activity(ActivityReport{2, 0, 1, 0, 4}) == "2,0,1,0,4\n");

  ServerStatsReport r;
  r.ntp_hits = 71;
  r.ntp_drops = 2;
  r.cmd_hits = 9;
  CHECK(text::serverstats(r) ==
        "NTP packets received       : 71\n"
        "NTP packets dropped        : 2\n"
        "Command packets received   : 9\n"
        "Command packets dropped    : 0\n"
        "Client log records dropped : 0\n"
        "NTS-KE connections accepted: 0\n"
        "NTS-KE connections dropped : 0\n"
        "Authenticated NTP packets  : 0\n"
        "Interleaved NTP packets    : 0\n"
        "NTP timestamps held        : 0\n"
        "NTP timestamp span         : 0\n");
  r.ntp_hits = 18;
  r.ntp_drops = 0;
  r.cmd_hits = 4;
  CHECK(csv::serverstats(r) == "18,0,4,0,0,0,0,0,0,0,0\n");
}

TEST_CASE("gnomonc ntpdata: text and CSV") {
  NtpDataReport r;
  r.remote_address = Address::inet4(0x7F000001u);
  r.local_address = Address::inet4(0x7F000001u);
  r.remote_port = 11133;
  r.leap = Leap::None;
  r.version = 4;
  r.mode = kNtpModeServer;
  r.stratum = 8;
  r.poll_log2 = 4;
  r.precision_log2 = -26;
  r.ref_id = 0x7F7F0101u;
  r.ref_time = TimePoint{1795785044LL * kNsPerS};
  r.offset_s = 0.000001051;
  r.peer_delay_s = 0.000006205;
  r.peer_dispersion_s = 0.000000035;
  r.response_time_s = 0.000064540;
  r.jitter_asymmetry = 0.0;
  r.tests = 0x3FF;
  r.tx_timestamping = 'K';
  r.rx_timestamping = 'K';
  r.total_tx = r.total_rx = r.total_valid_rx = r.total_good_rx = 41;
  CHECK(text::ntpdata(r) ==
        "Remote address  : 127.0.0.1 (7F000001)\n"
        "Remote port     : 11133\n"
        "Local address   : 127.0.0.1 (7F000001)\n"
        "Leap status     : Normal\n"
        "Version         : 4\n"
        "Mode            : Server\n"
        "Stratum         : 8\n"
        "Poll interval   : 4 (16 seconds)\n"
        "Precision       : -26 (0.000000015 seconds)\n"
        "Root delay      : 0.000000 seconds\n"
        "Root dispersion : 0.000000 seconds\n"
        "Reference ID    : 7F7F0101 ()\n"
        "Reference time  : Fri Nov 27 13:10:44 2026\n"
        "Offset          : +0.000001051 seconds\n"
        "Peer delay      : 0.000006205 seconds\n"
        "Peer dispersion : 0.000000035 seconds\n"
        "Response time   : 0.000064540 seconds\n"
        "Jitter asymmetry: +0.00\n"
        "NTP tests       : 111 111 1111\n"
        "Interleaved     : No\n"
        "Authenticated   : No\n"
        "TX timestamping : Kernel\n"
        "RX timestamping : Kernel\n"
        "Total TX        : 41\n"
        "Total RX        : 41\n"
        "Total valid RX  : 41\n"
        "Total good RX   : 41\n");

  // An unanswered source, as chronyd 4.3 reports 127.127.1.0 (CSV observed on chronyd 4.3).
  NtpDataReport idle;
  idle.remote_address = Address::inet4(0x7F7F0100u);
  idle.remote_port = 123;
  idle.poll_log2 = 0;
  idle.tx_timestamping = 0;
  idle.rx_timestamping = 0;
  idle.total_tx = 1;
  CHECK(csv::ntpdata(idle) ==
        "127.127.1.0,7F7F0100,123,[UNSPEC],00000000,Normal,0,Invalid,0,0,1,0,1.000000000,0.000000,0.000000,"
        "00000000,,0.000000000,0.000000000,0.000000000,0.000000000,0.000000000,0.00,000,000,0000,No,No,Invalid,"
        "Invalid,1,0,0,0\n");

  NtpDataReport s1 = r;
  s1.stratum = 1;
  s1.ref_id = 0x47505300u;  // "GPS\0"
  s1.tests = 0x2A5;
  s1.poll_log2 = -1;
  s1.mode = kNtpModeActive;
  const std::string t = text::ntpdata(s1);
  CHECK(t.find("Reference ID    : 47505300 (GPS)\n") != std::string::npos);
  CHECK(t.find("NTP tests       : 101 010 0101\n") != std::string::npos);
  CHECK(t.find("Poll interval   : -1 (0 seconds)\n") != std::string::npos);
  CHECK(t.find("Mode            : Symmetric active\n") != std::string::npos);
}

TEST_CASE("gnomonc selectdata: text and CSV") {
  CHECK(text::selectdata_header() ==
        "S Name/IP Address        Auth COpts EOpts Last Score     Interval  Leap\n"
        "=======================================================================\n");
  SelectDataReport a;
  a.state = '*';
  a.configured_options = kSelectOptionPrefer;
  a.effective_options = kSelectOptionPrefer;
  a.last_sample_ago_s = 11;
  a.score = 1.0;
  a.interval_low_s = -2130e-9;
  a.interval_high_s = 2999e-9;
  a.leap = Leap::None;
  CHECK(text::selectdata_row(a, "localhost") ==
        "* localhost                 N -P--- -P---   11   1.0 -2130ns +2999ns  N\n");
  SelectDataReport b;
  b.state = 's';
  b.score = 1.0;
  b.leap = Leap::Unsynchronised;
  CHECK(text::selectdata_row(b, "127.127.1.0") ==
        "s 127.127.1.0               N ----- -----    0   1.0    +0ns    +0ns  ?\n");
  SelectDataReport c;
  c.state = '*';
  c.score = 1.0;
  c.interval_low_s = -2584e-9;
  c.interval_high_s = 4016e-9;
  CHECK(csv::selectdata_row(c, "127.0.0.1") == "*,127.0.0.1,N,-,-,-,-,-,-,-,-,-,-,0,1.0,-0.000002584,0.000004016,Normal\n");
  CHECK(csv::selectdata_row(b, "127.127.1.0") ==
        "s,127.127.1.0,N,-,-,-,-,-,-,-,-,-,-,0,1.0,0.000000000,0.000000000,Not synchronised\n");
}

TEST_CASE("gnomonc clients: text and CSV") {
  CHECK(text::clients_header(false) ==
        "Hostname                      NTP   Drop Int IntL Last     Cmd   Drop Int  Last\n"
        "===============================================================================\n");
  CHECK(text::clients_header(true).rfind(
            "Hostname                      NTP   Drop Int IntL Last  NTS-KE   Drop Int  Last\n", 0) == 0);
  CHECK(text::clients_row(client(47, 0, 4, 127, 13, 4, 4, 39), "localhost", false) ==
        "localhost                      47      0   4   -    13       4      0   4    39\n");
  CHECK(text::clients_row(client(7, 0, -1, 127, 18, 0, 127, kNever), "127.0.0.3", false) ==
        "127.0.0.3                       7      0  -1   -    18       0      0   -     -\n");
  CHECK(text::clients_row(client(12, 2, -2, 0, 13, 0, 127, kNever), "127.0.0.4", false) ==
        "127.0.0.4                      12      2  -2   0    13       0      0   -     -\n");
  CHECK(text::clients_row(client(187, 136, 0, 0, 0, 0, 127, kNever), "localhost", false) ==
        "localhost                     187    136   0   0     0       0      0   -     -\n");
  CHECK(csv::clients_row(client(18, 0, -1, 127, 0, 0, 127, kNever), "127.0.0.1", false) ==
        "127.0.0.1,18,0,-1,127,0,0,0,127,4294967295\n");
}

TEST_CASE("gnomonc units: scaling boundaries at 9999.5") {
  CHECK(text::signed_nanoseconds(9999.4e-9) == "+9999ns");
  CHECK(text::signed_nanoseconds(9999.5e-9) == "  +10us");
  CHECK(text::signed_nanoseconds(-9999.4e-6) == "-9999us");
  CHECK(text::signed_nanoseconds(-9999.5e-6) == "  -10ms");
  CHECK(text::signed_nanoseconds(9999.4e-3) == "+9999ms");
  CHECK(text::signed_nanoseconds(9999.5e-3) == " +10.0s");
  CHECK(text::signed_nanoseconds(999.4) == "+999.4s");
  CHECK(text::signed_nanoseconds(999.5) == " +1000s");
  CHECK(text::signed_nanoseconds(99999.4) == "+99999s");
  CHECK(text::signed_nanoseconds(99999.5) == " +1667m");
  CHECK(text::signed_nanoseconds(99999.5 * 60) == " +1667h");
  CHECK(text::signed_nanoseconds(99999.5 * 3600) == " +4167d");
  CHECK(text::signed_nanoseconds(-99999.5 * 86400) == "  -274y");
  CHECK(text::signed_nanoseconds(0.0) == "   +0ns");
  CHECK(text::signed_nanoseconds(-0.4e-9) == "   -0ns");

  CHECK(text::nanoseconds(-3137e-9) == "3137ns");
  CHECK(text::nanoseconds(9999.5e-9) == "  10us");
  CHECK(text::nanoseconds(9999.5e-6) == "  10ms");
  CHECK(text::nanoseconds(49e-3) == "  49ms");
  CHECK(text::nanoseconds(9999.5e-3) == " 10.0s");
  CHECK(text::nanoseconds(999.5) == " 1000s");
  CHECK(text::nanoseconds(99999.5) == " 1667m");

  CHECK(text::freq_ppm(2000.0) == "  2000.000");
  CHECK(text::freq_ppm(99999.4) == " 99999.400");
  CHECK(text::freq_ppm(99999.5) == "    100000");
  CHECK(text::signed_freq_ppm(-0.0001) == "    -0.000");
  CHECK(text::signed_freq_ppm(-123456.0) == "   -123456");
}

TEST_CASE("gnomonc units: LastRx in s/m/h/d/y") {
  CHECK(text::interval(0) == "   0");
  CHECK(text::interval(1199) == "1199");
  CHECK(text::interval(1200) == " 20m");
  CHECK(text::interval(35999) == "599m");
  CHECK(text::interval(36000) == " 10h");
  CHECK(text::interval(345599) == " 95h");
  CHECK(text::interval(345600) == "  4d");
  CHECK(text::interval(999 * 86400) == "999d");
  CHECK(text::interval(1000 * 86400) == "  2y");
  CHECK(text::interval(0xFFFFFFFEu) == "136y");
  CHECK(text::interval(kNever) == "   -");
}

TEST_CASE("gnomonc names: '>' truncation, refids, addresses") {
  CHECK(truncate_name("ec2-54-180-134-81.ap-northeast-2.compute.amazonaws.com", 25) == "ec2-54-180-134-81.ap-nor>");
  CHECK(truncate_name(std::string(25, 'a'), 25) == std::string(25, 'a'));
  CHECK(truncate_name(std::string(26, 'a'), 25) == std::string(24, 'a') + ">");
  CHECK(truncate_name("short", 0) == "short");

  CHECK(refid_to_string(0x4C4F434Cu) == "LOCL");
  CHECK(refid_to_string(0x7F7F0101u).empty());
  CHECK(refid_to_string(0x47505300u) == "GPS");

  CHECK(address_to_string(Address::inet4(0x7F000001u)) == "127.0.0.1");
  CHECK(address_to_string(Address::from_id(5)) == "ID#0000000005");
  CHECK(address_to_string(Address{}) == "[UNSPEC]");
  const auto v6 = IpAddress::parse("2001:db8::1");
  REQUIRE(v6);
  CHECK(address_to_string(Address::from_ip(*v6)) == "2001:db8::1");
  CHECK(address_to_refid(Address::inet4(0x7F000001u)) == 0x7F000001u);
  CHECK(address_to_refid(Address::from_id(5)) == 0);
  // IPv6 refid: the first four bytes of the MD5 digest of the address.
  const auto digest = md5_digest(v6->bytes);
  CHECK(address_to_refid(Address::from_ip(*v6)) ==
        (static_cast<std::uint32_t>(digest[0]) << 24 | static_cast<std::uint32_t>(digest[1]) << 16 |
         static_cast<std::uint32_t>(digest[2]) << 8 | digest[3]));
  CHECK(resolve_source_address("ID#12", FamilyFilter::Any) == std::optional<Address>(Address::from_id(12)));
  CHECK(resolve_source_address("127.0.0.2", FamilyFilter::Any) == std::optional<Address>(Address::inet4(0x7F000002u)));
}

TEST_CASE("gnomonc md5: RFC 1321 test vectors") {
  auto hex = [](const std::array<std::uint8_t, 16>& d) {
    std::string s;
    for (auto b : d) s += strprintf("%02x", b);
    return s;
  };
  auto md5 = [&](const std::string& s) {
    return hex(md5_digest(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size())));
  };
  CHECK(md5("") == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(md5("abc") == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(md5("message digest") == "f96b697d7cb7938d525a2f31aaf161d0");
  CHECK(md5("12345678901234567890123456789012345678901234567890123456789012345678901234567890") ==
        "57edf4a22be3c955ac49da2e2107b67a");
}

TEST_CASE("gnomonc status lines are chronyc's") {
  CHECK(text::status_line(0) == "200 OK");
  CHECK(text::status_line(2) == "501 Not authorised");
  CHECK(text::status_line(3) == "502 Invalid command");
  CHECK(text::status_line(4) == "503 No such source");
  CHECK(text::status_line(19) == "518 Packet length mismatch");
  CHECK(text::status_line(15) == "519 Client logging is not active in the daemon");
  CHECK(text::status_line(1234) == "520 Got unexpected error from daemon");
}

TEST_CASE("gnomonc JSON: writer and documents") {
  JsonWriter w;
  w.begin_object().key("a").value(1).key("b").begin_array().value("x\"y\n").null().value(true).end_array();
  w.key("c").value(0.5).key("d").value(std::nan("")).end_object();
  CHECK(w.str() == "{\"a\":1,\"b\":[\"x\\\"y\\n\",null,true],\"c\":0.5,\"d\":null}");

  const std::string t = json::tracking(reference_tracking(), "localhost");
  CHECK(t.find("\"reference_id\":\"7F000001\"") != std::string::npos);
  CHECK(t.find("\"system_time_offset_s\":7.27e-07") != std::string::npos);  // fast = positive
  CHECK(t.find("\"frequency_ppm\":-0.001") != std::string::npos);
  CHECK(t.find("\"ref_time_utc\":\"2026-11-27T13:11:33.638425793Z\"") != std::string::npos);
  CHECK(t.find("\"leap\":\"normal\"") != std::string::npos);
  CHECK(t.back() == '\n');

  JsonWriter s;
  json::source(s, source(SourceMode::Client, SourceState::Unusable, 0, 6, 0, kNever, 0, 0, 0), "x");
  CHECK(s.str().find("\"last_rx_s\":null") != std::string::npos);
  CHECK(s.str().find("\"state\":\"unusable\"") != std::string::npos);
  CHECK(json::error("501 Not authorised") == "{\"error\":{\"code\":501,\"message\":\"Not authorised\"}}\n");
  CHECK(json::status("200 OK") == "{\"status\":200,\"message\":\"OK\"}\n");
}

TEST_CASE("gnomonc options") {
  auto p = parse_options({"-n", "-h", "/run/x.sock", "-p", "11323", "sources", "-v"});
  REQUIRE(p.outcome == ParseOutcome::Run);
  CHECK(p.options.no_dns);
  CHECK(p.options.hosts == "/run/x.sock");
  CHECK(p.options.port == 11323);
  CHECK(p.options.words == std::vector<std::string>{"sources", "-v"});

  p = parse_options({"-ncj", "-h127.0.0.1", "clients", "-p", "3"});
  CHECK(p.outcome == ParseOutcome::Error);  // -c and -j together
  p = parse_options({"-nj", "-h127.0.0.1", "clients", "-p", "3"});
  REQUIRE(p.outcome == ParseOutcome::Run);
  CHECK(p.options.json);
  CHECK(p.options.hosts == "127.0.0.1");
  CHECK(p.options.port == 323);
  CHECK(p.options.words == std::vector<std::string>{"clients", "-p", "3"});

  p = parse_options({"reload sources"});
  CHECK(p.options.words == std::vector<std::string>{"reload", "sources"});
  CHECK(parse_options({"-p", "70000", "tracking"}).outcome == ParseOutcome::Error);
  CHECK(parse_options({"-x", "tracking"}).outcome == ParseOutcome::Error);
  CHECK(parse_options({"-h"}).outcome == ParseOutcome::Error);
  CHECK(parse_options({"--version"}).outcome == ParseOutcome::Version);
  CHECK(parse_options({"--help"}).outcome == ParseOutcome::Help);
  p = parse_options({"-v", "-4", "sources"});
  CHECK(p.options.verbose);
  CHECK(p.options.family == FamilyFilter::Inet4);
}
