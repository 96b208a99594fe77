#include "lib/cmdmon_server.hpp"

#include <algorithm>

namespace gnomon::cmdmon {
namespace {

// Length of the reply body gnomond sends in each layout.
constexpr std::size_t kServerStats4Length = 196;
constexpr std::size_t kNtpData2Length = 172;

struct Reply {
  std::size_t length = 0;  // 0: `out` too small
  Status status = Status::Success;
};

Reply status_only(ReplyHeader h, Status status, std::span<std::uint8_t> out) {
  h.status = static_cast<std::uint16_t>(status);
  return {encode_status_reply(h, out), status};
}

template <typename Report>
Reply report_or_missing(ReplyHeader h, const std::optional<Report>& report, std::span<std::uint8_t> out) {
  if (!report) return status_only(h, Status::NoSuchSource, out);
  return {encode_reply(h, *report, out), Status::Success};
}

Reply dispatch(Command command, std::span<const std::uint8_t> request, ReplyHeader h,
               ControlDataProvider& provider, std::span<std::uint8_t> out) {
  const RequestArgs args = decode_request_args(command, request);
  switch (command) {
    case Command::Null:
      return status_only(h, Status::Success, out);
    case Command::Logon:  // authentication was removed from the protocol
      return status_only(h, Status::Failed, out);
    case Command::NSources:
      return {encode_n_sources_reply(h, provider.source_count(), out), Status::Success};
    case Command::SourceData:
      return report_or_missing(h, provider.source(args.index), out);
    case Command::Sourcestats:
      return report_or_missing(h, provider.sourcestats(args.index), out);
    case Command::SelectData:
      return report_or_missing(h, provider.selectdata(args.index), out);
    case Command::Tracking:
      return {encode_reply(h, provider.tracking(), out), Status::Success};
    case Command::Activity:
      return {encode_reply(h, provider.activity(), out), Status::Success};
    case Command::NtpSourceName: {
      const auto name = provider.source_name(args.address);
      if (!name) return status_only(h, Status::NoSuchSource, out);
      return {encode_source_name_reply(h, *name, out), Status::Success};
    }
    case Command::ServerStats: {
      const auto layout = request.size() >= kServerStats4Length ? ServerStatsLayout::V4 : ServerStatsLayout::V3;
      return {encode_reply(h, provider.server_stats(), layout, out), Status::Success};
    }
    case Command::NtpData: {
      const auto report = provider.ntp_data(args.address);
      if (!report) return status_only(h, Status::NoSuchSource, out);
      const auto layout = request.size() >= kNtpData2Length ? NtpDataLayout::V2 : NtpDataLayout::V1;
      return {encode_reply(h, *report, layout, out), Status::Success};
    }
    case Command::ClientAccessesByIndex3: {
      const std::uint32_t max_clients = std::min(args.max_clients, kMaxClientsPerReply);
      auto page = provider.client_accesses(args.first_index, max_clients, args.min_hits, args.reset);
      if (!page) return status_only(h, Status::Inactive, out);
      if (page->clients.size() > max_clients) page->clients.resize(max_clients);
      return {encode_reply(h, *page, out), Status::Success};
    }
    case Command::MakeStep:
      return status_only(h, provider.make_step(), out);
    case Command::Burst:
      return status_only(h, provider.burst({args.mask, args.address}, args.burst_good_samples,
                                           args.burst_total_samples), out);
    case Command::Online:
      return status_only(h, provider.set_online({args.mask, args.address}, true), out);
    case Command::Offline:
      return status_only(h, provider.set_online({args.mask, args.address}, false), out);
    case Command::OnOffline:  // chronyd answers success whether or not a source changed
      static_cast<void>(provider.set_online({}, true));
      return status_only(h, Status::Success, out);
    case Command::ReloadSources:
      return status_only(h, provider.reload_sources(), out);
    case Command::Local3:
      return status_only(h, provider.set_local(args.local), out);
    case Command::RtcReport:
      return status_only(h, Status::NoRtc, out);
    case Command::Smoothing:
    case Command::ManualList:
      return status_only(h, Status::NotEnabled, out);
    default:
      return status_only(h, Status::Invalid, out);
  }
}

}  // namespace

bool is_monitoring_command(std::uint16_t command) {
  switch (static_cast<Command>(command)) {
    case Command::Null:
    case Command::Logon:
    case Command::NSources:
    case Command::SourceData:
    case Command::Tracking:
    case Command::Sourcestats:
    case Command::RtcReport:
    case Command::ManualList:
    case Command::Activity:
    case Command::Smoothing:
    case Command::NtpSourceName:
      return true;
    default:
      return false;
  }
}

namespace {

// The request codes one chronyc command name opens (chrony's opencommands);
// empty for an unknown name.
std::vector<Command> commands_of(const std::string& name) {
  if (name == "activity") return {Command::Activity};
  if (name == "authdata") return {Command::NSources, Command::AuthData};
  if (name == "clients") return {Command::ClientAccessesByIndex3};
  if (name == "manual") return {Command::ManualList};
  if (name == "ntpdata") return {Command::NSources, Command::NtpData};
  if (name == "rtcdata") return {Command::RtcReport};
  if (name == "selectdata") return {Command::NSources, Command::SelectData};
  if (name == "serverstats") return {Command::ServerStats};
  if (name == "smoothing") return {Command::Smoothing};
  if (name == "sourcename") return {Command::NtpSourceName};
  if (name == "sources") return {Command::NSources, Command::SourceData};
  if (name == "sourcestats") return {Command::NSources, Command::Sourcestats};
  if (name == "tracking") return {Command::Tracking};
  return {};
}

}  // namespace

OpenCommands::OpenCommands() {
  for (std::uint16_t c = 0; c < kCommandCount; ++c) {
    if (is_monitoring_command(c)) codes_.set(c);
  }
}

std::optional<OpenCommands> OpenCommands::from_names(const std::vector<std::string>& names,
                                                     std::string* unknown) {
  OpenCommands o;
  o.codes_.reset();
  // NULL and LOGON are answered whatever is open (success and failure).
  o.codes_.set(static_cast<std::size_t>(Command::Null));
  o.codes_.set(static_cast<std::size_t>(Command::Logon));
  for (const std::string& n : names) {
    const std::vector<Command> codes = commands_of(n);
    if (codes.empty()) {
      if (unknown != nullptr) *unknown = n;
      return std::nullopt;
    }
    for (Command c : codes) o.codes_.set(static_cast<std::size_t>(c));
  }
  return o;
}

CommandResult handle_command(std::span<const std::uint8_t> request, ChannelKind channel,
                             ControlDataProvider& provider, std::span<std::uint8_t> out,
                             const OpenCommands& open) {
  CommandResult result;
  if (out.size() < kReplyHeaderLength) {
    result.outcome = CommandOutcome::DroppedNoRoom;
    return result;
  }
  // An error reply must not be longer than the request, so anything shorter
  // than a reply header gets no answer at all.
  if (request.size() < kReplyHeaderLength || request.size() > kMaxRequestLength) return result;
  const auto rq = decode_request_header(request);
  if (!rq || rq->packet_type != kPacketTypeRequest || rq->reserved1 != 0 || rq->reserved2 != 0) return result;
  result.command = rq->command;

  ReplyHeader h;
  h.command = rq->command;
  h.sequence = rq->sequence;

  Reply reply;
  if (rq->version != kProtocolVersion) {
    if (rq->version < kOldestVersionWithMismatchReply) return result;
    reply = status_only(h, Status::BadPacketVersion, out);
  } else if (required_request_length(rq->command) == 0) {
    reply = status_only(h, Status::Invalid, out);
  } else if (request.size() < required_request_length(rq->command)) {
    reply = status_only(h, Status::BadPacketLength, out);
  } else if (channel == ChannelKind::Udp && !open.open(rq->command)) {
    reply = status_only(h, Status::Unauthorised, out);
  } else {
    reply = dispatch(static_cast<Command>(rq->command), request, h, provider, out);
  }

  result.status = reply.status;
  if (reply.length == 0) {
    result.outcome = CommandOutcome::DroppedNoRoom;
  } else if (reply.length > request.size()) {
    result.outcome = CommandOutcome::DroppedTooLong;
  } else {
    result.outcome = CommandOutcome::Replied;
    result.reply_length = reply.length;
  }
  return result;
}

}  // namespace gnomon::cmdmon
