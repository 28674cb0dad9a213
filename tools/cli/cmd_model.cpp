// folio-cli model: `download` puts DeepSeek-OCR into the Hugging Face cache (resumable, checksummed; the same
// downloader as the app's button), `list` shows each place Folio looks for a model and what it finds there.
// Built only where folio_app is (it needs Qt Network).
#include <folio/engine.h>

#include <QCoreApplication>
#include <QTimer>
#include <filesystem>
#include <iostream>
#include <memory>
#include <unistd.h>

#include "command.h"
#include "hub_download.h"
#include "model_search.h"

namespace fs = std::filesystem;

namespace folio::cli {
namespace {

struct DownloadArgs {
  std::string repo = app::kModelRepo.toStdString();
  std::string revision = "main";
};

// On a terminal one line redrawn in place; otherwise a line per tenth of the way, so that logs stay short.
class ProgressLine {
 public:
  void update(qint64 done, qint64 total, double bytes_per_second, qint64 seconds_left) {
    const std::string text = app::transferSummary(done, total, bytes_per_second, seconds_left).toStdString();
    if (tty_) {
      std::cerr << "\r\033[K" << text << std::flush;
      drawn_ = true;
      return;
    }
    const int tenth = total > 0 ? int(done * 10 / total) : 0;
    if (tenth != last_tenth_) std::cerr << text << "\n";
    last_tenth_ = tenth;
  }
  // Before other output: ends the line being redrawn.
  void breakLine() {
    if (drawn_) std::cerr << "\n";
    drawn_ = false;
  }

 private:
  bool tty_ = isatty(STDERR_FILENO) != 0;
  bool drawn_ = false;
  int last_tenth_ = -1;
};

// Runs the download in an event loop until it ends; returns the snapshot folder, throws with the failure.
std::string download(const DownloadArgs& args) {
  int argc = 1;  // QCoreApplication keeps references to these
  char name[] = "folio-cli";
  char* argv[] = {name, nullptr};
  QCoreApplication application(argc, argv);
  app::HubDownloadOptions options;
  options.repo = QString::fromStdString(args.repo);
  options.revision = QString::fromStdString(args.revision);
  app::HubDownload download(options);
  ProgressLine line;
  QString snapshot, error;
  QObject::connect(&download, &app::HubDownload::statusChanged, [&](const QString& status) {
    line.breakLine();
    std::cerr << status.toStdString() << "\n";
  });
  QObject::connect(&download, &app::HubDownload::progress,
                   [&](qint64 done, qint64 total, double rate, qint64 left) { line.update(done, total, rate, left); });
  QObject::connect(&download, &app::HubDownload::finished, [&](const QString& dir) {
    snapshot = dir;
    QCoreApplication::quit();
  });
  QObject::connect(&download, &app::HubDownload::failed, [&](const QString& message) {
    error = message;
    QCoreApplication::quit();
  });
  std::cerr << "Downloading " << args.repo << " (" << args.revision << ") from " << download.endpoint().toStdString()
            << " into " << download.repoDir().toStdString() << "\n";
  QTimer::singleShot(0, &download, &app::HubDownload::start);
  QCoreApplication::exec();
  line.breakLine();
  if (!error.isEmpty()) throw Error(error.toStdString());
  return snapshot.toStdString();
}

bool samePlace(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec);
}

// The new snapshot is only useful if Folio's search reaches it (a model in $FOLIO_MODEL_DIR comes first).
void adviseOnUse(const std::string& snapshot) {
  const ModelSearch search = findModel();
  if (search.found && samePlace(*search.found, snapshot)) {
    std::cerr << "Folio finds it there: `folio-cli ocr` and the app use it.\n";
    return;
  }
  std::cerr << "Note: Folio's model search finds " << (search.found ? *search.found + " first" : "nothing")
            << "; use this download with --model " << snapshot << " (or FOLIO_MODEL_DIR, or the app's Settings).\n";
}

// "model: DeepSeek-OCR, 1 .safetensors, 6.7 GB", "no model: missing tokenizer.json", "does not exist".
std::string describeFolder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "does not exist";
  std::string missing;
  for (const char* name : {"config.json", "tokenizer.json"})
    if (!fs::is_regular_file(dir / name, ec)) missing += std::string(missing.empty() ? "" : ", ") + name;
  int weights = 0;
  qint64 bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".safetensors") continue;
    ++weights;
    bytes += qint64(fs::file_size(entry.path(), ec));  // follows the snapshot's links to the blobs
  }
  if (weights == 0) missing += std::string(missing.empty() ? "" : ", ") + "a .safetensors file";
  if (!missing.empty()) return "no model: missing " + missing;
  std::string family;
  try {
    family = std::string(familyName(modelFamilyOf(dir.string()))) + ", ";
  } catch (const Error& e) {
    return std::string("no model: ") + e.what();
  }
  return "model: " + family + std::to_string(weights) + " .safetensors, " + app::formatBytes(bytes).toStdString();
}

// Where `model download` writes, and what an interrupted one left to resume.
void describeDownloads() {
  const app::HubCache cache(app::defaultHubCacheDir(), app::kModelRepo);
  std::cout << "\n`folio-cli model download` writes to " << cache.repoDir().toStdString() << "\n";
  if (const QString commit = cache.readRef("main"); !commit.isEmpty())
    std::cout << "  refs/main: " << commit.toStdString() << "\n";
  std::error_code ec;
  int partial = 0;
  qint64 bytes = 0;
  for (const auto& entry : fs::directory_iterator(cache.repoDir().toStdString() + "/blobs", ec)) {
    if (entry.path().extension() != ".incomplete") continue;
    ++partial;
    bytes += qint64(fs::file_size(entry.path(), ec));
  }
  if (partial > 0)
    std::cout << "  " << partial << " interrupted download(s), " << app::formatBytes(bytes).toStdString()
              << " so far: the next `folio-cli model download` resumes them\n";
}

void listModels() {
  const ModelSearch search = findModel();
  std::cout << "Folio looks for the model in these places, in order:\n";
  for (const std::string& place : search.searched) std::cout << "  " << place << "\n    " << describeFolder(place) << "\n";
  if (search.found)
    std::cout << "\nFolio uses " << *search.found << "\n";
  else
    std::cout << "\nNo model found. " << howToGetTheModel() << "\n";
  describeDownloads();
}

void setupModel(CLI::App& cli) {
  modelDownloadAvailable() = true;
  auto* model = cli.add_subcommand("model", "Get the DeepSeek-OCR model, see where Folio finds it");
  model->require_subcommand(1);

  auto args = std::make_shared<DownloadArgs>();
  auto* get = model->add_subcommand(
      "download", "Download into the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub); "
                  "resumes an interrupted download; $HF_ENDPOINT and $HF_TOKEN apply");
  get->add_option("--repo", args->repo, "Hugging Face repository")->capture_default_str();
  get->add_option("--revision", args->revision, "Branch, tag or commit")->capture_default_str();
  get->callback([args] {
    const std::string snapshot = download(*args);
    std::cout << snapshot << "\n";
    adviseOnUse(snapshot);
  });

  auto* list = model->add_subcommand("list", "Show each place Folio looks for the model and what is there");
  list->callback(listModels);
}

}  // namespace

FOLIO_CLI_COMMAND(setupModel);

}  // namespace folio::cli
