// Settings' group for OCR servers (app/remote_backend.h): their URLs, the model to ask for, an API key, how many
// pages each takes at once, and "Test connection", which asks each server for its models without freezing the
// window and says per server what it answered.
#pragma once

#include "settings.h"

#include <QFutureWatcher>
#include <QGroupBox>

class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace folio::ui {

class RemoteSettingsGroup : public QGroupBox {
  Q_OBJECT
 public:
  explicit RemoteSettingsGroup(const app::AppSettings& settings, QWidget* parent = nullptr);
  ~RemoteSettingsGroup() override;
  void store(app::AppSettings& settings) const;  // the remote_* fields
  QPushButton* testButton() const { return test_; }
  QString testResult() const;  // what the last test said

 signals:
  void tested();

 private:
  void testConnection();
  void showResult(const QList<app::EndpointCheck>& checks);

  QPlainTextEdit* endpoints_ = nullptr;
  QLineEdit* model_ = nullptr;
  QLineEdit* api_key_ = nullptr;
  QSpinBox* pages_ = nullptr;
  QPushButton* test_ = nullptr;
  QLabel* result_ = nullptr;
  QFutureWatcher<QList<app::EndpointCheck>> check_;
};

}  // namespace folio::ui
