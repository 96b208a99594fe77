#include "tools/gnomonc/options.hpp"

#include <charconv>
#include <sstream>

#include "tools/gnomonc/text_format.hpp"

namespace gnomon::gnomonc {
namespace {

void split_words(const std::string& s, std::vector<std::string>& out) {
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
}

}  // namespace

ParsedOptions parse_options(const std::vector<std::string>& args) {
  ParsedOptions result;
  Options& o = result.options;
  for (const std::string& a : args) {
    if (a == "--help") {
      result.outcome = ParseOutcome::Help;
      return result;
    }
    if (a == "--version") {
      result.outcome = ParseOutcome::Version;
      return result;
    }
  }

  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') break;  // the command starts here
    if (a == "--") {
      ++i;
      break;
    }
    for (std::size_t j = 1; j < a.size(); ++j) {
      const char flag = a[j];
      if (flag == 'h' || flag == 'p' || flag == 'f') {
        std::string value;
        if (j + 1 < a.size()) {
          value = a.substr(j + 1);
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          result.error = strprintf("option requires an argument -- '%c'", flag);
          return result;
        }
        if (flag == 'h') {
          o.hosts = value;
        } else if (flag == 'p') {
          unsigned port = 0;
          const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), port);
          if (ec != std::errc() || end != value.data() + value.size() || port > 65535) {
            result.error = "Invalid port " + value;
            return result;
          }
          o.port = static_cast<std::uint16_t>(port);
        }
        break;  // the rest of this word was the value
      }
      switch (flag) {
        case '4': o.family = FamilyFilter::Inet4; break;
        case '6': o.family = FamilyFilter::Inet6; break;
        case 'a': break;  // accepted for compatibility, as chronyc does
        case 'd': break;
        case 'm': break;
        case 'c': o.csv = true; break;
        case 'j': o.json = true; break;
        case 'n': o.no_dns = true; break;
        case 'N': o.source_names = true; break;
        case 'v': o.verbose = true; break;
        default:
          result.error = strprintf("invalid option -- '%c'", flag);
          return result;
      }
    }
  }
  if (o.csv && o.json) {
    result.error = "-c and -j cannot be used together";
    return result;
  }
  for (; i < args.size(); ++i) split_words(args[i], o.words);
  result.outcome = ParseOutcome::Run;
  return result;
}

std::string usage(const std::string& program) {
  return strprintf(
      "Usage: %s [OPTION]... COMMAND [ARGS]\n\n"
      "Options:\n"
      "  -4\t\tUse IPv4 addresses only\n"
      "  -6\t\tUse IPv6 addresses only\n"
      "  -n\t\tDon't resolve hostnames\n"
      "  -N\t\tPrint original source names\n"
      "  -c\t\tEnable CSV format\n"
      "  -j\t\tEnable JSON format\n"
      "  -v\t\tPrint the legends of sources, sourcestats and selectdata\n"
      "  -h HOST\tSpecify server (%s)\n"
      "  -p PORT\tSpecify UDP port (323)\n"
      "      --version\tPrint version and exit\n"
      "      --help\tPrint usage and exit\n\n"
      "Commands:\n"
      "  sources [-a] [-v], sourcestats [-a] [-v], tracking, activity,\n"
      "  clients [-k] [-p PACKETS] [-r], serverstats, ntpdata [ADDRESS],\n"
      "  selectdata [-a] [-v], makestep [THRESHOLD LIMIT], burst [GOOD/MAX] [ADDRESS],\n"
      "  online [ADDRESS], offline [ADDRESS], reload sources\n",
      program.c_str(), "/run/gnomon/gnomond.sock,127.0.0.1,::1");
}

}  // namespace gnomon::gnomonc
