// Marks an Asio socket that wraps a descriptor we opened with O_NONBLOCK as
// non-blocking in Asio's own state, so that Asio does not set it again with
// ioctl(FIONBIO) before the first wait.
//
// Asio has no public call that records the mode without the ioctl, and a
// syscall-level simulator (clknetsim) rejects that ioctl: every wait would
// then complete at once with EINVAL, and no reply would ever be read. The
// descriptors are already non-blocking (fcntl in socket_util.cpp), so the
// recorded state is the truth. This reaches Asio's implementation state
// through the protected member of basic_socket; it is checked at compile
// time against the Boost in use.
#pragma once

#include <fcntl.h>

#include <boost/asio/detail/socket_ops.hpp>

namespace gnomon::daemon {

namespace detail {
template <typename Socket>
struct NonBlockingState : Socket {
  static void mark(Socket& s) {
    auto& impl = s.*(&NonBlockingState::impl_);
    impl.get_implementation().state_ |= boost::asio::detail::socket_ops::internal_non_blocking;
  }
};
}  // namespace detail

template <typename Socket>
void mark_non_blocking(Socket& s) {
  detail::NonBlockingState<Socket>::mark(s);
}

// O_NONBLOCK by fcntl(2); false (errno set) on failure.
inline bool set_non_blocking(int fd) {
  const int fl = ::fcntl(fd, F_GETFL);
  return fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) >= 0;
}

}  // namespace gnomon::daemon
