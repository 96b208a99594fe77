#include "tools/gnomonc/cli.hpp"

#include <csignal>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "tools/gnomonc/commands.hpp"
#include "tools/gnomonc/options.hpp"
#include "tools/gnomonc/session.hpp"
#include "tools/gnomonc/transport.hpp"

#ifndef GNOMON_VERSION
#define GNOMON_VERSION "unknown"
#endif

namespace gnomon::gnomonc {
namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) { g_stop = 1; }

// SIGINT/SIGTERM/SIGHUP end a pending request (poll() returns early), so
// that gnomonc removes its socket file on the way out.
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

}  // namespace

int run_cli(int argc, char** argv) {
  const std::string program = argc > 0 && argv[0] != nullptr ? argv[0] : "gnomonc";
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);

  const ParsedOptions parsed = parse_options(args);
  switch (parsed.outcome) {
    case ParseOutcome::Help:
      std::fputs(usage(program).c_str(), stdout);
      return 0;
    case ParseOutcome::Version:
      std::printf("gnomonc (gnomon) version %s\n", GNOMON_VERSION);
      return 0;
    case ParseOutcome::Error:
      std::fprintf(stderr, "%s: %s\n", program.c_str(), parsed.error.c_str());
      std::fputs(usage(program).c_str(), stderr);
      return 1;
    case ParseOutcome::Run:
      break;
  }
  const Options& options = parsed.options;
  if (options.words.empty()) {
    std::fputs(usage(program).c_str(), stderr);
    return 1;
  }

  const std::string hosts = options.hosts.empty() ? std::string(kDefaultHosts) : options.hosts;
  Transport transport(resolve_targets(hosts, options.port, options.family));
  if (!transport.open_next()) {
    std::fprintf(stderr, "Could not open connection to daemon\n");
    return 1;
  }

  std::random_device entropy;
  std::mt19937 rng(entropy());
  const OutputMode mode = options.json ? OutputMode::Json : options.csv ? OutputMode::Csv : OutputMode::Text;
  Session session(transport, mode, stdout, [&rng] { return static_cast<std::uint32_t>(rng()); });
  install_stop_handlers();
  session.set_stop_check([] { return g_stop != 0; });

  const CommandContext ctx{options, session, stdout, stderr};
  const bool ok = run_command(ctx);
  if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
    std::fprintf(stderr, "Could not write to stdout\n");
    return 1;
  }
  return ok ? 0 : 1;
}

}  // namespace gnomon::gnomonc
