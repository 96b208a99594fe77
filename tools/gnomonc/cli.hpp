// gnomonc's program logic behind main(): parse the options, open the channel
// to the daemon as chronyc does, run the command, and return the exit code
// (0 on success, 1 on any failure, as chronyc).
#pragma once

namespace gnomon::gnomonc {

[[nodiscard]] int run_cli(int argc, char** argv);

}  // namespace gnomon::gnomonc
