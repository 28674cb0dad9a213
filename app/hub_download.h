// Downloads a model revision from the Hugging Face hub into the hub cache (hub_cache.h), the way the hub's own
// tools lay it out, so that they and Folio share one copy. Asynchronous (Qt Network; the checksums run on a
// pool thread): usable from the GUI thread without blocking it, and from folio-cli under a QCoreApplication.
//
//   GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true   the files, their sizes and checksums
//   GET {endpoint}/{repo}/resolve/{commit}/{file}                     each file (the hub redirects to a CDN)
//
// Each file grows in blobs/<name>.incomplete, resumes with a Range request where an earlier attempt stopped,
// and is checked against the hub's checksum before it takes its final name. The snapshot's links and
// refs/<revision> are written only once every file is in place: a failed or cancelled download leaves an
// existing snapshot as it was.
#pragma once

#include "hub_cache.h"

#include <QElapsedTimer>
#include <QFile>
#include <QLockFile>
#include <QObject>
#include <QPointer>
#include <QTimer>
#include <QUrl>
#include <atomic>
#include <deque>
#include <functional>
#include <memory>

class QNetworkAccessManager;
class QNetworkReply;

namespace folio::app {

struct HubDownloadOptions {
  QString repo = kModelRepo;
  QString revision = QStringLiteral("main");
  QString endpoint;   // empty: $HF_ENDPOINT, else https://huggingface.co
  QString cache_dir;  // empty: defaultHubCacheDir()
  QString token;      // empty: $HF_TOKEN (sent as "Authorization: Bearer" to the endpoint only, not to the CDN)
  int retries = 4;             // per file: dropped connections and server errors (5xx) before giving up
  int retry_delay_ms = 1000;   // the first retry's wait, doubled for each further one
  int stall_timeout_ms = 60000;  // a connection that brings no data this long counts as dropped
};

// Bytes per second over the last few seconds: recent enough that a stall shows, smooth enough to read.
class TransferRate {
 public:
  void reset();
  void add(qint64 now_ms, qint64 bytes_received);  // bytes_received: a running total
  double bytesPerSecond() const;

 private:
  std::deque<std::pair<qint64, qint64>> samples_;  // (ms, running total)
};

// Seconds until `left` more bytes arrive at this rate; -1 when unknown.
qint64 secondsLeft(qint64 bytes_left, double bytes_per_second);
QString formatBytes(qint64 bytes);  // decimal units, as the hub shows sizes: "6.7 GB"
QString formatDuration(qint64 seconds);  // "42 s", "3:07", "1:02:03"; empty when unknown (< 0)
// "1.2 GB of 6.7 GB · 35.1 MB/s · 2:35 left": one line for the dialog and folio-cli.
QString transferSummary(qint64 bytes_done, qint64 bytes_total, double bytes_per_second, qint64 seconds_left);

class HubDownload : public QObject {
  Q_OBJECT
 public:
  explicit HubDownload(HubDownloadOptions options = {}, QObject* parent = nullptr);
  ~HubDownload() override;

  // Starts (or, after a failure or cancel, resumes) the download. Exactly one of finished, failed and
  // cancelled follows.
  void start();
  // Stops at once: the transfer is aborted and cancelled() emitted before this returns. What arrived stays in
  // the .incomplete file for the next start().
  void cancel();
  bool isRunning() const { return running_; }
  QString endpoint() const { return endpoint_; }
  QString repo() const { return options_.repo; }
  QString repoDir() const { return cache_.repoDir(); }

 signals:
  void statusChanged(const QString& status);  // "Downloading config.json", "Verifying …", "Retrying …"
  void progress(qint64 bytes_done, qint64 bytes_total, double bytes_per_second, qint64 seconds_left);
  void finished(const QString& snapshot_dir);
  void failed(const QString& message);  // names the file (or the revision) and the problem
  void cancelled();

 private:
  enum class ReplyKind { Revision, File };
  QNetworkReply* send(const QUrl& url, qint64 range_start);
  void watch(QNetworkReply* reply, ReplyKind kind);
  void dropReply();
  QNetworkReply* takeReply();  // the finished reply, detached from this and deleted later
  QUrl revisionUrl() const;
  QUrl fileUrl(const HubFile& file) const;

  bool lockCache();
  void fetchRevision(const QUrl& url);
  void onRevisionReply();
  bool planFiles(const QByteArray& json);
  bool checkFreeSpace();
  void nextFile();
  void requestFile(const QUrl& url);
  void onFileData();
  bool acceptStatus();
  void onFileReply();
  void retry(const QString& reason, const std::function<void()>& again);
  void verifyFile();
  void onVerified(const QString& checksum);
  void finishSnapshot();
  void fail(const QString& message);
  void stopEverything();
  void reportProgress(bool force);
  qint64 bytesDone() const;
  const HubFile& currentFile() const { return revision_.files[file_index_]; }

  HubDownloadOptions options_;
  QString endpoint_;
  QString token_;
  HubCache cache_;
  QNetworkAccessManager* network_;

  bool running_ = false;
  std::unique_ptr<QLockFile> lock_;
  HubRevision revision_;
  int file_index_ = 0;
  QPointer<QNetworkReply> reply_;
  QFile partial_;          // the current file's .incomplete, open while a transfer runs
  bool body_ignored_ = false;  // the reply's body is an error page or a redirect, not the file
  bool status_checked_ = false;
  int redirects_ = 0;
  int attempts_ = 0;         // failed attempts in a row without new data
  qint64 attempt_bytes_ = 0; // bytes the current attempt brought
  QTimer retry_timer_;
  std::function<void()> retry_action_;
  std::shared_ptr<std::atomic<bool>> stop_hashing_;
  QObject* hash_watcher_ = nullptr;

  qint64 received_bytes_ = 0;   // since start(), for the rate
  QTimer tick_timer_;           // refreshes the rate while no data comes (a stall shows as a falling speed)
  TransferRate rate_;
  QElapsedTimer clock_;
  qint64 last_report_ms_ = -1;
};

}  // namespace folio::app
