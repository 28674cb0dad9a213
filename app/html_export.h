// The HTML export: one self-contained file (figures embedded as data: URIs), each page a <section id="page-N">,
// headings, lists and tables from the markdown, formulas kept as TeX in <span class="math ...">\(...\)</span>
// (the form MathJax and pandoc read).
#pragma once

#include "exporter.h"

namespace folio::app {

// The document as HTML. password: for encrypted PDF sources (figures are cropped from the pages).
QString projectHtml(const Project& project, const QList<int>& pages, const QString& password, QStringList* errors);

}  // namespace folio::app
