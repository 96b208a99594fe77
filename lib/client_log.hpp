// The client log: one record per client address, in a table of fixed size
// set by a memory limit (chrony's clientloglimit), with the client's hit and
// drop counts, request interval estimates, last-seen time, rate-limit bucket
// and the timestamps of our last reply for interleaved mode. It backs the
// `clients` and `serverstats` commands and the rate limiter.
//
// - Keys: an IPv4 address, or an IPv6 /64 prefix (one host owns a whole /64,
//   so a client cannot escape its limit by hopping within it). The table is
//   addressed by SipHash-2-4 of the key under a secret key, so a client
//   cannot choose addresses that collide.
// - Memory: exactly floor(limit / kRecordBytes) records (8-way sets), taken
//   in one zeroed allocation at construction; pages the kernel has not yet
//   touched cost no RSS. A limit of 0 turns the log off (noclientlog): every
//   call is then a cheap no-op and rate limiting and interleaved mode are off.
// - Eviction: a new client whose set is full replaces the record that was
//   seen least recently in that set (fewest hits on a tie).
// - Interleaved mode (chrony's xleave): the record remembers the receive
//   timestamp we sent in our last reply and the transmit time of that reply
//   (first read by the daemon before the send, then the kernel's timestamp
//   once it arrives). A client in interleaved mode sends that receive
//   timestamp back as its origin; the next reply then carries the saved
//   transmit time, once.
//
// Not thread-safe: each server worker owns one log. No allocation after
// construction. Time comes in as a parameter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "lib/net_address.hpp"
#include "lib/rate_limiter.hpp"
#include "lib/siphash.hpp"
#include "lib/time.hpp"

namespace gnomon {

// Where a transmit timestamp came from (serverstats counts them).
enum class TxSource : std::uint8_t { Daemon, Kernel };

// The interval estimates' "no estimate" value, as chrony reports it.
inline constexpr int kClientNoInterval = 127;

// One client as `clients` shows it.
struct ClientRecordReport {
  IpAddress address;                 // IPv4 address, or the IPv6 /64 prefix
  std::uint32_t hits = 0;            // requests seen (since the last reset)
  std::uint32_t drops = 0;           // requests the rate limiter dropped
  int interval_log2 = kClientNoInterval;          // mean request interval, log2 s
  int timeout_interval_log2 = kClientNoInterval;  // the same after unanswered requests
  std::uint32_t last_hit_ago_s = 0xFFFFFFFFu;     // 0xFFFFFFFF = never
};

struct ClientLogStats {
  std::uint64_t evictions = 0;       // records replaced to make room (chrony's log drops)
  std::uint32_t records = 0;         // records in use
  std::uint32_t timestamps = 0;      // records holding interleaved-mode timestamps
  std::uint64_t timestamps_span_s = 0;  // newest minus oldest of those receive times
};

struct InterleavedTx {
  TimePoint tx;
  TxSource source = TxSource::Daemon;
};

class ClientLog {
 private:
  struct Key {
    std::uint64_t word = 0;
    std::uint8_t family = 0;  // 0 = unusable, 4, 6
  };

 public:
  using Index = std::uint32_t;
  static constexpr Index kNoRecord = 0xFFFFFFFFu;
  static constexpr std::size_t kRecordBytes = 40;
  static constexpr std::size_t kSetSize = 8;
  static constexpr std::size_t kMaxRecords = std::size_t{1} << 24;

  // `hash_key` and `tick_offset_ns` (< 62.5 ms, randomises where tick
  // boundaries fall) should come from a CSPRNG.
  ClientLog(std::size_t memory_limit_bytes, RateLimiter limiter, const SipKey& hash_key,
            std::uint32_t tick_offset_ns = 0);
  ClientLog(ClientLog&&) noexcept = default;
  ClientLog& operator=(ClientLog&&) noexcept = default;
  ~ClientLog();

  [[nodiscard]] bool active() const { return capacity_ != 0; }
  // Number of record slots: the `clients` command's index space.
  [[nodiscard]] std::uint32_t capacity() const { return capacity_; }
  [[nodiscard]] const RateLimiter& limiter() const { return limiter_; }

  // Where a client's record lives. locate() also asks the CPU to start
  // fetching it, so that a server can locate a whole batch of clients before
  // logging them and not wait for each cache miss in turn.
  struct Location {
    Key key;
    std::uint32_t set = 0;
  };
  [[nodiscard]] Location locate(const IpAddress& client) const;

  // Logs one request from `client` at `now`: finds or makes its record,
  // counts the hit, refills its bucket and updates its interval estimate.
  // kNoRecord when the log is off.
  [[nodiscard]] Index log_access(const IpAddress& client, TimePoint now);
  [[nodiscard]] Index log_access(const Location& where, TimePoint now);

  // The rate limiter's verdict for the request just logged at `index`;
  // Pass when rate limiting is off or index is kNoRecord. Counts drops.
  [[nodiscard]] RateDecision limit(Index index, std::uint32_t random_bits);

  // Interleaved mode. If the record's saved receive timestamp equals
  // `origin` (the request's origin timestamp) and has a transmit time not
  // yet handed out, returns it and marks it used. `now` resolves the NTP era.
  [[nodiscard]] std::optional<InterleavedTx> take_interleaved_tx(Index index, NtpTimestamp origin, TimePoint now);
  // After a reply is sent: `rx_sent` is the receive timestamp in it, `tx` its
  // transmit time. Replaces what the record held.
  void save_timestamps(Index index, NtpTimestamp rx_sent, TimePoint tx, TxSource source);
  // A better transmit time for the reply whose receive timestamp was
  // `rx_sent` (the kernel's, read from the error queue). False if the record
  // no longer holds that reply.
  bool update_tx(Index index, NtpTimestamp rx_sent, TimePoint tx, TxSource source);
  // Forgets every saved timestamp (after an unknown step of the clock).
  void clear_timestamps();

  // `clients`: the record at `index` if it is in use and has at least
  // `min_hits` hits; `reset` zeroes its hit and drop counts either way.
  [[nodiscard]] std::optional<ClientRecordReport> report(Index index, TimePoint now, std::uint32_t min_hits,
                                                         bool reset);
  // The record of `client`, if any (for merging logs).
  [[nodiscard]] std::optional<ClientRecordReport> find(const IpAddress& client, TimePoint now) const;
  [[nodiscard]] Index find_index(const IpAddress& client) const;
  // Counts a drop decided elsewhere (e.g. a command the control server refused).
  void count_drop(Index index);
  [[nodiscard]] ClientLogStats stats() const;

  // The key a client is filed under: its IPv4 address, or its /64.
  [[nodiscard]] static IpAddress grouped_address(const IpAddress& client);

 private:
  struct Record;
  struct FreeDeleter {
    void operator()(Record* p) const;
  };

  [[nodiscard]] static Key make_key(const IpAddress& a);
  [[nodiscard]] std::size_t set_of(const Key& k) const;
  [[nodiscard]] ClientTicks ticks(TimePoint t) const;
  [[nodiscard]] ClientRecordReport make_report(const Record& r, ClientTicks now) const;
  void update(Record& r, ClientTicks now);

  std::unique_ptr<Record[], FreeDeleter> table_;
  std::uint32_t capacity_ = 0;
  std::uint32_t sets_ = 0;
  RateLimiter limiter_;
  SipKey hash_key_{};
  std::int64_t tick_offset_ns_ = 0;
  std::uint64_t evictions_ = 0;
};

}  // namespace gnomon
