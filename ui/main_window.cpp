#include "main_window.h"

#include "exporter.h"
#include "local_engine_backend.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QCloseEvent>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QSpinBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTextBrowser>
#include <QToolBar>
#include <QVBoxLayout>

namespace folio::ui {
namespace {

constexpr int kThumbnailWidth = 96;
constexpr double kThumbnailDpi = 18;
const QStringList kModeNames = {"Tiny", "Small", "Base", "Large", "Gundam"};
const QStringList kTaskNames = {"Markdown", "OCR", "Free OCR", "Figure", "Describe", "Locate"};

QString statusText(const app::Page& page) {
  if (page.edited && page.status == app::PageStatus::Done) return QObject::tr("edited");
  return app::statusName(page.status);
}

}  // namespace

MainWindow::MainWindow(BackendMaker backend_maker, const QString& project_folder, QWidget* parent)
    : QMainWindow(parent), backend_maker_(std::move(backend_maker)) {
  QSettings settings;
  settings_ = app::AppSettings::load(settings);
  setRunOptions(settings_.mode, settings_.task, settings_.max_tokens);
  setWindowTitle(tr("Folio"));
  setAcceptDrops(true);
  resize(1280, 800);
  buildUi();
  buildActions();
  connect(&project_, &app::Project::pageChanged, this, &MainWindow::updateStripItem);
  connect(&project_, &app::Project::pagesReset, this, &MainWindow::rebuildStrip);
  connect(&project_, &app::Project::saveFailed, this, &MainWindow::showError);
  QString error;
  if (QFileInfo::exists(project_folder + "/project.json") && !project_.load(project_folder, &error)) showError(error);
  project_.setFolder(project_folder);
  startBackend();
  if (project_.pageCount() > 0) showPage(0);
}

MainWindow::~MainWindow() {
  service_.reset();  // stops the worker before the project goes
  project_.flush();
}

void MainWindow::buildUi() {
  banner_box_ = new QWidget(this);
  banner_box_->setObjectName("banner");
  banner_box_->setAttribute(Qt::WA_StyledBackground);
  banner_box_->setStyleSheet("#banner { background: #fff3cd; } #banner QLabel { color: #5c4400; padding: 6px; }");
  banner_ = new QLabel(banner_box_);
  banner_->setWordWrap(true);
  banner_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  download_button_ = new QPushButton(tr("Download DeepSeek-OCR (6.7 GB)"), banner_box_);
  download_button_->hide();
  connect(download_button_, &QPushButton::clicked, this, &MainWindow::downloadModel);
  auto* banner_layout = new QHBoxLayout(banner_box_);
  banner_layout->setContentsMargins(0, 0, 6, 0);
  banner_layout->addWidget(banner_, 1);
  banner_layout->addWidget(download_button_);
  banner_box_->hide();

  strip_ = new QListWidget(this);
  strip_->setViewMode(QListView::ListMode);
  strip_->setIconSize(QSize(kThumbnailWidth, kThumbnailWidth * 4 / 3));
  strip_->setMaximumWidth(kThumbnailWidth + 110);
  connect(strip_, &QListWidget::currentRowChanged, this, [this](int row) {
    if (row >= 0 && row != current_page_) showPage(row);
  });

  view_ = new PageView(this);
  legend_ = new QLabel(this);
  legend_->setWordWrap(true);
  auto* page_panel = new QWidget(this);
  auto* page_layout = new QVBoxLayout(page_panel);
  page_layout->setContentsMargins(0, 0, 0, 0);
  page_layout->addWidget(view_, 1);
  page_layout->addWidget(legend_);
  connect(view_, &PageView::regionClicked, this, &MainWindow::onRegionClicked);
  connect(view_, &PageView::regionSelected, this, &MainWindow::runRegion);

  editor_ = new MarkdownEditor(this);
  preview_ = new QTextBrowser(this);
  auto* tabs = new QTabWidget(this);
  tabs->addTab(editor_, tr("Markdown"));
  tabs->addTab(preview_, tr("Preview"));
  connect(editor_->document(), &QTextDocument::contentsChange, this, &MainWindow::onEditorChanged);
  connect(editor_, &QPlainTextEdit::cursorPositionChanged, this, &MainWindow::onCursorMoved);
  connect(tabs, &QTabWidget::currentChanged, this, &MainWindow::updatePreview);
  preview_timer_ = new QTimer(this);
  preview_timer_->setSingleShot(true);
  preview_timer_->setInterval(300);
  connect(preview_timer_, &QTimer::timeout, this, &MainWindow::updatePreview);

  auto* splitter = new QSplitter(this);
  splitter->addWidget(strip_);
  splitter->addWidget(page_panel);
  splitter->addWidget(tabs);
  splitter->setStretchFactor(1, 3);
  splitter->setStretchFactor(2, 2);
  splitter->setSizes({170, 740, 530});  // the page gets the most room at start

  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(banner_box_);
  layout->addWidget(splitter, 1);
  setCentralWidget(central);

  progress_ = new QProgressBar(this);
  progress_->setMaximumWidth(240);
  progress_label_ = new QLabel(this);
  statusBar()->addPermanentWidget(progress_label_);
  statusBar()->addPermanentWidget(progress_);
  progress_->hide();
}

void MainWindow::buildActions() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open…"), QKeySequence::Open, this, &MainWindow::openDialog);
  file->addAction(tr("&Export markdown…"), QKeySequence(tr("Ctrl+E")), this, [this] { exportDialog(false); });
  file->addAction(tr("Export markdown per &page…"), this, [this] { exportDialog(true); });
  file->addAction(tr("&Settings…"), this, &MainWindow::settingsDialog);
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  QMenu* edit = menuBar()->addMenu(tr("&Edit"));
  edit->addAction(tr("&Undo"), QKeySequence::Undo, editor_, &QPlainTextEdit::undo);
  edit->addAction(tr("&Redo"), QKeySequence::Redo, editor_, &QPlainTextEdit::redo);
  edit->addAction(tr("&Copy page markdown"), QKeySequence(tr("Ctrl+Shift+C")), this, &MainWindow::copyPageMarkdown);

  QMenu* run = menuBar()->addMenu(tr("&Run"));
  QToolBar* toolbar = addToolBar(tr("Main"));
  auto add = [&](QMenu* menu, const QString& text, auto slot, const QKeySequence& key = {}) {
    QAction* action = menu->addAction(text, key, this, slot);
    toolbar->addAction(action);
    return action;
  };
  add(run, tr("Run all"), &MainWindow::runAll, QKeySequence(tr("Ctrl+R")));
  add(run, tr("Run page"), [this] { runPage(current_page_); });
  run->addAction(tr("Re-run page with…"), this, &MainWindow::rerunDialog);
  add(run, tr("OCR region"), [this] { view_->setSelectingRegion(true); });
  add(run, tr("Cancel page"), &MainWindow::cancelPage);
  add(run, tr("Cancel all"), &MainWindow::cancelAll, QKeySequence(tr("Esc")));

  QMenu* view = menuBar()->addMenu(tr("&View"));
  add(view, tr("Fit width"), [this] { view_->fitWidth(); });
  add(view, tr("Fit page"), [this] { view_->fitPage(); });
  add(view, tr("Zoom in"), [this] { view_->zoomBy(1.25); }, QKeySequence::ZoomIn);
  add(view, tr("Zoom out"), [this] { view_->zoomBy(0.8); }, QKeySequence::ZoomOut);
  QAction* boxes = add(view, tr("Boxes"), [this](bool on) { view_->setBoxesVisible(on); });
  boxes->setCheckable(true);
  boxes->setChecked(true);
}

void MainWindow::startBackend() {
  service_.reset();
  service_ = std::make_unique<app::OcrService>(backend_maker_(settings_));
  app::OcrWorker* worker = service_->worker();
  connect(worker, &app::OcrWorker::backendReady, this, [this](const QString& description) {
    download_button_->hide();
    statusBar()->showMessage(tr("Model ready: %1").arg(description));
    emit backendStateChanged(true);
  });
  connect(worker, &app::OcrWorker::backendFailed, this, &MainWindow::onBackendFailed);
  connect(worker, &app::OcrWorker::pageStarted, this, &MainWindow::onPageStarted);
  connect(worker, &app::OcrWorker::pageProgress, this, &MainWindow::onPageProgress);
  connect(worker, &app::OcrWorker::pageFinished, this, &MainWindow::onPageFinished);
  connect(worker, &app::OcrWorker::pageFailed, this, &MainWindow::onPageFailed);
  service_->start();
}

QString MainWindow::bannerText() const { return banner_box_->isHidden() ? QString() : banner_->text(); }

void MainWindow::showError(const QString& message) {
  banner_->setText(message);
  banner_box_->show();
}

// Any backend failure can mean "no model"; the button appears only when none is configured or found, since a
// download cannot fix a wrong folder chosen in Settings.
void MainWindow::onBackendFailed(const QString& message) {
  showError(message);
  download_button_->setVisible(app::modelMissing(settings_.model_dir));
  emit backendStateChanged(false);
}

void MainWindow::downloadModel() {
  if (download_dialog_) {
    download_dialog_->raise();
    download_dialog_->activateWindow();
    return;
  }
  download_dialog_ = new ModelDownloadDialog({}, this);
  download_dialog_->setAttribute(Qt::WA_DeleteOnClose);
  connect(download_dialog_, &ModelDownloadDialog::modelReady, this, &MainWindow::onModelDownloaded);
  download_dialog_->start();
  download_dialog_->show();  // not modal: the documents stay usable during the download
}

void MainWindow::onModelDownloaded(const QString& snapshot_dir) {
  banner_box_->hide();
  download_button_->hide();
  statusBar()->showMessage(tr("Model downloaded to %1, loading it").arg(snapshot_dir));
  startBackend();
}

void MainWindow::setRunOptions(Mode mode, Task task, int max_tokens) {
  run_options_.mode = mode;
  run_options_.task = task;
  run_options_.max_new_tokens = max_tokens;
}

std::shared_ptr<app::Document> MainWindow::document(const QString& path) {
  std::shared_ptr<app::Document>& document = documents_[path];
  if (!document) {
    app::OpenResult opened = app::openDocument(path, passwords_.value(path));
    if (!opened.document) {
      documents_.remove(path);
      return nullptr;
    }
    document = std::move(opened.document);
  }
  return document;
}

bool MainWindow::openFile(const QString& path, const QString& page_range) {
  QString password;
  app::OpenResult opened = app::openDocument(path);
  while (opened.needs_password) {
    bool ok = false;
    password = QInputDialog::getText(this, tr("Password"), tr("%1 is encrypted. Password:").arg(path),
                                     QLineEdit::Password, {}, &ok);
    if (!ok) break;
    opened = app::openDocument(path, password);
  }
  if (!opened.document) {
    showError(opened.error);
    return false;
  }
  QString range_error;
  QList<int> pages = app::parsePageRange(page_range, opened.document->pageCount(), &range_error);
  if (pages.isEmpty()) {
    showError(range_error);
    return false;
  }
  passwords_[path] = password;
  documents_[path] = std::move(opened.document);
  int first = project_.pageCount();
  for (int source_page : pages) {
    app::Page page;
    page.source = path;
    page.source_page = source_page;
    page.dpi = settings_.dpi;
    project_.addPage(page);
  }
  showPage(first);
  return true;
}

void MainWindow::rebuildStrip() {
  strip_->clear();
  for (int i = 0; i < project_.pageCount(); ++i) {
    strip_->addItem(QString());
    updateStripItem(i);
  }
}

void MainWindow::updateStripItem(int index) {
  QListWidgetItem* item = strip_->item(index);
  if (!item) return;
  const app::Page& page = project_.page(index);
  item->setText(tr("Page %1\n%2").arg(index + 1).arg(statusText(page)));
  item->setToolTip(page.error.isEmpty() ? page.source : page.error);
  if (item->icon().isNull()) {
    std::shared_ptr<app::Document> doc = document(page.source);
    QImage thumb = doc ? doc->renderPage(page.source_page, kThumbnailDpi) : QImage();
    if (!thumb.isNull()) item->setIcon(QPixmap::fromImage(thumb.scaledToWidth(kThumbnailWidth, Qt::SmoothTransformation)));
  }
}

QImage MainWindow::renderPage(int index, double scale) {
  const app::Page& page = project_.page(index);
  std::shared_ptr<app::Document> doc = document(page.source);
  if (!doc) return {};
  return doc->renderPage(page.source_page, doc->isVector() ? page.dpi * scale : page.dpi);
}

void MainWindow::showPage(int index) {
  if (index < 0 || index >= project_.pageCount()) return;
  const app::Page& page = project_.page(index);
  // The page on view keeps its rendering (Poppler takes tens of ms on this thread) when only its status, boxes
  // and text change, as when its run starts or ends.
  const bool on_view = index == current_page_ && !view_->pageSize().isEmpty() &&
                       (page.image_size.isEmpty() || page.image_size == view_->pageSize());
  current_page_ = index;
  strip_->setCurrentRow(index);
  if (on_view || renderInView(index)) view_->setRegions(page.regions);
  bool running = page.status == app::PageStatus::Running;
  editor_->setTextSilently(running ? page.raw_text : page.markdown);
  editor_->setReadOnly(running);
  updateLegend();
  updatePreview();
}

bool MainWindow::renderInView(int index) {
  const app::Page& page = project_.page(index);
  QImage image = renderPage(index, 1.0);
  if (image.isNull()) {
    std::shared_ptr<app::Document> doc = document(page.source);
    showError(doc ? doc->error() : tr("%1 cannot be opened").arg(page.source));
    view_->clearPage();
    return false;
  }
  // Boxes refer to the image the model saw; before a run that is this rendering.
  QSize page_size = page.image_size.isEmpty() ? image.size() : page.image_size;
  view_->setPage(image, page_size, [this, index](double scale) { return renderPage(index, scale); });
  return true;
}

void MainWindow::updateLegend() {
  QStringList labels;
  if (current_page_ >= 0)
    for (const app::PageRegion& region : project_.page(current_page_).regions)
      if (!labels.contains(region.label)) labels << region.label;
  QStringList entries;
  for (const QString& label : labels)
    entries << QStringLiteral("<span style='color:%1'>&#9632;</span>&nbsp;%2").arg(labelColor(label).name(), label);
  legend_->setText(entries.join(QStringLiteral(" &nbsp; ")));
}

// Only while its tab is open: laying out a long page takes tens of ms of the GUI thread, at every page shown.
void MainWindow::updatePreview() {
  if (!preview_->isHidden()) preview_->setMarkdown(editor_->toPlainText());
}

void MainWindow::onRegionClicked(int region) {
  if (current_page_ < 0) return;
  const QList<app::PageRegion>& regions = project_.page(current_page_).regions;
  if (region < 0 || region >= regions.size()) return;
  editor_->selectRange(regions[region].begin, regions[region].end);
}

void MainWindow::onCursorMoved() {
  if (current_page_ < 0) return;
  int position = editor_->textCursor().selectionStart();
  const QList<app::PageRegion>& regions = project_.page(current_page_).regions;
  for (int r = 0; r < regions.size(); ++r) {
    if (position >= regions[r].begin && position < regions[r].end) {
      view_->highlightRegion(r);
      return;
    }
  }
  view_->highlightRegion(-1);
}

void MainWindow::onEditorChanged(int position, int removed, int added) {
  if (editor_->settingText() || editor_->isReadOnly() || current_page_ < 0) return;
  project_.applyEdit(current_page_, editor_->toPlainText(), position, removed, added);
  preview_timer_->start();
}

void MainWindow::enqueue(int index, const QRectF& region) { worker()->enqueue(queueJob(index, region)); }

app::PageJob MainWindow::queueJob(int index, const QRectF& region) {
  const app::Page& page = project_.page(index);
  app::PageJob job;
  job.page = index;
  job.source = page.source;
  job.source_page = page.source_page;
  job.password = passwords_.value(page.source);
  job.dpi = page.dpi;
  job.options = run_options_;
  job.options.figure_stem = page.figure_stem().toStdString();
  job.region = region;
  if (batch_done_ >= batch_total_) {
    batch_total_ = batch_done_ = 0;
    batch_clock_.start();
  }
  ++batch_total_;
  if (region.isEmpty()) project_.setStatus(index, app::PageStatus::Queued);
  updateProgress();
  return job;
}

void MainWindow::runAll() {
  QList<app::PageJob> jobs;  // enqueued at once, so that the worker can read them together
  for (int i = 0; i < project_.pageCount(); ++i) {
    app::PageStatus status = project_.page(i).status;
    bool waiting = status == app::PageStatus::Queued || status == app::PageStatus::Running;
    if (!waiting && status != app::PageStatus::Done && !project_.page(i).edited) jobs << queueJob(i);
  }
  if (!jobs.isEmpty()) worker()->enqueue(jobs);
}

bool MainWindow::runPage(int index, bool ask_before_overwrite) {
  if (index < 0 || index >= project_.pageCount()) return false;
  if (project_.page(index).edited && ask_before_overwrite &&
      QMessageBox::question(this, tr("Overwrite edits?"),
                            tr("Page %1 has your edits. Replace them with a new reading?").arg(index + 1)) !=
          QMessageBox::Yes)
    return false;
  enqueue(index);
  return true;
}

void MainWindow::runRegion(const QRectF& page_rect) {
  if (current_page_ >= 0) enqueue(current_page_, page_rect);
}

// Running pages report when they stop; the jobs taken out of the queue are done here.
void MainWindow::cancelPage() {
  if (current_page_ >= 0) dequeued(worker()->cancelPage(current_page_));
}

void MainWindow::cancelAll() { dequeued(worker()->cancelAll()); }

void MainWindow::dequeued(const QList<int>& pages) {
  for (int page : pages) {
    project_.setStatus(page, app::PageStatus::Pending);
    ++batch_done_;
  }
  updateProgress();
}

void MainWindow::onPageStarted(int page) {
  if (project_.page(page).status == app::PageStatus::Queued) project_.setStatus(page, app::PageStatus::Running);
  if (page == current_page_) showPage(page);
}

void MainWindow::onPageProgress(int page, const QString& raw_text, int tokens, double tokens_per_second) {
  project_.setStreamingText(page, raw_text);
  if (page == current_page_ && project_.page(page).status == app::PageStatus::Running) {
    editor_->setTextSilently(raw_text);
    editor_->moveCursor(QTextCursor::End);
  }
  progress_label_->setText(tr("page %1: %2 tokens").arg(page + 1).arg(tokens));
  if (tokens_per_second > 0) updateProgress(tokens_per_second);
}

void MainWindow::onPageFinished(int page, const app::JobOutcome& outcome) {
  if (outcome.region_only)
    project_.appendRegionResult(page, outcome.result, outcome.offset);
  else
    project_.setResult(page, outcome.result, outcome.image_size);
  ++batch_done_;
  updateProgress();
  if (page == current_page_) showPage(page);
  if (batch_done_ >= batch_total_) emit queueFinished();
}

void MainWindow::onPageFailed(int page, const QString& message) {
  project_.setStatus(page, app::PageStatus::Failed, message);
  showError(tr("Page %1: %2").arg(page + 1).arg(message));
  ++batch_done_;
  updateProgress();
  if (page == current_page_) showPage(page);
  if (batch_done_ >= batch_total_) emit queueFinished();
}

void MainWindow::updateProgress(double tokens_per_second) {
  progress_->setVisible(batch_total_ > 0 && batch_done_ < batch_total_);
  progress_->setRange(0, std::max(1, batch_total_));
  progress_->setValue(batch_done_);
  QString text = tr("%1/%2 pages").arg(batch_done_).arg(batch_total_);
  if (tokens_per_second > 0) text += tr(" · %1 tok/s").arg(tokens_per_second, 0, 'f', 1);
  if (batch_done_ > 0 && batch_done_ < batch_total_) {
    double seconds_per_page = batch_clock_.elapsed() / 1000.0 / batch_done_;
    int eta = int(seconds_per_page * (batch_total_ - batch_done_));
    text += tr(" · ETA %1:%2").arg(eta / 60).arg(eta % 60, 2, 10, QChar('0'));
  }
  progress_->setFormat(text);
  progress_->setTextVisible(true);
}

void MainWindow::exportMarkdownTo(const QString& path, bool per_page) {
  project_.flush();
  app::ExportOptions options;
  options.per_page = per_page;
  options.page_markers = settings_.page_markers;
  app::ExportReport report = app::exportMarkdown(project_, path, options);
  if (!report.errors.isEmpty()) showError(report.errors.join("\n"));
  statusBar()->showMessage(tr("Exported %1 files").arg(report.written.size()), 5000);
}

void MainWindow::copyPageMarkdown() { QApplication::clipboard()->setText(editor_->toPlainText()); }

void MainWindow::openDialog() {
  QStringList paths = QFileDialog::getOpenFileNames(this, tr("Open"), {}, app::openFileFilter());
  for (const QString& path : paths) {
    QString range;
    if (app::isPdfPath(path)) {
      bool ok = false;
      range = QInputDialog::getText(this, tr("Pages"), tr("Pages of %1 (e.g. 1-3,5; empty: all):").arg(path),
                                    QLineEdit::Normal, {}, &ok);
      if (!ok) continue;
    }
    openFile(path, range);
  }
}

void MainWindow::exportDialog(bool per_page) {
  QString path = QFileDialog::getSaveFileName(this, tr("Export markdown"), "document.md", "Markdown (*.md)");
  if (!path.isEmpty()) exportMarkdownTo(path, per_page);
}

void MainWindow::rerunDialog() {
  if (current_page_ < 0) return;
  QDialog dialog(this);
  auto* form = new QFormLayout(&dialog);
  auto* mode = new QComboBox(&dialog);
  mode->addItems(kModeNames);
  mode->setCurrentIndex(int(run_options_.mode));
  auto* task = new QComboBox(&dialog);
  task->addItems(kTaskNames);
  task->setCurrentIndex(int(run_options_.task));
  auto* locate = new QLineEdit(&dialog);
  form->addRow(tr("Mode"), mode);
  form->addRow(tr("Task"), task);
  form->addRow(tr("Text to locate"), locate);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
  form->addRow(buttons);
  connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  if (dialog.exec() != QDialog::Accepted) return;
  RunOptions saved = run_options_;
  run_options_.mode = static_cast<Mode>(mode->currentIndex());
  run_options_.task = static_cast<Task>(task->currentIndex());
  run_options_.locate_text = locate->text().toStdString();
  runPage(current_page_);
  run_options_ = saved;
}

void MainWindow::settingsDialog() {
  QDialog dialog(this);
  auto* form = new QFormLayout(&dialog);
  auto* model = new QLineEdit(settings_.model_dir, &dialog);
  model->setPlaceholderText(tr("search $FOLIO_MODEL_DIR and the Hugging Face cache"));
  auto* device = new QComboBox(&dialog);
  device->addItems({"auto", "cpu", "cuda"});
  device->setCurrentText(app::deviceName(settings_.device));
  auto* mode = new QComboBox(&dialog);
  mode->addItems(kModeNames);
  mode->setCurrentIndex(int(settings_.mode));
  auto* task = new QComboBox(&dialog);
  task->addItems(kTaskNames);
  task->setCurrentIndex(int(settings_.task));
  auto* dpi = new QDoubleSpinBox(&dialog);
  dpi->setRange(36, 600);
  dpi->setValue(settings_.dpi);
  auto* markers = new QCheckBox(tr("Page markers in exported markdown"), &dialog);
  markers->setChecked(settings_.page_markers);
  form->addRow(tr("Model folder"), model);
  form->addRow(tr("Device"), device);
  form->addRow(tr("Default mode"), mode);
  form->addRow(tr("Default task"), task);
  form->addRow(tr("PDF dpi for the model"), dpi);
  auto* max_tokens = new QSpinBox(&dialog);
  max_tokens->setRange(16, 8192);
  max_tokens->setValue(settings_.max_tokens);
  form->addRow(tr("Most tokens per page"), max_tokens);
  form->addRow(markers);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
  form->addRow(buttons);
  connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  if (dialog.exec() != QDialog::Accepted) return;
  bool engine_changed = model->text() != settings_.model_dir || device->currentText() != app::deviceName(settings_.device);
  settings_.model_dir = model->text();
  settings_.device = app::deviceFromName(device->currentText());
  settings_.mode = static_cast<Mode>(mode->currentIndex());
  settings_.task = static_cast<Task>(task->currentIndex());
  settings_.dpi = dpi->value();
  settings_.max_tokens = max_tokens->value();
  settings_.page_markers = markers->isChecked();
  setRunOptions(settings_.mode, settings_.task, settings_.max_tokens);
  QSettings settings;
  settings_.save(settings);
  if (engine_changed) {
    banner_box_->hide();
    startBackend();
  }
}

void MainWindow::closeEvent(QCloseEvent* event) {
  project_.flush();
  settings_.last_project = project_.folder();
  QSettings settings;
  settings_.save(settings);
  event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
  for (const QUrl& url : event->mimeData()->urls())
    if (url.isLocalFile()) openFile(url.toLocalFile());
}

}  // namespace folio::ui
