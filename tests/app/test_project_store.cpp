// The project on disk: the journal keeps every change through a kill, a damaged project.json is recovered from
// the copy before it, paths beside the project travel with it, and documents find their project by content.
#include <QtTest/QtTest>

#include "project.h"
#include "project_library.h"
#include "test_documents.h"

#include <QDir>
#include <QTemporaryDir>

using namespace folio;

namespace {

// What a kill leaves: the project folder's files as they are on disk now, copied before any pending save runs.
QString snapshotFolder(const QString& folder, const QString& copy) {
  QDir().mkpath(copy);
  for (const QString& name : QDir(folder).entryList(QDir::Files)) QFile::copy(folder + "/" + name, copy + "/" + name);
  return copy;
}

int addDonePage(app::Project& project, const QString& source) {
  app::Page page;
  page.source = source;
  const int index = project.addPage(page);
  project.setResult(index, test::sampleResult("paper_page.txt", QSize(1000, 1000), "page1"), QSize(1000, 1000));
  return index;
}

QByteArray readAll(const QString& path) {
  QFile file(path);
  return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

}  // namespace

class ProjectStoreTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() { QStandardPaths::setTestModeEnabled(true); }

  void journalKeepsChangesMadeJustBeforeAKill() {
    QTemporaryDir dir;
    app::Project project;
    project.setFolder(dir.filePath("project"));
    const int index = addDonePage(project, test::writeImage(dir.filePath("page.png"), QSize(1000, 1000)));
    QVERIFY(project.save());
    project.applyEdit(index, "FIXED " + project.page(index).markdown, 0, 0, 6);
    // Killed now: the debounced save has not run, project.json still has the model's text.
    const QString killed = snapshotFolder(dir.filePath("project"), dir.filePath("killed"));
    QVERIFY(!readAll(killed + "/project.json").contains("FIXED "));

    app::Project reopened;
    QString error, warning;
    QVERIFY2(reopened.load(killed, &error, &warning), qPrintable(error));
    QCOMPARE(reopened.pageCount(), 1);
    QVERIFY(reopened.page(0).markdown.startsWith("FIXED "));
    QVERIFY(reopened.page(0).edited);
    QVERIFY2(warning.contains("1 change"), qPrintable(warning));
    // Replayed once: the consolidated project.json has the edit and the journal is empty.
    QVERIFY(readAll(killed + "/project.json").contains("FIXED "));
    QCOMPARE(QFileInfo(killed + "/journal.jsonl").size(), 0);
  }

  void projectKilledBeforeItsFirstSaveComesBackFromTheJournal() {
    QTemporaryDir dir;
    app::Project project;
    project.setFolder(dir.filePath("project"));
    addDonePage(project, test::writeImage(dir.filePath("page.png"), QSize(1000, 1000)));
    const QString killed = snapshotFolder(dir.filePath("project"), dir.filePath("killed"));
    QVERIFY(!QFile::exists(killed + "/project.json"));
    app::Project reopened;
    QString error;
    QVERIFY2(reopened.load(killed, &error), qPrintable(error));
    QCOMPARE(reopened.pageCount(), 1);
    QCOMPARE(reopened.page(0).status, app::PageStatus::Done);
  }

  void journalEntriesAlreadySavedAreNotAppliedTwice() {
    QTemporaryDir dir;
    app::Project project;
    project.setFolder(dir.filePath("project"));
    const int index = addDonePage(project, test::writeImage(dir.filePath("page.png"), QSize(1000, 1000)));
    project.applyEdit(index, "A" + project.page(index).markdown, 0, 0, 1);
    const QByteArray journal = readAll(dir.filePath("project/journal.jsonl"));
    QVERIFY(project.save());
    // A kill between the save and the journal's truncation: the old entries are still there.
    QFile file(dir.filePath("project/journal.jsonl"));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(journal);
    file.close();
    app::Project reopened;
    QString error, warning;
    QVERIFY(reopened.load(dir.filePath("project"), &error, &warning));
    QVERIFY(reopened.page(0).markdown.startsWith("A"));
    QVERIFY(!reopened.page(0).markdown.startsWith("AA"));
    QVERIFY2(warning.isEmpty(), qPrintable(warning));
  }

  void damagedProjectJsonIsRecoveredFromThePreviousCopy() {
    QTemporaryDir dir;
    const QString folder = dir.filePath("project");
    {
      app::Project project;
      project.setFolder(folder);
      const int index = addDonePage(project, test::writeImage(dir.filePath("page.png"), QSize(1000, 1000)));
      QVERIFY(project.save());
      project.applyEdit(index, "SECOND " + project.page(index).markdown, 0, 0, 7);
      QVERIFY(project.save());
    }
    QVERIFY(QFile::exists(folder + "/project.json.bak"));
    QFile damaged(folder + "/project.json");  // half written: cut in the middle
    QVERIFY(damaged.open(QIODevice::ReadWrite));
    damaged.resize(damaged.size() / 2);
    damaged.close();

    app::Project reopened;
    QString error, warning;
    QVERIFY2(reopened.load(folder, &error, &warning), qPrintable(error));
    QVERIFY2(warning.contains("damaged") && warning.contains("project.json.bak"), qPrintable(warning));
    QCOMPARE(reopened.pageCount(), 1);
    QCOMPARE(reopened.page(0).status, app::PageStatus::Done);
    // The damaged file is kept aside, never deleted.
    QCOMPARE(QDir(folder).entryList({"project.json.damaged-*"}).size(), 1);
  }

  void nothingReadableIsAnErrorNamingTheFile() {
    QTemporaryDir dir;
    QDir().mkpath(dir.filePath("project"));
    QFile garbage(dir.filePath("project/project.json"));
    QVERIFY(garbage.open(QIODevice::WriteOnly));
    garbage.write("{\"pages\": [");
    garbage.close();
    app::Project project;
    QString error;
    QVERIFY(!project.load(dir.filePath("project"), &error));
    QVERIFY2(error.contains("project.json") && error.contains("damaged"), qPrintable(error));
  }

  void halfWrittenJournalLineIsSkipped() {
    QTemporaryDir dir;
    app::Project project;
    project.setFolder(dir.filePath("project"));
    const int index = addDonePage(project, test::writeImage(dir.filePath("page.png"), QSize(1000, 1000)));
    QVERIFY(project.save());
    project.applyEdit(index, "KEPT " + project.page(index).markdown, 0, 0, 5);
    QFile journal(dir.filePath("project/journal.jsonl"));
    QVERIFY(journal.open(QIODevice::Append));
    journal.write("{\"op\":\"page\",\"index\":0,\"page\":{\"markdown\":\"LOST");  // the kill cut this line
    journal.close();
    app::Project reopened;
    QString error;
    QVERIFY(reopened.load(dir.filePath("project"), &error));
    QVERIFY(reopened.page(0).markdown.startsWith("KEPT "));
  }

  void runningAndQueuedPagesComeBackQueued() {
    QTemporaryDir dir;
    const QString image = test::writeImage(dir.filePath("page.png"), QSize(100, 100));
    app::Project project;
    project.setFolder(dir.filePath("project"));
    for (int i = 0; i < 3; ++i) {
      app::Page page;
      page.source = image;
      project.addPage(page);
    }
    project.setStatus(0, app::PageStatus::Running);
    project.setStatus(1, app::PageStatus::Queued);
    const QString killed = snapshotFolder(dir.filePath("project"), dir.filePath("killed"));
    app::Project reopened;
    QString error;
    QVERIFY(reopened.load(killed, &error));
    QCOMPARE(reopened.page(0).status, app::PageStatus::Queued);
    QCOMPARE(reopened.page(1).status, app::PageStatus::Queued);
    QCOMPARE(reopened.page(2).status, app::PageStatus::Pending);
  }

  void sourceBesideTheProjectMovesWithIt() {
    QTemporaryDir dir;
    QDir().mkpath(dir.filePath("a"));
    const QString image = test::writeImage(dir.filePath("a/scan.png"), QSize(100, 100));
    {
      app::Project project;
      project.setFolder(dir.filePath("a/scan project"));
      addDonePage(project, image);
      project.addDocument({image, app::sha256OfFile(image), QFileInfo(image).size()});
      QVERIFY(project.save());
    }
    QVERIFY(readAll(dir.filePath("a/scan project/project.json")).contains("\"../scan.png\""));
    QVERIFY(QDir().rename(dir.filePath("a"), dir.filePath("moved")));
    app::Project moved;
    QString error;
    QVERIFY(moved.load(dir.filePath("moved/scan project"), &error));
    QCOMPARE(moved.page(0).source, dir.filePath("moved/scan.png"));
    QCOMPARE(moved.documents().first().path, dir.filePath("moved/scan.png"));
  }

  void saveAsWritesAFolderThatOpensElsewhere() {
    QTemporaryDir dir;
    const QString image = test::writeImage(dir.filePath("scan.png"), QSize(1000, 1000));
    app::Project project;
    project.setFolder(dir.filePath("original"));
    addDonePage(project, image);
    QString error;
    QVERIFY2(project.saveAs(dir.filePath("copy"), &error), qPrintable(error));
    QCOMPARE(project.folder(), dir.filePath("copy"));
    app::Project copy;
    QVERIFY(copy.load(dir.filePath("copy"), &error));
    QCOMPARE(copy.page(0).markdown, project.page(0).markdown);
  }

  void modelMarkdownAndRevertUndoTheUsersEdits() {
    QTemporaryDir dir;
    app::Project project;
    project.setFolder(dir.filePath("project"));
    const int index = addDonePage(project, test::writeImage(dir.filePath("page.png"), QSize(1000, 1000)));
    const QString model = project.page(index).markdown;
    const QList<app::PageRegion> regions = project.page(index).regions;
    project.applyEdit(index, "NEW " + model, 0, 0, 4);
    QCOMPARE(project.modelMarkdown(index), model);
    project.revertToModel(index);
    QCOMPARE(project.page(index).markdown, model);
    QVERIFY(!project.page(index).edited);
    QCOMPARE(project.page(index).regions.size(), regions.size());
    QCOMPARE(project.page(index).regions[0].begin, regions[0].begin);
  }

  void sha256IsOfTheFilesBytes() {
    QTemporaryDir dir;
    QFile file(dir.filePath("abc"));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("abc");
    file.close();
    QCOMPARE(app::sha256OfFile(file.fileName()),
             QStringLiteral("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    QVERIFY(app::sha256OfFile(dir.filePath("missing")).isEmpty());
  }

  void documentsFindTheirProjectByContentAndNoticeChanges() {
    QTemporaryDir dir;
    QSettings settings(dir.filePath("settings.ini"), QSettings::IniFormat);
    const QString image = test::writeImage(dir.filePath("scan.png"), QSize(200, 200));
    const QString sha = app::sha256OfFile(image);
    const QString folder = dir.filePath("elsewhere");  // saved outside the default folder: found through the list
    {
      app::Project project;
      project.setFolder(folder);
      addDonePage(project, image);
      project.addDocument({image, sha, QFileInfo(image).size()});
      QVERIFY(project.save());
    }
    app::rememberProject(settings, folder);
    QVERIFY(QFile::copy(image, dir.filePath("renamed copy.png")));
    app::ProjectMatch match = app::findProject(dir.filePath("renamed copy.png"), sha, settings);
    QCOMPARE(match.folder, QFileInfo(folder).absoluteFilePath());
    QVERIFY(!match.content_changed);

    test::writeImage(image, QSize(200, 200), Qt::blue);  // the same path, other content
    match = app::findProject(image, app::sha256OfFile(image), settings);
    QCOMPARE(match.folder, QFileInfo(folder).absoluteFilePath());
    QVERIFY(match.content_changed);

    QVERIFY(app::findProject(dir.filePath("other.png"), QString(64, 'f'), settings).folder.isEmpty());
  }

  void recentListKeepsTheNewestFirstAndForgets() {
    QTemporaryDir dir;
    QSettings settings(dir.filePath("settings.ini"), QSettings::IniFormat);
    QStringList folders;
    for (int i = 0; i < 3; ++i) {
      app::Project project;
      project.setFolder(dir.filePath(QStringLiteral("p%1").arg(i)));
      QVERIFY(project.save());
      folders << QFileInfo(project.folder()).absoluteFilePath();
      app::rememberProject(settings, project.folder());
    }
    app::rememberProject(settings, folders[0]);
    QList<app::RecentProject> recent = app::recentProjects(settings);
    QCOMPARE(recent.size(), 3);
    QCOMPARE(recent[0].folder, folders[0]);
    QCOMPARE(recent[1].folder, folders[2]);
    app::forgetProject(settings, folders[2]);
    QCOMPARE(app::recentProjects(settings).size(), 2);
    QVERIFY(QDir(folders[1]).removeRecursively());  // gone from disk: left out
    QCOMPARE(app::recentProjects(settings).size(), 1);
  }
};

QTEST_GUILESS_MAIN(ProjectStoreTest)
#include "test_project_store.moc"
