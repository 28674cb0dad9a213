// The document JSON `folio-cli ocr` writes beside its outputs (<stem>.json) and `folio-cli export` reads back:
// the document, each page (size in pixels and PDF points, status, the model's raw text, the markdown, edited) and
// each region (label, boxes in page pixels, normalised 0-1 and PDF points, text span, figure file). Documented in
// docs/json-format.md, its JSON Schema in docs/folio-document.schema.json. It doubles as the resume record: a page
// whose status is "done" is not read again.
#pragma once

#include "project.h"

#include <QJsonObject>

namespace folio::app {

struct DocumentInfo {
  QString source;  // the input file
  QString model;   // the model folder
  QString mode;    // "gundam", ...
  QString task;    // "markdown", ...
};

inline constexpr int kDocumentJsonVersion = 1;

// The info of an app project: its first document, the first page's mode, the markdown task.
DocumentInfo documentInfoOf(const Project& project);

QJsonObject documentJson(const Project& project, const DocumentInfo& info);
// Reads a document JSON back into a project (pages, results, edits) and its info; false and *error naming the file
// and the problem when it is not one.
bool readDocumentJson(const QString& path, Project& project, DocumentInfo& info, QString* error);
bool writeDocumentJson(const QString& path, const Project& project, const DocumentInfo& info, QString* error);

}  // namespace folio::app
