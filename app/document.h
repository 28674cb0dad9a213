// A source document: a PDF (Poppler) or an image file (one or more frames). Pages are rendered to QImage at a
// requested resolution; images ignore the dpi (their pixels are the page).
#pragma once

#include <folio/engine.h>

#include <QImage>
#include <QImageReader>
#include <QString>
#include <memory>

namespace folio::app {

class Document {
 public:
  virtual ~Document() = default;
  virtual QString path() const = 0;
  virtual int pageCount() const = 0;
  virtual bool isVector() const = 0;  // true: renderPage gives sharper pages at higher dpi
  // A null image when the page cannot be rendered; error() then says why.
  virtual QImage renderPage(int index, double dpi) const = 0;
  // The resolution to render page `index` at: `dpi`, or lower where the page would exceed kMaxPagePixels (a poster
  // or a hostile MediaBox). Images are their own pixels: `dpi` unchanged.
  virtual double fittingDpi(int index, double dpi) const { return (void)index, dpi; }
  virtual QString error() const = 0;
};

struct OpenResult {
  std::unique_ptr<Document> document;
  QString error;                 // set when document is null
  bool needs_password = false;  // an encrypted PDF whose password was missing or wrong
};

// Told apart by content, not by name: a PDF named .png opens as a PDF, an image named .pdf as an image.
OpenResult openDocument(const QString& path, const QString& password = {});
// By content (a PDF header), or by the name where the file cannot be read.
bool isPdfPath(const QString& path);
// The reader's current image as the app reads image pages: EXIF orientation applied, refused above
// kMaxPagePixels before any pixel is decoded, RGB888. Null with *error (naming `name`) when it cannot be read.
QImage readImagePage(QImageReader& reader, const QString& name, QString* error);
// File dialog filter for every openable format.
QString openFileFilter();

// Parses "1-3,5,10-" (1-based, inclusive; "10-" runs to the last page) into 0-based page indices within page_count; empty text = all pages.
// Returns an empty list and sets *error for malformed or out-of-range input.
QList<int> parsePageRange(const QString& text, int page_count, QString* error);

}  // namespace folio::app
