// The daemon's side of chrony's command protocol, as a pure function:
// request bytes + channel + data provider -> reply bytes, or a drop.
//
// chronyd's rules (cmdmon.c), applied in this order:
// 1. Shorter than a reply header (28 bytes) or longer than 860 bytes: drop.
//    Not a request packet (type 1, reserved bytes zero): drop.
// 2. Protocol version other than 6: a "bad version" reply for versions 5 and
//    later (it is never longer than the request), a drop for older ones.
// 3. Unknown or obsolete command: Status::Invalid ("502 Invalid command").
// 4. Shorter than the command requires, padding included:
//    Status::BadPacketLength ("518 Packet length mismatch").
// 5. Over UDP only the open monitoring commands are served (chrony's
//    `opencommands`; by default N_SOURCES, SOURCE_DATA, NTP_SOURCE_NAME,
//    TRACKING, SOURCESTATS, ACTIVITY, and the open but unsupported
//    RTCREPORT, SMOOTHING, MANUAL_LIST); everything else gets
//    Status::Unauthorised ("501 Not authorised"). The Unix socket serves
//    every command.
// 6. A reply is never longer than its request: SERVER_STATS answers with the
//    4.3 layout (72 bytes) unless the request has room for the 4.4+ layout
//    (196), NTP_DATA with the 152-byte layout unless it has room for 172.
//
// Not here: the UDP source-address check (loopback always allowed, else
// `cmdallow`) and the per-client rate limit; the daemon applies both before
// calling handle_command().
#pragma once

#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lib/cmdmon.hpp"

namespace gnomon::cmdmon {

enum class ChannelKind : std::uint8_t { Udp, UnixSocket };

// What gnomond reports and does on request. Indices address the same list of
// sources in source(), sourcestats() and selectdata(): 0 .. source_count()-1.
// Getters return nullopt for an index or address they don't know; the client
// then gets Status::NoSuchSource ("503 No such source").
class ControlDataProvider {
 public:
  virtual ~ControlDataProvider() = default;

  // Monitoring: served on UDP and on the Unix socket.
  [[nodiscard]] virtual std::uint32_t source_count() const = 0;
  [[nodiscard]] virtual std::optional<SourceReport> source(std::uint32_t index) const = 0;
  [[nodiscard]] virtual std::optional<SourcestatsReport> sourcestats(std::uint32_t index) const = 0;
  [[nodiscard]] virtual TrackingReport tracking() const = 0;
  [[nodiscard]] virtual ActivityReport activity() const = 0;
  // The name a source was configured with ("0.pool.ntp.org"), for chronyc -N.
  [[nodiscard]] virtual std::optional<std::string> source_name(const Address& address) const = 0;

  // Unix socket only.
  [[nodiscard]] virtual std::optional<SelectDataReport> selectdata(std::uint32_t index) const = 0;
  [[nodiscard]] virtual std::optional<NtpDataReport> ntp_data(const Address& remote) const = 0;
  [[nodiscard]] virtual ServerStatsReport server_stats() const = 0;
  // Up to `max_clients` (<= 8) records of the client log, starting at table
  // index `first_index` and skipping records with fewer than `min_hits`
  // packets; `reset` clears the counters of the returned records. The page's
  // next_index is the first index not examined. nullopt when client logging is
  // off (Status::Inactive, "519 Client logging is not active in the daemon").
  [[nodiscard]] virtual std::optional<ClientAccessesPage> client_accesses(std::uint32_t first_index,
                                                                          std::uint32_t max_clients,
                                                                          std::uint32_t min_hits, bool reset) = 0;
  // Actions. Return Status::Success, or Status::Failed (makestep that could
  // not step), Status::NoSuchSource (no source matched).
  [[nodiscard]] virtual Status make_step() = 0;
  [[nodiscard]] virtual Status burst(const SourceMatch& sources, int good_samples, int total_samples) = 0;
  [[nodiscard]] virtual Status set_online(const SourceMatch& sources, bool online) = 0;
  [[nodiscard]] virtual Status reload_sources() = 0;
  // chronyc `local ...` / `local off`; not supported unless overridden.
  [[nodiscard]] virtual Status set_local(const LocalRequest& /*local*/) { return Status::Invalid; }
};

enum class CommandOutcome : std::uint8_t {
  Replied,
  DroppedMalformed,  // bad length, not a request, or an old protocol version
  DroppedTooLong,    // the reply would be longer than the request
  DroppedNoRoom,     // `out` too small for the reply
};

struct CommandResult {
  CommandOutcome outcome = CommandOutcome::DroppedMalformed;
  std::size_t reply_length = 0;  // bytes of `out` to send when Replied
  std::uint16_t command = 0;     // as requested (for logs and counters)
  Status status = Status::Success;
  [[nodiscard]] bool replied() const { return outcome == CommandOutcome::Replied; }
};

// The request codes served over UDP (chrony's `opencommands`).
class OpenCommands {
 public:
  // chronyd's default: activity, manual, rtcdata, smoothing, sourcename,
  // sources, sourcestats and tracking (plus NULL and LOGON, always open).
  OpenCommands();
  // From chronyc command names (see kOpenCommandNames in the config rules);
  // nullopt names the first unknown one in `unknown`.
  [[nodiscard]] static std::optional<OpenCommands> from_names(const std::vector<std::string>& names,
                                                              std::string* unknown = nullptr);
  [[nodiscard]] bool open(std::uint16_t command) const {
    return command < codes_.size() && codes_.test(command);
  }

 private:
  std::bitset<kCommandCount> codes_;
};

// Handles one request datagram. `out` should hold kMaxReplyLength bytes.
// `open` is what UDP may ask for.
[[nodiscard]] CommandResult handle_command(std::span<const std::uint8_t> request, ChannelKind channel,
                                           ControlDataProvider& provider, std::span<std::uint8_t> out,
                                           const OpenCommands& open = OpenCommands());

// True for the commands chronyd serves over UDP by default.
[[nodiscard]] bool is_monitoring_command(std::uint16_t command);

}  // namespace gnomon::cmdmon
