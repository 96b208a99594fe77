// One request/reply exchange with the daemon, with chronyc's rules: a fresh
// random sequence number per attempt, a timeout of 1 s doubling per attempt,
// 2 retries, replies not matching the request ignored, then the next target.
// Status lines ("501 Not authorised", "506 Cannot talk to daemon", "508 Bad
// reply from daemon") are printed where chronyc prints them, or kept for the
// JSON output.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "lib/cmdmon.hpp"
#include "tools/gnomonc/transport.hpp"

namespace gnomon::gnomonc {

enum class OutputMode { Text, Csv, Json };

// Which status lines a request prints: failures only (monitoring commands),
// also "200 OK" (control commands), or none (lookups whose failure has a
// fallback).
enum class StatusOutput { Errors, All, None };

struct RetryPolicy {
  std::chrono::milliseconds initial_timeout{1000};
  int max_retries = 2;
};

class Session {
 public:
  using SequenceSource = std::function<std::uint32_t()>;

  Session(Transport& transport, OutputMode mode, std::FILE* out, SequenceSource sequences,
          RetryPolicy policy = {});

  // chronyc's request_reply(): the reply when its status is a success and its
  // type one of `accepted`. Otherwise nullopt, after printing (see
  // StatusOutput) or, for JSON, recording the status line.
  [[nodiscard]] std::optional<std::vector<std::uint8_t>> request(cmdmon::Command command,
                                                                 const cmdmon::RequestArgs& args,
                                                                 std::initializer_list<cmdmon::ReplyType> accepted,
                                                                 StatusOutput output = StatusOutput::Errors);

  // Polled while waiting: when it returns true (SIGINT, SIGTERM), requests
  // give up at once and quietly.
  void set_stop_check(std::function<bool()> stop_requested) { stop_requested_ = std::move(stop_requested); }

  // The last failure's status line ("501 Not authorised"), for JSON output.
  [[nodiscard]] const std::string& last_failure() const { return last_failure_; }
  [[nodiscard]] OutputMode mode() const { return mode_; }

 private:
  // chronyc's submit_request(): false when no valid reply came after all retries.
  [[nodiscard]] bool submit(std::vector<std::uint8_t>& request, std::vector<std::uint8_t>& reply);
  void report(const std::string& line, StatusOutput output);

  Transport& transport_;
  OutputMode mode_;
  std::FILE* out_;
  SequenceSource sequences_;
  RetryPolicy policy_;
  std::string last_failure_;
  std::function<bool()> stop_requested_;
};

}  // namespace gnomon::gnomonc
