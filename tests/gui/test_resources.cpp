// The app's resources: the icon compiled into folio_ui, and the freedesktop entry installed beside the app.
#include <QtTest/QtTest>

#include "app_icon.h"

#include <QFile>
#include <QHash>

using namespace folio;

namespace {

// The keys of a desktop entry's [Desktop Entry] group; empty when the file cannot be read.
QHash<QString, QString> desktopEntry(const QString& path) {
  QFile file(path);
  QHash<QString, QString> keys;
  if (!file.open(QIODevice::ReadOnly | QIODevice::Text)) return keys;
  QString group;
  for (const QString& line : QString::fromUtf8(file.readAll()).split('\n')) {
    if (line.startsWith('[')) group = line.trimmed();
    else if (group == "[Desktop Entry]" && line.contains('=') && !line.startsWith('#'))
      keys.insert(line.section('=', 0, 0).trimmed(), line.section('=', 1).trimmed());
  }
  return keys;
}

}  // namespace

class ResourcesTest : public QObject {
  Q_OBJECT
 private slots:
  void iconHasEverySize() {
    const QIcon icon = ui::appIcon();
    QVERIFY(!icon.isNull());
    for (int size : {16, 32, 48, 64, 128, 256}) {
      const QPixmap pixmap = icon.pixmap(QSize(size, size));
      QVERIFY2(!pixmap.isNull(), qPrintable(QString::number(size)));
      QCOMPARE(pixmap.size(), QSize(size, size));  // its own rendering, not another size scaled
      QVERIFY(QFile::exists(QStringLiteral(FOLIO_SOURCE_DIR "/resources/icons/hicolor/%1x%1/apps/folio.png").arg(size)));
    }
    // Drawn, not blank: the page's outline is opaque at the smallest size.
    const QImage small = icon.pixmap(QSize(16, 16)).toImage();
    QCOMPARE(qAlpha(small.pixel(2, 8)), 255);
  }

  void desktopEntryHasTheRequiredKeys() {
    const QHash<QString, QString> entry = desktopEntry(FOLIO_SOURCE_DIR "/resources/folio.desktop");
    QCOMPARE(entry.value("Type"), QStringLiteral("Application"));
    QCOMPARE(entry.value("Name"), QStringLiteral("Folio"));
    QVERIFY(!entry.value("GenericName").isEmpty());
    QVERIFY(!entry.value("Comment").isEmpty());
    QCOMPARE(entry.value("Exec"), QStringLiteral("folio %F"));
    QCOMPARE(entry.value("Icon"), QStringLiteral("folio"));  // the installed hicolor icons' name
    const QStringList categories = entry.value("Categories").split(';', Qt::SkipEmptyParts);
    for (const char* category : {"Office", "Graphics", "OCR"}) QVERIFY2(categories.contains(category), category);
    const QStringList types = entry.value("MimeType").split(';', Qt::SkipEmptyParts);
    for (const char* type : {"application/pdf", "image/png", "image/jpeg", "image/tiff", "image/webp"})
      QVERIFY2(types.contains(type), type);
  }
};

QTEST_MAIN(ResourcesTest)
#include "test_resources.moc"
