// app/text_diff: the word diff behind "Show changes", its summary, its HTML and its speed on a large page.
#include <QtTest/QtTest>

#include "text_diff.h"

#include <QElapsedTimer>
#include <QRandomGenerator>

using namespace folio::app;

namespace {

QString joined(const TextDiff& diff, DiffKind without) {
  QString text;
  for (const DiffSpan& span : diff.spans)
    if (span.kind != without) text += span.text;
  return text;
}

QList<DiffSpan> spansOfKind(const TextDiff& diff, DiffKind kind) {
  QList<DiffSpan> spans;
  for (const DiffSpan& span : diff.spans)
    if (span.kind == kind) spans.append(span);
  return spans;
}

// The spans give back both texts, and a span never continues one of the same kind.
void verifyRebuildsBothTexts(const TextDiff& diff, const QString& model, const QString& edited) {
  QCOMPARE(joined(diff, DiffKind::Added), model);
  QCOMPARE(joined(diff, DiffKind::Removed), edited);
  for (qsizetype i = 1; i < diff.spans.size(); ++i) QVERIFY(diff.spans[i].kind != diff.spans[i - 1].kind);
}

// A markdown page of about `chars` characters: paragraphs of made-up words, headings and a table, as the model
// writes them.
QString generatedPage(quint32 seed, int chars) {
  QRandomGenerator random(seed);
  const QString syllables[] = {"ka", "lo", "ri", "me", "tu", "san", "dor", "vi", "pel", "qua", "nes", "gro"};
  auto word = [&] {
    QString w;
    for (int i = 1 + random.bounded(3); i > 0; --i) w += syllables[random.bounded(12)];
    return w;
  };
  QString page;
  while (page.size() < chars) {
    const int what = random.bounded(10);
    if (what == 0) {
      page += "## " + word() + " " + word() + "\n\n";
    } else if (what == 1) {
      const QString number = QString::number(random.bounded(1000));
      page += "<table><tr><td>" + word() + "</td><td>" + number + "</td></tr></table>\n\n";
    } else {
      for (int i = 10 + random.bounded(20); i > 0; --i) page += word() + (i % 7 == 0 ? ", " : " ");
      page += word() + ".\n\n";
    }
  }
  return page;
}

// The page with every `every`-th word replaced, one line inserted and one removed.
QString editedPage(const QString& page, int every) {
  QStringList lines = page.split('\n');
  lines.insert(lines.size() / 3, QStringLiteral("A line the user added by hand."));
  lines.removeAt(2 * lines.size() / 3);
  QString edited;
  int words = 0;
  for (const QString& token : diffTokens(lines.join('\n'))) {
    const bool word = token.front().isLetter();
    edited += word && ++words % every == 0 ? QStringLiteral("fixed") : token;
  }
  return edited;
}

qint64 millisecondsToDiff(const QString& model, const QString& edited, TextDiff& diff) {
  QElapsedTimer timer;
  timer.start();
  diff = diffWords(model, edited);
  return timer.elapsed();
}

}  // namespace

class TextDiffTest : public QObject {
  Q_OBJECT
 private slots:
  void identicalTextsAreAllSame() {
    const QString page = QStringLiteral("# Title\n\nSome text, with <b>tags</b>.\n\n| a | b |\n|---|---|\n");
    const TextDiff diff = diffWords(page, page);
    QCOMPARE(diff.spans, QList<DiffSpan>{(DiffSpan{DiffKind::Same, page})});
    QCOMPARE(diff.summary, DiffSummary{});
    QVERIFY(!diff.hasChanges());
    QCOMPARE(diffSummaryLine(diff), QStringLiteral("No changes: the page is the model's output"));
    QVERIFY(diffWords({}, {}).spans.isEmpty());
  }

  void tokensAreWordsSpacesAndMarks() {
    QCOMPARE(diffTokens(QStringLiteral("Don't  stop—now!\n\n x2")),
             (QStringList{"Don't", "  ", "stop", "—", "now", "!", "\n", "\n", " ", "x2"}));
  }

  void oneWordFixIsOneWordReplaced() {
    const QString model = QStringLiteral("The quick brwn fox jumps.\nSecond line stays.\n");
    const QString edited = QStringLiteral("The quick brown fox jumps.\nSecond line stays.\n");
    const TextDiff diff = diffWords(model, edited);
    QCOMPARE(diff.spans, (QList<DiffSpan>{{DiffKind::Same, "The quick "},
                                          {DiffKind::Removed, "brwn"},
                                          {DiffKind::Added, "brown"},
                                          {DiffKind::Same, " fox jumps.\nSecond line stays.\n"}}));
    QCOMPARE(diff.summary, (DiffSummary{1, 0, 0}));
    QCOMPARE(diffSummaryLine(diff), QStringLiteral("1 word changed"));
  }

  void wordsRewrittenAcrossASpaceAreOneChange() {
    const TextDiff diff = diffWords(QStringLiteral("a quick brown fox"), QStringLiteral("a slow red fox"));
    QCOMPARE(spansOfKind(diff, DiffKind::Removed), QList<DiffSpan>{(DiffSpan{DiffKind::Removed, "quick brown"})});
    QCOMPARE(spansOfKind(diff, DiffKind::Added), QList<DiffSpan>{(DiffSpan{DiffKind::Added, "slow red"})});
    QCOMPARE(diff.summary, (DiffSummary{2, 0, 0}));
  }

  void insertedLineIsOneAddition() {
    const QString model = QStringLiteral("# Title\n\nFirst paragraph.\n\nLast paragraph.\n");
    const QString edited = QStringLiteral("# Title\n\nFirst paragraph.\n\nAn inserted line.\n\nLast paragraph.\n");
    const TextDiff diff = diffWords(model, edited);
    verifyRebuildsBothTexts(diff, model, edited);
    QVERIFY(spansOfKind(diff, DiffKind::Removed).isEmpty());
    const QList<DiffSpan> added = spansOfKind(diff, DiffKind::Added);
    QCOMPARE(added.size(), 1);
    QCOMPARE(added[0].text.trimmed(), QStringLiteral("An inserted line."));
    QCOMPARE(diff.summary, (DiffSummary{0, 3, 0}));
    QCOMPARE(diffSummaryLine(diff), QStringLiteral("3 words added"));
  }

  void deletedLineIsOneRemoval() {
    const QString model = QStringLiteral("Keep this.\nDrop this line please.\nKeep that.\n");
    const QString edited = QStringLiteral("Keep this.\nKeep that.\n");
    const TextDiff diff = diffWords(model, edited);
    verifyRebuildsBothTexts(diff, model, edited);
    QVERIFY(spansOfKind(diff, DiffKind::Added).isEmpty());
    const QList<DiffSpan> removed = spansOfKind(diff, DiffKind::Removed);
    QCOMPARE(removed.size(), 1);
    QCOMPARE(removed[0].text.trimmed(), QStringLiteral("Drop this line please."));
    QCOMPARE(diff.summary, (DiffSummary{0, 0, 4}));
  }

  // CJK scripts put no spaces between words: each ideograph or kana is a token, so a misread character is one
  // character replaced, not the whole sentence.
  void cjkCharactersAreTokensOfTheirOwn() {
    QCOMPARE(diffTokens(QStringLiteral("DeepSeek-OCR模型、ひらがな𠀀")),
             (QStringList{"DeepSeek", "-", "OCR", "模", "型", "、", "ひ", "ら", "が", "な", "𠀀"}));
    const TextDiff diff = diffWords(QStringLiteral("光学宇符识别很准确。"), QStringLiteral("光学字符识别很准确。"));
    QCOMPARE(diff.spans, (QList<DiffSpan>{{DiffKind::Same, "光学"},
                                          {DiffKind::Removed, "宇"},
                                          {DiffKind::Added, "字"},
                                          {DiffKind::Same, "符识别很准确。"}}));
    QCOMPARE(diff.summary, (DiffSummary{1, 0, 0}));
  }

  void htmlEscapesTheModelsTables() {
    const QString model = QStringLiteral("<table><tr><td>1 & 2</td></tr></table>\nnext line");
    const QString edited = QStringLiteral("<table><tr><td>1 & 3</td></tr></table>\nnext line");
    const QString html = diffHtml(diffWords(model, edited));
    QVERIFY(!html.contains(QStringLiteral("<td>")));
    QVERIFY(!html.contains(QStringLiteral("<table>")));
    QVERIFY(html.contains(QStringLiteral("&lt;table&gt;&lt;tr&gt;&lt;td&gt;1 &amp; ")));
    QVERIFY(html.contains(QStringLiteral("&lt;/td&gt;")));
    QVERIFY(html.contains(QStringLiteral("&gt;\nnext line")));  // the line break kept
    QVERIFY(html.contains(QStringLiteral("white-space:pre-wrap")));
  }

  void htmlMarksRemovedAndAddedText() {
    const QString html = diffHtml(diffWords(QStringLiteral("a brwn fox"), QStringLiteral("a brown fox")));
    const QString removed =
        QStringLiteral("<span style=\"background-color:%1; text-decoration:line-through\">brwn</span>");
    QVERIFY(html.contains(removed.arg(kDiffRemovedColor)));
    QVERIFY(html.contains(QStringLiteral("<span style=\"background-color:%1\">brown</span>").arg(kDiffAddedColor)));
  }

  void changedLineBreakShowsAPilcrow() {
    const TextDiff diff = diffWords(QStringLiteral("one\ntwo"), QStringLiteral("one two"));
    QVERIFY(diffHtml(diff).contains(QStringLiteral("\u00b6\n")));
    QCOMPARE(diffSummaryLine(diff), QStringLiteral("Only punctuation or spacing changed"));
  }

  void summaryLineCountsEachKind() {
    TextDiff diff{{{DiffKind::Added, "x"}}, {3, 1, 0}};
    QCOMPARE(diffSummaryLine(diff), QStringLiteral("3 words changed, 1 added"));
    diff.summary = {0, 0, 1};
    QCOMPARE(diffSummaryLine(diff), QStringLiteral("1 word removed"));
    diff.summary = {1, 2, 5};
    QCOMPARE(diffSummaryLine(diff), QStringLiteral("1 word changed, 2 added, 5 removed"));
  }

  void randomEditsRebuildBothTexts() {
    for (quint32 seed = 1; seed <= 20; ++seed) {
      const QString model = generatedPage(seed, 600);
      const QString edited = editedPage(model, 2 + int(seed % 5));
      verifyRebuildsBothTexts(diffWords(model, edited), model, edited);
    }
  }

  // The diff runs on the GUI thread when the user asks to see the changes.
  void largePageDiffsQuickly() {
    const QString model = generatedPage(42, 20000);
    const QString edited = editedPage(model, 40);
    TextDiff diff;
    const qint64 ms = millisecondsToDiff(model, edited, diff);
    qInfo("%lld characters, %lld tokens: %lld ms; %s", qlonglong(model.size()), qlonglong(diffTokens(model).size()),
          ms, qPrintable(diffSummaryLine(diff)));
    verifyRebuildsBothTexts(diff, model, edited);
    QCOMPARE(diff.summary.words_changed, int(edited.count(QStringLiteral("fixed"))));
    QCOMPARE(diff.summary.words_added, 7);  // "A line the user added by hand."
    QVERIFY2(ms < 100, qPrintable(QStringLiteral("%1 ms").arg(ms)));
  }

  // A page rewritten completely: dtl stops its search at 2 million path points and reports the rest as removed
  // and added, which bounds the worst case (about 70 ms on a busy 2-core machine; the bound leaves room for load).
  void rewrittenPageDiffsInBoundedTime() {
    const QString model = generatedPage(1, 20000), edited = generatedPage(2, 20000);
    TextDiff diff;
    const qint64 ms = millisecondsToDiff(model, edited, diff);
    qInfo("rewritten page: %lld ms; %s", ms, qPrintable(diffSummaryLine(diff)));
    verifyRebuildsBothTexts(diff, model, edited);
    QVERIFY2(ms < 500, qPrintable(QStringLiteral("%1 ms").arg(ms)));
  }
};

QTEST_GUILESS_MAIN(TextDiffTest)
#include "test_text_diff.moc"
