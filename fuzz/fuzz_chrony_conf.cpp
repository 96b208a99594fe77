// The chrony.conf loader (lib/config/chrony_loader): any text. Every failure
// must be an error diagnostic (and no Config), never a crash or an exception.
// Directives that read other files (include, confdir, sourcedir) are skipped:
// the fuzzer must not wander over this machine's files.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "fuzz/fuzz_support.hpp"
#include "lib/config/config_loader.hpp"

using namespace gnomon;

namespace {

bool reads_other_files(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("include") != std::string::npos || lower.find("confdir") != std::string::npos ||
         lower.find("sourcedir") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (reads_other_files(text)) return -1;  // never added to the corpus
  const LoadResult r = load_config_text(text, "fuzz.conf", ConfigFormat::Chrony);
  bool any_error = false;
  for (const auto& d : r.diagnostics) any_error = any_error || d.error;
  GNOMON_FUZZ_CHECK(r.config.has_value() != any_error);
  return 0;
}
