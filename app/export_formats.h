// Every export format behind one call: markdown (exporter.h), the searchable PDF (pdf_export.h), HTML
// (html_export.h), plain text, and DOCX / ODT through pandoc. JSON is written by its caller.
#pragma once

#include "exporter.h"

#include <optional>

namespace folio::app {

enum class ExportFormat { Markdown, Json, Html, Pdf, Text, Docx, Odt };

std::optional<ExportFormat> exportFormatFromName(const QString& name);  // "md","json","html","pdf","txt","docx","odt"
QString exportFormatName(ExportFormat format);
QString exportFormatSuffix(ExportFormat format);  // ".md", ...

// Writes the project's pages (options.pages: 0-based project page indices, empty = all) in `format` to `path`,
// atomically. Markdown: exportMarkdown. Json: an error, the caller writes it.
ExportReport exportProject(const Project& project, ExportFormat format, const QString& path, const ExportOptions& options);

// The pages' text without markdown markup, in reading order, pages separated by a form feed.
QString projectPlainText(const Project& project, const QList<int>& pages);

}  // namespace folio::app
