#include "daemon/ntp_server_worker.hpp"

#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "daemon/asio_nonblocking.hpp"
#include "daemon/socket_util.hpp"
#include "daemon/symmetric_keys.hpp"

namespace gnomon::daemon {

namespace {

// Datagrams handled per batch (recvmmsg/sendmmsg); 1 in the portable build.
#ifdef GNOMON_PORTABLE_IO
constexpr std::size_t kBatch = 1;
#else
constexpr std::size_t kBatch = 32;
#endif
// Receive buffer per datagram: anything longer is truncated and dropped.
constexpr std::size_t kRxBufLen = kMaxNtpPacketLen + 4;
// Upper bound on datagrams drained per readiness event, so that one busy
// socket cannot starve the others on this worker.
constexpr int kMaxBatchesPerWake = 8;
// Control data asking the kernel for one datagram's transmit timestamp.
constexpr std::size_t kTxControlLen = CMSG_SPACE(sizeof(std::uint32_t));

ClientLog make_client_log(const WorkerSetup& setup, RandomPool& random) {
  const SipKey key{random.next_u64(), random.next_u64()};
  return ClientLog(setup.client_log_bytes, setup.limiter, key, random.next_u32());
}

#ifndef GNOMON_PORTABLE_IO
void request_tx_timestamp(msghdr& h, ControlBuffer<kTxControlLen>& buf) {
  std::memset(buf.data(), 0, buf.size());
  h.msg_control = buf.data();
  h.msg_controllen = buf.size();
  cmsghdr* c = CMSG_FIRSTHDR(&h);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_TIMESTAMPING;
  c->cmsg_len = CMSG_LEN(sizeof(std::uint32_t));
  const std::uint32_t want = SOF_TIMESTAMPING_TX_SOFTWARE;
  std::memcpy(CMSG_DATA(c), &want, sizeof want);
}

#endif

}  // namespace

// Uninitialised on purpose: every field is written before it is read.
struct NtpServerWorker::Batch {
  std::array<std::array<std::uint8_t, kRxBufLen>, kBatch> rx;
  std::array<std::array<std::uint8_t, kMaxNtpPacketLen>, kBatch> tx;
  std::array<ControlBuffer<kRxControlLen>, kBatch> control;
  std::array<sockaddr_storage, kBatch> peer;
  std::array<iovec, kBatch> rx_iov;
  std::array<iovec, kBatch> tx_iov;
#ifndef GNOMON_PORTABLE_IO
  std::array<mmsghdr, kBatch> rx_msgs;
  std::array<mmsghdr, kBatch> tx_msgs;
  std::array<ControlBuffer<kTxControlLen>, kBatch> tx_control;
#endif
};

NtpServerWorker::NtpServerWorker(boost::asio::io_context& ctx, const WorkerSetup& setup)
    : batch_(new Batch),
      ctx_(ctx),
      options_(setup.options),
      precision_log2_(setup.precision_log2),
      log_(make_client_log(setup, random_)),
      log_capacity_(log_.capacity()) {
  if (precision_log2_) state_.precision = *precision_log2_;
}

NtpServerWorker::~NtpServerWorker() = default;

std::error_code NtpServerWorker::open(const std::vector<SocketAddress>& listen, bool reuse_port) {
  std::error_code first_error;
  for (const auto& addr : listen) {
    std::error_code ec;
    int fd = open_udp_socket(addr, reuse_port, ec);
    if (fd < 0) {
      // As chronyd: one address that cannot be opened (IPv6 disabled, an
      // address not on this host) leaves the others serving.
      spdlog::error("Could not open NTP socket on {}: {}", addr.to_string(), ec.message());
      if (!first_error) first_error = ec;
      continue;
    }
    enable_rx_timestamps(fd);
    if (addr.ip.is_v4()) {
      // DF on every reply and no path-MTU state: replies are never longer
      // than their requests, and the kernel then skips generating an IP ID
      // for each datagram (a measurable share of the cost per reply).
      const int probe = IP_PMTUDISC_PROBE;
      (void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe);
    }
    auto l = std::make_unique<Listener>(ctx_);
#ifndef GNOMON_PORTABLE_IO
    // Only interleaved mode uses them, and it needs the client log.
    l->tx_stamping = log_.active() && enable_tx_timestamps(fd, TxStamping::OnRequest);
#endif
    boost::system::error_code bec;
    l->socket.assign(addr.ip.is_v4() ? boost::asio::ip::udp::v4() : boost::asio::ip::udp::v6(), fd, bec);
    if (!bec) mark_non_blocking(l->socket);
    if (bec) return std::error_code(bec.value(), std::system_category());
    l->local = addr;
    listeners_.push_back(std::move(l));
  }
  return listeners_.empty() ? first_error : std::error_code{};
}

void NtpServerWorker::start() {
  for (auto& l : listeners_) {
    wait_readable(*l);
    if (l->tx_stamping) wait_errqueue(*l);
  }
}

void NtpServerWorker::close() {
  for (auto& l : listeners_) {
    boost::system::error_code ec;
    l->socket.close(ec);
  }
}

void NtpServerWorker::post_state(const ServedState& state, Duration correction) {
  boost::asio::post(ctx_, [this, state, correction] {
    state_ = state;
    if (precision_log2_) state_.precision = *precision_log2_;
    correction_ = correction;
  });
}

void NtpServerWorker::post_access(std::shared_ptr<const AccessTable> access) {
  boost::asio::post(ctx_, [this, a = std::move(access)]() mutable { access_ = std::move(a); });
}

void NtpServerWorker::post_nts_keys(std::shared_ptr<const NtsKeyRing> keys) {
  boost::asio::post(ctx_, [this, k = std::move(keys)]() mutable { nts_.auth.set_keys(std::move(k)); });
}

std::optional<ClientRecordReport> NtpServerWorker::client_report(ClientLog::Index index, TimePoint now,
                                                                 std::uint32_t min_hits, bool reset) {
  std::lock_guard lock(log_mutex_);
  return log_.report(index, now, min_hits, reset);
}

std::optional<ClientRecordReport> NtpServerWorker::find_client(const IpAddress& ip, TimePoint now) const {
  std::lock_guard lock(log_mutex_);
  return log_.find(ip, now);
}

ClientLogStats NtpServerWorker::client_stats() const {
  std::lock_guard lock(log_mutex_);
  return log_.stats();
}

void NtpServerWorker::wait_readable(Listener& l) {
  l.socket.async_wait(boost::asio::ip::udp::socket::wait_read,
                      [this, &l](const boost::system::error_code& ec) {
                        if (ec) return;  // closed
                        service(l);
                      });
}

void NtpServerWorker::wait_errqueue(Listener& l) {
  // The reactor reports a non-empty error queue as an error condition.
  l.socket.async_wait(boost::asio::ip::udp::socket::wait_error,
                      [this, &l](const boost::system::error_code& ec) {
                        if (ec) return;
                        read_errqueue(l);
                        wait_errqueue(l);
                      });
}

void NtpServerWorker::service(Listener& l) {
  // The reactor reports readiness on edges: a socket left non-empty after a
  // capped drain is serviced again by posting, not by waiting.
  if (drain(l)) {
    boost::asio::post(ctx_, [this, &l] { service(l); });
  } else {
    wait_readable(l);
  }
}

std::size_t NtpServerWorker::handle(const std::uint8_t* data, std::size_t len, TimePoint rx, bool kernel_rx,
                                    const SocketAddress& client, const ClientLog::Location* where,
                                    std::uint8_t* out, std::size_t out_cap, ReplyMeta& meta) {
  counters_.received.add();
  meta = ReplyMeta{};
  RequestContext ctx;
  ctx.request = std::span<const std::uint8_t>(data, len);
  ctx.rx_time = rx + correction_;
  ctx.client = client;
  ctx.allowed = access_ && access_->allowed(client.ip);
  ctx.rx_fuzz = random_.next_u32();
  ctx.auth = &auth_;
  ParsedPacket parsed;
  const DropReason checked = check_request(ctx, parsed);
  if (checked != DropReason::None) {
    counters_.dropped[static_cast<std::size_t>(checked)].add();
    return 0;
  }
  // Like chrony, only requests that pass the checks above reach the client log.
  const ClientLog::Index record =
      where != nullptr ? log_.log_access(*where, ctx.rx_time) : log_.log_access(client.ip, ctx.rx_time);
  if (record != ClientLog::kNoRecord) ctx.rate = log_.limit(record, random_.next_u32());
  // Interleaved mode: the client's origin is one of our receive timestamps.
  const bool xleave = record != ClientLog::kNoRecord && ctx.rate == RateDecision::Pass &&
                      is_interleaved_request(parsed.header);
  TxSource tx_source = TxSource::Daemon;
  if (xleave) {
    if (auto saved = log_.take_interleaved_tx(record, parsed.header.origin_ts, ctx.rx_time)) {
      ctx.interleaved_tx = saved->tx;
      ctx.tx_fuzz = random_.next_u32();
      tx_source = saved->source;
    }
  }
  ServerReply r = write_reply(parsed, ctx, state_, options_, std::span<std::uint8_t>(out, out_cap));
  if (!r.answered()) {
    counters_.dropped[static_cast<std::size_t>(r.reason)].add();
    return 0;
  }
  if (r.needs_auth) {
    // The MAC covers the transmit timestamp: stamp now, then sign.
    if (r.needs_transmit_stamp) {
      stamp_transmit(std::span<std::uint8_t>(out, r.length), realtime_now() + correction_, random_.next_u32(),
                     state_.precision);
    }
    r.length = auth_.finish_reply(std::span<std::uint8_t>(out, out_cap), r.length);
    if (r.length == 0) {
      counters_.dropped[static_cast<std::size_t>(DropReason::AuthFailed)].add();
      return 0;
    }
  }
  if (ctx.rate == RateDecision::Kod) counters_.kod_sent.add();
  (kernel_rx ? counters_.rx_kernel_stamps : counters_.rx_daemon_stamps).add();
  if (r.interleaved) {
    counters_.interleaved.add();
    (tx_source == TxSource::Kernel ? counters_.tx_kernel_stamps : counters_.tx_daemon_stamps).add();
  } else {
    counters_.tx_daemon_stamps.add();
  }
  meta.record = record;
  meta.rx = r.receive_ts;
  meta.stamp = r.needs_transmit_stamp && !r.needs_auth;
  meta.save = xleave;
  return r.length;
}

void NtpServerWorker::save_sent(Listener& l, const ReplyMeta& meta, TimePoint tx, bool stamped) {
  log_.save_timestamps(meta.record, meta.rx, tx, TxSource::Daemon);
  if (!stamped) return;
  const std::uint32_t key = l.next_tx_key++;
  PendingTx& p = l.pending[key & (kPendingTx - 1)];
  p.key = key;
  p.record = meta.record;
  p.rx = meta.rx;
}

#ifndef GNOMON_PORTABLE_IO

void NtpServerWorker::read_errqueue(Listener& l) {
  Batch& b = *batch_;
  const int fd = l.socket.native_handle();
  for (int round = 0; round < kMaxBatchesPerWake; ++round) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      b.rx_iov[i] = iovec{b.rx[i].data(), b.rx[i].size()};
      msghdr& h = b.rx_msgs[i].msg_hdr;
      h = msghdr{};
      h.msg_iov = &b.rx_iov[i];
      h.msg_iovlen = 1;
      h.msg_control = b.control[i].data();
      h.msg_controllen = b.control[i].size();
    }
    const int n = ::recvmmsg(fd, b.rx_msgs.data(), static_cast<unsigned>(kBatch), MSG_ERRQUEUE | MSG_DONTWAIT,
                             nullptr);
    if (n <= 0) return;
    std::lock_guard lock(log_mutex_);
    for (int i = 0; i < n; ++i) {
      TimePoint ts;
      std::uint32_t key = 0;
      if (!parse_tx_timestamp(b.rx_msgs[static_cast<std::size_t>(i)].msg_hdr, ts, key)) continue;
      const PendingTx& p = l.pending[key & (kPendingTx - 1)];
      if (p.key != key || p.record == ClientLog::kNoRecord) continue;
      if (log_.update_tx(p.record, p.rx, ts + correction_, TxSource::Kernel)) counters_.kernel_tx_read.add();
    }
    if (static_cast<std::size_t>(n) < kBatch) return;
  }
}

bool NtpServerWorker::drain(Listener& l) {
  Batch& b = *batch_;
  std::array<ReplyMeta, kBatch> meta{};
  const int fd = l.socket.native_handle();
  for (int round = 0; round < kMaxBatchesPerWake; ++round) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      b.rx_iov[i] = iovec{b.rx[i].data(), b.rx[i].size()};
      msghdr& h = b.rx_msgs[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &b.peer[i];
      h.msg_namelen = sizeof(sockaddr_storage);
      h.msg_iov = &b.rx_iov[i];
      h.msg_iovlen = 1;
      h.msg_control = b.control[i].data();
      h.msg_controllen = b.control[i].size();
      b.rx_msgs[i].msg_len = 0;
    }
    int n = ::recvmmsg(fd, b.rx_msgs.data(), static_cast<unsigned>(kBatch), MSG_DONTWAIT, nullptr);
    if (n <= 0) return false;  // EAGAIN or an error: wait for the next readiness
    TimePoint fallback_rx = realtime_now();
    unsigned n_tx = 0;
    bool any_save = false;
    // First pass: who sent what, and start fetching their client records.
    std::array<std::optional<SocketAddress>, kBatch> peers;
    std::array<ClientLog::Location, kBatch> where;
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
      const msghdr& h = b.rx_msgs[i].msg_hdr;
      peers[i] = from_sockaddr(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
      if (peers[i] && log_capacity_ != 0) where[i] = log_.locate(peers[i]->ip);
    }
    {
      std::unique_lock lock(log_mutex_, std::defer_lock);
      if (log_capacity_ != 0) lock.lock();
      for (int i = 0; i < n; ++i) {
        const msghdr& h = b.rx_msgs[static_cast<std::size_t>(i)].msg_hdr;
        const std::optional<SocketAddress>& peer = peers[static_cast<std::size_t>(i)];
        std::size_t len = b.rx_msgs[static_cast<std::size_t>(i)].msg_len;
        if ((h.msg_flags & MSG_TRUNC) != 0) len = kRxBufLen;  // oversized: rejected by length
        if (!peer) {
          counters_.received.add();
          counters_.dropped[static_cast<std::size_t>(DropReason::BadLength)].add();
          continue;
        }
        const std::optional<TimePoint> kernel_rx = rx_timestamp_from_cmsg(h);
        std::size_t out_len =
            handle(b.rx[static_cast<std::size_t>(i)].data(), len, kernel_rx.value_or(fallback_rx),
                   kernel_rx.has_value(), *peer, log_capacity_ != 0 ? &where[static_cast<std::size_t>(i)] : nullptr,
                   b.tx[n_tx].data(), b.tx[n_tx].size(), meta[n_tx]);
        if (out_len == 0) continue;
        b.tx_iov[n_tx] = iovec{b.tx[n_tx].data(), out_len};
        msghdr& th = b.tx_msgs[n_tx].msg_hdr;
        th = msghdr{};
        th.msg_name = &b.peer[static_cast<std::size_t>(i)];
        th.msg_namelen = h.msg_namelen;
        th.msg_iov = &b.tx_iov[n_tx];
        th.msg_iovlen = 1;
        if (meta[n_tx].save) {
          any_save = true;
          if (l.tx_stamping) request_tx_timestamp(th, b.tx_control[n_tx]);
        }
        ++n_tx;
      }
    }
    if (n_tx > 0) {
      // Transmit timestamps are taken as late as possible: right before the send.
      TimePoint tx = realtime_now() + correction_;
      for (unsigned j = 0; j < n_tx; ++j) {
        if (!meta[j].stamp) continue;  // interleaved, or stamped and signed already
        stamp_transmit(std::span<std::uint8_t>(b.tx[j].data(), b.tx_iov[j].iov_len), tx, random_.next_u32(),
                       state_.precision);
      }
      std::array<bool, kBatch> sent_ok{};
      unsigned sent = 0;
      int tries = 0;
      while (sent < n_tx && tries++ < 4) {
        int m = ::sendmmsg(fd, b.tx_msgs.data() + sent, n_tx - sent, MSG_DONTWAIT);
        if (m < 0) {
          if (errno == EINTR) continue;
          // Skip the datagram the kernel refused and carry on with the rest.
          counters_.send_errors.add();
          ++sent;
          continue;
        }
        for (int k = 0; k < m; ++k) sent_ok[sent + static_cast<unsigned>(k)] = true;
        counters_.answered.add(static_cast<std::uint64_t>(m));
        sent += static_cast<unsigned>(m);
      }
      if (sent < n_tx) counters_.send_errors.add(n_tx - sent);
      if (any_save) {
        {
          std::lock_guard lock(log_mutex_);
          for (unsigned j = 0; j < n_tx; ++j) {
            if (meta[j].save && sent_ok[j]) save_sent(l, meta[j], tx, l.tx_stamping);
          }
        }
        // Loopback and many drivers stamp during the send: collect them now.
        if (l.tx_stamping) read_errqueue(l);
      }
    }
    if (static_cast<std::size_t>(n) < kBatch) return false;
  }
  return true;
}

#else  // GNOMON_PORTABLE_IO: one datagram at a time, recvmsg/sendmsg, daemon TX times.

void NtpServerWorker::read_errqueue(Listener&) {}

bool NtpServerWorker::drain(Listener& l) {
  Batch& b = *batch_;
  const int fd = l.socket.native_handle();
  for (int round = 0; round < kMaxBatchesPerWake * 32; ++round) {
    b.rx_iov[0] = iovec{b.rx[0].data(), b.rx[0].size()};
    msghdr h{};
    h.msg_name = &b.peer[0];
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_iov = &b.rx_iov[0];
    h.msg_iovlen = 1;
    h.msg_control = b.control[0].data();
    h.msg_controllen = b.control[0].size();
    ssize_t n = ::recvmsg(fd, &h, MSG_DONTWAIT);
    if (n < 0) return false;
    std::size_t len = static_cast<std::size_t>(n);
    if ((h.msg_flags & MSG_TRUNC) != 0) len = kRxBufLen;
    auto peer = from_sockaddr(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
    if (!peer) {
      counters_.received.add();
      counters_.dropped[static_cast<std::size_t>(DropReason::BadLength)].add();
      continue;
    }
    const std::optional<TimePoint> kernel_rx = rx_timestamp_from_cmsg(h);
    ReplyMeta meta;
    std::size_t out_len = 0;
    {
      std::unique_lock lock(log_mutex_, std::defer_lock);
      if (log_capacity_ != 0) lock.lock();
      out_len = handle(b.rx[0].data(), len, kernel_rx.value_or(realtime_now()), kernel_rx.has_value(), *peer,
                       nullptr, b.tx[0].data(), b.tx[0].size(), meta);
    }
    if (out_len == 0) continue;
    const TimePoint tx = realtime_now() + correction_;
    if (meta.stamp) {
      stamp_transmit(std::span<std::uint8_t>(b.tx[0].data(), out_len), tx, random_.next_u32(), state_.precision);
    }
    b.tx_iov[0] = iovec{b.tx[0].data(), out_len};
    msghdr th{};
    th.msg_name = &b.peer[0];
    th.msg_namelen = h.msg_namelen;
    th.msg_iov = &b.tx_iov[0];
    th.msg_iovlen = 1;
    if (::sendmsg(fd, &th, MSG_DONTWAIT) < 0) {
      counters_.send_errors.add();
      continue;
    }
    counters_.answered.add();
    if (meta.save) {
      std::lock_guard lock(log_mutex_);
      save_sent(l, meta, tx, false);
    }
  }
  return true;
}

#endif

}  // namespace gnomon::daemon
