// The engine end to end on a miniature model (same architecture, tiny sizes) written by folio-cli
// synth-weights through the real loading path: streaming, cancellation, limits and clear errors.
#include <QtTest/QtTest>

#include <QDir>
#include <QFile>
#include <QTemporaryDir>

#include <folio/engine.h>

#include <filesystem>
#include <fstream>

#include "folio_test.h"
#include "mini_model.h"
#include "safetensors.h"

namespace fs = std::filesystem;

class TestEngine : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  std::string model_dir_;
  std::unique_ptr<folio::Engine> engine_;

  folio::RgbImage page(int width, int height) {
    folio::RgbImage image{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3, 255)};
    for (int y = height / 8; y < height / 4; ++y)
      for (int x = width / 8; x < width * 7 / 8; ++x)
        for (int c = 0; c < 3; ++c) image.pixels[(static_cast<std::size_t>(y) * width + x) * 3 + c] = 0;
    return image;
  }

  // Tiny mode, exactly `tokens` tokens (eos ignored).
  static folio::RunOptions tinyRun(int tokens) {
    folio::RunOptions options;
    options.mode = folio::Mode::Tiny;
    options.max_new_tokens = tokens;
    options.ignore_eos = true;
    return options;
  }


 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    model_dir_ = dir_.filePath("mini").toStdString();
    QString error;
    QVERIFY2(folio::test::writeMiniModel(QString::fromStdString(model_dir_), "mini_config.json", &error),
             qPrintable(error));
    folio::EngineOptions options;
    options.model_dir = model_dir_;
    options.device = folio::Device::Cpu;
    engine_ = folio::Engine::load(options);
    QVERIFY(engine_ != nullptr);
    QVERIFY(engine_->deviceDescription().find("CPU") != std::string::npos);
  }

  void runStreamsEveryToken() {
    folio::RunOptions options;
    options.mode = folio::Mode::Tiny;
    options.max_new_tokens = 12;
    options.ignore_eos = true;
    int calls = 0;
    std::size_t last_length = 0;
    bool grew_monotonically = true;
    auto result = engine_->run(page(300, 200), options, [&](const folio::Progress& p) {
      ++calls;
      QCOMPARE(p.generated_tokens, calls);
      grew_monotonically = grew_monotonically && p.text.size() >= last_length;
      last_length = p.text.size();
    });
    QCOMPARE(result.generated_tokens, 12);
    QCOMPARE(calls, 12);
    QVERIFY(grew_monotonically);
    QVERIFY(result.hit_token_limit);
    QVERIFY(!result.cancelled);
    QCOMPARE(result.image_tokens, 73);  // Tiny: (8+1)*8+1
    QVERIFY(result.prompt_tokens > result.image_tokens);
    QVERIFY(result.timings.vision_ms > 0);
  }

  void gundamPageHasTiles() {
    folio::RunOptions options;
    options.mode = folio::Mode::Gundam;
    options.max_new_tokens = 2;
    auto result = engine_->run(page(1240, 1754), options);
    QCOMPARE(result.image_tokens, 903);
  }

  void cancelStopsWithinOneStep() {
    folio::RunOptions options;
    options.mode = folio::Mode::Tiny;
    options.max_new_tokens = 50;
    options.ignore_eos = true;
    std::atomic<bool> cancel{false};
    int tokens_after_cancel = 0;
    auto result = engine_->run(page(300, 200), options, [&](const folio::Progress& p) {
      if (cancel) ++tokens_after_cancel;
      if (p.generated_tokens == 3) cancel = true;
    }, &cancel);
    QVERIFY(result.cancelled);
    QCOMPARE(result.generated_tokens, 3);
    QCOMPARE(tokens_after_cancel, 0);
  }

  void sameInputGivesSameOutput() {
    folio::RunOptions options;
    options.mode = folio::Mode::Tiny;
    options.max_new_tokens = 8;
    options.ignore_eos = true;
    auto a = engine_->run(page(300, 200), options);
    auto b = engine_->run(page(300, 200), options);
    QCOMPARE(a.raw_text, b.raw_text);
  }

  void batchEqualsPageByPage() {
    const folio::RunOptions options = tinyRun(6);
    const std::vector<folio::RgbImage> pages{page(300, 200), page(200, 300), page(640, 480)};
    std::vector<folio::RunOptions> page_options(pages.size(), options);
    page_options[2].mode = folio::Mode::Small;
    std::vector<int> progress_calls(pages.size(), 0);
    const auto batch = engine_->runBatch(pages, page_options, [&](std::size_t i, const folio::Progress& p) {
      QVERIFY(i < pages.size());
      QCOMPARE(p.generated_tokens, ++progress_calls[i]);
    });
    QCOMPARE(batch.size(), pages.size());
    for (std::size_t i = 0; i < pages.size(); ++i) {
      const auto single = engine_->run(pages[i], page_options[i]);
      QCOMPARE(batch[i].raw_text, single.raw_text);
      QCOMPARE(batch[i].generated_tokens, 6);
      QCOMPARE(progress_calls[i], 6);
      QCOMPARE(batch[i].prompt_tokens, single.prompt_tokens);
    }
    QCOMPARE(batch[2].image_tokens, 111);  // Small, beside Tiny pages
    QVERIFY_THROWS_EXCEPTION(folio::Error, engine_->runBatch({page(300, 200), folio::RgbImage{}}, {options, options}));
    QVERIFY_THROWS_EXCEPTION(folio::Error, engine_->runBatch({page(300, 200)}, {options, options}));
  }

  void pageCancelStopsThatPageOnly() {
    const folio::RunOptions options = tinyRun(6);
    const std::vector<folio::RgbImage> pages{page(300, 200), page(200, 300), page(320, 240)};
    const std::vector<folio::RunOptions> page_options(pages.size(), options);
    std::atomic<bool> stop_second{false}, none{false};
    // Page 1 is cancelled after its third token; pages 0 and 2 run to the limit. Each page's result is reported
    // as soon as that page is done: page 0's before page 1 generates its first token (the CPU runs them in turn).
    QStringList events;
    std::vector<folio::Result> reported(pages.size());
    const auto results = engine_->runBatch(
        pages, page_options,
        [&](std::size_t i, const folio::Progress& p) {
          if (i == 1 && p.generated_tokens == 3) stop_second = true;
          if (p.generated_tokens == 1) events << QStringLiteral("start %1").arg(i);
        },
        &none, folio::Engine::kMaxPagesInFlight, {nullptr, &stop_second, nullptr},
        [&](std::size_t i, const folio::Result& r) {
          events << QStringLiteral("done %1").arg(i);
          reported[i] = r;
        });
    QCOMPARE(events, (QStringList{"start 0", "done 0", "start 1", "done 1", "start 2", "done 2"}));
    for (std::size_t i = 0; i < pages.size(); ++i) {
      QCOMPARE(reported[i].raw_text, results[i].raw_text);
      QCOMPARE(reported[i].generated_tokens, results[i].generated_tokens);
    }
    QVERIFY(!results[0].cancelled && !results[2].cancelled);
    QCOMPARE(results[0].generated_tokens, 6);
    QCOMPARE(results[2].generated_tokens, 6);
    QVERIFY(results[1].cancelled);
    QCOMPARE(results[1].generated_tokens, 3);
    // The batch's own flag still stops every page.
    std::atomic<bool> stop_all{true};
    for (const auto& r : engine_->runBatch(pages, page_options, {}, &stop_all, 2, {nullptr, nullptr, nullptr}))
      QVERIFY(r.cancelled && r.generated_tokens == 0);
    QVERIFY_THROWS_EXCEPTION(folio::Error, engine_->runBatch(pages, page_options, {}, nullptr, 2, {&none}));
    QCOMPARE(engine_->pagesInFlight(), 1);  // the CPU decodes one page at a time
  }

  // The engine owns its weights once loaded: a `cp` over the file (which cuts it short first) changes nothing
  // for the running engine. A tensor left on the file's memory map would die of SIGBUS here.
  void weightsOutliveTheirFile() {
    const fs::path copy = dir_.filePath("outlive").toStdString();
    fs::copy(model_dir_, copy, fs::copy_options::recursive);
    folio::EngineOptions options;
    options.model_dir = copy.string();
    options.device = folio::Device::Cpu;
    options.dtype = folio::DType::BFloat16;  // the file's own: loading converts nothing
    const auto engine = folio::Engine::load(options);
    const auto before = engine->run(page(300, 200), tinyRun(8));
    for (const auto& entry : fs::directory_iterator(copy))
      if (entry.path().extension() == ".safetensors") fs::resize_file(entry.path(), 0);
    const auto after = engine->run(page(300, 200), tinyRun(8));
    QCOMPARE(after.raw_text, before.raw_text);
  }

  void emptyPageIsAnError() {
    QVERIFY_THROWS_EXCEPTION(folio::Error, engine_->run(folio::RgbImage{}, folio::RunOptions{}));
  }

  void missingFolderNamesIt() {
    folio::EngineOptions options;
    options.model_dir = "/nonexistent/folio-model";
    options.device = folio::Device::Cpu;
    try {
      folio::Engine::load(options);
      QFAIL("loading a missing folder succeeded");
    } catch (const folio::Error& e) {
      QVERIFY(std::string(e.what()).find("/nonexistent/folio-model") != std::string::npos);
    }
  }

  void missingTensorIsNamed() {
    // The mini model with one tensor left out of its checkpoint.
    const auto broken = dir_.filePath("broken").toStdString();
    fs::create_directories(broken);
    fs::copy_file(model_dir_ + "/config.json", broken + "/config.json");
    fs::copy_file(model_dir_ + "/tokenizer.json", broken + "/tokenizer.json");
    auto source = folio::SafetensorsFile::open(model_dir_ + "/model-00001-of-000001.safetensors");
    std::vector<std::pair<std::string, torch::Tensor>> kept;
    for (const auto& info : source->tensors())
      if (info.name != "model.layers.1.mlp.gate.weight") kept.emplace_back(info.name, source->tensor(info.name));
    folio::writeSafetensors(broken + "/model.safetensors", kept);
    folio::EngineOptions options;
    options.model_dir = broken;
    options.device = folio::Device::Cpu;
    try {
      folio::Engine::load(options);
      QFAIL("a checkpoint without a tensor loaded");
    } catch (const folio::Error& e) {
      QVERIFY2(std::string(e.what()).find("model.layers.1.mlp.gate.weight") != std::string::npos, e.what());
    }
  }

  void cudaWithoutGpuIsAClearError() {
    if (torch::cuda::is_available()) QSKIP("this machine has a CUDA GPU");
    folio::EngineOptions options;
    options.model_dir = model_dir_;
    options.device = folio::Device::Cuda;
    try {
      folio::Engine::load(options);
      QFAIL("CUDA loading succeeded without a GPU");
    } catch (const folio::Error& e) {
      QVERIFY(std::string(e.what()).find("CUDA") != std::string::npos);
    }
  }

  void findModelHonoursEnvironment() {
    qputenv("FOLIO_MODEL_DIR", QByteArray::fromStdString(model_dir_));
    auto search = folio::findModel();
    qunsetenv("FOLIO_MODEL_DIR");
    QVERIFY(search.found.has_value());
    QCOMPARE(*search.found, model_dir_);
    QCOMPARE(search.searched.front(), model_dir_);
  }

  // The hub cache where $HF_HUB_CACHE says, and in it the snapshot refs/main names before older ones (five of
  // them, so that directory order alone would rarely pick the right one).
  void findModelPrefersTheSnapshotRefsMainNames() {
    QTemporaryDir cache;
    const QString repo = cache.filePath("models--deepseek-ai--DeepSeek-OCR");
    const QDir model(QString::fromStdString(model_dir_));
    for (const QString commit : {"0old", "1old", "2old", "3old", "4old", "9new"}) {
      const QString snapshot = repo + "/snapshots/" + commit;
      QVERIFY(QDir().mkpath(snapshot));
      for (const QString& file : model.entryList(QDir::Files)) QVERIFY(QFile::copy(model.filePath(file), snapshot + "/" + file));
    }
    QVERIFY(QDir().mkpath(repo + "/refs"));
    QFile ref(repo + "/refs/main");
    QVERIFY(ref.open(QIODevice::WriteOnly));
    ref.write("9new");
    ref.close();
    qputenv("HF_HUB_CACHE", cache.path().toUtf8());
    const auto search = folio::findModel();
    qunsetenv("HF_HUB_CACHE");
    QVERIFY(search.found.has_value());
    QVERIFY2(QString::fromStdString(*search.found).endsWith("/snapshots/9new"), search.found->c_str());
  }

  // A DeepSeek-OCR-2 folder: its family, its modes (Tiny refused with a message), its token count.
  void runsADeepseekOcr2Model() {
    const auto model_dir = dir_.filePath("mini2").toStdString();
    QString error;
    QVERIFY2(folio::test::writeMiniModel(QString::fromStdString(model_dir), "mini_ocr2_config.json", &error),
             qPrintable(error));
    QCOMPARE(folio::modelFamilyOf(model_dir), folio::ModelFamily::DeepseekOcr2);
    folio::EngineOptions options;
    options.model_dir = model_dir;
    options.device = folio::Device::Cpu;
    const auto engine = folio::Engine::load(options);
    QCOMPARE(engine->family(), folio::ModelFamily::DeepseekOcr2);
    auto run = tinyRun(3);
    try {
      engine->run(page(640, 480), run);
      QFAIL("DeepSeek-OCR-2 ran a Tiny page");
    } catch (const folio::Error& e) {
      QVERIFY2(std::string(e.what()).find("no tiny mode") != std::string::npos, e.what());
    }
    run.mode = folio::Mode::Gundam;
    const auto result = engine->run(page(1654, 2339), run);  // 2x3 tiles of 768
    QCOMPARE(result.image_tokens, 256 + 6 * 144 + 1);
    QCOMPARE(result.generated_tokens, 3);
  }

  // Both families' hub folders are found, each with its family.
  void findModelListsBothFamilies() {
    QTemporaryDir cache;
    const auto copy = [&](const std::string& from, const QString& repo) {
      const QString snapshot = cache.filePath(repo + "/snapshots/abc");
      QVERIFY(QDir().mkpath(snapshot));
      const QDir model(QString::fromStdString(from));
      for (const QString& file : model.entryList(QDir::Files)) QVERIFY(QFile::copy(model.filePath(file), snapshot + "/" + file));
    };
    copy(model_dir_, "models--deepseek-ai--DeepSeek-OCR");
    copy(dir_.filePath("mini2").toStdString(), "models--deepseek-ai--DeepSeek-OCR-2");
    qputenv("HF_HUB_CACHE", cache.path().toUtf8());
    const auto search = folio::findModel();
    qunsetenv("HF_HUB_CACHE");
    QCOMPARE(search.models.size(), std::size_t{2});
    QCOMPARE(search.models[0].family, folio::ModelFamily::DeepseekOcr);
    QCOMPARE(search.models[1].family, folio::ModelFamily::DeepseekOcr2);
    QCOMPARE(*search.found, search.models[0].path);
  }
};

QTEST_GUILESS_MAIN(TestEngine)
#include "test_engine.moc"
