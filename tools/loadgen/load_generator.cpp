#include "tools/loadgen/load_generator.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

namespace gnomon::load {

namespace {

constexpr std::size_t kBatch = 64;
constexpr std::size_t kPacketLen = 48;
constexpr std::uint32_t kMaxWindow = 65536;  // the slot is the origin's low 16 bits
constexpr double kMaxDurationS = 3600.0;
constexpr std::uint32_t kKodRate = 0x52415445u;  // "RATE"

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::uint64_t load_be64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

void store_be64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

struct Slot {
  std::uint64_t nonce = 0;
  std::int64_t sent_ns = 0;
  bool busy = false;
};

struct Server {
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool v4 = true;
};

bool same_peer(const Server& s, const sockaddr_storage& from, socklen_t len) {
  if (len != s.len) return false;
  if (s.v4) {
    sockaddr_in a{}, b{};
    std::memcpy(&a, &s.addr, sizeof a);
    std::memcpy(&b, &from, sizeof b);
    return a.sin_port == b.sin_port && a.sin_addr.s_addr == b.sin_addr.s_addr;
  }
  sockaddr_in6 a{}, b{};
  std::memcpy(&a, &s.addr, sizeof a);
  std::memcpy(&b, &from, sizeof b);
  return a.sin6_port == b.sin6_port && std::memcmp(&a.sin6_addr, &b.sin6_addr, 16) == 0;
}

class Runner {
 public:
  Runner(const LoadOptions& o, LoadResult& r) : o_(o), r_(r), rng_(std::random_device{}()) {}
  ~Runner() {
    for (int fd : fds_) ::close(fd);
    if (ep_ >= 0) ::close(ep_);
  }

  bool setup(std::string& error);
  void run();

 private:
  void send_some(std::int64_t now);
  void flush(std::size_t sock);
  void receive(int fd, std::int64_t now);
  void expire(std::int64_t now);

  const LoadOptions& o_;
  LoadResult& r_;
  std::mt19937_64 rng_;
  Server server_;
  std::uint32_t source_base_ = 0;  // host order
  std::vector<int> fds_;
  int ep_ = -1;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  std::uint64_t seq_ = 0;
  std::uint32_t busy_ = 0;
  std::int64_t start_ns_ = 0;
  double rtt_sum_us_ = 0.0;

  // Per-socket send batches.
  struct Out {
    std::array<std::array<std::uint8_t, kPacketLen>, kBatch> pkt{};
    // Each buffer aligned as CMSG_FIRSTHDR requires.
    struct alignas(cmsghdr) Control {
      std::array<char, CMSG_SPACE(sizeof(in_pktinfo))> bytes{};
      char* data() { return bytes.data(); }
      [[nodiscard]] std::size_t size() const { return bytes.size(); }
    };
    std::array<Control, kBatch> control{};
    std::array<iovec, kBatch> iov{};
    std::array<mmsghdr, kBatch> msgs{};
    std::array<std::uint32_t, kBatch> slot{};
    std::size_t n = 0;
  };
  std::vector<Out> out_;
};

bool Runner::setup(std::string& error) {
  if (o_.window == 0 || o_.window > kMaxWindow) {
    error = "window must be 1.." + std::to_string(kMaxWindow);
    return false;
  }
  if (o_.sockets == 0 || o_.sockets > 256) {
    error = "sockets must be 1..256";
    return false;
  }
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, o_.server.c_str(), &a4) == 1) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(o_.port);
    sin.sin_addr = a4;
    std::memcpy(&server_.addr, &sin, sizeof sin);
    server_.len = sizeof sin;
    server_.v4 = true;
  } else if (inet_pton(AF_INET6, o_.server.c_str(), &a6) == 1) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(o_.port);
    sin6.sin6_addr = a6;
    std::memcpy(&server_.addr, &sin6, sizeof sin6);
    server_.len = sizeof sin6;
    server_.v4 = false;
  } else {
    error = "server must be a numeric IPv4 or IPv6 address";
    return false;
  }
  if (server_.v4) {
    in_addr b{};
    if (inet_pton(AF_INET, o_.source_base.c_str(), &b) != 1) {
      error = "source base must be an IPv4 address";
      return false;
    }
    source_base_ = ntohl(b.s_addr);
    if ((source_base_ >> 24) != 127 || o_.sources == 0 ||
        static_cast<std::uint64_t>(source_base_) + o_.sources > 0x7FFFFFFFull) {
      error = "sources must be loopback addresses within 127.0.0.1..127.255.255.254";
      return false;
    }
  } else if (o_.sources != 1) {
    error = "an IPv6 server takes one source address";
    return false;
  }
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) {
    error = std::string("epoll: ") + std::strerror(errno);
    return false;
  }
  for (std::uint32_t i = 0; i < o_.sockets; ++i) {
    int fd = ::socket(server_.v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = std::string("socket: ") + std::strerror(errno);
      return false;
    }
    fds_.push_back(fd);
    int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    sockaddr_storage any{};
    socklen_t len = 0;
    if (server_.v4) {
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      std::memcpy(&any, &sin, sizeof sin);
      len = sizeof sin;
    } else {
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      std::memcpy(&any, &sin6, sizeof sin6);
      len = sizeof sin6;
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&any), len) < 0) {
      error = std::string("bind: ") + std::strerror(errno);
      return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = i;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      error = std::string("epoll_ctl: ") + std::strerror(errno);
      return false;
    }
  }
  slots_.resize(o_.window);
  for (std::uint32_t s = o_.window; s-- > 0;) free_.push_back(s);
  out_.resize(o_.sockets);
  return true;
}

void Runner::flush(std::size_t sock) {
  Out& out = out_[sock];
  std::size_t done = 0;
  int tries = 0;
  while (done < out.n && tries++ < 8) {
    int m = ::sendmmsg(fds_[sock], out.msgs.data() + done, static_cast<unsigned>(out.n - done), 0);
    if (m < 0) {
      if (errno == EINTR) continue;
      // The refused datagram's slot goes back to the pool.
      ++r_.send_errors;
      Slot& s = slots_[out.slot[done]];
      s.busy = false;
      --busy_;
      free_.push_back(out.slot[done]);
      ++done;
      continue;
    }
    done += static_cast<std::size_t>(m);
  }
  for (; done < out.n; ++done) {  // gave up: release the rest
    ++r_.send_errors;
    slots_[out.slot[done]].busy = false;
    --busy_;
    free_.push_back(out.slot[done]);
  }
  out.n = 0;
}

void Runner::send_some(std::int64_t now) {
  std::uint64_t budget = free_.size();
  if (o_.count != 0) budget = std::min<std::uint64_t>(budget, o_.count - r_.sent);
  if (o_.rate > 0) {
    const double elapsed = static_cast<double>(now - start_ns_) * 1e-9;
    const double allowed = o_.rate * elapsed + 1.0;
    const double room = allowed - static_cast<double>(r_.sent);
    budget = room <= 0 ? 0 : std::min<std::uint64_t>(budget, static_cast<std::uint64_t>(room));
  }
  for (std::uint64_t k = 0; k < budget; ++k) {
    const std::uint32_t slot = free_.back();
    free_.pop_back();
    const std::size_t sock = slot % o_.sockets;
    Out& out = out_[sock];
    const std::size_t i = out.n++;
    Slot& s = slots_[slot];
    s.nonce = (rng_() & ~std::uint64_t{0xFFFF}) | slot;
    s.sent_ns = now;
    s.busy = true;
    ++busy_;
    std::uint8_t* p = out.pkt[i].data();
    std::memset(p, 0, kPacketLen);
    p[0] = (4 << 3) | 3;  // LI 0, version 4, mode 3
    store_be64(p + 40, s.nonce);
    out.iov[i] = iovec{p, kPacketLen};
    msghdr& h = out.msgs[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &server_.addr;
    h.msg_namelen = server_.len;
    h.msg_iov = &out.iov[i];
    h.msg_iovlen = 1;
    out.slot[i] = slot;
    if (server_.v4) {
      const std::uint32_t src = source_base_ + static_cast<std::uint32_t>(seq_ % o_.sources);
      auto& ctl = out.control[i];
      std::memset(ctl.data(), 0, ctl.size());
      h.msg_control = ctl.data();
      h.msg_controllen = ctl.size();
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo pi{};
      pi.ipi_spec_dst.s_addr = htonl(src);
      std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
    ++seq_;
    ++r_.sent;
    if (out.n == kBatch) flush(sock);
  }
  for (std::size_t sock = 0; sock < out_.size(); ++sock) {
    if (out_[sock].n > 0) flush(sock);
  }
}

void Runner::receive(int fd, std::int64_t now) {
  std::array<std::array<std::uint8_t, 128>, kBatch> buf{};
  std::array<sockaddr_storage, kBatch> from{};
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> msgs{};
  for (int round = 0; round < 64; ++round) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      iov[i] = iovec{buf[i].data(), buf[i].size()};
      msgs[i].msg_hdr = msghdr{};
      msgs[i].msg_hdr.msg_name = &from[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int k = 0; k < n; ++k) {
      const auto i = static_cast<std::size_t>(k);
      const std::uint8_t* p = buf[i].data();
      const std::size_t len = msgs[i].msg_len;
      if (!same_peer(server_, from[i], msgs[i].msg_hdr.msg_namelen) || len < kPacketLen ||
          (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0 || (p[0] & 7) != 4 || ((p[0] >> 3) & 7) != 4) {
        ++r_.invalid;
        continue;
      }
      const std::uint64_t origin = load_be64(p + 24);
      const std::uint32_t slot = static_cast<std::uint32_t>(origin & 0xFFFF);
      if (slot >= slots_.size() || !slots_[slot].busy || slots_[slot].nonce != origin) {
        ++r_.invalid;  // not ours, a duplicate, or answered after we gave up
        continue;
      }
      Slot& s = slots_[slot];
      s.busy = false;
      --busy_;
      free_.push_back(slot);
      ++r_.replies;
      rtt_sum_us_ += static_cast<double>(now - s.sent_ns) * 1e-3;
      const std::uint32_t refid = (std::uint32_t{p[12]} << 24) | (std::uint32_t{p[13]} << 16) |
                                  (std::uint32_t{p[14]} << 8) | p[15];
      if (p[1] == 0 && refid == kKodRate) ++r_.kod;
    }
    if (static_cast<std::size_t>(n) < kBatch) return;
  }
}

void Runner::expire(std::int64_t now) {
  const auto timeout_ns = static_cast<std::int64_t>(o_.timeout_s * 1e9);
  for (std::uint32_t s = 0; s < slots_.size(); ++s) {
    Slot& slot = slots_[s];
    if (slot.busy && now - slot.sent_ns > timeout_ns) {
      slot.busy = false;
      --busy_;
      free_.push_back(s);
      ++r_.lost;
    }
  }
}

void Runner::run() {
  start_ns_ = mono_ns();
  const double duration = std::min(std::max(o_.duration_s, 0.0), kMaxDurationS);
  const std::int64_t stop_sending = start_ns_ + static_cast<std::int64_t>(duration * 1e9);
  const auto timeout_ns = static_cast<std::int64_t>(o_.timeout_s * 1e9);
  std::int64_t next_expire = start_ns_;
  std::array<epoll_event, 64> events{};
  for (;;) {
    std::int64_t now = mono_ns();
    const bool sending = now < stop_sending && (o_.count == 0 || r_.sent < o_.count);
    if (sending && !free_.empty()) send_some(now);
    if (!sending && busy_ == 0) break;
    if (now > stop_sending + timeout_ns + 1'000'000'000) break;  // hard stop
    // With a rate limit, wake in time for the next request.
    const int wait_ms = o_.rate > 0 || busy_ == 0 ? 1 : 5;
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), wait_ms);
    now = mono_ns();
    for (int i = 0; i < n; ++i) receive(fds_[events[static_cast<std::size_t>(i)].data.u32], now);
    if (now >= next_expire) {
      expire(now);
      next_expire = now + std::max<std::int64_t>(timeout_ns / 4, 1'000'000);
    }
  }
  const std::int64_t end = mono_ns();
  // Whatever is still out when the hard stop hits is lost too.
  for (Slot& s : slots_) {
    if (s.busy) {
      s.busy = false;
      ++r_.lost;
    }
  }
  r_.seconds = static_cast<double>(end - start_ns_) * 1e-9;
  r_.mean_rtt_us = r_.replies > 0 ? rtt_sum_us_ / static_cast<double>(r_.replies) : 0.0;
}

}  // namespace

bool run_load(const LoadOptions& options, LoadResult& result, std::string& error) {
  result = LoadResult{};
  Runner runner(options, result);
  if (!runner.setup(error)) return false;
  runner.run();
  return true;
}

std::string format_result(const LoadOptions& o, const LoadResult& r) {
  const double rps = r.seconds > 0 ? static_cast<double>(r.replies) / r.seconds : 0.0;
  const double loss = r.sent > 0 ? static_cast<double>(r.lost) / static_cast<double>(r.sent) : 0.0;
  char buf[512];
  if (o.json) {
    std::snprintf(buf, sizeof buf,
                  "{\"sent\": %" PRIu64 ", \"replies\": %" PRIu64 ", \"kod\": %" PRIu64 ", \"invalid\": %" PRIu64
                  ", \"lost\": %" PRIu64 ", \"send_errors\": %" PRIu64
                  ", \"seconds\": %.3f, \"replies_per_s\": %.1f, \"loss\": %.6f, \"mean_rtt_us\": %.1f}\n",
                  r.sent, r.replies, r.kod, r.invalid, r.lost, r.send_errors, r.seconds, rps, loss, r.mean_rtt_us);
  } else {
    std::snprintf(buf, sizeof buf,
                  "sent %" PRIu64 "  replies %" PRIu64 " (KoD %" PRIu64 ")  invalid %" PRIu64 "  lost %" PRIu64
                  " (%.2f%%)  send errors %" PRIu64 "\n%.3f s  %.0f replies/s  mean RTT %.1f us\n",
                  r.sent, r.replies, r.kod, r.invalid, r.lost, loss * 100.0, r.send_errors, r.seconds, rps,
                  r.mean_rtt_us);
  }
  return buf;
}

}  // namespace gnomon::load
