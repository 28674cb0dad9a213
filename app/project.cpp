#include "project.h"
#include "atomic_file.h"
#include "settings.h"

#include <algorithm>
#include <cmath>

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace folio::app {
namespace {

constexpr int kSaveDelayMs = 250;
const QString kJournalName = QStringLiteral("journal.jsonl");
const char* const kStatusNames[] = {"pending", "queued", "running", "done", "failed", "cancelled"};

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
  for (const QJsonValue& box : json["boxes"].toArray()) region.boxes << boxFromJson(box);
  return region;
}

QJsonObject pageToJson(const Page& page, const QString& stored_source) {
  QJsonArray regions;
  for (const PageRegion& region : page.regions) regions.append(regionToJson(region));
  return {{"source", stored_source},   {"source_page", page.source_page},
          {"status", kStatusNames[static_cast<int>(page.status)]},
          {"raw_text", page.raw_text}, {"markdown", page.markdown},
          {"regions", regions},        {"width", page.image_size.width()},
          {"height", page.image_size.height()}, {"dpi", page.dpi},
          {"edited", page.edited},     {"error", page.error},
          {"review_reason", page.review_reason}, {"mode", int(page.mode)}, {"model", page.model}};
}

// A page that was queued or running when the project was saved (or the app died) is queued again.
Page pageFromJson(const QJsonObject& json, const QString& source) {
  Page page;
  page.source = source;
  page.source_page = std::max(0, json["source_page"].toInt());
  page.status = statusFromName(json["status"].toString());
  if (page.status == PageStatus::Running) page.status = PageStatus::Queued;
  page.raw_text = json["raw_text"].toString();
  page.markdown = json["markdown"].toString();
  // A damaged or hand-edited file must not hand the editor a region outside its text, nor the renderer a
  // resolution it cannot use: ranges are clamped into the markdown, the resolution to at most Settings' highest
  // (and at least 1: a poster page may have been fitted below Settings' lowest, Document::fittingDpi).
  const int length = int(page.markdown.size());
  for (const QJsonValue& value : json["regions"].toArray()) {
    PageRegion region = regionFromJson(value.toObject());
    region.begin = std::clamp(region.begin, 0, length);
    region.end = std::clamp(region.end, region.begin, length);
    page.regions << region;
  }
  page.image_size = QSize(std::max(0, json["width"].toInt()), std::max(0, json["height"].toInt()));
  const double dpi = json["dpi"].toDouble(144);
  page.dpi = std::isfinite(dpi) ? std::clamp(dpi, 1.0, kMaxDpi) : 144;
  page.edited = json["edited"].toBool();
  page.error = json["error"].toString();
  page.review_reason = json["review_reason"].toString();
  page.model = json["model"].toString();
  page.mode = static_cast<Mode>(std::clamp(json["mode"].toInt(int(Mode::Gundam)), 0, int(Mode::Gundam)));
  return page;
}

QJsonObject documentToJson(const SourceDocument& document, const QString& stored_path) {
  return {{"path", stored_path}, {"sha256", document.sha256}, {"size", document.size}};
}

SourceDocument documentFromJson(const QJsonObject& json, const QString& path) {
  return {path, json["sha256"].toString(), json["size"].toInteger()};
}

QJsonDocument readJson(const QString& path, QString* error) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) {
    *error = QStringLiteral("%1: %2").arg(path, file.errorString());
    return {};
  }
  QJsonParseError parse_error;
  QJsonDocument json = QJsonDocument::fromJson(file.readAll(), &parse_error);
  if (json.isNull() || !json.isObject() || !json.object()["pages"].isArray()) {
    *error = QStringLiteral("%1 is damaged (%2)")
                 .arg(path, json.isNull() ? parse_error.errorString() : QStringLiteral("no page list"));
    return {};
  }
  return json;
}

// Where a position lands after `removed` characters at `position` were replaced by `added` ones.
int shiftedPosition(int p, int position, int removed, int added) {
  if (p <= position) return p;
  if (p >= position + removed) return p + added - removed;
  return position + added;
}

}  // namespace

QString statusName(PageStatus status) { return QLatin1String(kStatusNames[static_cast<int>(status)]); }

QRectF boxFromJson(const QJsonValue& box) {
  const QJsonArray b = box.toArray();
  return QRectF(QPointF(b[0].toDouble(), b[1].toDouble()), QPointF(b[2].toDouble(), b[3].toDouble()));
}

PageStatus statusFromName(const QString& name) {
  for (int i = 0; i < 6; ++i)
    if (name == QLatin1String(kStatusNames[i])) return static_cast<PageStatus>(i);
  return PageStatus::Pending;
}

bool pageMatches(const Page& page, PageFilter filter) {
  switch (filter) {
    case PageFilter::NeedsReview: return page.needsReview();
    case PageFilter::Edited: return page.edited;
    case PageFilter::Failed: return page.status == PageStatus::Failed;
    case PageFilter::All: break;
  }
  return true;
}

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
  journal_.close();
  folder_ = folder;
  if (!folder_.isEmpty()) QDir().mkpath(folder_);
  scheduleSave();
}

bool Project::load(const QString& folder, QString* error, QString* warning) {
  flush();
  QString ignored;
  if (!readSaved(folder, error, warning ? warning : &ignored)) return false;
  journal_.close();
  folder_ = folder;
  const int replayed = replayJournal(folder);
  if (replayed > 0 && warning && warning->isEmpty())
    *warning = tr("Restored %n change(s) made after the last save in %1.", nullptr, replayed).arg(folder);
  emit pagesReset();
  // Whatever was recovered goes into a fresh project.json at once, and the journal starts empty.
  if (replayed > 0 || (warning && !warning->isEmpty())) save();
  return true;
}

// project.json, or when it is missing or damaged the copy before it; a damaged file is kept aside, not deleted.
bool Project::readSaved(const QString& folder, QString* error, QString* warning) {
  const QString path = folder + "/project.json";
  QString problem;
  QJsonDocument json = readJson(path, &problem);
  if (json.isNull()) {
    QString backup_problem;
    json = readJson(path + ".bak", &backup_problem);
    if (json.isNull()) {
      // Created and killed before its first save: the journal alone holds the project.
      if (!QFile::exists(path) && !QFile::exists(path + ".bak") && QFile::exists(folder + "/" + kJournalName)) {
        folder_ = folder;
        pages_.clear();
        documents_.clear();
        sequence_ = 0;
        return true;
      }
      if (error) *error = QFile::exists(path) || !QFile::exists(path + ".bak") ? problem : backup_problem;
      return false;
    }
    if (QFile::exists(path)) {
      const QString aside = path + ".damaged-" + QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss");
      QFile::rename(path, aside);
      problem += tr("; it was kept as %1").arg(QFileInfo(aside).fileName());
    }
    *warning = tr("%1. Folio restored the previous copy (project.json.bak) and the changes after it.").arg(problem);
  }
  folder_ = folder;  // paths stored relative to the project resolve against it
  const QJsonObject root = json.object();
  pages_.clear();
  documents_.clear();
  for (const QJsonValue& page : root["pages"].toArray())
    pages_ << pageFromJson(page.toObject(), resolvedPath(page.toObject()["source"].toString()));
  for (const QJsonValue& document : root["documents"].toArray())
    documents_ << documentFromJson(document.toObject(), resolvedPath(document.toObject()["path"].toString()));
  sequence_ = root["sequence"].toInteger();
  return true;
}

// Entries newer than what project.json holds, in order; a last line cut short by a kill is skipped.
int Project::replayJournal(const QString& folder) {
  QFile file(folder + "/" + kJournalName);
  if (!file.open(QIODevice::ReadOnly)) return 0;
  int replayed = 0;
  while (!file.atEnd()) {
    const QJsonObject entry = QJsonDocument::fromJson(file.readLine()).object();
    const qint64 sequence = entry["sequence"].toInteger();
    if (entry.isEmpty() || sequence <= sequence_) continue;
    const int index = entry["index"].toInt(-1);
    const QJsonObject page = entry["page"].toObject();
    const QString op = entry["op"].toString();
    if (op == "clear") {
      pages_.clear();
    } else if (op == "document") {
      const QJsonObject document = entry["document"].toObject();
      const int existing = documentIndex(document["sha256"].toString());
      const SourceDocument replayed_document = documentFromJson(document, resolvedPath(document["path"].toString()));
      if (existing >= 0) documents_[existing] = replayed_document;
      else documents_ << replayed_document;
    } else if (index >= 0 && index <= pages_.size()) {
      Page restored = pageFromJson(page, resolvedPath(page["source"].toString()));
      if (index == pages_.size()) pages_ << restored;
      else pages_[index] = restored;
    }
    sequence_ = sequence;
    ++replayed;
  }
  return replayed;
}

bool Project::save(QString* error) {
  save_timer_.stop();
  if (folder_.isEmpty()) return true;
  if (!writeProjectFile(folder_, error)) return false;
  clearJournal();
  return true;
}

// project.json (the previous one becomes project.json.bak) and summary.json, each replaced atomically.
bool Project::writeProjectFile(const QString& folder, QString* error) {
  QJsonArray pages, documents;
  for (const Page& page : pages_) pages.append(pageToJson(page, storedPath(page.source)));
  for (const SourceDocument& document : documents_) documents.append(documentToJson(document, storedPath(document.path)));
  const QJsonObject root{{"version", 2}, {"sequence", sequence_}, {"documents", documents}, {"pages", pages}};
  const QString path = folder + "/project.json";
  QSaveFile file(path);
  if (!file.open(QIODevice::WriteOnly)) {
    if (error) *error = QStringLiteral("Could not save %1: %2").arg(path, file.errorString());
    return false;
  }
  if (!writeAll(file, QJsonDocument(root).toJson(QJsonDocument::Compact), error)) return false;
  // A crash between these two steps leaves project.json.bak and the journal, which load() puts together.
  QFile::remove(path + ".bak");
  QFile::rename(path, path + ".bak");
  if (!file.commit()) {
    if (error) *error = QStringLiteral("Could not save %1: %2").arg(path, file.errorString());
    return false;
  }
  ProjectSummary brief = summary();
  QJsonArray hashes;
  for (const SourceDocument& document : documents_) hashes.append(documentToJson(document, document.path));
  const QJsonObject summary_json{{"name", brief.name},     {"pages", brief.pages},   {"done", brief.done},
                                 {"edited", brief.edited}, {"failed", brief.failed}, {"review", brief.review},
                                 {"documents", hashes}};
  return writeFileAtomically(folder + "/summary.json", QJsonDocument(summary_json).toJson(), error);
}

bool Project::saveAs(const QString& folder, QString* error) {
  if (!QDir().mkpath(folder)) {
    if (error) *error = tr("Could not create the folder %1").arg(folder);
    return false;
  }
  const QString old_folder = folder_;
  journal_.close();
  folder_ = folder;
  if (!writeProjectFile(folder, error)) {
    folder_ = old_folder;
    return false;
  }
  if (!old_folder.isEmpty() && QFile::exists(old_folder + "/thumbnail.png"))
    QFile::copy(old_folder + "/thumbnail.png", folder + "/thumbnail.png");
  clearJournal();
  return true;
}

void Project::flush() {
  if (save_timer_.isActive()) save();
}

QString Project::name() const {
  if (!documents_.isEmpty()) return QFileInfo(documents_.first().path).fileName();
  return pages_.isEmpty() ? QString() : QFileInfo(pages_.first().source).fileName();
}

ProjectSummary Project::summary() const {
  ProjectSummary brief;
  brief.folder = folder_;
  brief.name = name();
  brief.pages = pages_.size();
  for (const Page& page : pages_) {
    brief.done += page.status == PageStatus::Done;
    brief.edited += page.edited;
    brief.failed += page.status == PageStatus::Failed;
    brief.review += page.needsReview();
  }
  brief.documents = documents_;
  return brief;
}

ProjectSummary ProjectSummary::read(const QString& folder) {
  ProjectSummary brief;
  brief.folder = folder;
  QFile file(folder + "/summary.json");
  if (!file.open(QIODevice::ReadOnly) || !QFile::exists(folder + "/project.json")) return brief;
  const QJsonObject json = QJsonDocument::fromJson(file.readAll()).object();
  brief.name = json["name"].toString();
  brief.pages = json["pages"].toInt();
  brief.done = json["done"].toInt();
  brief.edited = json["edited"].toInt();
  brief.failed = json["failed"].toInt();
  brief.review = json["review"].toInt();
  for (const QJsonValue& document : json["documents"].toArray())
    brief.documents << documentFromJson(document.toObject(), document.toObject()["path"].toString());
  if (QFile::exists(folder + "/thumbnail.png")) brief.thumbnail = folder + "/thumbnail.png";
  return brief;
}

void Project::addDocument(const SourceDocument& document) {
  const int existing = documentIndex(document.sha256);
  if (existing >= 0) documents_[existing] = document;
  else documents_ << document;
  journal({{"op", "document"}, {"document", documentToJson(document, storedPath(document.path))}});
  scheduleSave();
}

int Project::documentIndex(const QString& sha256) const {
  for (int i = 0; i < documents_.size(); ++i)
    if (documents_[i].sha256 == sha256) return i;
  return -1;
}

void Project::relinkDocument(int index, const QString& new_path, const QString& sha256) {
  const QString old_path = documents_[index].path;
  SourceDocument moved = documents_[index];
  moved.path = new_path;
  moved.sha256 = sha256;
  moved.size = QFileInfo(new_path).size();
  documents_[index] = moved;
  journal({{"op", "document"}, {"document", documentToJson(moved, storedPath(new_path))}});
  for (int i = 0; i < pages_.size(); ++i) {
    if (pages_[i].source != old_path) continue;
    pages_[i].source = new_path;
    journal({{"op", "page"}, {"index", i}, {"page", pageToJson(pages_[i], storedPath(new_path))}});
  }
  emit pagesReset();
  scheduleSave();
}

int Project::addPage(const Page& page) { return addPages({page}); }

int Project::addPages(const QList<Page>& pages) {
  const int first = pages_.size();
  for (const Page& page : pages) {
    pages_ << page;
    journal({{"op", "page"}, {"index", pages_.size() - 1}, {"page", pageToJson(page, storedPath(page.source))}});
  }
  emit pagesReset();
  scheduleSave();
  return first;
}

void Project::clear() {
  pages_.clear();
  documents_.clear();
  journal({{"op", "clear"}});
  emit pagesReset();
  scheduleSave();
}

void Project::setStatus(int index, PageStatus status, const QString& error) {
  Page& page = pages_[index];
  page.status = status;
  page.error = error;
  changed(index);
}

void Project::setResult(int index, const Result& result, QSize image_size, const QString& model) {
  Page& page = pages_[index];
  page.model = model;
  page.raw_text = QString::fromStdString(result.raw_text);
  page.markdown = QString::fromStdString(result.grounded.markdown);
  page.regions = regionsFromGrounded(result.grounded);
  page.image_size = image_size;
  page.edited = false;
  page.status = result.cancelled ? PageStatus::Cancelled : PageStatus::Done;
  page.error.clear();
  page.review_reason.clear();
  changed(index);
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
  changed(index);
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
  changed(index);
}

void Project::setStreamingText(int index, const QString& raw_text) { pages_[index].raw_text = raw_text; }

void Project::setReviewReason(int index, const QString& reason) {
  if (pages_[index].review_reason == reason) return;
  pages_[index].review_reason = reason;
  changed(index);
}

void Project::setMode(int index, Mode mode) {
  if (pages_[index].mode == mode) return;
  pages_[index].mode = mode;
  changed(index);
}

int Project::nextNeedingReview(int after, int step) const {
  const int count = pages_.size();
  for (int i = 1; i <= count; ++i) {
    const int index = ((after + i * step) % count + count) % count;
    if (pages_[index].needsReview()) return index;
  }
  return -1;
}

// The model's reading is its raw text; parsing it again gives its markdown and regions as they came.
QString Project::modelMarkdown(int index) const {
  const Page& page = pages_[index];
  const std::string raw = page.raw_text.toStdString();
  return QString::fromStdString(
      parseGrounding(raw, page.image_size.width(), page.image_size.height(), page.figure_stem().toStdString())
          .markdown);
}

void Project::revertToModel(int index) {
  Page& page = pages_[index];
  const std::string raw = page.raw_text.toStdString();
  const GroundedText grounded =
      parseGrounding(raw, page.image_size.width(), page.image_size.height(), page.figure_stem().toStdString());
  page.markdown = QString::fromStdString(grounded.markdown);
  page.regions = regionsFromGrounded(grounded);
  page.edited = false;
  changed(index);
}

void Project::changed(int index) {
  journal({{"op", "page"}, {"index", index}, {"page", pageToJson(pages_[index], storedPath(pages_[index].source))}});
  emit pageChanged(index);
  scheduleSave();
}

// One line per change, written through to the OS at once (unbuffered): a kill right after a keystroke keeps it.
void Project::journal(QJsonObject entry) {
  if (folder_.isEmpty()) return;
  if (!journal_.isOpen()) {
    journal_.setFileName(folder_ + "/" + kJournalName);
    if (!journal_.open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Unbuffered)) {
      emit saveFailed(tr("Could not write %1: %2").arg(journal_.fileName(), journal_.errorString()));
      return;
    }
  }
  entry["sequence"] = ++sequence_;
  const QByteArray line = QJsonDocument(entry).toJson(QJsonDocument::Compact) + '\n';
  const qint64 before = journal_.size();
  if (journal_.write(line) != line.size()) {
    // A full disk: the cut line comes off again, so that the next entry starts a line of its own instead of being
    // lost with it at replay. The change stays in memory and goes into the next save.
    journal_.resize(before);
    emit saveFailed(tr("Could not write %1: the disk is full or the file is too large (%2)")
                        .arg(journal_.fileName(), journal_.errorString()));
  }
}

void Project::clearJournal() {
  if (journal_.isOpen()) journal_.resize(0);
  else QFile::remove(folder_ + "/" + kJournalName);
}

// Relative when the file sits in the project folder or beside it, so the two can move together.
QString Project::storedPath(const QString& path) const {
  if (folder_.isEmpty() || path.isEmpty()) return path;
  const QString relative = QDir(folder_).relativeFilePath(path);
  return relative.startsWith("../../") || QDir::isAbsolutePath(relative) ? path : relative;
}

QString Project::resolvedPath(const QString& stored) const {
  if (stored.isEmpty() || QDir::isAbsolutePath(stored)) return stored;
  return QDir::cleanPath(QDir(folder_).filePath(stored));
}

void Project::scheduleSave() {
  if (!folder_.isEmpty() && !save_timer_.isActive()) save_timer_.start();
}

}  // namespace folio::app
