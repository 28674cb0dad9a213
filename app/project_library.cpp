#include "project_library.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>

namespace folio::app {
namespace {

constexpr int kMaxRecent = 20;
constexpr qint64 kHashChunk = 1 << 20;
const QString kRecentKey = QStringLiteral("recent_projects");

bool sameFile(const QString& a, const QString& b) {
  return QFileInfo(a).absoluteFilePath() == QFileInfo(b).absoluteFilePath();
}

void writeRecent(QSettings& settings, const QList<RecentProject>& projects) {
  settings.beginWriteArray(kRecentKey, projects.size());
  for (int i = 0; i < projects.size(); ++i) {
    settings.setArrayIndex(i);
    settings.setValue("folder", projects[i].folder);
    settings.setValue("last_opened", projects[i].last_opened);
  }
  settings.endArray();
  settings.sync();  // the list must survive a crash right after a project is opened
}

QList<RecentProject> readRecent(QSettings& settings) {
  QList<RecentProject> projects;
  const int count = settings.beginReadArray(kRecentKey);
  for (int i = 0; i < count; ++i) {
    settings.setArrayIndex(i);
    projects << RecentProject{settings.value("folder").toString(), settings.value("last_opened").toDateTime()};
  }
  settings.endArray();
  return projects;
}

}  // namespace

QString projectsRoot() {
  return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) + QStringLiteral("/projects");
}

// Sixteen hex digits (64 bits) of the hash name the folder: unique enough for one user's documents.
QString projectFolderFor(const QString& sha256) { return projectsRoot() + "/" + sha256.left(16); }

QString sha256OfFile(const QString& path, const std::atomic<bool>* cancel) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return {};
  QCryptographicHash hash(QCryptographicHash::Sha256);
  while (!file.atEnd()) {
    if (cancel && *cancel) return {};
    const QByteArray chunk = file.read(kHashChunk);
    if (chunk.isEmpty() && file.error() != QFile::NoError) return {};
    hash.addData(chunk);
  }
  return QString::fromLatin1(hash.result().toHex());
}

// The most recently opened project with this content first (a project saved elsewhere with Save As is newer
// than the copy in the default folder), then the default folder.
ProjectMatch findProject(const QString& path, const QString& sha256, QSettings& settings) {
  ProjectMatch by_path;
  for (const RecentProject& recent : recentProjects(settings)) {
    for (const SourceDocument& document : ProjectSummary::read(recent.folder).documents) {
      if (document.sha256 == sha256) return {recent.folder, false};
      if (by_path.folder.isEmpty() && sameFile(document.path, path)) by_path = {recent.folder, true};
    }
  }
  const QString by_hash = projectFolderFor(sha256);
  if (QFile::exists(by_hash + "/project.json") || QFile::exists(by_hash + "/project.json.bak")) return {by_hash, false};
  return by_path;
}

QList<RecentProject> recentProjects(QSettings& settings) {
  QList<RecentProject> projects;
  for (const RecentProject& recent : readRecent(settings))
    if (QFile::exists(recent.folder + "/project.json") || QFile::exists(recent.folder + "/project.json.bak"))
      projects << recent;
  return projects;
}

void rememberProject(QSettings& settings, const QString& folder) {
  QList<RecentProject> projects = readRecent(settings);
  projects.removeIf([&](const RecentProject& recent) { return sameFile(recent.folder, folder); });
  projects.prepend({QFileInfo(folder).absoluteFilePath(), QDateTime::currentDateTime()});
  if (projects.size() > kMaxRecent) projects.resize(kMaxRecent);
  writeRecent(settings, projects);
}

void forgetProject(QSettings& settings, const QString& folder) {
  QList<RecentProject> projects = readRecent(settings);
  projects.removeIf([&](const RecentProject& recent) { return sameFile(recent.folder, folder); });
  writeRecent(settings, projects);
}

}  // namespace folio::app
