// ui/DiffView: the user's edit shown against the model's output, marked word by word, with its summary.
#include <QtTest/QtTest>

#include "diff_view.h"

#include <QTextBlock>
#include <QTextCursor>
#include <QTextDocument>

using namespace folio;

namespace {

// The format the document shows `word` in (it must appear once).
QTextCharFormat formatOf(QTextDocument* document, const QString& word) {
  const QTextCursor found = document->find(word);
  if (found.isNull()) qFatal("\"%s\" is not in the diff", qPrintable(word));
  return found.charFormat();
}

bool marked(const QTextCharFormat& format) { return format.background().style() != Qt::NoBrush; }

}  // namespace

class DiffViewTest : public QObject {
  Q_OBJECT
 private slots:
  void showsTheEditMarked() {
    ui::DiffView view;
    view.setTexts(QStringLiteral("The quick brwn fox.\nJumps over the dog.\n"),
                  QStringLiteral("The quick brown fox.\nJumps over the lazy dog.\n"));
    view.show();
    QCOMPARE(view.summaryText(), QStringLiteral("1 word changed, 1 added"));

    QTextDocument* document = view.document();
    const QRegularExpression added_in_html(
        QStringLiteral("background-color:%1;[^\"]*\">brown</span>").arg(app::kDiffAddedColor));
    QVERIFY2(document->toHtml().contains(added_in_html), qPrintable(document->toHtml()));
    QCOMPARE(formatOf(document, "brown").background().color(), QColor(app::kDiffAddedColor));
    QCOMPARE(formatOf(document, "lazy").background().color(), QColor(app::kDiffAddedColor));
    QCOMPARE(formatOf(document, "brwn").background().color(), QColor(app::kDiffRemovedColor));
    QVERIFY(formatOf(document, "brwn").fontStrikeOut());
    QVERIFY(!marked(formatOf(document, "quick")));
    QVERIFY(!formatOf(document, "quick").fontStrikeOut());
  }

  void keepsLinesAndShowsMarkupAsText() {
    ui::DiffView view;
    view.setTexts(QStringLiteral("<table><tr><td>1</td></tr></table>\nsecond line\nthird line"),
                  QStringLiteral("<table><tr><td>7</td></tr></table>\nsecond line\nthird line"));
    QTextDocument* document = view.document();
    QVERIFY2(document->toPlainText().contains(QStringLiteral("<td>1")), qPrintable(document->toPlainText()));
    QVERIFY(document->toPlainText().contains(QStringLiteral("7</td>")));
    QCOMPARE(document->blockCount(), 3);
    QCOMPARE(document->lastBlock().text(), QStringLiteral("third line"));
  }

  void sameTextsSayNoChanges() {
    ui::DiffView view;
    view.setTexts(QStringLiteral("a brwn fox"), QStringLiteral("a brown fox"));
    view.setTexts(QStringLiteral("a brown fox"), QStringLiteral("a brown fox"));
    QCOMPARE(view.summaryText(), QStringLiteral("No changes: the page is the model's output"));
    QCOMPARE(view.document()->toPlainText(), QStringLiteral("a brown fox"));
    QVERIFY(!marked(formatOf(view.document(), "brown")));
    QVERIFY(!view.diff().hasChanges());
  }
};

QTEST_MAIN(DiffViewTest)
#include "test_diff_view.moc"
