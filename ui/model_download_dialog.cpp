#include "model_download_dialog.h"

#include <QDialogButtonBox>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>

namespace folio::ui {
namespace {
constexpr int kBarSteps = 1000;  // QProgressBar counts in int; 6.7 GB in bytes does not fit
}  // namespace

ModelDownloadDialog::ModelDownloadDialog(app::HubDownloadOptions options, QWidget* parent)
    : QDialog(parent), download_(new app::HubDownload(std::move(options), this)) {
  setWindowTitle(tr("Download %1").arg(download_->repo().section('/', -1)));
  buildUi();
  connect(download_, &app::HubDownload::statusChanged, status_, &QLabel::setText);
  connect(download_, &app::HubDownload::progress, this, &ModelDownloadDialog::showProgress);
  connect(download_, &app::HubDownload::failed, this, [this](const QString& message) { showStopped(message, true); });
  connect(download_, &app::HubDownload::cancelled, this, [this] {
    showStopped(tr("Cancelled. What arrived is kept: Retry resumes from there."), false);
  });
  connect(download_, &app::HubDownload::finished, this, [this](const QString& snapshot_dir) {
    setRunning(false);
    emit modelReady(snapshot_dir);
    accept();
  });
}

void ModelDownloadDialog::buildUi() {
  auto* intro = new QLabel(
      tr("Folio downloads the weights of %1 from %2 into<br><tt>%3</tt><br>where other Hugging Face tools find them "
         "too. An interrupted download resumes where it stopped.")
          .arg(download_->repo().toHtmlEscaped(), download_->endpoint().toHtmlEscaped(),
               download_->repoDir().toHtmlEscaped()),
      this);
  intro->setWordWrap(true);
  intro->setTextInteractionFlags(Qt::TextSelectableByMouse);
  status_ = new QLabel(this);
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  bar_ = new QProgressBar(this);
  bar_->setRange(0, kBarSteps);
  bar_->setValue(0);
  detail_ = new QLabel(this);
  auto* copy_hint = new QLabel(tr("Prefer to copy the files yourself? Put config.json, tokenizer.json and the "
                                  ".safetensors file in a folder and choose it in File ▸ Settings ▸ Model folder."),
                               this);
  copy_hint->setWordWrap(true);
  auto* buttons = new QDialogButtonBox(this);
  retry_ = buttons->addButton(tr("Retry"), QDialogButtonBox::ActionRole);
  cancel_ = buttons->addButton(QDialogButtonBox::Cancel);
  connect(retry_, &QPushButton::clicked, this, &ModelDownloadDialog::start);
  connect(cancel_, &QPushButton::clicked, this, [this] {
    if (download_->isRunning())
      download_->cancel();
    else
      QDialog::reject();
  });

  auto* layout = new QVBoxLayout(this);
  layout->addWidget(intro);
  layout->addWidget(status_);
  layout->addWidget(bar_);
  layout->addWidget(detail_);
  layout->addSpacing(8);
  layout->addWidget(copy_hint);
  layout->addWidget(buttons);
  setMinimumWidth(520);
  setRunning(false);
}

void ModelDownloadDialog::start() {
  status_->setStyleSheet({});
  setRunning(true);
  download_->start();
}

QString ModelDownloadDialog::statusText() const { return status_->text(); }

void ModelDownloadDialog::reject() {
  download_->cancel();
  QDialog::reject();
}

void ModelDownloadDialog::showProgress(qint64 bytes_done, qint64 bytes_total, double bytes_per_second,
                                       qint64 seconds_left) {
  bar_->setValue(bytes_total > 0 ? int(bytes_done * kBarSteps / bytes_total) : 0);
  detail_->setText(app::transferSummary(bytes_done, bytes_total, bytes_per_second, seconds_left));
}

void ModelDownloadDialog::showStopped(const QString& message, bool is_error) {
  setRunning(false);
  status_->setStyleSheet(is_error ? QStringLiteral("QLabel { color: #b00020; }") : QString());
  status_->setText(message);
}

void ModelDownloadDialog::setRunning(bool running) {
  retry_->setVisible(!running);
  retry_->setText(bar_->value() > 0 ? tr("Resume") : tr("Retry"));
  cancel_->setText(running ? tr("Cancel") : tr("Close"));
}

}  // namespace folio::ui
