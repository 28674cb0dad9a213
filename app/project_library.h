// Where projects live and how a document finds its project again: by the SHA-256 of the file's bytes (so a
// renamed or moved copy still finds its work), in the default folder named after that hash or in any project the
// user opened recently. Also the recent-projects list the start screen and File > Open Recent show.
#pragma once

#include "project.h"

#include <QDateTime>
#include <QSettings>
#include <QString>
#include <atomic>

namespace folio::app {

// <app data>/projects: where a document's project is made unless the user saves it elsewhere.
QString projectsRoot();
// The default project folder for a document with this content.
QString projectFolderFor(const QString& sha256);

// Hex SHA-256 of the file's bytes; empty when it cannot be read. Reads in chunks (call it off the GUI thread
// for large files) and stops early, returning empty, once *cancel is set.
QString sha256OfFile(const QString& path, const std::atomic<bool>* cancel = nullptr);

struct ProjectMatch {
  QString folder;              // empty: no project knows this document
  bool content_changed = false;  // the project knows this path, but with other content
};

// The project that holds a document with this content, else one that holds this path with other content.
ProjectMatch findProject(const QString& path, const QString& sha256, QSettings& settings);

struct RecentProject {
  QString folder;
  QDateTime last_opened;
};

// Most recent first; projects whose folder is gone are left out.
QList<RecentProject> recentProjects(QSettings& settings);
void rememberProject(QSettings& settings, const QString& folder);  // to the front, opened now
void forgetProject(QSettings& settings, const QString& folder);

}  // namespace folio::app
