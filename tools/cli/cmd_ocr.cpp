// folio-cli ocr: documents (PDFs, images, multi-page TIFFs, folders of them) to markdown and the other export
// formats, with the same rasterisation as the app, resumable through <stem>.json, a progress bar, and one JSON
// summary line on stdout. Built where folio_app (Qt, Poppler) is.
#include <folio/engine.h>

// libtorch's headers before Qt's: Qt's `slots` macro breaks them.
#include "model_options.h"

#include <QDirIterator>
#include <QHash>
#include <QSet>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <chrono>
#include <iostream>

#include "document.h"
#include "document_commands.h"
#include "document_json.h"
#include "local_engine_backend.h"
#include "ocr_worker.h"
#include "output_review.h"
#include "progress_bar.h"
#include "remote_backend.h"

namespace folio::cli {
namespace {

const QStringList kDocumentSuffixes = {"pdf", "png", "jpg", "jpeg", "tif", "tiff", "webp", "bmp", "ppm", "pgm"};

struct Args {
  ModelOptions model;
  std::string backend = "local";  // local | openai
  std::vector<std::string> endpoints;
  std::string api_model, image_format = "png";
  int concurrency = 8;  // pages in flight per endpoint
  std::string mode = "gundam", task = "markdown", output = ".", pages, password, formats = "md,json";
  int max_tokens = 8192, batch = 16;
  double dpi = 144;
  bool quiet = false, force = false, page_markers = true;
  std::vector<std::string> inputs;
};

struct Totals {
  int done = 0, skipped = 0, failed = 0;
};

[[noreturn]] void usageError(const std::string& message) { cli::usageError("ocr", message); }

RunOptions runOptions(const Args& args) {
  RunOptions options;
  options.mode = modeOption(args.mode);
  const auto colon = args.task.find(':');
  auto parsed = parseTask(args.task.substr(0, colon));
  if (!parsed) usageError("unknown task " + args.task + " (markdown, ocr, free, figure, describe, locate:TEXT)");
  options.task = *parsed;
  if (options.task == Task::Locate) {
    if (colon == std::string::npos || colon + 1 == args.task.size()) usageError("--task locate needs a text: locate:TEXT");
    options.locate_text = args.task.substr(colon + 1);
  }
  options.max_new_tokens = args.max_tokens;
  return options;
}

// An input and the name its outputs get (<stem>.md, ...): its file name, or for a file found in a folder its
// path below that folder with '/' as '_' (two chapters' page1.png must not overwrite each other).
struct Input {
  QString path;
  QString stem;
};

QList<Input> expandInputs(const std::vector<std::string>& inputs) {
  QList<Input> documents;
  for (const std::string& input : inputs) {
    const QFileInfo info(QString::fromStdString(input));
    if (!info.exists()) usageError(input + ": no such file or folder");
    if (info.isFile()) {
      documents << Input{info.absoluteFilePath(), info.completeBaseName()};
      continue;
    }
    QStringList found;
    for (QDirIterator it(info.absoluteFilePath(), QDir::Files, QDirIterator::Subdirectories); it.hasNext();) {
      const QString path = it.next();
      if (kDocumentSuffixes.contains(QFileInfo(path).suffix().toLower())) found << path;
    }
    found.sort();
    for (const QString& path : found) {
      const QString relative = QDir(info.absoluteFilePath()).relativeFilePath(path);
      documents << Input{path, QString(relative).chopped(QFileInfo(path).suffix().size() + 1).replace('/', '_')};
    }
  }
  // Inputs that would share an output name (scan.png and scan.jpg, or the same name in two places) keep their
  // suffix, then a number, so that no input's results overwrite another's.
  QHash<QString, int> uses;
  for (const Input& input : documents) ++uses[input.stem];
  QSet<QString> taken;
  for (Input& input : documents) {
    if (uses[input.stem] > 1) input.stem += "_" + QFileInfo(input.path).suffix().toLower();
    const QString base = input.stem;
    for (int n = 2; taken.contains(input.stem); ++n) input.stem = base + "_" + QString::number(n);
    taken.insert(input.stem);
  }
  return documents;
}

// The project of one input: what <stem>.json already holds (unless --force), pages of the range added.
void resumeOrStart(const Input& input, const app::Document& document, const QList<int>& source_pages,
                   const QString& json, const Args& args, app::Project& project, int* skipped) {
  app::Project previous;
  app::DocumentInfo info;
  QString error;
  const bool resumed = !args.force && QFileInfo::exists(json) && app::readDocumentJson(json, previous, info, &error);
  if (!error.isEmpty()) std::cerr << "folio-cli ocr: " << error.toStdString() << " (starting over)\n";
  QList<app::Page> pages;
  for (int source_page : source_pages) {
    app::Page page;
    for (int i = 0; resumed && i < previous.pageCount(); ++i)
      if (previous.page(i).source_page == source_page && previous.page(i).status == app::PageStatus::Done)
        page = previous.page(i);
    *skipped += page.status == app::PageStatus::Done;
    page.source = input.path;
    page.source_page = source_page;
    if (page.status != app::PageStatus::Done) page.dpi = document.fittingDpi(source_page, args.dpi);
    pages << page;
  }
  project.addPages(pages);
}

class DocumentRun {
 public:
  // model: what <stem>.json records as the model (the local model's folder, or the remote model's name).
  DocumentRun(app::OcrBackend& backend, const QString& model, const Args& args, ProgressBar& progress, Totals& totals)
      : backend_(backend), model_(model), args_(args), options_(runOptions(args)), progress_(progress),
        totals_(totals), formats_(parseFormats("ocr", args.formats)), batch_(batchSize(backend, args)) {}

  void run(const Input& input) {
    app::OpenResult opened = app::openDocument(input.path, QString::fromStdString(args_.password));
    if (!opened.document) return fail(opened.error);
    QString range_error;
    const QList<int> source_pages =
        app::parsePageRange(QString::fromStdString(args_.pages), opened.document->pageCount(), &range_error);
    if (source_pages.isEmpty()) return fail(range_error);
    const QDir out(QString::fromStdString(args_.output));
    const QString json = out.filePath(input.stem + ".json");
    app::Project project;
    int skipped = 0;
    resumeOrStart(input, *opened.document, source_pages, json, args_, project, &skipped);
    totals_.skipped += skipped;
    for (int i = 0; i < skipped; ++i) progress_.pageDone();
    const app::DocumentInfo info{input.path, model_, QString::fromStdString(args_.mode), QString::fromStdString(args_.task)};
    int failed = 0;
    for (const QList<int>& batch : pendingBatches(project)) {
      failed += readBatch(*opened.document, project, batch);
      writeJson(json, project, info);  // the resume point: a kill loses at most this batch
    }
    writeJson(json, project, info);
    writeFormats(project, out, input.stem);
    progress_.fileDone(input.path.toStdString(), project.pageCount() - failed, failed);
  }


 private:
  // --batch pages at a time; for servers at least twice what they take at once, so that a batch's slowest page
  // leaves the others busy.
  static int batchSize(const app::OcrBackend& backend, const Args& args) {
    return args.backend == "local" ? args.batch : std::max(args.batch, 2 * backend.pagesInFlight());
  }

  QList<QList<int>> pendingBatches(const app::Project& project) const {
    QList<QList<int>> batches;
    for (int i = 0; i < project.pageCount(); ++i) {
      if (project.page(i).status == app::PageStatus::Done) continue;
      if (batches.isEmpty() || batches.last().size() >= batch_) batches.append(QList<int>());
      batches.last() << i;
    }
    return batches;
  }

  // Renders the batch's pages as the app does and reads them together; returns how many failed.
  int readBatch(const app::Document& document, app::Project& project, const QList<int>& batch) {
    std::vector<RgbImage> images;
    std::vector<RunOptions> options;
    QList<int> rendered;
    int failed = 0;
    for (int index : batch) {
      const app::Page& page = project.page(index);
      const QImage image = document.renderPage(page.source_page, page.dpi);
      if (image.isNull()) {
        failPage(project, index, document.error());
        ++failed;
        continue;
      }
      images.push_back(app::toRgbImage(image));
      options.push_back(options_);
      options.back().figure_stem = page.figure_stem().toStdString();
      rendered << index;
    }
    if (images.empty()) return failed;
    const auto start = std::chrono::steady_clock::now();
    long tokens = 0;
    std::vector<bool> reported(images.size(), false);
    app::BatchCallbacks callbacks;
    callbacks.finished = [&](std::size_t i, Result result) {
      reported[i] = true;
      tokens += result.generated_tokens;
      const int index = rendered[int(i)];
      project.setResult(index, result, QSize(images[i].width, images[i].height), backend_.modelName());
      const QStringList reasons = app::reviewReasons(result);
      if (!reasons.isEmpty()) project.setReviewReason(index, reasons.join("; "));
      progress_.pageDone();
      ++totals_.done;
    };
    callbacks.failed = [&](std::size_t i, const QString& message) {
      reported[i] = true;
      failPage(project, rendered[int(i)], message);
      ++failed;
    };
    try {
      backend_.runBatch(images, options, callbacks, {});
    } catch (const std::exception& e) {  // the pages not reported yet failed with the batch
      for (std::size_t i = 0; i < reported.size(); ++i)
        if (!reported[i]) callbacks.failed(i, QString::fromUtf8(e.what()));
    }
    progress_.batchRead(int(images.size()), tokens,
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return failed;
  }

  void failPage(app::Project& project, int index, const QString& message) {
    const app::Page& page = project.page(index);
    std::cerr << "\n" << page.source.toStdString() << " page " << page.source_page + 1 << ": " << message.toStdString()
              << "\n";
    project.setStatus(index, app::PageStatus::Failed, message);
    ++totals_.failed;
    progress_.pageDone();
  }

  void fail(const QString& message) {  // the whole input: it cannot be opened or has no such pages
    std::cerr << "\nfolio-cli ocr: " << message.toStdString() << "\n";
    ++totals_.failed;
  }

  void writeJson(const QString& path, const app::Project& project, const app::DocumentInfo& info) {
    QString error;
    if (!app::writeDocumentJson(path, project, info, &error)) throw Error(error.toStdString());
  }

  void writeFormats(const app::Project& project, const QDir& out, const QString& stem) {
    app::ExportOptions options;
    options.page_markers = args_.page_markers;
    options.password = QString::fromStdString(args_.password);
    for (app::ExportFormat format : formats_) {
      if (format == app::ExportFormat::Json) continue;  // written all along
      const QString path = out.filePath(stem + app::exportFormatSuffix(format));
      const app::ExportReport report = app::exportProject(project, format, path, options);
      for (const QString& error : report.errors) std::cerr << "folio-cli ocr: " << error.toStdString() << "\n";
    }
  }

  app::OcrBackend& backend_;
  const QString model_;
  const Args& args_;
  const RunOptions options_;
  ProgressBar& progress_;
  Totals& totals_;
  const QList<app::ExportFormat> formats_;
  const int batch_;
};

int countPages(const QList<Input>& inputs, const Args& args) {
  int pages = 0;
  for (const Input& input : inputs) {
    app::OpenResult opened = app::openDocument(input.path, QString::fromStdString(args.password));
    if (opened.document)
      pages += app::parsePageRange(QString::fromStdString(args.pages), opened.document->pageCount(), nullptr).size();
  }
  return pages;
}

app::RemoteOptions remoteOptions(const Args& args) {
  if (args.endpoints.empty()) usageError("--backend openai needs at least one --endpoint URL");
  app::RemoteOptions options;
  for (const std::string& endpoint : args.endpoints) {
    const auto parsed = app::parseEndpoints(QString::fromStdString(endpoint), args.concurrency);
    for (const app::RemoteEndpoint& one : parsed)
      if (!one.url.isValid() || !one.url.scheme().startsWith("http")) usageError(endpoint + ": not an http(s) URL");
    if (parsed.isEmpty()) usageError("--endpoint needs a URL");
    options.endpoints += parsed;
  }
  options.model = QString::fromStdString(args.api_model);
  options.image_encoding = args.image_format == "jpeg" ? app::ImageEncoding::Jpeg : app::ImageEncoding::Png;
  return options;
}

// The local engine (loaded with the --model, --device, --dtype, --eight-bit choices) or the OCR servers.
std::unique_ptr<app::OcrBackend> makeBackend(const Args& args, QString* model) {
  try {
    if (args.backend == "openai") {
      auto backend = app::remoteBackendFactory(remoteOptions(args))();
      *model = backend->modelName();
      if (!args.quiet) std::cerr << backend->modelName().toStdString() << " · " << backend->description().toStdString() << "\n";
      return backend;
    }
    const EngineOptions options = args.model.engineOptions();
    auto engine = Engine::load(options);
    if (!args.quiet) std::cerr << "model " << options.model_dir << " on " << engine->deviceDescription() << "\n";
    *model = QString::fromStdString(options.model_dir);
    return app::localEngineBackend(std::move(engine), *model, args.batch);
  } catch (const Error& e) {
    usageError(e.what());
  }
}

void runOcr(const Args& args) {
  const auto application = startOffscreenApplication();
  const QList<Input> inputs = expandInputs(args.inputs);
  if (inputs.isEmpty()) usageError("no PDFs or images among the inputs");
  parseFormats("ocr", args.formats);  // a wrong format is a usage error before the model loads
  QDir().mkpath(QString::fromStdString(args.output));
  QString model;
  const auto backend = makeBackend(args, &model);
  Totals totals;
  ProgressBar progress(countPages(inputs, args), args.quiet);
  DocumentRun run(*backend, model, args, progress, totals);
  const auto start = std::chrono::steady_clock::now();
  for (const Input& input : inputs) run.run(input);
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const QJsonObject summary{{"pages_done", totals.done}, {"pages_skipped", totals.skipped},
                            {"pages_failed", totals.failed}, {"seconds", seconds}};
  std::cout << QJsonDocument(summary).toJson(QJsonDocument::Compact).toStdString() << std::endl;
  if (totals.failed > 0) throw ExitStatus{kExitSomeFailed};
}

void setupOcr(CLI::App& cli) {
  auto args = std::make_shared<Args>();
  auto* cmd = cli.add_subcommand("ocr", "Read PDFs, images or folders of them into markdown and other formats");
  args->model.addTo(*cmd, /*model_required=*/false);
  cmd->add_option("--backend", args->backend, "local (this machine's GPU or CPU) or openai (OpenAI-compatible OCR servers)")
      ->check(CLI::IsMember({"local", "openai"}));
  cmd->add_option("--endpoint", args->endpoints,
                  "With --backend openai: a server, e.g. http://gpu1:8000, optionally with its API key after a space "
                  "(repeat for several; else the key is $OPENAI_API_KEY)")
      ->allow_extra_args(false);  // one URL per --endpoint: what follows is an input
  cmd->add_option("--api-model", args->api_model, "With --backend openai: the model name to ask for (default: the server's first)");
  cmd->add_option("--concurrency", args->concurrency, "With --backend openai: pages in flight per endpoint")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--image-format", args->image_format, "With --backend openai: how pages are sent, png (lossless) or jpeg")
      ->check(CLI::IsMember({"png", "jpeg"}));
  cmd->add_option("--pages", args->pages, "Pages of each input, e.g. 1-3,7,10- (default: all)");
  cmd->add_option("--dpi", args->dpi, "Resolution PDF pages are rasterised at (as in the app)")->check(CLI::Range(36.0, 600.0));
  cmd->add_option("--password", args->password, "Password of encrypted PDFs");
  cmd->add_option("--mode", args->mode, "tiny, small, base, large or gundam");
  cmd->add_option("--task", args->task, "markdown, ocr, free, figure, describe or locate:TEXT");
  cmd->add_option("--format", args->formats, "Any of md,json,html,pdf,txt,docx,odt (pdf: searchable PDF)");
  cmd->add_option("--max-tokens", args->max_tokens, "Most tokens generated per page");
  cmd->add_option("--batch", args->batch, "Pages read together (on a GPU they decode together)")->check(CLI::Range(1, 256));
  cmd->add_flag("--force", args->force, "Read pages again that <stem>.json records as done");
  cmd->add_flag("!--no-page-markers", args->page_markers, "No <!-- page N --> markers in the joined markdown");
  cmd->add_flag("-q,--quiet", args->quiet, "No progress on stderr");
  cmd->add_option("inputs", args->inputs, "PDFs, images (multi-page TIFF too) or folders of them")->required();
  cmd->add_option("-o,--output", args->output, "Output folder");
  cmd->callback([args] { runOcr(*args); });
}

}  // namespace

FOLIO_CLI_COMMAND(setupOcr);

}  // namespace folio::cli
