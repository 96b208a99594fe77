// Access table lookups and builds with 10,000 rules (fixed seeds).
//
// "Spread" rule sets are random subnets over the whole address space (IPv4
// /8../32, IPv6 /8../128). "Clustered" ones sit inside one network (IPv4
// 10.0.0.0/8 with /12../32, IPv6 2001:db8::/32 with /36../128), where the
// top-bits bucket index cannot help and lookups fall back to binary search.
// Probe addresses: half inside a random rule's subnet, half anywhere in the
// rules' space.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "lib/acl.hpp"

namespace {

using gnomon::AccessRule;
using gnomon::AccessTable;
using gnomon::IpAddress;
using gnomon::IpFamily;

constexpr int kRuleCount = 10000;
constexpr std::size_t kProbeCount = 1 << 14;

struct Shape {
  IpFamily family;
  bool clustered;
};

IpAddress random_address(std::mt19937_64& rng, const Shape& shape) {
  IpAddress a;
  a.family = shape.family;
  const std::size_t len = shape.family == IpFamily::V4 ? 4 : 16;
  for (std::size_t i = 0; i < len; ++i) a.bytes[i] = static_cast<std::uint8_t>(rng());
  if (shape.clustered) {
    if (shape.family == IpFamily::V4) {
      a.bytes[0] = 10;
    } else {
      a.bytes[0] = 0x20;
      a.bytes[1] = 0x01;
      a.bytes[2] = 0x0d;
      a.bytes[3] = 0xb8;
    }
  }
  return a;
}

// Clears every bit after the first `len`.
IpAddress masked(IpAddress a, int len) {
  for (int i = len; i < a.bit_length(); ++i) {
    const auto byte = static_cast<std::size_t>(i / 8);
    a.bytes[byte] = static_cast<std::uint8_t>(a.bytes[byte] & ~(0x80u >> (i % 8)));
  }
  return a;
}

std::vector<AccessRule> make_rules(const Shape& shape, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const bool v4 = shape.family == IpFamily::V4;
  const int min_len = shape.clustered ? (v4 ? 12 : 36) : 8;
  const int max_len = v4 ? 32 : 128;
  std::uniform_int_distribution<int> length(min_len, max_len);
  std::vector<AccessRule> rules;
  rules.reserve(kRuleCount);
  for (int i = 0; i < kRuleCount; ++i) {
    AccessRule r;
    r.allow = (rng() & 1) != 0;
    r.subnet.prefix_len = length(rng);
    r.subnet.address = masked(random_address(rng, shape), r.subnet.prefix_len);
    rules.push_back(r);
  }
  return rules;
}

std::vector<IpAddress> make_probes(const Shape& shape, const std::vector<AccessRule>& rules, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<IpAddress> probes;
  probes.reserve(kProbeCount);
  for (std::size_t i = 0; i < kProbeCount; ++i) {
    IpAddress a = random_address(rng, shape);
    if (i % 2 == 0) {
      const AccessRule& r = rules[rng() % rules.size()];
      const IpAddress net = r.subnet.address;
      for (int b = 0; b < r.subnet.prefix_len; ++b) {
        const auto byte = static_cast<std::size_t>(b / 8);
        const auto bit = static_cast<std::uint8_t>(0x80u >> (b % 8));
        a.bytes[byte] = static_cast<std::uint8_t>((a.bytes[byte] & ~bit) | (net.bytes[byte] & bit));
      }
    }
    probes.push_back(a);
  }
  return probes;
}

void acl_lookup(benchmark::State& state, Shape shape) {
  const auto rules = make_rules(shape, 42);
  const auto table = AccessTable::build(rules);
  const auto probes = make_probes(shape, rules, 43);
  std::size_t i = 0;
  std::size_t allowed = 0;
  for (auto _ : state) {
    const bool ok = table.allowed(probes[i]);
    benchmark::DoNotOptimize(ok);
    allowed += ok ? 1 : 0;
    i = (i + 1) & (kProbeCount - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["ranges"] = static_cast<double>(table.range_count(shape.family));
  state.counters["allowed_frac"] =
      state.iterations() == 0 ? 0.0 : static_cast<double>(allowed) / static_cast<double>(state.iterations());
}

void acl_build(benchmark::State& state, Shape shape) {
  const auto rules = make_rules(shape, 42);
  for (auto _ : state) {
    auto table = AccessTable::build(rules);
    benchmark::DoNotOptimize(table);
  }
}

}  // namespace

BENCHMARK_CAPTURE(acl_lookup, v4_spread_10k, Shape{IpFamily::V4, false});
BENCHMARK_CAPTURE(acl_lookup, v4_clustered_10k, Shape{IpFamily::V4, true});
BENCHMARK_CAPTURE(acl_lookup, v6_spread_10k, Shape{IpFamily::V6, false});
BENCHMARK_CAPTURE(acl_lookup, v6_clustered_10k, Shape{IpFamily::V6, true});
BENCHMARK_CAPTURE(acl_build, v4_spread_10k, Shape{IpFamily::V4, false})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(acl_build, v6_spread_10k, Shape{IpFamily::V6, false})->Unit(benchmark::kMillisecond);
