// Above the editor while the page's output needs review: why (a repetition loop, output cut mid-tag, a box off
// the page, the token limit), one click to read the page again another way, and Accept when it is fine as it is.
#pragma once

#include <folio/engine.h>

#include <QWidget>

class QLabel;
class QPushButton;

namespace folio::ui {

class ReviewBar : public QWidget {
  Q_OBJECT
 public:
  explicit ReviewBar(QWidget* parent = nullptr);
  // Shows the reason and offers the alternative to the mode the page was read with; hides for an empty reason.
  void showReason(const QString& reason, Mode read_with);
  QString reason() const;
  QPushButton* otherModeButton() const { return other_mode_; }

 signals:
  void rerunRequested(folio::Mode mode, folio::Task task);
  void accepted();

 private:
  QLabel* reason_ = nullptr;
  QPushButton* other_mode_ = nullptr;
  QPushButton* free_ocr_ = nullptr;
  QPushButton* accept_ = nullptr;
  Mode other_ = Mode::Base;
};

// Gundam's tiles are where most loops start; Base reads the page whole. A page read whole tries the tiles.
Mode alternativeMode(Mode read_with);
QString modeTitle(Mode mode);  // "Gundam"

}  // namespace folio::ui
