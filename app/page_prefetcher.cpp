#include "page_prefetcher.h"

#include "document.h"

#include <QThread>
#include <QtConcurrent>
#include <algorithm>
#include <memory>
#include <new>

namespace folio::app {
RenderedPage renderPageOnThisThread(const PageKey& key) {
  thread_local QHash<QString, std::shared_ptr<Document>> documents;
  try {
    std::shared_ptr<Document>& document = documents[key.source];
    if (!document) {
      OpenResult opened = openDocument(key.source, key.password);
      if (!opened.document) {
        documents.remove(key.source);
        return {{}, opened.error};
      }
      document = std::move(opened.document);
    }
    QImage image = document->renderPage(key.source_page, key.dpi);
    if (image.isNull()) return {{}, document->error()};
    return {std::move(image), {}};
  } catch (const std::bad_alloc&) {
    return {{}, QObject::tr("%1: out of memory while rendering page %2").arg(key.source).arg(key.source_page + 1)};
  }
}

size_t qHash(const PageKey& key, size_t seed) { return qHashMulti(seed, key.source, key.source_page, key.dpi); }

int defaultRenderThreads() { return std::clamp(QThread::idealThreadCount() - 2, 1, 4); }

PagePrefetcher::PagePrefetcher(int threads, int ahead) : ahead_(std::max(ahead, 1)) {
  pool_.setMaxThreadCount(std::max(threads, 1));
  pool_.setObjectName("folio-render");
}

PagePrefetcher::~PagePrefetcher() { pool_.waitForDone(); }

QFuture<RenderedPage> PagePrefetcher::start(const PageKey& key) {
  return QtConcurrent::run(&pool_, [key] { return renderPageOnThisThread(key); });
}

void PagePrefetcher::prefetch(const PageKey& key) {
  QMutexLocker lock(&mutex_);
  if (held_.contains(key) || held_.size() >= ahead_) return;
  held_.insert(key, start(key));
}

RenderedPage PagePrefetcher::take(const PageKey& key) {
  QFuture<RenderedPage> future;
  {
    QMutexLocker lock(&mutex_);
    future = held_.take(key);
  }
  if (!future.isValid()) future = start(key);
  return future.result();
}

void PagePrefetcher::drop(const PageKey& key) {
  QMutexLocker lock(&mutex_);
  held_.remove(key);  // a render in progress finishes on its own; its result is discarded
}

bool PagePrefetcher::ready(const PageKey& key) const {
  QMutexLocker lock(&mutex_);
  const auto it = held_.constFind(key);
  return it != held_.constEnd() && it->isFinished();
}

int PagePrefetcher::held() const {
  QMutexLocker lock(&mutex_);
  return static_cast<int>(held_.size());
}

}  // namespace folio::app
