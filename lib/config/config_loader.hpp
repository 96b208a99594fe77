// The one entry point the daemon uses: load a configuration file in either
// format (TOML, or chrony.conf recognised by name or content) into a Config,
// with every error and warning returned as data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/config/diagnostics.hpp"

namespace gnomon {

enum class ConfigFormat : std::uint8_t { Auto, Toml, Chrony };

// ".toml" -> Toml; ".conf" or ".sources" -> Chrony; otherwise the first
// line that is not blank or a comment decides: a chrony directive word ->
// Chrony, anything else -> Toml.
[[nodiscard]] ConfigFormat detect_config_format(std::string_view name, std::string_view text);

// Errors make `config` empty (the daemon exits 78). Warnings include a config
// or key file that is writable by group or others.
[[nodiscard]] LoadResult load_config_file(const std::string& path, ConfigFormat format = ConfigFormat::Auto);

// As load_config_file, for text already in memory; `name` is used in messages.
[[nodiscard]] LoadResult load_config_text(std::string_view text, const std::string& name,
                                          ConfigFormat format = ConfigFormat::Auto);

}  // namespace gnomon
