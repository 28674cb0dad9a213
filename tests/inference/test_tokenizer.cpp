// The tokenizer against the 302 golden strings of shared/model/tokenizer_golden.jsonl (ids from the JS port,
// equal to Hugging Face tokenizers), plus special tokens, streaming decode, bad input and folio-cli tokenize.
#include <folio/engine.h>

#include <QProcess>
#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <optional>

#include "folio_test.h"
#include "tokenizer.h"

using folio::Tokenizer;
using Ids = std::vector<std::int32_t>;

namespace {

struct GoldenCase {
  std::string text;
  Ids ids;
  std::string decoded;
};

std::vector<GoldenCase> readGoldens() {
  std::ifstream file(folio::test::sharedPath("model/tokenizer_golden.jsonl"));
  std::vector<GoldenCase> cases;
  for (std::string line; std::getline(file, line);) {
    if (line.empty()) continue;
    const auto entry = nlohmann::json::parse(line);
    cases.push_back({entry.at("text").get<std::string>(), entry.at("ids").get<Ids>(),
                     entry.at("decoded").get<std::string>()});
  }
  return cases;
}

QByteArray toBytes(const std::string& text) { return QByteArray(text.data(), static_cast<qsizetype>(text.size())); }

// The error message of fn, or an empty string when it does not throw folio::Error.
template <class Fn>
std::string errorOf(Fn&& fn) {
  try {
    fn();
  } catch (const folio::Error& e) {
    return e.what();
  }
  return {};
}

// Runs folio-cli with args, feeding input on stdin; returns stdout.
QByteArray runCli(const QStringList& args, const QByteArray& input) {
  QProcess process;
  process.start(QStringLiteral(FOLIO_CLI_PATH), args);
  if (!process.waitForStarted(30000)) return "(folio-cli did not start)";
  process.write(input);
  process.closeWriteChannel();
  process.waitForFinished(120000);
  if (process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0)
    return "(folio-cli failed: " + process.readAllStandardError() + ")";
  return process.readAllStandardOutput();
}

}  // namespace

class TestTokenizer : public QObject {
  Q_OBJECT

  std::optional<Tokenizer> tokenizer_;
  std::vector<GoldenCase> goldens_;
  std::string tokenizerPath() const { return folio::test::sharedPath("model/tokenizer.json"); }

 private slots:
  void initTestCase() {
    tokenizer_.emplace(Tokenizer::fromFile(tokenizerPath()));
    goldens_ = readGoldens();
    QCOMPARE(goldens_.size(), std::size_t{302});
  }

  void goldenIds() {
    int mismatches = 0;
    for (const auto& golden : goldens_) {
      const Ids ids = tokenizer_->encode(golden.text);
      if (ids != golden.ids) {
        ++mismatches;
        qWarning() << "encode differs for" << toBytes(golden.text) << "got"
                   << toBytes(nlohmann::json(ids).dump()) << "want" << toBytes(nlohmann::json(golden.ids).dump());
      }
    }
    QCOMPARE(mismatches, 0);
  }

  void goldenDecode() {
    for (const auto& golden : goldens_) {
      QCOMPARE(toBytes(tokenizer_->decode(golden.ids)), toBytes(golden.decoded));
      QCOMPARE(toBytes(golden.decoded), toBytes(golden.text));
    }
  }

  // Token by token through decodeNext gives the same text as decode of the whole sequence.
  void streamingDecodeMatchesDecode() {
    for (const auto& golden : goldens_) {
      std::string pending, streamed;
      for (const auto id : golden.ids) streamed += tokenizer_->decodeNext(id, pending);
      streamed += Tokenizer::decodeFlush(pending);
      QCOMPARE(toBytes(streamed), toBytes(golden.decoded));
    }
  }

  // "中" is E4 B8 AD; fed as three byte tokens, nothing is emitted until the character is complete.
  void streamingHoldsBackPartialCharacters() {
    // Byte-level symbols: 0xE4 -> U+00E4, 0xB8 -> U+00B8, 0xAD (unprintable) -> U+0143.
    const auto b1 = tokenizer_->tokenId("\u00E4"), b2 = tokenizer_->tokenId("\u00B8"),
               b3 = tokenizer_->tokenId("\u0143");
    QVERIFY(b1 && b2 && b3);
    std::string pending;
    QCOMPARE(tokenizer_->decodeNext(*b1, pending), std::string());
    QCOMPARE(tokenizer_->decodeNext(*b2, pending), std::string());
    QCOMPARE(pending.size(), std::size_t{2});
    QCOMPARE(toBytes(tokenizer_->decodeNext(*b3, pending)), toBytes("中"));
    QVERIFY(pending.empty());
    // An unfinished character at the end of a stream or of decode() becomes one U+FFFD.
    tokenizer_->decodeNext(*b1, pending);
    tokenizer_->decodeNext(*b2, pending);
    QCOMPARE(toBytes(Tokenizer::decodeFlush(pending)), toBytes("\uFFFD"));
    QCOMPARE(toBytes(tokenizer_->decode({*b1, *b2, 67})), toBytes("\uFFFD" "a"));
  }

  void specialTokens() {
    QCOMPARE(tokenizer_->vocabSize(), std::size_t{128825});
    QCOMPARE(tokenizer_->tokenId("<｜begin▁of▁sentence｜>"), std::optional<std::int32_t>(0));
    QCOMPARE(tokenizer_->tokenId("<｜end▁of▁sentence｜>"), std::optional<std::int32_t>(1));
    QCOMPARE(tokenizer_->tokenId("<image>"), std::optional<std::int32_t>(128815));
    QCOMPARE(tokenizer_->tokenId("<|grounding|>"), std::optional<std::int32_t>(128820));
    QCOMPARE(tokenizer_->tokenId("</tr>"), std::optional<std::int32_t>(128824));
    QCOMPARE(tokenizer_->tokenId("no such token"), std::optional<std::int32_t>());
    QCOMPARE(tokenizer_->encode("<image><image>"), (Ids{128815, 128815}));
    QCOMPARE(tokenizer_->encode("<｜end▁of▁sentence｜>"), (Ids{1}));
    QCOMPARE(tokenizer_->encode("<td>x</td>"), (Ids{128821, 90, 128822}));
    QCOMPARE(toBytes(tokenizer_->decode({0, 128816, 67, 128817, 1})),
             toBytes("<｜begin▁of▁sentence｜><|ref|>a<|/ref|><｜end▁of▁sentence｜>"));
    // Ids outside the vocabulary (the embedding's padding rows) are skipped, not a crash.
    QCOMPARE(toBytes(tokenizer_->decode({67, 129000, -5, 67})), toBytes("aa"));
  }

  void emptyString() {
    QVERIFY(tokenizer_->encode("").empty());
    QCOMPARE(tokenizer_->decode({}), std::string());
  }

  void invalidUtf8IsReplaced() {
    const std::string bad = "ab\xff" "c\xe2\x82 \xc0\x80\xed\xa0\x80 end\xf0\x9f";
    const Ids ids = tokenizer_->encode(bad);
    QVERIFY(!ids.empty());
    const std::string text = tokenizer_->decode(ids);
    QVERIFY(text.find("ab\uFFFDc\uFFFD ") == 0);
    QVERIFY(text.find(" end\uFFFD") != std::string::npos);
    QCOMPARE(tokenizer_->encode(text), ids);  // the repaired text is what was encoded
  }

  void missingFileNamesIt() {
    const std::string path = "/nonexistent/folio/tokenizer.json";
    const auto message = errorOf([&] { Tokenizer::fromFile(path); });
    QVERIFY2(message.find(path) != std::string::npos, message.c_str());
  }

  void corruptFileNamesIt_data() {
    QTest::addColumn<QByteArray>("content");
    QTest::newRow("not json") << QByteArray("{\"model\": [1, 2");
    QTest::newRow("no model") << QByteArray("{\"pre_tokenizer\": null}");
    QTest::newRow("not bpe") << QByteArray(R"({"model": {"type": "WordPiece", "vocab": {}}})");
    QTest::newRow("bad merge") << QByteArray(
        R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}, "pre_tokenizer": null})");
  }
  void corruptFileNamesIt() {
    QFETCH(QByteArray, content);
    QTemporaryDir dir;
    const std::string path = dir.filePath("tokenizer.json").toStdString();
    std::ofstream(path, std::ios::binary).write(content.constData(), content.size());
    const auto message = errorOf([&] { Tokenizer::fromFile(path); });
    QVERIFY2(message.find(path) != std::string::npos, message.c_str());
  }

  // folio-cli tokenize, both directions, on golden lines with CJK, numbers and special tokens.
  void cliTokenize() {
    QByteArray texts, id_lines, decoded_lines;
    for (std::size_t i = 0; i < goldens_.size(); i += 15) {
      texts += toBytes(nlohmann::json(goldens_[i].text).dump()) + '\n';
      id_lines += toBytes(nlohmann::json(goldens_[i].ids).dump()) + '\n';
      decoded_lines += toBytes(nlohmann::json(goldens_[i].decoded).dump()) + '\n';
    }
    const QString path = QString::fromStdString(tokenizerPath());
    QCOMPARE(runCli({"tokenize", "--tokenizer", path}, texts), id_lines);
    QCOMPARE(runCli({"tokenize", "--tokenizer", path, "--decode"}, id_lines), decoded_lines);
  }
};

QTEST_GUILESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
