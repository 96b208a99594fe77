// gnomon-load: see load_generator.hpp. Exit status 0 after a run, 1 if the
// sockets could not be set up, 2 on a usage error.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tools/loadgen/load_generator.hpp"

namespace {

constexpr const char* kUsage =
    "usage: gnomon-load [options]\n"
    "  --server ADDR       numeric IPv4 or IPv6 address (127.0.0.1)\n"
    "  --port N            server port (123)\n"
    "  --sources N         distinct source addresses, IPv4 only (1)\n"
    "  --source-base ADDR  first source address, in 127.0.0.0/8 (127.0.0.1)\n"
    "  --window N          requests in flight, 1..65536 (64)\n"
    "  --duration S        seconds of sending, at most 3600 (5)\n"
    "  --count N           requests to send at most; 0 = no limit (0)\n"
    "  --timeout S         a request unanswered this long is lost (0.2)\n"
    "  --sockets N         client sockets, 1..256 (4)\n"
    "  --rate R            requests per second at most; 0 = closed loop only (0)\n"
    "  --json              one JSON object instead of text\n";

bool parse_u64(std::string_view text, std::uint64_t max, std::uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

bool parse_double(const std::string& text, double max, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(v) || v < 0 || v > max) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  gnomon::load::LoadOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--json") {
      o.json = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "gnomon-load: %s needs a value\n%s", arg.c_str(), kUsage);
      return 2;
    }
    const std::string val = argv[++i];
    std::uint64_t u = 0;
    bool ok = true;
    if (arg == "--server") {
      o.server = val;
    } else if (arg == "--source-base") {
      o.source_base = val;
    } else if (arg == "--port") {
      ok = parse_u64(val, 65535, u) && u > 0;
      o.port = static_cast<std::uint16_t>(u);
    } else if (arg == "--sources") {
      ok = parse_u64(val, 0xFFFFFF, u) && u > 0;
      o.sources = static_cast<std::uint32_t>(u);
    } else if (arg == "--window") {
      ok = parse_u64(val, 65536, u) && u > 0;
      o.window = static_cast<std::uint32_t>(u);
    } else if (arg == "--sockets") {
      ok = parse_u64(val, 256, u) && u > 0;
      o.sockets = static_cast<std::uint32_t>(u);
    } else if (arg == "--count") {
      ok = parse_u64(val, 1'000'000'000'000ULL, o.count);
    } else if (arg == "--duration") {
      ok = parse_double(val, 3600.0, o.duration_s);
    } else if (arg == "--timeout") {
      ok = parse_double(val, 60.0, o.timeout_s) && o.timeout_s > 0;
    } else if (arg == "--rate") {
      ok = parse_double(val, 1e9, o.rate);
    } else {
      std::fprintf(stderr, "gnomon-load: unknown option %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "gnomon-load: invalid value '%s' for %s\n%s", val.c_str(), arg.c_str(), kUsage);
      return 2;
    }
  }
  gnomon::load::LoadResult r;
  std::string error;
  if (!gnomon::load::run_load(o, r, error)) {
    std::fprintf(stderr, "gnomon-load: %s\n", error.c_str());
    return 1;
  }
  std::fputs(gnomon::load::format_result(o, r).c_str(), stdout);
  return 0;
}
