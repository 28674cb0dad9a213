#include "exporter.h"
#include "atomic_file.h"

#include "document.h"

#include <QDir>
#include <QFileInfo>

namespace folio::app {
namespace {

QString pageMarker(int index) { return QStringLiteral("<!-- page %1 -->\n\n").arg(index + 1); }

}  // namespace

bool writeTextFile(const QString& path, const QString& text, ExportReport& report) {
  QString error;
  if (!writeFileAtomically(path, text.toUtf8(), &error)) {
    report.errors << error;
    return false;
  }
  report.written << path;
  return true;
}

QList<int> selectedPages(const Project& project, const ExportOptions& options) {
  if (!options.pages.isEmpty()) return options.pages;
  QList<int> all;
  for (int i = 0; i < project.pageCount(); ++i) all << i;
  return all;
}

QHash<QString, QImage> figureCrops(const Page& page, const QString& password, QStringList* errors) {
  QList<const PageRegion*> figures;
  for (const PageRegion& region : page.regions)
    if (!region.figure_link.isEmpty() && !region.boxes.isEmpty()) figures << &region;
  if (figures.isEmpty()) return {};
  OpenResult opened = openDocument(page.source, password);
  QImage image = opened.document ? opened.document->renderPage(page.source_page, page.dpi) : QImage();
  if (image.isNull()) {
    *errors << (opened.document ? opened.document->error() : opened.error);
    return {};
  }
  // Boxes are in pixels of the image the model saw; scale if the page renders at another size now.
  double sx = page.image_size.isEmpty() ? 1.0 : double(image.width()) / page.image_size.width();
  double sy = page.image_size.isEmpty() ? 1.0 : double(image.height()) / page.image_size.height();
  QHash<QString, QImage> crops;
  for (const PageRegion* figure : figures) {
    QRectF box = figure->boxes.first();
    QRect crop = QRectF(box.left() * sx, box.top() * sy, box.width() * sx, box.height() * sy)
                     .toAlignedRect()
                     .intersected(image.rect());
    if (crop.isEmpty()) *errors << QStringLiteral("%1: the figure's box is outside the page").arg(figure->figure_link);
    else crops.insert(figure->figure_link, image.copy(crop));
  }
  return crops;
}

void exportFigures(const Page& page, const QDir& folder, const ExportOptions& options, ExportReport& report) {
  QHash<QString, QImage> crops = figureCrops(page, options.password, &report.errors);
  for (auto it = crops.cbegin(); it != crops.cend(); ++it) {
    QString path = folder.filePath(it.key());
    QDir().mkpath(QFileInfo(path).absolutePath());
    if (!it.value().save(path)) {
      report.errors << QStringLiteral("%1: could not write the figure").arg(path);
      continue;
    }
    report.written << path;
  }
}

QString joinedMarkdown(const Project& project, const QList<int>& pages, bool page_markers) {
  QStringList parts;
  for (int i : pages) parts << (page_markers ? pageMarker(i) : QString()) + project.page(i).markdown.trimmed() + "\n";
  return parts.join("\n");
}

QString joinedMarkdown(const Project& project, bool page_markers) {
  return joinedMarkdown(project, selectedPages(project, {}), page_markers);
}

ExportReport exportMarkdown(const Project& project, const QString& markdown_path, const ExportOptions& options) {
  ExportReport report;
  QFileInfo target(markdown_path);
  QDir folder = target.absoluteDir();
  QList<int> pages = selectedPages(project, options);
  if (options.per_page) {
    for (int i : pages) {
      QString path = folder.filePath(QStringLiteral("%1_page%2.md").arg(target.completeBaseName()).arg(i + 1));
      writeTextFile(path, project.page(i).markdown.trimmed() + "\n", report);
    }
  } else {
    writeTextFile(markdown_path, joinedMarkdown(project, pages, options.page_markers), report);
  }
  for (int i : pages) exportFigures(project.page(i), folder, options, report);
  return report;
}

}  // namespace folio::app
