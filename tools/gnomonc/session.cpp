#include "tools/gnomonc/session.hpp"

#include <algorithm>

#include "tools/gnomonc/text_format.hpp"

namespace gnomon::gnomonc {

using std::chrono::steady_clock;

Session::Session(Transport& transport, OutputMode mode, std::FILE* out, SequenceSource sequences,
                 RetryPolicy policy)
    : transport_(transport), mode_(mode), out_(out), sequences_(std::move(sequences)), policy_(policy) {}

void Session::report(const std::string& line, StatusOutput output) {
  last_failure_ = line;
  if (mode_ != OutputMode::Json && output != StatusOutput::None) std::fprintf(out_, "%s\n", line.c_str());
}

bool Session::submit(std::vector<std::uint8_t>& request, std::vector<std::uint8_t>& reply) {
  if (!transport_.is_open()) return false;
  for (int attempt = 0; attempt <= policy_.max_retries; ++attempt) {
    cmdmon::stamp_request(request, sequences_(), static_cast<std::uint16_t>(attempt));
    if (!transport_.send(request)) return false;
    const auto deadline = steady_clock::now() + policy_.initial_timeout * (1 << attempt);
    bool resend = false;
    while (!resend) {
      if (stop_requested_ && stop_requested_()) return false;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
      if (left.count() <= 0) break;
      switch (transport_.receive(left, reply)) {
        case ReceiveStatus::Timeout:
          resend = true;
          break;
        case ReceiveStatus::Error:  // e.g. ICMP port unreachable: try again at once
          resend = true;
          break;
        case ReceiveStatus::Datagram:
          switch (cmdmon::check_reply(request, reply)) {
            case cmdmon::ReplyCheck::Accept:
              return true;
            case cmdmon::ReplyCheck::Resend:
              resend = true;
              break;
            case cmdmon::ReplyCheck::Ignore:
              break;
          }
          break;
      }
    }
  }
  return false;
}

std::optional<std::vector<std::uint8_t>> Session::request(cmdmon::Command command, const cmdmon::RequestArgs& args,
                                                          std::initializer_list<cmdmon::ReplyType> accepted,
                                                          StatusOutput output) {
  std::vector<std::uint8_t> packet = cmdmon::build_request(command, args);
  std::vector<std::uint8_t> reply;
  while (!submit(packet, reply)) {
    if (stop_requested_ && stop_requested_()) {
      last_failure_ = "506 Cannot talk to daemon";
      return std::nullopt;
    }
    if (transport_.open_next()) continue;
    report("506 Cannot talk to daemon", output);
    return std::nullopt;
  }
  const auto header = cmdmon::decode_reply_header(reply);
  if (!header) {  // check_reply() accepted it, so this cannot happen
    report("508 Bad reply from daemon", output);
    return std::nullopt;
  }
  const auto status = static_cast<cmdmon::Status>(header->status);
  if (status != cmdmon::Status::Success) {
    report(text::status_line(header->status), output);
  } else if (output == StatusOutput::All && mode_ != OutputMode::Json) {
    std::fprintf(out_, "%s\n", text::status_line(header->status).c_str());
  }
  if (status != cmdmon::Status::Success && status != cmdmon::Status::AccessAllowed &&
      status != cmdmon::Status::AccessDenied) {
    return std::nullopt;
  }
  const bool expected = std::any_of(accepted.begin(), accepted.end(), [&](cmdmon::ReplyType t) {
    return static_cast<std::uint16_t>(t) == header->reply;
  });
  if (!expected) {
    report("508 Bad reply from daemon", output);
    return std::nullopt;
  }
  return reply;
}

}  // namespace gnomon::gnomonc
