#include "lib/config/config_rules.hpp"

#include <algorithm>
#include <cctype>

namespace gnomon::rules {

namespace {

bool is_hostname_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
}

bool is_valid_hostname(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(), is_hostname_char)) return false;
    start = end + 1;
  }
  // A name made only of digits and dots would be an IPv4 address.
  return !std::all_of(name.begin(), name.end(),
                      [](char c) { return c == '.' || std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) != 0) ++i;
    std::size_t start = i;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])) == 0) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

Subnet any_of_family(bool v4) {
  Subnet s;
  s.address = v4 ? IpAddress::v4(0) : IpAddress::v6({});
  s.prefix_len = 0;
  return s;
}

}  // namespace

AddressKind classify_source_address(std::string_view address) {
  if (IpAddress::parse(address)) return AddressKind::Ip;
  if (address.find(':') != std::string_view::npos) return AddressKind::Invalid;
  return is_valid_hostname(address) ? AddressKind::Hostname : AddressKind::Invalid;
}

void settle_poll_range(SourceConfig& s, bool minpoll_given, bool maxpoll_given) {
  if (s.minpoll <= s.maxpoll) return;
  if (minpoll_given && !maxpoll_given) s.maxpoll = s.minpoll;
  else if (maxpoll_given && !minpoll_given) s.minpoll = s.maxpoll;
}

AccessParse parse_access_argument(std::string_view argument, bool allow) {
  AccessParse out;
  std::vector<std::string_view> words = split_words(argument);
  AccessRule rule;
  rule.allow = allow;
  std::size_t i = 0;
  if (!words.empty() && words[0] == "all") {
    rule.all = true;
    i = 1;
  }
  if (words.size() > i + 1) {
    out.message = "extra argument '" + std::string(words[i + 1]) + "'";
    return out;
  }
  if (words.size() == i) {
    if (rule.all) {
      rule.both_families = true;
      out.rules.push_back(rule);
    } else {
      // A bare allow/deny covers every IPv4 and IPv6 address.
      rule.subnet = any_of_family(true);
      out.rules.push_back(rule);
      rule.subnet = any_of_family(false);
      out.rules.push_back(rule);
    }
    out.status = AccessParse::Status::Ok;
    return out;
  }
  std::string_view text = words[i];
  Subnet::Parsed parsed = Subnet::parse(text);
  if (parsed.status == Subnet::ParseStatus::Invalid) {
    out.message = "invalid subnet '" + std::string(text) + "'";
    return out;
  }
  rule.subnet = parsed.subnet;
  out.rules.push_back(rule);
  if (parsed.status == Subnet::ParseStatus::HostBitsMasked) {
    out.status = AccessParse::Status::HostBitsMasked;
    out.message = "host bits are set in '" + std::string(text) + "'; using " + parsed.subnet.to_string();
  } else {
    out.status = AccessParse::Status::Ok;
  }
  return out;
}

std::string access_argument(const AccessRule& rule) {
  if (rule.both_families) return rule.all ? "all" : "";
  return (rule.all ? "all " : "") + rule.subnet.to_string();
}

std::string describe_access_rule(const AccessRule& rule) {
  std::string arg = access_argument(rule);
  return std::string(rule.allow ? "allow" : "deny") + (arg.empty() ? "" : " " + arg);
}

std::string_view source_mode_name(SourceMode mode) {
  switch (mode) {
    case SourceMode::Server: return "server";
    case SourceMode::Pool: return "pool";
    case SourceMode::Peer: return "peer";
  }
  return "server";
}

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Trace: return "trace";
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "info";
}

}  // namespace gnomon::rules
