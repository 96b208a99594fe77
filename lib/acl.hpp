// Allow/deny access table for IPv4 and IPv6 clients, with chrony's semantics.
//
// Semantics (as chrony's `allow`/`deny`/`allow all`/`deny all`):
//  - Nothing is allowed by default.
//  - Rules apply in order. The most specific rule that matches an address
//    decides; a later rule for the same subnet overrides an earlier one.
//  - `allow all X` / `deny all X` set X and also erase every rule inside X
//    that was given before it (later, more specific rules still apply).
//  - A rule with both_families (bare `allow`/`deny`, `allow all`) is the /0
//    of IPv4 and of IPv6 at once.
//  - Specificity is counted in 4-bit steps, as chrony's table does: a prefix
//    length that is not a multiple of 4 is rounded up to the next one, so
//    /6, /7 and /8 are equally specific and the later of them wins where
//    they overlap. For lengths that are multiples of 4 (/8, /16, /24, /32,
//    /48, /64, ...) this is plain longest-prefix match.
//  - IPv4 and IPv6 are separate tables: an IPv4-mapped IPv6 address is looked
//    up as IPv6. Callers that receive IPv4 through an IPv6 socket should call
//    IpAddress::unmapped() first.
//
// Compiled form: build() first replays the rules into a 4-bit-stride trie
// (the same shape as chrony's, so the semantics follow directly), then walks
// it once and flattens it into sorted, disjoint address ranges covering the
// whole address space. Adjacent ranges with the same decision are merged, so
// decisions alternate and are implied by a range's index parity. A lookup
// reads one entry of a small direct-mapped index (about 4 ranges per bucket,
// at most 2^16 buckets) on the address bits that follow the prefix all range
// boundaries share (so rules clustered in 2001:db8::/32 still spread over
// the buckets), then binary-searches the few ranges in that bucket. The trie is
// dropped after build; the table holds only the range starts (4 bytes each
// for IPv4, 16 for IPv6) and the index.
//
// An AccessTable is immutable after build(), so worker threads may read it
// concurrently; the daemon replaces it as a whole on reload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "lib/config.hpp"
#include "lib/net_address.hpp"

namespace gnomon {

class AccessTable {
 public:
  // A table that denies every address.
  AccessTable();

  // Applies `rules` in order. Malformed rules (a prefix length outside the
  // family's range) are skipped and counted in skipped_rules().
  [[nodiscard]] static AccessTable build(std::span<const AccessRule> rules);

  [[nodiscard]] bool allowed(const IpAddress& address) const noexcept;

  // Number of disjoint ranges the family's address space is split into (>= 1).
  [[nodiscard]] std::size_t range_count(IpFamily family) const noexcept;
  [[nodiscard]] std::size_t skipped_rules() const noexcept { return skipped_rules_; }

  // 128-bit key, most significant half first; ordered as an unsigned number.
  struct Key128 {
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    auto operator<=>(const Key128&) const = default;
  };

  // Sorted range starts over one address space, with a bucket index.
  template <class Key>
  class RangeSet {
   public:
    RangeSet() : RangeSet(std::vector<Key>{Key{}}, false) {}
    // `starts` ascending, starts[0] the lowest key; the decision of range 0 is
    // `first_allowed` and alternates from there.
    RangeSet(std::vector<Key> starts, bool first_allowed);
    [[nodiscard]] bool allowed(Key key) const noexcept;
    [[nodiscard]] std::size_t size() const noexcept { return starts_.size(); }

   private:
    std::vector<Key> starts_;
    // bucket_[b] = index of the range holding the lowest key of bucket b;
    // bucket_[bucket count] = last range. A key in bucket b lies in a range
    // with index in [bucket_[b], bucket_[b + 1]].
    std::vector<std::uint32_t> bucket_;
    // Keys whose top 64 bits masked by prefix_mask_ differ from prefix_value_
    // lie before or after every start but the first. The others are bucketed
    // by the bits after that shared prefix: (top << prefix_shift_) >> bucket_shift_.
    std::uint64_t prefix_mask_ = 0;
    std::uint64_t prefix_value_ = 0;
    int prefix_shift_ = 0;
    int bucket_shift_ = 63;
    bool first_allowed_ = false;
  };

 private:
  RangeSet<std::uint32_t> v4_;
  RangeSet<Key128> v6_;
  std::size_t skipped_rules_ = 0;
};

}  // namespace gnomon
