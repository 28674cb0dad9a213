// folio-cli tokenize: text <-> token ids with tokenizer.json, one JSON value per line (for scripts and tests).
//   encode (default): reads JSON strings, prints JSON arrays of ids (no bos)
//   --decode:         reads JSON arrays of ids, prints JSON strings (special tokens kept)
#include <folio/engine.h>

#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "command.h"
#include "tokenizer.h"

namespace {

struct TokenizeOptions {
  std::string tokenizer_path;
  bool decode = false;
};

nlohmann::json parseLine(const std::string& line, int line_number) {
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    throw folio::Error("stdin line " + std::to_string(line_number) + ": not JSON: " + e.what());
  }
}

std::string convertLine(const folio::Tokenizer& tokenizer, const nlohmann::json& value, bool decode,
                        int line_number) {
  const auto where = "stdin line " + std::to_string(line_number);
  if (decode) {
    if (!value.is_array()) throw folio::Error(where + ": expected a JSON array of ids");
    std::vector<std::int32_t> ids;
    for (const auto& id : value) {
      if (!id.is_number_integer()) throw folio::Error(where + ": ids must be integers");
      ids.push_back(id.get<std::int32_t>());
    }
    return nlohmann::json(tokenizer.decode(ids)).dump();
  }
  if (!value.is_string()) throw folio::Error(where + ": expected a JSON string");
  return nlohmann::json(tokenizer.encode(value.get<std::string>())).dump();
}

void runTokenize(const TokenizeOptions& options) {
  const auto tokenizer = folio::Tokenizer::fromFile(options.tokenizer_path);
  std::string line;
  for (int line_number = 1; std::getline(std::cin, line); ++line_number) {
    if (line.empty()) continue;
    std::cout << convertLine(tokenizer, parseLine(line, line_number), options.decode, line_number) << '\n';
  }
  std::cout.flush();
}

void setupTokenize(CLI::App& cli) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* command = cli.add_subcommand("tokenize", "Encode JSON strings (one per line on stdin) to token ids, or decode");
  command->add_option("--tokenizer", options->tokenizer_path, "tokenizer.json")->required();
  command->add_flag("--decode", options->decode, "Read JSON arrays of ids and print JSON strings");
  command->callback([options] { runTokenize(*options); });
}

}  // namespace

FOLIO_CLI_COMMAND(setupTokenize);
