// Strict parsing and formatting of IP addresses, socket addresses and subnets.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "lib/net_address.hpp"

using gnomon::IpAddress;
using gnomon::IpFamily;
using gnomon::SocketAddress;
using gnomon::Subnet;

namespace {

std::string round_trip(const char* text) {
  const auto a = IpAddress::parse(text);
  REQUIRE(a.has_value());
  return a->to_string();
}

std::array<std::uint8_t, 16> v6_bytes(std::initializer_list<unsigned> words) {
  std::array<std::uint8_t, 16> b{};
  std::size_t i = 0;
  for (unsigned w : words) {
    b[2 * i] = static_cast<std::uint8_t>(w >> 8);
    b[2 * i + 1] = static_cast<std::uint8_t>(w & 0xff);
    ++i;
  }
  return b;
}

}  // namespace

TEST_CASE("IPv4 dotted quad parses strictly") {
  const auto a = IpAddress::parse("192.168.1.200");
  REQUIRE(a);
  CHECK(a->family == IpFamily::V4);
  CHECK(a->v4_host_order() == 0xc0a801c8u);
  CHECK(*a == IpAddress::v4(0xc0a801c8u));
  CHECK(a->to_string() == "192.168.1.200");
  CHECK(round_trip("0.0.0.0") == "0.0.0.0");
  CHECK(round_trip("255.255.255.255") == "255.255.255.255");

  for (const char* bad : {"", "1", "1.2", "1.2.3", "1.2.3.4.5", "300.1.1.1", "1.2.3.256", "1..3.4", ".1.2.3",
                          "1.2.3.", "1.2.3.4.", "+1.2.3.4", "1.+2.3.4", "-1.2.3.4", " 1.2.3.4", "1.2.3.4 ",
                          "1.2.3.4x", "0x1.2.3.4", "01.2.3.4", "1.2.3.0004", "1.2.3.1000", "a.b.c.d",
                          "1.2.3.4/8", "1,2,3,4", "4294967296.1.1.1"}) {
    INFO(bad);
    CHECK_FALSE(IpAddress::parse(bad).has_value());
  }
}

TEST_CASE("IPv6 parses RFC 4291 text forms") {
  const auto a = IpAddress::parse("2001:db8:0:0:1:0:0:1");
  REQUIRE(a);
  CHECK(a->family == IpFamily::V6);
  CHECK(a->bytes == v6_bytes({0x2001, 0xdb8, 0, 0, 1, 0, 0, 1}));

  CHECK(IpAddress::parse("::")->bytes == v6_bytes({}));
  CHECK(IpAddress::parse("::")->family == IpFamily::V6);
  CHECK(IpAddress::parse("::1")->bytes == v6_bytes({0, 0, 0, 0, 0, 0, 0, 1}));
  CHECK(IpAddress::parse("1::")->bytes == v6_bytes({1}));
  CHECK(IpAddress::parse("1:2:3:4:5:6:7::")->bytes == v6_bytes({1, 2, 3, 4, 5, 6, 7, 0}));
  CHECK(IpAddress::parse("::2:3:4:5:6:7:8")->bytes == v6_bytes({0, 2, 3, 4, 5, 6, 7, 8}));
  CHECK(IpAddress::parse("FE80::ABCD")->bytes == v6_bytes({0xfe80, 0, 0, 0, 0, 0, 0, 0xabcd}));
  CHECK(IpAddress::parse("0000:0000:0000:0000:0000:0000:0000:0001")->bytes == v6_bytes({0, 0, 0, 0, 0, 0, 0, 1}));
  CHECK(IpAddress::parse("::ffff:192.0.2.1")->bytes == v6_bytes({0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201}));
  CHECK(IpAddress::parse("1:2:3:4:5:6:1.2.3.4")->bytes == v6_bytes({1, 2, 3, 4, 5, 6, 0x0102, 0x0304}));
  CHECK(IpAddress::parse("::1.2.3.4")->bytes == v6_bytes({0, 0, 0, 0, 0, 0, 0x0102, 0x0304}));
  CHECK(IpAddress::parse("1::1.2.3.4")->bytes == v6_bytes({1, 0, 0, 0, 0, 0, 0x0102, 0x0304}));

  for (const char* bad : {":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4::5:6:7:8", "1::2::3",
                          ":1::", "1::2:", ":1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:", "12345::", "g::1", "::1%eth0",
                          "[::1]", "1:2:3:4:5:6:7:1.2.3.4", "1:2:3:4:5:6:1.2.3.4:7", "::1.2.3", "::1.2.3.256",
                          "::01.2.3.4", "1.2.3.4::", "::1.2.3.4:1", " ::1", "::1 ", "::-1", "::+1", "1:::2",
                          "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8"}) {
    INFO(bad);
    CHECK_FALSE(IpAddress::parse(bad).has_value());
  }
}

TEST_CASE("IPv6 formats per RFC 5952") {
  CHECK(round_trip("2001:0DB8:0000:0000:0000:0000:0000:0001") == "2001:db8::1");
  CHECK(round_trip("::") == "::");
  CHECK(round_trip("::1") == "::1");
  CHECK(round_trip("1::") == "1::");
  // A single zero group is not compressed.
  CHECK(round_trip("2001:db8:0:1:1:1:1:1") == "2001:db8:0:1:1:1:1:1");
  // The longest run is compressed; on a tie, the first.
  CHECK(round_trip("2001:0:0:1:0:0:0:1") == "2001:0:0:1::1");
  CHECK(round_trip("2001:db8:0:0:1:0:0:1") == "2001:db8::1:0:0:1");
  CHECK(round_trip("1:0:0:0:0:0:0:0") == "1::");
  CHECK(round_trip("0:0:0:0:0:0:0:2") == "::2");
  CHECK(round_trip("fe80:0:0:0:0:0:0:abcd") == "fe80::abcd");
  CHECK(round_trip("1:2:3:4:5:6:7:8") == "1:2:3:4:5:6:7:8");
  CHECK(round_trip("0:1:0:1:0:1:0:1") == "0:1:0:1:0:1:0:1");
  // IPv4-mapped addresses keep the dotted quad.
  CHECK(round_trip("::ffff:c000:0201") == "::ffff:192.0.2.1");
  CHECK(round_trip("0:0:0:0:0:ffff:7f00:1") == "::ffff:127.0.0.1");
}

TEST_CASE("address predicates") {
  CHECK(IpAddress::parse("127.0.0.1")->is_loopback());
  CHECK(IpAddress::parse("127.99.1.2")->is_loopback());
  CHECK_FALSE(IpAddress::parse("128.0.0.1")->is_loopback());
  CHECK(IpAddress::parse("::1")->is_loopback());
  CHECK_FALSE(IpAddress::parse("::2")->is_loopback());
  CHECK(IpAddress::parse("0.0.0.0")->is_unspecified());
  CHECK(IpAddress::parse("::")->is_unspecified());
  CHECK_FALSE(IpAddress::parse("::1")->is_unspecified());
  CHECK(IpAddress::parse("1.2.3.4")->bit_length() == 32);
  CHECK(IpAddress::parse("::1")->bit_length() == 128);

  const auto mapped = IpAddress::parse("::ffff:10.1.2.3");
  REQUIRE(mapped);
  CHECK(mapped->is_v4_mapped());
  CHECK(mapped->unmapped() == *IpAddress::parse("10.1.2.3"));
  CHECK_FALSE(IpAddress::parse("::10.1.2.3")->is_v4_mapped());
  CHECK(IpAddress::parse("::1")->unmapped() == *IpAddress::parse("::1"));
  CHECK(IpAddress::parse("1.2.3.4")->unmapped() == *IpAddress::parse("1.2.3.4"));

  const auto a = IpAddress::v4(0x80000001u);
  CHECK(a.bit(0));
  CHECK_FALSE(a.bit(1));
  CHECK(a.bit(31));
}

TEST_CASE("socket addresses") {
  auto sa = SocketAddress::parse("1.2.3.4:123", 999);
  REQUIRE(sa);
  CHECK(sa->ip == *IpAddress::parse("1.2.3.4"));
  CHECK(sa->port == 123);
  CHECK(sa->to_string() == "1.2.3.4:123");

  sa = SocketAddress::parse("[::1]:65535", 999);
  REQUIRE(sa);
  CHECK(sa->ip == *IpAddress::parse("::1"));
  CHECK(sa->port == 65535);
  CHECK(sa->to_string() == "[::1]:65535");

  CHECK(SocketAddress::parse("10.0.0.1", 123)->port == 123);
  CHECK(SocketAddress::parse("[2001:db8::1]", 4460)->port == 4460);
  CHECK(SocketAddress::parse("2001:db8::1", 4460)->port == 4460);
  CHECK(SocketAddress::parse("2001:db8::1", 4460)->ip == *IpAddress::parse("2001:db8::1"));
  CHECK(SocketAddress::parse("0.0.0.0:0", 123)->port == 0);
  CHECK(SocketAddress::parse("[::]:123", 1)->to_string() == "[::]:123");
  CHECK(SocketAddress::parse("[::ffff:1.2.3.4]:5", 1)->to_string() == "[::ffff:1.2.3.4]:5");

  for (const char* bad : {"", ":", ":123", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:70000", "1.2.3.4:-1",
                          "1.2.3.4:+1", "1.2.3.4:1x", "1.2.3.4: 1", "1.2.3.4:123456", "[::1]:", "[::1]x",
                          "[::1", "::1]:123", "[1.2.3.4]:123", "[]:123", "[::1]:99999", "300.1.1.1:123",
                          "host.example:123", "1.2.3.4:0x10", "[::1]:123:4"}) {
    INFO(bad);
    CHECK_FALSE(SocketAddress::parse(bad, 123).has_value());
  }
}

TEST_CASE("subnets: CIDR, hosts and chrony's short forms") {
  struct Case {
    const char* text;
    const char* expect;
  };
  for (const Case& c : {Case{"10.0.0.0/24", "10.0.0.0/24"}, Case{"0.0.0.0/0", "0.0.0.0/0"},
                        Case{"10.0.0.1", "10.0.0.1/32"}, Case{"192.168.1.0/32", "192.168.1.0/32"},
                        Case{"10", "10.0.0.0/8"}, Case{"10.1", "10.1.0.0/16"}, Case{"10.1.2", "10.1.2.0/24"},
                        Case{"0", "0.0.0.0/8"}, Case{"10/12", "10.0.0.0/12"}, Case{"172.16/12", "172.16.0.0/12"},
                        Case{"10.1.2/32", "10.1.2.0/32"}, Case{"2001:db8::/32", "2001:db8::/32"},
                        Case{"::/0", "::/0"}, Case{"::1", "::1/128"}, Case{"fe80::/10", "fe80::/10"},
                        Case{"2001:db8::/128", "2001:db8::/128"}, Case{"10.0.0.0/08", "10.0.0.0/8"}}) {
    INFO(c.text);
    const auto p = Subnet::parse(c.text);
    CHECK(p.status == Subnet::ParseStatus::Ok);
    CHECK(p.subnet.to_string() == c.expect);
  }
  CHECK(Subnet::parse("10").subnet.prefix_len == 8);
  CHECK(Subnet::parse("10.1.2.3").subnet.prefix_len == 32);
  CHECK(Subnet::parse("::1").subnet.prefix_len == 128);
  CHECK(Subnet::parse("::1").subnet.address.family == IpFamily::V6);
}

TEST_CASE("subnets: host bits are masked and reported") {
  struct Case {
    const char* text;
    const char* expect;
  };
  for (const Case& c : {Case{"10.0.0.1/8", "10.0.0.0/8"}, Case{"192.168.1.77/24", "192.168.1.0/24"},
                        Case{"10.1/8", "10.0.0.0/8"}, Case{"1.2.3.4/0", "0.0.0.0/0"},
                        Case{"2001:db8::1/32", "2001:db8::/32"}, Case{"fe80::ffff/10", "fe80::/10"},
                        Case{"10.255.255.255/9", "10.128.0.0/9"}}) {
    INFO(c.text);
    const auto p = Subnet::parse(c.text);
    CHECK(p.status == Subnet::ParseStatus::HostBitsMasked);
    CHECK(p.subnet.to_string() == c.expect);
  }
}

TEST_CASE("subnets: malformed input is invalid") {
  for (const char* bad : {"", "/", "10.0.0.0/33", "::/129", "/-1", "10.0.0.0/", "/8x", "/8", "10.0.0.0/8x",
                          "300.1.1.1", "300.1.1.1/8", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8", "10.0.0.0 /8",
                          "10.0.0.0/8/8", "10.0.0.0/1000", "10.0.0.0/4294967304", "10.", "10..1", ".10",
                          "10.1.2.", "256", "10.256", "1.2.3.4.5", "010", "10.01", "-10", "+10", "0x0a",
                          "2001:db8::/33x", "2001:db8:::/32", "host.example", "all", "10.0.0.0/32.0",
                          "::1/129", "1.2.3.4/33", "[::1]/128"}) {
    INFO(bad);
    CHECK(Subnet::parse(bad).status == Subnet::ParseStatus::Invalid);
  }
}

TEST_CASE("subnet membership") {
  const auto s = Subnet::parse("10.0.0.0/9").subnet;
  CHECK(s.contains(*IpAddress::parse("10.0.0.1")));
  CHECK(s.contains(*IpAddress::parse("10.127.255.255")));
  CHECK_FALSE(s.contains(*IpAddress::parse("10.128.0.0")));
  CHECK_FALSE(s.contains(*IpAddress::parse("::ffff:10.0.0.1")));
  CHECK(Subnet::parse("0.0.0.0/0").subnet.contains(*IpAddress::parse("255.1.2.3")));
  CHECK_FALSE(Subnet::parse("0.0.0.0/0").subnet.contains(*IpAddress::parse("::1")));
  const auto v6 = Subnet::parse("2001:db8::/33").subnet;
  CHECK(v6.contains(*IpAddress::parse("2001:db8:7fff::1")));
  CHECK_FALSE(v6.contains(*IpAddress::parse("2001:db8:8000::1")));
  CHECK(Subnet::parse("::1").subnet.contains(*IpAddress::parse("::1")));
  CHECK_FALSE(Subnet::parse("::1").subnet.contains(*IpAddress::parse("::2")));
}

TEST_CASE("random addresses survive a text round trip") {
  std::mt19937_64 rng(5952);
  for (int i = 0; i < 20000; ++i) {
    std::array<std::uint8_t, 16> b{};
    for (std::size_t w = 0; w < 8; ++w) {
      // Many zero groups, so every compression case comes up.
      if (rng() % 3 == 0) continue;
      const auto v = static_cast<unsigned>(rng() % 4 == 0 ? rng() % 16 : rng());
      b[2 * w] = static_cast<std::uint8_t>(v >> 8);
      b[2 * w + 1] = static_cast<std::uint8_t>(v);
    }
    const IpAddress a = IpAddress::v6(b);
    const std::string text = a.to_string();
    INFO(text);
    const auto back = IpAddress::parse(text);
    REQUIRE(back);
    CHECK(*back == a);
    CHECK(text.find(":::") == std::string::npos);
    CHECK(text.find("::", text.find("::") + 1) == std::string::npos);
    CHECK(text.find_first_of("ABCDEF") == std::string::npos);

    const IpAddress v4 = IpAddress::v4(static_cast<std::uint32_t>(rng()));
    CHECK(IpAddress::parse(v4.to_string()) == v4);
    const SocketAddress sa{a, static_cast<std::uint16_t>(rng())};
    CHECK(SocketAddress::parse(sa.to_string(), 1) == sa);
  }
}

TEST_CASE("random text never crashes the parsers") {
  std::mt19937_64 rng(4291);
  const std::string_view alphabet = "0123456789abcdefABCDEF:.[]/%x+- \t";
  std::size_t accepted = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string text(rng() % 48, ' ');
    for (char& c : text) c = alphabet[rng() % alphabet.size()];
    const auto a = IpAddress::parse(text);
    if (a) {
      ++accepted;
      CHECK(IpAddress::parse(a->to_string()) == a);
    }
    const auto sa = SocketAddress::parse(text, 123);
    if (sa) CHECK(SocketAddress::parse(sa->to_string(), 9) == sa);
    const auto s = Subnet::parse(text);
    if (s.status != Subnet::ParseStatus::Invalid) {
      CHECK(s.subnet.prefix_len <= s.subnet.address.bit_length());
      CHECK(Subnet::parse(s.subnet.to_string()).status == Subnet::ParseStatus::Ok);
      CHECK(Subnet::parse(s.subnet.to_string()).subnet == s.subnet);
    }
  }
  // Mostly junk, as intended; the accepted ones were round-tripped above.
  CHECK(accepted < 50000);
}
