#include "ocr_worker.h"

#include "output_review.h"

#include <QElapsedTimer>
#include <algorithm>
#include <new>

#ifdef Q_OS_LINUX
#include <sys/resource.h>
#include <unistd.h>
#endif

namespace folio::app {
namespace {
// Streaming more often than this only costs the GUI time; the last update always goes out.
constexpr qint64 kProgressIntervalMs = 15;

PageKey keyOf(const PageJob& job) { return {job.source, job.source_page, job.dpi, job.password}; }

// Linux's default scheduler ignores QThread priorities, so there the calling thread's nice value goes up instead
// (threads it starts later, such as libtorch's, inherit it): when cores are short the GUI thread runs first.
void lowerThisThreadsPriority() {
#ifdef Q_OS_LINUX
  constexpr int kBackgroundNice = 10;
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kBackgroundNice);
#else
  QThread::currentThread()->setPriority(QThread::LowPriority);
#endif
}
}  // namespace

RgbImage toRgbImage(const QImage& image) {
  QImage rgb = image.convertToFormat(QImage::Format_RGB888);
  RgbImage out;
  out.width = rgb.width();
  out.height = rgb.height();
  out.pixels.resize(static_cast<std::size_t>(out.width) * out.height * 3);
  for (int y = 0; y < out.height; ++y)
    std::memcpy(out.pixels.data() + static_cast<std::size_t>(y) * out.width * 3, rgb.constScanLine(y),
                static_cast<std::size_t>(out.width) * 3);
  return out;
}

OcrWorker::OcrWorker(BackendFactory factory)
    : factory_(std::move(factory)),
      // The batch running and the next one: enough for the GPU never to wait, bounded in memory.
      prefetcher_(defaultRenderThreads(), 2 * Engine::kMaxPagesInFlight) {
  qRegisterMetaType<JobOutcome>();
}

OcrWorker::~OcrWorker() = default;

void OcrWorker::loadBackend() {
  lowerThisThreadsPriority();  // before the backend starts threads of its own
  try {
    backend_ = factory_();
    at_once_ = std::max(backend_->pagesInFlight(), 1);
    {
      QMutexLocker lock(&mutex_);
      modes_ = backend_->modes();
      model_name_ = backend_->modelName();
    }
    emit backendReady(backend_->description());
  } catch (const std::exception& error) {
    backend_error_ = QString::fromUtf8(error.what());
    emit backendFailed(backend_error_);
  }
}

std::vector<Mode> OcrWorker::modes() const {
  QMutexLocker lock(&mutex_);
  return modes_;
}

QString OcrWorker::modelName() const {
  QMutexLocker lock(&mutex_);
  return model_name_;
}

// Looked at before each batch, not watched: a stat of a few files costs microseconds next to a page, and the
// pages of a batch then all run on one model. Pages already running finish on the model they started with.
void OcrWorker::reloadIfModelChanged() {
  if (backend_) {
    const QString change = backend_->changedOnDisk();
    if (change.isEmpty()) return;
    emit modelChanged(change);
  } else if (!reload_failed_) {
    return;  // never loaded: the first failure stands (no model found, a wrong folder)
  }
  backend_.reset();  // frees the old weights before the new ones load
  loadBackend();
  reload_failed_ = !backend_;
}

void OcrWorker::enqueue(const PageJob& job) { enqueue(QList<PageJob>{job}); }

void OcrWorker::enqueue(const QList<PageJob>& jobs) {
  {
    QMutexLocker lock(&mutex_);
    for (const PageJob& job : jobs) queue_.enqueue(job);
    prefetchQueued();
  }
  QMetaObject::invokeMethod(this, &OcrWorker::processQueue, Qt::QueuedConnection);
}

void OcrWorker::cancelCurrent() {
  QMutexLocker lock(&mutex_);
  for (const auto& cancel : running_) *cancel = true;
}

QList<int> OcrWorker::cancelPage(int page) {
  QMutexLocker lock(&mutex_);
  const auto removed = queue_.removeIf([&](const PageJob& job) {
    if (job.page == page) prefetcher_.drop(keyOf(job));
    return job.page == page;
  });
  for (const auto& cancel : running_.values(page)) *cancel = true;
  return QList<int>(removed, page);
}

QList<int> OcrWorker::cancelAll() {
  QList<int> removed;
  QMutexLocker lock(&mutex_);
  for (const PageJob& job : queue_) {
    removed << job.page;
    prefetcher_.drop(keyOf(job));
  }
  queue_.clear();
  for (const auto& cancel : running_) *cancel = true;
  return removed;
}

void OcrWorker::processQueue() {
  for (QList<PageJob> jobs = takeJobs(); !jobs.isEmpty(); jobs = takeJobs()) runJobs(jobs);
}

QList<PageJob> OcrWorker::takeJobs() {
  QMutexLocker lock(&mutex_);
  QList<PageJob> jobs;
  while (!queue_.isEmpty() && jobs.size() < at_once_) jobs << queue_.dequeue();
  // The next batch's pages render while this one is on the GPU.
  prefetchQueued();
  return jobs;
}

void OcrWorker::prefetchQueued() {
  for (int i = 0; i < std::min<int>(at_once_, static_cast<int>(queue_.size())); ++i) prefetcher_.prefetch(keyOf(queue_[i]));
}

std::optional<OcrWorker::ReadyJob> OcrWorker::prepare(const PageJob& job) {
  emit pageStarted(job.page);
  try {
    RenderedPage rendered = prefetcher_.take(keyOf(job));  // first: it frees the page's place in any case
    if (!backend_) throw Error(backend_error_.isEmpty() ? "No OCR backend" : backend_error_.toStdString());
    if (rendered.image.isNull()) throw Error(rendered.error.toStdString());
    QImage page = std::move(rendered.image);
    ReadyJob ready{job, {}, {}, std::make_shared<std::atomic<bool>>(false)};
    ready.outcome.image_size = page.size();
    if (!job.region.isEmpty()) {
      QRect region = job.region.toAlignedRect().intersected(page.rect());
      if (region.isEmpty()) throw Error("The selected region lies outside the page");
      page = page.copy(region);
      ready.outcome.offset = region.topLeft();
      ready.outcome.region_only = true;
    }
    ready.input = toRgbImage(page);
    return ready;
  } catch (const std::bad_alloc&) {
    emit pageFailed(job.page, tr("Out of memory while reading page %1").arg(job.page + 1));
  } catch (const std::exception& error) {
    emit pageFailed(job.page, QString::fromUtf8(error.what()));
  }
  return std::nullopt;
}

void OcrWorker::runJobs(const QList<PageJob>& jobs) {
  reloadIfModelChanged();
  std::vector<ReadyJob> ready;
  for (const PageJob& job : jobs)
    if (auto prepared = prepare(job)) ready.push_back(std::move(*prepared));
  if (ready.empty()) return;
  std::vector<RgbImage> pages;
  std::vector<RunOptions> options;
  std::vector<const std::atomic<bool>*> cancels;
  {
    QMutexLocker lock(&mutex_);
    for (ReadyJob& r : ready) {
      pages.push_back(std::move(r.input));
      options.push_back(r.job.options);
      options.back().mode = availableMode(options.back().mode, modes_);  // mutex_ held
      cancels.push_back(r.cancel.get());
      running_.insert(r.job.page, r.cancel);
    }
  }
  std::vector<QElapsedTimer> since_last(ready.size());
  for (QElapsedTimer& timer : since_last) timer.start();
  // Watched here, on the worker thread, after every token: a page whose text has become a loop is stopped
  // between two decoding steps instead of running on to the token limit; the others go on.
  std::vector<LoopDetector> loops(ready.size());
  auto on_progress = [&](std::size_t i, const Progress& progress) {
    if (!loops[i].feed(progress.text, progress.generated_tokens).isEmpty()) *ready[i].cancel = true;
    if (since_last[i].elapsed() < kProgressIntervalMs && progress.generated_tokens > 1) return;
    since_last[i].restart();
    emit pageProgress(ready[i].job.page, QString::fromUtf8(progress.text.data(), progress.text.size()),
                      progress.generated_tokens, progress.tokens_per_second);
  };
  // A page is finished as soon as its own decoding ends, not when the batch's last page does.
  std::vector<bool> finished(ready.size(), false);
  const auto settle = [&](std::size_t i) {  // page i is no longer running: its result or failure follows
    QMutexLocker lock(&mutex_);
    running_.remove(ready[i].job.page, ready[i].cancel);
    finished[i] = true;
  };
  auto on_finished = [&](std::size_t i, Result result) {
    settle(i);
    finish(ready[i], std::move(result), loops[i].reason());
  };
  auto on_failed = [&](std::size_t i, const QString& message) {
    settle(i);
    emit pageFailed(ready[i].job.page, message);
  };
  QString failure;
  try {
    backend_->runBatch(pages, options, {on_progress, on_finished, on_failed}, cancels);
  } catch (const std::bad_alloc&) {  // the pages that had finished keep their results
    const auto unfinished = std::count(finished.begin(), finished.end(), false);
    failure = tr("Out of memory while reading %n page(s)", nullptr, int(unfinished));
  } catch (const std::exception& error) {
    failure = QString::fromUtf8(error.what());
  }
  {
    QMutexLocker lock(&mutex_);
    for (const ReadyJob& r : ready) running_.remove(r.job.page, r.cancel);
  }
  for (std::size_t i = 0; i < ready.size(); ++i) {
    if (finished[i]) continue;
    emit pageFailed(ready[i].job.page,
                    failure.isEmpty() ? tr("The engine returned no result for this page") : failure);
  }
}

void OcrWorker::finish(const ReadyJob& ready, Result result, const QString& loop) {
  JobOutcome outcome = ready.outcome;
  outcome.result = std::move(result);
  outcome.model = modelName();
  if (!loop.isEmpty()) outcome.review_reasons << loop;
  outcome.review_reasons << reviewReasons(outcome.result);  // while cancelled still says who cut the text
  outcome.stopped_early = !loop.isEmpty() && outcome.result.cancelled;
  if (outcome.stopped_early) outcome.result.cancelled = false;
  emit pageProgress(ready.job.page, QString::fromStdString(outcome.result.raw_text), outcome.result.generated_tokens, 0);
  emit pageFinished(ready.job.page, outcome);
}

OcrService::OcrService(BackendFactory factory, QObject* parent)
    : QObject(parent), worker_(new OcrWorker(std::move(factory))) {
  worker_->moveToThread(&thread_);
  connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
  thread_.setObjectName("folio-ocr");
  thread_.start();
}

void OcrService::start() { QMetaObject::invokeMethod(worker_, &OcrWorker::loadBackend, Qt::QueuedConnection); }

OcrService::~OcrService() {
  worker_->cancelAll();
  thread_.quit();
  thread_.wait();
}

}  // namespace folio::app
