#include "daemon/chrony_logs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

namespace gnomon::daemon {

namespace {

char leap_char(Leap l) {
  switch (l) {
    case Leap::None: return 'N';
    case Leap::Insert: return '+';
    case Leap::Delete: return '-';
    case Leap::Unsynchronised: return '?';
  }
  return '?';
}

int bit(bool b) { return b ? 1 : 0; }

}  // namespace

std::string format_log_time(TimePoint t) {
  std::int64_t s = t.unix_ns / 1'000'000'000;
  if (t.unix_ns < 0 && t.unix_ns % 1'000'000'000 != 0) --s;
  std::time_t tt = static_cast<std::time_t>(s);
  std::tm tm{};
  char buf[32];
  if (::gmtime_r(&tt, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
    return "INVALID    INVALID ";
  }
  return buf;
}

std::string refid_text(std::uint32_t refid) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    auto c = static_cast<unsigned char>((refid >> (24 - 8 * i)) & 0xFFu);
    if (std::isprint(c) != 0) s += static_cast<char>(c);
  }
  return s;
}

std::string format_measurement_line(const MeasurementRecord& r) {
  const NtpTests& t = r.tests;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s %-15s %c %2d %d%d%d %d%d%d %d%d%d%d  %2d %2d %4.2f %10.3e %10.3e %10.3e %10.3e %10.3e "
                "%08" PRIX32 " %d%c %c %c",
                format_log_time(r.time).c_str(), r.address.c_str(), leap_char(r.leap), r.stratum, bit(t.test1()),
                bit(t.test2()), bit(t.test3()), bit(t.test5()), bit(t.test6()), bit(t.test7()), bit(t.testA()),
                bit(t.testB()), bit(t.testC()), bit(t.testD()), r.local_poll, r.remote_poll, r.score, r.offset_s,
                r.peer_delay_s, r.peer_dispersion_s, r.root_delay_s, r.root_dispersion_s, r.refid, r.mode,
                r.interleaved ? 'I' : 'B', r.tx_source, r.rx_source);
  return buf;
}

std::string format_statistics_line(const StatisticsRecord& r) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s %-15s %10.3e %10.3e %10.3e %10.3e %10.3e %7.1e %3d %3d %3d %5.2f",
                format_log_time(r.time).c_str(), r.address.c_str(), r.std_dev_s, r.offset_s, r.offset_sd_s, r.freq,
                r.skew, r.stress, r.samples, r.best_start, r.runs, r.asymmetry);
  return buf;
}

std::string format_tracking_line(const TrackingRecord& r) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s %-15s %2d %10.3f %10.3f %10.3e %c %2d %10.3e %10.3e %10.3e %10.3e %10.3e",
                format_log_time(r.time).c_str(), r.address.c_str(), r.stratum, r.freq_ppm, r.skew_ppm, r.offset_s,
                leap_char(r.leap), r.combined, r.offset_sd_s, r.remaining_correction_s, r.root_delay_s,
                r.root_dispersion_s, r.max_error_s);
  return buf;
}

ChronyLogFile::ChronyLogFile(std::string path, std::string_view banner) : path_(std::move(path)), banner_(banner) {}

ChronyLogFile::~ChronyLogFile() { close_file(); }

void ChronyLogFile::close_file() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  writes_ = 0;
}

bool ChronyLogFile::ensure_open() {
  if (fd_ >= 0) {
    // Still the file at our path? logrotate renames (or removes) it.
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) return true;
    close_file();
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd_ < 0 && errno == ENOENT) {
    // The log directory itself is missing: make it (one level, as chronyd).
    std::size_t slash = path_.rfind('/');
    if (slash != std::string::npos && slash > 0 && ::mkdir(path_.substr(0, slash).c_str(), 0755) == 0) {
      spdlog::info("Created log directory {}", path_.substr(0, slash));
    }
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
  }
  if (fd_ < 0) {
    if (!error_reported_) spdlog::error("Could not open log file {}: {}", path_, std::strerror(errno));
    error_reported_ = true;
    return false;
  }
  struct stat st {};
  if (::fstat(fd_, &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  if (error_reported_) spdlog::info("Log file {} is writable again", path_);
  error_reported_ = false;
  return true;
}

void ChronyLogFile::write(std::string_view line) {
  if (!ensure_open()) return;
  std::string text;
  if (kBannerEvery != 0 && writes_++ % kBannerEvery == 0) {
    std::string rule(banner_.size(), '=');
    text += rule;
    text += '\n';
    text += banner_;
    text += '\n';
    text += rule;
    text += '\n';
  }
  text += line;
  text += '\n';
  // One write() per line with O_APPEND: lines never interleave or tear.
  ssize_t n = ::write(fd_, text.data(), text.size());
  if (n < 0 || static_cast<std::size_t>(n) != text.size()) {
    if (!error_reported_) {
      spdlog::error("Could not write log file {}: {}", path_, n < 0 ? std::strerror(errno) : "short write");
    }
    error_reported_ = true;
    close_file();
  }
}

ChronyLogs ChronyLogs::from_config(const LogConfig& config) {
  ChronyLogs logs;
  if (config.dir.empty()) return logs;
  if (!config.measurements && !config.statistics && !config.tracking) return logs;
  std::string dir = config.dir;
  if (dir.back() != '/') dir += '/';
  if (config.measurements) logs.measurements = std::make_unique<ChronyLogFile>(dir + "measurements.log", kMeasurementsBanner);
  if (config.statistics) logs.statistics = std::make_unique<ChronyLogFile>(dir + "statistics.log", kStatisticsBanner);
  if (config.tracking) logs.tracking = std::make_unique<ChronyLogFile>(dir + "tracking.log", kTrackingBanner);
  return logs;
}

}  // namespace gnomon::daemon
