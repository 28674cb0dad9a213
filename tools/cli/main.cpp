// folio-cli: command-line access to the inference library (tokenize, ocr, dump, synth-weights, parity).
#include <CLI/CLI.hpp>

#include <folio/engine.h>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App cli{"folio-cli: DeepSeek-OCR from the command line"};
  cli.require_subcommand(1);
  CLI11_PARSE(cli, argc, argv);
  return 0;
}
