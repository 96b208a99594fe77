// The datagram channel to the daemon, as chronyc opens it: a list of targets
// (Unix socket paths and UDP addresses) tried in order. For a Unix socket the
// client binds its own socket in the server socket's directory
// ("gnomonc.<pid>.sock", mode 0666) so that the daemon can answer, and
// removes it when done.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tools/gnomonc/names.hpp"

namespace gnomon::gnomonc {

// Default targets: the gnomond socket, then UDP on loopback (as chronyc's).
inline constexpr std::string_view kDefaultSocketPath = "/run/gnomon/gnomond.sock";
inline constexpr std::string_view kDefaultHosts = "/run/gnomon/gnomond.sock,127.0.0.1,::1";

struct Target {
  bool is_unix = false;
  std::string path;            // Unix socket path
  sockaddr_storage address{};  // UDP address and port
  socklen_t address_length = 0;
};

// Parses a comma-separated list: entries starting with '/' are socket paths,
// anything else is a host name or address resolved to all its addresses.
// Names that don't resolve are skipped.
[[nodiscard]] std::vector<Target> resolve_targets(std::string_view hosts, std::uint16_t port, FamilyFilter filter);

enum class ReceiveStatus { Datagram, Timeout, Error };

class Transport {
 public:
  explicit Transport(std::vector<Target> targets);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Closes the open target, if any, and opens the next one that works.
  // After the last target it starts over and returns false (chronyc's open_io).
  [[nodiscard]] bool open_next();
  [[nodiscard]] bool is_open() const { return fd_ >= 0; }
  [[nodiscard]] bool send(std::span<const std::uint8_t> packet);
  // Waits up to `timeout` for one datagram and stores it in `out`.
  [[nodiscard]] ReceiveStatus receive(std::chrono::milliseconds timeout, std::vector<std::uint8_t>& out);

 private:
  [[nodiscard]] bool open_target(const Target& target);
  void close_current();

  std::vector<Target> targets_;
  std::size_t next_index_ = 0;
  bool has_opened_ = false;
  int fd_ = -1;
  std::string local_path_;  // our bound Unix socket, removed on close
};

}  // namespace gnomon::gnomonc
