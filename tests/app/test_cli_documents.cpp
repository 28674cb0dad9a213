// folio-cli over documents: PDF, image and folder inputs, page ranges, resume after a kill, exit codes, the
// document JSON against its schema, and `export` from a <stem>.json or an app project. The miniature model reads
// the pages on the CPU (a few tokens each: what is tested is the plumbing, not the text).
#include <QtTest/QtTest>
#include <folio_version.h>

#include "document.h"
#include "fake_openai_server.h"
#include "project.h"
#include "scripted_backend.h"
#include "test_documents.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>

using namespace folio;

namespace {

struct CliRun {
  int exit_code = -1;
  QByteArray out, err;
  QJsonObject summary() const { return QJsonDocument::fromJson(out.trimmed().split('\n').last()).object(); }
};

CliRun runCli(const QStringList& args, const QProcessEnvironment& env = QProcessEnvironment::systemEnvironment()) {
  QProcess cli;
  cli.setProcessEnvironment(env);
  cli.start(FOLIO_CLI_PATH, args);
  CliRun run;
  if (!cli.waitForFinished(600000)) return run;
  run.exit_code = cli.exitStatus() == QProcess::NormalExit ? cli.exitCode() : -1;
  run.out = cli.readAllStandardOutput();
  run.err = cli.readAllStandardError();
  return run;
}

QJsonObject readJson(const QString& path) {
  QFile file(path);
  return file.open(QIODevice::ReadOnly) ? QJsonDocument::fromJson(file.readAll()).object() : QJsonObject();
}

QList<int> sourcePages(const QJsonObject& document) {
  QList<int> pages;
  for (const QJsonValue& page : document["pages"].toArray()) pages << page.toObject()["source_page"].toInt();
  return pages;
}

bool haveJsonSchema() {
  QProcess python;
  python.start("python3", {"-c", "import jsonschema"});
  return python.waitForFinished(60000) && python.exitStatus() == QProcess::NormalExit && python.exitCode() == 0;
}

// Python's jsonschema against docs/folio-document.schema.json; returns its complaint, empty when valid.
QString schemaErrors(const QString& json_path) {
  QProcess python;
  python.start("python3", {"-c",
                           "import json, sys, jsonschema\n"
                           "schema = json.load(open(sys.argv[1])); document = json.load(open(sys.argv[2]))\n"
                           "jsonschema.Draft202012Validator.check_schema(schema)\n"
                           "errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(document)]\n"
                           "print('\\n'.join(errors[:5]))",
                           FOLIO_SOURCE_DIR "/docs/folio-document.schema.json", json_path});
  if (!python.waitForFinished(60000) || python.exitCode() != 0) return "python3: " + python.readAllStandardError();
  return QString::fromUtf8(python.readAllStandardOutput()).trimmed();
}

}  // namespace

class CliDocumentsTest : public QObject {
  Q_OBJECT
  QTemporaryDir models_;
  QString model_;

  QStringList ocr(const QStringList& more, int max_tokens = 6) const {
    return QStringList{"ocr", "--model", model_, "--device", "cpu", "--mode", "tiny", "--max-tokens",
                       QString::number(max_tokens)} + more;
  }

 private slots:
  void initTestCase() { model_ = test::makeMiniModel(models_.filePath("mini")); }

  void readsPdfsImagesAndFolders() {
    QTemporaryDir dir;
    test::writePdf(dir.filePath("book.pdf"), 3);
    test::writeImage(dir.filePath("scan.png"), QSize(400, 500));
    QDir().mkpath(dir.filePath("folder/chapter"));
    test::writeImage(dir.filePath("folder/a.png"), QSize(300, 300));
    test::writeImage(dir.filePath("folder/chapter/a.jpg"), QSize(300, 300));
    const CliRun run = runCli(ocr({dir.filePath("book.pdf"), dir.filePath("scan.png"), dir.filePath("folder"),
                                   "-o", dir.filePath("out")}));
    QVERIFY2(run.exit_code == 0, run.err.constData());
    QCOMPARE(run.summary()["pages_done"].toInt(), 6);
    QCOMPARE(run.summary()["pages_failed"].toInt(), 0);
    for (const char* stem : {"book", "scan", "a", "chapter_a"}) {
      QVERIFY2(QFile::exists(dir.filePath(QStringLiteral("out/%1.md").arg(stem))), stem);
      QCOMPARE(readJson(dir.filePath(QStringLiteral("out/%1.json").arg(stem)))["format"].toString(),
               QStringLiteral("folio-document"));
    }
    QCOMPARE(sourcePages(readJson(dir.filePath("out/book.json"))), (QList<int>{1, 2, 3}));
    // Not a terminal: one line per file instead of a bar.
    QVERIFY2(run.err.contains("book.pdf: 3 pages done, 0 failed"), run.err.constData());
    if (haveJsonSchema()) QCOMPARE(schemaErrors(dir.filePath("out/book.json")), QString());
  }

  // --backend openai: the pages go to the servers (two here, one refusing connections), the outputs are those
  // of the local path for the same model text, and a second run resumes instead of asking again.
  void readsThroughOcrServers() {
    const std::string answer = test::readSample("paper_page.txt").toStdString();
    test::FakeOpenAiServer server(answer);
    const QString dead = test::closedPortUrl();
    QTemporaryDir dir;
    const QString pdf = test::writePdf(dir.filePath("book.pdf"), 3);
    const QStringList args{"ocr", "--backend", "openai", "--endpoint", dead, "--endpoint", server.url(),
                           "--concurrency", "2", pdf, "-o", dir.filePath("out")};
    CliRun run = runCli(args);
    QVERIFY2(run.exit_code == 0, run.err.constData());
    QCOMPARE(run.summary()["pages_done"].toInt(), 3);
    QCOMPARE(server.chatRequests(), 3);
    QFile markdown(dir.filePath("out/book.md"));
    QVERIFY(markdown.open(QIODevice::ReadOnly));
    const QString text = QString::fromUtf8(markdown.readAll());
    const auto page = app::openDocument(pdf).document;
    const QImage image = page->renderPage(0, page->fittingDpi(0, 144));
    const std::string expected = parseGrounding(answer, image.width(), image.height(), "page").markdown;
    QVERIFY2(text.count(QString::fromStdString(expected.substr(0, 200))) == 3, qPrintable(text.left(400)));
    const QJsonObject json = readJson(dir.filePath("out/book.json"));
    QVERIFY2(json["model"].toString().contains("remote"), qPrintable(json["model"].toString()));
    run = runCli(args);
    QCOMPARE(run.summary()["pages_skipped"].toInt(), 3);
    QCOMPARE(server.chatRequests(), 3);
    // No server answering is said at once, naming it.
    run = runCli({"ocr", "--backend", "openai", "--endpoint", dead, pdf, "-o", dir.filePath("out2")});
    QVERIFY(run.exit_code != 0);
    QVERIFY2(run.err.contains(dead.toUtf8()) && run.err.contains("No OCR server answers"), run.err.constData());
  }

  void everyFormatIsWritten() {
    QTemporaryDir dir;
    const QString pdf = test::writePdf(dir.filePath("book.pdf"), 2);
    QStringList formats{"md", "json", "html", "pdf", "txt"};
    if (!QStandardPaths::findExecutable("pandoc").isEmpty()) formats << "docx" << "odt";  // else: "needs pandoc"
    const CliRun run = runCli(ocr({"--format", formats.join(','), pdf, "-o", dir.filePath("out")}));
    QVERIFY2(run.exit_code == 0, run.err.constData());
    for (const QString& suffix : formats)
      QVERIFY2(QFileInfo(dir.filePath("out/book." + suffix)).size() > 0, qPrintable(suffix));
    // The searchable PDF is the source's two pages, not a re-rendering of them.
    auto searchable = app::openDocument(dir.filePath("out/book.pdf")).document;
    QVERIFY(searchable);
    QCOMPARE(searchable->pageCount(), 2);
  }

  void schemaRejectsWhatIsNotADocument() {
    if (!haveJsonSchema()) QSKIP("python3 has no jsonschema here (scripts/deps.sh installs python3-jsonschema)");
    QTemporaryDir dir;
    QFile file(dir.filePath("bad.json"));
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(R"({"format": "folio-document", "version": 1, "pages": [{"number": 0}]})");
    file.close();
    const QString errors = schemaErrors(file.fileName());
    QVERIFY2(errors.contains("required property"), qPrintable(errors));
  }

  void versionNamesCommitLibtorchAndArchitectures() {
    const CliRun run = runCli({"--version"});
    QCOMPARE(run.exit_code, 0);
    QVERIFY2(run.out.startsWith("folio-cli " FOLIO_VERSION " (commit " FOLIO_COMMIT ")\n"), run.out.constData());
    QVERIFY2(run.out.contains("\nlibtorch " TORCH_VERSION "\n"), run.out.constData());
    QVERIFY2(run.out.contains("\nCUDA architectures: " FOLIO_CUDA_ARCHS_BUILT), run.out.constData());
  }

  void pageRangesAndResume() {
    QTemporaryDir dir;
    const QString pdf = test::writePdf(dir.filePath("book.pdf"), 6);
    CliRun run = runCli(ocr({"--pages", "2-3,5-", pdf, "-o", dir.filePath("out")}));
    QVERIFY2(run.exit_code == 0, run.err.constData());
    QCOMPARE(sourcePages(readJson(dir.filePath("out/book.json"))), (QList<int>{2, 3, 5, 6}));
    // The same command again: nothing left to read.
    run = runCli(ocr({"--pages", "2-3,5-", pdf, "-o", dir.filePath("out")}));
    QCOMPARE(run.summary()["pages_skipped"].toInt(), 4);
    QCOMPARE(run.summary()["pages_done"].toInt(), 0);
    // A wider range reads only the new pages; --force reads all again.
    run = runCli(ocr({"--pages", "1-", pdf, "-o", dir.filePath("out")}));
    QCOMPARE(run.summary()["pages_skipped"].toInt(), 4);
    QCOMPARE(run.summary()["pages_done"].toInt(), 2);
    run = runCli(ocr({"--force", "--pages", "1-2", pdf, "-o", dir.filePath("out")}));
    QCOMPARE(run.summary()["pages_done"].toInt(), 2);
  }

  void killedRunContinuesWhereItStopped() {
    QTemporaryDir dir;
    constexpr int kPages = 30;
    const QString pdf = test::writePdf(dir.filePath("book.pdf"), kPages);
    const QString json = dir.filePath("out/book.json");
    QProcess cli;
    cli.start(FOLIO_CLI_PATH, ocr({"--batch", "1", pdf, "-o", dir.filePath("out")}, 40));
    QVERIFY(cli.waitForStarted());
    const auto done_pages = [&] {
      int done = 0;
      for (const QJsonValue& page : readJson(json)["pages"].toArray()) done += page.toObject()["status"] == "done";
      return done;
    };
    QTRY_VERIFY_WITH_TIMEOUT(done_pages() >= 2 || cli.state() != QProcess::Running, 120000);
    QVERIFY2(cli.state() == QProcess::Running, cli.readAllStandardError().constData());
    cli.kill();  // SIGKILL mid-book
    QVERIFY(cli.waitForFinished());
    const int finished_before = done_pages();
    QVERIFY2(finished_before < kPages, "the run ended before it could be killed");
    const CliRun run = runCli(ocr({"--batch", "1", pdf, "-o", dir.filePath("out")}, 40));
    QVERIFY2(run.exit_code == 0, run.err.constData());
    QCOMPARE(run.summary()["pages_skipped"].toInt(), finished_before);
    QCOMPARE(run.summary()["pages_done"].toInt(), kPages - finished_before);
    QCOMPARE(done_pages(), kPages);
    QVERIFY(!QFile::exists(json + ".tmp"));
  }

  void exitCodesSayWhatWentWrong() {
    QTemporaryDir dir;
    const QString image = test::writeImage(dir.filePath("scan.png"), QSize(300, 300));
    QCOMPARE(runCli(ocr({"--format", "md,rtf", image, "-o", dir.filePath("out")})).exit_code, 2);
    QCOMPARE(runCli(ocr({dir.filePath("missing.pdf"), "-o", dir.filePath("out")})).exit_code, 2);
    QCOMPARE(runCli(ocr({"--no-such-option", image})).exit_code, 2);
    // No model anywhere: 2, saying where it looked.
    QProcessEnvironment empty = QProcessEnvironment::systemEnvironment();
    empty.insert("FOLIO_MODEL_DIR", dir.filePath("none"));
    empty.insert("HF_HOME", dir.filePath("none"));
    empty.remove("HF_HUB_CACHE");
    const CliRun no_model = runCli({"ocr", image, "-o", dir.filePath("out")}, empty);
    QCOMPARE(no_model.exit_code, 2);
    QVERIFY2(no_model.err.contains("no DeepSeek-OCR model found"), no_model.err.constData());
    // A damaged PDF among good inputs: the others are read, it is named, the status is 1.
    QFile bad(dir.filePath("damaged.pdf"));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write("%PDF-1.4 garbage");
    bad.close();
    const CliRun mixed = runCli(ocr({bad.fileName(), image, "-o", dir.filePath("out")}));
    QCOMPARE(mixed.exit_code, 1);
    QVERIFY2(mixed.err.contains("damaged.pdf"), mixed.err.constData());
    QCOMPARE(mixed.summary()["pages_done"].toInt(), 1);
    QVERIFY(QFile::exists(dir.filePath("out/scan.md")));
  }

  void exportRewritesFromTheJsonOrAnAppProject() {
    QTemporaryDir dir;
    const QString image = test::writeImage(dir.filePath("scan.png"), QSize(1000, 1000));
    // An app project with the user's edit on a page the model read.
    {
      app::Project project;
      project.setFolder(dir.filePath("project"));
      app::Page page;
      page.source = image;
      project.addPage(page);
      project.addDocument({image, "0", 0});
      project.setResult(0, test::sampleResult("paper_page.txt", QSize(1000, 1000), "page1"), QSize(1000, 1000),
                        "DeepSeek-OCR-2 (mini)");
      project.applyEdit(0, "EDITED " + project.page(0).markdown, 0, 0, 7);
    }
    CliRun run = runCli({"export", dir.filePath("project"), "--format", "md,json", "-o", dir.filePath("out")});
    QVERIFY2(run.exit_code == 0, run.err.constData());
    QFile markdown(dir.filePath("out/scan.md"));
    QVERIFY(markdown.open(QIODevice::ReadOnly));
    const QByteArray text = markdown.readAll();
    QVERIFY2(text.startsWith("<!-- page 1 -->\n\nEDITED") && text.contains("# Optical Compression"), text.left(300).constData());
    QVERIFY(QFile::exists(dir.filePath("out/images/page1_0.jpg")));  // the figure cropped from the page
    // The page remembers the model that read it, through the project and into the JSON.
    QFile json(dir.filePath("out/scan.json"));
    QVERIFY(json.open(QIODevice::ReadOnly));
    QCOMPARE(QJsonDocument::fromJson(json.readAll())["pages"][0]["model"].toString(), QString("DeepSeek-OCR-2 (mini)"));
    // The JSON written by export reads back the same way.
    run = runCli({"export", dir.filePath("out/scan.json"), "--format", "md", "-o", dir.filePath("again")});
    QVERIFY2(run.exit_code == 0, run.err.constData());
    QFile again(dir.filePath("again/scan.md"));
    QVERIFY(again.open(QIODevice::ReadOnly));
    const QByteArray again_text = again.readAll();
    QVERIFY2(again_text == text, again_text.left(400).constData());
    if (haveJsonSchema()) QCOMPARE(schemaErrors(dir.filePath("out/scan.json")), QString());
    QCOMPARE(runCli({"export", dir.filePath("nothing.json")}).exit_code, 2);
  }
};

QTEST_MAIN(CliDocumentsTest)
#include "test_cli_documents.moc"
