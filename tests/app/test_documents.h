// Documents and model results the app and GUI tests read: a text PDF, a plain image, a sample's parsed result.
#pragma once

#include "mini_model.h"
#include "scripted_backend.h"

#include <QImage>
#include <QPainter>
#include <QPdfWriter>
#include <QProcess>

namespace folio::test {

inline QString writePdf(const QString& path, int pages) {
  QPdfWriter writer(path);
  writer.setResolution(72);
  QPainter painter(&writer);
  for (int i = 0; i < pages; ++i) {
    if (i > 0) writer.newPage();
    painter.setFont(QFont("Sans", 24));
    painter.drawText(72, 100, QStringLiteral("Page %1 of the test document").arg(i + 1));
    painter.fillRect(100, 300, 200, 100, Qt::black);
  }
  return path;
}

inline QString writeImage(const QString& path, QSize size, QColor mark = Qt::red) {
  QImage image(size, QImage::Format_RGB888);
  image.fill(Qt::white);
  QPainter(&image).fillRect(QRect(size.width() / 4, size.height() / 4, size.width() / 2, size.height() / 2), mark);
  if (!image.save(path)) qFatal("cannot write %s", qPrintable(path));
  return path;
}

inline Result sampleResult(const QString& sample, QSize page, const std::string& stem) {
  QString text = readSample(sample);
  text.remove(kEndOfSentence);
  Result result;
  result.raw_text = text.toStdString();
  result.grounded = parseGrounding(result.raw_text, page.width(), page.height(), stem);
  return result;
}

}  // namespace folio::test

namespace folio::test {

// A miniature model (mini_model.h) for a test case's set-up, which cannot go on without it.
inline QString makeMiniModel(const QString& folder, const char* config = "mini_config.json") {
  QString error;
  if (!writeMiniModel(folder, config, &error)) qFatal("folio-cli synth-weights failed: %s", qPrintable(error));
  return folder;
}

}  // namespace folio::test
