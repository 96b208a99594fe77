#include "tools/gnomonc/transport.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gnomon::gnomonc {
namespace {

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

bool fill_unix_address(const std::string& path, sockaddr_un& sun) {
  sun = sockaddr_un{};
  sun.sun_family = AF_UNIX;
  if (path.size() >= sizeof sun.sun_path) return false;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  return true;
}

bool same_address(const Target& a, const Target& b) {
  return a.address_length == b.address_length && std::memcmp(&a.address, &b.address, a.address_length) == 0;
}

}  // namespace

std::vector<Target> resolve_targets(std::string_view hosts, std::uint16_t port, FamilyFilter filter) {
  std::vector<Target> targets;
  std::size_t start = 0;
  while (start <= hosts.size()) {
    std::size_t comma = hosts.find(',', start);
    if (comma == std::string_view::npos) comma = hosts.size();
    const std::string name(hosts.substr(start, comma - start));
    start = comma + 1;
    if (name.empty()) {
      if (comma == hosts.size()) break;
      continue;
    }
    if (name[0] == '/') {
      Target t;
      t.is_unix = true;
      t.path = name;
      targets.push_back(std::move(t));
      continue;
    }
    addrinfo hints{};
    hints.ai_family = filter == FamilyFilter::Inet4 ? AF_INET : filter == FamilyFilter::Inet6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(name.c_str(), nullptr, &hints, &res) != 0) continue;
    for (const addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(sockaddr_storage)) {
        continue;
      }
      Target t;
      std::memcpy(&t.address, ai->ai_addr, ai->ai_addrlen);
      t.address_length = static_cast<socklen_t>(ai->ai_addrlen);
      if (ai->ai_family == AF_INET) {
        sockaddr_in sin{};
        std::memcpy(&sin, &t.address, sizeof sin);
        sin.sin_port = htons(port);
        std::memcpy(&t.address, &sin, sizeof sin);
      } else {
        sockaddr_in6 sin6{};
        std::memcpy(&sin6, &t.address, sizeof sin6);
        sin6.sin6_port = htons(port);
        std::memcpy(&t.address, &sin6, sizeof sin6);
      }
      bool duplicate = false;
      for (const Target& other : targets) duplicate = duplicate || (!other.is_unix && same_address(other, t));
      if (!duplicate) targets.push_back(t);
    }
    freeaddrinfo(res);
    if (comma == hosts.size()) break;
  }
  return targets;
}

Transport::Transport(std::vector<Target> targets) : targets_(std::move(targets)) {}

Transport::~Transport() { close_current(); }

void Transport::close_current() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!local_path_.empty()) {
    ::unlink(local_path_.c_str());
    local_path_.clear();
  }
}

bool Transport::open_target(const Target& target) {
  if (!target.is_unix) {
    fd_ = ::socket(target.address.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    return ::connect(fd_, reinterpret_cast<const sockaddr*>(&target.address), target.address_length) == 0;
  }

  sockaddr_un remote{};
  sockaddr_un local{};
  const std::string local_path = directory_of(target.path) + "/gnomonc." + std::to_string(::getpid()) + ".sock";
  if (!fill_unix_address(target.path, remote) || !fill_unix_address(local_path, local)) return false;
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  ::unlink(local_path.c_str());
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) return false;
  local_path_ = local_path;
  // The daemon may run as another user: let it send to our socket.
  if (::chmod(local_path.c_str(), 0666) != 0) return false;
  return ::connect(fd_, reinterpret_cast<const sockaddr*>(&remote), sizeof remote) == 0;
}

bool Transport::open_next() {
  if (has_opened_) {
    close_current();
    ++next_index_;
  }
  has_opened_ = true;
  for (; next_index_ < targets_.size(); ++next_index_) {
    if (open_target(targets_[next_index_])) return true;
    close_current();
  }
  next_index_ = 0;
  has_opened_ = false;
  return false;
}

bool Transport::send(std::span<const std::uint8_t> packet) {
  if (fd_ < 0) return false;
  const ssize_t n = ::send(fd_, packet.data(), packet.size(), 0);
  return n == static_cast<ssize_t>(packet.size());
}

ReceiveStatus Transport::receive(std::chrono::milliseconds timeout, std::vector<std::uint8_t>& out) {
  if (fd_ < 0) return ReceiveStatus::Error;
  pollfd pfd{fd_, POLLIN, 0};
  const auto ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, timeout.count()));
  const int ready = ::poll(&pfd, 1, ms);
  if (ready < 0) return errno == EINTR ? ReceiveStatus::Timeout : ReceiveStatus::Error;
  if (ready == 0) return ReceiveStatus::Timeout;
  out.resize(2048);
  const ssize_t n = ::recv(fd_, out.data(), out.size(), 0);
  if (n < 0) {
    out.clear();
    return ReceiveStatus::Error;
  }
  out.resize(static_cast<std::size_t>(n));
  return ReceiveStatus::Datagram;
}

}  // namespace gnomon::gnomonc
