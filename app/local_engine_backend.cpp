#include "local_engine_backend.h"

#include <QFileInfo>
#include <QStringList>
#include <QThread>
#include <algorithm>

namespace folio::app {
namespace {

class LocalEngineBackend : public OcrBackend {
 public:
  LocalEngineBackend(std::unique_ptr<Engine> engine, const std::string& model_dir)
      : engine_(std::move(engine)),
        model_name_(modelNameFor(engine_->family(), QString::fromStdString(model_dir))) {}
  Result run(const RgbImage& page, const RunOptions& options, const std::function<void(const Progress&)>& on_progress,
             const std::atomic<bool>* cancel) override {
    return engine_->run(page, options, on_progress, cancel);
  }
  QString description() const override { return QString::fromStdString(engine_->deviceDescription()); }
  QString modelName() const override { return model_name_; }
  std::vector<Mode> modes() const override { return supportedModes(engine_->family()); }
  int pagesInFlight() const override { return engine_->pagesInFlight(); }
  void runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                const std::function<void(std::size_t, const Progress&)>& on_progress,
                const std::function<void(std::size_t, Result)>& on_finished,
                const std::vector<const std::atomic<bool>*>& cancels) override {
    engine_->runBatch(pages, options, on_progress, nullptr, Engine::kMaxPagesInFlight, cancels,
                      [&on_finished](std::size_t i, const Result& result) { on_finished(i, result); });
  }

 private:
  std::unique_ptr<Engine> engine_;
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

BackendFactory localEngineFactory(const QString& model_dir, Device device) {
  return [model_dir, device]() -> std::unique_ptr<OcrBackend> {
    EngineOptions options;
    options.model_dir = resolveModelDir(model_dir);
    options.device = device;
    // The engine computes on every core but one: the GUI thread keeps that one, so the window answers while a
    // page runs on the CPU (there, a page's math would otherwise take every core for seconds at a time).
    options.cpu_threads = std::max(1, QThread::idealThreadCount() - 1);
    return std::make_unique<LocalEngineBackend>(Engine::load(options), options.model_dir);
  };
}

}  // namespace folio::app
