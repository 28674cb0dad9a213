// Plain text from the model's markdown, for the exports that carry words without markup (the searchable PDF's
// invisible text layer, the .txt export): headings, list bullets, emphasis, links, images and HTML tags go;
// table cells become space-separated words, one row a line; formulas keep their TeX source.
#pragma once

#include <QRegularExpression>
#include <QString>
#include <QStringList>
#include <functional>

namespace folio::app {

QString markdownToPlainText(const QString& markdown);

// Pieces taken out of a text before a step that would mangle them (formulas before markdown sees their \, _ and
// *), each replaced by `marker` with %1 its number, and put back afterwards. The marker must be something the step
// leaves alone and must end in a character digits cannot continue ("X1" would also match "X12").
struct SetAside {
  QString text;
  QStringList pieces;
};
SetAside setAside(const QString& text, const QRegularExpression& pattern, const QString& marker,
                  const std::function<QString(const QRegularExpressionMatch&)>& piece);
QString putBack(QString text, const QStringList& pieces, const QString& marker);

}  // namespace folio::app
