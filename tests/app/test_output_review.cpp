// Degenerate output: the loop detector on real-format pages and on synthetic loops, fed token by token; the
// review of finished results; and the worker stopping a looping page early.
#include <QtTest/QtTest>

#include "ocr_worker.h"
#include "output_review.h"
#include "scripted_backend.h"

#include <QDir>
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <functional>

using namespace folio;
using namespace std::chrono_literals;
using app::LoopDetector;

namespace {

// Token lengths in bytes for a text: how a test cuts text into the model's tokens.
using Tokenizer = std::function<std::vector<std::size_t>(std::string_view)>;

bool isContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// One byte a token: the most tokens a text can take (the bound's worst case).
std::vector<std::size_t> byteTokens(std::string_view text) { return std::vector<std::size_t>(text.size(), 1); }

// Three characters a token, about what the model's tokenizer does.
std::vector<std::size_t> threeCharTokens(std::string_view text) {
  std::vector<std::size_t> lengths;
  for (std::size_t begin = 0, chars = 0, i = 0; i <= text.size(); ++i) {
    const bool boundary = i == text.size() || !isContinuation(text[i]);
    if (boundary && i > begin && (++chars == 3 || i == text.size())) {
      lengths.push_back(i - begin);
      begin = i;
      chars = 0;
    }
  }
  return lengths;
}

// Whitespace and the word after it, as the ScriptedBackend streams.
std::vector<std::size_t> wordTokens(std::string_view text) {
  std::vector<std::size_t> lengths;
  const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t'; };
  for (std::size_t begin = 0, i = 0; i < text.size(); begin = i) {
    while (i < text.size() && space(text[i])) ++i;
    while (i < text.size() && !space(text[i])) ++i;
    lengths.push_back(i - begin);
  }
  return lengths;
}

const QList<QPair<const char*, Tokenizer>> kTokenizers = {
    {"bytes", byteTokens}, {"three characters", threeCharTokens}, {"words", wordTokens}};

struct Fed {
  QString reason;
  int tokens = 0;  // fed when it answered, or all of them
};

// Feeds `text` from byte `from` on in the tokenizer's tokens, counting on from `tokens`, until the detector answers.
Fed feed(LoopDetector& detector, std::string_view text, std::size_t from, int tokens, const Tokenizer& tokenize) {
  Fed fed{{}, tokens};
  std::size_t end = from;
  for (std::size_t length : tokenize(text.substr(from))) {
    end += length;
    fed.reason = detector.feed(text.substr(0, end), ++fed.tokens);
    if (!fed.reason.isEmpty()) break;
  }
  return fed;
}

struct LoopRun {
  QString reason_in_prefix;  // must stay empty
  QString reason;
  int loop_tokens = 0;  // the loop's tokens fed until the report
};

// A page that reads `prefix` and then writes `unit` again and again (until `loop_bytes` bytes of it).
LoopRun runLoop(const std::string& prefix, const std::string& unit, const Tokenizer& tokenize,
                std::size_t loop_bytes = 4 * LoopDetector::kTokenBound) {
  std::string text = prefix;
  while (text.size() < prefix.size() + loop_bytes) text += unit;
  LoopDetector detector;
  const Fed before = feed(detector, std::string_view(text).substr(0, prefix.size()), 0, 0, tokenize);
  if (!before.reason.isEmpty()) return {before.reason, {}, 0};
  const Fed loop = feed(detector, text, prefix.size(), before.tokens, tokenize);
  return {{}, loop.reason, loop.tokens - before.tokens};
}

// The bound of output_review.h for a cycle of p bytes.
int cycleBound(std::size_t period) {
  return std::max<int>(LoopDetector::kCycleBytes, LoopDetector::kCycleCopies * int(period));
}

std::string sampleText(const QString& name) {
  QString text = test::readSample(name);
  text.remove(test::kEndOfSentence);
  return text.toStdString();
}

// Deterministic numbers for varied text.
class Lcg {
 public:
  unsigned next(unsigned below) {
    state_ = state_ * 1103515245u + 12345u;
    return (state_ >> 16) % below;
  }

 private:
  unsigned state_ = 7;
};

// Pages in the model's format that are no loops, though they repeat a lot.
QList<QPair<QString, std::string>> realFormatPages() {
  QList<QPair<QString, std::string>> pages;
  std::string table = "<|ref|>table<|/ref|><|det|>[[80, 100, 920, 900]]<|/det|>\n<table><tr><td>Item</td><td>Q1</td>"
                      "<td>Q2</td><td>Note</td></tr>";
  for (int row = 1; row <= 120; ++row)
    table += "<tr><td>Product " + std::to_string(row) + "</td><td>" + std::to_string(row * 37 % 100) + ".5</td><td>" +
             std::to_string(row * 53 % 90) + "</td><td></td></tr>";
  pages << qMakePair(QStringLiteral("a table of 120 similar rows"), table + "</table> \n\n");

  std::string list = "<|ref|>text<|/ref|><|det|>[[80, 100, 920, 900]]<|/det|>\n";
  for (int item = 1; item <= 150; ++item) list += "- Item " + std::to_string(item) + ": see the appendix.\n";
  pages << qMakePair(QStringLiteral("a list of 150 items"), list);

  std::string contents;
  for (int entry = 1; entry <= 60; ++entry)
    contents += "Section " + std::to_string(entry) + " " + std::string(70, '.') + " " + std::to_string(entry * 3) + "\n";
  pages << qMakePair(QStringLiteral("contents with dot leaders"), contents);

  std::string cjk;
  const char* const numbers[] = {"一", "二", "三", "四", "五", "六", "七", "八", "九", "十"};
  for (int i = 0; i < 100; ++i)
    cjk += std::string("第") + numbers[i % 10] + "节：实验在第" + numbers[i / 10] + "个数据集上进行，精度为百分之九十" +
           numbers[(i * 7) % 10] + "。\n\n";
  pages << qMakePair(QStringLiteral("CJK paragraphs"), cjk);

  std::string figures;
  for (int i = 0; i < 60; ++i) {
    const int x = 20 + (i % 6) * 160, y = 20 + (i / 6) * 95;
    figures += "<|ref|>image<|/ref|><|det|>[[" + std::to_string(x) + ", " + std::to_string(y) + ", " +
               std::to_string(x + 150) + ", " + std::to_string(y + 90) + "]]<|/det|>\n \n\n";
  }
  pages << qMakePair(QStringLiteral("60 figures"), figures);

  std::string form = "<table><tr><td>Name</td><td>Date</td><td>Signature</td><td>Hours</td><td>Room</td></tr>";
  for (int row = 0; row < 8; ++row) form += "<tr><td></td><td></td><td></td><td></td><td></td></tr>";
  pages << qMakePair(QStringLiteral("a form with 8 blank rows"), form + "</table>\n");

  std::string markdown = "| Mode | Resolution | Tokens |\n|---|---|---|\n";
  for (int row = 0; row < 40; ++row)
    markdown += "| Mode " + std::to_string(row) + " | " + std::to_string(512 + 64 * row) + " | " +
                std::to_string(64 + row) + " |\n";
  pages << qMakePair(QStringLiteral("a markdown table"), markdown);

  std::string maths = "\\[\na < b \\quad\\quad\\quad b > c \\quad\\quad\\quad x_{1} + x_{2} + x_{3} + x_{4} + x_{5}\n\\]\n";
  pages << qMakePair(QStringLiteral("maths with < and >"), maths + sampleText("paper_page.txt"));
  return pages;
}

QString writeImage(const QString& path, QSize size) {
  QImage image(size, QImage::Format_RGB888);
  image.fill(Qt::white);
  if (!image.save(path)) qFatal("cannot write %s", qPrintable(path));
  return path;
}

Result resultOf(const std::string& raw) {
  Result result;
  result.raw_text = raw;
  result.grounded = parseGrounding(raw, 1000, 1000);
  return result;
}

// The paper page with its table's box replaced.
std::string paperPageWithTableBox(const std::string& box) {
  std::string raw = sampleText("paper_page.txt");
  const std::string table_box = "[[118, 628, 880, 730]]";
  raw.replace(raw.find(table_box), table_box.size(), box);
  return raw;
}

}  // namespace

class OutputReviewTest : public QObject {
  Q_OBJECT
 private slots:
  void samplesPassClean_data() {
    QTest::addColumn<QString>("sample");
    QTest::addColumn<int>("tokenizer");
    const QStringList samples = QDir(test::samplePath({})).entryList({"*.txt"});
    QVERIFY(samples.size() >= 5);
    for (const QString& sample : samples)
      for (int t = 0; t < kTokenizers.size(); ++t)
        QTest::addRow("%s, %s", qPrintable(sample), kTokenizers[t].first) << sample << t;
  }
  void samplesPassClean() {
    QFETCH(QString, sample);
    QFETCH(int, tokenizer);
    const std::string text = test::readSample(sample).toStdString();  // with the eos text, as streamed
    LoopDetector detector;
    const Fed fed = feed(detector, text, 0, 0, kTokenizers[tokenizer].second);
    QVERIFY2(fed.reason.isEmpty(), qPrintable(fed.reason));
  }

  void realFormatPagesPassClean_data() {
    QTest::addColumn<QString>("page");
    QTest::addColumn<int>("tokenizer");
    for (const auto& [name, text] : realFormatPages())
      for (int t = 0; t < kTokenizers.size(); ++t)
        QTest::addRow("%s, %s", qPrintable(name), kTokenizers[t].first) << name << t;
  }
  void realFormatPagesPassClean() {
    QFETCH(QString, page);
    QFETCH(int, tokenizer);
    std::string text;
    for (const auto& [name, page_text] : realFormatPages())
      if (name == page) text = page_text;
    LoopDetector detector;
    const Fed fed = feed(detector, text, 0, 0, kTokenizers[tokenizer].second);
    QVERIFY2(fed.reason.isEmpty(), qPrintable(page + ": " + fed.reason));
  }

  void loopsAreCaughtWithinTheBound_data() {
    QTest::addColumn<QByteArray>("prefix");
    QTest::addColumn<QByteArray>("unit");
    QTest::addColumn<QString>("expected");  // in the reason
    const QByteArray page = QByteArray::fromStdString(sampleText("paper_page.txt"));
    const QByteArray table = page + "<|ref|>table<|/ref|><|det|>[[118, 628, 880, 730]]<|/det|>\n<table><tr><td>Mode</td></tr>";
    QByteArray long_text;  // a paragraph longer than the longest cycle: only the line rule can see it repeat
    for (int i = 0; long_text.size() < 1500; ++i) long_text += "Sentence " + QByteArray::number(i) + " of a long paragraph. ";
    QTest::newRow("repeated line") << page << QByteArray("Revenue grew in every region. \n")
                                   << "the line “Revenue grew in every region.” repeats 12 times";
    QTest::newRow("repeated table row") << table << QByteArray("<tr><td>1</td></tr>")
                                        << "the same 19 characters repeat 53 times: “<tr><td>1</td></tr>”";
    QTest::newRow("phrase without newlines") << page + "The ratio holds" << QByteArray(" and so on, and so forth")
                                             << "“ and so on, and so forth”";
    QTest::newRow("CJK phrase") << QByteArray::fromStdString(sampleText("multi_box_cjk.txt"))
                                << QByteArray("实验结果很好。") << "the same 7 characters repeat 48 times: “实验结果很好。”";
    QTest::newRow("empty cells") << table << QByteArray("<td></td>") << "“<td></td>”";
    QTest::newRow("the same box") << page << QByteArray("<|ref|>image<|/ref|><|det|>[[160, 310, 840, 560]]<|/det|>\n \n\n")
                                  << "the line “<|ref|>image<|/ref|><|det|>[[160, 310, …” repeats 12 times";
    QTest::newRow("newlines") << page << QByteArray("\n") << "characters of only whitespace";
    QTest::newRow("long repeated region")
        << page << "<|ref|>text<|/ref|><|det|>[[118, 172, 880, 262]]<|/det|>\n" + long_text + " \n\n"
        << "the same 2 lines repeat 3 times";
  }
  void loopsAreCaughtWithinTheBound() {
    QFETCH(QByteArray, prefix);
    QFETCH(QByteArray, unit);
    QFETCH(QString, expected);
    // output_review.h: a cycle within max(kCycleBytes, kCycleCopies x its bytes) tokens, a longer line loop within
    // kMinLineCopies copies of it.
    const int bound = unit.size() <= LoopDetector::kMaxCycleBytes ? cycleBound(unit.size())
                                                                   : LoopDetector::kMinLineCopies * int(unit.size());
    QVERIFY(bound <= LoopDetector::kTokenBound || unit.size() > LoopDetector::kMaxCycleBytes);
    for (const auto& [name, tokenize] : kTokenizers) {
      const LoopRun run = runLoop(prefix.toStdString(), unit.toStdString(), tokenize);
      QVERIFY2(run.reason_in_prefix.isEmpty(), qPrintable(run.reason_in_prefix));
      QVERIFY2(run.reason.contains(expected), qPrintable(QStringLiteral("%1: %2").arg(name, run.reason)));
      QVERIFY2(run.loop_tokens <= bound, qPrintable(QStringLiteral("%1: %2 tokens").arg(name).arg(run.loop_tokens)));
    }
  }

  // The worst case the header states: a cycle of the longest length, one byte a token, reported exactly when its
  // copies fill the bound.
  void longestCycleIsCaughtAtTheBound() {
    Lcg random;
    std::string unit;
    while (int(unit.size()) < LoopDetector::kMaxCycleBytes) unit += char('a' + random.next(26));
    const LoopRun run = runLoop(sampleText("free_ocr.txt") + "\n", unit, byteTokens);
    QVERIFY2(run.reason.contains(QStringLiteral("the same %1 characters repeat 4 times").arg(unit.size())),
             qPrintable(run.reason));
    QCOMPARE(run.loop_tokens, LoopDetector::kTokenBound);
    // One byte longer, the piece is no cycle the detector looks for.
    const LoopRun longer = runLoop(sampleText("free_ocr.txt") + "\n", unit + "!", byteTokens, 4 * unit.size());
    QVERIFY2(longer.reason.isEmpty(), qPrintable(longer.reason));
  }

  // Growth without new text that repeats no piece: irregular whitespace, rows of varying numbers of empty cells.
  void silentGrowthIsCaught_data() {
    QTest::addColumn<QByteArray>("growth");
    Lcg random;
    QByteArray whitespace, cells;
    while (whitespace.size() < 20000) whitespace += " \n\t"[random.next(3)];
    while (cells.size() < 40000) {
      cells += "<tr>";
      for (unsigned n = 1 + random.next(8); n > 0; --n) cells += "<td></td>";
      cells += "</tr>";
    }
    QTest::newRow("whitespace") << whitespace;
    QTest::newRow("empty cells") << cells;
  }
  void silentGrowthIsCaught() {
    QFETCH(QByteArray, growth);
    const LoopRun run = runLoop(sampleText("paper_page.txt"), growth.toStdString(), threeCharTokens, growth.size());
    QVERIFY2(run.reason.contains("tokens without new text"), qPrintable(run.reason));
    // Counted from the page's last word, a token or two before the growth began.
    QVERIFY2(run.loop_tokens <= LoopDetector::kSilentTokens && run.loop_tokens >= LoopDetector::kSilentTokens - 2,
             qPrintable(QStringLiteral("%1 tokens").arg(run.loop_tokens)));
  }

  // A box given again is no new text, a new box is: boxes of 100 tokens each (no newline, so no line rule; the
  // silence is reached before the copies fill a cycle's bytes).
  void theSameBoxIsNoNewTextButANewBoxIs() {
    const auto boxes = [](bool moving) {
      std::vector<std::string> boxes;
      for (int i = 0; i < 40; ++i)
        boxes.push_back("<|ref|>image<|/ref|><|det|>[[160, " + std::to_string(moving ? 100 + i : 310) + ", 840, 560]]<|/det|>");
      return boxes;
    };
    const auto silentTokens = [](const std::vector<std::string>& boxes, QString& reason) {
      LoopDetector detector;
      std::string text;
      int tokens = 0;
      for (std::size_t i = 0; i < boxes.size() && reason.isEmpty(); ++i) {
        text += boxes[i];
        tokens += 100;
        reason = detector.feed(text, tokens);
      }
      return tokens - 100;  // after the first box, the last new text
    };
    QString same_reason, moving_reason;
    const int silent = silentTokens(boxes(false), same_reason);
    QVERIFY2(same_reason.contains("tokens without new text"), qPrintable(same_reason));
    QCOMPARE(silent, LoopDetector::kSilentTokens);
    silentTokens(boxes(true), moving_reason);
    QVERIFY2(moving_reason.isEmpty(), qPrintable(moving_reason));
  }

  void theAnswerStays() {
    LoopDetector detector;
    std::string loop;
    for (int i = 0; i < 200; ++i) loop += "<td></td>";
    const QString reason = detector.feed(loop, 200);
    QVERIFY(!reason.isEmpty());
    QCOMPARE(detector.feed(loop + "Fresh text at last.", 210), reason);
    QCOMPARE(detector.reason(), reason);
  }

  // Each call reads only the new text: a long page fed in small tokens costs about what it costs at once.
  void feedingIsLinearInTheText() {
    std::string text;
    for (int line = 0; text.size() < 256 * 1024; ++line)
      text += "Line " + std::to_string(line) + ": the value " + std::to_string(line * 7919 % 10007) + " was read.\n";
    LoopDetector detector;
    QElapsedTimer timer;
    timer.start();
    const Fed fed = feed(detector, text, 0, 0, threeCharTokens);
    QVERIFY2(fed.reason.isEmpty(), qPrintable(fed.reason));
    // 87k calls: reading the whole text each time would take minutes; once, well under a second.
    QVERIFY2(timer.elapsed() < 10000, qPrintable(QStringLiteral("%1 ms").arg(timer.elapsed())));
  }

  void cleanResultsNeedNoReview() {
    for (const QString& sample : {"paper_page.txt", "multi_box_cjk.txt", "locate.txt", "free_ocr.txt"}) {
      const QStringList reasons = app::reviewReasons(resultOf(sampleText(sample)));
      QVERIFY2(reasons.isEmpty(), qPrintable(sample + ": " + reasons.join("; ")));
    }
  }

  void cutMidTagNeedsReview() {
    Result cut = resultOf(sampleText("truncated.txt"));
    const QStringList reasons = app::reviewReasons(cut);
    QCOMPARE(reasons.size(), 1);
    QVERIFY2(reasons[0].contains("ends inside a grounding tag"), qPrintable(reasons[0]));
    cut.cancelled = true;  // whoever cancelled cut the text, not the model
    QVERIFY(app::reviewReasons(cut).isEmpty());
  }

  void tokenLimitNeedsReview() {
    Result result = resultOf(sampleText("paper_page.txt"));
    result.generated_tokens = 8192;
    QVERIFY(app::reviewReasons(result).isEmpty());  // ended by eos on its last token
    result.hit_token_limit = true;
    const QStringList reasons = app::reviewReasons(result);
    QCOMPARE(reasons.size(), 1);
    QVERIFY2(reasons[0].contains("token limit (8192 tokens)"), qPrintable(reasons[0]));
  }

  void boxesOutsideThePageNeedReview() {
    const QStringList outside = app::reviewReasons(resultOf(paperPageWithTableBox("[[118, 628, 1200, 730]]")));
    QCOMPARE(outside.size(), 1);
    QVERIFY2(outside[0].contains("[118, 628, 1200, 730] of a “table” region lies outside the page") &&
                 !outside[0].contains("more"),
             qPrintable(outside[0]));
    const QStringList negative = app::reviewReasons(resultOf(paperPageWithTableBox("[[-3, 628, 880, 730]]")));
    QVERIFY2(negative.size() == 1 && negative[0].contains("outside the page"), qPrintable(negative.join("; ")));
    const QStringList empty = app::reviewReasons(resultOf(paperPageWithTableBox("[[880, 628, 118, 730]]")));
    QVERIFY2(empty.size() == 1 && empty[0].contains("[880, 628, 118, 730] of a “table” region is empty"),
             qPrintable(empty.join("; ")));
    const QStringList two = app::reviewReasons(resultOf(paperPageWithTableBox("[[118, 628, 1200, 730], [0, 0, 5, 1000]]")));
    QVERIFY2(two.size() == 1 && two[0].contains("[118, 628, 1200, 730] of a “table” region lies outside the page") &&
                 two[0].contains("(and 1 more)"),
             qPrintable(two.join("; ")));
    // The corners of the page are in it.
    QVERIFY(app::reviewReasons(resultOf(paperPageWithTableBox("[[0, 0, 999, 999]]"))).isEmpty());
  }

  void workerStopsALoopingPageEarly() {
    QString script = test::readSample("paper_page.txt").remove(test::kEndOfSentence);
    for (int i = 0; i < 500; ++i) script += QStringLiteral("Revenue grew in every region. \n");
    script += test::kEndOfSentence;
    const int script_tokens = int(wordTokens(script.toStdString()).size());
    auto log = std::make_shared<test::ScriptLog>();
    QTemporaryDir dir;
    app::OcrService service(test::scriptedTextFactory(script, 0us, log));
    std::optional<app::JobOutcome> outcome;
    connect(service.worker(), &app::OcrWorker::pageFinished, this,
            [&](int, const app::JobOutcome& finished) { outcome = finished; });
    app::PageJob job;
    job.page = 0;
    job.source = writeImage(dir.filePath("page.png"), QSize(640, 800));
    service.start();
    service.worker()->enqueue(job);
    QTRY_VERIFY_WITH_TIMEOUT(outcome.has_value(), 10000);
    QVERIFY(outcome->stopped_early);
    QVERIFY(!outcome->result.cancelled);  // nobody cancelled it: the page keeps its text
    QVERIFY2(!outcome->review_reasons.isEmpty() &&
                 outcome->review_reasons[0].contains("the line “Revenue grew in every region.” repeats"),
             qPrintable(outcome->review_reasons.join("; ")));
    QMutexLocker lock(&log->mutex);
    const int produced = int(log->token_times.size());
    QVERIFY2(produced < script_tokens / 5, qPrintable(QStringLiteral("%1 of %2 tokens").arg(produced).arg(script_tokens)));
    QCOMPARE(outcome->result.generated_tokens, produced);
    const std::string raw = outcome->result.raw_text;
    QVERIFY(raw.starts_with(sampleText("paper_page.txt")) && raw.find("Revenue grew in every region.") != std::string::npos);
    QVERIFY(!outcome->result.grounded.regions.empty());  // the regions before the loop are kept
  }

  void workerReportsTheTokenLimit() {
    auto log = std::make_shared<test::ScriptLog>();
    QTemporaryDir dir;
    app::OcrService service(test::scriptedFactory("paper_page.txt", 0us, log));
    QHash<int, app::JobOutcome> outcomes;
    connect(service.worker(), &app::OcrWorker::pageFinished, this,
            [&](int page, const app::JobOutcome& finished) { outcomes.insert(page, finished); });
    const QString image = writeImage(dir.filePath("page.png"), QSize(640, 800));
    QList<app::PageJob> jobs;
    for (int page = 0; page < 2; ++page) {
      app::PageJob job;
      job.page = page;
      job.source = image;
      job.options.max_new_tokens = page == 0 ? 8192 : 30;
      jobs << job;
    }
    service.start();
    service.worker()->enqueue(jobs);
    QTRY_COMPARE_WITH_TIMEOUT(outcomes.size(), 2, 10000);
    QVERIFY2(outcomes[0].review_reasons.isEmpty(), qPrintable(outcomes[0].review_reasons.join("; ")));
    QVERIFY(!outcomes[0].stopped_early);
    const QStringList& limited = outcomes[1].review_reasons;
    QVERIFY2(limited.size() == 2 && limited[0].contains("token limit (30 tokens)") &&
                 limited[1].contains("grounding tag"),
             qPrintable(limited.join("; ")));
    QVERIFY(!outcomes[1].stopped_early);
  }
};

QTEST_MAIN(OutputReviewTest)
#include "test_output_review.moc"
