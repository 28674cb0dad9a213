// folio-bench-tokenizer: builds about 1 MB of mixed text (latin, digits, CJK, kana, punctuation, markdown
// tables, newlines), encodes it and prints seconds and MB/s. The text is generated from a fixed seed so
// runs are comparable.
#include <folio/engine.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "tokenizer.h"

namespace {

std::string mixedText(std::size_t target_bytes) {
  const std::vector<std::string> words = {
      "the", "document", "Annual", "report", "revenue", "increased", "compared", "with", "previous", "year",
      "Figure", "Table", "OCR", "markdown", "naïve", "café", "Привет", "мир", "Ελληνικά", "straße",
      "深度", "文本压缩", "模型", "北京市朝阳区", "日本語のテキスト", "カタカナ", "ひらがな", "表格", "(see", "e.g.,",
      "<td>", "</td>", "<tr>", "</tr>", "**bold**", "_it_", "`code`", "$x^2$", "\\frac{a}{b}", "—"};
  const std::vector<std::string> separators = {" ", " ", " ", ", ", ". ", "\n", "\n\n", " | ", "：", "。"};
  std::mt19937 random(12345);
  std::string text;
  text.reserve(target_bytes + 64);
  while (text.size() < target_bytes) {
    const auto pick = random() % 10;
    if (pick < 2) {
      text += std::to_string(random() % 1000000);  // numbers of 1-6 digits
    } else {
      text += words[random() % words.size()];
    }
    text += separators[random() % separators.size()];
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"folio-bench-tokenizer: tokenizer encoding speed"};
  std::string tokenizer_path;
  double megabytes = 1.0;
  int repeats = 3;
  if (const char* shared = std::getenv("FOLIO_SHARED_DIR")) tokenizer_path = std::string(shared) + "/model/tokenizer.json";
  cli.add_option("--tokenizer", tokenizer_path, "tokenizer.json")->required(tokenizer_path.empty());
  cli.add_option("--megabytes", megabytes, "Size of the generated text")->check(CLI::PositiveNumber);
  cli.add_option("--repeats", repeats, "Timed encodes (the best is reported)")->check(CLI::PositiveNumber);
  CLI11_PARSE(cli, argc, argv);

  try {
    const auto load_start = std::chrono::steady_clock::now();
    const auto tokenizer = folio::Tokenizer::fromFile(tokenizer_path);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
    const std::string text = mixedText(static_cast<std::size_t>(megabytes * 1e6));

    double best_s = 1e30;
    std::size_t token_count = 0;
    for (int run = 0; run < repeats; ++run) {
      const auto start = std::chrono::steady_clock::now();
      token_count = tokenizer.encode(text).size();
      best_s = std::min(best_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    const double mb = static_cast<double>(text.size()) / 1e6;
    std::cout << "tokenizer load: " << load_s << " s\n"
              << "text: " << mb << " MB, " << token_count << " tokens\n"
              << "encode: " << best_s << " s (best of " << repeats << "), " << mb / best_s << " MB/s\n";
  } catch (const std::exception& e) {
    std::cerr << "folio-bench-tokenizer: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
