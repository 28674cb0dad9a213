#include "exporter.h"

#include "document.h"

#include <QDir>
#include <QFileInfo>
#include <QSaveFile>

namespace folio::app {
namespace {

bool writeText(const QString& path, const QString& text, ExportReport& report) {
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly) || file.write(text.toUtf8()) < 0 || !file.commit()) {
    report.errors << QStringLiteral("%1: %2").arg(path, file.errorString());
    return false;
  }
  report.written << path;
  return true;
}

// Crops every figure region of the page to the file its markdown links to.
void exportFigures(const Page& page, const QDir& folder, const ExportOptions& options, ExportReport& report) {
  QList<const PageRegion*> figures;
  for (const PageRegion& region : page.regions)
    if (!region.figure_link.isEmpty() && !region.boxes.isEmpty()) figures << &region;
  if (figures.isEmpty()) return;
  OpenResult opened = openDocument(page.source, options.password);
  QImage image = opened.document ? opened.document->renderPage(page.source_page, page.dpi) : QImage();
  if (image.isNull()) {
    report.errors << (opened.document ? opened.document->error() : opened.error);
    return;
  }
  // Boxes are in pixels of the image the model saw; scale if the page renders at another size now.
  double sx = page.image_size.isEmpty() ? 1.0 : double(image.width()) / page.image_size.width();
  double sy = page.image_size.isEmpty() ? 1.0 : double(image.height()) / page.image_size.height();
  for (const PageRegion* figure : figures) {
    QRectF box = figure->boxes.first();
    QRect crop = QRectF(box.left() * sx, box.top() * sy, box.width() * sx, box.height() * sy)
                     .toAlignedRect()
                     .intersected(image.rect());
    QString path = folder.filePath(figure->figure_link);
    QDir().mkpath(QFileInfo(path).absolutePath());
    if (crop.isEmpty() || !image.copy(crop).save(path)) {
      report.errors << QStringLiteral("%1: could not write the figure").arg(path);
      continue;
    }
    report.written << path;
  }
}

QString pageMarker(int index) { return QStringLiteral("<!-- page %1 -->\n\n").arg(index + 1); }

}  // namespace

QString joinedMarkdown(const Project& project, bool page_markers) {
  QStringList parts;
  for (int i = 0; i < project.pageCount(); ++i)
    parts << (page_markers ? pageMarker(i) : QString()) + project.page(i).markdown.trimmed() + "\n";
  return parts.join("\n");
}

ExportReport exportMarkdown(const Project& project, const QString& markdown_path, const ExportOptions& options) {
  ExportReport report;
  QFileInfo target(markdown_path);
  QDir folder = target.absoluteDir();
  if (options.per_page) {
    for (int i = 0; i < project.pageCount(); ++i) {
      QString path = folder.filePath(QStringLiteral("%1_page%2.md").arg(target.completeBaseName()).arg(i + 1));
      writeText(path, project.page(i).markdown.trimmed() + "\n", report);
    }
  } else {
    writeText(markdown_path, joinedMarkdown(project, options.page_markers), report);
  }
  for (int i = 0; i < project.pageCount(); ++i) exportFigures(project.page(i), folder, options, report);
  return report;
}

}  // namespace folio::app
