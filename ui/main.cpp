#include <folio_version.h>

#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <cstdio>

#include "app_icon.h"
#include "local_engine_backend.h"
#include "main_window.h"
#include "termination.h"

// With files: each finds its own project again (or gets a new one). Without: the last project, else the start
// screen. --project names a folder to open or create.
QString projectToOpen(const QCommandLineParser& parser, QSettings& settings) {
  if (parser.isSet("project")) return parser.value("project");
  if (!parser.positionalArguments().isEmpty()) return {};
  const QString last = folio::app::AppSettings::load(settings).last_project;
  return QFileInfo::exists(last) ? last : QString();
}

void describeOptions(QCommandLineParser& parser) {
  parser.setApplicationDescription("Folio: scanned PDFs and images to editable markdown with DeepSeek-OCR.");
  parser.addHelpOption();
  parser.addOption({"version", "Print the version, commit, libtorch version and CUDA architectures, then exit."});
  parser.addOption({"project", "Project folder to open or create.", "folder"});
  parser.addOption({"pages", "Page range of the PDFs given (e.g. 1-3,5).", "range"});
  parser.addPositionalArgument("files", "PDFs or images to open.");
}

// --help and --version answer before the GUI starts, so that they work without a display (packaging, scripts).
bool answeredWithoutGui(int argc, char** argv) {
  const QCoreApplication core(argc, argv);  // no display needed; gone before the QApplication is made
  QCommandLineParser parser;
  describeOptions(parser);
  if (!parser.parse(QCoreApplication::arguments())) return false;  // the GUI's parser reports the error
  if (parser.isSet("version")) {
    std::fputs(folioVersionText("folio").c_str(), stdout);
    return true;
  }
  if (parser.isSet("help")) {
    std::fputs(parser.helpText().toLocal8Bit().constData(), stdout);
    return true;
  }
  return false;
}

int main(int argc, char** argv) {
  if (answeredWithoutGui(argc, argv)) return 0;
  QApplication app(argc, argv);
  QApplication::setApplicationName("Folio");
  QApplication::setOrganizationName("Folio");
  QApplication::setWindowIcon(folio::ui::appIcon());
  QCommandLineParser parser;
  describeOptions(parser);
  parser.process(app);

  QSettings settings;
  folio::ui::MainWindow window(
      [](const folio::app::AppSettings& s) { return folio::app::backendFactory(s); },
      projectToOpen(parser, settings));
  for (const QString& file : parser.positionalArguments()) window.openFile(file, parser.value("pages"));
  // A kill, Ctrl+C or the session ending saves like Quit does.
  folio::app::onTerminationSignal(&window, [&window] { window.close(); });
  QObject::connect(&app, &QGuiApplication::commitDataRequest, &window, [&window] { window.saveState(); });
  QObject::connect(&app, &QCoreApplication::aboutToQuit, &window, [&window] { window.saveState(); });
  window.show();
  return QApplication::exec();
}
