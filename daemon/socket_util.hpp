// Small POSIX socket helpers shared by the NTP server, the NTP client and the
// control server: address conversion, kernel receive timestamps, options.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <system_error>

#include "lib/net_address.hpp"
#include "lib/time.hpp"

namespace gnomon::daemon {

// Converts to a sockaddr; returns its length.
socklen_t to_sockaddr(const SocketAddress& a, sockaddr_storage& out);
// IPv4-mapped IPv6 addresses come back as IPv4.
std::optional<SocketAddress> from_sockaddr(const sockaddr* sa, socklen_t len);

// Which kernel receive timestamp a socket delivers.
enum class RxTimestamping : std::uint8_t { None, Ns, Software };

// Asks the kernel for software RX timestamps (SO_TIMESTAMPING), falling back
// to SO_TIMESTAMPNS. Returns what was enabled.
RxTimestamping enable_rx_timestamps(int fd);

// Size of the control buffer recvmsg needs for the timestamp messages.
inline constexpr std::size_t kRxControlLen = 256;

// A control-message buffer, aligned as CMSG_FIRSTHDR/CMSG_NXTHDR require.
template <std::size_t N>
struct alignas(cmsghdr) ControlBuffer {
  std::array<char, N> bytes{};
  [[nodiscard]] char* data() { return bytes.data(); }
  [[nodiscard]] static constexpr std::size_t size() { return N; }
};

// Extracts the kernel receive timestamp from a received message's control data.
std::optional<TimePoint> rx_timestamp_from_cmsg(const msghdr& msg);

#ifndef GNOMON_PORTABLE_IO
// Software RX timestamps plus software TX timestamps, read back from the
// error queue alone (no copy of the packet). Every send is stamped
// (`TxStamping::EverySend`, the client's one-request sockets), or only sends
// that ask by control message, keyed by a per-socket counter
// (`TxStamping::OnRequest`, SOF_TIMESTAMPING_OPT_ID: the server). Returns false
// where unsupported; the daemon's own transmit times are used then.
enum class TxStamping : std::uint8_t { EverySend, OnRequest };
bool enable_tx_timestamps(int fd, TxStamping mode);

// The software transmit timestamp and its key (the OPT_ID counter) from an
// error-queue message. False if the message holds no such timestamp.
bool parse_tx_timestamp(const msghdr& h, TimePoint& ts, std::uint32_t& key);
#endif

// Reads CLOCK_REALTIME.
TimePoint realtime_now();

// Opens a UDP socket bound to `addr` (non-blocking, close-on-exec). With
// `reuse_port`, several sockets may share the address (one per worker).
// IPv6 sockets are IPv6-only so that "0.0.0.0" and "[::]" can both be bound.
int open_udp_socket(const SocketAddress& addr, bool reuse_port, std::error_code& ec);

}  // namespace gnomon::daemon
