#pragma once

#include "diff_view.h"
#include "document.h"
#include "export_formats.h"
#include "markdown_editor.h"
#include "model_download_dialog.h"
#include "ocr_worker.h"
#include "page_view.h"
#include "project.h"
#include "review_bar.h"
#include "settings.h"
#include "start_screen.h"
#include "thumbnail_renderer.h"

#include <QElapsedTimer>
#include <QMainWindow>
#include <QPointer>
#include <memory>

class QLabel;
class QListWidget;
class QProgressBar;
class QComboBox;
class QMenu;
class QPushButton;
class QStackedWidget;
class QTabWidget;
class QTextBrowser;

namespace folio::ui {

// Builds the OCR backend for the current settings (the local engine in the product, a fake in tests).
using BackendMaker = std::function<app::BackendFactory(const app::AppSettings&)>;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  // project_folder: open (or start) that project; empty: the start screen, and each document opened from there
  // finds its own project again by its content (app/project_library.h).
  MainWindow(BackendMaker backend_maker, const QString& project_folder, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens a file. With no project open, a document Folio has read before reopens its project (its pages, the
  // model's output, the edits); a new one gets a project of its own. With a project open, the file's pages
  // (page_range like "1-3,5"; empty: all) are added to it. Errors appear in the window.
  bool openFile(const QString& path, const QString& page_range = {});
  bool openProject(const QString& folder);
  void closeProject();  // back to the start screen; the project stays on disk and in the recent list
  bool saveProjectAs(const QString& folder);
  // Asked when a document's file changed since its project read it: true keeps the old results.
  void setChangedDocumentQuestion(std::function<bool(const QString& path)> ask) { keep_old_results_ = std::move(ask); }
  // Asked when an opened project's source is not where it was: where it is now (empty: not found).
  void setMissingSourceQuestion(std::function<QString(const QString& path)> ask) { find_missing_ = std::move(ask); }
  void showPage(int index);
  int currentPage() const { return current_page_; }

  app::Project& project() { return project_; }
  PageView* pageView() const { return view_; }
  MarkdownEditor* editor() const { return editor_; }
  DiffView* diffView() const { return diff_; }
  QTextBrowser* preview() const { return preview_; }
  QListWidget* pageStrip() const { return strip_; }
  ReviewBar* reviewBar() const { return review_bar_; }
  void setPageFilter(app::PageFilter filter);
  QString bannerText() const;
  StartScreen* startScreen() const { return start_; }
  bool showingStartScreen() const;
  // Shown beside the banner while no model is configured or found.
  QPushButton* downloadModelButton() const { return download_button_; }
  QPushButton* downloadModel2Button() const { return download2_button_; }
  ModelDownloadDialog* downloadDialog() const { return download_dialog_; }
  app::OcrWorker* worker() const { return service_->worker(); }
  void setRunOptions(Mode mode, Task task, int max_tokens = 8192);
  const RunOptions& runOptions() const { return run_options_; }
  void saveState();  // the project and settings to disk now (close, logout, a termination signal)

 public slots:
  void runAll();
  bool runPage(int index, bool ask_before_overwrite = true);
  void runRegion(const QRectF& page_rect);
  void cancelPage();
  void cancelAll();
  void exportMarkdownTo(const QString& path, bool per_page);
  // File > Export As: any format, the whole document or the pages selected in the strip (JSON: always whole).
  bool exportAs(app::ExportFormat format, const QString& path, bool selected_pages_only);
  void copyPageMarkdown();
  void downloadModel(const QString& repo);  // opens the download dialog (one at a time); the model loads when it is done
  void nextPageToReview(int step = 1);  // -1: the previous one
  void acceptPage();                    // the current page's output is fine: clears its review, goes on
  void rerunPageWith(Mode mode, Task task);
  void showChanges(bool on);  // the user's edit against the model's output, in a tab beside the editor
  void revertPage(bool confirm = true);  // the current page back to the model's output

 signals:
  void backendStateChanged(bool ready);
  void queueFinished();

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void buildUi();
  QWidget* buildDocumentPanel();
  void buildActions();
  void updateCentral();  // the start screen while no page is open
  void refreshRecent();
  void rebuildRecentMenu();
  void useProject(const QString& folder);  // records it as the last and a recent project at once
  QString hashFile(const QString& path);   // off the GUI thread; the window stays live meanwhile
  bool reopenKnownDocument(const QString& path, const QString& sha256);
  bool addDocumentPages(const QString& path, const QString& sha256, std::unique_ptr<app::Document> document,
                        const QString& page_range);
  void writeThumbnail(const app::Document& document, int page);
  void locateMissingSources();
  void resumeQueuedPages();
  void stopAllWork();  // cancels the queue and waits for the running pages; they come back queued
  void saveProjectAsDialog();
  void openProjectDialog();
  void startBackend();
  void showError(const QString& message);
  void onBackendFailed(const QString& message);
  void onModelDownloaded(const QString& snapshot_dir);
  void updateStripItem(int index);
  QWidget* buildStripPanel();
  void onThumbnailRendered(int index, const QImage& thumbnail);
  void rebuildStrip();
  void updateLegend();
  void updateProgress(double tokens_per_second = 0);
  void updatePreview();
  void enqueue(int index, const QRectF& region = {});
  void dequeued(const QList<int>& pages);  // jobs cancelled before they ran: their pages back to pending
  // The job for a page (or a region of it), its page marked queued and counted in the progress.
  app::PageJob queueJob(int index, const QRectF& region = {});
  std::shared_ptr<app::Document> document(const QString& path);
  QImage renderPage(int index, double scale);
  bool renderInView(int index);  // false: the page cannot be rendered (the banner says why)
  void onPageStarted(int page);
  void onPageProgress(int page, const QString& raw_text, int tokens, double tokens_per_second);
  void onPageFinished(int page, const app::JobOutcome& outcome);
  void onPageFailed(int page, const QString& message);
  void onEditorChanged(int position, int removed, int added);
  void onCursorMoved();
  void onRegionClicked(int region);
  void openDialog();
  void exportDialog(bool per_page);
  void exportAsDialog();
  void settingsDialog();
  void rerunDialog();

  BackendMaker backend_maker_;
  std::function<bool(const QString&)> keep_old_results_;
  std::function<QString(const QString&)> find_missing_;
  app::AppSettings settings_;
  app::Project project_;
  std::unique_ptr<app::OcrService> service_;
  QHash<QString, std::shared_ptr<app::Document>> documents_;
  app::ThumbnailRenderer thumbnail_renderer_;
  QHash<QString, QIcon> thumbnails_;  // by source and page, kept across strip rebuilds
  QHash<QString, QString> passwords_;
  RunOptions run_options_;
  std::vector<Mode> modes_ = supportedModes(ModelFamily::DeepseekOcr);  // the loaded model's
  // Mode names with those the model lacks greyed out, `current` chosen (or the nearest it has).
  void fillModeBox(QComboBox* box, Mode current) const;
  int current_page_ = -1;

  QStackedWidget* stack_ = nullptr;
  StartScreen* start_ = nullptr;
  QMenu* recent_menu_ = nullptr;
  PageView* view_ = nullptr;
  MarkdownEditor* editor_ = nullptr;
  QTextBrowser* preview_ = nullptr;
  QTabWidget* editor_tabs_ = nullptr;
  DiffView* diff_ = nullptr;
  QListWidget* strip_ = nullptr;
  QComboBox* strip_filter_ = nullptr;
  ReviewBar* review_bar_ = nullptr;
  QWidget* banner_box_ = nullptr;  // the banner's text and, when the model is missing, the download button
  QLabel* banner_ = nullptr;
  QPushButton* download_button_ = nullptr;   // DeepSeek-OCR
  QPushButton* download2_button_ = nullptr;  // DeepSeek-OCR-2
  QPointer<ModelDownloadDialog> download_dialog_;
  QLabel* legend_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* progress_label_ = nullptr;
  QTimer* preview_timer_ = nullptr;

  // The current batch, for the progress bar and ETA.
  int batch_total_ = 0;
  int batch_done_ = 0;
  QElapsedTimer batch_clock_;
};

}  // namespace folio::ui
