// Access table: chrony's allow/deny semantics, and the compiled lookup checked
// against a plain linear reference.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "lib/acl.hpp"

using gnomon::AccessRule;
using gnomon::AccessTable;
using gnomon::IpAddress;
using gnomon::IpFamily;
using gnomon::Subnet;

namespace {

// "allow 1.2.3.0/24", "deny all 10", "allow", "deny all": the chrony.conf form.
AccessRule rule(std::string_view text) {
  AccessRule r;
  const std::size_t space = text.find(' ');
  const std::string_view verb = text.substr(0, space);
  REQUIRE((verb == "allow" || verb == "deny"));
  r.allow = verb == "allow";
  std::string_view rest = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
  if (rest.substr(0, 3) == "all" && (rest.size() == 3 || rest[3] == ' ')) {
    r.all = true;
    rest = rest.size() == 3 ? std::string_view{} : rest.substr(4);
  }
  if (rest.empty()) {
    r.both_families = true;
    return r;
  }
  const auto parsed = Subnet::parse(rest);
  REQUIRE(parsed.status != Subnet::ParseStatus::Invalid);
  r.subnet = parsed.subnet;
  return r;
}

AccessTable table_of(std::initializer_list<std::string_view> lines) {
  std::vector<AccessRule> rules;
  for (std::string_view l : lines) rules.push_back(rule(l));
  return AccessTable::build(rules);
}

bool allowed(const AccessTable& t, const char* address) {
  const auto a = IpAddress::parse(address);
  REQUIRE(a);
  return t.allowed(*a);
}

// The reference: chrony's model written out directly. Each rule sits at table
// level ceil(len / 4). For one address, a matching rule is erased by any later
// matching `all` rule at a shallower level; of the rest, the deepest level
// decides, and on a tie the later rule.
bool reference_allowed(const std::vector<AccessRule>& rules, const IpAddress& a) {
  int best_level = -1;
  bool best_allow = false;
  int shallowest_later_all = 1000;
  for (std::size_t i = rules.size(); i-- > 0;) {
    const AccessRule& r = rules[i];
    const bool matches = r.both_families || r.subnet.contains(a);
    if (!matches) continue;
    const int len = r.both_families ? 0 : r.subnet.prefix_len;
    const int level = (len + 3) / 4;
    if (level <= shallowest_later_all && level > best_level) {
      best_level = level;
      best_allow = r.allow;
    }
    if (r.all) shallowest_later_all = std::min(shallowest_later_all, level);
  }
  return best_allow;
}

}  // namespace

TEST_CASE("an empty table denies everything") {
  for (const AccessTable& t : {AccessTable{}, AccessTable::build({})}) {
    for (const char* a : {"0.0.0.0", "127.0.0.1", "10.0.0.1", "255.255.255.255", "::", "::1", "2001:db8::1",
                          "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::ffff:127.0.0.1"}) {
      INFO(a);
      CHECK_FALSE(allowed(t, a));
    }
    CHECK(t.range_count(IpFamily::V4) == 1);
    CHECK(t.range_count(IpFamily::V6) == 1);
  }
}

TEST_CASE("chrony.conf(5) allow examples") {
  const auto host = table_of({"allow 1.2.3.4"});
  CHECK(allowed(host, "1.2.3.4"));
  CHECK_FALSE(allowed(host, "1.2.3.5"));
  CHECK_FALSE(allowed(host, "1.2.3.3"));

  for (const auto& t : {table_of({"allow 3.4.5.0/24"}), table_of({"allow 3.4.5"})}) {
    CHECK(allowed(t, "3.4.5.0"));
    CHECK(allowed(t, "3.4.5.255"));
    CHECK_FALSE(allowed(t, "3.4.4.255"));
    CHECK_FALSE(allowed(t, "3.4.6.0"));
  }

  const auto v6 = table_of({"allow 2001:db8::/32"});
  CHECK(allowed(v6, "2001:db8::1"));
  CHECK(allowed(v6, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
  CHECK_FALSE(allowed(v6, "2001:db9::"));
  CHECK_FALSE(allowed(v6, "2001:db7:ffff::"));
  CHECK_FALSE(allowed(v6, "32.1.13.184"));  // the same leading bytes, as IPv4

  const auto all4 = table_of({"allow 0/0"});
  CHECK(allowed(all4, "0.0.0.0"));
  CHECK(allowed(all4, "255.255.255.255"));
  CHECK_FALSE(allowed(all4, "::1"));
  CHECK_FALSE(allowed(all4, "::ffff:1.2.3.4"));

  const auto all6 = table_of({"allow ::/0"});
  CHECK(allowed(all6, "::"));
  CHECK(allowed(all6, "fe80::1"));
  CHECK_FALSE(allowed(all6, "1.2.3.4"));

  const auto both = table_of({"allow"});
  CHECK(allowed(both, "1.2.3.4"));
  CHECK(allowed(both, "::1"));
  CHECK(allowed(both, "2001:db8::1"));
}

TEST_CASE("chrony.conf(5): without `all`, the order of directives does not matter") {
  std::vector<std::string_view> lines = {"allow 1.2.3.4", "deny 1.2.3.0/24", "allow 1.2.0.0/16"};
  std::sort(lines.begin(), lines.end());
  int permutations = 0;
  do {
    std::vector<AccessRule> rules;
    for (std::string_view l : lines) rules.push_back(rule(l));
    const auto t = AccessTable::build(rules);
    CHECK(allowed(t, "1.2.3.4"));
    CHECK_FALSE(allowed(t, "1.2.3.5"));
    CHECK_FALSE(allowed(t, "1.2.3.0"));
    CHECK_FALSE(allowed(t, "1.2.3.255"));
    CHECK(allowed(t, "1.2.4.1"));
    CHECK(allowed(t, "1.2.2.255"));
    CHECK(allowed(t, "1.2.0.0"));
    CHECK(allowed(t, "1.2.255.255"));
    CHECK_FALSE(allowed(t, "1.3.0.0"));
    CHECK_FALSE(allowed(t, "1.1.255.255"));
    ++permutations;
  } while (std::next_permutation(lines.begin(), lines.end()));
  CHECK(permutations == 6);
}

TEST_CASE("chrony.conf(5): `allow all` overrides earlier rules inside its subnet") {
  const auto t = table_of({"allow 1.2.3.4", "deny 1.2.3.0/24", "allow all 1.2.0.0/16"});
  CHECK(allowed(t, "1.2.3.4"));
  CHECK(allowed(t, "1.2.3.5"));
  CHECK(allowed(t, "1.2.200.1"));
  CHECK_FALSE(allowed(t, "1.3.0.1"));

  // Rules given after it still refine it.
  const auto later = table_of({"allow all 1.2.0.0/16", "allow 1.2.3.4", "deny 1.2.3.0/24"});
  CHECK(allowed(later, "1.2.3.4"));
  CHECK_FALSE(allowed(later, "1.2.3.5"));
  CHECK(allowed(later, "1.2.4.5"));

  // It leaves rules outside its subnet alone.
  const auto outside = table_of({"deny 1.3.0.1", "allow 1.3.0.0/16", "allow all 1.2.0.0/16"});
  CHECK_FALSE(allowed(outside, "1.3.0.1"));
  CHECK(allowed(outside, "1.3.0.2"));

  // `deny all` works the same way.
  const auto deny_all = table_of({"allow 10.1.2.3", "allow 10.1.0.0/16", "deny all 10.0.0.0/8"});
  CHECK_FALSE(allowed(deny_all, "10.1.2.3"));
  CHECK_FALSE(allowed(deny_all, "10.1.0.1"));
}

TEST_CASE("bare allow/deny and `all` cover both families") {
  const auto reset = table_of({"allow 10/8", "deny 10.1.2.3", "allow 2001:db8::/32", "deny all"});
  CHECK_FALSE(allowed(reset, "10.0.0.1"));
  CHECK_FALSE(allowed(reset, "10.1.2.3"));
  CHECK_FALSE(allowed(reset, "2001:db8::1"));
  CHECK(reset.range_count(IpFamily::V4) == 1);
  CHECK(reset.range_count(IpFamily::V6) == 1);

  const auto open = table_of({"deny 10/8", "deny 2001:db8::/32", "allow all"});
  CHECK(allowed(open, "10.0.0.1"));
  CHECK(allowed(open, "2001:db8::1"));

  // Without `all`, a bare rule is only the least specific one.
  const auto wide = table_of({"deny 10/8", "deny 2001:db8::/32", "allow"});
  CHECK_FALSE(allowed(wide, "10.0.0.1"));
  CHECK(allowed(wide, "11.0.0.1"));
  CHECK_FALSE(allowed(wide, "2001:db8::1"));
  CHECK(allowed(wide, "2001:db9::1"));

  const auto denied = table_of({"allow", "deny"});
  CHECK_FALSE(allowed(denied, "1.1.1.1"));
  CHECK_FALSE(allowed(denied, "::1"));
}

TEST_CASE("the most specific rule wins, whatever the order") {
  const auto a = table_of({"allow 127.0.0.0/8", "deny 127.0.0.99"});
  const auto b = table_of({"deny 127.0.0.99", "allow 127.0.0.0/8"});
  for (const auto& t : {a, b}) {
    CHECK(allowed(t, "127.0.0.1"));
    CHECK(allowed(t, "127.0.0.98"));
    CHECK(allowed(t, "127.0.0.100"));
    CHECK(allowed(t, "127.255.255.255"));
    CHECK_FALSE(allowed(t, "127.0.0.99"));
    CHECK_FALSE(allowed(t, "128.0.0.0"));
    CHECK_FALSE(allowed(t, "126.255.255.255"));
  }

  const auto nested = table_of({"allow 10/8", "deny 10.1/16", "allow 10.1.2/24", "deny 10.1.2.128/28"});
  CHECK(allowed(nested, "10.0.0.1"));
  CHECK_FALSE(allowed(nested, "10.1.0.1"));
  CHECK(allowed(nested, "10.1.2.1"));
  CHECK_FALSE(allowed(nested, "10.1.2.130"));
  CHECK(allowed(nested, "10.1.2.144"));
  CHECK_FALSE(allowed(nested, "10.1.3.1"));
}

TEST_CASE("a later rule for the same subnet overrides an earlier one") {
  CHECK_FALSE(allowed(table_of({"allow 10.0.0.0/24", "deny 10.0.0.0/24"}), "10.0.0.7"));
  CHECK(allowed(table_of({"deny 10.0.0.0/24", "allow 10.0.0.0/24"}), "10.0.0.7"));
  CHECK(allowed(table_of({"deny ::1", "allow ::1"}), "::1"));
  CHECK_FALSE(allowed(table_of({"allow ::1", "deny ::1"}), "::1"));
}

TEST_CASE("prefix lengths share a table level per 4 bits (chrony.conf(5))") {
  // 1.2.3.0/25 and 1.2.3.0/28 are on the same level: the later one wins.
  CHECK_FALSE(allowed(table_of({"allow 1.2.3.0/25", "deny 1.2.3.0/28"}), "1.2.3.1"));
  CHECK(allowed(table_of({"deny 1.2.3.0/28", "allow 1.2.3.0/25"}), "1.2.3.1"));
  CHECK(allowed(table_of({"deny 1.2.3.0/28", "allow 1.2.3.0/25"}), "1.2.3.100"));
  CHECK_FALSE(allowed(table_of({"deny 1.2.3.0/28", "allow 1.2.3.0/25"}), "1.2.3.200"));
  // 1.2.3.0/28 and 1.2.3.0/29 are on different levels: /29 wins in either order.
  for (const auto& t : {table_of({"allow 1.2.3.0/28", "deny 1.2.3.0/29"}),
                        table_of({"deny 1.2.3.0/29", "allow 1.2.3.0/28"})}) {
    CHECK_FALSE(allowed(t, "1.2.3.7"));
    CHECK(allowed(t, "1.2.3.8"));
    CHECK_FALSE(allowed(t, "1.2.3.16"));
  }
  // An odd length covers exactly its subnet.
  const auto odd = table_of({"allow 10.0.0.0/9"});
  CHECK(allowed(odd, "10.127.255.255"));
  CHECK_FALSE(allowed(odd, "10.128.0.0"));
  CHECK_FALSE(allowed(odd, "9.255.255.255"));
  const auto odd6 = table_of({"allow fe80::/10"});
  CHECK(allowed(odd6, "febf:ffff::1"));
  CHECK_FALSE(allowed(odd6, "fec0::"));
  CHECK_FALSE(allowed(odd6, "fe7f:ffff::"));
  const auto host_pair = table_of({"allow 10.0.0.2/31"});
  CHECK(allowed(host_pair, "10.0.0.2"));
  CHECK(allowed(host_pair, "10.0.0.3"));
  CHECK_FALSE(allowed(host_pair, "10.0.0.1"));
  CHECK_FALSE(allowed(host_pair, "10.0.0.4"));
}

TEST_CASE("IPv6 rules") {
  const auto t = table_of({"allow 2001:db8::/32", "deny 2001:db8:1::/48", "allow 2001:db8:1:2::/64",
                           "deny 2001:db8:1:2::bad", "allow 10.0.0.0/8"});
  CHECK(allowed(t, "2001:db8::1"));
  CHECK(allowed(t, "2001:db8:2::1"));
  CHECK_FALSE(allowed(t, "2001:db8:1::1"));
  CHECK_FALSE(allowed(t, "2001:db8:1:3::1"));
  CHECK(allowed(t, "2001:db8:1:2::1"));
  CHECK(allowed(t, "2001:db8:1:2:ffff:ffff:ffff:ffff"));
  CHECK_FALSE(allowed(t, "2001:db8:1:2::bad"));
  CHECK_FALSE(allowed(t, "2001:db9::"));
  CHECK(allowed(t, "10.1.2.3"));
  // IPv4-mapped addresses are IPv6 to the table; unmap them first.
  CHECK_FALSE(allowed(t, "::ffff:10.1.2.3"));
  CHECK(t.allowed(IpAddress::parse("::ffff:10.1.2.3")->unmapped()));

  const auto loop = table_of({"allow ::1", "allow 127.0.0.1"});
  CHECK(allowed(loop, "::1"));
  CHECK_FALSE(allowed(loop, "::"));
  CHECK_FALSE(allowed(loop, "::2"));
  CHECK(allowed(loop, "127.0.0.1"));

  const auto reset6 = table_of({"allow 2001:db8:1::1", "deny 2001:db8::/32", "allow all 2001:db8::/16"});
  CHECK(allowed(reset6, "2001:db8:1::1"));
  CHECK(allowed(reset6, "2001:db8:1::2"));
  CHECK(allowed(reset6, "2001:ffff::"));
  CHECK_FALSE(allowed(reset6, "2002::"));
}

TEST_CASE("malformed rules are skipped, host bits are cleared") {
  std::vector<AccessRule> rules = {rule("allow 10.0.0.0/8")};
  AccessRule bad;
  bad.subnet.address = *IpAddress::parse("11.0.0.0");
  bad.subnet.prefix_len = 33;
  rules.push_back(bad);
  bad.subnet.prefix_len = -1;
  rules.push_back(bad);
  bad.subnet.address = *IpAddress::parse("::");
  bad.subnet.prefix_len = 129;
  rules.push_back(bad);
  // Host bits set directly in the struct (a parser would have masked them).
  AccessRule unmasked;
  unmasked.subnet.address = *IpAddress::parse("12.34.56.78");
  unmasked.subnet.prefix_len = 8;
  rules.push_back(unmasked);

  const auto t = AccessTable::build(rules);
  CHECK(t.skipped_rules() == 3);
  CHECK(allowed(t, "10.9.9.9"));
  CHECK_FALSE(allowed(t, "11.0.0.0"));
  CHECK(allowed(t, "12.0.0.1"));
  CHECK(allowed(t, "12.255.255.255"));
  CHECK_FALSE(allowed(t, "13.0.0.0"));
}

TEST_CASE("the compiled table agrees with a linear reference") {
  std::mt19937_64 rng(20240607);
  auto uniform = [&](std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); };

  // Random addresses from a few clustered bases, so that rules overlap.
  auto random_address = [&](IpFamily family) {
    IpAddress a;
    a.family = family;
    const std::size_t len = family == IpFamily::V4 ? 4 : 16;
    const auto cluster = static_cast<std::uint8_t>(uniform(3));
    for (std::size_t i = 0; i < len; ++i) {
      const std::uint64_t r = uniform(8);
      a.bytes[i] = r < 5 ? static_cast<std::uint8_t>(cluster + i) : static_cast<std::uint8_t>(uniform(256));
    }
    return a;
  };
  auto flip_after = [](IpAddress a, int bit_index) {
    for (int i = bit_index; i < a.bit_length(); ++i) {
      const auto byte = static_cast<std::size_t>(i / 8);
      a.bytes[byte] = static_cast<std::uint8_t>(a.bytes[byte] ^ (0x80u >> (i % 8)));
    }
    return a;
  };

  std::size_t checked = 0;
  for (int round = 0; round < 60; ++round) {
    std::vector<AccessRule> rules;
    const std::uint64_t rule_count = uniform(120) + 1;
    for (std::uint64_t i = 0; i < rule_count; ++i) {
      AccessRule r;
      r.allow = uniform(2) == 0;
      r.all = uniform(6) == 0;
      if (uniform(40) == 0) {
        r.both_families = true;
      } else {
        const IpFamily family = uniform(2) == 0 ? IpFamily::V4 : IpFamily::V6;
        const IpAddress base = random_address(family);
        const int max_len = base.bit_length();
        // Mostly the lengths people write, sometimes any length.
        const int len = uniform(2) == 0 ? static_cast<int>(uniform(static_cast<std::uint64_t>(max_len) + 1))
                                        : std::min(max_len, static_cast<int>(8 * (uniform(static_cast<std::uint64_t>(max_len / 8)) + 1)));
        const auto p = Subnet::parse(base.to_string() + "/" + std::to_string(len));
        REQUIRE(p.status != Subnet::ParseStatus::Invalid);
        r.subnet = p.subnet;
      }
      rules.push_back(r);
    }
    const auto table = AccessTable::build(rules);
    REQUIRE(table.skipped_rules() == 0);

    std::vector<IpAddress> probes;
    for (const AccessRule& r : rules) {
      if (r.both_families) continue;
      // Edges of each rule's subnet and just outside them.
      const IpAddress first = r.subnet.address;
      const IpAddress last = flip_after(first, r.subnet.prefix_len);
      probes.push_back(first);
      probes.push_back(last);
      IpAddress before = first;
      for (std::size_t i = static_cast<std::size_t>(first.bit_length() / 8); i-- > 0;)
        if (before.bytes[i]-- != 0) break;
      probes.push_back(before);
      IpAddress after = last;
      for (std::size_t i = static_cast<std::size_t>(last.bit_length() / 8); i-- > 0;)
        if (++after.bytes[i] != 0) break;
      probes.push_back(after);
    }
    for (int i = 0; i < 400; ++i) probes.push_back(random_address(uniform(2) == 0 ? IpFamily::V4 : IpFamily::V6));

    for (const IpAddress& a : probes) {
      const bool expect = reference_allowed(rules, a);
      if (table.allowed(a) != expect) {
        std::string listing;
        for (const AccessRule& r : rules)
          listing += std::string(r.allow ? "allow" : "deny") + (r.all ? " all" : "") + " " +
                     (r.both_families ? std::string() : r.subnet.to_string()) + "\n";
        INFO("round " << round << " address " << a.to_string() << " rules:\n" << listing);
        CHECK(table.allowed(a) == expect);
      }
      ++checked;
    }
  }
  CHECK(checked > 20000);
}

TEST_CASE("large rule sets compile to bounded ranges and still agree with the reference") {
  std::mt19937_64 rng(7);
  std::vector<AccessRule> rules;
  for (int i = 0; i < 10000; ++i) {
    AccessRule r;
    r.allow = (rng() & 1) != 0;
    const int len = 8 + static_cast<int>(rng() % 25);
    const auto p = Subnet::parse(IpAddress::v4(static_cast<std::uint32_t>(rng())).to_string() + "/" +
                                 std::to_string(len));
    r.subnet = p.subnet;
    rules.push_back(r);
  }
  const auto table = AccessTable::build(rules);
  CHECK(table.range_count(IpFamily::V4) <= 2 * rules.size() + 1);
  CHECK(table.range_count(IpFamily::V6) == 1);
  int disagreements = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto& r = rules[static_cast<std::size_t>(rng() % rules.size())];
    const IpAddress inside = IpAddress::v4(r.subnet.address.v4_host_order() |
                                           static_cast<std::uint32_t>((rng() & 0xffffffffu) >> r.subnet.prefix_len));
    const IpAddress anywhere = IpAddress::v4(static_cast<std::uint32_t>(rng()));
    disagreements += table.allowed(inside) != reference_allowed(rules, inside);
    disagreements += table.allowed(anywhere) != reference_allowed(rules, anywhere);
  }
  CHECK(disagreements == 0);
}
