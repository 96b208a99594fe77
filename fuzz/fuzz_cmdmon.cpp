// chrony's command protocol, daemon side (lib/cmdmon_server.hpp): any
// datagram on either channel, against a provider with data in every report.
// A reply is never longer than the request nor than the buffer, and write
// commands never run over UDP.
#include "fuzz/fuzz_support.hpp"
#include "lib/cmdmon_server.hpp"

using namespace gnomon;
using namespace gnomon::cmdmon;
using namespace gnomon::fuzz;

namespace {

class FakeProvider final : public ControlDataProvider {
 public:
  std::uint32_t source_count() const override { return 3; }
  std::optional<SourceReport> source(std::uint32_t index) const override {
    if (index >= 3) return std::nullopt;
    SourceReport r;
    r.address = Address::inet4(0x7F000001u + index);
    r.stratum = 2;
    r.reachability = 0377;
    r.original_offset_s = 1e-6 * index;
    return r;
  }
  std::optional<SourcestatsReport> sourcestats(std::uint32_t index) const override {
    if (index >= 3) return std::nullopt;
    SourcestatsReport r;
    r.address = Address::inet4(0x7F000001u + index);
    r.samples = 8;
    return r;
  }
  TrackingReport tracking() const override { return TrackingReport{}; }
  ActivityReport activity() const override { return ActivityReport{3, 0, 0, 0, 1}; }
  std::optional<std::string> source_name(const Address& a) const override {
    if (a == Address::inet4(0x7F000001u)) return std::string("localhost");
    return std::nullopt;
  }
  std::optional<SelectDataReport> selectdata(std::uint32_t index) const override {
    if (index >= 3) return std::nullopt;
    return SelectDataReport{};
  }
  std::optional<NtpDataReport> ntp_data(const Address& remote) const override {
    NtpDataReport r;
    r.remote_address = remote;
    return r;
  }
  ServerStatsReport server_stats() const override { return ServerStatsReport{}; }
  std::optional<ClientAccessesPage> client_accesses(std::uint32_t first, std::uint32_t, std::uint32_t,
                                                    bool) override {
    ClientAccessesPage p;
    p.n_indices = 40;
    p.next_index = first + 8;
    for (std::uint32_t i = 0; i < 10; ++i) p.clients.push_back(ClientAccessReport{});
    return p;
  }
  Status make_step() override { ++writes; return Status::Success; }
  Status burst(const SourceMatch&, int, int) override { ++writes; return Status::Success; }
  Status set_online(const SourceMatch&, bool) override { ++writes; return Status::Success; }
  Status reload_sources() override { ++writes; return Status::Success; }
  int writes = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ChannelKind channel = (data[0] & 1) ? ChannelKind::UnixSocket : ChannelKind::Udp;
  const std::span<const std::uint8_t> request(data + 1, size - 1);
  FakeProvider provider;
  std::vector<std::uint8_t> out(kMaxReplyLength);
  const CommandResult r = handle_command(request, channel, provider, out);
  if (r.replied()) {
    GNOMON_FUZZ_CHECK(r.reply_length <= request.size());
    GNOMON_FUZZ_CHECK(r.reply_length <= out.size());
  } else {
    GNOMON_FUZZ_CHECK(r.reply_length == 0);
  }
  if (channel == ChannelKind::Udp) GNOMON_FUZZ_CHECK(provider.writes == 0);
  (void)is_monitoring_command(r.command);
  // A too small buffer must drop, never overflow.
  std::vector<std::uint8_t> small(40);
  const CommandResult s = handle_command(request, channel, provider, small);
  GNOMON_FUZZ_CHECK(!s.replied() || s.reply_length <= small.size());
  return 0;
}
