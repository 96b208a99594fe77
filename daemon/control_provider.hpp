// Answers the command protocol's questions from gnomond's live state: the
// SyncEngine (sources, tracking) and the NTP server's counters. Maps
// gnomon's sign conventions onto chrony's wire conventions.
#pragma once

#include <functional>
#include <mutex>

#include "daemon/control_server.hpp"
#include "daemon/ntp_server.hpp"
#include "daemon/time_sync.hpp"
#include "lib/cmdmon_server.hpp"

namespace gnomon::daemon {

class ControlProvider final : public cmdmon::ControlDataProvider {
 public:
  // `server` may be null (client only); `control` supplies command counters.
  ControlProvider(TimeSync& sync, NtpServer* server, std::function<void()> reload_sources);
  void set_control_counters(const ControlCounters* counters) { control_ = counters; }
  // Logs one command request from `client` over UDP (chrony's cmdmon client
  // log), for the command columns of `clients`. `dropped`: refused (rate
  // limit or access). Called by the control server; thread-safe.
  void log_command_access(const IpAddress& client, bool dropped);

  [[nodiscard]] std::uint32_t source_count() const override;
  [[nodiscard]] std::optional<cmdmon::SourceReport> source(std::uint32_t index) const override;
  [[nodiscard]] std::optional<cmdmon::SourcestatsReport> sourcestats(std::uint32_t index) const override;
  [[nodiscard]] cmdmon::TrackingReport tracking() const override;
  [[nodiscard]] cmdmon::ActivityReport activity() const override;
  [[nodiscard]] std::optional<std::string> source_name(const cmdmon::Address& address) const override;
  [[nodiscard]] std::optional<cmdmon::SelectDataReport> selectdata(std::uint32_t index) const override;
  [[nodiscard]] std::optional<cmdmon::NtpDataReport> ntp_data(const cmdmon::Address& remote) const override;
  [[nodiscard]] cmdmon::ServerStatsReport server_stats() const override;
  [[nodiscard]] std::optional<cmdmon::ClientAccessesPage> client_accesses(std::uint32_t first_index,
                                                                          std::uint32_t max_clients,
                                                                          std::uint32_t min_hits,
                                                                          bool reset) override;
  [[nodiscard]] cmdmon::Status make_step() override;
  [[nodiscard]] cmdmon::Status burst(const cmdmon::SourceMatch& sources, int good_samples,
                                     int total_samples) override;
  [[nodiscard]] cmdmon::Status set_online(const cmdmon::SourceMatch& sources, bool online) override;
  [[nodiscard]] cmdmon::Status reload_sources() override;
  [[nodiscard]] cmdmon::Status set_local(const cmdmon::LocalRequest& local) override;

 private:
  TimeSync& sync_;
  NtpServer* server_;
  // Command accesses by address: a small log of its own (the NTP workers'
  // logs are theirs alone), merged into `clients` rows by address.
  mutable std::mutex cmd_log_mutex_;
  ClientLog cmd_log_;
  const ControlCounters* control_ = nullptr;
  std::function<void()> reload_sources_;
};

}  // namespace gnomon::daemon
