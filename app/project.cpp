#include "project.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace folio::app {
namespace {

constexpr int kSaveDelayMs = 250;
const char* const kStatusNames[] = {"pending", "queued", "running", "done", "failed", "cancelled"};

PageStatus statusFromName(const QString& name) {
  for (int i = 0; i < 6; ++i)
    if (name == QLatin1String(kStatusNames[i])) return static_cast<PageStatus>(i);
  return PageStatus::Pending;
}

int charPosition(const std::string& utf8, std::size_t byte_offset) {
  return QString::fromUtf8(utf8.data(), static_cast<qsizetype>(std::min(byte_offset, utf8.size()))).size();
}

QJsonObject regionToJson(const PageRegion& region) {
  QJsonArray boxes;
  for (const QRectF& box : region.boxes) boxes.append(QJsonArray{box.left(), box.top(), box.right(), box.bottom()});
  return {{"label", region.label}, {"boxes", boxes}, {"begin", region.begin}, {"end", region.end},
          {"figure_link", region.figure_link}};
}

PageRegion regionFromJson(const QJsonObject& json) {
  PageRegion region{json["label"].toString(), {}, json["begin"].toInt(), json["end"].toInt(),
                    json["figure_link"].toString()};
  for (const QJsonValue& box : json["boxes"].toArray()) {
    QJsonArray b = box.toArray();
    region.boxes << QRectF(QPointF(b[0].toDouble(), b[1].toDouble()), QPointF(b[2].toDouble(), b[3].toDouble()));
  }
  return region;
}

QJsonObject pageToJson(const Page& page) {
  QJsonArray regions;
  for (const PageRegion& region : page.regions) regions.append(regionToJson(region));
  // A page interrupted while queued or running is pending again when the project is reopened.
  PageStatus status = page.status == PageStatus::Queued || page.status == PageStatus::Running ? PageStatus::Pending
                                                                                                : page.status;
  return {{"source", page.source},     {"source_page", page.source_page},
          {"status", kStatusNames[static_cast<int>(status)]},
          {"raw_text", page.raw_text}, {"markdown", page.markdown},
          {"regions", regions},        {"width", page.image_size.width()},
          {"height", page.image_size.height()}, {"dpi", page.dpi},
          {"edited", page.edited},     {"error", page.error}};
}

Page pageFromJson(const QJsonObject& json) {
  Page page;
  page.source = json["source"].toString();
  page.source_page = json["source_page"].toInt();
  page.status = statusFromName(json["status"].toString());
  page.raw_text = json["raw_text"].toString();
  page.markdown = json["markdown"].toString();
  for (const QJsonValue& region : json["regions"].toArray()) page.regions << regionFromJson(region.toObject());
  page.image_size = QSize(json["width"].toInt(), json["height"].toInt());
  page.dpi = json["dpi"].toDouble(144);
  page.edited = json["edited"].toBool();
  page.error = json["error"].toString();
  return page;
}

// Where a position lands after `removed` characters at `position` were replaced by `added` ones.
int shiftedPosition(int p, int position, int removed, int added) {
  if (p <= position) return p;
  if (p >= position + removed) return p + added - removed;
  return position + added;
}

}  // namespace

QString statusName(PageStatus status) { return QLatin1String(kStatusNames[static_cast<int>(status)]); }

QString Page::figure_stem() const { return QStringLiteral("page%1").arg(source_page + 1); }

QList<PageRegion> regionsFromGrounded(const GroundedText& grounded, QPointF offset) {
  QList<PageRegion> regions;
  for (const Region& region : grounded.regions) {
    PageRegion converted{QString::fromStdString(region.label), {},
                         charPosition(grounded.markdown, region.markdown_begin),
                         charPosition(grounded.markdown, region.markdown_end),
                         QString::fromStdString(region.figure_link)};
    for (const Box& box : region.boxes)
      converted.boxes << QRectF(QPointF(box.x1, box.y1), QPointF(box.x2, box.y2)).translated(offset);
    regions << converted;
  }
  return regions;
}

Project::Project(QObject* parent) : QObject(parent) {
  save_timer_.setSingleShot(true);
  save_timer_.setInterval(kSaveDelayMs);
  connect(&save_timer_, &QTimer::timeout, this, [this] {
    QString error;
    if (!save(&error)) emit saveFailed(error);
  });
}

Project::~Project() { flush(); }

void Project::setFolder(const QString& folder) {
  folder_ = folder;
  if (!folder_.isEmpty()) QDir().mkpath(folder_);
  scheduleSave();
}

bool Project::load(const QString& folder, QString* error) {
  QFile file(folder + "/project.json");
  if (!file.open(QIODevice::ReadOnly)) {
    if (error) *error = QStringLiteral("%1: %2").arg(file.fileName(), file.errorString());
    return false;
  }
  QJsonParseError parse_error;
  QJsonDocument json = QJsonDocument::fromJson(file.readAll(), &parse_error);
  if (json.isNull()) {
    if (error) *error = QStringLiteral("%1: %2").arg(file.fileName(), parse_error.errorString());
    return false;
  }
  pages_.clear();
  for (const QJsonValue& page : json.object()["pages"].toArray()) pages_ << pageFromJson(page.toObject());
  folder_ = folder;
  emit pagesReset();
  return true;
}

bool Project::save(QString* error) {
  save_timer_.stop();
  if (folder_.isEmpty()) return true;
  QJsonArray pages;
  for (const Page& page : pages_) pages.append(pageToJson(page));
  QSaveFile file(folder_ + "/project.json");
  if (!file.open(QIODevice::WriteOnly) ||
      file.write(QJsonDocument(QJsonObject{{"version", 1}, {"pages", pages}}).toJson()) < 0 || !file.commit()) {
    if (error) *error = QStringLiteral("Could not save %1: %2").arg(file.fileName(), file.errorString());
    return false;
  }
  return true;
}

void Project::flush() {
  if (save_timer_.isActive()) save();
}

int Project::addPage(const Page& page) {
  pages_ << page;
  emit pagesReset();
  scheduleSave();
  return pages_.size() - 1;
}

void Project::clear() {
  pages_.clear();
  emit pagesReset();
  scheduleSave();
}

void Project::setStatus(int index, PageStatus status, const QString& error) {
  Page& page = pages_[index];
  page.status = status;
  page.error = error;
  emit pageChanged(index);
  scheduleSave();
}

void Project::setResult(int index, const Result& result, QSize image_size) {
  Page& page = pages_[index];
  page.raw_text = QString::fromStdString(result.raw_text);
  page.markdown = QString::fromStdString(result.grounded.markdown);
  page.regions = regionsFromGrounded(result.grounded);
  page.image_size = image_size;
  page.edited = false;
  page.status = result.cancelled ? PageStatus::Cancelled : PageStatus::Done;
  page.error.clear();
  emit pageChanged(index);
  scheduleSave();
}

void Project::appendRegionResult(int index, const Result& result, QPointF offset) {
  Page& page = pages_[index];
  QString separator = page.markdown.isEmpty() || page.markdown.endsWith("\n\n") ? QString() : QStringLiteral("\n\n");
  int base = page.markdown.size() + separator.size();
  page.markdown += separator + QString::fromStdString(result.grounded.markdown);
  for (PageRegion region : regionsFromGrounded(result.grounded, offset)) {
    region.begin += base;
    region.end += base;
    page.regions << region;
  }
  page.edited = true;
  page.status = PageStatus::Done;
  emit pageChanged(index);
  scheduleSave();
}

void Project::applyEdit(int index, const QString& markdown, int position, int removed, int added) {
  Page& page = pages_[index];
  if (page.markdown == markdown) return;
  page.markdown = markdown;
  for (PageRegion& region : page.regions) {
    region.begin = shiftedPosition(region.begin, position, removed, added);
    region.end = shiftedPosition(region.end, position, removed, added);
  }
  page.edited = true;
  emit pageChanged(index);
  scheduleSave();
}

void Project::setStreamingText(int index, const QString& raw_text) { pages_[index].raw_text = raw_text; }

void Project::scheduleSave() {
  if (!folder_.isEmpty() && !save_timer_.isActive()) save_timer_.start();
}

}  // namespace folio::app
