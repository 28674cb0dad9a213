// The Hugging Face side of getting the model, without the network: what the hub's revision JSON says, which of
// its files Folio needs, how the hub checksums them, and the hub cache's layout on disk (shared with other tools):
//   <cache>/models--<owner>--<name>/blobs/<sha256 or git blob id>   the files' bytes
//   <cache>/models--<owner>--<name>/snapshots/<commit>/<file>     relative links to ../../blobs/<name>
//   <cache>/models--<owner>--<name>/refs/<revision>               the commit a branch pointed to
#pragma once

#include <QList>
#include <QString>
#include <atomic>
#include <optional>

namespace folio::app {

inline const QString kModelRepo = QStringLiteral("deepseek-ai/DeepSeek-OCR");
inline const QString kModelRepoOcr2 = QStringLiteral("deepseek-ai/DeepSeek-OCR-2");

// One file of a revision, as the hub lists it.
struct HubFile {
  QString path;      // "rfilename": relative to the repository root
  qint64 size = 0;
  QString blob;      // its name in blobs/: the LFS sha256, else the git blob id
  bool lfs = false;  // LFS files are checked by sha256, the others by their git blob sha1
};

struct HubRevision {
  QString commit;
  QList<HubFile> files;  // only the files Folio needs (see isNeededFile)

  qint64 totalBytes() const;
};

// config.json, tokenizer.json, tokenizer_config.json, *.safetensors and *.safetensors.index.json at the top of
// the repository; the rest (Python code, images, README) Folio never reads.
bool isNeededFile(const QString& path);

// Parses GET /api/models/{repo}/revision/{revision}?blobs=true. On a malformed answer (or one without weights)
// returns nothing and says why in *error.
std::optional<HubRevision> parseRevision(const QByteArray& json, QString* error);

// The file's checksum the way the hub states it: lowercase hex sha256 for LFS files, else the git blob id
// sha1("blob <size>\0" + bytes). Empty when the file cannot be read or *stop turns true (it reads gigabytes:
// run it off the GUI thread).
QString fileChecksum(const QString& path, bool lfs, const std::atomic<bool>* stop = nullptr);

// Where the hub cache lives: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
QString defaultHubCacheDir();

// One repository's folder in the hub cache.
class HubCache {
 public:
  HubCache(const QString& cache_dir, const QString& repo);

  QString repoDir() const { return repo_dir_; }
  QString blobPath(const QString& blob) const;
  QString partialPath(const QString& blob) const;  // where the blob grows while it downloads
  QString snapshotDir(const QString& commit) const;
  QString refPath(const QString& revision) const;
  // Held by a running download, so that two (the app's and folio-cli's) never write the same blob. In
  // <cache>/.locks/, where the hub's own tools keep their locks.
  QString lockPath() const { return lock_path_; }

  // A blob is complete when it exists under its final name with the size the hub states.
  bool hasBlob(const HubFile& file) const;
  qint64 partialSize(const HubFile& file) const;
  // Moves the verified partial file to its final name (an atomic rename).
  bool commitBlob(const HubFile& file, QString* error) const;
  // snapshots/<commit>/<path> -> ../../blobs/<blob>; an existing right link stays as it is.
  bool linkSnapshotFile(const QString& commit, const HubFile& file, QString* error) const;
  bool writeRef(const QString& revision, const QString& commit, QString* error) const;
  // The commit refs/<revision> names, empty if none.
  QString readRef(const QString& revision) const;

 private:
  QString repo_dir_;
  QString lock_path_;
};

}  // namespace folio::app
