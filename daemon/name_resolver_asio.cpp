#include <boost/asio/ip/udp.hpp>

#include <memory>

#include <spdlog/spdlog.h>

#include "daemon/name_resolver.hpp"

namespace gnomon::daemon {

void resolve_name(boost::asio::io_context& ctx, const std::string& name, std::uint16_t port,
                  std::function<void(std::vector<IpAddress>)> done) {
  auto resolver = std::make_shared<boost::asio::ip::udp::resolver>(ctx);
  resolver->async_resolve(
      name, std::to_string(port),
      [resolver, name, done = std::move(done)](const boost::system::error_code& ec,
                                               boost::asio::ip::udp::resolver::results_type results) {
        std::vector<IpAddress> addrs;
        if (ec) {
          spdlog::debug("Could not resolve {}: {}", name, ec.message());
        } else {
          for (const auto& r : results) {
            auto a = r.endpoint().address();
            if (a.is_v4()) {
              addrs.push_back(IpAddress::v4(a.to_v4().to_uint()));
            } else {
              addrs.push_back(IpAddress::v6(a.to_v6().to_bytes()));
            }
          }
        }
        done(std::move(addrs));
      });
}

}  // namespace gnomon::daemon
