#include "lib/source.hpp"

#include <algorithm>
#include <cmath>

namespace gnomon {
namespace {

// Burst requests are spaced min(2 s, poll interval / 4).
constexpr double kMaxBurstIntervalS = 2.0;
constexpr double kMaxBurstPollRatio = 0.25;
constexpr int kIburstGoodSamples = 4;
// Every wait until the next request is stretched by a random 0..2 %, as
// chronyd does, so that clients started together drift apart instead of
// reaching a server in step.
constexpr double kTimerRandomness = 0.02;
constexpr int kIburstTotalSamples = 8;
constexpr int kAutoBurstGoodSamples = 1;
// After iburst (SourceOptions::iburst_ramp), the poll interval starts at
// 2^3 s and grows to the poll within at most this many requests.
constexpr int kIburstRampFirstPoll = 3;
constexpr int kMaxRampRequests = 8;
constexpr int kMaxAutoBurstTotalSamples = 4;
// Shortest poll allowed when the source is not on a LAN (log2 s).
constexpr int kMinNonLanPoll = 0;
// Our clock's assumed frequency error bound for the delay tests (chrony's
// maxclockerror default, 1 ppm).
constexpr double kMaxClockError = 1e-6;
// Limits of configurable ratios (chrony's).
constexpr double kMaxMaxDelayS = 1e3;
constexpr double kMaxDelayRatio = 1e6;

// Interleaved requests only while fewer requests than this went unanswered,
// so that a server never answers with a very old transmit timestamp.
constexpr int kMaxClientInterleavedTx = 4;
// An interleaved reply's sample uses the previous request's transmit time
// when that exchange's round trip is below this fraction of the time from its
// reply to the latest request (the shorter intervals give a better delay).
constexpr double kMaxInterleavedRoundTripRatio = 0.1;

constexpr std::uint32_t kKodRate = 0x52415445u;  // "RATE"
constexpr std::uint32_t kKodDeny = 0x44454E59u;  // "DENY"
constexpr std::uint32_t kKodRstr = 0x52535452u;  // "RSTR"

constexpr std::uint16_t kTest1 = 0x200;
constexpr std::uint16_t kTest2 = 0x100;
constexpr std::uint16_t kTest3 = 0x080;
constexpr std::uint16_t kTest5 = 0x040;
constexpr std::uint16_t kTest6 = 0x020;
constexpr std::uint16_t kTest7 = 0x010;
constexpr std::uint16_t kTestA = 0x008;
constexpr std::uint16_t kTestB = 0x004;
constexpr std::uint16_t kTestC = 0x002;
constexpr std::uint16_t kTestD = 0x001;

double seconds_between(TimePoint a, TimePoint b) { return (a - b).to_seconds(); }

// UTC calendar month and day of an instant (proleptic Gregorian).
void utc_month_day(TimePoint t, int& month, int& day) {
  std::int64_t days = t.unix_ns / kNsPerS / 86400;
  if (t.unix_ns < 0 && (t.unix_ns % (kNsPerS * 86400)) != 0) --days;
  // Shift the epoch to 0000-03-01 so leap days end each 4/100/400-year cycle.
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;                                   // [0, 146096]
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);            // [0, 365]
  const std::int64_t mp = (5 * doy + 2) / 153;                                 // [0, 11], March = 0
  day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
}

// A leap second may only be announced for the end of June or December.
bool leap_day(TimePoint t) {
  int month = 0;
  int day = 0;
  utc_month_day(t, month, day);
  return (month == 6 && day == 30) || (month == 12 && day == 31);
}

// 64 random bits as an NTP timestamp, never zero (a zero origin would fail
// test 3 at the server's peer).
NtpTimestamp random_timestamp(RandomSource& rng) {
  std::array<std::uint8_t, 8> random{};
  rng.fill(random);
  NtpTimestamp t{};
  for (std::size_t i = 0; i < 4; ++i) {
    t.seconds = (t.seconds << 8) | random[i];
    t.fraction = (t.fraction << 8) | random[i + 4];
  }
  if (t.is_zero()) t.fraction = 1;
  return t;
}

KissCode kiss_code(std::uint32_t refid) {
  switch (refid) {
    case kKodRate:
      return KissCode::Rate;
    case kKodDeny:
      return KissCode::Deny;
    case kKodRstr:
      return KissCode::Rstr;
    default:
      return KissCode::Other;
  }
}

}  // namespace

SourceOptions SourceOptions::from_config(const SourceConfig& config) {
  SourceOptions o;
  o.minpoll = config.minpoll;
  o.maxpoll = config.maxpoll;
  o.iburst = config.iburst;
  o.max_delay_s = config.maxdelay_s;
  o.prefer = config.prefer;
  o.noselect = config.noselect;
  o.require = config.require;
  o.xleave = config.xleave;
  o.key = config.key;
  o.nts = config.nts;
  o.burst = config.burst;
  o.start_online = !config.offline;
  o.trust = config.trust;
  o.max_delay_ratio = config.maxdelayratio;
  o.max_delay_dev_ratio = config.maxdelaydevratio;
  o.max_delay_quantile = config.maxdelayquant;
  if (config.polltarget) o.poll_target = *config.polltarget;
  if (config.minsamples) o.stats.min_samples = *config.minsamples;
  if (config.maxsamples) o.stats.max_samples = *config.maxsamples;
  o.min_stratum = config.minstratum;
  o.version = config.version;
  o.filter_length = config.filter;
  o.offset_correction_s = config.offset_s;
  return o;
}

Source::Source(const SocketAddress& remote, const SourceOptions& options)
    : remote_(remote),
      options_(options),
      stats_(options.stats),
      filter_(options.filter_length),
      delay_quantile_(options.max_delay_quantile) {
  SourceOptions& o = options_;
  if (o.minpoll < kMinPoll || o.minpoll > kMaxPoll) o.minpoll = std::clamp(o.minpoll, kMinPoll, kMaxPoll);
  if (o.maxpoll < kMinPoll || o.maxpoll > kMaxPoll) o.maxpoll = std::clamp(o.maxpoll, kMinPoll, kMaxPoll);
  if (o.maxpoll < o.minpoll) o.maxpoll = o.minpoll;
  if (!(o.max_delay_s >= 0.0)) o.max_delay_s = 0.0;
  o.max_delay_s = std::min(o.max_delay_s, kMaxMaxDelayS);
  if (!(o.max_delay_ratio >= 0.0)) o.max_delay_ratio = 0.0;
  o.max_delay_ratio = std::min(o.max_delay_ratio, kMaxDelayRatio);
  if (!(o.max_delay_dev_ratio >= 0.0)) o.max_delay_dev_ratio = 0.0;
  o.max_delay_dev_ratio = std::min(o.max_delay_dev_ratio, kMaxDelayRatio);
  o.poll_target = std::max(1, o.poll_target);
  o.version = std::clamp(o.version, 1, 4);
  o.min_stratum = std::clamp(o.min_stratum, 0, 15);
  if (!std::isfinite(o.offset_correction_s)) o.offset_correction_s = 0.0;
  poll_ = std::max(o.minpoll, kMinNonLanPoll);
  report_.remote = remote_;
}

void Source::start(TimePoint now) {
  if (started_) return;
  started_ = true;
  if (options_.start_online) set_online(now, true);
}

std::uint32_t Source::refid() const {
  return remote_.ip.is_v4() ? remote_.ip.v4_host_order() : 0;
}

void Source::on_clock_stepped(Duration offset) {
  stats_.on_clock_stepped(offset);
  filter_.on_clock_stepped(offset);
  if (next_timer_) *next_timer_ = *next_timer_ - offset;
  if (last_tx_) *last_tx_ = *last_tx_ - offset;
  if (last_good_rx_) *last_good_rx_ = *last_good_rx_ - offset;
  if (local_rx_) *local_rx_ = *local_rx_ - offset;
  if (prev_local_tx_) *prev_local_tx_ = *prev_local_tx_ - offset;
  if (request_outstanding_) valid_rx_ = true;  // treat the request as answered
}

void Source::on_unknown_step(Duration offset) {
  on_clock_stepped(offset);
  stats_.reset();
  filter_.reset();
}

void Source::on_clock_slewed(TimePoint when, double offset_s, double dfreq) {
  stats_.on_clock_slewed(when, offset_s, dfreq);
  filter_.on_clock_slewed(when, offset_s, dfreq);
  if (!std::isfinite(offset_s) || !std::isfinite(dfreq) || std::fabs(dfreq) >= 0.5) return;
  // A local time t read before the slew reads t + delta in the new timescale.
  const auto rebase = [&](std::optional<TimePoint>& t) {
    if (t) *t = *t + Duration::from_seconds(seconds_between(when, *t) * dfreq - offset_s);
  };
  rebase(local_rx_);
  rebase(prev_local_tx_);
}

// --- Timers ------------------------------------------------------------------

void Source::restart_timer(TimePoint now, double delay_s) {
  if (!(delay_s >= 0.0)) delay_s = 0.0;
  next_timer_ = now + Duration::from_seconds(delay_s * timer_stretch_);
}

void Source::draw_timer_stretch(RandomSource& rng) {
  std::array<std::uint8_t, 4> r{};
  rng.fill(r);
  const double u = static_cast<double>((std::uint32_t{r[0]} << 24) | (std::uint32_t{r[1]} << 16) |
                                       (std::uint32_t{r[2]} << 8) | r[3]) /
                   4294967296.0;
  timer_stretch_ = 1.0 + kTimerRandomness * u;
}

double Source::transmit_delay_s(TimePoint now, bool on_tx) const {
  double since_tx = 0.0;
  if (!on_tx && last_tx_) since_tx = std::max(0.0, seconds_between(now, *last_tx_));
  double delay = log2_to_seconds(poll_);
  if (bursting()) {
    delay = std::min(kMaxBurstIntervalS, kMaxBurstPollRatio * delay);
  } else if (ramp_poll_ > 0 && ramp_poll_ < poll_) {
    delay = log2_to_seconds(ramp_poll_);
  }
  delay -= since_tx;
  return std::max(0.0, delay);
}

void Source::start_burst(TimePoint now, int good, int total) {
  switch (opmode_) {
    case SourceOpMode::Online:
    case SourceOpMode::Offline:
      opmode_ = opmode_ == SourceOpMode::Online ? SourceOpMode::BurstWasOnline
                                                : SourceOpMode::BurstWasOffline;
      burst_good_to_go_ = good;
      burst_total_to_go_ = total;
      {
        // First request soon, but keep the spacing from the previous one.
        double delay = last_tx_ ? transmit_delay_s(now, false) : 0.0;
        restart_timer(now, std::max(delay, kInitialDelayS));
      }
      break;
    default:
      break;  // already bursting, or denied
  }
}

void Source::initiate_burst(TimePoint now, int good_samples, int total_samples) {
  start_burst(now, std::max(0, good_samples), std::max(0, total_samples));
}

void Source::end_burst_online() {
  opmode_ = SourceOpMode::Online;
  if (iburst_running_ && options_.iburst_ramp && poll_ > kIburstRampFirstPoll) {
    ramp_poll_ = kIburstRampFirstPoll;
    ramp_left_ = kMaxRampRequests;
    update_ramp();
  }
  iburst_running_ = false;
}

void Source::update_ramp() {
  if (ramp_poll_ <= 0) return;
  // The next interval: the longest (doubling, never shrinking) over which
  // the frequency's uncertainty moves the offset no more than the offset's
  // own uncertainty. The ramp ends when that reaches the poll interval.
  const SourceEstimate e = stats_.estimate();
  int p = ramp_poll_;
  while (p < poll_ && log2_to_seconds(p + 1) * e.frequency_sd <= e.offset_sd_s) ++p;
  ramp_poll_ = p >= poll_ ? 0 : p;
}

void Source::take_offline() {
  iburst_running_ = false;
  ramp_poll_ = 0;
  opmode_ = SourceOpMode::Offline;
  next_timer_.reset();
  reach_ = 0;
  reach_size_ = 0;
  reset_protocol();
}

void Source::reset_protocol() {
  tx_count_ = 0;
  request_outstanding_ = false;
  valid_rx_ = false;
  sent_transmit_ = NtpTimestamp{};
  remote_receive_ = NtpTimestamp{};
  remote_transmit_ = NtpTimestamp{};
  sent_interleaved_ = false;
  sent_receive_ = NtpTimestamp{};
  local_rx_.reset();
  valid_timestamps_ = false;
  remote_root_delay_s_ = 0.0;
  remote_root_dispersion_s_ = 0.0;
  prev_local_tx_.reset();
}

void Source::set_online(TimePoint now, bool online) {
  started_ = true;
  if (online) {
    switch (opmode_) {
      case SourceOpMode::Offline: {
        opmode_ = SourceOpMode::Online;
        reset_protocol();
        double delay = last_tx_ ? transmit_delay_s(now, false) : 0.0;
        restart_timer(now, std::max(delay, kInitialDelayS));
        if (options_.iburst) {
          start_burst(now, kIburstGoodSamples, kIburstTotalSamples);
          iburst_running_ = bursting();
        }
        break;
      }
      case SourceOpMode::BurstWasOffline:
        opmode_ = SourceOpMode::BurstWasOnline;
        break;
      default:
        break;
    }
  } else {
    switch (opmode_) {
      case SourceOpMode::Online:
        take_offline();
        break;
      case SourceOpMode::BurstWasOnline:
        opmode_ = SourceOpMode::BurstWasOffline;
        break;
      default:
        break;
    }
  }
}

void Source::reset_poll(TimePoint now) {
  poll_score_ = 0.0;
  if (poll_ != options_.minpoll) {
    poll_ = options_.minpoll;
    if (next_timer_) restart_timer(now, transmit_delay_s(now, false));
  }
}

void Source::change_address(TimePoint now, const SocketAddress& remote) {
  reset_protocol();
  remote_ = remote;
  if (reachable()) reset_poll(now);
  stats_.reset();
  filter_.reset();
  delay_quantile_.reset();
  reach_ = 0;
  reach_size_ = 0;
  stratum_ = 0;
  leap_ = Leap::Unsynchronised;
  has_status_ = false;
  last_good_rx_.reset();
  report_ = NtpDataReport{};
  report_.remote = remote_;
  if (opmode_ == SourceOpMode::Denied) {
    // A new server: the old one's refusal does not apply.
    opmode_ = SourceOpMode::Offline;
    kod_stop_ = KissCode::None;
    set_online(now, true);
  }
}

TimerAction Source::handle_timer(TimePoint now, RandomSource& rng) {
  TimerAction action;
  if (!next_timer_ || now < *next_timer_) return action;
  next_timer_.reset();
  draw_timer_stretch(rng);

  switch (opmode_) {
    case SourceOpMode::BurstWasOnline:
      // Return to online before the last request of the burst.
      if (burst_total_to_go_ <= 1) end_burst_online();
      break;
    case SourceOpMode::BurstWasOffline:
      if (burst_total_to_go_ <= 0) {
        take_offline();
        return action;
      }
      break;
    case SourceOpMode::Online:
      // chrony's `burst`: a short burst at each poll, as long as the average
      // interval stays at or above minpoll.
      if (options_.burst && poll_ > options_.minpoll) {
        opmode_ = SourceOpMode::BurstWasOnline;
        burst_good_to_go_ = kAutoBurstGoodSamples;
        burst_total_to_go_ = std::min(1 << std::min(poll_ - options_.minpoll, 30),
                                      kMaxAutoBurstTotalSamples);
      }
      break;
    case SourceOpMode::Offline:
    case SourceOpMode::Denied:
      return action;
  }

  // An authenticator may have negotiated where requests go (NTS-KE).
  if (auth_) {
    if (auto to = auth_->ntp_address(); to && !(*to == remote_)) change_address(now, *to);
  }

  // Build the request: mode 3, our version, random transmit timestamp, and
  // every other field zero. An interleaved request also carries the last
  // valid reply's receive timestamp as origin and a random cookie as receive
  // timestamp, which an interleaved reply returns as its origin.
  const NtpTimestamp xmt = random_timestamp(rng);
  NtpHeader h{};
  h.leap = Leap::None;
  h.version = static_cast<std::uint8_t>(options_.version);
  h.mode = NtpMode::Client;
  h.transmit_ts = xmt;
  const bool interleaved = options_.xleave && options_.version == 4 && !remote_receive_.is_zero() &&
                           tx_count_ < kMaxClientInterleavedTx;
  NtpTimestamp cookie{};
  if (interleaved) {
    cookie = random_timestamp(rng);
    if (cookie == xmt || cookie == remote_receive_) cookie.fraction ^= 2u;
    h.origin_ts = remote_receive_;
    h.receive_ts = cookie;
  }

  OutgoingRequest req;
  req.to = remote_;
  encode_header(h, std::span<std::uint8_t, kNtpHeaderLen>(req.bytes.data(), kNtpHeaderLen));
  req.length = kNtpHeaderLen;
  if (auth_) {
    req.length = auth_->sign_request(std::span<std::uint8_t>(req.bytes), kNtpHeaderLen, now);
  } else if (options_.nts) {
    req.length = 0;  // never plain NTP to an NTS source
  }
  if (req.length == 0) {
    // No authenticated request possible now (NTS key exchange pending): a
    // missed poll, as chrony counts it.
    if (bursting()) --burst_total_to_go_;
    adjust_poll(0.25);
    update_reach(false);
    process_sample(std::nullopt);
    restart_timer(now, transmit_delay_s(now, true));
    return action;
  }

  sent_transmit_ = xmt;
  sent_interleaved_ = interleaved;
  sent_receive_ = cookie;
  valid_rx_ = false;
  request_outstanding_ = true;
  last_tx_ = now;
  ++tx_count_;
  ++report_.total_tx;

  // The previous request went unanswered: back off and note the loss.
  if (tx_count_ >= 2) {
    adjust_poll(sync_peer_ ? 0.1 : 0.25);
    update_reach(false);
    process_sample(std::nullopt);
  }

  if (bursting()) {
    --burst_total_to_go_;
  } else if (ramp_poll_ > 0 && --ramp_left_ <= 0) {
    ramp_poll_ = 0;
  }

  restart_timer(now, transmit_delay_s(now, true));
  action.request = req;
  action.receive_deadline = now + Duration::from_seconds(options_.max_delay_s + kMaxServerIntervalS);
  return action;
}

// --- Poll adaptation -----------------------------------------------------------

void Source::update_reach(bool ok) {
  reach_ = static_cast<std::uint8_t>(((reach_ << 1) | (ok ? 1 : 0)) & 0xFF);
  reach_size_ = std::min(reach_size_ + 1, kReachBits);
}

void Source::adjust_poll(double adj) {
  if (!std::isfinite(adj)) return;
  poll_score_ += adj;
  if (poll_score_ >= 1.0) {
    const int whole = static_cast<int>(std::min(poll_score_, 64.0));
    poll_ += whole;
    poll_score_ -= whole;
  }
  if (poll_score_ < 0.0) {
    const int whole = static_cast<int>(std::max(poll_score_ - 1.0, -64.0));
    poll_ += whole;
    poll_score_ -= whole;
  }
  if (poll_ < options_.minpoll) {
    poll_ = options_.minpoll;
    poll_score_ = 0.0;
  } else if (poll_ > options_.maxpoll) {
    poll_ = options_.maxpoll;
    poll_score_ = 1.0;
  }
  // Sub-second polling only for a reachable source on a LAN.
  if (poll_ < kMinNonLanPoll &&
      (!reachable() || stats_.min_round_trip_delay_s() > kMaxLanDelayS)) {
    poll_ = kMinNonLanPoll;
  }
}

double Source::poll_adjustment(double error_s, double peer_distance_s) const {
  if (peer_distance_s > 0.0 && error_s > peer_distance_s) {
    // The prediction missed by more than the measurement's own error: we are
    // not tracking the source well, so sample more often.
    return -std::log2(error_s / peer_distance_s);
  }
  const double n = options_.poll_rule == PollRule::KalmanEffectiveSamples
                       ? stats_.kalman_effective_samples()
                       : static_cast<double>(stats_.samples());
  const double target = static_cast<double>(options_.poll_target);
  double adj = (n / target - 1.0) / target;
  if (n < target) adj *= 2.0;
  return adj;
}

// --- Replies -------------------------------------------------------------------

bool Source::process_sample(const std::optional<NtpSample>& sample) {
  const std::optional<NtpSample> s = filter_.accumulate(sample);
  if (!s) return false;
  const double predicted = stats_.predict_offset(s->time);
  const double error = std::fabs(s->offset_s - predicted);
  stats_.add_sample(*s);
  update_ramp();
  adjust_poll(poll_adjustment(error, s->peer_dispersion_s + 0.5 * s->peer_delay_s));
  return true;
}

void Source::back_off_for_rate_kod(TimePoint now) {
  // Wait 4 more poll intervals, even past maxpoll (a server that asks us
  // to slow down is obeyed, as chronyd does), and stop any burst.
  if (opmode_ == SourceOpMode::BurstWasOnline) opmode_ = SourceOpMode::Online;
  if (opmode_ == SourceOpMode::BurstWasOffline) {
    take_offline();
    return;
  }
  if (opmode_ != SourceOpMode::Online) return;
  restart_timer(now, transmit_delay_s(now, false) + 4.0 * log2_to_seconds(poll_));
}

ReplyResult Source::handle_reply(std::span<const std::uint8_t> bytes, const ReplyContext& ctx) {
  ReplyResult result;
  if (!(ctx.from == remote_)) return result;
  if (sent_transmit_.is_zero()) return result;  // nothing was asked
  ++report_.total_rx;
  if (ctx.rx_source == TimestampSource::Kernel) ++report_.total_kernel_rx;

  ParsedPacket pkt;
  if (parse_packet(bytes, pkt) != ParseError::None) return result;
  const NtpHeader& h = pkt.header;
  if (h.mode != NtpMode::Server) return result;

  const double pkt_root_delay = h.root_delay.to_seconds();
  const double pkt_root_dispersion = h.root_dispersion.to_seconds();

  // RFC 5905 tests. 1: not a duplicate of the last valid reply. 2: answers
  // our latest request. 3: timestamps present. 5: authentication: the
  // authenticator's verdict; a source with a key or NTS but no authenticator
  // accepts nothing, so there is never a silent fallback to plain NTP.
  // Test 2 in basic mode: the origin is our transmit timestamp; in
  // interleaved mode: the cookie of an interleaved request.
  const bool test1 = !(h.receive_ts == remote_receive_) || !(h.transmit_ts == remote_transmit_);
  const bool test2n = h.origin_ts == sent_transmit_;
  const bool test2i = sent_interleaved_ && h.origin_ts == sent_receive_;
  const bool interleaved = !test2n && test2i;
  bool test2 = test2n || test2i;
  bool test3 = !h.origin_ts.is_zero() && !h.receive_ts.is_zero() && !h.transmit_ts.is_zero();
  bool test5 = !options_.key.has_value() && !options_.nts;
  if (auth_) test5 = test2 && auth_->verify_reply(bytes, pkt) == ReplyAuth::Ok;
  // 6: the server is synchronised. 7: its root distance is sane.
  const bool test6 = h.leap != Leap::Unsynchronised && h.stratum < 16 && h.stratum != 0;
  const bool test7 = pkt_root_delay / 2.0 + pkt_root_dispersion < kMaxDispersionS;

  bool valid = test1 && test2 && test3 && test5;
  bool synced = valid && test6 && test7;

  KissCode kod = KissCode::None;
  if (test1 && test2 && test5 && !valid_rx_ && h.leap == Leap::Unsynchronised && h.stratum == 0) {
    kod = kiss_code(h.reference_id);
  }

  NtpSample sample;
  double response_time_s = 0.0;
  bool test_a = false;
  bool test_b = false;
  bool test_c = false;
  bool test_d = false;
  // The four timestamps of the sample. Basic mode: this exchange's. An
  // interleaved reply carries the precise transmit time of the server's
  // previous reply, so the sample is of the previous exchange: our transmit
  // time of the previous request, the server's receive time of it, that
  // transmit time, and our receive time of the previous reply. If that round
  // trip was long against the time from the previous reply to this request
  // (very short polls), the pair of one-way legs around the server's previous
  // transmit is used instead, as chrony does.
  TimePoint local_tx = ctx.tx_time;
  TimePoint local_rx = ctx.rx_time;
  TimestampSource local_tx_source = ctx.tx_source;
  TimestampSource local_rx_source = ctx.rx_source;
  // Timestamps from the server are resolved against our receive time, so
  // that any offset up to 68 years and the 2036 era wrap come out right.
  TimePoint remote_rx = h.receive_ts.to_time(ctx.rx_time);
  TimePoint remote_request_rx = remote_rx;
  const TimePoint remote_tx = h.transmit_ts.to_time(ctx.rx_time);
  double root_delay = pkt_root_delay;
  double root_dispersion = pkt_root_dispersion;
  // The first interleaved reply after a basic sample was accumulated would
  // reuse that exchange: test A fails it.
  bool reused_exchange = false;
  const bool have_timestamps = synced && (!interleaved || (valid_timestamps_ && local_rx_));
  if (have_timestamps && interleaved) {
    local_rx = *local_rx_;
    local_rx_source = local_rx_source_;
    const TimePoint prev_remote_rx = remote_receive_.to_time(ctx.rx_time);
    if (prev_local_tx_ && kMaxInterleavedRoundTripRatio * seconds_between(ctx.tx_time, *local_rx_) >
                              seconds_between(*local_rx_, *prev_local_tx_)) {
      local_tx = *prev_local_tx_;
      local_tx_source = prev_local_tx_source_;
      remote_rx = prev_remote_rx;
      root_delay = remote_root_delay_s_;
      root_dispersion = remote_root_dispersion_s_;
    } else {
      reused_exchange = !prev_local_tx_;
      root_delay = std::max(pkt_root_delay, remote_root_delay_s_);
      root_dispersion = std::max(pkt_root_dispersion, remote_root_dispersion_s_);
    }
    remote_request_rx = prev_remote_rx;
  }
  if (have_timestamps) {
    const Duration remote_interval = remote_tx - remote_rx;
    const Duration local_interval = local_rx - local_tx;
    const TimePoint remote_avg = remote_rx + Duration{remote_interval.ns / 2};
    const TimePoint local_avg = local_tx + Duration{local_interval.ns / 2};
    response_time_s = std::fabs((remote_tx - remote_request_rx).to_seconds());

    const double precision = options_.stats.local_precision_s + log2_to_seconds(h.precision);
    double delay = std::fabs((local_interval - remote_interval).to_seconds());
    if (delay < precision) delay = precision;

    // Frequency error bound of our clock against the source, capped at
    // 2000 ppm, grows the dispersion over the local interval.
    const double skew = std::min(stats_.skew(), kWorstCaseSkew);
    sample.time = local_avg;
    sample.offset_s = (local_avg - remote_avg).to_seconds() - options_.offset_correction_s;
    sample.peer_delay_s = delay;
    sample.peer_dispersion_s = precision + skew * std::fabs(local_interval.to_seconds());
    sample.root_delay_s = root_delay + delay;
    sample.root_dispersion_s = root_dispersion + sample.peer_dispersion_s;
    sample.stratum = std::max<int>(h.stratum, options_.min_stratum);
    sample.leap = leap_day(ctx.rx_time) ? h.leap : Leap::None;

    // A: delay within maxdelay, the server's processing time sane, and the
    // source's time representable (after 1970).
    const double source_time_s = sample.time.to_seconds() - sample.offset_s;
    test_a = sample.peer_delay_s - sample.peer_dispersion_s <= options_.max_delay_s &&
             precision <= options_.max_delay_s && response_time_s <= kMaxServerIntervalS &&
             std::isfinite(sample.offset_s) && source_time_s >= 0.0 && !reused_exchange;

    SourceStats::DelayTestData dt;
    const bool have_dt = stats_.delay_test_data(sample.time, dt);
    // B: delay within maxdelayratio times the minimum.
    test_b = true;
    if (options_.max_delay_ratio >= 1.0 && have_dt) {
      const double max_delay = dt.min_delay_s * options_.max_delay_ratio +
                               dt.last_sample_ago_s * (dt.skew + kMaxClockError);
      test_b = sample.peer_delay_s <= max_delay;
    }
    // C: the increase of delay over the minimum is small against the std
    // dev, unless the offset moved even more than the delay (a real change).
    test_c = true;
    if (options_.max_delay_quantile > 0.0) {
      // By quantile: the delay is at most the chosen quantile of recent ones.
      test_c = delay_quantile_.passes(sample.peer_delay_s);
    } else if (have_dt) {
      const double max_delta = dt.std_dev_s * options_.max_delay_dev_ratio +
                               dt.last_sample_ago_s * (dt.skew + kMaxClockError);
      const double delta = (sample.peer_delay_s - dt.min_delay_s) / 2.0;
      if (delta > max_delta) {
        const double error = dt.predicted_offset_s - sample.offset_s;
        test_c = std::fabs(error) - delta > max_delta;
      }
    }
    // D: the source is not synchronised to us, and is not us.
    test_d = true;
    if (ctx.local_refid != 0 && h.stratum > 1 && h.reference_id == ctx.local_refid) test_d = false;
    if (ctx.our_state != nullptr) {
      const ServedState& us = *ctx.our_state;
      if (h.stratum == us.stratum && h.reference_id == us.refid &&
          h.root_delay == NtpShort::from_seconds(us.root_delay_s) && !h.reference_ts.is_zero() &&
          h.reference_ts == NtpTimestamp::from_time(us.reference_time)) {
        test_d = false;
      }
    }
  } else {
    sample.time = ctx.rx_time;
    sample.stratum = std::max<int>(h.stratum, options_.min_stratum);
    sample.leap = leap_day(ctx.rx_time) ? h.leap : Leap::None;
  }
  bool good = test_a && test_b && test_c && test_d;

  // Remember the timestamps of the first valid reply to a request: for test 1
  // and for the next interleaved exchange.
  if (valid && !valid_rx_) {
    remote_receive_ = h.receive_ts;
    remote_transmit_ = h.transmit_ts;
    local_rx_ = ctx.rx_time;
    local_rx_source_ = ctx.rx_source;
    if (ctx.tx_source == TimestampSource::Kernel) ++report_.total_kernel_tx;
    valid_timestamps_ = synced;
    if (interleaved || !good) {
      prev_local_tx_ = ctx.tx_time;
      prev_local_tx_source_ = ctx.tx_source;
    } else {
      prev_local_tx_.reset();
    }
  }
  // At most one reply per request.
  if (valid_rx_) {
    test2 = test3 = false;
    valid = synced = good = false;
  } else if (valid) {
    valid_rx_ = true;
  }

  result.tests.bits = static_cast<std::uint16_t>(
      (test1 ? kTest1 : 0) | (test2 ? kTest2 : 0) | (test3 ? kTest3 : 0) | (test5 ? kTest5 : 0) |
      (test6 ? kTest6 : 0) | (test7 ? kTest7 : 0) | (test_a ? kTestA : 0) |
      (test_b ? kTestB : 0) | (test_c ? kTestC : 0) | (test_d ? kTestD : 0));
  result.kod = kod;

  if (kod == KissCode::Deny || kod == KissCode::Rstr) {
    // The server refuses us: stop polling it (RFC 5905 7.4).
    opmode_ = SourceOpMode::Denied;
    kod_stop_ = kod;
    next_timer_.reset();
    reach_ = 0;
    request_outstanding_ = false;
  }

  if (valid) {
    remote_root_delay_s_ = pkt_root_delay;
    remote_root_dispersion_s_ = pkt_root_dispersion;
  }

  if (!valid) {
    if (kod == KissCode::Rate) {
      // Tests 1, 2 and 5 passed: the KoD is an answer to our request even
      // without timestamps. Honour it once.
      valid_rx_ = true;
      back_off_for_rate_kod(ctx.timer_now.value_or(ctx.rx_time));
    }
    result.disposition = ReplyDisposition::Invalid;
    return result;
  }

  // At least 8 requests before this one went unanswered.
  const bool returning = synced && tx_count_ > kReachBits;
  tx_count_ = 0;
  request_outstanding_ = false;
  update_reach(synced);
  if (returning && options_.reset_poll_on_return) {
    poll_score_ = 0.0;
    poll_ = std::max(options_.minpoll, kMinNonLanPoll);
  }
  if (synced) {
    stratum_ = std::max<int>(h.stratum, options_.min_stratum);
    if (have_timestamps && options_.max_delay_quantile > 0.0) delay_quantile_.accumulate(sample.peer_delay_s);
    leap_ = sample.leap;
    has_status_ = true;
  }

  if (good) {
    result.stats_updated = process_sample(sample);
    last_good_rx_ = ctx.rx_time;
    if (bursting()) {
      --burst_good_to_go_;
      if (burst_good_to_go_ <= 0) {
        if (opmode_ == SourceOpMode::BurstWasOnline) {
          end_burst_online();
        } else {
          take_offline();
        }
      }
    }
    result.disposition = ReplyDisposition::Accepted;
    result.sample = sample;
  } else {
    // Slowly lengthen the poll while no good reply comes.
    adjust_poll(test_d ? 0.02 : 0.1);
    process_sample(std::nullopt);
    result.disposition = synced ? ReplyDisposition::Rejected : ReplyDisposition::Unsynced;
  }

  // Reschedule the next request from the time of this one.
  if (opmode_ != SourceOpMode::Offline && opmode_ != SourceOpMode::Denied) {
    const TimePoint timer_now = ctx.timer_now.value_or(ctx.rx_time);
    if (kod == KissCode::Rate) {
      back_off_for_rate_kod(timer_now);
    } else {
      restart_timer(timer_now, transmit_delay_s(timer_now, false));
    }
  }

  // The ntpdata report.
  report_.leap = h.leap;
  report_.version = h.version;
  report_.mode = static_cast<std::uint8_t>(h.mode);
  report_.stratum = h.stratum;
  report_.poll = h.poll;
  report_.precision = h.precision;
  report_.root_delay_s = pkt_root_delay;
  report_.root_dispersion_s = pkt_root_dispersion;
  report_.ref_id = h.reference_id;
  report_.ref_time = h.reference_ts.is_zero() ? TimePoint{} : h.reference_ts.to_time(ctx.rx_time);
  report_.offset_s = have_timestamps ? sample.offset_s : 0.0;
  report_.peer_delay_s = have_timestamps ? sample.peer_delay_s : 0.0;
  report_.peer_dispersion_s = have_timestamps ? sample.peer_dispersion_s : 0.0;
  report_.response_time_s = response_time_s;
  report_.tests = result.tests;
  report_.interleaved = interleaved;
  report_.tx_source = local_tx_source;
  report_.rx_source = local_rx_source;
  report_.authenticated = options_.key.has_value() || options_.nts;
  ++report_.total_valid_rx;
  if (good) ++report_.total_good_rx;
  return result;
}

}  // namespace gnomon
