#include "daemon/socket_util.hpp"

#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace gnomon::daemon {

socklen_t to_sockaddr(const SocketAddress& a, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  if (a.ip.is_v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(a.port);
    std::memcpy(&sin.sin_addr, a.ip.bytes.data(), 4);
    std::memcpy(&out, &sin, sizeof sin);
    return sizeof sin;
  }
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(a.port);
  std::memcpy(&sin6.sin6_addr, a.ip.bytes.data(), 16);
  std::memcpy(&out, &sin6, sizeof sin6);
  return sizeof sin6;
}

std::optional<SocketAddress> from_sockaddr(const sockaddr* sa, socklen_t len) {
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in sin{};
    std::memcpy(&sin, sa, sizeof sin);
    std::uint32_t host = ntohl(sin.sin_addr.s_addr);
    return SocketAddress{IpAddress::v4(host), ntohs(sin.sin_port)};
  }
  if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 sin6{};
    std::memcpy(&sin6, sa, sizeof sin6);
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), &sin6.sin6_addr, 16);
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b.data(), kMapped, 12) == 0) {
      std::uint32_t host = (static_cast<std::uint32_t>(b[12]) << 24) |
                           (static_cast<std::uint32_t>(b[13]) << 16) |
                           (static_cast<std::uint32_t>(b[14]) << 8) | b[15];
      return SocketAddress{IpAddress::v4(host), ntohs(sin6.sin6_port)};
    }
    return SocketAddress{IpAddress::v6(b), ntohs(sin6.sin6_port)};
  }
  return std::nullopt;
}

RxTimestamping enable_rx_timestamps(int fd) {
  int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) == 0) {
    return RxTimestamping::Software;
  }
  int on = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0) return RxTimestamping::Ns;
  return RxTimestamping::None;
}

std::optional<TimePoint> rx_timestamp_from_cmsg(const msghdr& msg) {
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&msg)); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&msg), c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == SO_TIMESTAMPING && c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec ts{};  // scm_timestamping: ts[0] is the software timestamp
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      if (ts.tv_sec != 0 || ts.tv_nsec != 0) return TimePoint::from_timespec(ts);
    } else if (c->cmsg_type == SO_TIMESTAMPNS && c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return TimePoint::from_timespec(ts);
    }
  }
  return std::nullopt;
}

#ifndef GNOMON_PORTABLE_IO
bool enable_tx_timestamps(int fd, TxStamping mode) {
  int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_OPT_TSONLY;
  flags |= mode == TxStamping::EverySend ? SOF_TIMESTAMPING_TX_SOFTWARE : SOF_TIMESTAMPING_OPT_ID;
  return setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags) == 0;
}

bool parse_tx_timestamp(const msghdr& h, TimePoint& ts, std::uint32_t& key) {
  bool have_ts = false;
  bool have_key = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(&h)); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPING &&
        c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec t{};  // scm_timestamping: ts[0] is the software stamp
      std::memcpy(&t, CMSG_DATA(c), sizeof t);
      if (t.tv_sec != 0 || t.tv_nsec != 0) {
        ts = TimePoint::from_timespec(t);
        have_ts = true;
      }
    } else if (((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) &&
               c->cmsg_len >= CMSG_LEN(sizeof(sock_extended_err))) {
      sock_extended_err e{};
      std::memcpy(&e, CMSG_DATA(c), sizeof e);
      if (e.ee_errno == ENOMSG && e.ee_origin == SO_EE_ORIGIN_TIMESTAMPING && e.ee_info == SCM_TSTAMP_SND) {
        key = e.ee_data;
        have_key = true;
      }
    }
  }
  return have_ts && have_key;
}
#endif

TimePoint realtime_now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return TimePoint::from_timespec(ts);
}

int open_udp_socket(const SocketAddress& addr, bool reuse_port, std::error_code& ec) {
  ec.clear();
  int family = addr.ip.is_v4() ? AF_INET : AF_INET6;
  // Flags are set with fcntl rather than SOCK_NONBLOCK|SOCK_CLOEXEC so that the
  // portable build and the normal build share one path.
  int fd = ::socket(family, SOCK_DGRAM, 0);
  if (fd < 0) {
    ec.assign(errno, std::system_category());
    return -1;
  }
  auto fail = [&] {
    ec.assign(errno, std::system_category());
    ::close(fd);
    return -1;
  };
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return fail();
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return fail();
  int on = 1;
  if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) < 0) {
    return fail();
  }
  // No SO_REUSEADDR: for UDP it would let a second daemon silently share the port.
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) return fail();
  sockaddr_storage ss{};
  socklen_t len = to_sockaddr(addr, ss);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) return fail();
  return fd;
}

}  // namespace gnomon::daemon
