#include "daemon/ntp_client.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/udp.hpp>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>

#include <spdlog/spdlog.h>

#include "daemon/asio_nonblocking.hpp"
#include "daemon/name_resolver.hpp"
#include "daemon/socket_util.hpp"

namespace gnomon::daemon {

namespace {
// Longest reply read; anything longer is truncated and fails parsing.
constexpr std::size_t kReplyBufLen = 2048;
// Replies read per readiness event, so that a flood cannot spin the loop.
constexpr int kMaxRepliesPerWake = 8;
}  // namespace

struct NtpClientIo::Pending {
  Pending(boost::asio::io_context& ctx) : socket(ctx), deadline(ctx) {}
  SourceId source = 0;
  boost::asio::ip::udp::socket socket;
  boost::asio::steady_timer deadline;
  SocketAddress remote;
  SocketAddress local;
  TimePoint tx_raw{};
  bool tx_stamping = false;  // the kernel reports the send's timestamp
  bool tx_kernel = false;    // tx_raw is that timestamp
  bool closed = false;

  void close() {
    if (closed) return;
    closed = true;
    boost::system::error_code ec;
    socket.close(ec);
    deadline.cancel();
  }
};

NtpClientIo::NtpClientIo(boost::asio::io_context& ctx, ReplyHandler on_reply,
                         ResolveHandler on_resolved)
    : ctx_(ctx),
      on_reply_(std::move(on_reply)),
      on_resolved_(std::move(on_resolved)),
      alive_(std::make_shared<bool>(true)) {}

NtpClientIo::~NtpClientIo() {
  *alive_ = false;
  close_all();
}

void NtpClientIo::close_all() {
  for (auto& [id, p] : pending_) p->close();
  pending_.clear();
}

void NtpClientIo::send(const SendRequest& req, TimePoint now) {
  if (auto it = pending_.find(req.source); it != pending_.end()) {
    it->second->close();
    pending_.erase(it);
  }
  const SocketAddress& to = req.request.to;
  SocketAddress any{to.ip.is_v4() ? IpAddress::v4(0) : IpAddress::v6({}), 0};
  std::error_code ec;
  // Port 0: the kernel picks a random ephemeral port for every request.
  int fd = open_udp_socket(any, false, ec);
  if (fd < 0) {
    ++send_errors_;
    spdlog::debug("Could not open a client socket for {}: {}", to.to_string(), ec.message());
    return;
  }
#ifndef GNOMON_PORTABLE_IO
  const bool tx_stamping = enable_tx_timestamps(fd, TxStamping::EverySend);
  if (!tx_stamping) enable_rx_timestamps(fd);
#else
  const bool tx_stamping = false;
  enable_rx_timestamps(fd);
#endif
  sockaddr_storage ss{};
  socklen_t len = to_sockaddr(to, ss);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    ++send_errors_;
    spdlog::debug("Could not connect to {}: {}", to.to_string(), std::strerror(errno));
    ::close(fd);
    return;
  }
  auto p = std::make_shared<Pending>(ctx_);
  p->source = req.source;
  p->remote = to;
  p->tx_stamping = tx_stamping;
  boost::system::error_code bec;
  p->socket.assign(to.ip.is_v4() ? boost::asio::ip::udp::v4() : boost::asio::ip::udp::v6(), fd, bec);
  if (!bec) mark_non_blocking(p->socket);
  if (bec) {
    ::close(fd);
    ++send_errors_;
    return;
  }
  sockaddr_storage local{};
  socklen_t llen = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) == 0) {
    if (auto a = from_sockaddr(reinterpret_cast<sockaddr*>(&local), llen)) p->local = *a;
  }
  auto data = req.request.data();
  p->tx_raw = realtime_now();
  if (::send(fd, data.data(), data.size(), MSG_DONTWAIT) < 0) {
    ++send_errors_;
    spdlog::debug("Could not send to {}: {}", to.to_string(), std::strerror(errno));
    p->close();
    return;
  }
  pending_[req.source] = p;
  Duration wait = req.receive_deadline - now;
  if (wait < Duration::from_ms(100)) wait = Duration::from_ms(100);
  if (wait > Duration::seconds(30)) wait = Duration::seconds(30);
  p->deadline.expires_after(std::chrono::nanoseconds(wait.ns));
  std::weak_ptr<Pending> weak = p;
  auto alive = alive_;
  p->deadline.async_wait([this, weak, alive](const boost::system::error_code& e) {
    if (e || !*alive) return;
    if (auto sp = weak.lock()) {
      sp->close();
      auto it = pending_.find(sp->source);
      if (it != pending_.end() && it->second == sp) pending_.erase(it);
    }
  });
  wait_reply(p);
}

void NtpClientIo::wait_reply(const std::shared_ptr<Pending>& p) {
  auto alive = alive_;
  p->socket.async_wait(boost::asio::ip::udp::socket::wait_read,
                       [this, p, alive](const boost::system::error_code& ec) {
                         if (ec || !*alive || p->closed) return;
                         read_reply(p);
                         if (!p->closed) wait_reply(p);
                       });
}

void NtpClientIo::read_tx_timestamp(Pending& p) {
#ifndef GNOMON_PORTABLE_IO
  // One send per socket: at most one timestamp; a few more reads drain
  // anything else the error queue holds (ICMP errors).
  for (int i = 0; i < 4 && p.tx_stamping; ++i) {
    std::array<std::uint8_t, 64> data{};
    ControlBuffer<kRxControlLen> control{};
    iovec iov{data.data(), data.size()};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control.data();
    h.msg_controllen = control.size();
    if (::recvmsg(p.socket.native_handle(), &h, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return;
    TimePoint ts;
    std::uint32_t key = 0;
    // A stamp far from our own reading of the send is not believed.
    if (!p.tx_kernel && parse_tx_timestamp(h, ts, key) &&
        std::llabs((ts - p.tx_raw).ns) < kNsPerS) {
      p.tx_raw = ts;
      p.tx_kernel = true;
    }
  }
#else
  (void)p;
#endif
}

void NtpClientIo::read_reply(const std::shared_ptr<Pending>& p) {
  // The transmit timestamp is queued when the request leaves, before any
  // reply can arrive; a non-empty error queue also wakes the wait below.
  read_tx_timestamp(*p);
  std::array<std::uint8_t, kReplyBufLen> buf{};
  ControlBuffer<kRxControlLen> control{};
  for (int i = 0; i < kMaxRepliesPerWake && !p->closed; ++i) {
    iovec iov{buf.data(), buf.size()};
    sockaddr_storage peer{};
    msghdr h{};
    h.msg_name = &peer;
    h.msg_namelen = sizeof peer;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    h.msg_control = control.data();
    h.msg_controllen = control.size();
    ssize_t n = ::recvmsg(p->socket.native_handle(), &h, MSG_DONTWAIT);
    if (n < 0) return;
    auto from = from_sockaddr(reinterpret_cast<sockaddr*>(&peer), h.msg_namelen);
    if (!from) continue;
    ReceivedReply r;
    r.source = p->source;
    r.bytes = std::span<const std::uint8_t>(buf.data(), static_cast<std::size_t>(n));
    const std::optional<TimePoint> kernel_rx = rx_timestamp_from_cmsg(h);
    r.rx_raw = kernel_rx.value_or(realtime_now());
    r.rx_kernel = kernel_rx.has_value();
    r.tx_raw = p->tx_raw;
    r.tx_kernel = p->tx_kernel;
    r.from = *from;
    r.local = p->local;
    on_reply_(r);
  }
}

void NtpClientIo::resolve(const ResolveRequest& req) {
  auto alive = alive_;
  const EntryId entry = req.entry;
  resolve_name(ctx_, req.name, req.port, [this, alive, entry](std::vector<IpAddress> addrs) {
    if (*alive) on_resolved_(entry, addrs);
  });
}

}  // namespace gnomon::daemon
