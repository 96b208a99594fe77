// How gnomonc names addresses and reference IDs, as chronyc does: numeric
// text, reverse DNS (unless -n), printable refid text, and the `>` cut of
// names too long for their column.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lib/cmdmon.hpp"

namespace gnomon::gnomonc {

// "192.0.2.1", "2001:db8::1", "ID#0000000005" (unresolved source), "[UNSPEC]".
[[nodiscard]] std::string address_to_string(const cmdmon::Address& address);
// The printable characters of the four refid bytes ("LOCL", "GPS", "").
[[nodiscard]] std::string refid_to_string(std::uint32_t ref_id);
// NTP's refid of an address: the IPv4 address itself, the first four bytes of
// the MD5 digest of an IPv6 address, 0 otherwise.
[[nodiscard]] std::uint32_t address_to_refid(const cmdmon::Address& address);
// Reverse DNS; the numeric text when the lookup fails.
[[nodiscard]] std::string reverse_lookup(const cmdmon::Address& address);
// A name longer than `width` keeps width - 1 characters and ends in '>'.
[[nodiscard]] std::string truncate_name(std::string name, std::size_t width);

// Address family restriction from -4 / -6.
enum class FamilyFilter { Any, Inet4, Inet6 };

// "ID#N", a numeric address, or a host name (first address of the lookup).
[[nodiscard]] std::optional<cmdmon::Address> resolve_source_address(std::string_view text, FamilyFilter filter);

}  // namespace gnomon::gnomonc
