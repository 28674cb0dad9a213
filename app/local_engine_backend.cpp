#include "local_engine_backend.h"

#include <QFileInfo>
#include <QStringList>
#include <QThread>
#include <algorithm>
#include <filesystem>
#include <system_error>

namespace folio::app {
namespace {
namespace fs = std::filesystem;

// One file the engine reads (config, tokenizer, weights) as it was when the engine loaded it. Hugging Face
// snapshots are symlinks into a blob store, so where the link points counts too.
struct ModelFileState {
  std::string name;
  std::string target;
  std::uintmax_t size = 0;
  fs::file_time_type modified;
  bool operator==(const ModelFileState&) const = default;
};

std::vector<ModelFileState> modelFileStates(const std::string& model_dir) {
  std::vector<ModelFileState> states;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(model_dir, error)) {
    const std::string extension = entry.path().extension().string();
    if (extension != ".json" && extension != ".safetensors") continue;
    ModelFileState state;
    state.name = entry.path().filename().string();
    state.target = fs::canonical(entry.path(), error).string();
    state.size = fs::file_size(entry.path(), error);
    if (error) state.size = 0;  // gone or unreadable: differs from what was loaded all the same
    state.modified = fs::last_write_time(entry.path(), error);
    states.push_back(std::move(state));
  }
  std::sort(states.begin(), states.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return states;
}

// The names of the files that differ between two looks at the folder (changed, added or removed).
QStringList changedFiles(const std::vector<ModelFileState>& before, const std::vector<ModelFileState>& now) {
  QStringList names;
  auto note = [&](const std::vector<ModelFileState>& from, const std::vector<ModelFileState>& in) {
    for (const ModelFileState& state : from) {
      const auto same_name = std::find_if(in.begin(), in.end(), [&](const auto& s) { return s.name == state.name; });
      if ((same_name == in.end() || !(*same_name == state)) && !names.contains(QString::fromStdString(state.name)))
        names << QString::fromStdString(state.name);
    }
  };
  note(before, now);
  note(now, before);
  return names;
}

class LocalEngineBackend : public OcrBackend {
 public:
  // files: the model folder's files as they were before the engine read them.
  LocalEngineBackend(std::unique_ptr<Engine> engine, const std::string& model_dir, std::vector<ModelFileState> files,
                     int max_batch)
      : engine_(std::move(engine)),
        model_dir_(model_dir),
        files_(std::move(files)),
        max_batch_(max_batch),
        model_name_(modelNameFor(engine_->family(), QString::fromStdString(model_dir))) {}
  Result run(const RgbImage& page, const RunOptions& options, const std::function<void(const Progress&)>& on_progress,
             const std::atomic<bool>* cancel) override {
    return engine_->run(page, options, on_progress, cancel);
  }
  QString description() const override { return QString::fromStdString(engine_->deviceDescription()); }
  QString modelName() const override { return model_name_; }
  QString changedOnDisk() const override {
    const QStringList changed = changedFiles(files_, modelFileStates(model_dir_));
    if (changed.isEmpty()) return {};
    return QStringLiteral("The model in %1 changed on disk since Folio loaded it (%2): Folio loads it again before "
                          "the next pages.")
        .arg(QString::fromStdString(model_dir_), changed.join(QStringLiteral(", ")));
  }
  std::vector<Mode> modes() const override { return supportedModes(engine_->family()); }
  int pagesInFlight() const override { return std::min(engine_->pagesInFlight(), max_batch_); }
  void runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                const BatchCallbacks& callbacks, const std::vector<const std::atomic<bool>*>& cancels) override {
    engine_->runBatch(pages, options, callbacks.progress, nullptr, max_batch_, cancels,
                      [&callbacks](std::size_t i, const Result& result) { callbacks.finished(i, result); });
  }

 private:
  std::unique_ptr<Engine> engine_;
  std::string model_dir_;
  std::vector<ModelFileState> files_;
  int max_batch_;
  QString model_name_;
};

std::string resolveModelDir(const QString& configured) {
  if (!configured.isEmpty()) return configured.toStdString();
  ModelSearch search = findModel();
  if (search.found) return *search.found;
  QStringList searched;
  for (const std::string& folder : search.searched) searched << QString::fromStdString(folder);
  throw Error(QStringLiteral("No DeepSeek-OCR or DeepSeek-OCR-2 model found. Folio looked in: %1. Download it here (into the Hugging "
                             "Face cache, shared with other tools), or copy config.json, tokenizer.json and the "
                             ".safetensors file of deepseek-ai/DeepSeek-OCR (or -OCR-2) into a folder and choose it in Settings. "
                             "Viewing and editing still work.")
                  .arg(searched.isEmpty() ? QStringLiteral("(nowhere)") : searched.join(QStringLiteral(", ")))
                  .toStdString());
}

}  // namespace

QString modelNameFor(ModelFamily family, const QString& model_dir) {
  const QString family_name = QString::fromUtf8(familyName(family).data(), int(familyName(family).size()));
  return QStringLiteral("%1 (%2)").arg(family_name, QFileInfo(model_dir).fileName());
}

QList<FoundModelEntry> foundModels() {
  QList<FoundModelEntry> entries;
  for (const FoundModel& found : findModel().models)
    entries.push_back({QString::fromStdString(found.path), QString::fromUtf8(familyName(found.family).data())});
  return entries;
}

QString describeModelFolder(const QString& folder) {
  try {
    return QString::fromUtf8(familyName(modelFamilyOf(folder.toStdString())).data());
  } catch (const Error& e) {
    return QString::fromUtf8(e.what());
  }
}

bool modelMissing(const QString& model_dir) { return model_dir.isEmpty() && !findModel().found; }

BackendFactory localEngineFactory(const QString& model_dir, Device device, EngineOptions::EightBit eight_bit) {
  return [model_dir, device, eight_bit]() -> std::unique_ptr<OcrBackend> {
    EngineOptions options;
    options.model_dir = resolveModelDir(model_dir);
    options.device = device;
    options.eight_bit = eight_bit;
    // The engine computes on every core but one: the GUI thread keeps that one, so the window answers while a
    // page runs on the CPU (there, a page's math would otherwise take every core for seconds at a time).
    options.cpu_threads = std::max(1, QThread::idealThreadCount() - 1);
    // Looked at before loading: a change while the engine reads the files shows as a change afterwards.
    std::vector<ModelFileState> files = modelFileStates(options.model_dir);
    return std::make_unique<LocalEngineBackend>(Engine::load(options), options.model_dir, std::move(files),
                                                Engine::kMaxPagesInFlight);
  };
}

std::unique_ptr<OcrBackend> localEngineBackend(std::unique_ptr<Engine> engine, const QString& model_dir, int max_batch) {
  const std::string dir = model_dir.toStdString();
  return std::make_unique<LocalEngineBackend>(std::move(engine), dir, modelFileStates(dir), std::max(max_batch, 1));
}

}  // namespace folio::app
