// Export of a project's markdown: one .md with the pages joined (optionally with page markers) or one .md per
// page, and the figures the markdown links to, cropped from the page images into images/ next to it.
#pragma once

#include "project.h"

#include <QDir>
#include <QHash>
#include <QImage>
#include <QStringList>

namespace folio::app {

struct ExportOptions {
  bool page_markers = true;
  bool per_page = false;
  QString password;  // for encrypted PDF sources
  QList<int> pages;  // 0-based project page indices, in output order; empty: all pages
};

struct ExportReport {
  QStringList written;  // every file written
  QStringList errors;   // pages or figures that could not be exported; the rest still is
};

ExportReport exportMarkdown(const Project& project, const QString& markdown_path, const ExportOptions& options);

// The markdown of all pages joined, as exportMarkdown writes it.
QString joinedMarkdown(const Project& project, bool page_markers);
QString joinedMarkdown(const Project& project, const QList<int>& pages, bool page_markers);

// Writes text as UTF-8 through QSaveFile (atomic); the path goes to report.written or the error to report.errors.
bool writeTextFile(const QString& path, const QString& text, ExportReport& report);

// options.pages, or every page of the project when it is empty.
QList<int> selectedPages(const Project& project, const ExportOptions& options);

// The figures of a page, cropped from its image: figure link (as the markdown has it) -> image.
QHash<QString, QImage> figureCrops(const Page& page, const QString& password, QStringList* errors);
// Writes them to the files their links name, relative to folder.
void exportFigures(const Page& page, const QDir& folder, const ExportOptions& options, ExportReport& report);

}  // namespace folio::app
