// Writing a file so that a crash or a full disk never leaves a damaged one: QSaveFile writes beside the target and
// replaces it only once complete. Every file Folio writes for the user goes through here.
#pragma once

#include <QByteArray>
#include <QSaveFile>
#include <QString>

namespace folio::app {

// QSaveFile::write and flush that count a short write as the failure it is: on a full disk Qt's buffered write
// succeeds, its flush fails, and commit() ignores that and replaces the good file with the truncated one. On
// failure the writing is cancelled (commit() keeps the old file) and *error names the file and the problem.
bool writeAll(QSaveFile& file, const QByteArray& bytes, QString* error);

// path replaced atomically by bytes.
bool writeFileAtomically(const QString& path, const QByteArray& bytes, QString* error);

}  // namespace folio::app
