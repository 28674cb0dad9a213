#include "document.h"

#include <QFile>
#include <QFileInfo>
#include <QImageReader>
#include <QRegularExpression>
#include <cmath>
#include <poppler-qt6.h>

namespace folio::app {
namespace {

// Poppler's own complaints about a damaged file go here instead of stderr (a broken PDF can print thousands of
// lines); the last one explains a failed load.
thread_local QString last_poppler_error;
void keepPopplerError(const QString& message, const QVariant&) { last_poppler_error = message; }

QString pixelsText(double width, double height) {
  return QStringLiteral("%1 × %2 pixels").arg(qRound64(width)).arg(qRound64(height));
}

class PdfDocument : public Document {
 public:
  PdfDocument(QString path, std::unique_ptr<Poppler::Document> pdf) : path_(std::move(path)), pdf_(std::move(pdf)) {
    pdf_->setRenderHint(Poppler::Document::Antialiasing);
    pdf_->setRenderHint(Poppler::Document::TextAntialiasing);
  }
  QString path() const override { return path_; }
  int pageCount() const override { return pdf_->numPages(); }
  bool isVector() const override { return true; }
  QImage renderPage(int index, double dpi) const override {
    std::unique_ptr<Poppler::Page> page(pdf_->page(index));
    if (!page) return fail(QStringLiteral("%1: page %2 does not exist").arg(path_).arg(index + 1));
    const QSizeF pixels = page->pageSizeF() * (dpi / 72);
    if (pixels.width() * pixels.height() > kMaxPagePixels)
      return fail(QStringLiteral("%1: page %2 is %3 at %4 dpi, more than Folio renders (%5 million)")
                      .arg(path_).arg(index + 1).arg(pixelsText(pixels.width(), pixels.height())).arg(dpi)
                      .arg(kMaxPagePixels / 1'000'000));
    QImage image = page->renderToImage(dpi, dpi);
    if (image.isNull()) return fail(QStringLiteral("%1: page %2 could not be rendered").arg(path_).arg(index + 1));
    return image.convertToFormat(QImage::Format_RGB888);
  }
  double fittingDpi(int index, double dpi) const override {
    std::unique_ptr<Poppler::Page> page(pdf_->page(index));
    if (!page) return dpi;
    const QSizeF points = page->pageSizeF();
    const double pixels = points.width() * points.height() * (dpi / 72) * (dpi / 72);
    if (pixels <= kMaxPagePixels) return dpi;
    return std::floor(dpi * std::sqrt(kMaxPagePixels / pixels) * 10) / 10;  // rounded down: never over the limit
  }
  QString error() const override { return error_; }

 private:
  QImage fail(const QString& message) const {
    error_ = message;
    return {};
  }
  QString path_;
  std::unique_ptr<Poppler::Document> pdf_;
  mutable QString error_;
};

class ImageDocument : public Document {
 public:
  ImageDocument(QString path, int frames) : path_(std::move(path)), frames_(frames) {}
  QString path() const override { return path_; }
  int pageCount() const override { return frames_; }
  bool isVector() const override { return false; }
  QImage renderPage(int index, double) const override {
    QImageReader reader(path_);
    if (index > 0 && !reader.jumpToImage(index)) {
      error_ = QStringLiteral("%1: frame %2 does not exist").arg(path_).arg(index + 1);
      return {};
    }
    return readImagePage(reader, path_, &error_);
  }
  QString error() const override { return error_; }

 private:
  QString path_;
  int frames_;
  mutable QString error_;
};

OpenResult openPdf(const QString& path, const QString& password) {
  OpenResult result;
  static const bool quiet = (Poppler::setDebugErrorFunction(keepPopplerError, {}), true);
  (void)quiet;
  last_poppler_error.clear();
  std::unique_ptr<Poppler::Document> pdf = Poppler::Document::load(path, password.toUtf8(), password.toUtf8());
  if (!pdf) {
    result.error = QStringLiteral("%1: not a readable PDF").arg(path);
    if (!last_poppler_error.isEmpty()) result.error += QStringLiteral(" (%1)").arg(last_poppler_error);
    return result;
  }
  if (pdf->isLocked()) {
    result.needs_password = true;
    result.error = QStringLiteral("%1 is encrypted: a password is needed").arg(path);
    return result;
  }
  if (pdf->numPages() <= 0) {
    result.error = QStringLiteral("%1: the PDF has no pages").arg(path);
    return result;
  }
  result.document = std::make_unique<PdfDocument>(path, std::move(pdf));
  return result;
}

OpenResult openImage(const QString& path) {
  OpenResult result;
  QImageReader reader(path);
  if (!reader.canRead()) {
    result.error = QStringLiteral("%1: %2").arg(path, reader.errorString());
    return result;
  }
  // Multi-page TIFF reports its frame count; single images report 0 or 1.
  result.document = std::make_unique<ImageDocument>(path, std::max(1, reader.imageCount()));
  return result;
}

}  // namespace

QImage readImagePage(QImageReader& reader, const QString& name, QString* error) {
  reader.setAutoTransform(true);
  const QSize size = reader.size();  // from the header, before any pixel is decoded
  if (qint64(size.width()) * size.height() > kMaxPagePixels) {
    *error = QStringLiteral("%1: the image is %2, more than Folio reads (%3 million)")
                 .arg(name, pixelsText(size.width(), size.height())).arg(kMaxPagePixels / 1'000'000);
    return {};
  }
  QImage image = reader.read();
  if (image.isNull()) {
    *error = QStringLiteral("%1: %2").arg(name, reader.errorString());
    return {};
  }
  return image.convertToFormat(QImage::Format_RGB888);
}

bool isPdfPath(const QString& path) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return QFileInfo(path).suffix().compare("pdf", Qt::CaseInsensitive) == 0;
  return file.read(1024).contains("%PDF-");  // PDF readers accept the header anywhere in the first 1024 bytes
}

OpenResult openDocument(const QString& path, const QString& password) {
  const QFileInfo info(path);
  if (!info.exists()) return {nullptr, QStringLiteral("%1: no such file").arg(path), false};
  if (info.isDir()) return {nullptr, QStringLiteral("%1 is a folder, not a document").arg(path), false};
  if (info.size() == 0) return {nullptr, QStringLiteral("%1: the file is empty").arg(path), false};
  if (isPdfPath(path)) return openPdf(path, password);
  OpenResult image = openImage(path);
  if (!image.document && info.suffix().compare("pdf", Qt::CaseInsensitive) == 0)
    image.error = QStringLiteral("%1: not a readable PDF (no PDF header, and not an image either)").arg(path);
  return image;
}

QString openFileFilter() {
  return QStringLiteral("Documents (*.pdf *.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp);;All files (*)");
}

QList<int> parsePageRange(const QString& text, int page_count, QString* error) {
  QList<int> pages;
  if (text.trimmed().isEmpty()) {
    for (int i = 0; i < page_count; ++i) pages << i;
    return pages;
  }
  // "7", "1-3" or an open end "10-" (to the last page).
  static const QRegularExpression part(QStringLiteral("^\\s*(\\d+)\\s*(?:(-)\\s*(\\d*))?\\s*$"));
  for (const QString& piece : text.split(',')) {
    QRegularExpressionMatch match = part.match(piece);
    int first = match.hasMatch() ? match.captured(1).toInt() : 0;
    int last = match.captured(2).isEmpty() ? first : match.captured(3).isEmpty() ? page_count : match.captured(3).toInt();
    if (!match.hasMatch() || first < 1 || last < first || last > page_count) {
      if (error) *error = QStringLiteral("\"%1\" is not a page range within 1-%2").arg(piece.trimmed()).arg(page_count);
      return {};
    }
    for (int p = first; p <= last; ++p) pages << p - 1;
  }
  return pages;
}

}  // namespace folio::app
