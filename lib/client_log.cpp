// The client log: see client_log.hpp.
#include "lib/client_log.hpp"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <type_traits>

namespace gnomon {

// 40 bytes; all zero = an empty slot.
struct ClientLog::Record {
  std::uint64_t key;          // Key::word
  std::uint64_t xl_rx;        // receive timestamp sent in our last reply (NTP 32.32), 0 = none
  ClientTicks last_hit;       // 0 = never
  std::uint32_t hits;
  std::uint32_t drops;
  std::int32_t xl_tx_offset_ns;  // that reply's transmit time minus xl_rx
  std::uint16_t tokens;
  std::uint8_t family;        // Key::family; 0 = empty
  std::int8_t interval_q;     // request interval estimate, quarter octaves of seconds
  std::int8_t timeout_interval_q;  // the same, measured after a dropped request
  std::uint8_t flags;
  std::uint8_t pad[2];
};

namespace {

// Record::flags
constexpr std::uint8_t kDroppedLast = 1;   // the previous request was dropped
constexpr std::uint8_t kXlValidTx = 2;     // xl_tx_offset_ns holds a transmit time
constexpr std::uint8_t kXlKernelTx = 4;    // ... read from the kernel
constexpr std::uint8_t kXlUsed = 8;        // ... already sent in an interleaved reply

// Interval estimates: quarter octaves (4 = a factor of 2), in an int8.
constexpr int kQ = 4;
constexpr std::int8_t kNoEstimate = 127;
constexpr int kMinSampleQ = -kQ * (kClientTickFracBits + 1);  // same-tick requests: 2^-5 s
constexpr int kMaxSampleQ = kQ * 14;                          // 2^14 s

constexpr std::int64_t kNsPerTick = kNsPerS >> kClientTickFracBits;  // 62.5 ms

// A transmit time is kept only this close to its receive time (it is stored
// as a 32-bit offset in ns).
constexpr std::int64_t kMaxTxOffsetNs = 2'000'000'000;

// The interval between two hits, `t` ticks apart, as log2 seconds in
// quarter octaves, rounded to whole octaves.
int interval_sample_q(std::uint32_t t) {
  if (t == 0) return kMinSampleQ;
  const std::uint64_t rounded = static_cast<std::uint64_t>(t) + (t >> 1);  // x1.5 rounds log2
  const int octaves = static_cast<int>(std::bit_width(rounded)) - 1;
  return std::min(kQ * (octaves - kClientTickFracBits), kMaxSampleQ);
}

// A rough moving average: the estimate follows a longer interval quickly
// (halfway, but to at most 2.5 octaves below the sample) and a shorter one
// slowly (a quarter octave per request), so that bursts show up without a
// single pause hiding them.
void update_estimate(std::int8_t& est, int sample_q) {
  if (est == kNoEstimate) {
    est = static_cast<std::int8_t>(sample_q);
    return;
  }
  int e = est;
  if (e > sample_q) {
    e -= 1;
  } else if (e < sample_q) {
    const int floor_q = sample_q - 5 * kQ / 2;
    e = e < floor_q ? floor_q : (e + sample_q + 1) / 2;
  }
  est = static_cast<std::int8_t>(e);
}

int report_interval(std::int8_t est) {
  if (est == kNoEstimate) return kClientNoInterval;
  const int e = est;
  // Round half away from zero.
  return e >= 0 ? (e + kQ / 2) / kQ : -((-e + kQ / 2) / kQ);
}

std::uint32_t ago_s(ClientTicks now, ClientTicks then) {
  if (then == 0 || static_cast<std::int32_t>(now - then) < 0) return 0xFFFFFFFFu;
  return (now - then) >> kClientTickFracBits;
}

// Signed difference of two wrapping tick counts.
std::int32_t tick_diff(ClientTicks a, ClientTicks b) { return static_cast<std::int32_t>(a - b); }

}  // namespace

void ClientLog::FreeDeleter::operator()(Record* p) const { std::free(p); }

ClientLog::ClientLog(std::size_t memory_limit_bytes, RateLimiter limiter, const SipKey& hash_key,
                     std::uint32_t tick_offset_ns)
    : limiter_(limiter), hash_key_(hash_key), tick_offset_ns_(tick_offset_ns % kNsPerTick) {
  static_assert(sizeof(Record) == kRecordBytes);
  static_assert(std::is_trivial_v<Record>);
  if (memory_limit_bytes == 0) return;
  std::size_t records = memory_limit_bytes / kRecordBytes;
  records = std::clamp(records / kSetSize * kSetSize, kSetSize, kMaxRecords);
  // calloc: zeroed (empty) records, and for a large table pages that nothing
  // has touched stay out of the resident set.
  auto* p = static_cast<Record*>(std::calloc(records, sizeof(Record)));
  if (p == nullptr) return;  // out of memory: run without a client log
  table_.reset(p);
  capacity_ = static_cast<std::uint32_t>(records);
  sets_ = static_cast<std::uint32_t>(records / kSetSize);
}

ClientLog::~ClientLog() = default;

ClientLog::Key ClientLog::make_key(const IpAddress& a) {
  Key k;
  if (a.is_v4()) {
    k.word = a.v4_host_order();
    k.family = 4;
    return k;
  }
  if (a.is_v4_mapped()) return make_key(a.unmapped());
  for (std::size_t i = 0; i < 8; ++i) k.word = (k.word << 8) | a.bytes[i];
  k.family = 6;
  return k;
}

IpAddress ClientLog::grouped_address(const IpAddress& client) {
  Key k = make_key(client);
  if (k.family == 4) return IpAddress::v4(static_cast<std::uint32_t>(k.word));
  std::array<std::uint8_t, 16> b{};
  for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(k.word >> (56 - 8 * i));
  return IpAddress::v6(b);
}

std::size_t ClientLog::set_of(const Key& k) const {
  // The message length (4 or 8 bytes) keeps the two families apart.
  const std::uint64_t h = siphash24_word(hash_key_, k.word, k.family == 4 ? 4 : 8);
  // Top 32 bits mapped onto [0, sets) by multiplication.
  return static_cast<std::size_t>(((h >> 32) * sets_) >> 32);
}

ClientTicks ClientLog::ticks(TimePoint t) const {
  const std::int64_t ns = t.unix_ns + tick_offset_ns_;
  // Floor division, so that instants before 1970 stay ordered.
  std::int64_t q = ns / kNsPerTick;
  if (ns % kNsPerTick < 0) --q;
  const auto v = static_cast<ClientTicks>(static_cast<std::uint64_t>(q));
  return v == 0 ? 1 : v;  // 0 means never
}

void ClientLog::update(Record& r, ClientTicks now) {
  const ClientTicks prev = r.last_hit;
  r.last_hit = now;
  ++r.hits;
  if (prev == 0 || tick_diff(now, prev) < 0) return;  // first hit, or time went back
  r.tokens = limiter_.refill(r.tokens, prev, now);
  const int sample = interval_sample_q(now - prev);
  update_estimate((r.flags & kDroppedLast) != 0 ? r.timeout_interval_q : r.interval_q, sample);
}

ClientLog::Location ClientLog::locate(const IpAddress& client) const {
  Location where;
  if (capacity_ == 0) return where;
  where.key = make_key(client);
  where.set = static_cast<std::uint32_t>(set_of(where.key));
  const Record* set = table_.get() + static_cast<std::size_t>(where.set) * kSetSize;
  // A set spans kSetSize * 40 = 320 bytes: five or six cache lines.
  const char* first = reinterpret_cast<const char*>(set);
  for (std::size_t off = 0; off < kSetSize * sizeof(Record); off += 64) __builtin_prefetch(first + off, 1);
  __builtin_prefetch(first + kSetSize * sizeof(Record) - 1, 1);
  return where;
}

ClientLog::Index ClientLog::log_access(const IpAddress& client, TimePoint now) {
  if (capacity_ == 0) return kNoRecord;
  Location where;
  where.key = make_key(client);
  where.set = static_cast<std::uint32_t>(set_of(where.key));
  return log_access(where, now);
}

ClientLog::Index ClientLog::log_access(const Location& where, TimePoint now) {
  if (capacity_ == 0 || where.set >= sets_) return kNoRecord;
  const Key& k = where.key;
  const ClientTicks t = ticks(now);
  const std::size_t first = static_cast<std::size_t>(where.set) * kSetSize;
  Record* set = table_.get() + first;
  Record* victim = nullptr;
  for (std::size_t i = 0; i < kSetSize; ++i) {
    Record& r = set[i];
    if (r.family == k.family && r.key == k.word) {
      update(r, t);
      return static_cast<Index>(first + i);
    }
    if (r.family == 0) {  // sets fill in order: the rest is empty too
      victim = &r;
      break;
    }
    if (victim == nullptr || tick_diff(r.last_hit, victim->last_hit) < 0 ||
        (r.last_hit == victim->last_hit && r.hits < victim->hits)) {
      victim = &r;
    }
  }
  if (victim->family != 0) ++evictions_;
  Record& r = *victim;
  r = Record{};
  r.key = k.word;
  r.family = k.family;
  r.tokens = limiter_.full_bucket();
  r.interval_q = kNoEstimate;
  r.timeout_interval_q = kNoEstimate;
  update(r, t);
  return static_cast<Index>(victim - table_.get());
}

RateDecision ClientLog::limit(Index index, std::uint32_t random_bits) {
  if (index >= capacity_ || !limiter_.enabled()) return RateDecision::Pass;
  Record& r = table_[index];
  r.flags = static_cast<std::uint8_t>(r.flags & ~kDroppedLast);
  // Retrying: the interval between requests that followed a drop is more than
  // an octave shorter than between answered ones (or none were answered).
  const bool retrying = r.timeout_interval_q != kNoEstimate && r.timeout_interval_q < r.interval_q - kQ;
  const RateDecision d = limiter_.decide(r.tokens, retrying, random_bits);
  if (d == RateDecision::Drop) {
    r.flags = static_cast<std::uint8_t>(r.flags | kDroppedLast);
    ++r.drops;
  }
  return d;
}

std::optional<InterleavedTx> ClientLog::take_interleaved_tx(Index index, NtpTimestamp origin, TimePoint now) {
  if (index >= capacity_) return std::nullopt;
  Record& r = table_[index];
  if (r.xl_rx == 0 || r.xl_rx != origin.to_u64()) return std::nullopt;
  if ((r.flags & kXlValidTx) == 0 || (r.flags & kXlUsed) != 0) return std::nullopt;
  r.flags = static_cast<std::uint8_t>(r.flags | kXlUsed);
  InterleavedTx out;
  out.tx = origin.to_time(now) + Duration{r.xl_tx_offset_ns};
  out.source = (r.flags & kXlKernelTx) != 0 ? TxSource::Kernel : TxSource::Daemon;
  return out;
}

namespace {
bool tx_offset(NtpTimestamp rx_sent, TimePoint tx, std::int32_t& offset_ns) {
  const std::int64_t d = (tx - rx_sent.to_time(tx)).ns;
  if (d < -kMaxTxOffsetNs || d > kMaxTxOffsetNs) return false;
  offset_ns = static_cast<std::int32_t>(d);
  return true;
}
}  // namespace

void ClientLog::save_timestamps(Index index, NtpTimestamp rx_sent, TimePoint tx, TxSource source) {
  if (index >= capacity_ || rx_sent.is_zero()) return;
  Record& r = table_[index];
  const std::uint64_t rx = rx_sent.to_u64();
  std::uint8_t flags = static_cast<std::uint8_t>(r.flags & kDroppedLast);
  if (r.xl_rx == rx) flags |= kXlUsed;  // a repeated receive timestamp: never hand out either
  r.xl_rx = rx;
  std::int32_t off = 0;
  if (tx_offset(rx_sent, tx, off)) {
    r.xl_tx_offset_ns = off;
    flags |= kXlValidTx;
    if (source == TxSource::Kernel) flags |= kXlKernelTx;
  } else {
    r.xl_tx_offset_ns = 0;
  }
  r.flags = flags;
}

bool ClientLog::update_tx(Index index, NtpTimestamp rx_sent, TimePoint tx, TxSource source) {
  if (index >= capacity_ || rx_sent.is_zero()) return false;
  Record& r = table_[index];
  if (r.xl_rx != rx_sent.to_u64()) return false;
  std::int32_t off = 0;
  if (!tx_offset(rx_sent, tx, off)) return false;
  r.xl_tx_offset_ns = off;
  std::uint8_t flags = static_cast<std::uint8_t>((r.flags & ~kXlKernelTx) | kXlValidTx);
  if (source == TxSource::Kernel) flags |= kXlKernelTx;
  r.flags = flags;
  return true;
}

void ClientLog::clear_timestamps() {
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    Record& r = table_[i];
    r.xl_rx = 0;
    r.xl_tx_offset_ns = 0;
    r.flags = static_cast<std::uint8_t>(r.flags & kDroppedLast);
  }
}

ClientRecordReport ClientLog::make_report(const Record& r, ClientTicks now) const {
  ClientRecordReport out;
  Key k;
  k.word = r.key;
  k.family = r.family;
  if (k.family == 4) {
    out.address = IpAddress::v4(static_cast<std::uint32_t>(k.word));
  } else {
    std::array<std::uint8_t, 16> b{};
    for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(k.word >> (56 - 8 * i));
    out.address = IpAddress::v6(b);
  }
  out.hits = r.hits;
  out.drops = r.drops;
  out.interval_log2 = report_interval(r.interval_q);
  out.timeout_interval_log2 = report_interval(r.timeout_interval_q);
  out.last_hit_ago_s = ago_s(now, r.last_hit);
  return out;
}

std::optional<ClientRecordReport> ClientLog::report(Index index, TimePoint now, std::uint32_t min_hits, bool reset) {
  if (index >= capacity_) return std::nullopt;
  Record& r = table_[index];
  if (r.family == 0) return std::nullopt;
  std::optional<ClientRecordReport> out;
  if (r.hits >= min_hits) out = make_report(r, ticks(now));
  if (reset) {
    r.hits = 0;
    r.drops = 0;
  }
  return out;
}

ClientLog::Index ClientLog::find_index(const IpAddress& client) const {
  if (capacity_ == 0) return kNoRecord;
  const Key k = make_key(client);
  const std::size_t first = set_of(k) * kSetSize;
  for (std::size_t i = first; i < first + kSetSize; ++i) {
    const Record& r = table_[i];
    if (r.family == 0) break;
    if (r.family == k.family && r.key == k.word) return static_cast<Index>(i);
  }
  return kNoRecord;
}

std::optional<ClientRecordReport> ClientLog::find(const IpAddress& client, TimePoint now) const {
  const Index i = find_index(client);
  if (i == kNoRecord) return std::nullopt;
  return make_report(table_[i], ticks(now));
}

void ClientLog::count_drop(Index index) {
  if (index < capacity_) ++table_[index].drops;
}

ClientLogStats ClientLog::stats() const {
  ClientLogStats s;
  s.evictions = evictions_;
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
  for (std::uint32_t i = 0; i < capacity_; ++i) {
    const Record& r = table_[i];
    if (r.family == 0) continue;
    ++s.records;
    if (r.xl_rx == 0) continue;
    // Ordered by signed difference, so that adjacent NTP eras compare right.
    if (s.timestamps == 0 || static_cast<std::int64_t>(r.xl_rx - lo) < 0) lo = r.xl_rx;
    if (s.timestamps == 0 || static_cast<std::int64_t>(r.xl_rx - hi) > 0) hi = r.xl_rx;
    ++s.timestamps;
  }
  if (s.timestamps > 1) s.timestamps_span_s = (hi - lo) >> 32;
  return s;
}

}  // namespace gnomon
