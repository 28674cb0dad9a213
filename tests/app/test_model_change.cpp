// The model's files changing under the running app (a new download, a copy over the old weights, a file cut
// short): the worker notices before its next pages, says which file changed, and loads the model again; a model
// it cannot load fails those pages with the loader's message and is tried again once the files are whole.
#include <QtTest/QtTest>

#include "local_engine_backend.h"
#include "mini_model.h"
#include "ocr_worker.h"
#include "test_documents.h"

#include <QTemporaryDir>
#include <filesystem>

using namespace folio;

class ModelChangeTest : public QObject {
  Q_OBJECT

  // The worker's signals, counted on the test's thread (queued: the worker has its own).
  struct Watch {
    int ready = 0;
    QStringList changes, failures;
    QList<app::JobOutcome> finished;
    Watch(app::OcrWorker* worker, QObject* receiver) {
      connect(worker, &app::OcrWorker::backendReady, receiver, [this] { ++ready; });
      connect(worker, &app::OcrWorker::modelChanged, receiver, [this](const QString& m) { changes << m; });
      connect(worker, &app::OcrWorker::pageFailed, receiver, [this](int, const QString& m) { failures << m; });
      connect(worker, &app::OcrWorker::pageFinished, receiver,
              [this](int, const app::JobOutcome& outcome) { finished << outcome; });
    }
  };

  QTemporaryDir dir_;
  QString image_;

  QString freshModel(const QString& name) {
    const QString folder = dir_.filePath(name);
    QString error;
    if (!test::writeMiniModel(folder, "mini_config.json", &error)) qFatal("synth-weights: %s", qPrintable(error));
    return folder;
  }

  static std::filesystem::path weightsFile(const QString& model) {
    const QStringList found = QDir(model).entryList({"*.safetensors"});
    if (found.size() != 1) qFatal("expected one .safetensors file in %s", qPrintable(model));
    return std::filesystem::path(QDir(model).filePath(found.first()).toStdString());
  }

  app::PageJob job(int page) const {
    app::PageJob job;
    job.page = page;
    job.source = image_;
    job.options.mode = Mode::Tiny;
    job.options.max_new_tokens = 4;
    job.options.ignore_eos = true;
    return job;
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    image_ = test::writeImage(dir_.filePath("page.png"), QSize(300, 200));
  }

  void unchangedModelIsNotLoadedAgain() {
    const QString model = freshModel("unchanged");
    app::OcrService service(app::localEngineFactory(model, Device::Cpu));
    Watch watch(service.worker(), this);
    service.start();
    for (int page = 0; page < 2; ++page) {
      service.worker()->enqueue(job(page));
      QTRY_COMPARE_WITH_TIMEOUT(watch.finished.size() + watch.failures.size(), page + 1, 120000);
    }
    QCOMPARE(watch.finished.size(), 2);
    QCOMPARE(watch.ready, 1);
    QVERIFY(watch.changes.isEmpty());
  }

  // A new download or `folio-cli synth-weights` replaces the files (written beside, renamed over).
  void replacedWeightsAreLoadedAgain() {
    const QString model = freshModel("replaced");
    app::OcrService service(app::localEngineFactory(model, Device::Cpu));
    Watch watch(service.worker(), this);
    service.start();
    service.worker()->enqueue(job(0));
    QTRY_COMPARE_WITH_TIMEOUT(watch.finished.size(), 1, 120000);
    freshModel("replaced");
    service.worker()->enqueue(job(1));
    QTRY_COMPARE_WITH_TIMEOUT(watch.finished.size(), 2, 120000);
    QVERIFY2(watch.failures.isEmpty(), qPrintable(watch.failures.join('\n')));
    QCOMPARE(watch.changes.size(), 1);
    const QString weights = QString::fromStdString(weightsFile(model).filename().string());
    QVERIFY2(watch.changes[0].contains(weights) && watch.changes[0].contains(model),
             qPrintable(watch.changes[0]));
    QCOMPARE(watch.ready, 2);
  }

  // `cp` over the weights truncates them in place first: a page queued meanwhile fails with the loader's
  // message naming the file, and the next one after the copy completes reads again.
  void weightsCutShortFailThePagesUntilTheyAreWhole() {
    const QString model = freshModel("cut");
    const std::filesystem::path weights = weightsFile(model);
    const QString whole = dir_.filePath("whole.safetensors");
    QVERIFY(QFile::copy(QString::fromStdString(weights.string()), whole));
    app::OcrService service(app::localEngineFactory(model, Device::Cpu));
    Watch watch(service.worker(), this);
    service.start();
    service.worker()->enqueue(job(0));
    QTRY_COMPARE_WITH_TIMEOUT(watch.finished.size(), 1, 120000);

    std::filesystem::resize_file(weights, 100);
    service.worker()->enqueue(job(1));
    QTRY_COMPARE_WITH_TIMEOUT(watch.failures.size(), 1, 120000);
    QCOMPARE(watch.changes.size(), 1);
    QVERIFY2(watch.failures[0].contains(QString::fromStdString(weights.filename().string())),
             qPrintable(watch.failures[0]));

    std::filesystem::copy_file(whole.toStdString(), weights, std::filesystem::copy_options::overwrite_existing);
    service.worker()->enqueue(job(2));
    QTRY_COMPARE_WITH_TIMEOUT(watch.finished.size(), 2, 120000);
    QCOMPARE(watch.ready, 2);
    QCOMPARE(watch.failures.size(), 1);
  }
};

QTEST_MAIN(ModelChangeTest)
#include "test_model_change.moc"
