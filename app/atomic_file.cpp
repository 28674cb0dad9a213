#include "atomic_file.h"

namespace folio::app {

bool writeAll(QSaveFile& file, const QByteArray& bytes, QString* error) {
  // Flushed here: commit() ignores a failed flush of Qt's write buffer and would rename the short file into place.
  const qint64 written = file.write(bytes);
  if (written == bytes.size() && file.flush()) return true;
  const QString problem = written < 0 ? file.errorString()
                                      : QStringLiteral("the disk is full or the file is too large (%1)")
                                            .arg(file.errorString());
  if (error) *error = QStringLiteral("Could not write %1: %2").arg(file.fileName(), problem);
  file.cancelWriting();
  return false;
}

bool writeFileAtomically(const QString& path, const QByteArray& bytes, QString* error) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) {
    if (error) *error = QStringLiteral("Could not write %1: %2").arg(path, file.errorString());
    return false;
  }
  if (!writeAll(file, bytes, error)) return false;
  if (!file.commit()) {
    if (error) *error = QStringLiteral("Could not write %1: %2").arg(path, file.errorString());
    return false;
  }
  return true;
}

}  // namespace folio::app
