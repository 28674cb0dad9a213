// The model download (app::HubDownload) against a fake hub on loopback serving a miniature model written by
// folio-cli synth-weights: the cache layout other tools share, resume, checksums, server errors, a full disk,
// cancel; and that the result loads with the engine.
#include <QtTest/QtTest>

#include "fake_hub.h"
#include "folio_test.h"
#include "mini_model.h"
#include "hub_download.h"

#include <QDirIterator>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <filesystem>
#include <folio/engine.h>

using namespace folio;
using test::FakeHub;

namespace {

const QString kWeights = QStringLiteral("model-00001-of-000001.safetensors");

QByteArray readAll(const QString& path) {
  QFile file(path);
  return file.open(QIODevice::ReadOnly) ? file.readAll() : QByteArray();
}

// How a download ended.
struct Outcome {
  QString snapshot;
  QString error;
  bool cancelled = false;
  bool ended = false;
};

Outcome runToEnd(app::HubDownload& download, int timeout_ms = 120000) {
  Outcome outcome;
  QEventLoop loop;
  QObject context;
  auto end = [&] {
    outcome.ended = true;
    loop.quit();
  };
  QObject::connect(&download, &app::HubDownload::finished, &context, [&](const QString& dir) {
    outcome.snapshot = dir;
    end();
  });
  QObject::connect(&download, &app::HubDownload::failed, &context, [&](const QString& message) {
    outcome.error = message;
    end();
  });
  QObject::connect(&download, &app::HubDownload::cancelled, &context, [&] {
    outcome.cancelled = true;
    end();
  });
  QTimer::singleShot(timeout_ms, &context, [&] { loop.quit(); });
  download.start();
  if (!outcome.ended) loop.exec();
  return outcome;
}

// Every file under a folder with its bytes (links followed), for "nothing changed" checks.
QMap<QString, QByteArray> snapshotOf(const QString& dir) {
  QMap<QString, QByteArray> files;
  for (QDirIterator it(dir, QDir::Files | QDir::System, QDirIterator::Subdirectories); it.hasNext();) {
    const QString path = it.next();
    files[path] = readAll(path) + "|link:" + QFile::symLinkTarget(path).toUtf8();
  }
  return files;
}

}  // namespace

class ModelDownloadTest : public QObject {
  Q_OBJECT

  QTemporaryDir dir_;
  QString mini_;  // the miniature model folio-cli synth-weights wrote

  // A hub serving the miniature model as the real repository looks: LFS weights and tokenizer, plain JSON,
  // and files Folio must not fetch.
  void fill(FakeHub& hub) {
    hub.files["config.json"] = {readAll(mini_ + "/config.json"), false};
    hub.files["tokenizer.json"] = {readAll(mini_ + "/tokenizer.json"), true};
    hub.files["tokenizer_config.json"] = {"{\"model_max_length\": 8192}", false};
    hub.files[kWeights] = {readAll(mini_ + "/" + kWeights), true};
    hub.files["README.md"] = {"# DeepSeek-OCR", false};
    hub.files["modeling_deepseekocr.py"] = {"import torch", false};
    hub.files["assets/fig1.png"] = {QByteArray(1000, 'p'), true};
  }

  app::HubDownloadOptions options(const FakeHub& hub, const QString& cache) {
    app::HubDownloadOptions options;
    options.endpoint = hub.endpoint();
    options.cache_dir = cache;
    options.retry_delay_ms = 10;
    return options;
  }

  static void isolateFromTheUsersModels(const QString& hf_home) {
    qputenv("HF_HOME", hf_home.toUtf8());
    qunsetenv("HF_HUB_CACHE");
    qunsetenv("FOLIO_MODEL_DIR");
    qunsetenv("HF_TOKEN");
    qputenv("HF_ENDPOINT", "http://127.0.0.1:9");  // never the real hub, even by mistake
  }

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    isolateFromTheUsersModels(dir_.filePath("hf-home-unused"));
    mini_ = dir_.filePath("mini");
    QString error;
    QVERIFY2(test::writeMiniModel(mini_, "mini_config.json", &error), qPrintable(error));
    QVERIFY(QFileInfo(mini_ + "/" + kWeights).size() > 1 << 20);
  }

  void revisionJsonKeepsOnlyWhatFolioNeeds() {
    FakeHub hub;
    fill(hub);
    QString error;
    auto sibling = [](const char* name, int size, char blob_id, char sha256 = 0) {
      QJsonObject object{{"rfilename", name}, {"size", size}, {"blobId", QString(40, QChar(blob_id))}};
      if (sha256) object["lfs"] = QJsonObject{{"sha256", QString(64, QChar(sha256))}, {"size", size}};
      return object;
    };
    const QJsonArray siblings{sibling("config.json", 3, 'b'), sibling("tokenizer.json", 9, 'c', 'd'),
                              sibling("model.safetensors", 5, 'e', 'f'), sibling("deepencoder.py", 1, '1')};
    const QByteArray json = QJsonDocument(QJsonObject{{"sha", hub.commit}, {"siblings", siblings}}).toJson();
    std::optional<app::HubRevision> revision = app::parseRevision(json, &error);
    QVERIFY2(revision, qPrintable(error));
    QCOMPARE(revision->commit, hub.commit);
    QCOMPARE(revision->files.size(), 3);
    QCOMPARE(revision->files[0].blob, QString(40, 'b'));  // plain file: by git blob id
    QVERIFY(!revision->files[0].lfs);
    QCOMPARE(revision->files[1].blob, QString(64, 'd'));  // LFS file: by sha256
    QCOMPARE(revision->totalBytes(), qint64(17));

    // A blob name that is not a hash could climb out of the cache.
    QByteArray climbing = json;
    climbing.replace(QByteArray(40, 'b'), "../../../../../../tmp/evil-and-40-chars-long-xx");
    QVERIFY(!app::parseRevision(climbing, &error));
    QVERIFY2(error.contains("config.json"), qPrintable(error));
    QByteArray no_weights = json;
    no_weights.replace("model.safetensors", "model.bin");
    QVERIFY(!app::parseRevision(no_weights, &error));
    QVERIFY2(error.contains(".safetensors"), qPrintable(error));
  }

  void speedEtaAndSizesReadWell() {
    app::TransferRate rate;
    QCOMPARE(rate.bytesPerSecond(), 0.0);
    rate.add(0, 0);
    rate.add(1000, 2000000);
    rate.add(2000, 4000000);
    QCOMPARE(rate.bytesPerSecond(), 2e6);
    rate.add(9000, 4000000);  // a stall: the old samples leave the window and the speed falls
    QVERIFY(rate.bytesPerSecond() < 2e6);
    QCOMPARE(app::secondsLeft(10000000, 2e6), qint64(5));
    QCOMPARE(app::secondsLeft(1, 0), qint64(-1));
    QCOMPARE(app::formatBytes(6672547120), QStringLiteral("6.7 GB"));
    QCOMPARE(app::formatDuration(155), QStringLiteral("2:35"));
    QCOMPARE(app::formatDuration(3725), QStringLiteral("1:02:05"));
    QCOMPARE(app::transferSummary(1200000000, 6700000000, 35100000, 156),
             QStringLiteral("1.2 GB of 6.7 GB · 35.1 MB/s · 2:36 left"));
  }

  void hubCacheFollowsTheEnvironment() {
    const QByteArray hf_home = qgetenv("HF_HOME");
    qputenv("HF_HUB_CACHE", "/somewhere/hub-cache");
    QCOMPARE(app::defaultHubCacheDir(), QStringLiteral("/somewhere/hub-cache"));
    qunsetenv("HF_HUB_CACHE");
    qputenv("HF_HOME", "/somewhere/hf");
    QCOMPARE(app::defaultHubCacheDir(), QStringLiteral("/somewhere/hf/hub"));
    qunsetenv("HF_HOME");
    QCOMPARE(app::defaultHubCacheDir(), QDir::homePath() + "/.cache/huggingface/hub");
    qputenv("HF_HOME", hf_home);
  }

  void fullDownloadLaysOutTheCacheAndLoads() {
    FakeHub hub;
    fill(hub);
    QTemporaryDir hf_home;
    isolateFromTheUsersModels(hf_home.path());
    app::HubDownloadOptions download_options = options(hub, {});  // the cache from $HF_HOME, as the app does
    download_options.token = "secret-token";
    app::HubDownload download(download_options);
    QSignalSpy progress(&download, &app::HubDownload::progress);
    const Outcome outcome = runToEnd(download);
    QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));

    const QString repo_dir = hf_home.filePath("hub/models--deepseek-ai--DeepSeek-OCR");
    QCOMPARE(outcome.snapshot, repo_dir + "/snapshots/" + hub.commit);
    QCOMPARE(readAll(repo_dir + "/refs/main"), hub.commit.toLatin1());
    for (const QString& file : {QStringLiteral("config.json"), QStringLiteral("tokenizer.json"),
                                QStringLiteral("tokenizer_config.json"), kWeights}) {
      const QString link = outcome.snapshot + "/" + file;
      QVERIFY2(QFileInfo(link).isSymLink(), qPrintable(link));
      // Relative, so that the cache can move.
      const auto target = std::filesystem::read_symlink(QFile::encodeName(link).toStdString());
      QCOMPARE(QString::fromStdString(target.string()), "../../blobs/" + hub.blobName(file));
      QVERIFY2(readAll(link) == hub.files[file].content, qPrintable(file));
    }
    QCOMPARE(hub.blobName(kWeights), FakeHub::sha256(hub.files[kWeights].content));
    QCOMPARE(hub.blobName("config.json"), FakeHub::gitBlobId(hub.files["config.json"].content));
    for (const QString& skipped : {"README.md", "modeling_deepseekocr.py", "assets/fig1.png"}) {
      QVERIFY(!QFileInfo::exists(outcome.snapshot + "/" + skipped));
      QCOMPARE(hub.requestCount(hub.resolvePath(skipped)), 0);
    }
    QVERIFY(QDir(repo_dir + "/blobs").entryList({"*.incomplete"}, QDir::Files | QDir::System).isEmpty());

    // The token goes to the hub, not to the CDN it redirects to.
    QCOMPARE(hub.requests.first().target, QByteArray(hub.revisionPath() + "?blobs=true"));
    QCOMPARE(hub.requests.first().headers.value("authorization"), QByteArray("Bearer secret-token"));
    QVERIFY(!hub.downloadsOf(kWeights).isEmpty());
    for (const FakeHub::Request& request : hub.requests)
      QCOMPARE(request.headers.contains("authorization"), !request.to_cdn);

    QVERIFY(!progress.isEmpty());
    const qint64 total = progress.last().at(1).toLongLong();
    QCOMPARE(progress.last().at(0).toLongLong(), total);
    QCOMPARE(total, qint64(hub.files["config.json"].content.size() + hub.files["tokenizer.json"].content.size() +
                           hub.files["tokenizer_config.json"].content.size() + hub.files[kWeights].content.size()));

    // Folio's own search finds the snapshot, and the engine loads it.
    const ModelSearch search = findModel();
    QVERIFY(search.found);
    QCOMPARE(QDir(QString::fromStdString(*search.found)).canonicalPath(), QDir(outcome.snapshot).canonicalPath());
    EngineOptions engine_options;
    engine_options.model_dir = *search.found;
    engine_options.device = Device::Cpu;
    std::unique_ptr<Engine> engine = Engine::load(engine_options);
    QVERIFY(engine != nullptr);

    // A second run finds everything in place and asks only for the file list.
    const int requests_before = hub.requests.size();
    const Outcome again = runToEnd(download);
    QVERIFY2(again.error.isEmpty(), qPrintable(again.error));
    QCOMPARE(hub.requests.size(), requests_before + 1);
  }

  void resumesAfterTheConnectionDrops() {
    FakeHub hub;
    fill(hub);
    constexpr qint64 kDropAt = 3 << 20;
    hub.drop_after[kWeights] = kDropAt;
    QTemporaryDir cache;
    app::HubDownload download(options(hub, cache.path()));
    QSignalSpy status(&download, &app::HubDownload::statusChanged);
    const Outcome outcome = runToEnd(download);
    QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));

    const QList<FakeHub::Request> transfers = hub.downloadsOf(kWeights);
    QCOMPARE(transfers.size(), 2);
    QVERIFY(!transfers[0].headers.contains("range"));
    QCOMPARE(transfers[1].headers.value("range"), QByteArray("bytes=" + QByteArray::number(kDropAt) + "-"));
    QVERIFY(readAll(outcome.snapshot + "/" + kWeights) == hub.files[kWeights].content);
    bool said_retrying = false;
    for (const QList<QVariant>& args : status) said_retrying |= args.at(0).toString().contains("retrying");
    QVERIFY(said_retrying);
  }

  void restartsTheFileWhenTheServerIgnoresRange() {
    FakeHub hub;
    fill(hub);
    hub.ignore_range = true;
    QTemporaryDir cache;
    const app::HubCache layout(cache.path(), hub.repo);
    QVERIFY(QDir().mkpath(layout.repoDir() + "/blobs"));
    QFile partial(layout.partialPath(hub.blobName(kWeights)));
    QVERIFY(partial.open(QIODevice::WriteOnly));
    partial.write(QByteArray(5000, 'x'));  // a start that does not match: appending to it would fail the checksum
    partial.close();
    app::HubDownload download(options(hub, cache.path()));
    const Outcome outcome = runToEnd(download);
    QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
    QCOMPARE(hub.downloadsOf(kWeights).size(), 1);  // started over at once, not after a failed attempt
    QCOMPARE(hub.downloadsOf(kWeights).first().headers.value("range"), QByteArray("bytes=5000-"));
    QVERIFY(readAll(outcome.snapshot + "/" + kWeights) == hub.files[kWeights].content);
  }

  void corruptedByteFailsAndLeavesTheOldSnapshot() {
    FakeHub hub;
    fill(hub);
    QTemporaryDir cache;
    const Outcome first = [&] {
      app::HubDownload download(options(hub, cache.path()));
      return runToEnd(download);
    }();
    QVERIFY2(first.error.isEmpty(), qPrintable(first.error));
    const app::HubCache layout(cache.path(), hub.repo);
    const QMap<QString, QByteArray> old_snapshot = snapshotOf(first.snapshot);
    const QString old_commit = hub.commit;

    // A newer commit with other weights, one byte of which goes wrong on the way.
    hub.commit = QString(40, 'b');
    QByteArray& weights = hub.files[kWeights].content;
    weights[weights.size() - 1] = char(weights[weights.size() - 1] ^ 0x01);
    QByteArray served = weights;
    served[served.size() / 2] = char(served[served.size() / 2] ^ 0x40);
    hub.files[kWeights].served = served;
    app::HubDownload download(options(hub, cache.path()));
    const Outcome outcome = runToEnd(download);

    const QString expected = QStringLiteral("%1: checksum mismatch (expected %2, got %3)")
                                 .arg(kWeights, FakeHub::sha256(weights), FakeHub::sha256(served));
    QCOMPARE(outcome.error, expected);
    QVERIFY(!QFileInfo::exists(layout.blobPath(FakeHub::sha256(weights))));
    QVERIFY(!QFileInfo::exists(layout.partialPath(FakeHub::sha256(weights))));  // the bad bytes are gone
    QVERIFY(!QFileInfo::exists(layout.snapshotDir(hub.commit)));
    QCOMPARE(layout.readRef("main"), old_commit);
    QCOMPARE(snapshotOf(first.snapshot), old_snapshot);
  }

  void missingFileIsReportedWithItsUrl() {
    FakeHub hub;
    fill(hub);
    hub.fail_paths[hub.resolvePath("tokenizer.json")] = 404;
    QTemporaryDir cache;
    app::HubDownload download(options(hub, cache.path()));
    const Outcome outcome = runToEnd(download);
    QVERIFY2(outcome.error.startsWith("tokenizer.json: HTTP 404 Not Found from "), qPrintable(outcome.error));
    QVERIFY2(outcome.error.contains(hub.endpoint() + QString::fromUtf8(hub.resolvePath("tokenizer.json"))), qPrintable(outcome.error));
    QCOMPARE(hub.requestCount(hub.resolvePath("tokenizer.json")), 1);  // a 404 is not retried
    QVERIFY(!QFileInfo::exists(app::HubCache(cache.path(), hub.repo).snapshotDir(hub.commit)));
  }

  void serverErrorIsRetriedThenReported() {
    FakeHub hub;
    fill(hub);
    hub.fail_paths[hub.resolvePath(kWeights)] = 500;
    QTemporaryDir cache;
    app::HubDownloadOptions download_options = options(hub, cache.path());
    download_options.retries = 2;
    app::HubDownload download(download_options);
    const Outcome outcome = runToEnd(download);
    QVERIFY2(outcome.error.startsWith(kWeights + ": HTTP 500 Internal Server Error from "), qPrintable(outcome.error));
    QVERIFY2(outcome.error.contains("gave up after 3 attempts"), qPrintable(outcome.error));
    QCOMPARE(hub.requestCount(hub.resolvePath(kWeights)), 3);
  }

  void unknownRepositoryIsReported() {
    FakeHub hub;
    fill(hub);
    QTemporaryDir cache;
    app::HubDownloadOptions download_options = options(hub, cache.path());
    download_options.repo = "nobody/nothing";
    app::HubDownload download(download_options);
    const Outcome outcome = runToEnd(download);
    QVERIFY2(outcome.error.startsWith("nobody/nothing (main): HTTP 404 Not Found from " + hub.endpoint() +
                                      "/api/models/nobody/nothing/revision/main?blobs=true"),
             qPrintable(outcome.error));
    QCOMPARE(hub.requests.size(), 1);  // a 404 is final

    download_options.repo = "../../etc";
    app::HubDownload climbing(download_options);
    const Outcome refused = runToEnd(climbing);
    QVERIFY2(refused.error.contains("not a repository name"), qPrintable(refused.error));
  }

  void fullDiskIsReportedAndLeavesNoBlob() {
    if (!QFileInfo::exists("/dev/full")) QSKIP("no /dev/full here");
    FakeHub hub;
    fill(hub);
    QTemporaryDir cache;
    const app::HubCache layout(cache.path(), hub.repo);
    QVERIFY(QDir().mkpath(layout.repoDir() + "/blobs"));
    // Writes to /dev/full fail with ENOSPC, as on a full disk.
    QVERIFY(QFile::link("/dev/full", layout.partialPath(hub.blobName(kWeights))));
    app::HubDownload download(options(hub, cache.path()));
    const Outcome outcome = runToEnd(download);
    QVERIFY2(outcome.error.startsWith(kWeights + ": cannot write " + layout.partialPath(hub.blobName(kWeights))),
             qPrintable(outcome.error));
    QVERIFY2(outcome.error.contains("No space left on device"), qPrintable(outcome.error));
    QVERIFY(!QFileInfo::exists(layout.blobPath(hub.blobName(kWeights))));
    QVERIFY(!QFileInfo::exists(layout.snapshotDir(hub.commit)));
    QVERIFY(layout.readRef("main").isEmpty());
  }

  void cancelStopsPromptlyAndALaterDownloadResumes() {
    FakeHub hub;
    fill(hub);
    hub.chunk_delay_ms = 10;  // about 6 MB/s: slow enough to cancel in the middle of the weights
    QTemporaryDir cache;
    const app::HubCache layout(cache.path(), hub.repo);
    const QString partial = layout.partialPath(hub.blobName(kWeights));
    app::HubDownload download(options(hub, cache.path()));
    QSignalSpy progress(&download, &app::HubDownload::progress);
    QSignalSpy cancelled(&download, &app::HubDownload::cancelled);
    download.start();
    QTRY_VERIFY_WITH_TIMEOUT(QFileInfo(partial).size() > (1 << 20), 60000);
    download.cancel();
    QCOMPARE(cancelled.size(), 1);  // at once, not after the transfer
    QVERIFY(!download.isRunning());
    const qint64 kept = QFileInfo(partial).size();
    QTest::qWait(300);
    QCOMPARE(QFileInfo(partial).size(), kept);  // nothing more arrives
    QVERIFY(!QFileInfo::exists(layout.blobPath(hub.blobName(kWeights))));
    QVERIFY(!QFileInfo::exists(layout.snapshotDir(hub.commit)));
    // The slow link gave the rate time to show.
    QVERIFY(std::any_of(progress.begin(), progress.end(), [](const QList<QVariant>& args) {
      return args.at(2).toDouble() > 0 && args.at(3).toLongLong() >= 0;
    }));

    hub.chunk_delay_ms = 0;
    const Outcome outcome = runToEnd(download);
    QVERIFY2(outcome.error.isEmpty(), qPrintable(outcome.error));
    QCOMPARE(hub.downloadsOf(kWeights).last().headers.value("range"), QByteArray("bytes=" + QByteArray::number(kept) + "-"));
    QVERIFY(readAll(outcome.snapshot + "/" + kWeights) == hub.files[kWeights].content);
  }
};

QTEST_MAIN(ModelDownloadTest)
#include "test_model_download.moc"
