// The TOML config loader (lib/config/toml_loader): any text. Every failure
// must be an error diagnostic (and no Config), never a crash or an exception.
#include <string_view>

#include "fuzz/fuzz_support.hpp"
#include "lib/config/config_loader.hpp"

using namespace gnomon;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const LoadResult r = load_config_text(text, "fuzz.toml", ConfigFormat::Toml);
  bool any_error = false;
  for (const auto& d : r.diagnostics) any_error = any_error || d.error;
  GNOMON_FUZZ_CHECK(r.config.has_value() != any_error);
  return 0;
}
