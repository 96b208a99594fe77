// A stand-in for chronyd inside the clknetsim simulator.
//
// clknetsim starts every daemon as `$CLKNETSIM_CLIENT_WRAPPER chronyd ARGS`
// with clknetsim.so preloaded, and every process that loads the preload
// becomes a simulated node. This program is linked statically, so the preload
// never loads into it: it only decides which real daemon the node runs and
// execs it, and that daemon becomes the node.
//
// Environment:
//   GNOMON_SIM_GNOMOND  path of gnomond (required)
//   GNOMON_SIM_ROLE     "client": gnomond on the nodes whose sync is checked
//                       (their config starts with `deny`), "server": gnomond
//                       on every other chronyd node, "all": on both, "none":
//                       chronyd everywhere (the baseline)
//   GNOMON_SIM_SERVER_PROGRAM  if set, the program run instead of either
//                       daemon on the nodes that are not clients (e.g.
//                       lowprec_server, a server like busybox ntpd), whatever
//                       the role; it gets no arguments
//
// It refuses to run anything unless clknetsim.so is preloaded (an entry of
// LD_PRELOAD named clknetsim.so) and CLKNETSIM_SOCKET is set: a daemon it
// starts controls a clock, and that must only ever be clknetsim's simulated
// clock, never this machine's.
//
// gnomond is started with argv[0] = "chronyd", so its log names the program
// as the suite expects ("chronyd exiting"); nothing else is translated.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

// The first directive of the node's own part of its config, after the
// lines clknetsim writes for every chronyd node.
std::string first_own_directive(const char* conf_path) {
  FILE* f = std::fopen(conf_path, "r");
  if (f == nullptr) return {};
  char line[4096];
  std::string result;
  for (int n = 0; n < 10000 && std::fgets(line, sizeof line, f) != nullptr; ++n) {
    std::string l(line);
    while (!l.empty() && (l.back() == '\n' || l.back() == ' ' || l.back() == '\t')) l.pop_back();
    std::size_t start = l.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    l.erase(0, start);
    std::string word = l.substr(0, l.find_first_of(" \t"));
    if (word == "pidfile" || word == "allow" || word == "cmdallow" || word == "bindcmdaddress") continue;
    result = word;
    break;
  }
  std::fclose(f);
  return result;
}

// Whether the process would run inside clknetsim: its preload in LD_PRELOAD
// (entries separated by ':' or spaces) and its socket named.
bool inside_clknetsim() {
  const char* socket = std::getenv("CLKNETSIM_SOCKET");
  const char* preload = std::getenv("LD_PRELOAD");
  if (socket == nullptr || *socket == '\0' || preload == nullptr) return false;
  const std::string list(preload);
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find_first_of(": ", start);
    if (end == std::string::npos) end = list.size();
    const std::string entry = list.substr(start, end - start);
    const std::size_t slash = entry.rfind('/');
    if ((slash == std::string::npos ? entry : entry.substr(slash + 1)) == "clknetsim.so") return true;
    start = end + 1;
  }
  return false;
}

const char* conf_argument(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "-f") == 0) return argv[i + 1];
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PROGRAM [ARGS...]\n", argv[0]);
    return 2;
  }
  if (!inside_clknetsim()) {
    std::fprintf(stderr,
                 "standin: refusing to run %s outside clknetsim (LD_PRELOAD must hold clknetsim.so "
                 "and CLKNETSIM_SOCKET must be set)\n",
                 argv[1]);
    return 2;
  }
  const char* program = argv[1];
  const char* base = std::strrchr(program, '/');
  base = base != nullptr ? base + 1 : program;
  const char* gnomond = std::getenv("GNOMON_SIM_GNOMOND");
  const char* role_env = std::getenv("GNOMON_SIM_ROLE");
  const std::string role = role_env != nullptr ? role_env : "none";

  bool use_gnomond = false;
  const char* server_program = std::getenv("GNOMON_SIM_SERVER_PROGRAM");
  if (std::strcmp(base, "chronyd") == 0) {
    const char* conf = conf_argument(argc, argv);
    const bool client = conf != nullptr && first_own_directive(conf) == "deny";
    if (!client && server_program != nullptr && *server_program != '\0') {
      char* server_argv[] = {const_cast<char*>(server_program), nullptr};
      ::execv(server_program, server_argv);
      std::fprintf(stderr, "standin: cannot run %s: %s\n", server_program, std::strerror(errno));
      return 127;
    }
    use_gnomond = role == "all" || (role == "client" && client) || (role == "server" && !client);
    if (role == "none") use_gnomond = false;
  }
  if (use_gnomond) {
    if (gnomond == nullptr || *gnomond == '\0') {
      std::fprintf(stderr, "standin: GNOMON_SIM_GNOMOND is not set\n");
      return 2;
    }
    argv[1] = const_cast<char*>("chronyd");
    ::execv(gnomond, argv + 1);
    std::fprintf(stderr, "standin: cannot run %s: %s\n", gnomond, std::strerror(errno));
    return 127;
  }
  ::execvp(program, argv + 1);
  std::fprintf(stderr, "standin: cannot run %s: %s\n", program, std::strerror(errno));
  return 127;
}
