// "Show changes": a page's markdown as the user edited it against the model's output, word by word, read-only:
// removed text struck through on red, added text on green, and a one-line summary above.
#pragma once

#include "text_diff.h"

#include <QWidget>

class QLabel;
class QTextBrowser;
class QTextDocument;

namespace folio::ui {

class DiffView : public QWidget {
  Q_OBJECT
 public:
  explicit DiffView(QWidget* parent = nullptr);

  // Shows `edited` against `model`; called again (the user edits on), it keeps the scroll position.
  void setTexts(const QString& model, const QString& edited);

  const app::TextDiff& diff() const { return diff_; }
  QString summaryText() const;      // "3 words changed, 1 added"
  QTextDocument* document() const;  // the diff as shown

 private:
  QLabel* summary_;
  QTextBrowser* text_;
  app::TextDiff diff_;
};

}  // namespace folio::ui
