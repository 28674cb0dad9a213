// What the window shows when no document is open: where to drop files, the model's state, and the recent
// documents (thumbnail, name, pages done / edited / failed / needing review, last opened) to reopen or forget.
#pragma once

#include "project.h"

#include <QDateTime>
#include <QWidget>

class QLabel;
class QListWidget;
class QPushButton;

namespace folio::ui {

struct RecentEntry {
  app::ProjectSummary summary;
  QDateTime last_opened;
};

class StartScreen : public QWidget {
  Q_OBJECT
 public:
  explicit StartScreen(QWidget* parent = nullptr);
  void setModelStatus(const QString& text);
  void setRecent(const QList<RecentEntry>& entries);
  QListWidget* recentList() const { return recent_; }
  QString modelStatus() const;

 signals:
  void openFileRequested();
  void openProjectRequested(const QString& folder);
  void forgetRequested(const QString& folder);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;  // Delete removes the selected document

 private:
  void forgetSelected();
  QLabel* model_status_ = nullptr;
  QLabel* recent_title_ = nullptr;
  QListWidget* recent_ = nullptr;
  QPushButton* forget_ = nullptr;
};

QString summaryLine(const app::ProjectSummary& summary);

}  // namespace folio::ui
