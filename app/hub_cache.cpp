#include "hub_cache.h"
#include "atomic_file.h"

#include <QCryptographicHash>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <algorithm>
#include <filesystem>

namespace fs = std::filesystem;

namespace folio::app {
namespace {

constexpr qint64 kHashChunk = 4 << 20;

fs::path toPath(const QString& path) { return fs::path(QFile::encodeName(path).toStdString()); }

// Blob names and commits become file names: only plain hex is accepted, so that no answer can reach outside
// the cache folder.
bool isHex(const QString& text, int length) {
  static const QRegularExpression hex(QStringLiteral("^[0-9a-f]+$"));
  return text.size() == length && hex.match(text).hasMatch();
}

std::optional<HubFile> parseSibling(const QJsonObject& sibling, QString* error) {
  HubFile file;
  file.path = sibling.value("rfilename").toString();
  file.size = sibling.value("size").toInteger(-1);
  const QJsonObject lfs = sibling.value("lfs").toObject();
  file.lfs = !lfs.isEmpty();
  if (file.lfs) {
    file.blob = lfs.value("sha256").toString().toLower();
    file.size = lfs.value("size").toInteger(file.size);
  } else {
    file.blob = sibling.value("blobId").toString().toLower();
  }
  if (!isHex(file.blob, file.lfs ? 64 : 40)) {
    *error = QStringLiteral("%1: the hub gives no usable checksum (%2)")
                 .arg(file.path, file.lfs ? QStringLiteral("lfs.sha256") : QStringLiteral("blobId"));
    return std::nullopt;
  }
  if (file.size < 0) {
    *error = QStringLiteral("%1: the hub gives no size (ask with ?blobs=true)").arg(file.path);
    return std::nullopt;
  }
  return file;
}

bool listsFile(const HubRevision& revision, const QString& path) {
  return std::any_of(revision.files.begin(), revision.files.end(), [&](const HubFile& f) { return f.path == path; });
}

QString missingEssential(const HubRevision& revision) {
  for (const QString& essential : {QStringLiteral("config.json"), QStringLiteral("tokenizer.json")})
    if (!listsFile(revision, essential)) return essential;
  const bool has_weights = std::any_of(revision.files.begin(), revision.files.end(),
                                       [](const HubFile& f) { return f.path.endsWith(".safetensors"); });
  return has_weights ? QString() : QStringLiteral("a .safetensors file");
}

}  // namespace

qint64 HubRevision::totalBytes() const {
  qint64 total = 0;
  for (const HubFile& file : files) total += file.size;
  return total;
}

bool isNeededFile(const QString& path) {
  if (path.contains('/')) return false;
  return path == "config.json" || path == "tokenizer.json" || path == "tokenizer_config.json" ||
         path.endsWith(".safetensors") || path.endsWith(".safetensors.index.json");
}

std::optional<HubRevision> parseRevision(const QByteArray& json, QString* error) {
  QJsonParseError parse_error;
  const QJsonDocument document = QJsonDocument::fromJson(json, &parse_error);
  if (!document.isObject()) {
    *error = QStringLiteral("the hub's answer is not a JSON object (%1)").arg(parse_error.errorString());
    return std::nullopt;
  }
  HubRevision revision;
  revision.commit = document.object().value("sha").toString().toLower();
  if (!isHex(revision.commit, 40)) {
    *error = QStringLiteral("the hub's answer names no commit (\"sha\")");
    return std::nullopt;
  }
  for (const QJsonValue& value : document.object().value("siblings").toArray()) {
    const QJsonObject sibling = value.toObject();
    if (!isNeededFile(sibling.value("rfilename").toString())) continue;
    std::optional<HubFile> file = parseSibling(sibling, error);
    if (!file) return std::nullopt;
    revision.files << *file;
  }
  if (const QString missing = missingEssential(revision); !missing.isEmpty()) {
    *error = QStringLiteral("the revision has no %1").arg(missing);
    return std::nullopt;
  }
  return revision;
}

QString fileChecksum(const QString& path, bool lfs, const std::atomic<bool>* stop) {
  QFile file(path);
  if (!file.open(QIODevice::ReadOnly)) return {};
  QCryptographicHash hash(lfs ? QCryptographicHash::Sha256 : QCryptographicHash::Sha1);
  if (!lfs) hash.addData("blob " + QByteArray::number(file.size()) + '\0');  // git hashes a header first
  QByteArray chunk(kHashChunk, Qt::Uninitialized);
  for (;;) {
    if (stop && *stop) return {};
    const qint64 read = file.read(chunk.data(), chunk.size());
    if (read < 0) return {};
    if (read == 0) break;
    hash.addData(QByteArrayView(chunk.constData(), read));
  }
  return QString::fromLatin1(hash.result().toHex());
}

QString defaultHubCacheDir() {
  if (const QString hub_cache = qEnvironmentVariable("HF_HUB_CACHE"); !hub_cache.isEmpty()) return hub_cache;
  if (const QString hf_home = qEnvironmentVariable("HF_HOME"); !hf_home.isEmpty()) return hf_home + "/hub";
  return QDir::homePath() + "/.cache/huggingface/hub";
}

HubCache::HubCache(const QString& cache_dir, const QString& repo) {
  const QString folder = "models--" + QString(repo).replace('/', QStringLiteral("--"));
  repo_dir_ = cache_dir + "/" + folder;
  lock_path_ = cache_dir + "/.locks/" + folder + "/folio-download.lock";
}

QString HubCache::blobPath(const QString& blob) const { return repo_dir_ + "/blobs/" + blob; }
QString HubCache::partialPath(const QString& blob) const { return blobPath(blob) + ".incomplete"; }
QString HubCache::snapshotDir(const QString& commit) const { return repo_dir_ + "/snapshots/" + commit; }
QString HubCache::refPath(const QString& revision) const { return repo_dir_ + "/refs/" + revision; }

bool HubCache::hasBlob(const HubFile& file) const {
  const QFileInfo blob(blobPath(file.blob));
  return blob.isFile() && blob.size() == file.size;
}

qint64 HubCache::partialSize(const HubFile& file) const {
  const QFileInfo partial(partialPath(file.blob));
  return partial.exists() ? partial.size() : 0;
}

bool HubCache::commitBlob(const HubFile& file, QString* error) const {
  std::error_code ec;
  fs::rename(toPath(partialPath(file.blob)), toPath(blobPath(file.blob)), ec);
  if (ec) *error = QStringLiteral("%1: cannot move the download to %2: %3")
                       .arg(file.path, blobPath(file.blob), QString::fromStdString(ec.message()));
  return !ec;
}

bool HubCache::linkSnapshotFile(const QString& commit, const HubFile& file, QString* error) const {
  const fs::path link = toPath(snapshotDir(commit) + "/" + file.path);
  // Relative, so that the cache can move: up from snapshots/<commit>/<subfolders> to the repository folder.
  const fs::path target = toPath(QStringLiteral("../").repeated(2 + file.path.count('/')) + "blobs/" + file.blob);
  std::error_code ec;
  const fs::file_status status = fs::symlink_status(link, ec);
  if (fs::is_regular_file(status)) return true;  // a copy put there by hand or by a tool that does not link
  if (fs::is_symlink(status) && fs::read_symlink(link, ec) == target) return true;
  fs::create_directories(link.parent_path(), ec);
  // A new link under another name, renamed over the old one: the snapshot never lacks the file.
  const fs::path temporary = link.string() + ".folio-link";
  fs::remove(temporary, ec);
  fs::create_symlink(target, temporary, ec);
  if (!ec) fs::rename(temporary, link, ec);
  if (ec) *error = QStringLiteral("%1: cannot link %2: %3")
                       .arg(file.path, QString::fromStdString(link.string()), QString::fromStdString(ec.message()));
  return !ec;
}

bool HubCache::writeRef(const QString& revision, const QString& commit, QString* error) const {
  const QString path = refPath(revision);
  QDir().mkpath(QFileInfo(path).absolutePath());
  return writeFileAtomically(path, commit.toLatin1(), error);
}

QString HubCache::readRef(const QString& revision) const {
  QFile ref(refPath(revision));
  if (!ref.open(QIODevice::ReadOnly)) return {};
  return QString::fromLatin1(ref.readAll()).trimmed();
}

}  // namespace folio::app
