#include "main_window.h"

#include "document_json.h"
#include "exporter.h"
#include "local_engine_backend.h"
#include "project_library.h"
#include "remote_settings.h"

#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QCloseEvent>
#include <QComboBox>
#include <QStandardItemModel>
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
#include <QStackedWidget>
#include <QtConcurrent>
#include <QStatusBar>
#include <QTabWidget>
#include <QTextBrowser>
#include <QToolBar>
#include <QVBoxLayout>

namespace folio::ui {
namespace {

constexpr int kThumbnailWidth = 96;
constexpr double kThumbnailDpi = 18;
constexpr int kStopTimeoutMs = 10000;  // running pages stop between two decoding steps: well within this
const QStringList kModeNames = {"Tiny", "Small", "Base", "Large", "Gundam"};
const QStringList kTaskNames = {"Markdown", "OCR", "Free OCR", "Figure", "Describe", "Locate"};

QString statusText(const app::Page& page) {
  if (page.needsReview()) return QObject::tr("needs review");
  if (page.edited && page.status == app::PageStatus::Done) return QObject::tr("edited");
  return app::statusName(page.status);
}

QString thumbnailKey(const app::Page& page) { return page.source + QChar('#') + QString::number(page.source_page); }

}  // namespace

MainWindow::MainWindow(BackendMaker backend_maker, const QString& project_folder, QWidget* parent)
    : QMainWindow(parent), backend_maker_(std::move(backend_maker)) {
  QSettings settings;
  settings_ = app::AppSettings::load(settings);
  setRunOptions(settings_.mode, settings_.task, settings_.max_tokens);
  keep_old_results_ = [this](const QString& path) {
    return QMessageBox::question(this, tr("Document changed"),
                                 tr("%1 changed since Folio read it.\n\nKeep the results and edits made on the old "
                                    "version? (No: start over with the new one.)")
                                     .arg(path)) == QMessageBox::Yes;
  };
  find_missing_ = [this](const QString& path) {
    return QFileDialog::getOpenFileName(
        this, tr("Where is %1? (it was at %2)").arg(QFileInfo(path).fileName(), path), {}, app::openFileFilter());
  };
  setWindowTitle(tr("Folio"));
  setAcceptDrops(true);
  resize(1280, 800);
  buildUi();
  buildActions();
  connect(&project_, &app::Project::pageChanged, this, &MainWindow::updateStripItem);
  connect(&project_, &app::Project::pagesReset, this, &MainWindow::rebuildStrip);
  connect(&thumbnail_renderer_, &app::ThumbnailRenderer::rendered, this, &MainWindow::onThumbnailRendered);
  connect(&project_, &app::Project::saveFailed, this, &MainWindow::showError);
  startBackend();
  const bool known = QFileInfo::exists(project_folder + "/project.json") ||
                     QFileInfo::exists(project_folder + "/project.json.bak") ||
                     QFileInfo::exists(project_folder + "/journal.jsonl");
  if (!project_folder.isEmpty() && known) {
    openProject(project_folder);
  } else if (!project_folder.isEmpty()) {
    project_.setFolder(project_folder);
    useProject(project_folder);
  }
  updateCentral();
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
  // Both families are offered: DeepSeek-OCR-2 reads better, DeepSeek-OCR has the small fast modes.
  download_button_ = new QPushButton(tr("Download DeepSeek-OCR (6.7 GB)"), banner_box_);
  download_button_->hide();
  connect(download_button_, &QPushButton::clicked, this, [this] { downloadModel(app::kModelRepo); });
  download2_button_ = new QPushButton(tr("Download DeepSeek-OCR-2 (6.8 GB)"), banner_box_);
  download2_button_->hide();
  connect(download2_button_, &QPushButton::clicked, this, [this] { downloadModel(app::kModelRepoOcr2); });
  auto* banner_layout = new QHBoxLayout(banner_box_);
  banner_layout->setContentsMargins(0, 0, 6, 0);
  banner_layout->addWidget(banner_, 1);
  banner_layout->addWidget(download2_button_);
  banner_layout->addWidget(download_button_);
  banner_box_->hide();

  start_ = new StartScreen(this);
  connect(start_, &StartScreen::openFileRequested, this, &MainWindow::openDialog);
  connect(start_, &StartScreen::openProjectRequested, this, &MainWindow::openProject);
  connect(start_, &StartScreen::forgetRequested, this, [this](const QString& folder) {
    QSettings settings;
    app::forgetProject(settings, folder);
    refreshRecent();
  });
  stack_ = new QStackedWidget(this);
  stack_->addWidget(start_);
  stack_->addWidget(buildDocumentPanel());

  auto* central = new QWidget(this);
  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(banner_box_);
  layout->addWidget(stack_, 1);
  setCentralWidget(central);

  progress_ = new QProgressBar(this);
  progress_->setMaximumWidth(240);
  progress_label_ = new QLabel(this);
  statusBar()->addPermanentWidget(progress_label_);
  statusBar()->addPermanentWidget(progress_);
  progress_->hide();
}

// The page strip, the page with its boxes, and the markdown editor with its preview.
QWidget* MainWindow::buildDocumentPanel() {
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
  diff_ = new DiffView(this);
  diff_->hide();
  editor_tabs_ = new QTabWidget(this);
  editor_tabs_->addTab(editor_, tr("Markdown"));
  editor_tabs_->addTab(preview_, tr("Preview"));
  review_bar_ = new ReviewBar(this);
  connect(review_bar_, &ReviewBar::rerunRequested, this, &MainWindow::rerunPageWith);
  connect(review_bar_, &ReviewBar::accepted, this, &MainWindow::acceptPage);
  auto* text_panel = new QWidget(this);
  auto* text_layout = new QVBoxLayout(text_panel);
  text_layout->setContentsMargins(0, 0, 0, 0);
  text_layout->setSpacing(0);
  text_layout->addWidget(review_bar_);
  text_layout->addWidget(editor_tabs_, 1);
  connect(editor_->document(), &QTextDocument::contentsChange, this, &MainWindow::onEditorChanged);
  connect(editor_, &QPlainTextEdit::cursorPositionChanged, this, &MainWindow::onCursorMoved);
  connect(editor_tabs_, &QTabWidget::currentChanged, this, &MainWindow::updatePreview);
  preview_timer_ = new QTimer(this);
  preview_timer_->setSingleShot(true);
  preview_timer_->setInterval(300);
  connect(preview_timer_, &QTimer::timeout, this, &MainWindow::updatePreview);

  auto* splitter = new QSplitter(this);
  splitter->addWidget(buildStripPanel());
  splitter->addWidget(page_panel);
  splitter->addWidget(text_panel);
  splitter->setStretchFactor(1, 3);
  splitter->setStretchFactor(2, 2);
  splitter->setSizes({kThumbnailWidth + 130, 700, 530});  // the page gets the most room at start
  return splitter;
}

// The page strip with its filter: All / Needs review / Edited / Failed.
QWidget* MainWindow::buildStripPanel() {
  strip_ = new QListWidget(this);
  strip_->setViewMode(QListView::ListMode);
  strip_->setIconSize(QSize(kThumbnailWidth, kThumbnailWidth * 4 / 3));
  strip_->setSelectionMode(QAbstractItemView::ExtendedSelection);  // pages to export
  connect(strip_, &QListWidget::currentRowChanged, this, [this](int row) {
    if (row >= 0 && row != current_page_) showPage(row);
  });
  strip_filter_ = new QComboBox(this);
  strip_filter_->addItems({tr("All pages"), tr("Needs review"), tr("Edited"), tr("Failed")});
  connect(strip_filter_, &QComboBox::currentIndexChanged, this,
          [this](int filter) { setPageFilter(static_cast<app::PageFilter>(filter)); });
  auto* panel = new QWidget(this);
  panel->setMaximumWidth(kThumbnailWidth + 130);
  auto* layout = new QVBoxLayout(panel);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(strip_filter_);
  layout->addWidget(strip_, 1);
  return panel;
}

void MainWindow::setPageFilter(app::PageFilter filter) {
  strip_filter_->setCurrentIndex(int(filter));
  for (int i = 0; i < strip_->count(); ++i) strip_->setRowHidden(i, !app::pageMatches(project_.page(i), filter));
}

void MainWindow::buildActions() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(tr("&Open…"), QKeySequence::Open, this, &MainWindow::openDialog);
  recent_menu_ = file->addMenu(tr("Open &Recent"));
  connect(recent_menu_, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
  file->addAction(tr("Open &Project…"), this, &MainWindow::openProjectDialog);
  file->addAction(tr("Save Project &As…"), QKeySequence::SaveAs, this, &MainWindow::saveProjectAsDialog);
  file->addAction(tr("&Close document"), QKeySequence::Close, this, &MainWindow::closeProject);
  file->addSeparator();
  file->addAction(tr("&Export markdown…"), QKeySequence(tr("Ctrl+E")), this, [this] { exportDialog(false); });
  file->addAction(tr("Export markdown per &page…"), this, [this] { exportDialog(true); });
  file->addAction(tr("Export &As…"), QKeySequence(tr("Ctrl+Shift+E")), this, &MainWindow::exportAsDialog);
  file->addAction(tr("&Settings…"), this, &MainWindow::settingsDialog);
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  QMenu* edit = menuBar()->addMenu(tr("&Edit"));
  edit->addAction(tr("&Undo"), QKeySequence::Undo, editor_, &QPlainTextEdit::undo);
  edit->addAction(tr("&Redo"), QKeySequence::Redo, editor_, &QPlainTextEdit::redo);
  edit->addAction(tr("&Copy page markdown"), QKeySequence(tr("Ctrl+Shift+C")), this, &MainWindow::copyPageMarkdown);
  edit->addAction(tr("Re&vert page to model output"), this, [this] { revertPage(); });

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
  run->addSeparator();
  run->addAction(tr("&Next page to review"), QKeySequence(tr("F8")), this, [this] { nextPageToReview(1); });
  run->addAction(tr("&Previous page to review"), QKeySequence(tr("Shift+F8")), this, [this] { nextPageToReview(-1); });
  run->addAction(tr("&Accept page, next to review"), QKeySequence(tr("Ctrl+Return")), this, &MainWindow::acceptPage);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  add(view, tr("Fit width"), [this] { view_->fitWidth(); });
  add(view, tr("Fit page"), [this] { view_->fitPage(); });
  add(view, tr("Zoom in"), [this] { view_->zoomBy(1.25); }, QKeySequence::ZoomIn);
  add(view, tr("Zoom out"), [this] { view_->zoomBy(0.8); }, QKeySequence::ZoomOut);
  QAction* boxes = add(view, tr("Boxes"), [this](bool on) { view_->setBoxesVisible(on); });
  boxes->setCheckable(true);
  boxes->setChecked(true);
  QAction* changes = view->addAction(tr("Show &changes"), QKeySequence(tr("Ctrl+D")), this, &MainWindow::showChanges);
  changes->setCheckable(true);
}

void MainWindow::startBackend() {
  service_.reset();
  service_ = std::make_unique<app::OcrService>(backend_maker_(settings_));
  app::OcrWorker* worker = service_->worker();
  connect(worker, &app::OcrWorker::backendReady, this, [this, worker](const QString& description) {
    download_button_->hide();
    download2_button_->hide();
    modes_ = worker->modes();
    const Mode mode = app::availableMode(run_options_.mode, modes_);
    const QString model = worker->modelName().isEmpty() ? description : worker->modelName() + " · " + description;
    QString ready = tr("Model ready: %1").arg(model);
    if (mode != run_options_.mode)
      ready += tr(" · it has no %1 mode: pages run in %2").arg(kModeNames[int(run_options_.mode)], kModeNames[int(mode)]);
    run_options_.mode = mode;
    statusBar()->showMessage(ready);
    start_->setModelStatus(tr("Model ready: %1").arg(model));
    emit backendStateChanged(true);
  });
  connect(worker, &app::OcrWorker::backendFailed, this, &MainWindow::onBackendFailed);
  connect(worker, &app::OcrWorker::modelChanged, this, [this](const QString& message) {
    showError(message);
    start_->setModelStatus(tr("Loading the model again…"));
  });
  connect(worker, &app::OcrWorker::pageStarted, this, &MainWindow::onPageStarted);
  connect(worker, &app::OcrWorker::pageProgress, this, &MainWindow::onPageProgress);
  connect(worker, &app::OcrWorker::pageFinished, this, &MainWindow::onPageFinished);
  connect(worker, &app::OcrWorker::pageFailed, this, &MainWindow::onPageFailed);
  start_->setModelStatus(settings_.remote ? tr("Connecting to the OCR servers…") : tr("Loading the model…"));
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
  const bool missing = !settings_.remote && app::modelMissing(settings_.model_dir);
  download_button_->setVisible(missing);
  download2_button_->setVisible(missing);
  start_->setModelStatus(missing ? tr("No model yet: download <b>DeepSeek-OCR-2</b> or <b>DeepSeek-OCR</b> above, or copy a model's "
                                      "files into a folder and choose it in File ▸ Settings.")
                                 : message.toHtmlEscaped());
  emit backendStateChanged(false);
}

void MainWindow::downloadModel(const QString& repo) {
  if (download_dialog_) {
    download_dialog_->raise();
    download_dialog_->activateWindow();
    return;
  }
  app::HubDownloadOptions options;
  options.repo = repo;
  download_dialog_ = new ModelDownloadDialog(options, this);
  download_dialog_->setAttribute(Qt::WA_DeleteOnClose);
  connect(download_dialog_, &ModelDownloadDialog::modelReady, this, &MainWindow::onModelDownloaded);
  download_dialog_->start();
  download_dialog_->show();  // not modal: the documents stay usable during the download
}

void MainWindow::onModelDownloaded(const QString& snapshot_dir) {
  banner_box_->hide();
  download_button_->hide();
  download2_button_->hide();
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
  const QString sha256 = hashFile(path);
  if (sha256.isEmpty()) {
    showError(tr("%1 cannot be read").arg(path));
    return false;
  }
  passwords_[path] = password;
  if (project_.folder().isEmpty() && reopenKnownDocument(path, sha256)) return true;
  if (const int known = project_.documentIndex(sha256); known >= 0) {  // already here: no second copy of its pages
    for (int i = 0; i < project_.pageCount(); ++i) {
      if (project_.page(i).source != project_.documents()[known].path) continue;
      showPage(i);
      return true;
    }
  }
  if (project_.folder().isEmpty()) {
    project_.setFolder(app::projectFolderFor(sha256));
    useProject(project_.folder());
  }
  return addDocumentPages(path, sha256, std::move(opened.document), page_range);
}

// A document some project has read before: that project opens again, pages, results and edits.
bool MainWindow::reopenKnownDocument(const QString& path, const QString& sha256) {
  QSettings settings;
  const app::ProjectMatch match = app::findProject(path, sha256, settings);
  if (match.folder.isEmpty() || (match.content_changed && !keep_old_results_(path))) return false;
  if (!openProject(match.folder)) return false;
  if (match.content_changed) {
    for (int i = 0; i < project_.documents().size(); ++i)
      if (QFileInfo(project_.documents()[i].path) == QFileInfo(path)) project_.relinkDocument(i, path, sha256);
  } else if (const int known = project_.documentIndex(sha256); known >= 0 && project_.documents()[known].path != path) {
    project_.relinkDocument(known, path, sha256);  // the same content found at another path: read it there
  }
  statusBar()->showMessage(tr("Reopened the work on %1").arg(QFileInfo(path).fileName()), 5000);
  return true;
}

bool MainWindow::addDocumentPages(const QString& path, const QString& sha256, std::unique_ptr<app::Document> document,
                                  const QString& page_range) {
  QString range_error;
  QList<int> pages = app::parsePageRange(page_range, document->pageCount(), &range_error);
  if (pages.isEmpty()) {
    showError(range_error);
    return false;
  }
  const bool first_document = project_.pageCount() == 0;
  if (first_document) writeThumbnail(*document, pages.first());
  const app::Document& opened = *document;
  documents_[path] = std::move(document);
  project_.addDocument({path, sha256, QFileInfo(path).size()});
  QList<app::Page> added;
  for (int source_page : pages) {
    app::Page page;
    page.source = path;
    page.source_page = source_page;
    page.dpi = opened.fittingDpi(source_page, settings_.dpi);
    added << page;
  }
  const int first = project_.addPages(added);
  updateCentral();
  showPage(first);
  return true;
}

QString MainWindow::hashFile(const QString& path) {
  statusBar()->showMessage(tr("Reading %1…").arg(QFileInfo(path).fileName()));
  QFutureWatcher<QString> watcher;
  QEventLoop loop;
  connect(&watcher, &QFutureWatcherBase::finished, &loop, &QEventLoop::quit);
  watcher.setFuture(QtConcurrent::run([path] { return app::sha256OfFile(path); }));
  if (!watcher.isFinished()) loop.exec();
  statusBar()->clearMessage();
  return watcher.result();
}

void MainWindow::writeThumbnail(const app::Document& document, int page) {
  const QImage image = document.renderPage(page, kThumbnailDpi * 2);
  if (!image.isNull() && !project_.folder().isEmpty())
    image.scaledToHeight(160, Qt::SmoothTransformation).save(project_.folder() + "/thumbnail.png");
}

bool MainWindow::openProject(const QString& folder) {
  stopAllWork();
  documents_.clear();
  QString error, warning;
  if (!project_.load(folder, &error, &warning)) {  // a project that cannot be read leaves the current one open
    showError(error);
    return false;
  }
  if (!warning.isEmpty()) showError(warning);
  current_page_ = -1;  // page indices now name another project's pages: nothing on view is kept
  useProject(folder);
  locateMissingSources();
  updateCentral();
  if (project_.pageCount() > 0) showPage(0);
  resumeQueuedPages();
  return true;
}

void MainWindow::closeProject() {
  stopAllWork();
  project_.flush();
  project_.setFolder({});
  project_.clear();
  documents_.clear();
  current_page_ = -1;
  settings_.last_project.clear();
  QSettings settings;
  settings_.save(settings);
  updateCentral();
}

// Recorded at once, not at close: after a crash the next start comes back here.
void MainWindow::useProject(const QString& folder) {
  settings_.last_project = folder;
  QSettings settings;
  settings_.save(settings);
  app::rememberProject(settings, folder);
}

bool MainWindow::saveProjectAs(const QString& folder) {
  QString error;
  if (!project_.saveAs(folder, &error)) {
    showError(error);
    return false;
  }
  // The markdown and its figure crops travel with the project, readable without Folio.
  app::ExportOptions options;
  options.page_markers = settings_.page_markers;
  const QString name = QFileInfo(project_.name()).completeBaseName();
  app::ExportReport report = app::exportMarkdown(project_, folder + "/" + (name.isEmpty() ? "document" : name) + ".md", options);
  if (!report.errors.isEmpty()) showError(report.errors.join("\n"));
  useProject(folder);
  statusBar()->showMessage(tr("Project saved to %1").arg(folder), 5000);
  return true;
}

void MainWindow::saveProjectAsDialog() {
  const QString folder = QFileDialog::getExistingDirectory(this, tr("Save project into folder"));
  if (!folder.isEmpty()) saveProjectAs(folder);
}

void MainWindow::openProjectDialog() {
  const QString folder = QFileDialog::getExistingDirectory(this, tr("Open project folder"), app::projectsRoot());
  if (!folder.isEmpty()) openProject(folder);
}

// A source that is not where the project says (the project moved to another machine): ask where it is now.
void MainWindow::locateMissingSources() {
  for (int i = 0; i < project_.documents().size(); ++i) {
    const app::SourceDocument document = project_.documents()[i];
    if (QFileInfo::exists(document.path)) continue;
    const QString found = find_missing_(document.path);
    if (found.isEmpty()) {
      showError(tr("%1 is missing: its pages show the text but no image until it is found.").arg(document.path));
      continue;
    }
    const QString sha256 = hashFile(found);
    if (sha256 != document.sha256 &&
        QMessageBox::question(this, tr("Other content"),
                              tr("%1 is not the same file as the one read before. Use it anyway?").arg(found)) !=
            QMessageBox::Yes)
      continue;
    project_.relinkDocument(i, found, sha256);
  }
}

// Pages that were waiting or being read when the project was last closed (or the app died) go on.
void MainWindow::resumeQueuedPages() {
  QList<app::PageJob> jobs;
  for (int i = 0; i < project_.pageCount(); ++i)
    if (project_.page(i).status == app::PageStatus::Queued) jobs << queueJob(i);
  if (!jobs.isEmpty()) worker()->enqueue(jobs);
}

void MainWindow::stopAllWork() {
  if (batch_done_ >= batch_total_) return;
  QList<int> interrupted;
  for (int i = 0; i < project_.pageCount(); ++i)
    if (project_.page(i).status == app::PageStatus::Running) interrupted << i;
  const QList<int> taken_from_queue = worker()->cancelAll();
  batch_done_ += taken_from_queue.size();
  interrupted << taken_from_queue;
  QEventLoop loop;
  connect(this, &MainWindow::queueFinished, &loop, &QEventLoop::quit);
  QTimer::singleShot(kStopTimeoutMs, &loop, &QEventLoop::quit);
  if (batch_done_ < batch_total_) loop.exec();
  for (int page : interrupted) project_.setStatus(page, app::PageStatus::Queued);
  batch_total_ = batch_done_ = 0;
  updateProgress();
}

bool MainWindow::showingStartScreen() const { return stack_->currentWidget() == start_; }

void MainWindow::updateCentral() {
  const bool empty = project_.pageCount() == 0;
  stack_->setCurrentIndex(empty ? 0 : 1);
  setWindowTitle(empty ? tr("Folio") : tr("%1 — Folio").arg(project_.name()));
  if (empty) refreshRecent();
}

void MainWindow::refreshRecent() {
  QSettings settings;
  QList<RecentEntry> entries;
  for (const app::RecentProject& recent : app::recentProjects(settings)) {
    app::ProjectSummary summary = app::ProjectSummary::read(recent.folder);
    if (summary.name.isEmpty()) summary.name = QFileInfo(recent.folder).fileName();
    entries << RecentEntry{summary, recent.last_opened};
  }
  start_->setRecent(entries);
}

void MainWindow::rebuildRecentMenu() {
  recent_menu_->clear();
  QSettings settings;
  for (const app::RecentProject& recent : app::recentProjects(settings)) {
    const app::ProjectSummary summary = app::ProjectSummary::read(recent.folder);
    const QString name = summary.name.isEmpty() ? QFileInfo(recent.folder).fileName() : summary.name;
    recent_menu_->addAction(tr("%1 (%2)").arg(name, summaryLine(summary)), this,
                            [this, folder = recent.folder] { openProject(folder); });
  }
  if (recent_menu_->isEmpty()) recent_menu_->addAction(tr("No recent documents"))->setEnabled(false);
}

// Items at once; the thumbnails not seen before render on their own thread and arrive one by one.
void MainWindow::rebuildStrip() {
  thumbnail_renderer_.cancelAll();
  strip_->clear();
  for (int i = 0; i < project_.pageCount(); ++i) {
    strip_->addItem(QString());
    updateStripItem(i);
    const app::Page& page = project_.page(i);
    if (!thumbnails_.contains(thumbnailKey(page)))
      thumbnail_renderer_.request(i, {page.source, page.source_page, kThumbnailDpi, passwords_.value(page.source)},
                                  kThumbnailWidth);
  }
}

void MainWindow::onThumbnailRendered(int index, const QImage& thumbnail) {
  if (index >= project_.pageCount()) return;
  const QIcon icon(QPixmap::fromImage(thumbnail));
  thumbnails_.insert(thumbnailKey(project_.page(index)), icon);
  if (QListWidgetItem* item = strip_->item(index)) item->setIcon(icon);
}

void MainWindow::updateStripItem(int index) {
  QListWidgetItem* item = strip_->item(index);
  if (!item) return;
  const app::Page& page = project_.page(index);
  item->setText(tr("Page %1\n%2").arg(index + 1).arg(statusText(page)));
  item->setToolTip(!page.error.isEmpty() ? page.error : page.needsReview() ? page.review_reason : page.source);
  item->setBackground(page.needsReview() ? QColor(0xff, 0xe8, 0xcc) : QColor(Qt::transparent));
  strip_->setRowHidden(index, !app::pageMatches(page, static_cast<app::PageFilter>(strip_filter_->currentIndex())));
  if (item->icon().isNull()) item->setIcon(thumbnails_.value(thumbnailKey(page)));
}

QImage MainWindow::renderPage(int index, double scale) {
  const app::Page& page = project_.page(index);
  std::shared_ptr<app::Document> doc = document(page.source);
  if (!doc) return {};
  // Zoomed in, a vector page is rendered sharper, up to the pixel limit (a poster stays at what fits).
  return doc->renderPage(page.source_page,
                         doc->isVector() ? doc->fittingDpi(page.source_page, page.dpi * scale) : page.dpi);
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
  review_bar_->showReason(running ? QString() : page.review_reason, page.mode);
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

// The preview only while its tab is open: laying out a long page takes tens of ms of the GUI thread, at every
// page shown.
void MainWindow::updatePreview() {
  if (!preview_->isHidden()) preview_->setMarkdown(editor_->toPlainText());
  if (editor_tabs_->indexOf(diff_) >= 0 && current_page_ >= 0)
    diff_->setTexts(project_.modelMarkdown(current_page_), project_.page(current_page_).markdown);
}

void MainWindow::nextPageToReview(int step) {
  const int next = project_.nextNeedingReview(current_page_, step);
  if (next >= 0) showPage(next);
  else statusBar()->showMessage(tr("No page needs review"), 3000);
}

void MainWindow::acceptPage() {
  if (current_page_ < 0) return;
  const int accepted = current_page_;
  project_.setReviewReason(accepted, {});
  review_bar_->showReason({}, project_.page(accepted).mode);
  if (project_.nextNeedingReview(accepted) >= 0) nextPageToReview(1);
}

// The review bar's one-click re-run: this page only, with the other mode or task; the defaults stay.
void MainWindow::rerunPageWith(Mode mode, Task task) {
  if (current_page_ < 0) return;
  const RunOptions saved = run_options_;
  run_options_.mode = mode;
  run_options_.task = task;
  runPage(current_page_);
  run_options_ = saved;
}

void MainWindow::showChanges(bool on) {
  const int tab = editor_tabs_->indexOf(diff_);
  if (on && tab < 0) {
    editor_tabs_->addTab(diff_, tr("Changes"));
    editor_tabs_->setCurrentWidget(diff_);
    updatePreview();
  } else if (!on && tab >= 0) {
    editor_tabs_->removeTab(tab);
  }
}

void MainWindow::revertPage(bool confirm) {
  if (current_page_ < 0 || !project_.page(current_page_).edited) return;
  if (confirm && QMessageBox::question(this, tr("Revert page?"),
                            tr("Replace your edits on page %1 with the model's output?").arg(current_page_ + 1)) !=
      QMessageBox::Yes)
    return;
  project_.revertToModel(current_page_);
  showPage(current_page_);
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
  if (region.isEmpty()) {
    project_.setMode(index, job.options.mode);
    project_.setStatus(index, app::PageStatus::Queued);
  }
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
    project_.setResult(page, outcome.result, outcome.image_size, outcome.model);
  // A loop the worker stopped, output cut mid-tag, a box off the page, the token limit: the user looks at it.
  if (!outcome.review_reasons.isEmpty()) project_.setReviewReason(page, outcome.review_reasons.join("; "));
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

bool MainWindow::exportAs(app::ExportFormat format, const QString& path, bool selected_pages_only) {
  project_.flush();
  app::ExportOptions options;
  options.page_markers = settings_.page_markers;
  if (selected_pages_only)
    for (const QModelIndex& row : strip_->selectionModel()->selectedRows()) options.pages << row.row();
  std::sort(options.pages.begin(), options.pages.end());
  QStringList errors;
  if (format == app::ExportFormat::Json) {
    QString error;
    if (!app::writeDocumentJson(path, project_, app::documentInfoOf(project_), &error)) errors << error;
  } else {
    errors = app::exportProject(project_, format, path, options).errors;
  }
  if (!errors.isEmpty()) showError(errors.join("\n"));
  else statusBar()->showMessage(tr("Exported %1").arg(path), 5000);
  return errors.isEmpty();
}

void MainWindow::exportAsDialog() {
  if (project_.pageCount() == 0) return;
  static const QList<std::pair<app::ExportFormat, QString>> kFormats = {
      {app::ExportFormat::Pdf, tr("Searchable PDF (*.pdf)")}, {app::ExportFormat::Markdown, tr("Markdown (*.md)")},
      {app::ExportFormat::Html, tr("HTML (*.html)")},         {app::ExportFormat::Docx, tr("Word (*.docx)")},
      {app::ExportFormat::Odt, tr("OpenDocument text (*.odt)")}, {app::ExportFormat::Text, tr("Plain text (*.txt)")},
      {app::ExportFormat::Json, tr("Folio JSON (*.json)")}};
  QStringList filters;
  for (const auto& [format, filter] : kFormats) filters << filter;
  const int selected = strip_->selectionModel()->selectedRows().size();
  bool only_selected = false;
  if (selected > 1)
    only_selected = QMessageBox::question(this, tr("Export"), tr("Export only the %1 pages selected in the strip?")
                                                                  .arg(selected)) == QMessageBox::Yes;
  QString chosen_filter = filters.first();
  const QString stem = QFileInfo(project_.name()).completeBaseName();
  QString path = QFileDialog::getSaveFileName(this, tr("Export As"), stem.isEmpty() ? "document" : stem,
                                              filters.join(";;"), &chosen_filter);
  if (path.isEmpty()) return;
  const auto format = kFormats[filters.indexOf(chosen_filter)].first;
  if (QFileInfo(path).suffix().isEmpty()) path += app::exportFormatSuffix(format);
  exportAs(format, path, only_selected);
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
  fillModeBox(mode, run_options_.mode);
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
  const std::string saved_locate = run_options_.locate_text;
  run_options_.locate_text = locate->text().toStdString();
  rerunPageWith(static_cast<Mode>(mode->currentIndex()), static_cast<Task>(task->currentIndex()));
  run_options_.locate_text = saved_locate;
}

void MainWindow::fillModeBox(QComboBox* box, Mode current) const {
  box->addItems(kModeNames);
  auto* items = qobject_cast<QStandardItemModel*>(box->model());
  for (int i = 0; i < kModeNames.size(); ++i)
    if (std::find(modes_.begin(), modes_.end(), static_cast<Mode>(i)) == modes_.end()) items->item(i)->setEnabled(false);
  box->setCurrentIndex(int(app::availableMode(current, modes_)));
}

void MainWindow::settingsDialog() {
  QDialog dialog(this);
  auto* form = new QFormLayout(&dialog);
  // The models found, both families; any other folder can be typed in.
  auto* model = new QComboBox(&dialog);
  model->setEditable(true);
  model->addItem(QString());
  for (const app::FoundModelEntry& found : app::foundModels()) {
    model->addItem(found.folder);
    model->setItemData(model->count() - 1, found.family, Qt::ToolTipRole);
  }
  model->setCurrentText(settings_.model_dir);
  model->lineEdit()->setPlaceholderText(tr("search $FOLIO_MODEL_DIR and the Hugging Face cache"));
  auto* model_kind = new QLabel(&dialog);
  const auto describe = [model_kind](const QString& folder) {
    model_kind->setText(folder.isEmpty() ? tr("The first model found") : app::describeModelFolder(folder));
  };
  connect(model, &QComboBox::currentTextChanged, model_kind, describe);
  describe(settings_.model_dir);
  auto* device = new QComboBox(&dialog);
  device->addItems({"auto", "cpu", "cuda"});
  device->setCurrentText(app::deviceName(settings_.device));
  auto* eight_bit = new QComboBox(&dialog);
  eight_bit->addItems({"auto", "on", "off"});
  eight_bit->setCurrentText(app::eightBitName(settings_.eight_bit));
  eight_bit->setToolTip(tr("The decoder's weights in 8 bits: about 4.5 GB of GPU memory instead of 7.2. "
                           "Auto: when the GPU has less than 10 GB free."));
  auto* mode = new QComboBox(&dialog);
  fillModeBox(mode, settings_.mode);
  auto* task = new QComboBox(&dialog);
  task->addItems(kTaskNames);
  task->setCurrentIndex(int(settings_.task));
  auto* dpi = new QDoubleSpinBox(&dialog);
  dpi->setRange(app::kMinDpi, app::kMaxDpi);
  dpi->setValue(settings_.dpi);
  auto* markers = new QCheckBox(tr("Page markers in exported markdown"), &dialog);
  markers->setChecked(settings_.page_markers);
  auto* reader = new QComboBox(&dialog);
  reader->addItems({tr("This computer (GPU or CPU)"), tr("OCR servers")});
  reader->setCurrentIndex(settings_.remote ? 1 : 0);
  auto* remote = new RemoteSettingsGroup(settings_, &dialog);
  remote->setObjectName("remoteSettings");
  const auto showReader = [=](int index) {
    for (QWidget* local : std::initializer_list<QWidget*>{model, model_kind, device, eight_bit}) local->setEnabled(index == 0);
    remote->setEnabled(index == 1);
  };
  connect(reader, &QComboBox::currentIndexChanged, &dialog, showReader);
  showReader(reader->currentIndex());
  form->addRow(tr("Pages are read by"), reader);
  form->addRow(tr("Model folder"), model);
  form->addRow(QString(), model_kind);
  form->addRow(tr("Device"), device);
  form->addRow(tr("8-bit weights"), eight_bit);
  form->addRow(remote);
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
  const app::AppSettings before = settings_;
  remote->store(settings_);
  settings_.remote = reader->currentIndex() == 1;
  const bool remote_changed = settings_.remote_endpoints != before.remote_endpoints ||
                              settings_.remote_model != before.remote_model ||
                              settings_.remote_api_key != before.remote_api_key ||
                              settings_.remote_pages_per_server != before.remote_pages_per_server;
  bool engine_changed = settings_.remote != before.remote || (settings_.remote && remote_changed) ||
                        model->currentText() != settings_.model_dir ||
                        device->currentText() != app::deviceName(settings_.device) ||
                        eight_bit->currentText() != app::eightBitName(settings_.eight_bit);
  settings_.model_dir = model->currentText();
  settings_.device = app::deviceFromName(device->currentText());
  settings_.eight_bit = app::eightBitFromName(eight_bit->currentText());
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

void MainWindow::saveState() {
  project_.flush();
  settings_.last_project = project_.folder();
  QSettings settings;
  settings_.save(settings);
  settings.sync();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  saveState();
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
