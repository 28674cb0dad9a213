// Prompt assembly against the reference goldens' input_ids, and the Mode/Task names and prompts.
#include <folio/engine.h>

#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <optional>

#include "folio_test.h"
#include "prompt.h"
#include "tokenizer.h"

using folio::Mode;
using folio::Task;
using Ids = std::vector<std::int64_t>;

namespace {

constexpr int kBos = 0;
constexpr int kImageToken = 128815;

// The I64 tensor `input_ids` of a golden .safetensors (8-byte header length, JSON header, data).
Ids readGoldenInputIds(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::uint64_t header_size = 0;
  file.read(reinterpret_cast<char*>(&header_size), sizeof header_size);
  std::string header(header_size, '\0');
  file.read(header.data(), static_cast<std::streamsize>(header_size));
  const auto info = nlohmann::json::parse(header).at("input_ids");
  if (info.at("dtype") != "I64") return {};
  const auto begin = info.at("data_offsets")[0].get<std::uint64_t>();
  const auto end = info.at("data_offsets")[1].get<std::uint64_t>();
  Ids ids((end - begin) / sizeof(std::int64_t));
  file.seekg(static_cast<std::streamoff>(8 + header_size + begin));
  file.read(reinterpret_cast<char*>(ids.data()), static_cast<std::streamsize>(end - begin));
  return file ? ids : Ids{};
}

template <class Fn>
bool throwsError(Fn&& fn) {
  try {
    fn();
  } catch (const folio::Error&) {
    return true;
  }
  return false;
}

}  // namespace

class TestPrompt : public QObject {
  Q_OBJECT

  std::optional<folio::Tokenizer> tokenizer_;

 private slots:
  void initTestCase() { tokenizer_.emplace(folio::Tokenizer::fromFile(folio::test::sharedPath("model/tokenizer.json"))); }

  void baseGoldenPrompt() {
    const Ids ids = folio::buildPromptIds(*tokenizer_, folio::promptFor(Task::Markdown), 273, kBos, kImageToken);
    Ids expected{kBos};
    expected.insert(expected.end(), 273, kImageToken);
    expected.insert(expected.end(), {201, 128820, 21842, 270, 4940, 304, 2121, 7919, 16});
    QCOMPARE(ids, expected);
  }

  // Every golden case (Base, Small, two Gundam layouts) used the markdown prompt.
  void goldenInputIds_data() {
    QTest::addColumn<QString>("name");
    const auto goldens = nlohmann::json::parse(std::ifstream(folio::test::goldensPath("goldens.json")));
    for (const auto& [name, entry] : goldens.at("cases").items()) QTest::newRow(name.c_str()) << QString::fromStdString(name);
  }
  void goldenInputIds() {
    QFETCH(QString, name);
    const auto goldens = nlohmann::json::parse(std::ifstream(folio::test::goldensPath("goldens.json")));
    const int n_image_tokens = goldens.at("cases").at(name.toStdString()).at("n_image_tokens").get<int>();
    const Ids expected = readGoldenInputIds(folio::test::goldensPath(name.toStdString() + ".safetensors"));
    QVERIFY(!expected.empty());
    QCOMPARE(folio::buildPromptIds(*tokenizer_, folio::promptFor(Task::Markdown), n_image_tokens, kBos, kImageToken),
             expected);
  }

  void textAroundImage() {
    const Ids ids = folio::buildPromptIds(*tokenizer_, "a<image>a", 2, kBos, kImageToken);
    QCOMPARE(ids, (Ids{kBos, 67, kImageToken, kImageToken, 67}));
  }

  void badPrompts() {
    QVERIFY(throwsError([&] { folio::buildPromptIds(*tokenizer_, "Free OCR.", 273, kBos, kImageToken); }));
    QVERIFY(throwsError([&] { folio::buildPromptIds(*tokenizer_, "<image><image>", 273, kBos, kImageToken); }));
    QVERIFY(throwsError([&] { folio::buildPromptIds(*tokenizer_, "<image>", 0, kBos, kImageToken); }));
  }

  void prompts() {
    QCOMPARE(folio::promptFor(Task::Markdown), std::string("<image>\n<|grounding|>Convert the document to markdown."));
    QCOMPARE(folio::promptFor(Task::Ocr), std::string("<image>\n<|grounding|>OCR this image."));
    QCOMPARE(folio::promptFor(Task::Free), std::string("<image>\nFree OCR."));
    QCOMPARE(folio::promptFor(Task::Figure), std::string("<image>\nParse the figure."));
    QCOMPARE(folio::promptFor(Task::Describe), std::string("<image>\nDescribe this image in detail."));
    QCOMPARE(folio::promptFor(Task::Locate, "the title"),
             std::string("<image>\nLocate <|ref|>the title<|/ref|> in the image."));
  }

  void namesRoundTrip() {
    for (const Mode mode : {Mode::Tiny, Mode::Small, Mode::Base, Mode::Large, Mode::Gundam})
      QCOMPARE(folio::parseMode(folio::modeName(mode)), std::optional<Mode>(mode));
    for (const Task task : {Task::Markdown, Task::Ocr, Task::Free, Task::Figure, Task::Describe, Task::Locate})
      QCOMPARE(folio::parseTask(folio::taskName(task)), std::optional<Task>(task));
    QCOMPARE(folio::modeName(Mode::Gundam), std::string_view("gundam"));
    QCOMPARE(folio::taskName(Task::Ocr), std::string_view("ocr"));
    QCOMPARE(folio::parseMode("Base"), std::optional<Mode>(Mode::Base));
    QCOMPARE(folio::parseMode("huge"), std::optional<Mode>());
    QCOMPARE(folio::parseTask(""), std::optional<Task>());
  }
};

QTEST_GUILESS_MAIN(TestPrompt)
#include "test_prompt.moc"
