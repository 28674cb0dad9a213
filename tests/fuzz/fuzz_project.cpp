// An app project from arbitrary bytes: project.json (and, after a NUL byte, the edit journal beside it) loaded as
// the app loads a project at start-up. It loads or says why; a loaded page holds only what the app can use: its
// regions inside its markdown, a usable resolution, no negative page number.
#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "project.h"

namespace {
QString folder;

void write(const QString& path, const QByteArray& bytes) {
  QFile file(path);
  if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) || file.write(bytes) != bytes.size()) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  new QCoreApplication(*argc, *argv);  // for the project's save timer
  folder = QDir::temp().filePath(QStringLiteral("folio-fuzz-project-%1").arg(QCoreApplication::applicationPid()));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  QDir(folder).removeRecursively();
  QDir().mkpath(folder);
  const QByteArray bytes(reinterpret_cast<const char*>(data), qsizetype(size));
  const qsizetype nul = bytes.indexOf('\0');
  write(folder + "/project.json", nul < 0 ? bytes : bytes.left(nul));
  if (nul >= 0) write(folder + "/journal.jsonl", bytes.mid(nul + 1));
  folio::app::Project project;
  QString error, warning;
  if (!project.load(folder, &error, &warning)) {
    if (error.isEmpty()) std::abort();  // a refusal says why
    return 0;
  }
  for (int i = 0; i < project.pageCount(); ++i) {
    const folio::app::Page& page = project.page(i);
    if (page.source_page < 0 || !std::isfinite(page.dpi) || page.dpi < 1 || page.dpi > 600) std::abort();
    for (const folio::app::PageRegion& region : page.regions)
      if (region.begin < 0 || region.begin > region.end || region.end > page.markdown.size()) std::abort();
  }
  project.summary();
  return 0;
}
