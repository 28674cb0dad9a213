// The first-run download of a model (DeepSeek-OCR or DeepSeek-OCR-2): progress bar, speed and time left, Cancel, Retry (which resumes).
// The work is app::HubDownload's, asynchronous: the window stays responsive throughout.
#pragma once

#include "hub_download.h"

#include <QDialog>

class QLabel;
class QProgressBar;
class QPushButton;

namespace folio::ui {

class ModelDownloadDialog : public QDialog {
  Q_OBJECT
 public:
  explicit ModelDownloadDialog(app::HubDownloadOptions options = {}, QWidget* parent = nullptr);

  void start();  // also Retry: resumes where the last attempt stopped
  app::HubDownload* download() const { return download_; }
  QString statusText() const;

 signals:
  void modelReady(const QString& snapshot_dir);

 public slots:
  void reject() override;  // Escape or closing the window cancels a running download

 private:
  void buildUi();
  void showProgress(qint64 bytes_done, qint64 bytes_total, double bytes_per_second, qint64 seconds_left);
  void showStopped(const QString& message, bool is_error);
  void setRunning(bool running);

  app::HubDownload* download_;
  QLabel* status_ = nullptr;
  QProgressBar* bar_ = nullptr;
  QLabel* detail_ = nullptr;
  QPushButton* retry_ = nullptr;
  QPushButton* cancel_ = nullptr;
};

}  // namespace folio::ui
