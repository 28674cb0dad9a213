// folio-bench-document: the app's own pipeline on a scanned document, from "Run all" to the last page done:
// open the PDF (Poppler), rasterise ahead, the OCR worker's batches, the engine, each result into the project
// with its autosave; beside the engine alone on the same rendered pages and batches, and the GUI thread's event
// loop latency meanwhile. Prints one JSON object. A benchmark, not a test: its figures go to docs/perf.json.
// --soak: many pages through the same pipeline, with the resident memory after a tenth of them and at the end.
#include <folio/engine.h>

#include <QCommandLineParser>
#include <QGuiApplication>
#include <QElapsedTimer>
#include <QImage>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPainter>
#include <QPdfWriter>
#include <QTemporaryDir>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <unistd.h>

#include "document.h"
#include "local_engine_backend.h"
#include "ocr_worker.h"
#include "project.h"

using namespace folio;

namespace {

// Page sizes of a mixed scanned archive (points): A4 and Letter portrait, A4 landscape, a receipt, a wide table
// and a square leaflet, so that Gundam pages take several tile grids.
const QSizeF kPageSizes[] = {{595, 842}, {612, 792}, {842, 595}, {300, 900}, {1100, 500}, {700, 700}};

// A scanned-looking page: the sample page images stretched onto the page, slightly rotated, on greyish paper.
void drawScan(QPainter& painter, const QImage& sample, QSizeF page, int index) {
  painter.fillRect(QRectF(QPointF(0, 0), page), QColor(236, 234, 228));
  painter.save();
  painter.translate(page.width() / 2, page.height() / 2);
  painter.rotate((index % 5 - 2) * 0.4);
  const QRectF target(-page.width() * 0.46, -page.height() * 0.46, page.width() * 0.92, page.height() * 0.92);
  painter.drawImage(target, sample);
  painter.restore();
}

// A scanned PDF of `pages` pages made from the sample images (bitmaps only, as a scanner writes them).
QString writeScannedPdf(const QString& path, const QList<QImage>& samples, int pages) {
  QPdfWriter writer(path);
  writer.setResolution(72);
  QPainter painter;
  for (int i = 0; i < pages; ++i) {
    const QSizeF size = kPageSizes[i % std::size(kPageSizes)];
    writer.setPageSize(QPageSize(size, QPageSize::Point));
    if (i == 0) painter.begin(&writer);
    else writer.newPage();
    drawScan(painter, samples[i % samples.size()], size, i);
  }
  painter.end();
  return path;
}

Mode run_mode = Mode::Gundam;  // --mode

RunOptions pageOptions(int tokens) {
  RunOptions options;
  options.mode = run_mode;
  options.max_new_tokens = tokens;
  options.ignore_eos = true;  // every page costs the same number of tokens in both runs
  return options;
}

// The longest gap between two turns of the GUI thread's event loop while it runs.
class EventLoopProbe : public QObject {
 public:
  EventLoopProbe() {
    timer_.setInterval(5);
    connect(&timer_, &QTimer::timeout, this, [this] {
      if (clock_.isValid()) worst_ms_ = std::max(worst_ms_, clock_.nsecsElapsed() / 1e6 - 5.0);
      clock_.start();
    });
    timer_.start();
  }
  double worstMs() const { return std::max(worst_ms_, 0.0); }

 private:
  QTimer timer_;
  QElapsedTimer clock_;
  double worst_ms_ = 0;
};

struct PipelineFigures {
  double seconds = 0;
  double max_event_loop_ms = 0;
  int done = 0, failed = 0;
  QString device;
  double rss_mb_warm = 0, rss_mb_end = 0;  // resident memory once a tenth of the pages is done, and at the end
};

double residentMb() {
  long pages = 0, resident = 0;
  if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(statm);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1048576.0);
}

// "Run all" through the app: project with autosave, worker with rasterising ahead, results into the project.
// Project page i reads PDF page i % pdf_pages (a soak run reads more pages than the PDF has).
PipelineFigures runPipeline(const QString& pdf, int pdf_pages, int pages, const QString& model, Device device,
                            int tokens, const QString& project_folder) {
  app::Project project;
  project.setFolder(project_folder);
  for (int i = 0; i < pages; ++i) {
    app::Page page;
    page.source = pdf;
    page.source_page = i % pdf_pages;
    project.addPage(page);
  }
  app::OcrService service(app::localEngineFactory(model, device));
  auto* worker = service.worker();
  PipelineFigures figures;
  QEventLoop loop;
  QElapsedTimer clock;
  std::unique_ptr<EventLoopProbe> probe;
  QObject::connect(worker, &app::OcrWorker::backendFailed, &loop, [&](const QString& message) {
    std::fprintf(stderr, "folio-bench-document: %s\n", qPrintable(message));
    loop.exit(1);
  });
  QObject::connect(worker, &app::OcrWorker::backendReady, &loop, [&](const QString& description) {
    figures.device = description;
    QList<app::PageJob> jobs;
    for (int i = 0; i < pages; ++i) {
      app::PageJob job;
      job.page = i;
      job.source = pdf;
      job.source_page = i % pdf_pages;
      job.options = pageOptions(tokens);
      jobs << job;
      project.setStatus(i, app::PageStatus::Queued);
    }
    probe = std::make_unique<EventLoopProbe>();
    clock.start();
    worker->enqueue(jobs);
  });
  const auto page_ended = [&] {
    if (figures.done + figures.failed == std::max(pages / 10, 1)) figures.rss_mb_warm = residentMb();
    if (figures.done + figures.failed < pages) return;
    figures.rss_mb_end = residentMb();
    figures.seconds = clock.nsecsElapsed() / 1e9;
    loop.exit(0);
  };
  QObject::connect(worker, &app::OcrWorker::pageProgress, &loop,
                   [&](int page, const QString& raw_text, int, double) { project.setStreamingText(page, raw_text); });
  QObject::connect(worker, &app::OcrWorker::pageFinished, &loop, [&](int page, const app::JobOutcome& outcome) {
    project.setResult(page, outcome.result, outcome.image_size);
    ++figures.done;
    page_ended();
  });
  QObject::connect(worker, &app::OcrWorker::pageFailed, &loop, [&](int page, const QString& message) {
    project.setStatus(page, app::PageStatus::Failed, message);
    std::fprintf(stderr, "page %d failed: %s\n", page + 1, qPrintable(message));
    ++figures.failed;
    page_ended();
  });
  service.start();
  if (loop.exec() != 0) return figures;
  figures.max_event_loop_ms = probe->worstMs();
  project.flush();
  return figures;
}

// The engine alone on the same pages, rendered beforehand, in the worker's batches.
double enginePagesPerSecond(const QString& pdf, int pages, const std::string& model, Device device, int tokens) {
  auto document = app::openDocument(pdf).document;
  std::vector<RgbImage> images;
  for (int i = 0; i < pages; ++i) images.push_back(app::toRgbImage(document->renderPage(i, 144)));
  EngineOptions engine_options;
  engine_options.model_dir = model;
  engine_options.device = device;
  auto engine = Engine::load(engine_options);
  const int batch = engine->pagesInFlight();
  QElapsedTimer clock;
  clock.start();
  for (int first = 0; first < pages; first += batch) {
    const int count = std::min(batch, pages - first);
    std::vector<RgbImage> chunk(images.begin() + first, images.begin() + first + count);
    engine->runBatch(chunk, std::vector<RunOptions>(count, pageOptions(tokens)));
  }
  return pages / (clock.nsecsElapsed() / 1e9);
}

}  // namespace

int main(int argc, char** argv) {
  QGuiApplication app(argc, argv);  // QPdfWriter paints: run with QT_QPA_PLATFORM=offscreen where there is no display
  QCommandLineParser cli;
  cli.setApplicationDescription("The app's pipeline on a scanned PDF, beside the engine alone");
  cli.addHelpOption();
  cli.addOptions({{"model", "Model folder (default: where the app looks)", "dir"},
                  {"device", "auto, cuda or cpu", "device", "auto"},
                  {"pages", "Pages of the generated scanned PDF", "n", "50"},
                  {"tokens", "Tokens per page (eos ignored)", "n", "1000"},
                  {"mode", "tiny, small, base, large or gundam", "mode", "gundam"},
                  {"samples", "Page images the PDF is made of (default: the goldens' pages)", "files"},
                  {"pdf", "Read this PDF instead of a generated one", "file"},
                  {"write-pdf", "Only write the generated scanned PDF here", "file"},
                  {"soak", "A soak run: --pages pages through the pipeline (cycling over a PDF of at most 50), "
                           "resident memory after a tenth of them and at the end; no engine-alone run"}});
  cli.process(app);
  const QString model = cli.value("model");
  const Device device = cli.value("device") == "cuda" ? Device::Cuda
                        : cli.value("device") == "cpu" ? Device::Cpu
                                                       : Device::Auto;
  int pages = cli.value("pages").toInt();
  const auto mode = parseMode(cli.value("mode").toStdString());
  if (!mode) {
    std::fprintf(stderr, "folio-bench-document: no mode \"%s\"\n", qPrintable(cli.value("mode")));
    return 2;
  }
  run_mode = *mode;
  const int tokens = cli.value("tokens").toInt();
  QStringList sample_paths = cli.values("samples");
  if (sample_paths.isEmpty())
    for (const char* name : {"gundam_1240x1754", "base_800x1100", "gundam_wide_1700x600", "small_500x300"})
      sample_paths << QStringLiteral(FOLIO_SHARED_DIR "/reference/goldens/%1.png").arg(name);
  QList<QImage> samples;
  for (const QString& path : sample_paths) {
    QImage image(path);
    if (image.isNull()) {
      std::fprintf(stderr, "folio-bench-document: %s: cannot read the page image\n", qPrintable(path));
      return 2;
    }
    samples << image;
  }
  QTemporaryDir dir;
  if (cli.isSet("write-pdf")) {
    writeScannedPdf(cli.value("write-pdf"), samples, pages);
    return 0;
  }
  const bool soak = cli.isSet("soak");
  const int pdf_pages_wanted = soak ? std::min(pages, 50) : pages;
  const QString pdf = cli.isSet("pdf") ? cli.value("pdf")
                                       : writeScannedPdf(dir.filePath("scanned.pdf"), samples, pdf_pages_wanted);
  const auto opened = app::openDocument(pdf);
  if (!opened.document) {
    std::fprintf(stderr, "folio-bench-document: %s\n", qPrintable(opened.error));
    return 2;
  }
  const int pdf_pages = opened.document->pageCount();
  if (!soak) pages = std::min(pages, pdf_pages);
  const auto pipeline = runPipeline(pdf, pdf_pages, pages, model, device, tokens, dir.filePath("project"));
  if (pipeline.seconds <= 0) return 1;
  if (soak) {
    const QJsonObject out{{"pages", pages},
                          {"pages_done", pipeline.done},
                          {"pages_failed", pipeline.failed},
                          {"seconds", pipeline.seconds},
                          {"rss_mb_after_first_tenth", pipeline.rss_mb_warm},
                          {"rss_mb_end", pipeline.rss_mb_end},
                          {"rss_growth_pct", 100 * (pipeline.rss_mb_end / pipeline.rss_mb_warm - 1)},
                          {"device", pipeline.device}};
    std::printf("%s\n", QJsonDocument(out).toJson(QJsonDocument::Compact).constData());
    return pipeline.done == pages ? 0 : 1;
  }
  std::string model_dir = model.toStdString();
  if (model_dir.empty()) model_dir = findModel().found.value_or("");
  const double engine_pages_s = enginePagesPerSecond(pdf, pages, model_dir, device, tokens);
  const double pages_s = pipeline.done / pipeline.seconds;
  const QJsonObject out{{"pages", pages},
                        {"pages_done", pipeline.done},
                        {"pages_failed", pipeline.failed},
                        {"tokens_per_page", tokens},
                        {"pages_s", pages_s},
                        {"engine_pages_s", engine_pages_s},
                        {"ratio", pages_s / engine_pages_s},
                        {"max_event_loop_ms", pipeline.max_event_loop_ms},
                        {"gpu", pipeline.device}};
  std::printf("%s\n", QJsonDocument(out).toJson(QJsonDocument::Compact).constData());
  return pipeline.failed == 0 ? 0 : 1;
}
