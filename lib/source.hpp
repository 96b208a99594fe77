// One client association with an NTP server (a `server` source or one member
// of a `pool`), as a sans-I/O state machine in the style of ntpd-rs:
//
//   daemon                               Source
//   ------                               ------
//   at next_timer():  handle_timer(now, rng) -> TimerAction{request}
//   send request.bytes to request.to on a NEW socket with a random source
//   port (RFC 9109); record the local TX time of the send
//   reply on that socket: handle_reply(bytes, ReplyContext{rx, tx, from})
//                                         -> ReplyResult{disposition, sample}
//   ask next_timer() again after every call.
//
// The Source applies chrony's client tests (1, 2, 3, 5, 6, 7, A, B, C, D),
// accepts at most one reply per request, keeps the reach register, adapts the
// polling interval (chrony's poll score), runs iburst/burst, honours KoD RATE
// (back-off) and DENY/RSTR (stop), and feeds accepted samples to its
// SourceStats. Requests carry only mode 3, version 4 and a random transmit
// timestamp: every other header field is zero (data minimisation); the real
// local transmit time stays with the daemon.
//
// Interleaved mode (`xleave`, chrony's semantics): once a valid reply came,
// a request carries that reply's receive timestamp as its origin and a random
// cookie as its receive timestamp. A server that recognises its receive
// timestamp answers with the cookie as origin and, as transmit timestamp, the
// precise (kernel) transmit time of its previous reply; the sample is then
// made from the previous exchange, with that precise transmit time and our own
// kernel transmit time of the previous request. A server that does not
// support it answers in basic mode, which is used as before.
//
// Offsets follow lib/sync_types.hpp: local minus source, + = we are ahead.
// Never throws on any input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "lib/config.hpp"
#include "lib/delay_quantile.hpp"
#include "lib/net_address.hpp"
#include "lib/ntp_auth.hpp"
#include "lib/packet.hpp"
#include "lib/sample_filter.hpp"
#include "lib/source_stats.hpp"
#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon {

// Random bytes for request transmit timestamps. The daemon implements it with
// a CSPRNG; tests and the simulator with a seeded generator.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

inline constexpr int kMinPoll = -7;
inline constexpr int kMaxPoll = 24;
// Polls shorter than 1 s need a measured delay below this (a LAN), s.
inline constexpr double kMaxLanDelayS = 0.01;
// chrony: the first request goes out this long after the source starts, s.
inline constexpr double kInitialDelayS = 0.2;
// A server may take at most this long between receive and transmit, s.
inline constexpr double kMaxServerIntervalS = 4.0;
// Root distance limit of test 7 (and of NTP in general), s.
inline constexpr double kMaxDispersionS = 16.0;
// Bits of the reach register.
inline constexpr int kReachBits = 8;

// What "samples held" means for the poll adaptation (chrony: the poll
// lengthens while more than poll_target samples are held, shortens below).
enum class PollRule : std::uint8_t {
  ChronySamples,           // samples in the regression window (chrony)
  KalmanEffectiveSamples,  // how many samples the Kalman estimate is worth:
                           // stays short while the clock wanders fast
};

struct SourceOptions {
  int minpoll = 6;                 // log2 s, clamped to [-7, 24]
  int maxpoll = 10;                // log2 s, clamped to [minpoll, 24]
  bool iburst = false;             // burst of up to 8 requests at start
  bool burst = false;              // chrony's `burst`: a short burst at each poll
  // After the start-up iburst, poll at 8 s, then at intervals that double
  // while the frequency is known well enough (its uncertainty over the next
  // interval stays within the offset's), up to the poll interval and for at
  // most 8 requests: a few extra samples that pin the frequency down soon.
  bool iburst_ramp = false;
  double max_delay_s = 3.0;        // test A
  double max_delay_ratio = 0.0;    // test B, 0 = off
  double max_delay_dev_ratio = 10.0;  // test C
  // Test C by quantile instead: a delay above this quantile (0..1) of the
  // recent delays fails; 0 = off (the ratio test above applies).
  double max_delay_quantile = 0.0;
  // The source's stratum is taken as at least this (0 = as received).
  int min_stratum = 0;
  // chrony's `filter N`: every N polls, the median of the good samples of
  // those polls becomes one sample; 0 or 1 = every sample is used.
  int filter_length = 0;
  // Subtracted from every measured offset, s (+ = the source is taken to
  // be this much ahead of what it reports).
  double offset_correction_s = 0.0;
  int poll_target = 8;             // samples the poll adaptation aims to hold
  PollRule poll_rule = PollRule::ChronySamples;
  // Back to minpoll when a source answers again after 8 polls without a
  // reply, so that a short window of connectivity yields many samples. Off
  // by default, as chrony keeps the backed-off poll: on a lossy path (one
  // reply in 20) the reset makes the source drop in and out of selection
  // several times as often.
  bool reset_poll_on_return = false;
  int version = 4;                 // NTP version of requests, 1..4
  bool start_online = true;        // false: offline until set_online(true)
  // Carried for selection; the Source does not act on them.
  bool prefer = false;
  bool noselect = false;
  bool require = false;
  bool trust = false;
  bool xleave = false;             // interleaved mode (see the top of this file)
  // Authentication: the daemon attaches the ClientAuthenticator.
  std::optional<std::uint32_t> key;
  bool nts = false;
  SourceStatsOptions stats;

  [[nodiscard]] static SourceOptions from_config(const SourceConfig& config);
};

// Longest request the Source builds (room for NTS extension fields later).
inline constexpr std::size_t kMaxRequestLen = 1024;

struct OutgoingRequest {
  SocketAddress to;
  std::array<std::uint8_t, kMaxRequestLen> bytes{};
  std::size_t length = 0;
  [[nodiscard]] std::span<const std::uint8_t> data() const { return {bytes.data(), length}; }
};

struct TimerAction {
  // A request to send now, or nothing (offline, denied, or called early).
  std::optional<OutgoingRequest> request;
  // After this instant no reply to the request can pass test A: the daemon
  // may close the request's socket then.
  TimePoint receive_deadline{};
};

// Kiss-o'-Death codes (RFC 5905 7.4) recognised in a reply from stratum 0.
enum class KissCode : std::uint8_t { None, Rate, Deny, Rstr, Other };

enum class ReplyDisposition : std::uint8_t {
  Ignored,    // not for us: wrong address/port, no request outstanding, not a
              // parsable server-mode reply. Nothing changed but counters.
  Invalid,    // failed test 1, 2, 3 or 5, or a second reply to one request
  Unsynced,   // valid, but the server is unsynchronised or its root
              // distance is too large (tests 6/7; includes KoD replies)
  Rejected,   // synchronised, but failed test A, B, C or D
  Accepted,   // all tests passed: `sample` was added to the statistics
};

// The ten test bits as chronyc's ntpdata shows them ("111 111 1111"): bit 9
// is test 1, then 2, 3, 5, 6, 7, A, B, C, and bit 0 is test D.
struct NtpTests {
  std::uint16_t bits = 0;
  [[nodiscard]] bool test1() const { return bits & 0x200; }
  [[nodiscard]] bool test2() const { return bits & 0x100; }
  [[nodiscard]] bool test3() const { return bits & 0x080; }
  [[nodiscard]] bool test5() const { return bits & 0x040; }
  [[nodiscard]] bool test6() const { return bits & 0x020; }
  [[nodiscard]] bool test7() const { return bits & 0x010; }
  [[nodiscard]] bool testA() const { return bits & 0x008; }
  [[nodiscard]] bool testB() const { return bits & 0x004; }
  [[nodiscard]] bool testC() const { return bits & 0x002; }
  [[nodiscard]] bool testD() const { return bits & 0x001; }
  [[nodiscard]] bool all_passed() const { return bits == 0x3FF; }
};

// Where a local timestamp came from (chronyc ntpdata: "TX/RX timestamping").
enum class TimestampSource : std::uint8_t { Daemon, Kernel, Hardware };
// chrony's letter for it: D, K or H.
[[nodiscard]] constexpr char timestamp_source_letter(TimestampSource s) {
  return s == TimestampSource::Kernel ? 'K' : s == TimestampSource::Hardware ? 'H' : 'D';
}

struct ReplyContext {
  TimePoint rx_time{};             // local (kernel) receive time of the reply
  TimePoint tx_time{};             // local transmit time of the request
  TimestampSource rx_source = TimestampSource::Kernel;
  TimestampSource tx_source = TimestampSource::Daemon;
  SocketAddress from;              // where the reply came from
  // Test D: the refid of our address that the reply arrived at (an IPv4
  // address, or the first 4 bytes of MD5 of an IPv6 one); 0 = not checked.
  std::uint32_t local_refid = 0;
  // Test D "the source is us": what we serve now; nullptr = not checked.
  const ServedState* our_state = nullptr;
  // The clock as read now, on the time scale of the source's timers (the
  // raw clock, without the correction still being slewed). rx_time may be
  // on the corrected scale, which during a long slew is far from it.
  // nullopt: rx_time.
  std::optional<TimePoint> timer_now;
};

struct ReplyResult {
  ReplyDisposition disposition = ReplyDisposition::Ignored;
  NtpTests tests;                  // as evaluated (all zero when Ignored)
  KissCode kod = KissCode::None;   // acted on only with tests 1, 2 and 5 passed
  std::optional<NtpSample> sample; // set when Accepted
  // A sample reached the statistics (with `filter`, only every N polls).
  bool stats_updated = false;
};

// What chronyc's `ntpdata` shows (chrony's RPT_NTPReport). Fields of the
// remote's header are raw. Offsets are gnomon's sign (local minus source);
// chrony's own ntpdata "Offset" is source minus local: negate for the wire.
struct NtpDataReport {
  SocketAddress remote;
  Leap leap = Leap::Unsynchronised;
  std::uint8_t version = 0;
  std::uint8_t mode = 0;
  std::uint8_t stratum = 0;
  std::int8_t poll = 0;
  std::int8_t precision = 0;
  double root_delay_s = 0.0;
  double root_dispersion_s = 0.0;
  std::uint32_t ref_id = 0;
  TimePoint ref_time{};
  double offset_s = 0.0;
  double peer_delay_s = 0.0;
  double peer_dispersion_s = 0.0;
  double response_time_s = 0.0;
  double jitter_asymmetry = 0.0;
  NtpTests tests;
  bool interleaved = false;
  bool authenticated = false;
  // Sources of the local timestamps the last sample was made of.
  TimestampSource tx_source = TimestampSource::Daemon;
  TimestampSource rx_source = TimestampSource::Kernel;
  std::uint32_t total_tx = 0;
  std::uint32_t total_rx = 0;
  std::uint32_t total_valid_rx = 0;
  std::uint32_t total_good_rx = 0;
  std::uint32_t total_kernel_tx = 0;  // requests answered whose kernel TX time we had
  std::uint32_t total_kernel_rx = 0;  // replies received with a kernel RX timestamp
};

enum class SourceOpMode : std::uint8_t {
  Offline,
  Online,
  BurstWasOnline,   // burst running, online afterwards
  BurstWasOffline,  // burst running, offline afterwards
  Denied,           // KoD DENY/RSTR received: no more requests
};

class Source {
 public:
  Source(const SocketAddress& remote, const SourceOptions& options);

  // Starts polling (first request after 0.2 s; an iburst follows if set).
  // Call once; does nothing if the source was created offline.
  void start(TimePoint now);

  // When handle_timer should next be called; nullopt = no timer (offline,
  // denied, or not started).
  [[nodiscard]] std::optional<TimePoint> next_timer() const { return next_timer_; }

  // Sends the next request if `now` >= next_timer(); otherwise does nothing.
  [[nodiscard]] TimerAction handle_timer(TimePoint now, RandomSource& rng);

  // Moves a running timer that is due before `at` to `at` (the engine keeps
  // requests to different sources apart).
  void defer_timer(TimePoint at) {
    if (next_timer_ && *next_timer_ < at) next_timer_ = at;
  }

  // Processes one datagram received on the socket of the latest request.
  [[nodiscard]] ReplyResult handle_reply(std::span<const std::uint8_t> bytes,
                                         const ReplyContext& ctx);

  // --- Commands ------------------------------------------------------------
  void set_online(TimePoint now, bool online);
  // chronyc `burst good/total`.
  void initiate_burst(TimePoint now, int good_samples, int total_samples);
  // Back to minpoll (e.g. after the address changed).
  void reset_poll(TimePoint now);
  // New address for the same source (pool replacement, DNS change): drops
  // samples and protocol state, keeps the options.
  void change_address(TimePoint now, const SocketAddress& remote);
  // Told by the sync engine whether this source is the selected one (it
  // backs off more slowly on lost replies).
  void set_sync_peer(bool selected) { sync_peer_ = selected; }
  // Signs requests and verifies replies (symmetric key or NTS, see
  // lib/ntp_auth.hpp). A source with options().nts sends nothing without one.
  void set_authenticator(std::shared_ptr<ClientAuthenticator> auth) { auth_ = std::move(auth); }
  [[nodiscard]] const ClientAuthenticator* authenticator() const { return auth_.get(); }

  // --- The local clock changed under the samples -----------------------------
  // Stepped back by `offset` (ClockControl::step_offset): samples and timers
  // move with the clock, and a reply to a request in flight is not used (its
  // local timestamps straddle the step).
  void on_clock_stepped(Duration offset);
  // An unexplained step by -offset: timers move as for on_clock_stepped,
  // and the samples, taken on the old time scale, are discarded.
  void on_unknown_step(Duration offset);
  // Slewed: see SourceStats::on_clock_slewed. The local timestamps kept for
  // interleaved mode are rebased the same way.
  void on_clock_slewed(TimePoint when, double offset_s, double dfreq);

  // --- State for selection and reports ---------------------------------------
  [[nodiscard]] const SocketAddress& remote() const { return remote_; }
  [[nodiscard]] const SourceOptions& options() const { return options_; }
  [[nodiscard]] const SourceStats& stats() const { return stats_; }
  [[nodiscard]] SourceStats& stats() { return stats_; }
  [[nodiscard]] SourceOpMode mode() const { return opmode_; }
  [[nodiscard]] bool online() const {
    return opmode_ == SourceOpMode::Online || opmode_ == SourceOpMode::BurstWasOnline;
  }
  [[nodiscard]] bool bursting() const {
    return opmode_ == SourceOpMode::BurstWasOnline || opmode_ == SourceOpMode::BurstWasOffline;
  }
  [[nodiscard]] std::uint8_t reach() const { return reach_; }
  [[nodiscard]] bool reachable() const { return reach_ != 0; }
  // Number of reach updates so far, capped at 8 (chrony's reachability_size).
  [[nodiscard]] int reach_size() const { return reach_size_; }
  [[nodiscard]] int poll() const { return poll_; }          // log2 s
  [[nodiscard]] double poll_score() const { return poll_score_; }
  // The source's stratum and leap from its last synchronised reply. The
  // leap is None unless the reply came on 30 June or 31 December (UTC).
  [[nodiscard]] int stratum() const { return stratum_; }
  [[nodiscard]] Leap leap() const { return leap_; }
  // Whether a synchronised reply (tests 1-3, 5-7) has ever been received
  // since the last reset: chrony's sources show stratum only then.
  [[nodiscard]] bool has_status() const { return has_status_; }
  // The refid of the source's address (IPv4: the address; IPv6: 0 here, the
  // daemon supplies the MD5-based refid if it needs it).
  [[nodiscard]] std::uint32_t refid() const;
  [[nodiscard]] const NtpDataReport& ntp_data() const { return report_; }
  // Local time of the last accepted (good) sample; nullopt if none.
  [[nodiscard]] std::optional<TimePoint> last_rx() const { return last_good_rx_; }
  // The KoD code that stopped the source (Denied mode), or None.
  [[nodiscard]] KissCode kod_stop() const { return kod_stop_; }

 private:
  void reset_protocol();
  void restart_timer(TimePoint now, double delay_s);
  // A new random stretch of the waits, drawn at each request.
  void draw_timer_stretch(RandomSource& rng);
  [[nodiscard]] double transmit_delay_s(TimePoint now, bool on_tx) const;
  void adjust_poll(double adj);
  [[nodiscard]] double poll_adjustment(double error_s, double peer_distance_s) const;
  void update_reach(bool ok);
  void start_burst(TimePoint now, int good, int total);
  void take_offline();
  void end_burst_online();
  void update_ramp();
  void back_off_for_rate_kod(TimePoint now);
  // Feeds one poll's outcome (a good sample, or nothing) through the filter
  // and the statistics; adapts the poll when a sample reaches them.
  // Returns whether the statistics took a sample.
  bool process_sample(const std::optional<NtpSample>& sample);

  SocketAddress remote_;
  SourceOptions options_;
  std::shared_ptr<ClientAuthenticator> auth_;
  SourceStats stats_;
  SampleFilter filter_;
  DelayQuantile delay_quantile_;

  SourceOpMode opmode_ = SourceOpMode::Offline;
  bool started_ = false;
  std::optional<TimePoint> next_timer_;
  double timer_stretch_ = 1.0;  // factor on every wait, 1..1.02
  int poll_ = 6;
  double poll_score_ = 0.0;
  int burst_good_to_go_ = 0;
  int burst_total_to_go_ = 0;
  bool iburst_running_ = false;      // the burst running is the start-up iburst
  int ramp_poll_ = 0;                // log2 s of the next ramp interval (0 = none)
  int ramp_left_ = 0;                // ramp requests left
  bool sync_peer_ = false;

  // Protocol state of the latest exchange.
  int tx_count_ = 0;                 // requests since the last valid reply
  bool request_outstanding_ = false; // a request was sent and no valid reply yet
  bool valid_rx_ = false;            // a valid reply to the latest request came
  NtpTimestamp sent_transmit_{};     // the random transmit timestamp we sent
  std::optional<TimePoint> last_tx_; // local time of the latest request (ours)
  NtpTimestamp remote_receive_{};    // last valid reply's receive timestamp
  NtpTimestamp remote_transmit_{};   // last valid reply's transmit timestamp

  // Interleaved mode: the latest request asked for an interleaved reply with
  // this cookie in its receive timestamp.
  bool sent_interleaved_ = false;
  NtpTimestamp sent_receive_{};
  // Of the exchange of the last valid reply: its local receive time, whether
  // it was synchronised, and the server's root delay and dispersion.
  std::optional<TimePoint> local_rx_;
  TimestampSource local_rx_source_ = TimestampSource::Daemon;
  bool valid_timestamps_ = false;
  double remote_root_delay_s_ = 0.0;
  double remote_root_dispersion_s_ = 0.0;
  // The local transmit time of that exchange's request, kept unless its
  // basic-mode sample was accumulated (a sample is never used twice).
  std::optional<TimePoint> prev_local_tx_;
  TimestampSource prev_local_tx_source_ = TimestampSource::Daemon;

  std::uint8_t reach_ = 0;
  int reach_size_ = 0;
  int stratum_ = 0;
  Leap leap_ = Leap::Unsynchronised;
  bool has_status_ = false;
  KissCode kod_stop_ = KissCode::None;
  std::optional<TimePoint> last_good_rx_;
  NtpDataReport report_;
};

}  // namespace gnomon
