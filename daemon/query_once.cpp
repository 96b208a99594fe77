#include "daemon/query_once.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>

#include "daemon/time_sync.hpp"

namespace gnomon::daemon {

namespace {
// Give up on sources that have not answered after this long.
constexpr auto kQueryTimeout = std::chrono::seconds(10);
// Samples per source before printing (an iburst gives 4 quickly).
constexpr int kWantSamples = 4;
// How long unresolved names may take before they count as failed.
constexpr auto kDnsWait = std::chrono::seconds(3);
}  // namespace

int run_query_once(Config config) {
  config.clock.control = false;  // never touch the clock
  config.clock.driftfile.clear();
  config.local.enabled = false;
  for (auto& s : config.sources) s.iburst = true;
  boost::asio::io_context ctx{1};
  TimeSync sync(ctx, config, nullptr);
  if (!sync.open()) return 1;
  sync.start();

  const auto started = std::chrono::steady_clock::now();
  // Done when every resolved source has its samples and names had time to resolve.
  auto done = [&] {
    bool dns_settled = std::chrono::steady_clock::now() - started > kDnsWait;
    for (const auto& r : sync.engine().sourcestats(sync.now())) {
      if (!r.address && !dns_settled) return false;
      if (r.address && r.stats.samples < kWantSamples) return false;
    }
    return true;
  };
  boost::asio::steady_timer poll(ctx);
  auto deadline = std::chrono::steady_clock::now() + kQueryTimeout;
  std::function<void()> check = [&] {
    if (done() || std::chrono::steady_clock::now() >= deadline) {
      ctx.stop();
      return;
    }
    poll.expires_after(std::chrono::milliseconds(100));
    poll.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) check();
    });
  };
  check();
  ctx.run();

  int answered = 0;
  TimePoint now = sync.now();
  for (const auto& r : sync.engine().sources(now)) {
    std::string name = r.address ? r.address->ip.to_string() : r.name;
    if (!r.last_sample.valid) {
      std::printf("%s: no answer\n", name.c_str());
      continue;
    }
    ++answered;
    // chrony's sign for the user: + means our clock is behind the source.
    std::printf("%s: stratum %d, offset %+.6f s, error +/- %.6f s\n", name.c_str(), r.stratum,
                -r.last_sample.offset_s, r.last_sample.error_s);
  }
  sync.stop();
  return answered > 0 ? 0 : 1;
}

}  // namespace gnomon::daemon
