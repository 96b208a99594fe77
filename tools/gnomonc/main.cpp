// gnomonc: the admin CLI for gnomond (and chronyd). See cli.hpp.
#include "tools/gnomonc/cli.hpp"

int main(int argc, char** argv) { return gnomon::gnomonc::run_cli(argc, argv); }
