// chrony.conf (and chrony's *.sources files) -> Config. Supports the
// directives listed in the README and docs with chrony's meaning, including include, confdir
// and sourcedir; any other directive is a warning naming file and line.
#pragma once

#include <string>
#include <string_view>

#include "lib/config/diagnostics.hpp"

namespace gnomon {

// Longest line accepted, without its newline: chrony refuses a line of 2048
// bytes or more counting the newline.
inline constexpr std::size_t kMaxChronyLineLength = 2046;
// Deepest include/confdir nesting accepted, as chrony.
inline constexpr int kMaxChronyIncludeDepth = 10;

// True for any directive chrony 4.x knows (case-insensitive), supported or not.
[[nodiscard]] bool is_chrony_directive(std::string_view word);

// Reads `path` and every file it includes. Permission warnings included.
[[nodiscard]] LoadResult load_chrony_file(const std::string& path);

// Parses `text` as if read from a file called `name`; include, confdir and
// sourcedir still read the file system.
[[nodiscard]] LoadResult load_chrony_text(std::string_view text, const std::string& name);

}  // namespace gnomon
