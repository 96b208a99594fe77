// Resolves a source's host name to addresses without holding up the loop's
// caller. Two back-ends, chosen at build time like signal_loop.hpp:
// - name_resolver_asio.cpp: Asio's resolver (getaddrinfo on Asio's own
//   thread), for the default build.
// - name_resolver_inline.cpp: for GNOMON_PORTABLE_IO, getaddrinfo on the
//   loop's one thread from a posted handler. A slow DNS server then stalls
//   the loop while it answers, which the single-threaded portable build
//   accepts in exchange for running under syscall simulators, whose
//   getaddrinfo is not to be called from a second thread.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lib/net_address.hpp"

namespace gnomon::daemon {

// `done` gets the addresses (empty on failure) on the loop's thread.
void resolve_name(boost::asio::io_context& ctx, const std::string& name, std::uint16_t port,
                  std::function<void(std::vector<IpAddress>)> done);

}  // namespace gnomon::daemon
