#include "review_bar.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace folio::ui {

Mode alternativeMode(Mode read_with) { return read_with == Mode::Gundam ? Mode::Base : Mode::Gundam; }

QString modeTitle(Mode mode) {
  QString name = QString::fromUtf8(folio::modeName(mode));
  return name.left(1).toUpper() + name.mid(1);
}

ReviewBar::ReviewBar(QWidget* parent) : QWidget(parent) {
  setObjectName("reviewBar");
  setAttribute(Qt::WA_StyledBackground);
  setStyleSheet("#reviewBar { background: #ffe8cc; } #reviewBar QLabel { color: #7a3e00; }");
  reason_ = new QLabel(this);
  reason_->setWordWrap(true);
  other_mode_ = new QPushButton(this);
  free_ocr_ = new QPushButton(tr("Re-run as Free OCR"), this);
  free_ocr_->setToolTip(tr("Plain text without regions: less prone to loops on dense pages"));
  accept_ = new QPushButton(tr("Accept"), this);
  accept_->setToolTip(tr("The output is fine as it is (Ctrl+Return: accept and go to the next page to review)"));
  connect(other_mode_, &QPushButton::clicked, this, [this] { emit rerunRequested(other_, Task::Markdown); });
  connect(free_ocr_, &QPushButton::clicked, this, [this] { emit rerunRequested(Mode::Base, Task::Free); });
  connect(accept_, &QPushButton::clicked, this, &ReviewBar::accepted);
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(other_mode_);
  buttons->addWidget(free_ocr_);
  buttons->addStretch();
  buttons->addWidget(accept_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(8, 6, 8, 6);
  layout->addWidget(reason_);
  layout->addLayout(buttons);
  hide();
}

void ReviewBar::showReason(const QString& reason, Mode read_with) {
  setVisible(!reason.isEmpty());
  reason_->setText(tr("<b>Needs review:</b> %1").arg(reason.toHtmlEscaped()));
  other_ = alternativeMode(read_with);
  other_mode_->setText(tr("Re-run with %1").arg(modeTitle(other_)));
}

QString ReviewBar::reason() const { return isHidden() ? QString() : reason_->text(); }

}  // namespace folio::ui
