// A full disk while saving the project or exporting: the write fails with a message and the previous good files
// stay as they were. The disk fills up for real as far as Folio can tell: a file-size limit (RLIMIT_FSIZE) makes
// every write past a few bytes fail the way a full disk does (EFBIG instead of ENOSPC, same path through Qt).
#include <QtTest/QtTest>

#include <csignal>
#include <sys/resource.h>

#include "export_formats.h"
#include "exporter.h"
#include "project.h"

#include <QTemporaryDir>

using namespace folio;

namespace {

QByteArray readAll(const QString& path) {
  QFile file(path);
  return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// While alive, no file this process writes may grow past `bytes`.
class DiskFull {
 public:
  explicit DiskFull(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    setrlimit(RLIMIT_FSIZE, &limit);
  }
  ~DiskFull() { setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_{};
};

app::Page donePage(const QString& markdown) {
  app::Page page;
  page.source = "scan.png";
  page.status = app::PageStatus::Done;
  page.markdown = markdown;
  page.raw_text = markdown;
  return page;
}

}  // namespace

class DiskFullTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { std::signal(SIGXFSZ, SIG_IGN); }  // a failed write, not a killed process

  void projectSaveKeepsThePreviousFile() {
    QTemporaryDir dir;
    app::Project project;
    project.setFolder(dir.path());
    project.addPage(donePage("# First page\n\nThe text as it was saved."));
    QString error;
    QVERIFY2(project.save(&error), qPrintable(error));
    const QByteArray saved = readAll(dir.filePath("project.json"));
    QVERIFY(saved.contains("The text as it was saved."));

    project.addPage(donePage(QString("# Second page\n\n") + QString(4000, 'x')));
    bool saved_on_full_disk = true;
    {
      DiskFull full(64);  // nothing is printed while it lasts: the test's own log may be a file
      saved_on_full_disk = project.save(&error);
    }
    QVERIFY(!saved_on_full_disk);
    QVERIFY2(error.contains("project.json"), qPrintable(error));
    QCOMPARE(readAll(dir.filePath("project.json")), saved);  // the previous good file, untouched

    // Space again: the next save writes everything, nothing was lost in memory.
    QVERIFY2(project.save(&error), qPrintable(error));
    app::Project reloaded;
    QVERIFY2(reloaded.load(dir.path(), &error), qPrintable(error));
    QCOMPARE(reloaded.pageCount(), 2);
  }

  // An edit whose journal line does not fit leaves no half line behind: the next edit's line replays after a kill.
  void journalLinesStayWhole() {
    QTemporaryDir dir, killed;
    QString error;
    app::Project project;
    project.setFolder(dir.path());
    project.addPage(donePage("# Saved"));
    QVERIFY2(project.save(&error), qPrintable(error));
    QSignalSpy failed(&project, &app::Project::saveFailed);
    {
      DiskFull full(16);
      project.applyEdit(0, "# Saved, then edited on a full disk", 7, 0, 28);
    }
    QCOMPARE(failed.count(), 1);
    project.applyEdit(0, "# Saved, then edited on a full disk, and again", 35, 0, 11);
    // What a kill leaves: the files as they are now, before any pending save; the journal holds the edits.
    for (const QString& name : QDir(dir.path()).entryList(QDir::Files))
      QVERIFY(QFile::copy(dir.filePath(name), killed.filePath(name)));
    app::Project reloaded;
    QVERIFY2(reloaded.load(killed.path(), &error), qPrintable(error));
    QCOMPARE(reloaded.page(0).markdown, QStringLiteral("# Saved, then edited on a full disk, and again"));
  }

  void exportKeepsThePreviousFile() {
    QTemporaryDir dir;
    app::Project project;
    project.addPage(donePage("# Exported once"));
    const QString path = dir.filePath("book.md");
    for (const auto format : {app::ExportFormat::Markdown, app::ExportFormat::Text, app::ExportFormat::Html}) {
      const QString target = path + app::exportFormatSuffix(format);
      app::ExportReport report = app::exportProject(project, format, target, {});
      QVERIFY2(report.errors.isEmpty(), qPrintable(report.errors.join('\n')));
      const QByteArray first = readAll(target);
      QVERIFY(!first.isEmpty());

      app::Project changed;
      changed.addPage(donePage(QString("# Exported again\n\n") + QString(4000, 'y')));
      {
        DiskFull full(16);
        report = app::exportProject(changed, format, target, {});
      }
      QVERIFY2(!report.errors.isEmpty(), qPrintable(app::exportFormatName(format)));
      QCOMPARE(readAll(target), first);
    }
  }
};

QTEST_MAIN(DiskFullTest)
#include "test_disk_full.moc"
