// The bad-input corpus (tests/data/bad/, written by tools/make_bad_inputs.py): every file goes through the app core
// and through folio-cli. Each must either open or be refused with a message naming the file and the problem;
// nothing crashes, no file makes Folio allocate what its header claims (40 000² pixels), and the other files and
// pages of the same run are still read.
#include <QtTest/QtTest>

#include <folio/engine.h>
#include <sys/resource.h>

#include "document.h"
#include "document_json.h"
#include "project.h"
#include "test_documents.h"

#include <QDir>
#include <QProcess>
#include <QTemporaryDir>

using namespace folio;

namespace {

QString badDir() { return QStringLiteral(FOLIO_SOURCE_DIR "/tests/data/bad"); }

QStringList badFiles(const QStringList& patterns) {
  QStringList paths;
  for (const QString& name : QDir(badDir()).entryList(patterns, QDir::Files, QDir::Name))
    paths << QDir(badDir()).filePath(name);
  return paths;
}

const QStringList kDocumentPatterns{"*.pdf", "*.png", "*.jpg", "*.bmp", "*.ppm", "*.tif", "*.webp"};

double peakRssGb(int who) {
  rusage usage{};
  getrusage(who, &usage);
  return usage.ru_maxrss / 1024.0 / 1024.0;  // kilobytes on Linux
}

}  // namespace

class BadInputsTest : public QObject {
  Q_OBJECT
 private slots:
  void initTestCase() {
    QVERIFY2(badFiles({"*"}).size() >= 30, "the corpus has at least 30 files");
    model_ = test::makeMiniModel(models_.filePath("mini"));
  }

  // Open, then render every page (at most three) as the app does: an image within the pixel limit or a message
  // naming the file.
  void everyDocumentOpensOrSaysWhy_data() {
    QTest::addColumn<QString>("path");
    for (const QString& path : badFiles(kDocumentPatterns)) QTest::newRow(qPrintable(QFileInfo(path).fileName())) << path;
  }
  void everyDocumentOpensOrSaysWhy() {
    QFETCH(QString, path);
    const QString name = QFileInfo(path).fileName();
    app::OpenResult opened = app::openDocument(path);
    if (!opened.document) {
      QVERIFY2(opened.error.contains(name) && opened.error.size() > path.size() + 8, qPrintable(opened.error));
      return;
    }
    for (int page = 0; page < std::min(3, opened.document->pageCount()); ++page) {
      const double dpi = opened.document->fittingDpi(page, 144);
      const QImage image = opened.document->renderPage(page, dpi);
      if (image.isNull()) {
        QVERIFY2(opened.document->error().contains(name), qPrintable(opened.document->error()));
      } else {
        QVERIFY(qint64(image.width()) * image.height() <= folio::kMaxPagePixels);
      }
    }
  }

  void specificFilesGetSpecificAnswers() {
    const auto open = [](const char* name) { return app::openDocument(QDir(badDir()).filePath(name)); };
    QVERIFY(open("encrypted_password.pdf").needs_password);
    QVERIFY(app::openDocument(QDir(badDir()).filePath("encrypted_password.pdf"), "folio-secret").document);
    QCOMPARE(open("pages_10000.pdf").document->pageCount(), 10000);
    QVERIFY(open("png_named.pdf").document);   // an image with a .pdf name
    QCOMPARE(open("pdf_named.png").document->pageCount(), 2);  // a PDF with a .png name
    QVERIFY(open("broken_xref.pdf").document);  // the cross-reference table is rebuilt
    QVERIFY(open("empty.pdf").error.contains("empty"));
    for (const char* huge : {"huge_40000x40000.png", "huge_40000x40000.jpg", "huge_40000x40000.bmp",
                             "huge_40000x40000.ppm"}) {
      auto opened = open(huge);
      QVERIFY(opened.document);
      QVERIFY(opened.document->renderPage(0, 144).isNull());
      const QString error = opened.document->error();
      // Qt's BMP and PPM readers give no size before decoding (their header checks want the whole pixel data):
      // there Qt's own allocation limit refuses the file, with its less specific message.
      if (QByteArray(huge).endsWith(".png") || QByteArray(huge).endsWith(".jpg")) QVERIFY2(error.contains("40000 × 40000 pixels"), qPrintable(error));
      QVERIFY2(error.contains(huge), qPrintable(error));
    }
    // A 200-inch page renders at the resolution that fits the pixel limit, not at 144 dpi (a 2.4 GB image).
    auto poster = open("page_200x200_inches.pdf");
    const double dpi = poster.document->fittingDpi(0, 144);
    QVERIFY(dpi < 144 && dpi > 30);
    QVERIFY(poster.document->renderPage(0, 144).isNull());
    QVERIFY(poster.document->error().contains("more than Folio renders"));
    const QImage fitted = poster.document->renderPage(0, dpi);
    QVERIFY(!fitted.isNull());
    QVERIFY(qint64(fitted.width()) * fitted.height() <= folio::kMaxPagePixels);
  }

  void damagedProjectAndDocumentFilesSayWhy() {
    for (const char* name : {"project_half_written.json", "project_wrong_types.json"}) {
      QTemporaryDir folder;
      QVERIFY(QFile::copy(QDir(badDir()).filePath(name), folder.filePath("project.json")));
      app::Project project;
      QString error, warning;
      const bool loaded = project.load(folder.path(), &error, &warning);
      QVERIFY2(!loaded || project.pageCount() == 0, name);
      if (!loaded) QVERIFY2(error.contains("project.json"), qPrintable(error));
    }
    app::Project project;
    app::DocumentInfo info;
    QString error;
    const QString truncated = QDir(badDir()).filePath("document_truncated.json");
    QVERIFY(!app::readDocumentJson(truncated, project, info, &error));
    QVERIFY2(error.contains("document_truncated.json"), qPrintable(error));
  }

  // What the fuzzers found (tests/fuzz), kept as regressions.
  void fuzzFindingsStayFixed() {
    const auto decodeError = [](const char* name) {
      try {
        loadImage(QDir(badDir()).filePath(name).toStdString());
      } catch (const Error& e) {
        return QString::fromUtf8(e.what());
      }
      return QString();
    };
    for (const char* claims_too_much : {"fuzz_bmp_claims_750mp.bmp", "fuzz_jpeg_stray_bytes_862mp.jpg"}) {
      const QString error = decodeError(claims_too_much);
      QVERIFY2(error.contains("more than Folio reads"), qPrintable(claims_too_much + (": " + error)));
    }
    QVERIFY(decodeError("fuzz_tiff_4_bytes.tif").contains("fuzz_tiff_4_bytes.tif"));
    const QString dicom = decodeError("fuzz_webp_with_dicom_signature.webp");
    QVERIFY2(dicom.contains("fuzz_webp_with_dicom_signature.webp") && dicom.contains("DICOM"), qPrintable(dicom));
    // OpenCV reads this header as 4022 × 222222 (a 2.7 GB allocation), a comment-aware reader as 4022 × 6.
    const QString glued = decodeError("fuzz_ppm_comment_glued_to_width.ppm");
    QVERIFY2(glued.contains("fuzz_ppm_comment_glued_to_width.ppm") && glued.contains("malformed PPM header"),
             qPrintable(glued));
    QTemporaryDir folder;
    QVERIFY(QFile::copy(QDir(badDir()).filePath("project_region_past_text.json"), folder.filePath("project.json")));
    app::Project project;
    QString error;
    QVERIFY2(project.load(folder.path(), &error), qPrintable(error));
    const app::Page& page = project.page(0);
    QCOMPARE(page.regions.size(), 1);
    QCOMPARE(page.regions[0].begin, 2);
    QCOMPARE(page.regions[0].end, 5);  // clamped to the markdown ("short")
    QVERIFY(page.dpi >= 1);
    QCOMPARE(page.source_page, 0);
  }

  // Each broken weights file and the truncated config.json in an otherwise good model folder.
  void damagedModelFilesAreNamed_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("problem");
    const std::pair<const char*, const char*> cases[] = {
        {"overlapping.safetensors", "overlap"},          {"offsets_past_end.safetensors", "past the end"},
        {"header_too_long.safetensors", "header"},       {"shape_mismatch.safetensors", "shape"},
        {"not_json.safetensors", "not valid JSON"},      {"config_truncated.json", "JSON"},
        {"config_model_type_number.json", "wrong type"}};
    QCOMPARE(badFiles({"*.safetensors", "config_*.json"}).size(), int(std::size(cases)));
    for (const auto& [name, problem] : cases) QTest::newRow(name) << QDir(badDir()).filePath(name) << problem;
  }
  void damagedModelFilesAreNamed() {
    QFETCH(QString, file);
    QFETCH(QString, problem);
    QTemporaryDir folder;
    QVERIFY(QFile::copy(model_ + "/tokenizer.json", folder.filePath("tokenizer.json")));
    const bool is_config = file.endsWith(".json");
    QVERIFY(QFile::copy(is_config ? file : model_ + "/config.json", folder.filePath("config.json")));
    const QString weights = folder.filePath("model-00001-of-000001.safetensors");
    QVERIFY(is_config ? QFile::copy(QDir(model_).filePath("model-00001-of-000001.safetensors"), weights)
                      : QFile::copy(file, weights));
    EngineOptions options;
    options.model_dir = folder.path().toStdString();
    options.device = Device::Cpu;
    try {
      Engine::load(options);
      QFAIL("a damaged model folder loaded");
    } catch (const Error& e) {
      const QString message = QString::fromUtf8(e.what());
      QVERIFY2(message.contains(is_config ? "config.json" : "model-00001-of-000001.safetensors"), e.what());
      QVERIFY2(message.contains(problem), e.what());
    }
  }

  // One folio-cli run over every document of the corpus, a good page among them and a folder holding a symlink
  // loop: the good pages are read, each bad file is named on stderr, outputs do not overwrite each other, exit 1.
  void cliReadsOnPastBadFiles() {
    QTemporaryDir dir;
    const QString good = test::writeImage(dir.filePath("good.png"), QSize(300, 200));
    QDir(dir.path()).mkdir("folder");
    test::writeImage(dir.filePath("folder/inside.png"), QSize(300, 200));
    QVERIFY(QFile::link(dir.filePath("folder"), dir.filePath("folder/loop")));
    QStringList documents = badFiles(kDocumentPatterns);
    documents.removeAll(QDir(badDir()).filePath("pages_10000.pdf"));  // read on its own below
    QProcess cli;
    cli.start(FOLIO_CLI_PATH, QStringList{"ocr", "--model", model_, "--device", "cpu", "--mode", "tiny",
                                          "--max-tokens", "2", "-o", dir.filePath("out")}
                                  << documents << good << dir.filePath("folder"));
    QVERIFY(cli.waitForFinished(600000));
    const QString err = QString::fromUtf8(cli.readAllStandardError());
    QCOMPARE(cli.exitStatus(), QProcess::NormalExit);
    QCOMPARE(cli.exitCode(), 1);  // some pages failed, the run did not
    QVERIFY(QFile::exists(dir.filePath("out/good.json")));
    QVERIFY(QFile::exists(dir.filePath("out/inside.json")));
    QCOMPARE(QDir(dir.filePath("out")).entryList({"*inside*.json"}).size(), 1);  // the loop is not followed
    for (const QString& path : documents) {
      const auto opened = app::openDocument(path);
      if (!opened.document) QVERIFY2(err.contains(path), qPrintable(path + " not named in:\n" + err));
    }
    QVERIFY2(!err.contains("Illegal character"), "Poppler's parser noise reaches stderr");
    // The four huge_40000x40000.* files keep four result files.
    QCOMPARE(QDir(dir.filePath("out")).entryList({"huge_40000x40000*.json"}).size(), 4);
    QVERIFY2(peakRssGb(RUSAGE_CHILDREN) < 2.0, qPrintable(QString::number(peakRssGb(RUSAGE_CHILDREN))));
  }

  void cliReadsTwoPagesOfTheTenThousandPagePdf() {
    QTemporaryDir dir;
    QProcess cli;
    QElapsedTimer clock;
    clock.start();
    cli.start(FOLIO_CLI_PATH, {"ocr", "--model", model_, "--device", "cpu", "--mode", "tiny", "--max-tokens", "2",
                               "--pages", "1-2", QDir(badDir()).filePath("pages_10000.pdf"), "-o", dir.path()});
    QVERIFY(cli.waitForFinished(600000));
    QCOMPARE(cli.exitCode(), 0);
    const QJsonObject summary =
        QJsonDocument::fromJson(cli.readAllStandardOutput().trimmed().split('\n').last()).object();
    QCOMPARE(summary["pages_done"].toInt(), 2);
    QVERIFY2(clock.elapsed() < 120000, "two pages of a big PDF take as long as two pages");
  }

  // The app core's own memory after all of the above: nothing allocated what a header claimed.
  void cleanupTestCase() { QVERIFY2(peakRssGb(RUSAGE_SELF) < 2.0, qPrintable(QString::number(peakRssGb(RUSAGE_SELF)))); }

 private:
  QTemporaryDir models_;
  QString model_;
};

QTEST_MAIN(BadInputsTest)
#include "test_bad_inputs.moc"
