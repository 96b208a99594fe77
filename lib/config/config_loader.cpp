#include "lib/config/config_loader.hpp"

#include <algorithm>
#include <cctype>

#include "lib/config/chrony_loader.hpp"
#include "lib/config/config_file.hpp"
#include "lib/config/toml_loader.hpp"

namespace gnomon {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void check_key_file(LoadResult& result) {
  if (!result.config || result.config->auth.keyfile.empty()) return;
  if (auto w = check_file_permissions(result.config->auth.keyfile, "key file")) result.diagnostics.push_back(*w);
}

}  // namespace

ConfigFormat detect_config_format(std::string_view name, std::string_view text) {
  if (ends_with(name, ".toml")) return ConfigFormat::Toml;
  if (ends_with(name, ".conf") || ends_with(name, ".sources")) return ConfigFormat::Chrony;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    std::size_t start = line.find_first_not_of(" \t\r\f\v");
    if (start == std::string_view::npos) continue;
    line.remove_prefix(start);
    char c = line.front();
    if (c == '#' || c == '!' || c == ';' || c == '%') continue;
    if (c == '[' || line.find('=') != std::string_view::npos) return ConfigFormat::Toml;
    std::string_view word = line.substr(0, line.find_first_of(" \t\r\f\v"));
    return is_chrony_directive(word) ? ConfigFormat::Chrony : ConfigFormat::Toml;
  }
  return ConfigFormat::Toml;
}

LoadResult load_config_file(const std::string& path, ConfigFormat format) {
  FileText ft = read_text_file(path);
  if (!ft.text) {
    LoadResult failed;
    failed.diagnostics.push_back(ConfigDiagnostic{path, 0, 0, true, "cannot read config file: " + ft.error,
                                                  "a readable TOML or chrony.conf file"});
    return failed;
  }
  if (format == ConfigFormat::Auto) format = detect_config_format(path, *ft.text);
  LoadResult result;
  if (format == ConfigFormat::Chrony) {
    result = load_chrony_file(path);  // reads includes, and checks each file's permissions
  } else {
    result = load_toml_text(*ft.text, path);
    if (auto w = check_file_permissions(path, "config file")) result.diagnostics.insert(result.diagnostics.begin(), *w);
  }
  check_key_file(result);
  return result;
}

LoadResult load_config_text(std::string_view text, const std::string& name, ConfigFormat format) {
  if (format == ConfigFormat::Auto) format = detect_config_format(name, text);
  LoadResult result = format == ConfigFormat::Chrony ? load_chrony_text(text, name) : load_toml_text(text, name);
  check_key_file(result);
  return result;
}

}  // namespace gnomon
