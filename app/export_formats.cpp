#include "export_formats.h"
#include "atomic_file.h"

#include "html_export.h"
#include "markdown_text.h"
#include "pdf_export.h"

#include <QFile>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>

#include <array>

namespace folio::app {
namespace {

struct FormatInfo {
  ExportFormat format;
  const char* name;
};

constexpr std::array kFormats{
    FormatInfo{ExportFormat::Markdown, "md"}, FormatInfo{ExportFormat::Json, "json"},
    FormatInfo{ExportFormat::Html, "html"},   FormatInfo{ExportFormat::Pdf, "pdf"},
    FormatInfo{ExportFormat::Text, "txt"},    FormatInfo{ExportFormat::Docx, "docx"},
    FormatInfo{ExportFormat::Odt, "odt"},
};

constexpr int kPandocTimeoutMs = 120'000;

QString checkPages(const Project& project, const QList<int>& pages) {
  if (pages.isEmpty()) return QStringLiteral("There are no pages to export");
  for (int index : pages)
    if (index < 0 || index >= project.pageCount())
      return QStringLiteral("Page %1 is not in the project (it has %2)").arg(index + 1).arg(project.pageCount());
  return {};
}

bool copyAtomically(const QString& from, const QString& to, ExportReport& report) {
  QFile source(from);
  if (!source.open(QIODevice::ReadOnly)) {
    report.errors << QStringLiteral("%1: %2").arg(from, source.errorString());
    return false;
  }
  QString error;
  if (!writeFileAtomically(to, source.readAll(), &error)) {
    report.errors << error;
    return false;
  }
  report.written << to;
  return true;
}

// DOCX and ODT: pandoc converts the HTML export (its reader turns the model's HTML tables into real tables,
// which its markdown reader would keep as raw HTML that the DOCX/ODT writers drop), figures embedded in it.
ExportReport exportWithPandoc(const Project& project, ExportFormat format, const QString& path,
                              const ExportOptions& options, const QList<int>& pages) {
  ExportReport report;
  QString name = exportFormatName(format).toUpper();
  QString pandoc = QStandardPaths::findExecutable(QStringLiteral("pandoc"));
  if (pandoc.isEmpty()) {
    report.errors << QStringLiteral("%1 needs pandoc: install it with apt-get install pandoc").arg(name);
    return report;
  }
  QTemporaryDir work;
  QString html = work.filePath(QStringLiteral("document.html"));
  QString converted = work.filePath(QStringLiteral("document") + exportFormatSuffix(format));
  ExportReport html_report;
  if (!writeTextFile(html, projectHtml(project, pages, options.password, &report.errors), html_report)) {
    report.errors << html_report.errors;
    return report;
  }
  QProcess process;
  process.setProcessChannelMode(QProcess::MergedChannels);
  process.start(pandoc, {QStringLiteral("-f"), QStringLiteral("html"), QStringLiteral("-t"), exportFormatName(format),
                         QStringLiteral("--resource-path"), work.path(), QStringLiteral("-o"), converted, html});
  if (!process.waitForFinished(kPandocTimeoutMs) || process.exitStatus() != QProcess::NormalExit || process.exitCode() != 0) {
    report.errors << QStringLiteral("pandoc could not write the %1: %2").arg(name, QString::fromUtf8(process.readAll()).trimmed());
    return report;
  }
  copyAtomically(converted, path, report);
  return report;
}

}  // namespace

std::optional<ExportFormat> exportFormatFromName(const QString& name) {
  for (const FormatInfo& info : kFormats)
    if (name.compare(QLatin1String(info.name), Qt::CaseInsensitive) == 0) return info.format;
  return std::nullopt;
}

QString exportFormatName(ExportFormat format) {
  for (const FormatInfo& info : kFormats)
    if (info.format == format) return QString::fromLatin1(info.name);
  return {};
}

QString exportFormatSuffix(ExportFormat format) { return "." + exportFormatName(format); }

QString projectPlainText(const Project& project, const QList<int>& pages) {
  QStringList texts;
  for (int index : pages) texts << markdownToPlainText(project.page(index).markdown) + "\n";
  return texts.join(QChar('\f'));  // a form feed: the page break plain-text tools (less, pr, pdftotext) know
}

ExportReport exportProject(const Project& project, ExportFormat format, const QString& path, const ExportOptions& options) {
  QList<int> pages = selectedPages(project, options);
  ExportReport report;
  if (QString problem = checkPages(project, pages); !problem.isEmpty()) {
    report.errors << problem;
    return report;
  }
  switch (format) {
    case ExportFormat::Markdown: return exportMarkdown(project, path, options);
    case ExportFormat::Json: report.errors << QStringLiteral("json is written by the caller"); return report;
    case ExportFormat::Pdf: return exportSearchablePdf(project, pages, path, options.password);
    case ExportFormat::Html: {
      QString html = projectHtml(project, pages, options.password, &report.errors);
      writeTextFile(path, html, report);
      return report;
    }
    case ExportFormat::Text: writeTextFile(path, projectPlainText(project, pages), report); return report;
    case ExportFormat::Docx:
    case ExportFormat::Odt: return exportWithPandoc(project, format, path, options, pages);
  }
  return report;
}

}  // namespace folio::app
