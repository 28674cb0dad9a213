// folio_app without widgets: documents, page ranges, autosave, the worker's cancel, export.
#include <QtTest/QtTest>

#include "document.h"
#include "exporter.h"
#include "ocr_worker.h"
#include "page_prefetcher.h"
#include "project.h"
#include "scripted_backend.h"
#include "settings.h"
#include "test_documents.h"

#include <QPainter>
#include <QPdfWriter>
#include <QTemporaryDir>
#include <new>

using namespace folio;
using namespace std::chrono_literals;

namespace {

using test::sampleResult;
using test::writeImage;
using test::writePdf;

// Jobs for pages 0 .. count-1, each reading the whole of `image`.
QList<app::PageJob> wholePageJobs(const QString& image, int count) {
  QList<app::PageJob> jobs;
  for (int page = 0; page < count; ++page) {
    app::PageJob job;
    job.page = page;
    job.source = image;
    jobs << job;
  }
  return jobs;
}

// Decodes three pages together and finishes the last one first; then waits (up to 5 s) until the window has
// received that page before finishing the others, and records whether it did.
class LastPageFirstBackend : public app::OcrBackend {
 public:
  LastPageFirstBackend(std::shared_ptr<std::atomic<bool>> seen_last, std::shared_ptr<std::atomic<bool>> reported)
      : seen_last_(std::move(seen_last)), reported_(std::move(reported)) {}
  Result run(const RgbImage&, const RunOptions&, const std::function<void(const Progress&)>&,
             const std::atomic<bool>*) override {
    return {};
  }
  QString description() const override { return QStringLiteral("last page first"); }
  int pagesInFlight() const override { return 3; }
  void runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>&,
                const app::BatchCallbacks& callbacks, const std::vector<const std::atomic<bool>*>&) override {
    for (std::size_t i = pages.size(); i-- > 0;) {
      Result result;
      result.raw_text = std::to_string(i);
      result.generated_tokens = 1;
      callbacks.finished(i, result);
      if (i + 1 != pages.size()) continue;
      QDeadlineTimer deadline(5000);
      while (!seen_last_->load() && !deadline.hasExpired()) QThread::msleep(5);
      *reported_ = seen_last_->load();
    }
  }

 private:
  std::shared_ptr<std::atomic<bool>> seen_last_, reported_;
};

// Finishes the first page of its batch, then runs out of memory on the rest.
class OutOfMemoryAfterFirstBackend : public app::OcrBackend {
 public:
  Result run(const RgbImage&, const RunOptions&, const std::function<void(const Progress&)>&,
             const std::atomic<bool>*) override {
    return {};
  }
  QString description() const override { return QStringLiteral("out of memory after the first page"); }
  int pagesInFlight() const override { return 3; }
  void runBatch(const std::vector<RgbImage>&, const std::vector<RunOptions>&, const app::BatchCallbacks& callbacks,
                const std::vector<const std::atomic<bool>*>&) override {
    Result first;
    first.raw_text = "first";
    callbacks.finished(0, first);
    throw std::bad_alloc();
  }
};

}  // namespace

class AppCoreTest : public QObject {
  Q_OBJECT
 private slots:
  // Settings come back as saved, the 8-bit choice too; a value from elsewhere reads as the default.
  void settingsComeBackAsSaved() {
    QTemporaryDir dir;
    QSettings settings(dir.filePath("folio.ini"), QSettings::IniFormat);
    app::AppSettings saved;
    saved.device = Device::Cuda;
    saved.eight_bit = EngineOptions::EightBit::On;
    saved.mode = Mode::Base;
    saved.remote = true;
    saved.remote_endpoints = "http://a:8000, http://b:8000/v1";
    saved.remote_model = "deepseek-ai/DeepSeek-OCR-2";
    saved.remote_api_key = "sk-test";
    saved.remote_pages_per_server = 16;
    saved.save(settings);
    const auto loaded = app::AppSettings::load(settings);
    QVERIFY(loaded.remote);
    const app::RemoteOptions remote = app::remoteOptions(loaded);
    QCOMPARE(remote.endpoints.size(), 2);
    QCOMPARE(remote.endpoints[1].url, QUrl("http://b:8000/v1"));
    QCOMPARE(remote.endpoints[1].max_in_flight, 16);
    QCOMPARE(remote.endpoints[0].api_key, QStringLiteral("sk-test"));
    QCOMPARE(remote.model, QStringLiteral("deepseek-ai/DeepSeek-OCR-2"));
    QCOMPARE(loaded.device, Device::Cuda);
    QVERIFY(loaded.eight_bit == EngineOptions::EightBit::On);
    QCOMPARE(loaded.mode, Mode::Base);
    settings.setValue("eight_bit", "maybe");
    QVERIFY(app::AppSettings::load(settings).eight_bit == EngineOptions::EightBit::Auto);
    QVERIFY(app::eightBitFromName(app::eightBitName(EngineOptions::EightBit::Off)) == EngineOptions::EightBit::Off);
  }

  void prefetcherRendersAheadWithinItsBound() {
    QTemporaryDir dir;
    const QString pdf = writePdf(dir.filePath("four.pdf"), 4);
    app::PagePrefetcher prefetcher(2, 3);
    const auto key = [&](int page) { return app::PageKey{pdf, page, 72.0, {}}; };
    for (int page = 0; page < 4; ++page) prefetcher.prefetch(key(page));
    QCOMPARE(prefetcher.held(), 3);  // the fourth waits for room
    QTRY_VERIFY(prefetcher.ready(key(0)) && prefetcher.ready(key(1)) && prefetcher.ready(key(2)));  // nobody asked yet
    QVERIFY(!prefetcher.ready(key(3)));
    const QImage direct = app::openDocument(pdf).document->renderPage(1, 72.0);
    const app::RenderedPage taken = prefetcher.take(key(1));
    QVERIFY(taken.error.isEmpty());
    QCOMPARE(taken.image.convertToFormat(QImage::Format_RGB888), direct.convertToFormat(QImage::Format_RGB888));
    QCOMPARE(prefetcher.held(), 2);
    prefetcher.drop(key(2));  // a cancelled job's page makes room
    prefetcher.prefetch(key(3));
    QCOMPARE(prefetcher.held(), 2);
    QVERIFY(!prefetcher.take(key(3)).image.isNull());
    QVERIFY(!prefetcher.take(key(2)).image.isNull());  // not held any more: rendered on demand
  }

  void prefetcherNamesTheFileItCannotRender() {
    QTemporaryDir dir;
    const QString missing = dir.filePath("gone.pdf");
    app::PagePrefetcher prefetcher(1, 4);
    prefetcher.prefetch({missing, 0, 72.0, {}});
    const app::RenderedPage page = prefetcher.take({missing, 0, 72.0, {}});
    QVERIFY(page.image.isNull());
    QVERIFY2(page.error.contains("gone.pdf"), qPrintable(page.error));
    const QString pdf = writePdf(dir.filePath("one.pdf"), 1);
    const app::RenderedPage beyond = prefetcher.take({pdf, 5, 72.0, {}});
    QVERIFY(beyond.image.isNull());
    QVERIFY2(!beyond.error.isEmpty(), "a page past the end must say why it is missing");
  }

  void opensMultiPagePdfAtConfiguredDpi() {
    QTemporaryDir dir;
    QString pdf = writePdf(dir.filePath("three.pdf"), 3);
    app::OpenResult opened = app::openDocument(pdf);
    QVERIFY2(opened.document, qPrintable(opened.error));
    QCOMPARE(opened.document->pageCount(), 3);
    QImage at144 = opened.document->renderPage(2, 144);
    QImage at72 = opened.document->renderPage(2, 72);
    QVERIFY(!at144.isNull());
    QCOMPARE(at144.width(), 2 * at72.width());
    // The black rectangle drawn at (100..300, 300..400) pt lands at twice that in 144-dpi pixels.
    QVERIFY(qGray(at144.pixel(400, 700)) < 64);
    QVERIFY(qGray(at144.pixel(20, 20)) > 192);
  }

  void opensImagesAndReportsBadFiles() {
    QTemporaryDir dir;
    for (const char* format : {"png", "jpg", "bmp"}) {
      QString path = writeImage(dir.filePath(QStringLiteral("page.%1").arg(format)), QSize(300, 400));
      app::OpenResult opened = app::openDocument(path);
      QVERIFY2(opened.document, qPrintable(opened.error));
      QCOMPARE(opened.document->pageCount(), 1);
      QCOMPARE(opened.document->renderPage(0, 144).size(), QSize(300, 400));
    }
    QFile corrupt(dir.filePath("corrupt.pdf"));
    QVERIFY(corrupt.open(QIODevice::WriteOnly));
    corrupt.write("%PDF-1.4 this is not a pdf");
    corrupt.close();
    app::OpenResult bad = app::openDocument(corrupt.fileName());
    QVERIFY(!bad.document);
    QVERIFY(bad.error.contains("corrupt.pdf"));
    QVERIFY(!app::openDocument(dir.filePath("missing.png")).document);
  }

  void parsesPageRanges() {
    QString error;
    QCOMPARE(app::parsePageRange("1-3,5", 6, &error), (QList<int>{0, 1, 2, 4}));
    QCOMPARE(app::parsePageRange("", 2, &error), (QList<int>{0, 1}));
    QVERIFY(app::parsePageRange("4-9", 6, &error).isEmpty());
    QVERIFY(error.contains("4-9"));
  }

  void autosaveRestoresEdits() {
    QTemporaryDir dir;
    QString image = writeImage(dir.filePath("page.png"), QSize(1000, 1000));
    {
      app::Project project;
      project.setFolder(dir.filePath("project"));
      app::Page page;
      page.source = image;
      int index = project.addPage(page);
      project.setResult(index, sampleResult("paper_page.txt", QSize(1000, 1000), "page1"), QSize(1000, 1000));
      QString edited = "EDIT " + project.page(index).markdown;
      project.applyEdit(index, edited, 0, 0, 5);
      // No explicit save: the autosave timer writes it.
      QTRY_VERIFY_WITH_TIMEOUT(QFile(dir.filePath("project/project.json")).size() > 0 &&
                                   QFile::exists(dir.filePath("project/project.json")),
                               2000);
      QTest::qWait(600);
    }
    app::Project reopened;
    QString error;
    QVERIFY2(reopened.load(dir.filePath("project"), &error), qPrintable(error));
    QCOMPARE(reopened.pageCount(), 1);
    const app::Page& page = reopened.page(0);
    QVERIFY(page.edited);
    QVERIFY(page.markdown.startsWith("EDIT "));
    // The title region moved with the edit: it still covers the title text.
    QString title = page.markdown.mid(page.regions[0].begin, page.regions[0].end - page.regions[0].begin);
    QVERIFY2(title.contains("Optical Compression of Long Contexts") && !title.contains("EDIT"), qPrintable(title));
  }

  void cancelStopsWithinOneTokenStep() {
    auto log = std::make_shared<test::ScriptLog>();
    QTemporaryDir dir;
    QString image = writeImage(dir.filePath("page.png"), QSize(640, 800));
    app::OcrService service(test::scriptedFactory("paper_page.txt", 10ms, log));
    app::OcrWorker* worker = service.worker();
    std::chrono::steady_clock::time_point cancelled_at{};
    std::optional<app::JobOutcome> outcome;
    connect(worker, &app::OcrWorker::pageProgress, this, [&](int, const QString&, int tokens, double) {
      if (tokens >= 5 && cancelled_at == std::chrono::steady_clock::time_point{}) {
        cancelled_at = std::chrono::steady_clock::now();
        worker->cancelCurrent();
      }
    });
    connect(worker, &app::OcrWorker::pageFinished, this,
            [&](int, const app::JobOutcome& finished) { outcome = finished; });
    app::PageJob job;
    job.page = 0;
    job.source = image;
    service.start();
    worker->enqueue(job);
    QTRY_VERIFY_WITH_TIMEOUT(outcome.has_value(), 10000);
    QVERIFY(outcome->result.cancelled);
    QMutexLocker lock(&log->mutex);
    int after_cancel = 0;
    for (auto time : log->token_times) after_cancel += time > cancelled_at;
    QVERIFY2(after_cancel <= 1, qPrintable(QString("%1 tokens after cancel").arg(after_cancel)));
    QVERIFY(outcome->result.generated_tokens < 100);
  }

  void jobsEnqueuedTogetherRunTogether() {
    auto log = std::make_shared<test::ScriptLog>();
    QTemporaryDir dir;
    QString image = writeImage(dir.filePath("page.png"), QSize(640, 800));
    app::OcrService service(test::scriptedFactory("free_ocr.txt", 0us, log, 4));
    bool ready = false;
    QList<int> finished;
    connect(service.worker(), &app::OcrWorker::backendReady, this, [&] { ready = true; });
    connect(service.worker(), &app::OcrWorker::pageFinished, this, [&](int page, const app::JobOutcome& outcome) {
      QVERIFY(!outcome.result.cancelled && outcome.result.generated_tokens > 0);
      finished << page;
    });
    service.start();
    QTRY_VERIFY_WITH_TIMEOUT(ready, 10000);
    service.worker()->enqueue(wholePageJobs(image, 6));
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 6, 10000);
    QCOMPARE(finished, (QList<int>{0, 1, 2, 3, 4, 5}));
    QMutexLocker lock(&log->mutex);
    QCOMPARE(log->batch_sizes, (QList<int>{4, 2}));  // as many at once as the backend takes
  }

  // A batch's pages are finished one by one as the backend hands them over, not when the batch returns: the
  // backend below finishes its last page first and holds the others back until the window has seen it.
  void batchPagesFinishAsTheyEnd() {
    QTemporaryDir dir;
    QString image = writeImage(dir.filePath("page.png"), QSize(640, 800));
    auto seen_last = std::make_shared<std::atomic<bool>>(false);
    auto reported_in_batch = std::make_shared<std::atomic<bool>>(false);
    app::OcrService service([seen_last, reported_in_batch] {
      return std::make_unique<LastPageFirstBackend>(seen_last, reported_in_batch);
    });
    bool ready = false;
    QList<int> finished;
    connect(service.worker(), &app::OcrWorker::backendReady, this, [&] { ready = true; });
    connect(service.worker(), &app::OcrWorker::pageFinished, this, [&](int page, const app::JobOutcome& outcome) {
      QCOMPARE(outcome.result.raw_text, std::to_string(page));
      finished << page;
      if (page == 2) *seen_last = true;
    });
    service.start();
    QTRY_VERIFY_WITH_TIMEOUT(ready, 10000);
    service.worker()->enqueue(wholePageJobs(image, 3));
    QTRY_COMPARE_WITH_TIMEOUT(finished.size(), 3, 10000);
    QCOMPARE(finished, (QList<int>{2, 1, 0}));
    QVERIFY(reported_in_batch->load());
  }

  // Running out of memory fails the pages still being read, and says how many: not the one already done.
  void outOfMemoryFailsOnlyTheUnfinishedPages() {
    QTemporaryDir dir;
    QString image = writeImage(dir.filePath("page.png"), QSize(640, 800));
    app::OcrService service([] { return std::make_unique<OutOfMemoryAfterFirstBackend>(); });
    bool ready = false;
    QList<int> finished;
    QHash<int, QString> failed;
    connect(service.worker(), &app::OcrWorker::backendReady, this, [&] { ready = true; });
    connect(service.worker(), &app::OcrWorker::pageFinished, this,
            [&](int page, const app::JobOutcome&) { finished << page; });
    connect(service.worker(), &app::OcrWorker::pageFailed, this,
            [&](int page, const QString& why) { failed.insert(page, why); });
    service.start();
    QTRY_VERIFY_WITH_TIMEOUT(ready, 10000);
    service.worker()->enqueue(wholePageJobs(image, 3));
    QTRY_COMPARE_WITH_TIMEOUT(failed.size(), 2, 10000);
    QCOMPARE(finished, QList<int>{0});
    QCOMPARE(failed.keys().size(), 2);
    QVERIFY(failed.contains(1) && failed.contains(2));
    QVERIFY2(failed.value(1).contains(QStringLiteral("2 page")), qPrintable(failed.value(1)));
  }

  void cancelPageStopsOnlyThatPage() {
    auto log = std::make_shared<test::ScriptLog>();
    QTemporaryDir dir;
    QString image = writeImage(dir.filePath("page.png"), QSize(640, 800));
    app::OcrService service(test::scriptedFactory("free_ocr.txt", 1ms, log, 3));
    app::OcrWorker* worker = service.worker();
    bool ready = false;
    QHash<int, app::JobOutcome> outcomes;
    QList<int> started;
    connect(worker, &app::OcrWorker::backendReady, this, [&] { ready = true; });
    connect(worker, &app::OcrWorker::pageStarted, this, [&](int page) { started << page; });
    connect(worker, &app::OcrWorker::pageFinished, this,
            [&](int page, const app::JobOutcome& outcome) { outcomes.insert(page, outcome); });
    bool cancelled = false, dequeued = false;
    connect(worker, &app::OcrWorker::pageProgress, this, [&](int page, const QString&, int, double) {
      if (page != 0 || cancelled) return;
      cancelled = true;
      QVERIFY(worker->cancelPage(1).isEmpty());  // running (its batch has begun): cancelled, not dequeued
      dequeued = worker->cancelPage(3) == QList<int>{3};  // still queued behind the first three
    });
    service.start();
    QTRY_VERIFY_WITH_TIMEOUT(ready, 10000);
    worker->enqueue(wholePageJobs(image, 4));
    QTRY_COMPARE_WITH_TIMEOUT(outcomes.size(), 3, 10000);
    QVERIFY(dequeued);
    QVERIFY(!started.contains(3));
    QVERIFY(!outcomes[0].result.cancelled && !outcomes[2].result.cancelled);
    QVERIFY(outcomes[1].result.cancelled);
    QCOMPARE(outcomes[1].result.generated_tokens, 0);
    QVERIFY(outcomes[2].result.generated_tokens > 0);
  }

  void regionJobSeesOnlyTheRegion() {
    auto log = std::make_shared<test::ScriptLog>();
    QTemporaryDir dir;
    QString image = writeImage(dir.filePath("page.png"), QSize(640, 800));
    app::OcrService service(test::scriptedFactory("free_ocr.txt", 0us, log));
    std::optional<app::JobOutcome> outcome;
    connect(service.worker(), &app::OcrWorker::pageFinished, this,
            [&](int, const app::JobOutcome& finished) { outcome = finished; });
    app::PageJob job;
    job.source = image;
    job.region = QRectF(100, 200, 300, 150);
    service.start();
    service.worker()->enqueue(job);
    QTRY_VERIFY_WITH_TIMEOUT(outcome.has_value(), 10000);
    QVERIFY(outcome->region_only);
    QCOMPARE(outcome->offset, QPointF(100, 200));
    QCOMPARE(outcome->image_size, QSize(640, 800));
    QCOMPARE(log->page_sizes.value(0), QSize(300, 150));
  }

  void exportWritesMarkdownAndFigures() {
    QTemporaryDir dir;
    QString image = writeImage(dir.filePath("page.png"), QSize(1000, 1000));
    app::Project project;
    for (int i = 0; i < 2; ++i) {
      app::Page page;
      page.source = image;
      page.source_page = 0;
      int index = project.addPage(page);
      project.setResult(index, sampleResult("paper_page.txt", QSize(1000, 1000), QStringLiteral("p%1").arg(i).toStdString()),
                        QSize(1000, 1000));
    }
    QString md = dir.filePath("out/doc.md");
    QDir().mkpath(dir.filePath("out"));
    app::ExportReport report = app::exportMarkdown(project, md, {});
    QVERIFY2(report.errors.isEmpty(), qPrintable(report.errors.join("\n")));
    QFile file(md);
    QVERIFY(file.open(QIODevice::ReadOnly));
    QString text = QString::fromUtf8(file.readAll());
    QVERIFY(text.contains("<!-- page 2 -->"));
    static const QRegularExpression link(QStringLiteral("!\\[[^\\]]*\\]\\(([^)]+)\\)"));
    int links = 0;
    for (auto it = link.globalMatch(text); it.hasNext(); ++links) {
      QString target = it.next().captured(1);
      QImage figure(dir.filePath("out/" + target));
      QVERIFY2(!figure.isNull(), qPrintable(target));
      // The image region of paper_page.txt is [[160, 310, 840, 560]] on a 0-999 grid.
      QVERIFY(std::abs(figure.width() - 681) <= 2);
      QVERIFY(std::abs(figure.height() - 250) <= 2);
    }
    QCOMPARE(links, 2);
  }
};

QTEST_MAIN(AppCoreTest)
#include "test_app_core.moc"
