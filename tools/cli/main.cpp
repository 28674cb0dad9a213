// folio-cli: command-line access to the inference library. The subcommands live in cmd_*.cpp.
#include <folio/engine.h>
#include <folio_version.h>

#include <iostream>

#include "command.h"

int main(int argc, char** argv) {
  CLI::App cli{"folio-cli: DeepSeek-OCR from the command line"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", folioVersionText("folio-cli"));
  for (auto setup : folio::cli::commandSetups()) setup(cli);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int printed = cli.exit(e);  // prints the help or what is wrong
    return printed == 0 ? 0 : folio::cli::kExitUsage;
  } catch (const folio::cli::ExitStatus& status) {
    return status.code;
  } catch (const std::exception& e) {
    std::cerr << "folio-cli: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
