// plugvisorctl: the operator's command line for plugvisord (see README.md in this folder).
#include <iostream>

#include "plugvisorctl/app.h"

int main(int argc, char** argv) {
  plugvisor::cli::Io io{std::cin, std::cout, std::cerr};
  return plugvisor::cli::run_cli(argc, argv, io);
}
