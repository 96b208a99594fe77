#include "lib/config.hpp"

namespace gnomon {

namespace {
std::vector<SocketAddress> any_v4_v6(std::uint16_t port) {
  return {SocketAddress{IpAddress::v4(0), port}, SocketAddress{IpAddress::v6({}), port}};
}
}  // namespace

std::vector<SocketAddress> default_server_listen() { return any_v4_v6(123); }

std::vector<SocketAddress> default_control_listen() {
  std::array<std::uint8_t, 16> loop6{};
  loop6[15] = 1;
  return {SocketAddress{IpAddress::v4(0x7F000001u), 323}, SocketAddress{IpAddress::v6(loop6), 323}};
}

std::vector<SocketAddress> default_nts_listen() { return any_v4_v6(4460); }

}  // namespace gnomon
