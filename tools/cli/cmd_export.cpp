// folio-cli export: the formats again from what was read before — a <stem>.json of `folio-cli ocr` or an app
// project folder (with the user's edits) — without running the model.
#include <QDir>
#include <QFileInfo>
#include <iostream>

#include "document_commands.h"
#include "document_json.h"

namespace folio::cli {
namespace {

struct ExportArgs {
  std::string input, output = ".", formats = "md", password;
  bool page_markers = true;
};

[[noreturn]] void usageError(const std::string& message) { cli::usageError("export", message); }

// The pages and the name the outputs get: <stem>.json's stem, or the project's first document's.
QString loadPages(const QString& input, app::Project& project, app::DocumentInfo& info) {
  QString error;
  if (QFileInfo(input).isDir()) {
    if (!project.load(input, &error)) usageError(error.toStdString());
    if (project.pageCount() == 0) usageError(input.toStdString() + ": the project has no pages");
    info = app::documentInfoOf(project);
    return QFileInfo(project.name()).completeBaseName();
  }
  if (!app::readDocumentJson(input, project, info, &error)) usageError(error.toStdString());
  return QFileInfo(input).completeBaseName();
}

void runExport(const ExportArgs& args) {
  const auto application = startOffscreenApplication();
  const QList<app::ExportFormat> formats = parseFormats("export", args.formats);
  app::Project project;
  app::DocumentInfo info;
  const QString stem = loadPages(QString::fromStdString(args.input), project, info);
  const QDir out(QString::fromStdString(args.output));
  QDir().mkpath(out.path());
  app::ExportOptions options;
  options.page_markers = args.page_markers;
  options.password = QString::fromStdString(args.password);
  QStringList errors;
  for (app::ExportFormat format : formats) {
    const QString path = out.filePath(stem + app::exportFormatSuffix(format));
    QString error;
    if (format == app::ExportFormat::Json) {
      if (!app::writeDocumentJson(path, project, info, &error)) errors << error;
      continue;
    }
    errors << app::exportProject(project, format, path, options).errors;
  }
  for (const QString& error : errors) std::cerr << "folio-cli export: " << error.toStdString() << "\n";
  if (!errors.isEmpty()) throw ExitStatus{kExitSomeFailed};
}

void setupExport(CLI::App& cli) {
  auto args = std::make_shared<ExportArgs>();
  auto* cmd = cli.add_subcommand("export", "Write the formats again from a <stem>.json or an app project folder");
  cmd->add_option("input", args->input, "A <stem>.json written by `folio-cli ocr`, or a project folder")->required();
  cmd->add_option("--format", args->formats, "Any of md,json,html,pdf,txt,docx,odt");
  cmd->add_option("--password", args->password, "Password of encrypted source PDFs (figure crops, searchable PDF)");
  cmd->add_flag("!--no-page-markers", args->page_markers, "No <!-- page N --> markers in the joined markdown");
  cmd->add_option("-o,--output", args->output, "Output folder");
  cmd->callback([args] { runExport(*args); });
}

}  // namespace

FOLIO_CLI_COMMAND(setupExport);

}  // namespace folio::cli
