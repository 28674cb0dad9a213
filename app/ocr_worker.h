// Inference off the GUI thread: OcrWorker lives in its own QThread, owns the backend, takes pages from a
// queue (as many at once as the backend decodes together: up to 32 on a GPU) and reports through queued signals.
// Each running page has a cancel flag the GUI sets directly; the backend checks it between two decoding steps.
// The worker watches each running page's text for loops (output_review.h) and stops a looping page through the
// same flag, keeping its text for review.
#pragma once

#include "ocr_backend.h"
#include "page_prefetcher.h"

#include <QHash>
#include <QImage>
#include <QMutex>
#include <QObject>
#include <QQueue>
#include <QRectF>
#include <QStringList>
#include <QThread>
#include <atomic>
#include <memory>
#include <optional>
#include <vector>

namespace folio::app {

struct PageJob {
  int page = -1;  // index in the project
  QString source;
  int source_page = 0;
  QString password;
  double dpi = 144;
  RunOptions options;
  QRectF region;  // in page pixels; empty: the whole page
};

struct JobOutcome {
  Result result;
  QSize image_size;  // the page image the model saw (whole page, also for region jobs)
  QPointF offset;    // top-left of the region for region jobs
  bool region_only = false;
  // Why the page needs a look, empty when it does not (output_review.h): a loop seen in its text while it was
  // generated, the token limit, the text cut inside a tag, a box outside the page.
  QStringList review_reasons;
  // The worker stopped the page because its text had become a loop (the first review reason says which): the
  // text so far is kept and result.cancelled is false, since nobody cancelled it.
  bool stopped_early = false;
  QString model;  // the backend's modelName(): which model read the page
};

RgbImage toRgbImage(const QImage& image);

class OcrWorker : public QObject {
  Q_OBJECT
 public:
  explicit OcrWorker(BackendFactory factory);
  ~OcrWorker() override;

  // Thread-safe. Jobs enqueued together can start together.
  void enqueue(const PageJob& job);
  void enqueue(const QList<PageJob>& jobs);
  void cancelCurrent();  // cancels the running pages
  // Takes the page's jobs out of the queue (returns the page once for each) and cancels it if it runs.
  QList<int> cancelPage(int page);
  QList<int> cancelAll();  // empties the queue (returns the pages it held) and cancels the running pages
  // The backend's modes and model; set before backendReady (again after the model is reloaded).
  std::vector<Mode> modes() const;
  QString modelName() const;

 public slots:
  void loadBackend();

 signals:
  void backendReady(const QString& description);
  void backendFailed(const QString& message);
  // The model's files changed on disk (the message says which): the worker loads it again before the next pages
  // and reports backendReady or backendFailed once more.
  void modelChanged(const QString& message);
  void pageStarted(int page);
  void pageProgress(int page, const QString& raw_text, int tokens, double tokens_per_second);
  void pageFinished(int page, const folio::app::JobOutcome& outcome);
  void pageFailed(int page, const QString& message);

 private slots:
  void processQueue();

 private:
  // A job with its page image rendered, ready for the backend.
  struct ReadyJob {
    PageJob job;
    JobOutcome outcome;  // image_size, offset, region_only filled in
    RgbImage input;
    std::shared_ptr<std::atomic<bool>> cancel;
  };
  QList<PageJob> takeJobs();  // the next jobs to run together
  void runJobs(const QList<PageJob>& jobs);
  std::optional<ReadyJob> prepare(const PageJob& job);  // its page rendered, or it reported failed
  // Hands over a page's result; loop: why the loop detector stopped it, or empty.
  void finish(const ReadyJob& ready, Result result, const QString& loop);
  // Starts rendering the pages of the queue's next jobs, as many as run together; mutex_ held.
  void prefetchQueued();
  // Loads the model again if its files changed since it was loaded, or retries a reload that failed.
  void reloadIfModelChanged();

  BackendFactory factory_;
  std::unique_ptr<OcrBackend> backend_;
  std::vector<Mode> modes_;  // the backend's, set before backendReady; mutex_
  QString model_name_;       // the backend's modelName(), set before backendReady; mutex_
  QString backend_error_;
  bool reload_failed_ = false;  // the model changed on disk and could not be loaded again (yet)
  std::atomic<int> at_once_{1};  // the backend's pagesInFlight(), readable from any thread
  PagePrefetcher prefetcher_;
  mutable QMutex mutex_;
  QQueue<PageJob> queue_;
  QMultiHash<int, std::shared_ptr<std::atomic<bool>>> running_;  // cancel flags of the jobs being read, by page
};

// Owns the worker thread: starts it, loads the backend in it, and stops it on destruction.
class OcrService : public QObject {
  Q_OBJECT
 public:
  explicit OcrService(BackendFactory factory, QObject* parent = nullptr);
  ~OcrService() override;
  OcrWorker* worker() const { return worker_; }
  // Loads the backend on the worker thread. Call after connecting to the worker's signals, so that a backend
  // that fails at once (no model) cannot report before anyone listens.
  void start();

 private:
  QThread thread_;
  OcrWorker* worker_;
};

}  // namespace folio::app

Q_DECLARE_METATYPE(folio::app::JobOutcome)
