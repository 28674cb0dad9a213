// Pages rendered ahead of the OCR worker, so that the GPU never waits on Poppler: the worker names the jobs it
// will run next, a small pool of threads of its own renders them meanwhile (several pages at once), and when the
// worker takes a job's page it has usually been ready for a while. At most `ahead` rendered pages are held at a
// time (a bounded queue: a 500-page book is not rendered into memory at once). Each pool thread opens its own
// copy of a document, since a Poppler document must not be rendered from two threads at once.
#pragma once

#include <QFuture>
#include <QHash>
#include <QImage>
#include <QMutex>
#include <QString>
#include <QThreadPool>

namespace folio::app {

// What is rendered: one page of one source at one resolution.
struct PageKey {
  QString source;
  int source_page = 0;
  double dpi = 144;
  QString password;
  bool operator==(const PageKey& other) const {
    return source == other.source && source_page == other.source_page && dpi == other.dpi;
  }
};
size_t qHash(const PageKey& key, size_t seed = 0);

struct RenderedPage {
  QImage image;  // null when the page could not be rendered
  QString error;  // then: why, naming the file
};

class PagePrefetcher {
 public:
  // threads: how many pages render at once; ahead: how many rendered or rendering pages are held at most.
  PagePrefetcher(int threads, int ahead);
  ~PagePrefetcher();
  PagePrefetcher(const PagePrefetcher&) = delete;
  PagePrefetcher& operator=(const PagePrefetcher&) = delete;

  // Starts rendering the page unless it is already held or `ahead` pages are. Thread-safe.
  void prefetch(const PageKey& key);
  // The page, rendered ahead or now (then on the pool too, so its document stays on one of the pool's threads);
  // waits for it. It is no longer held afterwards. Thread-safe.
  RenderedPage take(const PageKey& key);
  // Forgets a page that will not be taken (its job was cancelled). Thread-safe.
  void drop(const PageKey& key);
  int held() const;  // pages rendered or rendering, not yet taken
  bool ready(const PageKey& key) const;  // held and already rendered

 private:
  QFuture<RenderedPage> start(const PageKey& key);

  QThreadPool pool_;
  const int ahead_;
  mutable QMutex mutex_;
  QHash<PageKey, QFuture<RenderedPage>> held_;
};

// Renders on the calling thread with that thread's own copy of the document (opened at its first use there):
// for pool threads, never the GUI thread's documents.
RenderedPage renderPageOnThisThread(const PageKey& key);

// The pool size for this machine: one thread per core beyond the two that the GUI and the inference worker
// need, at least one and at most four (more does not pay for one GPU).
int defaultRenderThreads();

}  // namespace folio::app
