// What `folio-cli ocr` and `folio-cli export` share: a Qt application without a display (Poppler, QImage and the
// exporters need one) and the --format list.
#pragma once

#include <QGuiApplication>
#include <iostream>
#include <memory>
#include <string>

#include "command.h"
#include "export_formats.h"

namespace folio::cli {

[[noreturn]] inline void usageError(const std::string& command, const std::string& message) {
  std::cerr << "folio-cli " << command << ": " << message << "\n";
  throw ExitStatus{kExitUsage};
}

inline std::unique_ptr<QGuiApplication> startOffscreenApplication() {
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  static int argc = 1;
  static char name[] = "folio-cli";
  static char* argv[] = {name, nullptr};
  return std::make_unique<QGuiApplication>(argc, argv);
}

// "md,pdf" → the formats; an unknown name is a usage error.
inline QList<app::ExportFormat> parseFormats(const std::string& command, const std::string& list) {
  QList<app::ExportFormat> formats;
  for (const QString& name : QString::fromStdString(list).split(',', Qt::SkipEmptyParts)) {
    const auto format = app::exportFormatFromName(name.trimmed());
    if (!format) usageError(command, "unknown format " + name.toStdString() + " (md, json, html, pdf, txt, docx, odt)");
    formats << *format;
  }
  return formats;
}

}  // namespace folio::cli
