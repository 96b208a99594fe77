// Atomic replacement of a small file (drift file, dumps): the content goes to
// a temporary file in the same directory, which is flushed to disk and then
// renamed over the target; the directory is flushed too, so that after a crash
// the file holds either the old or the new content, never a mix.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <sys/types.h>

namespace gnomon {

// Replaces the file at `path` with `content`. Never throws and never exits:
// failures come back as an error code (errno values, generic category), and
// the temporary file is removed on every failure path. `mode` is the
// permission of the new file, applied as given (the umask is not applied).
[[nodiscard]] std::error_code write_file_atomically(const std::string& path,
                                                    std::string_view content,
                                                    mode_t mode = 0644) noexcept;

}  // namespace gnomon
