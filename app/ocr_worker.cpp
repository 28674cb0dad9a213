#include "ocr_worker.h"

#include "document.h"

#include <QElapsedTimer>
#include <new>

namespace folio::app {
namespace {
// Streaming more often than this only costs the GUI time; the last update always goes out.
constexpr qint64 kProgressIntervalMs = 15;
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

OcrWorker::OcrWorker(BackendFactory factory) : factory_(std::move(factory)) {
  qRegisterMetaType<JobOutcome>();
}

OcrWorker::~OcrWorker() = default;

void OcrWorker::loadBackend() {
  try {
    backend_ = factory_();
    emit backendReady(backend_->description());
  } catch (const std::exception& error) {
    backend_error_ = QString::fromUtf8(error.what());
    emit backendFailed(backend_error_);
  }
}

void OcrWorker::enqueue(const PageJob& job) {
  {
    QMutexLocker lock(&mutex_);
    queue_.enqueue(job);
  }
  QMetaObject::invokeMethod(this, &OcrWorker::processQueue, Qt::QueuedConnection);
}

void OcrWorker::cancelCurrent() { cancel_current_ = true; }

QList<int> OcrWorker::cancelAll() {
  QList<int> removed;
  {
    QMutexLocker lock(&mutex_);
    for (const PageJob& job : queue_) removed << job.page;
    queue_.clear();
  }
  cancel_current_ = true;
  return removed;
}

void OcrWorker::processQueue() {
  for (;;) {
    PageJob job;
    {
      QMutexLocker lock(&mutex_);
      if (queue_.isEmpty()) return;
      job = queue_.dequeue();
      cancel_current_ = false;
      current_page_ = job.page;
    }
    runJob(job);
    current_page_ = -1;
  }
}

QImage OcrWorker::renderPage(const PageJob& job) {
  std::shared_ptr<Document>& document = documents_[job.source];
  if (!document) {
    OpenResult opened = openDocument(job.source, job.password);
    if (!opened.document) throw Error(opened.error.toStdString());
    document = std::move(opened.document);
  }
  QImage image = document->renderPage(job.source_page, job.dpi);
  if (image.isNull()) throw Error(document->error().toStdString());
  return image;
}

void OcrWorker::runJob(const PageJob& job) {
  emit pageStarted(job.page);
  try {
    if (!backend_) throw Error(backend_error_.isEmpty() ? "No OCR backend" : backend_error_.toStdString());
    QImage page = renderPage(job);
    JobOutcome outcome;
    outcome.image_size = page.size();
    QImage input = page;
    if (!job.region.isEmpty()) {
      QRect region = job.region.toAlignedRect().intersected(page.rect());
      if (region.isEmpty()) throw Error("The selected region lies outside the page");
      input = page.copy(region);
      outcome.offset = region.topLeft();
      outcome.region_only = true;
    }
    QElapsedTimer since_last;
    since_last.start();
    auto on_progress = [&](const Progress& progress) {
      if (since_last.elapsed() < kProgressIntervalMs && progress.generated_tokens > 1) return;
      since_last.restart();
      emit pageProgress(job.page, QString::fromUtf8(progress.text.data(), progress.text.size()),
                        progress.generated_tokens, progress.tokens_per_second);
    };
    outcome.result = backend_->run(toRgbImage(input), job.options, on_progress, &cancel_current_);
    emit pageProgress(job.page, QString::fromStdString(outcome.result.raw_text), outcome.result.generated_tokens, 0);
    emit pageFinished(job.page, outcome);
  } catch (const std::bad_alloc&) {
    emit pageFailed(job.page, tr("Out of memory while reading page %1").arg(job.page + 1));
  } catch (const std::exception& error) {
    emit pageFailed(job.page, QString::fromUtf8(error.what()));
  }
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
