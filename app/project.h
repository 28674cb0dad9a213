// The project: the pages the user opened, the documents they come from (by content hash), the model's output
// for each page and the user's edits. Nothing is lost to a crash or a kill: every change is appended at once to
// <folder>/journal.jsonl (the page as it is now), and a debounced save writes <folder>/project.json atomically
// (QSaveFile), keeps the copy before it as project.json.bak and empties the journal. Loading replays the journal
// over the newest readable copy; a damaged project.json is kept aside and the previous copy used instead.
#pragma once

#include <folio/engine.h>

#include <QFile>
#include <QJsonObject>
#include <QList>
#include <QObject>
#include <QRectF>
#include <QSize>
#include <QString>
#include <QTimer>

namespace folio::app {

enum class PageStatus { Pending, Queued, Running, Done, Failed, Cancelled };
QString statusName(PageStatus status);
PageStatus statusFromName(const QString& name);  // Pending for a name it does not know
// A region's box as stored in project.json and the document JSON: [x1, y1, x2, y2] in page pixels.
QRectF boxFromJson(const QJsonValue& box);

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
  QString review_reason;  // why the model's output needs a look (a loop, cut mid-tag, ...); empty: none
  QString model;          // which model read the page (OcrBackend::modelName), empty when unknown
  Mode mode = Mode::Gundam;  // the mode of the last whole-page reading
  QString figure_stem() const;
  bool needsReview() const { return !review_reason.isEmpty(); }
};

// The page strip's filter.
enum class PageFilter { All, NeedsReview, Edited, Failed };
bool pageMatches(const Page& page, PageFilter filter);

// A file the project's pages come from. The content hash identifies it wherever it moves.
struct SourceDocument {
  QString path;
  QString sha256;  // hex
  qint64 size = 0;
};

// The small record beside project.json that lists and finds projects without reading them whole.
struct ProjectSummary {
  QString folder;
  QString name;
  int pages = 0, done = 0, edited = 0, failed = 0, review = 0;
  QList<SourceDocument> documents;
  QString thumbnail;  // path of thumbnail.png, empty when there is none
  static ProjectSummary read(const QString& folder);  // name empty when the folder holds no project
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
  // Reads <folder>/project.json (or, when it is damaged or missing, project.json.bak) and replays the journal.
  // *warning says what was recovered, if anything; false and *error when nothing readable is there.
  bool load(const QString& folder, QString* error, QString* warning = nullptr);
  bool save(QString* error = nullptr);
  void flush();  // saves now if a save is pending
  // Saves a copy into another folder and continues there (File > Save Project As).
  bool saveAs(const QString& folder, QString* error);

  QString name() const;  // the first document's file name
  int pageCount() const { return pages_.size(); }
  const Page& page(int index) const { return pages_.at(index); }
  int addPage(const Page& page);
  int addPages(const QList<Page>& pages);  // one pagesReset for all; returns the first one's index
  void clear();
  ProjectSummary summary() const;

  const QList<SourceDocument>& documents() const { return documents_; }
  void addDocument(const SourceDocument& document);
  int documentIndex(const QString& sha256) const;  // -1: not in this project
  // The document's file moved (or the user pointed at a copy): its pages read from new_path from now on.
  void relinkDocument(int index, const QString& new_path, const QString& sha256);

  void setStatus(int index, PageStatus status, const QString& error = {});
  // The model's result for the whole page (replaces text and regions; clears the edited flag).
  void setResult(int index, const Result& result, QSize image_size, const QString& model = {});
  // The model's result for a rectangle of the page: appended to the page's markdown with its regions.
  void appendRegionResult(int index, const Result& result, QPointF offset);
  // The user changed the editor text: position/removed/added as QTextDocument::contentsChange reports them.
  void applyEdit(int index, const QString& markdown, int position, int removed, int added);
  void setStreamingText(int index, const QString& raw_text);  // not saved until the page finishes
  void setReviewReason(int index, const QString& reason);     // empty: accepted as it is
  void setMode(int index, Mode mode);
  int nextNeedingReview(int after, int step = 1) const;  // the next page (wrapping around) or -1
  // The markdown of the model's last whole-page reading (before the user's edits and region readings).
  QString modelMarkdown(int index) const;
  void revertToModel(int index);  // the page's markdown and regions back to the model's reading

 signals:
  void pageChanged(int index);
  void pagesReset();
  void saveFailed(const QString& message);

 private:
  void changed(int index);  // journals the page, tells the views, schedules the save
  void scheduleSave();
  void journal(QJsonObject entry);
  void clearJournal();
  bool readSaved(const QString& folder, QString* error, QString* warning);
  int replayJournal(const QString& folder);  // returns how many changes it replayed
  bool writeProjectFile(const QString& folder, QString* error);
  QString storedPath(const QString& path) const;  // relative when the file sits beside the project
  QString resolvedPath(const QString& stored) const;

  QString folder_;
  QList<Page> pages_;
  QList<SourceDocument> documents_;
  QTimer save_timer_;
  QFile journal_;
  qint64 sequence_ = 0;  // of the last change; project.json says up to which one it holds
};

}  // namespace folio::app
