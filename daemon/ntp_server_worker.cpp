#include "daemon/ntp_server_worker.hpp"

#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include <array>
#include <cerrno>
#include <cstring>

#include "daemon/socket_util.hpp"

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

struct Batch {
  std::array<std::array<std::uint8_t, kRxBufLen>, kBatch> rx{};
  std::array<std::array<std::uint8_t, kMaxNtpPacketLen>, kBatch> tx{};
  std::array<std::array<char, kRxControlLen>, kBatch> control{};
  std::array<sockaddr_storage, kBatch> peer{};
  std::array<iovec, kBatch> rx_iov{};
  std::array<iovec, kBatch> tx_iov{};
#ifndef GNOMON_PORTABLE_IO
  std::array<mmsghdr, kBatch> rx_msgs{};
  std::array<mmsghdr, kBatch> tx_msgs{};
#endif
};

// One batch buffer per thread: workers each run on their own thread.
thread_local Batch tls_batch;

}  // namespace

NtpServerWorker::NtpServerWorker(boost::asio::io_context& ctx, const ServerOptions& options)
    : ctx_(ctx), options_(options) {}

std::error_code NtpServerWorker::open(const std::vector<SocketAddress>& listen, bool reuse_port) {
  for (const auto& addr : listen) {
    std::error_code ec;
    int fd = open_udp_socket(addr, reuse_port, ec);
    if (fd < 0) return ec;
    enable_rx_timestamps(fd);
    auto l = std::make_unique<Listener>(ctx_);
    boost::system::error_code bec;
    l->socket.assign(addr.ip.is_v4() ? boost::asio::ip::udp::v4() : boost::asio::ip::udp::v6(), fd, bec);
    if (bec) return std::error_code(bec.value(), std::system_category());
    l->local = addr;
    listeners_.push_back(std::move(l));
  }
  return {};
}

void NtpServerWorker::start() {
  for (auto& l : listeners_) wait_readable(*l);
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
    correction_ = correction;
  });
}

void NtpServerWorker::post_access(std::shared_ptr<const AccessTable> access) {
  boost::asio::post(ctx_, [this, a = std::move(access)]() mutable { access_ = std::move(a); });
}

void NtpServerWorker::wait_readable(Listener& l) {
  l.socket.async_wait(boost::asio::ip::udp::socket::wait_read,
                      [this, &l](const boost::system::error_code& ec) {
                        if (ec) return;  // closed
                        service(l);
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

std::size_t NtpServerWorker::handle(const std::uint8_t* data, std::size_t len, TimePoint rx,
                                    const SocketAddress& client, std::uint8_t* out,
                                    std::size_t out_cap) {
  counters_.received.add();
  RequestContext ctx;
  ctx.request = std::span<const std::uint8_t>(data, len);
  ctx.rx_time = rx + correction_;
  ctx.client = client;
  ctx.allowed = access_ && access_->allowed(client.ip);
  ctx.rx_fuzz = random_.next_u32();
  ServerReply r = build_reply(ctx, state_, options_, std::span<std::uint8_t>(out, out_cap));
  if (!r.answered()) {
    counters_.dropped[static_cast<std::size_t>(r.reason)].add();
    return 0;
  }
  return r.length;
}

#ifndef GNOMON_PORTABLE_IO

bool NtpServerWorker::drain(Listener& l) {
  Batch& b = tls_batch;
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
    for (int i = 0; i < n; ++i) {
      const msghdr& h = b.rx_msgs[static_cast<std::size_t>(i)].msg_hdr;
      auto peer = from_sockaddr(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
      std::size_t len = b.rx_msgs[static_cast<std::size_t>(i)].msg_len;
      if ((h.msg_flags & MSG_TRUNC) != 0) len = kRxBufLen;  // oversized: rejected by length
      if (!peer) {
        counters_.received.add();
        counters_.dropped[static_cast<std::size_t>(DropReason::BadLength)].add();
        continue;
      }
      TimePoint rx = rx_timestamp_from_cmsg(h).value_or(fallback_rx);
      std::size_t out_len = handle(b.rx[static_cast<std::size_t>(i)].data(), len, rx, *peer,
                                   b.tx[n_tx].data(), b.tx[n_tx].size());
      if (out_len == 0) continue;
      b.tx_iov[n_tx] = iovec{b.tx[n_tx].data(), out_len};
      msghdr& th = b.tx_msgs[n_tx].msg_hdr;
      th = msghdr{};
      th.msg_name = &b.peer[static_cast<std::size_t>(i)];
      th.msg_namelen = h.msg_namelen;
      th.msg_iov = &b.tx_iov[n_tx];
      th.msg_iovlen = 1;
      ++n_tx;
    }
    if (n_tx > 0) {
      // Transmit timestamps are taken as late as possible: right before the send.
      TimePoint tx = realtime_now() + correction_;
      for (unsigned j = 0; j < n_tx; ++j) {
        stamp_transmit(std::span<std::uint8_t>(b.tx[j].data(), b.tx_iov[j].iov_len), tx,
                       random_.next_u32(), state_.precision);
      }
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
        counters_.answered.add(static_cast<std::uint64_t>(m));
        sent += static_cast<unsigned>(m);
      }
      if (sent < n_tx) counters_.send_errors.add(n_tx - sent);
    }
    if (static_cast<std::size_t>(n) < kBatch) return false;
  }
  return true;
}

#else  // GNOMON_PORTABLE_IO: one datagram at a time, recvmsg/sendmsg.

bool NtpServerWorker::drain(Listener& l) {
  Batch& b = tls_batch;
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
    TimePoint rx = rx_timestamp_from_cmsg(h).value_or(realtime_now());
    std::size_t out_len = handle(b.rx[0].data(), len, rx, *peer, b.tx[0].data(), b.tx[0].size());
    if (out_len == 0) continue;
    stamp_transmit(std::span<std::uint8_t>(b.tx[0].data(), out_len), realtime_now() + correction_,
                   random_.next_u32(), state_.precision);
    b.tx_iov[0] = iovec{b.tx[0].data(), out_len};
    msghdr th{};
    th.msg_name = &b.peer[0];
    th.msg_namelen = h.msg_namelen;
    th.msg_iov = &b.tx_iov[0];
    th.msg_iovlen = 1;
    if (::sendmsg(fd, &th, MSG_DONTWAIT) < 0) {
      counters_.send_errors.add();
    } else {
      counters_.answered.add();
    }
  }
  return true;
}

#endif

}  // namespace gnomon::daemon
