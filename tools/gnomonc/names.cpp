#include "tools/gnomonc/names.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "tools/gnomonc/md5.hpp"

namespace gnomon::gnomonc {

std::string address_to_string(const cmdmon::Address& address) {
  char buf[INET6_ADDRSTRLEN + 16] = {};
  switch (address.family) {
    case cmdmon::Address::Family::Inet4:
      std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", address.bytes[0], address.bytes[1], address.bytes[2],
                    address.bytes[3]);
      return buf;
    case cmdmon::Address::Family::Inet6:
      if (inet_ntop(AF_INET6, address.bytes.data(), buf, sizeof buf) == nullptr) return "[UNKNOWN]";
      return buf;
    case cmdmon::Address::Family::Id:
      std::snprintf(buf, sizeof buf, "ID#%010" PRIu32, address.id);
      return buf;
    case cmdmon::Address::Family::Unspec:
      break;
  }
  return "[UNSPEC]";
}

std::string refid_to_string(std::uint32_t ref_id) {
  std::string s;
  for (int shift = 24; shift >= 0; shift -= 8) {
    const auto c = static_cast<unsigned char>(ref_id >> shift);
    if (std::isprint(c)) s.push_back(static_cast<char>(c));
  }
  return s;
}

std::uint32_t address_to_refid(const cmdmon::Address& address) {
  switch (address.family) {
    case cmdmon::Address::Family::Inet4:
      return address.v4_host_order();
    case cmdmon::Address::Family::Inet6: {
      const auto d = md5_digest(address.bytes);
      return static_cast<std::uint32_t>(d[0]) << 24 | static_cast<std::uint32_t>(d[1]) << 16 |
             static_cast<std::uint32_t>(d[2]) << 8 | d[3];
    }
    default:
      return 0;
  }
}

std::string reverse_lookup(const cmdmon::Address& address) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (address.family == cmdmon::Address::Family::Inet4) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    std::memcpy(&sin.sin_addr, address.bytes.data(), 4);
    std::memcpy(&ss, &sin, sizeof sin);
    len = sizeof sin;
  } else if (address.family == cmdmon::Address::Family::Inet6) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    std::memcpy(&sin6.sin6_addr, address.bytes.data(), 16);
    std::memcpy(&ss, &sin6, sizeof sin6);
    len = sizeof sin6;
  } else {
    return address_to_string(address);
  }
  char host[NI_MAXHOST] = {};
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&ss), len, host, sizeof host, nullptr, 0, 0) != 0) {
    return address_to_string(address);
  }
  return host;
}

std::string truncate_name(std::string name, std::size_t width) {
  if (width > 0 && name.size() > width) {
    name.resize(width);
    name[width - 1] = '>';
  }
  return name;
}

std::optional<cmdmon::Address> resolve_source_address(std::string_view text, FamilyFilter filter) {
  const std::string s(text);
  unsigned long id = 0;
  char tail = 0;
  if (s.rfind("ID#", 0) == 0 && std::sscanf(s.c_str() + 3, "%lu%c", &id, &tail) == 1 && id <= 0xFFFFFFFFul) {
    return cmdmon::Address::from_id(static_cast<std::uint32_t>(id));
  }
  addrinfo hints{};
  hints.ai_family = filter == FamilyFilter::Inet4 ? AF_INET : filter == FamilyFilter::Inet6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(s.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) return std::nullopt;
  std::optional<cmdmon::Address> out;
  for (const addrinfo* ai = res; ai != nullptr && !out; ai = ai->ai_next) {
    cmdmon::Address a;
    if (ai->ai_family == AF_INET) {
      sockaddr_in sin{};
      std::memcpy(&sin, ai->ai_addr, sizeof sin);
      a.family = cmdmon::Address::Family::Inet4;
      std::memcpy(a.bytes.data(), &sin.sin_addr, 4);
      out = a;
    } else if (ai->ai_family == AF_INET6) {
      sockaddr_in6 sin6{};
      std::memcpy(&sin6, ai->ai_addr, sizeof sin6);
      a.family = cmdmon::Address::Family::Inet6;
      std::memcpy(a.bytes.data(), &sin6.sin6_addr, 16);
      out = a;
    }
  }
  freeaddrinfo(res);
  return out;
}

}  // namespace gnomon::gnomonc
