// gnomond entry point: parse flags, load the config, run the daemon.
#include <cstdio>
#include <exception>
#include <iostream>

#include <spdlog/spdlog.h>

#include "daemon/daemon.hpp"
#include "daemon/logging.hpp"
#include "daemon/options.hpp"
#include "daemon/query_once.hpp"
#include "daemon/symmetric_keys.hpp"
#include "lib/config/config_loader.hpp"
#include "lib/config/config_summary.hpp"

using namespace gnomon;
using namespace gnomon::daemon;

int main(int argc, char** argv) {
  set_program_name(argc > 0 ? argv[0] : nullptr);
  ParsedOptions parsed = parse_options(argc, argv);
  if (!parsed.options) {
    std::fprintf(stderr, "gnomond: %s\n%s", parsed.error.c_str(), usage_text().c_str());
    return kExitConfig;
  }
  Options opts = *parsed.options;
  if (opts.help) {
    std::fputs(usage_text().c_str(), stdout);
    return kExitOk;
  }
  if (opts.version) {
    std::printf("gnomond (gnomon) version %s\n", GNOMON_VERSION);
    return kExitOk;
  }

  LoadResult loaded = load_config_file(opts.config_path);
  for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
  if (!loaded.config) {
    std::fprintf(stderr, "gnomond: configuration error in %s; not started\n", opts.config_path.c_str());
    return kExitConfig;
  }
  Config config = std::move(*loaded.config);
  if (opts.no_clock_control) config.clock.control = false;
  if (opts.update_once) config.clock.update_once = true;

  if (opts.print_config) {
    std::fputs(format_as_toml(config).c_str(), stdout);
    return kExitOk;
  }
  if (opts.check_config) {
    std::printf("%s: configuration OK\n", opts.config_path.c_str());
    std::fputs(format_summary(config).c_str(), stdout);
    return kExitOk;
  }

  try {
    init_logging(config.log.level, opts.debug);
    // Keys are read now, while the key file is still readable (before -u).
    load_symmetric_keys(config.auth.keyfile);
    if (opts.query_once) return run_query_once(std::move(config));
    Daemon d(std::move(config), opts);
    return d.run();
  } catch (const std::exception& e) {
    spdlog::critical("Fatal: {}", e.what());
    return kExitFailure;
  }
}
