// chrony's measurement, statistics and tracking logs ([log] dir, chrony's
// `logdir` + `log measurements statistics tracking`): the same file names,
// columns, number formats, signs and the banner (header between two lines of
// '=') every 32 lines, so that scripts and graphs made for chronyd's logs
// keep working.
//
// Rotation: before each write the file is checked with stat(); when its path
// no longer names the open file (logrotate renamed or removed it), it is
// reopened and a new banner starts the new file. No signal or postrotate
// command is needed. A file that cannot be written is reported once and
// retried at the next line.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lib/config.hpp"
#include "lib/source.hpp"
#include "lib/sync_types.hpp"
#include "lib/time.hpp"

namespace gnomon::daemon {

// Banners, as chronyd 4.3 writes them.
inline constexpr std::string_view kMeasurementsBanner =
    "   Date (UTC) Time     IP Address   L St 123 567 ABCD  LP RP Score    Offset  Peer del. Peer disp.  "
    "Root del. Root disp. Refid     MTxRx";
inline constexpr std::string_view kStatisticsBanner =
    "   Date (UTC) Time     IP Address    Std dev'n Est offset  Offset sd  Diff freq   Est skew  Stress  Ns  "
    "Bs  Nr  Asym";
inline constexpr std::string_view kTrackingBanner =
    "   Date (UTC) Time     IP Address   St   Freq ppm   Skew ppm     Offset L Co  Offset sd Rem. corr. "
    "Root delay Root disp. Max. error";
// Lines between banners (chrony's logbanner default).
inline constexpr unsigned kBannerEvery = 32;

// One line of measurements.log: a reply that passed tests 1-7.
struct MeasurementRecord {
  TimePoint time{};
  std::string address;        // the source's IP address
  Leap leap = Leap::None;     // of the reply
  int stratum = 0;            // of the reply
  NtpTests tests;
  int local_poll = 0;         // log2 s
  int remote_poll = 0;        // log2 s, from the reply
  double score = 0.0;         // poll score
  double offset_s = 0.0;      // chrony's sign: + = the local clock is slow of the source
  double peer_delay_s = 0.0;
  double peer_dispersion_s = 0.0;
  double root_delay_s = 0.0;
  double root_dispersion_s = 0.0;
  std::uint32_t refid = 0;
  int mode = 4;               // NTP mode of the reply
  bool interleaved = false;
  char tx_source = 'D';       // D daemon, K kernel, H hardware
  char rx_source = 'K';
};

// One line of statistics.log: a new regression of a source's samples.
struct StatisticsRecord {
  TimePoint time{};           // of the newest sample
  std::string address;        // IP address, or refid text for a reference clock
  double std_dev_s = 0.0;
  double offset_s = 0.0;      // + = the local clock is fast of the source
  double offset_sd_s = 0.0;
  double freq = 0.0;          // s/s, + = the local clock gains on the source
  double skew = 0.0;          // s/s
  double stress = 0.0;        // |old freq - new freq| / old skew
  int samples = 0;
  int best_start = 0;         // samples dropped by this regression
  int runs = 0;
  double asymmetry = 0.0;
};

// One line of tracking.log: a clock update (or the loss of synchronisation).
struct TrackingRecord {
  TimePoint time{};
  std::string address;        // reference's IP address, or its refid text
  int stratum = 0;
  double freq_ppm = 0.0;      // + = the clock runs fast
  double skew_ppm = 0.0;
  double offset_s = 0.0;      // + = the clock is fast
  Leap leap = Leap::Unsynchronised;
  int combined = 0;
  double offset_sd_s = 0.0;
  double remaining_correction_s = 0.0;  // + = the clock is slow
  double root_delay_s = 0.0;
  double root_dispersion_s = 0.0;
  double max_error_s = 0.0;
};

// "YYYY-MM-DD hh:mm:ss" in UTC (chrony's UTI_TimeToLogForm).
[[nodiscard]] std::string format_log_time(TimePoint t);
// The printable characters of a refid ("LOCL"), as chrony names a refclock.
[[nodiscard]] std::string refid_text(std::uint32_t refid);
[[nodiscard]] std::string format_measurement_line(const MeasurementRecord& r);
[[nodiscard]] std::string format_statistics_line(const StatisticsRecord& r);
[[nodiscard]] std::string format_tracking_line(const TrackingRecord& r);

// An append-only log file with chrony's banner and rotation by rename.
class ChronyLogFile {
 public:
  ChronyLogFile(std::string path, std::string_view banner);
  ~ChronyLogFile();
  ChronyLogFile(const ChronyLogFile&) = delete;
  ChronyLogFile& operator=(const ChronyLogFile&) = delete;

  // Appends `line` (without its newline). Never throws.
  void write(std::string_view line);
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  bool ensure_open();
  void close_file();

  std::string path_;
  std::string banner_;
  int fd_ = -1;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  unsigned writes_ = 0;
  bool error_reported_ = false;
};

// The three logs as configured in [log]; a disabled one is null.
struct ChronyLogs {
  std::unique_ptr<ChronyLogFile> measurements;
  std::unique_ptr<ChronyLogFile> statistics;
  std::unique_ptr<ChronyLogFile> tracking;

  [[nodiscard]] static ChronyLogs from_config(const LogConfig& config);
  [[nodiscard]] bool any() const { return measurements || statistics || tracking; }
};

}  // namespace gnomon::daemon
