// Plain text from the model's markdown, for the exports that carry words without markup (the searchable PDF's
// invisible text layer, the .txt export): headings, list bullets, emphasis, links, images and HTML tags go;
// table cells become space-separated words, one row a line; formulas keep their TeX source.
#pragma once

#include <QString>

namespace folio::app {

QString markdownToPlainText(const QString& markdown);

}  // namespace folio::app
