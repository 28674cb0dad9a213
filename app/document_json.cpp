#include "document_json.h"
#include "atomic_file.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>

namespace folio::app {
namespace {

constexpr double kPointsPerInch = 72.0;

QJsonArray rectJson(const QRectF& box, double sx, double sy) {
  return {box.left() * sx, box.top() * sy, box.right() * sx, box.bottom() * sy};
}

QJsonObject regionJson(const PageRegion& region, const Page& page) {
  const QSizeF size = page.image_size;
  const double to_points = kPointsPerInch / page.dpi;
  QJsonArray pixels, normalised, points;
  for (const QRectF& box : region.boxes) {
    pixels.append(rectJson(box, 1, 1));
    normalised.append(rectJson(box, 1 / std::max(size.width(), 1.0), 1 / std::max(size.height(), 1.0)));
    points.append(rectJson(box, to_points, to_points));
  }
  return {{"label", region.label},
          {"boxes_px", pixels},
          {"boxes_normalised", normalised},
          {"boxes_pt", points},
          {"text_begin", region.begin},
          {"text_end", region.end},
          {"text", page.markdown.mid(region.begin, region.end - region.begin)},
          {"figure", region.figure_link}};
}

QJsonObject pageJson(const Page& page, int number) {
  QJsonArray regions;
  for (const PageRegion& region : page.regions) regions.append(regionJson(region, page));
  const double to_points = kPointsPerInch / page.dpi;
  return {{"number", number},
          {"source", page.source},
          {"source_page", page.source_page + 1},
          {"width_px", page.image_size.width()},
          {"height_px", page.image_size.height()},
          {"width_pt", page.image_size.width() * to_points},
          {"height_pt", page.image_size.height() * to_points},
          {"dpi", page.dpi},
          {"status", statusName(page.status)},
          {"error", page.error},
          {"review", page.review_reason},
          {"model", page.model},
          {"raw_text", page.raw_text},
          {"markdown", page.markdown},
          {"edited", page.edited},
          {"regions", regions}};
}

PageRegion regionFromJson(const QJsonObject& json) {
  PageRegion region{json["label"].toString(), {}, json["text_begin"].toInt(), json["text_end"].toInt(),
                    json["figure"].toString()};
  for (const QJsonValue& box : json["boxes_px"].toArray()) region.boxes << boxFromJson(box);
  return region;
}

Page pageFromJson(const QJsonObject& json, const QString& document_source) {
  Page page;
  page.source = json["source"].toString(document_source);
  page.source_page = json["source_page"].toInt(1) - 1;
  page.image_size = QSize(json["width_px"].toInt(), json["height_px"].toInt());
  page.dpi = json["dpi"].toDouble(144);
  page.status = statusFromName(json["status"].toString());
  page.error = json["error"].toString();
  page.review_reason = json["review"].toString();
  page.model = json["model"].toString();
  page.raw_text = json["raw_text"].toString();
  page.markdown = json["markdown"].toString();
  page.edited = json["edited"].toBool();
  for (const QJsonValue& region : json["regions"].toArray()) page.regions << regionFromJson(region.toObject());
  return page;
}

}  // namespace

DocumentInfo documentInfoOf(const Project& project) {
  DocumentInfo info;
  info.source = !project.documents().isEmpty() ? project.documents().first().path
                : project.pageCount() > 0     ? project.page(0).source
                                              : QString();
  info.mode = QString::fromUtf8(modeName(project.pageCount() > 0 ? project.page(0).mode : Mode::Gundam));
  info.task = QStringLiteral("markdown");
  return info;
}

QJsonObject documentJson(const Project& project, const DocumentInfo& info) {
  QJsonArray pages;
  for (int i = 0; i < project.pageCount(); ++i) pages.append(pageJson(project.page(i), i + 1));
  return {{"format", "folio-document"},
          {"version", kDocumentJsonVersion},
          {"source", info.source},
          {"model", info.model},
          {"mode", info.mode},
          {"task", info.task},
          {"page_count", project.pageCount()},
          {"pages", pages}};
}

bool readDocumentJson(const QString& path, Project& project, DocumentInfo& info, QString* error) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) {
    if (error) *error = QStringLiteral("%1: %2").arg(path, file.errorString());
    return false;
  }
  QJsonParseError parse_error;
  const QJsonObject json = QJsonDocument::fromJson(file.readAll(), &parse_error).object();
  if (json["format"].toString() != "folio-document" || !json["pages"].isArray()) {
    if (error)
      *error = QStringLiteral("%1 is not a Folio document JSON (%2)")
                   .arg(path, parse_error.error ? parse_error.errorString() : QStringLiteral("no \"folio-document\" format"));
    return false;
  }
  info = {json["source"].toString(), json["model"].toString(), json["mode"].toString(), json["task"].toString()};
  QList<Page> pages;
  for (const QJsonValue& page : json["pages"].toArray()) pages << pageFromJson(page.toObject(), info.source);
  project.clear();
  project.addPages(pages);
  return true;
}

bool writeDocumentJson(const QString& path, const Project& project, const DocumentInfo& info, QString* error) {
  return writeFileAtomically(path, QJsonDocument(documentJson(project, info)).toJson(), error);
}

}  // namespace folio::app
