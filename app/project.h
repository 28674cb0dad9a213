// The project: the pages the user opened, the model's output for each and the user's edits. It saves itself
// (debounced, atomically through QSaveFile) to <folder>/project.json after every change, so closing, a crash
// or a kill loses at most the last fraction of a second.
#pragma once

#include <folio/engine.h>

#include <QList>
#include <QObject>
#include <QRectF>
#include <QSize>
#include <QString>
#include <QTimer>

namespace folio::app {

enum class PageStatus { Pending, Queued, Running, Done, Failed, Cancelled };
QString statusName(PageStatus status);

// A grounded region in the page's markdown: character positions (QString indices) and boxes in pixels of
// the page image the model saw (image_size of its Page).
struct PageRegion {
  QString label;
  QList<QRectF> boxes;
  int begin = 0;
  int end = 0;
  QString figure_link;
};

struct Page {
  QString source;       // the file the page comes from
  int source_page = 0;  // 0-based page (PDF) or frame (image) in it
  PageStatus status = PageStatus::Pending;
  QString raw_text;   // the model's text, special tokens kept
  QString markdown;   // what the editor shows: model output, then the user's edits
  QList<PageRegion> regions;
  QSize image_size;   // the page image the boxes refer to
  double dpi = 144;   // the resolution PDF pages were rasterised at for the model
  bool edited = false;
  QString error;
  QString figure_stem() const;
};

// Regions of an engine result as character positions; boxes shifted by offset (for region-only OCR).
QList<PageRegion> regionsFromGrounded(const GroundedText& grounded, QPointF offset = {});

class Project : public QObject {
  Q_OBJECT
 public:
  explicit Project(QObject* parent = nullptr);
  ~Project() override;

  // The folder the project saves into (created when missing). Empty: no autosave.
  void setFolder(const QString& folder);
  QString folder() const { return folder_; }
  bool load(const QString& folder, QString* error);
  bool save(QString* error = nullptr);
  void flush();  // saves now if a save is pending

  int pageCount() const { return pages_.size(); }
  const Page& page(int index) const { return pages_.at(index); }
  int addPage(const Page& page);
  void clear();

  void setStatus(int index, PageStatus status, const QString& error = {});
  // The model's result for the whole page (replaces text and regions; clears the edited flag).
  void setResult(int index, const Result& result, QSize image_size);
  // The model's result for a rectangle of the page: appended to the page's markdown with its regions.
  void appendRegionResult(int index, const Result& result, QPointF offset);
  // The user changed the editor text: position/removed/added as QTextDocument::contentsChange reports them.
  void applyEdit(int index, const QString& markdown, int position, int removed, int added);
  void setStreamingText(int index, const QString& raw_text);  // not saved until the page finishes

 signals:
  void pageChanged(int index);
  void pagesReset();
  void saveFailed(const QString& message);

 private:
  void scheduleSave();
  QString folder_;
  QList<Page> pages_;
  QTimer save_timer_;
};

}  // namespace folio::app
