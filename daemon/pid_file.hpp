// The pid file (-P FILE): created exclusively (O_EXCL), so that a second
// gnomond refuses to start while the first runs. A file left behind by a
// process that is gone is replaced. The file is removed at exit if it still
// holds our pid.
#pragma once

#include <string>

namespace gnomon::daemon {

class PidFile {
 public:
  PidFile() = default;
  ~PidFile();
  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&& other) noexcept;
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;

  // Writes our pid to `path`. Returns "" on success, else why not (another
  // live gnomond, or an error).
  [[nodiscard]] std::string create(const std::string& path);
  // Removes the file now (if ours).
  void remove();
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace gnomon::daemon
