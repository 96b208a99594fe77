// Access table: rules are replayed into a 4-bit-stride trie, which is then
// flattened into sorted disjoint ranges for lookup. See acl.hpp.
#include "lib/acl.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <type_traits>

namespace gnomon {
namespace {

using Key128 = AccessTable::Key128;

enum class State : std::uint8_t { Deny, Allow, Inherit };

constexpr int kStrideBits = 4;
constexpr int kFanout = 1 << kStrideBits;

// Nibble `index` (0 = most significant) of an address in network byte order.
unsigned nibble_at(const std::array<std::uint8_t, 16>& bytes, int index) {
  const unsigned byte = bytes[static_cast<std::size_t>(index / 2)];
  return index % 2 == 0 ? byte >> 4 : byte & 0xfu;
}

// A 128-bit key with nibble `index` (0 = most significant) set to `value`.
Key128 with_nibble(Key128 key, int index, unsigned value) {
  const int shift = 60 - kStrideBits * (index % 16);
  const std::uint64_t bits = static_cast<std::uint64_t>(value) << shift;
  if (index < 16)
    key.hi |= bits;
  else
    key.lo |= bits;
  return key;
}

// The rule table in chrony's shape: every node covers a prefix whose length is
// a multiple of 4 and holds Deny, Allow or Inherit (the decision of its parent).
class NibbleTrie {
 public:
  NibbleTrie() { nodes_.push_back(Node{State::Deny}); }

  // Sets the subnet `bytes`/`prefix_len` to `state`. A length that is not a
  // multiple of 4 sets every node at the next multiple of 4 inside the subnet.
  // With `reset_inside`, everything below those nodes is erased.
  void apply(const std::array<std::uint8_t, 16>& bytes, int prefix_len, State state, bool reset_inside) {
    const int whole = prefix_len / kStrideBits;
    const int rest = prefix_len % kStrideBits;
    std::uint32_t node = 0;
    for (int depth = 0; depth < whole; ++depth) node = child_of(node, nibble_at(bytes, depth));
    if (rest == 0) {
      set(node, state, reset_inside);
      return;
    }
    const unsigned span = 1u << (kStrideBits - rest);
    const unsigned first = nibble_at(bytes, whole) & ~(span - 1);
    for (unsigned i = first; i < first + span; ++i) set(child_of(node, i), state, reset_inside);
  }

  // Calls emit(start, allowed) for consecutive leaf ranges in address order.
  template <class Emit>
  void walk(Emit&& emit) const {
    visit(0, 0, Key128{}, State::Deny, emit);
  }

 private:
  // Children are created one at a time; an absent child is an Inherit leaf.
  static constexpr std::uint32_t kNoChild = 0;  // the root is never a child
  struct Node {
    State state = State::Inherit;
    bool open = false;  // has at least one child
    std::array<std::uint32_t, kFanout> child{};
  };

  std::uint32_t child_of(std::uint32_t node, unsigned nibble) {
    if (nodes_[node].child[nibble] == kNoChild) {
      const auto created = static_cast<std::uint32_t>(nodes_.size());
      nodes_.push_back(Node{});
      nodes_[node].child[nibble] = created;
      nodes_[node].open = true;
    }
    return nodes_[node].child[nibble];
  }

  void set(std::uint32_t node, State state, bool reset_inside) {
    nodes_[node].state = state;
    // Erased children stay in nodes_ unreferenced; the trie is short-lived.
    if (reset_inside) {
      nodes_[node].child.fill(kNoChild);
      nodes_[node].open = false;
    }
  }

  template <class Emit>
  void visit(std::uint32_t index, int depth, Key128 start, State inherited, Emit& emit) const {
    const Node& node = nodes_[index];
    const State state = node.state == State::Inherit ? inherited : node.state;
    if (!node.open) {
      emit(start, state == State::Allow);
      return;
    }
    for (unsigned i = 0; i < kFanout; ++i) {
      const Key128 child_start = with_nibble(start, depth, i);
      if (node.child[i] == kNoChild)
        emit(child_start, state == State::Allow);
      else
        visit(node.child[i], depth + 1, child_start, state, emit);
    }
  }

  std::vector<Node> nodes_;
};

// Collects merged range starts: a start is kept only where the decision changes.
template <class Key>
struct RangeCollector {
  std::vector<Key> starts;
  bool first_allowed = false;
  bool last_allowed = false;

  void add(Key start, bool allowed) {
    if (starts.empty()) {
      first_allowed = allowed;
    } else if (allowed == last_allowed) {
      return;
    }
    starts.push_back(start);
    last_allowed = allowed;
  }
};

std::uint64_t top_bits(std::uint32_t key) { return static_cast<std::uint64_t>(key) << 32; }
std::uint64_t top_bits(const Key128& key) { return key.hi; }

// The lowest key whose top 64 bits are `top`.
template <class Key>
Key key_from_top_bits(std::uint64_t top) {
  if constexpr (std::is_same_v<Key, Key128>)
    return Key128{top, 0};
  else
    return static_cast<std::uint32_t>(top >> 32);
}

std::uint32_t v4_key(const IpAddress& a) { return a.v4_host_order(); }

Key128 v6_key(const IpAddress& a) {
  Key128 k;
  for (std::size_t i = 0; i < 8; ++i) {
    k.hi = k.hi << 8 | a.bytes[i];
    k.lo = k.lo << 8 | a.bytes[8 + i];
  }
  return k;
}

bool rule_is_valid(const AccessRule& r) {
  if (r.both_families) return true;
  return r.subnet.prefix_len >= 0 && r.subnet.prefix_len <= r.subnet.address.bit_length();
}

// The subnet's address with its host bits cleared (Subnet promises this; be safe).
std::array<std::uint8_t, 16> masked_bytes(const Subnet& s) {
  std::array<std::uint8_t, 16> b = s.address.bytes;
  for (int i = s.prefix_len; i < 128; ++i)
    b[static_cast<std::size_t>(i / 8)] &= static_cast<std::uint8_t>(~(0x80u >> (i % 8)));
  return b;
}

}  // namespace

template <class Key>
AccessTable::RangeSet<Key>::RangeSet(std::vector<Key> starts, bool first_allowed)
    : starts_(std::move(starts)), first_allowed_(first_allowed) {
  const std::size_t n = starts_.size();
  // About four ranges per bucket, at most 2^16 buckets.
  const int bits = std::clamp(static_cast<int>(std::bit_width(n)) - 2, 1, 16);
  // Every start but the first (always the lowest key) shares the top bits of
  // the first and last of them; the bucket index covers the bits after those.
  int shared = 0;
  if (n >= 2) shared = std::countl_zero(top_bits(starts_[1]) ^ top_bits(starts_[n - 1]));
  shared = std::min(shared, 64 - bits);
  prefix_shift_ = shared;
  prefix_mask_ = shared == 0 ? 0 : ~std::uint64_t{0} << (64 - shared);
  prefix_value_ = n >= 2 ? top_bits(starts_[1]) & prefix_mask_ : 0;
  bucket_shift_ = 64 - bits;

  const std::size_t buckets = std::size_t{1} << bits;
  bucket_.resize(buckets + 1);
  std::size_t range = 0;
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::uint64_t top = prefix_value_ | static_cast<std::uint64_t>(b) << (bucket_shift_ - shared);
    const Key lowest = key_from_top_bits<Key>(top);
    while (range + 1 < n && !(lowest < starts_[range + 1])) ++range;
    bucket_[b] = static_cast<std::uint32_t>(range);
  }
  bucket_[buckets] = static_cast<std::uint32_t>(n - 1);
}

template <class Key>
bool AccessTable::RangeSet<Key>::allowed(Key key) const noexcept {
  const std::uint64_t top = top_bits(key);
  std::size_t index = 0;
  if ((top & prefix_mask_) != prefix_value_) {
    // Outside the shared prefix: below every start but the first, or above all.
    index = top < prefix_value_ ? 0 : starts_.size() - 1;
  } else {
    const std::size_t b = static_cast<std::size_t>((top << prefix_shift_) >> bucket_shift_);
    // The range is the last one in [bucket_[b], bucket_[b + 1]] whose start <= key.
    const Key* lo = starts_.data() + bucket_[b];
    std::size_t n = bucket_[b + 1] - bucket_[b];
    while (n > 0) {
      const std::size_t half = (n + 1) / 2;
      if (!(key < lo[half])) lo += half;
      n -= half;
    }
    index = static_cast<std::size_t>(lo - starts_.data());
  }
  return first_allowed_ != ((index & 1) != 0);
}

template class AccessTable::RangeSet<std::uint32_t>;
template class AccessTable::RangeSet<AccessTable::Key128>;

AccessTable::AccessTable() = default;

AccessTable AccessTable::build(std::span<const AccessRule> rules) {
  NibbleTrie trie4;
  NibbleTrie trie6;
  AccessTable table;
  for (const AccessRule& rule : rules) {
    if (!rule_is_valid(rule)) {
      ++table.skipped_rules_;
      continue;
    }
    const State state = rule.allow ? State::Allow : State::Deny;
    if (rule.both_families) {
      trie4.apply({}, 0, state, rule.all);
      trie6.apply({}, 0, state, rule.all);
      continue;
    }
    NibbleTrie& trie = rule.subnet.address.is_v4() ? trie4 : trie6;
    trie.apply(masked_bytes(rule.subnet), rule.subnet.prefix_len, state, rule.all);
  }

  RangeCollector<std::uint32_t> ranges4;
  trie4.walk([&](Key128 start, bool allowed) { ranges4.add(static_cast<std::uint32_t>(start.hi >> 32), allowed); });
  table.v4_ = RangeSet<std::uint32_t>(std::move(ranges4.starts), ranges4.first_allowed);

  RangeCollector<Key128> ranges6;
  trie6.walk([&](Key128 start, bool allowed) { ranges6.add(start, allowed); });
  table.v6_ = RangeSet<Key128>(std::move(ranges6.starts), ranges6.first_allowed);
  return table;
}

bool AccessTable::allowed(const IpAddress& address) const noexcept {
  if (address.is_v4()) return v4_.allowed(v4_key(address));
  return v6_.allowed(v6_key(address));
}

std::size_t AccessTable::range_count(IpFamily family) const noexcept {
  return family == IpFamily::V4 ? v4_.size() : v6_.size();
}

}  // namespace gnomon
