// The main event loop and the signals that steer it (SIGTERM and SIGINT
// exit, SIGHUP reloads).
//
// Two back-ends, chosen at build time:
// - signal_loop_asio.cpp: Asio's signal_set, for the default build.
// - signal_loop_flag.cpp: for GNOMON_PORTABLE_IO. A plain signal handler
//   stops the single-threaded loop, whose locks are off, and the signal is
//   handled once run() returns. No descriptor is added to the reactor, so
//   syscall-level simulators that report unknown descriptors as always
//   readable (clknetsim) neither spin nor miss the signal they send at the
//   end of a run.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>

namespace gnomon::daemon {

// The concurrency hint of the main io_context for this back-end.
int main_loop_concurrency_hint();

// Runs `ctx` until it stops. Each SIGTERM, SIGINT or SIGHUP is passed to
// `on_signal`, on the loop's thread; it returns false to end the loop.
void run_signal_loop(boost::asio::io_context& ctx, const std::function<bool(int)>& on_signal);

}  // namespace gnomon::daemon
