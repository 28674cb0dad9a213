// The page strip's thumbnails, rendered on a thread of their own at low priority: opening or reopening a 500-page
// book shows its strip at once and fills the pictures in, instead of the GUI thread rendering every page first.
#pragma once

#include "page_prefetcher.h"

#include <QImage>
#include <QObject>
#include <QThreadPool>
#include <atomic>

namespace folio::app {

class ThumbnailRenderer : public QObject {
  Q_OBJECT
 public:
  explicit ThumbnailRenderer(QObject* parent = nullptr);
  ~ThumbnailRenderer() override;

  // Renders the page and scales it to `width`; rendered() reports it on this object's thread.
  void request(int index, const PageKey& key, int width);
  // The pages are about to change: thumbnails not yet reported are dropped.
  void cancelAll();

 signals:
  void rendered(int index, const QImage& thumbnail);

 private:
  QThreadPool pool_;
  std::atomic<int> generation_{0};
};

}  // namespace folio::app
