// Export of a project's markdown: one .md with the pages joined (optionally with page markers) or one .md per
// page, and the figures the markdown links to, cropped from the page images into images/ next to it.
#pragma once

#include "project.h"

#include <QStringList>

namespace folio::app {

struct ExportOptions {
  bool page_markers = true;
  bool per_page = false;
  QString password;  // for encrypted PDF sources
};

struct ExportReport {
  QStringList written;  // every file written
  QStringList errors;   // pages or figures that could not be exported; the rest still is
};

ExportReport exportMarkdown(const Project& project, const QString& markdown_path, const ExportOptions& options);

// The markdown of all pages joined, as exportMarkdown writes it.
QString joinedMarkdown(const Project& project, bool page_markers);

}  // namespace folio::app
