#include "diff_view.h"

#include <QFontDatabase>
#include <QLabel>
#include <QScrollBar>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace folio::ui {

DiffView::DiffView(QWidget* parent) : QWidget(parent), summary_(new QLabel(this)), text_(new QTextBrowser(this)) {
  summary_->setTextFormat(Qt::PlainText);
  text_->setOpenLinks(false);
  text_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));  // as in the markdown editor
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(summary_);
  layout->addWidget(text_);
  setTexts({}, {});
}

void DiffView::setTexts(const QString& model, const QString& edited) {
  diff_ = app::diffWords(model, edited);
  summary_->setText(app::diffSummaryLine(diff_));
  QScrollBar* scroll = text_->verticalScrollBar();
  const int position = scroll->value();
  text_->setHtml(app::diffHtml(diff_));
  scroll->setValue(position);
}

QString DiffView::summaryText() const { return summary_->text(); }

QTextDocument* DiffView::document() const { return text_->document(); }

}  // namespace folio::ui
