#include "daemon/logging.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace gnomon::daemon {

namespace {
std::string& program_name_storage() {
  static std::string name = "gnomond";
  return name;
}
}  // namespace

void set_program_name(const char* argv0) {
  if (argv0 == nullptr || *argv0 == '\0') return;
  std::string name(argv0);
  const std::size_t slash = name.rfind('/');
  if (slash != std::string::npos) name.erase(0, slash + 1);
  if (!name.empty()) program_name_storage() = name;
}

const std::string& program_name() { return program_name_storage(); }

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

// "<N>", the syslog priority prefix journald reads from a stream
// (SyslogLevelPrefix=, on by default), so that each line keeps its level.
class SyslogPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    char p = '6';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug: p = '7'; break;
      case spdlog::level::info: p = '6'; break;
      case spdlog::level::warn: p = '4'; break;
      case spdlog::level::err: p = '3'; break;
      case spdlog::level::critical: p = '2'; break;
      default: break;
    }
    const char prefix[3] = {'<', p, '>'};
    dest.append(prefix, prefix + 3);
  }
  [[nodiscard]] std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

// True when stderr is the journal's stream ($JOURNAL_STREAM names its
// device and inode, see systemd.exec(5)).
bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}
}  // namespace

void init_logging(LogLevel level, bool debug) {
  auto logger = spdlog::stderr_logger_mt("gnomond");
  if (stderr_is_journal()) {
    // journald adds the time; the prefix carries the level.
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<SyslogPriorityFlag>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(f));
  } else if (program_name() == "chronyd") {
    // Installed or linked as chronyd: chronyd's own stderr format (UTC to
    // the second, no level), which log watchers and chrony's tests match.
    logger->set_pattern("%Y-%m-%dT%H:%M:%SZ %v", spdlog::pattern_time_type::utc);
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  }
  spdlog::set_default_logger(logger);
  set_log_level(level, debug);
  spdlog::flush_on(spdlog::level::info);
}

void set_log_level(LogLevel level, bool debug) {
  spdlog::set_level(debug ? spdlog::level::debug : to_spdlog(level));
}

}  // namespace gnomon::daemon
