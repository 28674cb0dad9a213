// Review: pages needing review are marked in the strip, filtered, reached from the keyboard, accepted, and read
// again another way with one click.
#include <QtTest/QtTest>

#include "../app/test_documents.h"
#include "main_window.h"
#include "output_review.h"
#include "screenshot.h"

#include <QComboBox>
#include <QListWidget>
#include <QPushButton>
#include <QTemporaryDir>

using namespace folio;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  QTemporaryDir dir;
  std::shared_ptr<test::ScriptLog> log = std::make_shared<test::ScriptLog>();
  std::unique_ptr<ui::MainWindow> window;

  explicit Fixture(int pages) {
    window = std::make_unique<ui::MainWindow>(
        [log = log](const app::AppSettings&) { return test::scriptedFactory("paper_page.txt", 0us, log); },
        dir.filePath("project"));
    window->openFile(test::writePdf(dir.filePath("book.pdf"), pages));
    QSignalSpy finished(window.get(), &ui::MainWindow::queueFinished);
    window->runAll();
    finished.wait(30000);
  }
  app::Project& project() { return window->project(); }
};

QList<int> visibleRows(QListWidget* strip) {
  QList<int> rows;
  for (int i = 0; i < strip->count(); ++i)
    if (!strip->isRowHidden(i)) rows << i;
  return rows;
}

}  // namespace

class ReviewTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void repetitionLoopIsStoppedAndThePageMarked() {
    // The model's usual failure: a table row written again and again until the token limit.
    QString looping = test::readSample("paper_page.txt").section("<table>", 0, 0) + "<table>";
    for (int row = 0; row < 6000; ++row) looping += "<tr><td>Tiny</td><td>512</td></tr> ";
    QTemporaryDir dir;
    auto log = std::make_shared<test::ScriptLog>();
    ui::MainWindow window([&](const app::AppSettings&) { return test::scriptedTextFactory(looping, 0us, log); },
                          dir.filePath("project"));
    QVERIFY(window.openFile(test::sampleScan("paper_page")));
    QVERIFY(window.openFile(test::sampleScan("multi_box_cjk")));
    QSignalSpy finished(&window, &ui::MainWindow::queueFinished);
    window.runAll();
    QVERIFY(finished.wait(30000));
    const app::Page& page = window.project().page(0);
    QCOMPARE(page.status, app::PageStatus::Done);
    QVERIFY2(page.review_reason.contains("repeat"), qPrintable(page.review_reason));
    QVERIFY(page.markdown.contains("Optical Compression"));  // what came before the loop is kept
    QVERIFY2(log->token_times.size() < 2 * app::LoopDetector::kTokenBound, qPrintable(QString::number(log->token_times.size())));
    QVERIFY(window.pageStrip()->item(0)->text().contains("needs review"));
    window.showPage(0);
    QVERIFY(window.reviewBar()->reason().contains("repeat"));
    window.setPageFilter(app::PageFilter::NeedsReview);
    test::saveScreenshot(&window, "needs_review.png");
  }

  void stripMarksAndFiltersPages() {
    Fixture f(5);
    QCOMPARE(f.project().page(4).status, app::PageStatus::Done);
    f.project().setReviewReason(1, "the line “x” repeats 12 times");
    f.project().setReviewReason(3, "cut mid-tag");
    f.window->showPage(2);
    f.window->editor()->moveCursor(QTextCursor::Start);
    QTest::keyClicks(f.window->editor(), "fix ");
    f.project().setStatus(4, app::PageStatus::Failed, "no image");
    QListWidget* strip = f.window->pageStrip();
    QVERIFY(strip->item(1)->text().contains("needs review"));
    QCOMPARE(strip->item(1)->toolTip(), QStringLiteral("the line “x” repeats 12 times"));
    f.window->setPageFilter(app::PageFilter::NeedsReview);
    QCOMPARE(visibleRows(strip), (QList<int>{1, 3}));
    f.window->setPageFilter(app::PageFilter::Edited);
    QCOMPARE(visibleRows(strip), (QList<int>{2}));
    f.window->setPageFilter(app::PageFilter::Failed);
    QCOMPARE(visibleRows(strip), (QList<int>{4}));
    f.window->setPageFilter(app::PageFilter::All);
    QCOMPARE(visibleRows(strip).size(), 5);
  }

  void keyboardGoesThroughThePagesToReview() {
    Fixture f(6);
    for (int page : {1, 4}) f.project().setReviewReason(page, "2000 tokens without new text");
    f.window->show();
    f.window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(f.window.get()));
    f.window->showPage(0);
    QVERIFY(f.window->reviewBar()->isHidden());
    QTest::keyClick(f.window.get(), Qt::Key_F8);
    QCOMPARE(f.window->currentPage(), 1);
    QVERIFY(f.window->reviewBar()->reason().contains("2000 tokens without new text"));
    // Accept: page 1 is done with, and the next page to review comes up.
    QTest::keyClick(f.window.get(), Qt::Key_Return, Qt::ControlModifier);
    QVERIFY(!f.project().page(1).needsReview());
    QCOMPARE(f.window->currentPage(), 4);
    QTest::keyClick(f.window.get(), Qt::Key_F8, Qt::ShiftModifier);  // the only one left: stays
    QCOMPARE(f.window->currentPage(), 4);
    f.window->acceptPage();
    QCOMPARE(f.project().nextNeedingReview(0), -1);
    QVERIFY(f.window->reviewBar()->isHidden());
  }

  void reviewBarRerunsThePageWithTheOtherMode() {
    Fixture f(2);
    f.project().setReviewReason(0, "the same 40 characters repeat 10 times");
    f.window->showPage(0);
    QCOMPARE(f.project().page(0).mode, Mode::Gundam);
    QCOMPARE(f.window->reviewBar()->otherModeButton()->text(), QStringLiteral("Re-run with Base"));
    const int runs_before = f.log->runs;
    QSignalSpy finished(f.window.get(), &ui::MainWindow::queueFinished);
    f.window->reviewBar()->otherModeButton()->click();
    QVERIFY(finished.wait(30000));
    QCOMPARE(f.log->runs, runs_before + 1);
    QCOMPARE(f.project().page(0).mode, Mode::Base);
    QVERIFY(!f.project().page(0).needsReview());  // a new reading starts clean
    QCOMPARE(f.project().page(1).mode, Mode::Gundam);
  }
};

QTEST_MAIN(ReviewTest)
#include "test_review.moc"
