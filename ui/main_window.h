#pragma once

#include "document.h"
#include "markdown_editor.h"
#include "model_download_dialog.h"
#include "ocr_worker.h"
#include "page_view.h"
#include "project.h"
#include "settings.h"

#include <QElapsedTimer>
#include <QMainWindow>
#include <QPointer>
#include <memory>

class QLabel;
class QListWidget;
class QProgressBar;
class QPushButton;
class QTextBrowser;

namespace folio::ui {

// Builds the OCR backend for the current settings (the local engine in the product, a fake in tests).
using BackendMaker = std::function<app::BackendFactory(const app::AppSettings&)>;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  MainWindow(BackendMaker backend_maker, const QString& project_folder, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Adds the pages of a file (page_range like "1-3,5"; empty: all). Errors appear in the window.
  bool openFile(const QString& path, const QString& page_range = {});
  void showPage(int index);
  int currentPage() const { return current_page_; }

  app::Project& project() { return project_; }
  PageView* pageView() const { return view_; }
  MarkdownEditor* editor() const { return editor_; }
  QListWidget* pageStrip() const { return strip_; }
  QString bannerText() const;
  // Shown beside the banner while no model is configured or found.
  QPushButton* downloadModelButton() const { return download_button_; }
  ModelDownloadDialog* downloadDialog() const { return download_dialog_; }
  app::OcrWorker* worker() const { return service_->worker(); }
  void setRunOptions(Mode mode, Task task, int max_tokens = 8192);

 public slots:
  void runAll();
  bool runPage(int index, bool ask_before_overwrite = true);
  void runRegion(const QRectF& page_rect);
  void cancelPage();
  void cancelAll();
  void exportMarkdownTo(const QString& path, bool per_page);
  void copyPageMarkdown();
  void downloadModel();  // opens the download dialog (one at a time); the model loads when it is done

 signals:
  void backendStateChanged(bool ready);
  void queueFinished();

 protected:
  void closeEvent(QCloseEvent* event) override;
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  void buildUi();
  void buildActions();
  void startBackend();
  void showError(const QString& message);
  void onBackendFailed(const QString& message);
  void onModelDownloaded(const QString& snapshot_dir);
  void updateStripItem(int index);
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
  void settingsDialog();
  void rerunDialog();

  BackendMaker backend_maker_;
  app::AppSettings settings_;
  app::Project project_;
  std::unique_ptr<app::OcrService> service_;
  QHash<QString, std::shared_ptr<app::Document>> documents_;
  QHash<QString, QString> passwords_;
  RunOptions run_options_;
  int current_page_ = -1;

  PageView* view_ = nullptr;
  MarkdownEditor* editor_ = nullptr;
  QTextBrowser* preview_ = nullptr;
  QListWidget* strip_ = nullptr;
  QWidget* banner_box_ = nullptr;  // the banner's text and, when the model is missing, the download button
  QLabel* banner_ = nullptr;
  QPushButton* download_button_ = nullptr;
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
