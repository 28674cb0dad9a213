#include "thumbnail_renderer.h"

namespace folio::app {

ThumbnailRenderer::ThumbnailRenderer(QObject* parent) : QObject(parent) {
  pool_.setMaxThreadCount(1);
  pool_.setThreadPriority(QThread::LowPriority);  // the pages the OCR worker waits for go first
  pool_.setObjectName("folio-thumbnails");
}

ThumbnailRenderer::~ThumbnailRenderer() {
  cancelAll();
  pool_.waitForDone();
}

void ThumbnailRenderer::request(int index, const PageKey& key, int width) {
  const int generation = generation_;
  pool_.start([this, index, key, width, generation] {
    if (generation != generation_) return;
    const RenderedPage page = renderPageOnThisThread(key);
    if (page.image.isNull() || generation != generation_) return;
    const QImage thumbnail = page.image.scaledToWidth(width, Qt::SmoothTransformation);
    QMetaObject::invokeMethod(this, [this, index, thumbnail, generation] {
      if (generation == generation_) emit rendered(index, thumbnail);
    }, Qt::QueuedConnection);
  });
}

void ThumbnailRenderer::cancelAll() {
  ++generation_;
  pool_.clear();
}

}  // namespace folio::app
