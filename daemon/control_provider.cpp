#include "daemon/control_provider.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "daemon/random_pool.hpp"

namespace gnomon::daemon {

namespace {

using cmdmon::Address;

// chrony's SOURCE_DATA, SOURCESTATS and SELECT_DATA carry offsets as local
// minus source, gnomon's own sign; only NTP_DATA carries source minus local.
constexpr double kNtpDataSign = -1.0;

Address row_address(const SourceRow& r) {
  if (r.mode == SourceRowMode::Local) return Address::inet4(r.refid);
  if (r.address) return Address::from_ip(r.address->ip);
  return Address::from_id(r.id);
}

template <class Row>
Address stats_address(const Row& r) {
  if (r.address) return Address::from_ip(r.address->ip);
  if (r.refid == kLoclRefid) return Address{};
  return Address::from_id(r.id);
}

cmdmon::SourceState wire_state(char c) {
  switch (c) {
    case '*': return cmdmon::SourceState::Selected;
    case '+': return cmdmon::SourceState::Combined;
    case '-': return cmdmon::SourceState::NotCombined;
    case 'x': return cmdmon::SourceState::Falseticker;
    case '~': return cmdmon::SourceState::Jittery;
    default: return cmdmon::SourceState::Unusable;
  }
}

std::uint32_t seconds_ago(std::optional<double> s) {
  if (!s || !std::isfinite(*s) || *s < 0) return 0xFFFFFFFFu;
  if (*s >= 4294967294.0) return 0xFFFFFFFEu;
  return static_cast<std::uint32_t>(*s);
}

}  // namespace

namespace {
// Command clients are few: 8192 bytes hold 200 of them.
constexpr std::size_t kCommandLogBytes = 8192;

SipKey random_sip_key() {
  RandomPool pool;
  return SipKey{pool.next_u64(), pool.next_u64()};
}

std::int8_t wire_interval(int log2) { return static_cast<std::int8_t>(log2); }
}  // namespace

ControlProvider::ControlProvider(TimeSync& sync, NtpServer* server, std::function<void()> reload_sources)
    : sync_(sync),
      server_(server),
      cmd_log_(kCommandLogBytes, RateLimiter{}, random_sip_key()),
      reload_sources_(std::move(reload_sources)) {}

void ControlProvider::log_command_access(const IpAddress& client, bool dropped) {
  std::lock_guard lock(cmd_log_mutex_);
  const ClientLog::Index i = cmd_log_.log_access(client, sync_.now());
  if (dropped) cmd_log_.count_drop(i);
}

std::uint32_t ControlProvider::source_count() const {
  return static_cast<std::uint32_t>(sync_.engine().sources(sync_.now()).size());
}

std::optional<cmdmon::SourceReport> ControlProvider::source(std::uint32_t index) const {
  auto rows = sync_.engine().sources(sync_.now());
  if (index >= rows.size()) return std::nullopt;
  const SourceRow& r = rows[index];
  cmdmon::SourceReport s;
  s.address = row_address(r);
  s.poll_log2 = r.poll;
  s.stratum = r.stratum;
  s.state = wire_state(r.state);
  s.mode = r.mode == SourceRowMode::Local  ? cmdmon::SourceMode::Reference
           : r.mode == SourceRowMode::Peer ? cmdmon::SourceMode::Peer
                                           : cmdmon::SourceMode::Client;
  s.flags = r.sel_options;
  s.reachability = r.reach;
  if (r.last_sample.valid) {
    s.last_sample_ago_s = seconds_ago(r.last_rx_ago_s);
    s.original_offset_s = r.last_sample.orig_offset_s;
    s.adjusted_offset_s = r.last_sample.offset_s;
    s.error_s = r.last_sample.error_s;
  } else {
    s.last_sample_ago_s = 0xFFFFFFFFu;
  }
  return s;
}

std::optional<cmdmon::SourcestatsReport> ControlProvider::sourcestats(std::uint32_t index) const {
  auto rows = sync_.engine().sourcestats(sync_.now());
  if (index >= rows.size()) return std::nullopt;
  const SourcestatsRow& r = rows[index];
  cmdmon::SourcestatsReport s;
  s.ref_id = r.refid;
  s.address = stats_address(r);
  s.samples = static_cast<std::uint32_t>(std::max(0, r.stats.samples));
  s.runs = static_cast<std::uint32_t>(std::max(0, r.stats.runs));
  s.span_s = static_cast<std::uint32_t>(std::max(0.0, r.stats.span_s));
  s.std_dev_s = r.stats.std_dev_s;
  s.residual_freq_ppm = r.stats.frequency_ppm;
  s.skew_ppm = r.stats.skew_ppm;
  s.offset_s = r.stats.offset_s;
  s.offset_error_s = r.stats.offset_err_s;
  return s;
}

cmdmon::TrackingReport ControlProvider::tracking() const {
  TimePoint now = sync_.now();
  TrackingReport t = sync_.engine().tracking(now);
  cmdmon::TrackingReport w;
  w.ref_id = t.ref_id;
  if (t.source_id) {
    for (const auto& r : sync_.engine().sources(now)) {
      if (r.id == *t.source_id && r.address) w.address = Address::from_ip(r.address->ip);
    }
  }
  w.stratum = t.stratum;
  w.leap = t.leap;
  w.ref_time = t.ref_time;
  w.current_correction_s = -t.system_time_offset_s;
  w.last_offset_s = t.last_offset_s;
  w.rms_offset_s = t.rms_offset_s;
  w.freq_ppm = t.freq_ppm;
  w.residual_freq_ppm = t.resid_freq_ppm;
  w.skew_ppm = t.skew_ppm;
  w.root_delay_s = t.root_delay_s;
  w.root_dispersion_s = t.root_dispersion_s;
  w.last_update_interval_s = t.last_update_interval_s;
  return w;
}

cmdmon::ActivityReport ControlProvider::activity() const {
  ActivityReport a = sync_.engine().activity();
  cmdmon::ActivityReport w;
  w.online = a.online;
  w.offline = a.offline;
  w.burst_online = a.burst_online;
  w.burst_offline = a.burst_offline;
  w.unresolved = a.unresolved;
  return w;
}

std::optional<std::string> ControlProvider::source_name(const Address& address) const {
  for (const auto& r : sync_.engine().sources(sync_.now())) {
    if (r.mode == SourceRowMode::Local) continue;
    if (row_address(r) == address) return r.name;
  }
  return std::nullopt;
}

std::optional<cmdmon::SelectDataReport> ControlProvider::selectdata(std::uint32_t index) const {
  auto rows = sync_.engine().selectdata(sync_.now());
  if (index >= rows.size()) return std::nullopt;
  const SelectdataRow& r = rows[index];
  cmdmon::SelectDataReport s;
  s.ref_id = r.refid;
  s.address = stats_address(r);
  s.state = r.state_letter;
  s.authenticated = r.authenticated;
  s.leap = r.info.leap;
  s.configured_options = r.info.conf_options;
  s.effective_options = r.info.eff_options;
  s.last_sample_ago_s = seconds_ago(r.info.last_sample_ago_s);
  s.score = r.info.score;
  s.interval_low_s = r.info.lo_limit_s;
  s.interval_high_s = r.info.hi_limit_s;
  return s;
}

std::optional<cmdmon::NtpDataReport> ControlProvider::ntp_data(const Address& remote) const {
  auto ip = remote.ip();
  if (!ip) return std::nullopt;
  auto d = sync_.engine().ntpdata(*ip);
  if (!d) return std::nullopt;
  cmdmon::NtpDataReport w;
  w.remote_address = Address::from_ip(d->remote.ip);
  w.remote_port = d->remote.port;
  if (d->remote.ip.is_loopback()) w.local_address = Address::from_ip(d->remote.ip.is_v4() ? IpAddress::v4(0x7F000001u) : d->remote.ip);
  w.leap = d->leap;
  w.version = d->version;
  w.mode = d->mode;
  w.stratum = d->stratum;
  w.poll_log2 = d->poll;
  w.precision_log2 = d->precision;
  w.root_delay_s = d->root_delay_s;
  w.root_dispersion_s = d->root_dispersion_s;
  w.ref_id = d->ref_id;
  w.ref_time = d->ref_time;
  w.offset_s = kNtpDataSign * d->offset_s;
  w.peer_delay_s = d->peer_delay_s;
  w.peer_dispersion_s = d->peer_dispersion_s;
  w.response_time_s = d->response_time_s;
  w.jitter_asymmetry = d->jitter_asymmetry;
  w.tests = d->tests.bits;
  w.interleaved = d->interleaved;
  w.authenticated = d->authenticated;
  w.tx_timestamping = timestamp_source_letter(d->tx_source);
  w.rx_timestamping = timestamp_source_letter(d->rx_source);
  w.total_tx = d->total_tx;
  w.total_rx = d->total_rx;
  w.total_valid_rx = d->total_valid_rx;
  w.total_good_rx = d->total_good_rx;
  w.total_kernel_tx_timestamps = d->total_kernel_tx;
  w.total_kernel_rx_timestamps = d->total_kernel_rx;
  return w;
}

cmdmon::ServerStatsReport ControlProvider::server_stats() const {
  cmdmon::ServerStatsReport s;
  if (server_ != nullptr) {
    ServerCountersSnapshot c = server_->counters();
    // Every datagram on the NTP port counts, and every one not answered is a
    // drop (chrony counts only requests past its checks, and only
    // rate-limit drops).
    s.ntp_hits = c.received;
    s.ntp_drops = c.dropped_total();
    s.ntp_interleaved_hits = c.interleaved;
    s.ntp_daemon_rx_timestamps = c.rx_daemon_stamps;
    s.ntp_kernel_rx_timestamps = c.rx_kernel_stamps;
    s.ntp_daemon_tx_timestamps = c.tx_daemon_stamps;
    s.ntp_kernel_tx_timestamps = c.tx_kernel_stamps;
    const ClientLogStats log = server_->client_stats();
    s.log_drops = log.evictions;
    s.ntp_timestamps = log.timestamps;
    s.ntp_span_s = log.timestamps_span_s;
  }
  {
    std::lock_guard lock(cmd_log_mutex_);
    s.log_drops += cmd_log_.stats().evictions;
  }
  if (control_ != nullptr) {
    s.cmd_hits = control_->received.get();
    s.cmd_drops = control_->dropped.get();
  }
  return s;
}

std::optional<cmdmon::ClientAccessesPage> ControlProvider::client_accesses(std::uint32_t first_index,
                                                                           std::uint32_t max_clients,
                                                                           std::uint32_t min_hits, bool reset) {
  if (server_ == nullptr || !server_->client_log_active()) return std::nullopt;  // noclientlog
  const TimePoint now = sync_.now();
  std::lock_guard lock(cmd_log_mutex_);
  const std::uint32_t n_ntp = server_->client_capacity();
  const std::uint32_t n_total = n_ntp + cmd_log_.capacity();
  max_clients = std::min(max_clients, cmdmon::kMaxClientsPerReply);
  cmdmon::ClientAccessesPage page;
  page.n_indices = n_total;
  std::uint32_t i = first_index;
  for (; i < n_total && page.clients.size() < max_clients; ++i) {
    std::optional<ClientRecordReport> ntp;
    std::optional<ClientRecordReport> cmd;
    if (i < n_ntp) {
      ntp = server_->client_report(i, now, 0, reset);
      if (!ntp) continue;
      const ClientLog::Index c = cmd_log_.find_index(ntp->address);
      if (c != ClientLog::kNoRecord) cmd = cmd_log_.report(c, now, 0, reset);
    } else {
      cmd = cmd_log_.report(i - n_ntp, now, 0, false);
      if (!cmd) continue;
      // An address that also sent NTP requests is reported with those.
      if (server_->find_client(cmd->address, now)) continue;
      if (reset) (void)cmd_log_.report(i - n_ntp, now, 0, true);
    }
    const bool enough = (ntp && ntp->hits >= min_hits) || (cmd && cmd->hits >= min_hits);
    if (!enough) continue;
    cmdmon::ClientAccessReport r;
    r.address = Address::from_ip(ntp ? ntp->address : cmd->address);
    if (ntp) {
      r.ntp_hits = ntp->hits;
      r.ntp_drops = ntp->drops;
      r.ntp_interval_log2 = wire_interval(ntp->interval_log2);
      r.ntp_timeout_interval_log2 = wire_interval(ntp->timeout_interval_log2);
      r.last_ntp_hit_ago_s = ntp->last_hit_ago_s;
    }
    if (cmd) {
      r.cmd_hits = cmd->hits;
      r.cmd_drops = cmd->drops;
      r.cmd_interval_log2 = wire_interval(cmd->interval_log2);
      r.last_cmd_hit_ago_s = cmd->last_hit_ago_s;
    }
    page.clients.push_back(r);
  }
  page.next_index = i;
  return page;
}

cmdmon::Status ControlProvider::make_step() {
  sync_.make_step();
  return cmdmon::Status::Success;
}

cmdmon::Status ControlProvider::burst(const cmdmon::SourceMatch& sources, int good_samples, int total_samples) {
  TimePoint now = sync_.now();
  if (sources.address.family == Address::Family::Unspec) {
    sync_.engine().burst(now, good_samples, total_samples);
    sync_.reschedule();
    return cmdmon::Status::Success;
  }
  int n = 0;
  for (const auto& r : sync_.engine().sources(now)) {
    if (r.address && sources.matches(Address::from_ip(r.address->ip))) {
      n += sync_.engine().burst(now, good_samples, total_samples, r.address->ip);
    }
  }
  sync_.reschedule();
  return n > 0 ? cmdmon::Status::Success : cmdmon::Status::NoSuchSource;
}

cmdmon::Status ControlProvider::set_online(const cmdmon::SourceMatch& sources, bool online) {
  TimePoint now = sync_.now();
  if (sources.address.family == Address::Family::Unspec) {
    sync_.engine().set_online(now, online);
    sync_.reschedule();
    return cmdmon::Status::Success;
  }
  int n = 0;
  for (const auto& r : sync_.engine().sources(now)) {
    if (r.address && sources.matches(Address::from_ip(r.address->ip))) {
      n += sync_.engine().set_online(now, online, r.address->ip);
    }
  }
  sync_.reschedule();
  return n > 0 ? cmdmon::Status::Success : cmdmon::Status::NoSuchSource;
}

cmdmon::Status ControlProvider::set_local(const cmdmon::LocalRequest& local) {
  LocalConfig l;
  l.enabled = local.on;
  if (local.on) {
    // chronyd clamps the stratum the same way; the times are chrony's, as sent.
    l.stratum = std::clamp(local.stratum, 1, 15);
    l.distance_s = local.distance_s;
    l.orphan = local.orphan;
    l.activate_s = local.activate_s;
    l.wait_synced_s = local.wait_synced_s;
    l.wait_unsynced_s = local.wait_unsynced_s;
  }
  sync_.set_local(l);
  return cmdmon::Status::Success;
}

cmdmon::Status ControlProvider::reload_sources() {
  if (reload_sources_) reload_sources_();
  return cmdmon::Status::Success;
}

}  // namespace gnomon::daemon
