#include "daemon/logging.hpp"

#include <spdlog/sinks/stdout_sinks.h>

namespace gnomon::daemon {

namespace {
spdlog::level::level_enum to_spdlog(LogLevel l) {
  switch (l) {
    case LogLevel::Trace: return spdlog::level::trace;
    case LogLevel::Debug: return spdlog::level::debug;
    case LogLevel::Info: return spdlog::level::info;
    case LogLevel::Warn: return spdlog::level::warn;
    case LogLevel::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}
}  // namespace

void init_logging(LogLevel level, bool debug) {
  auto logger = spdlog::stderr_logger_mt("gnomond");
  // journald adds its own timestamps; stderr keeps one for interactive runs.
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  set_log_level(level, debug);
  spdlog::flush_on(spdlog::level::info);
}

void set_log_level(LogLevel level, bool debug) {
  spdlog::set_level(debug ? spdlog::level::debug : to_spdlog(level));
}

}  // namespace gnomon::daemon
