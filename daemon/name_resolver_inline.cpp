#include <netdb.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include "daemon/name_resolver.hpp"
#include "daemon/socket_util.hpp"

namespace gnomon::daemon {

void resolve_name(boost::asio::io_context& ctx, const std::string& name, std::uint16_t port,
                  std::function<void(std::vector<IpAddress>)> done) {
  boost::asio::post(ctx, [name, port, done = std::move(done)] {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    std::vector<IpAddress> addrs;
    const int r = ::getaddrinfo(name.c_str(), std::to_string(port).c_str(), &hints, &res);
    if (r != 0) {
      spdlog::debug("Could not resolve {}: {}", name, ::gai_strerror(r));
    } else {
      for (const addrinfo* a = res; a != nullptr; a = a->ai_next) {
        if (auto sa = from_sockaddr(a->ai_addr, a->ai_addrlen)) addrs.push_back(sa->ip);
      }
      ::freeaddrinfo(res);
    }
    done(std::move(addrs));
  });
}

}  // namespace gnomon::daemon
