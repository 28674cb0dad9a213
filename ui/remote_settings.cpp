#include "remote_settings.h"

#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QtConcurrent>

namespace folio::ui {

RemoteSettingsGroup::RemoteSettingsGroup(const app::AppSettings& settings, QWidget* parent)
    : QGroupBox(tr("OCR servers"), parent) {
  auto* form = new QFormLayout(this);
  endpoints_ = new QPlainTextEdit(settings.remote_endpoints, this);
  endpoints_->setPlaceholderText(tr("http://gpu1:8000\nhttp://gpu2:8000 its-own-api-key\n(vLLM, SGLang, llama-server or folio-cli serve)"));
  endpoints_->setFixedHeight(fontMetrics().lineSpacing() * 4 + 12);
  model_ = new QLineEdit(settings.remote_model, this);
  model_->setPlaceholderText(tr("the first model the servers list"));
  api_key_ = new QLineEdit(settings.remote_api_key, this);
  api_key_->setEchoMode(QLineEdit::Password);
  api_key_->setPlaceholderText(tr("$OPENAI_API_KEY, or none"));
  api_key_->setToolTip(tr("Sent to the servers without a key of their own after their URL. Kept in Folio's "
                          "settings file, readable by your user account."));
  pages_ = new QSpinBox(this);
  pages_->setRange(1, 256);
  pages_->setValue(settings.remote_pages_per_server);
  pages_->setToolTip(tr("Pages each server reads at once. A GPU server batches them: 16 to 64 keep one busy."));
  test_ = new QPushButton(tr("Test connection"), this);
  result_ = new QLabel(this);
  result_->setWordWrap(true);
  result_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  form->addRow(tr("Server URLs"), endpoints_);
  form->addRow(tr("Model"), model_);
  form->addRow(tr("API key (all)"), api_key_);
  form->addRow(tr("Pages per server"), pages_);
  form->addRow(test_, result_);
  connect(test_, &QPushButton::clicked, this, &RemoteSettingsGroup::testConnection);
  connect(&check_, &QFutureWatcherBase::finished, this, [this] { showResult(check_.result()); });
}

RemoteSettingsGroup::~RemoteSettingsGroup() { check_.waitForFinished(); }

void RemoteSettingsGroup::store(app::AppSettings& settings) const {
  settings.remote_endpoints = endpoints_->toPlainText().trimmed();
  settings.remote_model = model_->text().trimmed();
  settings.remote_api_key = api_key_->text().trimmed();
  settings.remote_pages_per_server = pages_->value();
}

QString RemoteSettingsGroup::testResult() const { return result_->text(); }

// Off the GUI thread: a server that does not answer takes up to five seconds to give up on.
void RemoteSettingsGroup::testConnection() {
  app::AppSettings settings;
  store(settings);
  const app::RemoteOptions options = app::remoteOptions(settings);
  if (options.endpoints.isEmpty()) {
    result_->setText(tr("Enter at least one server URL."));
    emit tested();
    return;
  }
  test_->setEnabled(false);
  result_->setText(tr("Asking %n server(s)…", nullptr, int(options.endpoints.size())));
  check_.setFuture(QtConcurrent::run([options] { return app::checkEndpoints(options); }));
}

void RemoteSettingsGroup::showResult(const QList<app::EndpointCheck>& checks) {
  QStringList lines;
  for (const app::EndpointCheck& check : checks)
    lines << QStringLiteral("%1 %2: %3").arg(check.ok ? QStringLiteral("✓") : QStringLiteral("✗"), check.endpoint, check.message);
  result_->setText(lines.join('\n'));
  test_->setEnabled(true);
  emit tested();
}

}  // namespace folio::ui
