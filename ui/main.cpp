#include <QApplication>
#include <QCommandLineParser>
#include <QDateTime>
#include <QStandardPaths>

#include "app_icon.h"
#include "local_engine_backend.h"
#include "main_window.h"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("Folio");
  QApplication::setOrganizationName("Folio");
  QApplication::setWindowIcon(folio::ui::appIcon());
  QCommandLineParser parser;
  parser.addHelpOption();
  parser.addOption({"project", "Project folder to open or create.", "folder"});
  parser.addOption({"pages", "Page range of the PDFs given (e.g. 1-3,5).", "range"});
  parser.addPositionalArgument("files", "PDFs or images to open.");
  parser.process(app);

  QSettings settings;
  QString project = parser.value("project");
  if (project.isEmpty()) project = folio::app::AppSettings::load(settings).last_project;
  if (project.isEmpty() || !parser.positionalArguments().isEmpty())
    project = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + "/projects/" +
              QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss");
  folio::ui::MainWindow window(
      [](const folio::app::AppSettings& s) { return folio::app::localEngineFactory(s.model_dir, s.device); },
      project);
  for (const QString& file : parser.positionalArguments()) window.openFile(file, parser.value("pages"));
  window.show();
  return QApplication::exec();
}
