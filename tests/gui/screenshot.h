// FOLIO_SCREENSHOTS=folder keeps pictures of the states the GUI tests reach (docs/*.png are taken so, under Xvfb
// with QT_QPA_PLATFORM=xcb, from the real main window with the scripted backend). Without it: nothing.
#pragma once

#include <QDir>
#include <QWidget>
#include <QtTest/QtTest>

namespace folio::test {

// A scanned page in the repository, made by scripts/make_sample_scan.py from shared/model/sample_outputs/NAME.txt.
inline QString sampleScan(const QString& name) {
  return QStringLiteral(FOLIO_SOURCE_DIR "/tests/data/scans/%1.jpg").arg(name);
}

inline bool screenshotsWanted() { return !qEnvironmentVariable("FOLIO_SCREENSHOTS").isEmpty(); }

inline void saveScreenshot(QWidget* window, const QString& name) {
  if (!screenshotsWanted()) return;
  window->resize(1440, 900);
  window->show();
  QTest::qWait(400);
  const QString path = QDir(qEnvironmentVariable("FOLIO_SCREENSHOTS")).filePath(name);
  if (!window->grab().save(path)) qWarning("could not write %s", qPrintable(path));
}

}  // namespace folio::test
