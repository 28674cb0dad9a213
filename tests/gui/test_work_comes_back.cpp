// Work that comes back: a document reopens its project by content, the start screen lists recent documents, a
// damaged project is recovered, and a child app killed with SIGKILL mid-stream or mid-edit loses nothing.
#include <QtTest/QtTest>

#include "../app/test_documents.h"
#include "main_window.h"
#include "project_library.h"
#include "screenshot.h"
#include "termination.h"

#include <QListWidget>
#include <QProcess>
#include <QTemporaryDir>
#include <csignal>
#include <cstdio>
#include <thread>

using namespace folio;
using namespace std::chrono_literals;

namespace {

ui::BackendMaker scripted(std::chrono::microseconds delay) {
  auto log = std::make_shared<test::ScriptLog>();
  return [delay, log](const app::AppSettings&) { return test::scriptedFactory("paper_page.txt", delay, log); };
}

bool runAllAndWait(ui::MainWindow& window) {
  QSignalSpy finished(&window, &ui::MainWindow::queueFinished);
  window.runAll();
  return finished.wait(30000);
}

void typeAtStart(ui::MainWindow& window, const QString& text) {
  window.editor()->moveCursor(QTextCursor::Start);
  QTest::keyClicks(window.editor(), text);
}

// Everything a test leaves in the app's data folder (projects, recent list) goes before the next one.
void forgetAllProjects() {
  QDir(app::projectsRoot()).removeRecursively();
  QSettings settings;
  settings.clear();
  settings.sync();
}

// The child: a real main window in its own process, told what to do by the parent, saying on stdout when it
// got there, and then freezing its event loop, so that nothing but what is already on disk survives the kill.
int runChild(const QStringList& args) {
  const QString scenario = args[0], folder = args[1], file = args[2];
  ui::MainWindow window(scripted(scenario == "stream" ? 20ms : 0us), folder);
  const auto say_and_freeze = [](const char* line) {
    std::printf("%s\n", line);
    std::fflush(stdout);
    std::this_thread::sleep_for(60s);
  };
  if (!window.openFile(file)) return 2;
  QObject::connect(window.worker(), &app::OcrWorker::pageProgress, &window, [&](int page, const QString&, int tokens, double) {
    if (scenario == "stream" && page == 1 && tokens == 10) say_and_freeze("streaming page 2");
  });
  // As the app's main() does: a termination signal closes the window, which saves.
  app::onTerminationSignal(&window, [&window] {
    window.close();
    QApplication::quit();
  });
  QObject::connect(&window, &ui::MainWindow::queueFinished, &window, [&] {
    if (scenario == "stream") return;
    window.showPage(0);
    typeAtStart(window, "FIXED BY HAND ");
    if (scenario == "edit") say_and_freeze("typed");
    std::printf("typed\n");
    std::fflush(stdout);
  });
  window.runAll();
  return QApplication::exec();
}

}  // namespace

class WorkComesBackTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }
  void init() { forgetAllProjects(); }

  void documentReopensItsProjectByContent() {
    QTemporaryDir dir;
    const QString pdf = test::writePdf(dir.filePath("scan.pdf"), 2);
    {
      ui::MainWindow window(scripted(0us), {});
      QVERIFY(window.showingStartScreen());
      QVERIFY(window.openFile(pdf));
      QVERIFY(!window.showingStartScreen());
      QVERIFY(runAllAndWait(window));
      window.showPage(0);
      typeAtStart(window, "MY FIX ");
      QCOMPARE(window.project().folder(), app::projectFolderFor(app::sha256OfFile(pdf)));
    }
    // Later, the same bytes under another name: the work comes back, not a fresh project.
    QVERIFY(QFile::copy(pdf, dir.filePath("copy of scan.pdf")));
    ui::MainWindow window(scripted(0us), {});
    QCOMPARE(window.startScreen()->recentList()->count(), 1);
    QVERIFY(window.startScreen()->recentList()->item(0)->text().contains("scan.pdf"));
    QVERIFY2(window.startScreen()->recentList()->item(0)->text().contains("2 done · 1 edited"),
             qPrintable(window.startScreen()->recentList()->item(0)->text()));
    QVERIFY(window.openFile(dir.filePath("copy of scan.pdf")));
    QCOMPARE(window.project().pageCount(), 2);
    QCOMPARE(window.project().page(1).status, app::PageStatus::Done);
    QVERIFY(window.project().page(0).markdown.startsWith("MY FIX "));
    QVERIFY(window.editor()->toPlainText().startsWith("MY FIX "));
    // Opening it once more adds no second copy of its pages.
    QVERIFY(window.openFile(pdf));
    QCOMPARE(window.project().pageCount(), 2);
  }

  void changedFileAsksWhetherToKeepTheOldResults() {
    QTemporaryDir dir;
    const QString image = test::writeImage(dir.filePath("page.png"), QSize(800, 1000));
    {
      ui::MainWindow window(scripted(0us), {});
      QVERIFY(window.openFile(image));
      QVERIFY(runAllAndWait(window));
    }
    // Rescanned under the same name: once the old results are kept (the project takes the new file), once not.
    for (const bool keep : {true, false}) {
      test::writeImage(image, QSize(800, 1000), keep ? Qt::blue : Qt::green);
      ui::MainWindow window(scripted(0us), {});
      QStringList asked;
      window.setChangedDocumentQuestion([&](const QString& path) {
        asked << path;
        return keep;
      });
      QVERIFY(window.openFile(image));
      QCOMPARE(asked, QStringList{image});
      QCOMPARE(window.project().page(0).status, keep ? app::PageStatus::Done : app::PageStatus::Pending);
      if (keep) QCOMPARE(window.project().documents().first().sha256, app::sha256OfFile(image));
    }
  }

  void recentDocumentsReopenAndCanBeRemoved() {
    QTemporaryDir dir;
    for (const char* name : {"first.png", "second.png"}) {
      ui::MainWindow window(scripted(0us), {});
      QVERIFY(window.openFile(test::writeImage(dir.filePath(name), QSize(300, 400), name[0] == 'f' ? Qt::red : Qt::green)));
    }
    ui::MainWindow window(scripted(0us), {});
    QListWidget* recent = window.startScreen()->recentList();
    QCOMPARE(recent->count(), 2);
    QVERIFY(recent->item(0)->text().startsWith("second.png"));
    QVERIFY(!recent->item(0)->icon().isNull());  // the first page's thumbnail
    recent->setCurrentRow(1);
    emit recent->itemActivated(recent->item(1));
    QVERIFY(!window.showingStartScreen());
    QCOMPARE(window.project().name(), QStringLiteral("first.png"));
    window.closeProject();
    QVERIFY(window.showingStartScreen());
    QCOMPARE(recent->item(0)->text().section('\n', 0, 0), QStringLiteral("first.png"));
    recent->setCurrentRow(1);
    QTest::keyClick(recent, Qt::Key_Delete);
    QCOMPARE(recent->count(), 1);
    QCOMPARE(recent->item(0)->text().section('\n', 0, 0), QStringLiteral("first.png"));
  }

  void startScreenSummarisesEachRecentDocument() {
    QTemporaryDir dir;
    // Three scans, each read by a model output of its own; one edited, one cut short (needs review).
    const QList<std::pair<QString, QString>> documents = {
        {"multi_box_cjk", "multi_box_cjk.txt"}, {"truncated", "truncated.txt"}, {"paper_page", "paper_page.txt"}};
    for (const auto& [scan, sample] : documents) {
      auto log = std::make_shared<test::ScriptLog>();
      ui::MainWindow window([&](const app::AppSettings&) { return test::scriptedFactory(sample, 0us, log); }, {});
      QVERIFY(window.openFile(test::sampleScan(scan)));
      QVERIFY(runAllAndWait(window));
      if (scan == "paper_page") typeAtStart(window, "Revised: ");
    }
    ui::MainWindow window(scripted(0us), {});
    QListWidget* recent = window.startScreen()->recentList();
    QCOMPARE(recent->count(), 3);
    QCOMPARE(recent->item(0)->text().section('\n', 0, 1), QStringLiteral("paper_page.jpg\n1 page · 1 done · 1 edited"));
    QCOMPARE(recent->item(1)->text().section('\n', 0, 1), QStringLiteral("truncated.jpg\n1 page · 1 done · 1 to review"));
    QCOMPARE(recent->item(2)->text().section('\n', 0, 1), QStringLiteral("multi_box_cjk.jpg\n1 page · 1 done"));
    QTRY_VERIFY(window.startScreen()->modelStatus().contains("Model ready"));
    test::saveScreenshot(&window, "start_screen.png");
  }

  void movedProjectAsksWhereItsSourceIs() {
    QTemporaryDir dir;
    const QString folder = dir.filePath("project");
    QDir().mkpath(dir.filePath("scans"));
    const QString image = test::writeImage(dir.filePath("scans/page.png"), QSize(800, 1000));
    {
      ui::MainWindow window(scripted(0us), folder);
      QVERIFY(window.openFile(image));
      QVERIFY(runAllAndWait(window));
    }
    QVERIFY(QDir().rename(dir.filePath("scans"), dir.filePath("elsewhere")));  // the source moved, not beside it
    QStringList asked;
    ui::MainWindow window(scripted(0us), {});
    window.setMissingSourceQuestion([&](const QString& path) {
      asked << path;
      return dir.filePath("elsewhere/page.png");
    });
    QVERIFY(window.openProject(folder));
    QCOMPARE(asked, QStringList{image});
    QCOMPARE(window.project().page(0).source, dir.filePath("elsewhere/page.png"));
    QCOMPARE(window.project().page(0).status, app::PageStatus::Done);
    QVERIFY(window.pageView()->boxCount() > 0);  // the page shows again with its boxes
  }

  void damagedProjectIsRecoveredWithAMessage() {
    QTemporaryDir dir;
    const QString folder = dir.filePath("project");
    {
      ui::MainWindow window(scripted(0us), folder);
      QVERIFY(window.openFile(test::writeImage(dir.filePath("page.png"), QSize(800, 1000))));
      QVERIFY(runAllAndWait(window));
      window.saveState();
      typeAtStart(window, "EDIT ");
      window.saveState();
    }
    QFile damaged(folder + "/project.json");
    QVERIFY(damaged.open(QIODevice::WriteOnly));
    damaged.write("{\"version\": 2, \"pag");
    damaged.close();
    ui::MainWindow window(scripted(0us), folder);
    QVERIFY2(window.bannerText().contains("damaged"), qPrintable(window.bannerText()));
    QCOMPARE(window.project().pageCount(), 1);
    QCOMPARE(window.project().page(0).status, app::PageStatus::Done);
  }

  void killedWhileStreamingKeepsEveryFinishedPage() {
    QTemporaryDir dir;
    const QString folder = dir.filePath("project");
    runChildUntilKilled("stream", folder, test::writePdf(dir.filePath("book.pdf"), 3), "streaming page 2");
    ui::MainWindow window(scripted(50ms), folder);
    QCOMPARE(window.project().pageCount(), 3);
    QCOMPARE(window.project().page(0).status, app::PageStatus::Done);
    QVERIFY(window.project().page(0).markdown.contains("Optical Compression"));
    // The page being read and the one after it come back queued, and reading goes on.
    QVERIFY(window.project().page(1).status == app::PageStatus::Queued ||
            window.project().page(1).status == app::PageStatus::Running);
    QVERIFY(window.project().page(2).status == app::PageStatus::Queued);
    window.cancelAll();
  }

  void killedRightAfterAnEditKeepsTheEdit() {
    QTemporaryDir dir;
    const QString folder = dir.filePath("project");
    runChildUntilKilled("edit", folder, test::writeImage(dir.filePath("page.png"), QSize(800, 1000)), "typed");
    ui::MainWindow window(scripted(0us), folder);
    QCOMPARE(window.project().pageCount(), 1);
    QVERIFY(window.project().page(0).edited);
    QVERIFY2(window.project().page(0).markdown.startsWith("FIXED BY HAND "), qPrintable(window.project().page(0).markdown.left(40)));
  }

  void exportAsWritesTheSelectedPagesWithTheEdits() {
    QTemporaryDir dir;
    ui::MainWindow window(scripted(0us), dir.filePath("project"));
    QVERIFY(window.openFile(test::writePdf(dir.filePath("book.pdf"), 3)));
    QVERIFY(runAllAndWait(window));
    window.showPage(1);
    typeAtStart(window, "SECOND PAGE FIXED ");
    window.pageStrip()->clearSelection();
    window.pageStrip()->item(1)->setSelected(true);
    window.pageStrip()->item(2)->setSelected(true);
    QVERIFY(window.exportAs(app::ExportFormat::Text, dir.filePath("pages.txt"), true));
    QFile text(dir.filePath("pages.txt"));
    QVERIFY(text.open(QIODevice::ReadOnly));
    const QString exported = QString::fromUtf8(text.readAll());
    QVERIFY(exported.startsWith("SECOND PAGE FIXED"));
    QCOMPARE(exported.count("Optical Compression of Long Contexts"), 2);
    // The searchable PDF of the whole document has its three pages.
    QVERIFY(window.exportAs(app::ExportFormat::Pdf, dir.filePath("book-searchable.pdf"), false));
    QCOMPARE(app::openDocument(dir.filePath("book-searchable.pdf")).document->pageCount(), 3);
  }

  void terminationSignalSavesLikeQuit() {
    QTemporaryDir dir;
    const QString folder = dir.filePath("project");
    QProcess child;
    startChild(child, "term", folder, test::writeImage(dir.filePath("page.png"), QSize(800, 1000)), "typed");
    ::kill(child.processId(), SIGTERM);
    QVERIFY(child.waitForFinished(10000));
    QCOMPARE(child.exitStatus(), QProcess::NormalExit);
    QCOMPARE(child.exitCode(), 0);
    // Saved in full at close: project.json has the edit and the journal is empty.
    QFile saved(folder + "/project.json");
    QVERIFY(saved.open(QIODevice::ReadOnly));
    QVERIFY(saved.readAll().contains("FIXED BY HAND "));
    QCOMPARE(QFileInfo(folder + "/journal.jsonl").size(), 0);
  }

  void showChangesMarksTheEditAndRevertUndoesIt() {
    QTemporaryDir dir;
    ui::MainWindow window(scripted(0us), dir.filePath("project"));
    QVERIFY(window.openFile(test::writeImage(dir.filePath("page.png"), QSize(800, 1000))));
    QVERIFY(runAllAndWait(window));
    const QString model = window.project().page(0).markdown;
    typeAtStart(window, "Corrected ");
    window.showChanges(true);
    QTRY_COMPARE(window.diffView()->summaryText(), QStringLiteral("1 word added"));
    QVERIFY(window.diffView()->document()->toPlainText().contains("Corrected"));
    window.revertPage(false);
    QCOMPARE(window.project().page(0).markdown, model);
    QCOMPARE(window.editor()->toPlainText(), model);
    QVERIFY(!window.project().page(0).edited);
    QTRY_VERIFY(window.diffView()->summaryText().startsWith("No changes"));
  }

 private:
  void runChildUntilKilled(const QString& scenario, const QString& folder, const QString& file, const QByteArray& line) {
    QProcess child;
    startChild(child, scenario, folder, file, line);
    if (QTest::currentTestFailed()) return;
    ::kill(child.processId(), SIGKILL);  // as a crash would: no handler, no flush
    QVERIFY(child.waitForFinished());
    QCOMPARE(child.exitStatus(), QProcess::CrashExit);
  }

  // Starts the child and waits until it says `line`.
  void startChild(QProcess& child, const QString& scenario, const QString& folder, const QString& file,
                  const QByteArray& line) {
    child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
    child.start(QCoreApplication::applicationFilePath(), {"--child", scenario, folder, file});
    QVERIFY(child.waitForStarted());
    QByteArray said;
    QElapsedTimer clock;
    clock.start();
    while (!said.contains(line) && clock.elapsed() < 60000 && child.state() == QProcess::Running)
      if (child.waitForReadyRead(1000)) said += child.readAllStandardOutput();
    QVERIFY2(said.contains(line), said.constData());
  }
};

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QStandardPaths::setTestModeEnabled(true);
  QApplication::setApplicationName("folio-work-comes-back-test");
  if (argc > 1 && QByteArray(argv[1]) == "--child") return runChild(app.arguments().mid(2));
  WorkComesBackTest test;
  return QTest::qExec(&test, argc, argv);
}
#include "test_work_comes_back.moc"
