#include "daemon/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include <array>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon/asio_nonblocking.hpp"
#include "daemon/socket_util.hpp"

namespace gnomon::daemon {

namespace {
constexpr std::size_t kMaxBuckets = 256;
constexpr double kBurst = 8.0;
constexpr double kRatePerS = 16.0;  // 2^-(-4)
constexpr std::size_t kRxLen = cmdmon::kMaxRequestLength + 4;
}  // namespace

struct ControlServer::UdpListener {
  explicit UdpListener(boost::asio::io_context& ctx) : socket(ctx) {}
  boost::asio::ip::udp::socket socket;
};

ControlServer::ControlServer(boost::asio::io_context& ctx, cmdmon::ControlDataProvider& provider)
    : ctx_(ctx), provider_(provider) {}

ControlServer::~ControlServer() { close(); }

void ControlServer::set_access(const std::vector<AccessRule>& rules) {
  access_ = AccessTable::build(rules);
}

void ControlServer::set_open_commands(const std::vector<std::string>& names) {
  open_commands_ = cmdmon::OpenCommands::from_names(names).value_or(cmdmon::OpenCommands());
}

std::error_code ControlServer::open(const ControlConfig& config, std::string& what) {
  set_access(config.access);
  set_open_commands(config.open_commands);
  // As chronyd: a socket that cannot be opened is logged and the others
  // still serve; the first failure is returned.
  std::error_code first;
  const FailureLog failed = [&](std::string w, std::error_code ec) {
    spdlog::error("Could not open {}: {}", w, ec.message());
    if (!first) {
      first = ec;
      what = std::move(w);
    }
  };
  for (const auto& addr : config.listen) {
    std::error_code ec;
    int fd = open_udp_socket(addr, false, ec);
    if (fd < 0) {
      failed("command socket on " + addr.to_string(), ec);
      continue;
    }
    auto l = std::make_unique<UdpListener>(ctx_);
    boost::system::error_code bec;
    l->socket.assign(addr.ip.is_v4() ? boost::asio::ip::udp::v4() : boost::asio::ip::udp::v6(), fd, bec);
    if (!bec) mark_non_blocking(l->socket);
    if (bec) {
      failed("command socket on " + addr.to_string(), std::error_code(bec.value(), std::system_category()));
      continue;
    }
    udp_.push_back(std::move(l));
  }
  if (!config.socket.empty()) open_unix(config.socket, failed);
  for (auto& l : udp_) wait_udp(*l);
  if (unix_) wait_unix();
  return first;
}

void ControlServer::open_unix(const std::string& path, const FailureLog& failed) {
  {
    sockaddr_un sun{};
    if (path.size() >= sizeof sun.sun_path) {
      failed("command socket " + path + " (path too long)", std::make_error_code(std::errc::filename_too_long));
      return;
    }
    // The directory holds only our socket: 0750, so that the group may talk to us.
    std::string dir = path.substr(0, path.rfind('/'));
    if (!dir.empty() && ::mkdir(dir.c_str(), 0750) == 0) {
      spdlog::debug("Created {}", dir);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        failed("command socket " + path + " (exists and is not a socket; refusing to remove it)",
               std::make_error_code(std::errc::file_exists));
        return;
      }
      ::unlink(path.c_str());
    }
    int fd = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0) {
      failed("command socket " + path, std::error_code(errno, std::system_category()));
      return;
    }
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0 ||
        ::chmod(path.c_str(), 0660) < 0) {
      std::error_code ec(errno, std::system_category());
      ::close(fd);
      failed("command socket " + path, ec);
      return;
    }
    unix_ = std::make_unique<boost::asio::local::datagram_protocol::socket>(ctx_);
    boost::system::error_code bec;
    unix_->assign(boost::asio::local::datagram_protocol(), fd, bec);
    if (!bec) mark_non_blocking(*unix_);
    unix_path_ = path;
  }
}

void ControlServer::close() {
  boost::system::error_code ec;
  for (auto& l : udp_) l->socket.close(ec);
  udp_.clear();
  if (unix_) {
    unix_->close(ec);
    unix_.reset();
    ::unlink(unix_path_.c_str());
  }
}

bool ControlServer::rate_ok(const IpAddress& ip) {
  std::int64_t now = realtime_now().unix_ns;
  Bucket* b = nullptr;
  for (auto& x : buckets_) {
    if (x.ip == ip) {
      b = &x;
      break;
    }
  }
  if (b == nullptr) {
    if (buckets_.size() >= kMaxBuckets) {
      auto oldest = std::min_element(buckets_.begin(), buckets_.end(),
                                     [](const Bucket& a, const Bucket& c) { return a.last_ns < c.last_ns; });
      buckets_.erase(oldest);
    }
    buckets_.push_back(Bucket{ip, kBurst, now});
    b = &buckets_.back();
  }
  double elapsed = static_cast<double>(now - b->last_ns) * 1e-9;
  b->last_ns = now;
  b->tokens = std::min(kBurst, b->tokens + std::max(0.0, elapsed) * kRatePerS);
  if (b->tokens < 1.0) return false;
  b->tokens -= 1.0;
  return true;
}

void ControlServer::wait_udp(UdpListener& l) {
  l.socket.async_wait(boost::asio::ip::udp::socket::wait_read, [this, &l](const boost::system::error_code& ec) {
    if (ec) return;
    std::array<std::uint8_t, kRxLen> in{};
    std::array<std::uint8_t, cmdmon::kMaxReplyLength> out{};
    for (int i = 0; i < 16; ++i) {
      sockaddr_storage peer{};
      socklen_t plen = sizeof peer;
      ssize_t n = ::recvfrom(l.socket.native_handle(), in.data(), in.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&peer), &plen);
      if (n < 0) break;
      counters_.received.add();
      auto from = from_sockaddr(reinterpret_cast<sockaddr*>(&peer), plen);
      if (!from || (!from->ip.is_loopback() && !access_.allowed(from->ip))) {
        counters_.denied.add();
        counters_.dropped.add();
        if (from && access_logger_) access_logger_(from->ip, true);
        continue;
      }
      if (!from->ip.is_loopback() && !rate_ok(from->ip)) {
        counters_.rate_limited.add();
        counters_.dropped.add();
        if (access_logger_) access_logger_(from->ip, true);
        continue;
      }
      if (access_logger_) access_logger_(from->ip, false);
      auto r = cmdmon::handle_command(std::span<const std::uint8_t>(in.data(), static_cast<std::size_t>(n)),
                                      cmdmon::ChannelKind::Udp, provider_, out, open_commands_);
      if (!r.replied()) {
        counters_.dropped.add();
        continue;
      }
      if (::sendto(l.socket.native_handle(), out.data(), r.reply_length, MSG_DONTWAIT,
                   reinterpret_cast<sockaddr*>(&peer), plen) >= 0) {
        counters_.answered.add();
      }
    }
    wait_udp(l);
  });
}

void ControlServer::wait_unix() {
  unix_->async_wait(boost::asio::local::datagram_protocol::socket::wait_read,
                    [this](const boost::system::error_code& ec) {
                      if (ec) return;
                      std::array<std::uint8_t, kRxLen> in{};
                      std::array<std::uint8_t, cmdmon::kMaxReplyLength> out{};
                      for (int i = 0; i < 16; ++i) {
                        sockaddr_un peer{};
                        socklen_t plen = sizeof peer;
                        ssize_t n = ::recvfrom(unix_->native_handle(), in.data(), in.size(), MSG_DONTWAIT,
                                               reinterpret_cast<sockaddr*>(&peer), &plen);
                        if (n < 0) break;
                        counters_.received.add();
                        auto r = cmdmon::handle_command(
                            std::span<const std::uint8_t>(in.data(), static_cast<std::size_t>(n)),
                            cmdmon::ChannelKind::UnixSocket, provider_, out);
                        if (!r.replied() || plen <= static_cast<socklen_t>(sizeof(sa_family_t))) {
                          // No reply, or an unbound client socket we cannot answer.
                          counters_.dropped.add();
                          continue;
                        }
                        if (::sendto(unix_->native_handle(), out.data(), r.reply_length, MSG_DONTWAIT,
                                     reinterpret_cast<sockaddr*>(&peer), plen) >= 0) {
                          counters_.answered.add();
                        }
                      }
                      wait_unix();
                    });
}

}  // namespace gnomon::daemon
