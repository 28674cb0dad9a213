// folio-cli subcommands register themselves: each command file defines a setup function that adds its
// CLI11 subcommand, and registers it with FOLIO_CLI_COMMAND(setup). main() runs every setup.
#pragma once

#include <CLI/CLI.hpp>

#include <vector>

namespace folio::cli {

using CommandSetup = void (*)(CLI::App& cli);

// Thrown by a command that ends with a status other than 0 after saying why (main returns it): 1 some work
// failed, 2 bad usage or no model.
struct ExitStatus {
  int code;
};
inline constexpr int kExitSomeFailed = 1;
inline constexpr int kExitUsage = 2;

inline std::vector<CommandSetup>& commandSetups() {
  static std::vector<CommandSetup> setups;
  return setups;
}

inline int registerCommand(CommandSetup setup) {
  commandSetups().push_back(setup);
  return 0;
}

}  // namespace folio::cli

#define FOLIO_CLI_COMMAND(setup) \
  [[maybe_unused]] static const int folio_cli_registered_##setup = ::folio::cli::registerCommand(setup)
