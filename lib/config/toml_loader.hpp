// gnomon's TOML configuration (/etc/gnomon/gnomon.toml, keys in the README) -> Config.
// Every error names file:line:col and what is allowed; all are collected.
#pragma once

#include <string>
#include <string_view>

#include "lib/config/diagnostics.hpp"

namespace gnomon {

// Longest TOML line accepted; longer lines are an error, not a silent cut.
inline constexpr std::size_t kMaxTomlLineLength = 16384;

// `name` is the file name used in diagnostics and Config::source_file.
[[nodiscard]] LoadResult load_toml_text(std::string_view text, const std::string& name);

}  // namespace gnomon
