#include "start_screen.h"

#include <QAction>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QVBoxLayout>

namespace folio::ui {
namespace {

constexpr int kThumbnailHeight = 96;
constexpr int kFolderRole = Qt::UserRole;

QLabel* dropTarget(QWidget* parent) {
  auto* label = new QLabel(QObject::tr("Drop PDFs or images here, or File ▸ Open"), parent);
  label->setAlignment(Qt::AlignCenter);
  label->setMinimumHeight(140);
  label->setStyleSheet("QLabel { border: 2px dashed #9aa5b1; border-radius: 10px; color: #52606d;"
                       " font-size: 16pt; background: #f7f9fb; }");
  return label;
}

QListWidgetItem* recentItem(const RecentEntry& entry) {
  const app::ProjectSummary& summary = entry.summary;
  auto* item = new QListWidgetItem(QStringLiteral("%1\n%2\n%3")
                                       .arg(summary.name, summaryLine(summary),
                                            QObject::tr("last opened %1")
                                                .arg(QLocale().toString(entry.last_opened, QLocale::ShortFormat))));
  item->setData(kFolderRole, summary.folder);
  item->setToolTip(summary.folder);
  QPixmap thumbnail(summary.thumbnail);
  if (!thumbnail.isNull()) item->setIcon(thumbnail.scaledToHeight(kThumbnailHeight, Qt::SmoothTransformation));
  return item;
}

}  // namespace

QString summaryLine(const app::ProjectSummary& summary) {
  const QString pages = summary.pages == 1 ? QObject::tr("1 page") : QObject::tr("%1 pages").arg(summary.pages);
  QStringList parts{pages, QObject::tr("%1 done").arg(summary.done)};
  if (summary.edited) parts << QObject::tr("%1 edited").arg(summary.edited);
  if (summary.review) parts << QObject::tr("%1 to review").arg(summary.review);
  if (summary.failed) parts << QObject::tr("%1 failed").arg(summary.failed);
  return parts.join(QStringLiteral(" · "));
}

StartScreen::StartScreen(QWidget* parent) : QWidget(parent) {
  auto* open = new QPushButton(tr("Open…"), this);
  connect(open, &QPushButton::clicked, this, &StartScreen::openFileRequested);
  model_status_ = new QLabel(this);
  model_status_->setWordWrap(true);
  model_status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  recent_title_ = new QLabel(tr("<b>Recent documents</b>"), this);
  recent_ = new QListWidget(this);
  recent_->setIconSize(QSize(kThumbnailHeight * 3 / 4, kThumbnailHeight));
  recent_->setSpacing(4);
  recent_->setContextMenuPolicy(Qt::ActionsContextMenu);
  auto* forget_action = new QAction(tr("Remove from list"), recent_);
  recent_->addAction(forget_action);
  recent_->installEventFilter(this);
  connect(forget_action, &QAction::triggered, this, &StartScreen::forgetSelected);
  connect(recent_, &QListWidget::itemActivated, this,
          [this](QListWidgetItem* item) { emit openProjectRequested(item->data(kFolderRole).toString()); });
  forget_ = new QPushButton(tr("Remove from list"), this);
  forget_->setEnabled(false);
  connect(forget_, &QPushButton::clicked, this, &StartScreen::forgetSelected);
  connect(recent_, &QListWidget::currentItemChanged, this,
          [this](QListWidgetItem* item) { forget_->setEnabled(item != nullptr); });

  auto* open_row = new QHBoxLayout;
  open_row->addStretch();
  open_row->addWidget(open);
  open_row->addStretch();
  auto* recent_row = new QHBoxLayout;
  recent_row->addWidget(recent_title_);
  recent_row->addStretch();
  recent_row->addWidget(forget_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(48, 32, 48, 32);
  layout->addWidget(dropTarget(this));
  layout->addLayout(open_row);
  layout->addWidget(model_status_);
  layout->addSpacing(12);
  layout->addLayout(recent_row);
  layout->addWidget(recent_, 1);
}

void StartScreen::setModelStatus(const QString& text) { model_status_->setText(text); }

QString StartScreen::modelStatus() const { return model_status_->text(); }

void StartScreen::setRecent(const QList<RecentEntry>& entries) {
  recent_->clear();
  for (const RecentEntry& entry : entries) recent_->addItem(recentItem(entry));
  recent_title_->setText(entries.isEmpty() ? tr("<b>Recent documents</b> — none yet")
                                           : tr("<b>Recent documents</b>"));
}

bool StartScreen::eventFilter(QObject* watched, QEvent* event) {
  if (watched == recent_ && event->type() == QEvent::KeyPress &&
      static_cast<QKeyEvent*>(event)->matches(QKeySequence::Delete)) {
    forgetSelected();
    return true;
  }
  return QWidget::eventFilter(watched, event);
}

void StartScreen::forgetSelected() {
  QListWidgetItem* item = recent_->currentItem();
  if (item) emit forgetRequested(item->data(kFolderRole).toString());
}

}  // namespace folio::ui
