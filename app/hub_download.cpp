#include "hub_download.h"

#include <QDir>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QRegularExpression>
#include <QStorageInfo>
#include <QtConcurrent/QtConcurrentRun>
#include <cmath>
#include <optional>

namespace folio::app {
namespace {

constexpr int kMaxRedirects = 10;
constexpr qint64 kReportIntervalMs = 200;
constexpr qint64 kRateWindowMs = 5000;
constexpr int kTickMs = 1000;
constexpr int kLongestRetryDelayMs = 60000;

QString endpointFrom(const HubDownloadOptions& options) {
  QString endpoint = options.endpoint;
  if (endpoint.isEmpty()) endpoint = qEnvironmentVariable("HF_ENDPOINT");
  if (endpoint.isEmpty()) endpoint = QStringLiteral("https://huggingface.co");
  while (endpoint.endsWith('/')) endpoint.chop(1);
  return endpoint;
}

QString tokenFrom(const HubDownloadOptions& options) {
  return options.token.isEmpty() ? qEnvironmentVariable("HF_TOKEN") : options.token;
}

QString cacheDirFrom(const HubDownloadOptions& options) {
  return options.cache_dir.isEmpty() ? defaultHubCacheDir() : options.cache_dir;
}

// "owner/name" and a branch, tag or commit: both become parts of paths, so nothing that climbs out.
QString invalidRequest(const HubDownloadOptions& options) {
  static const QRegularExpression repo(QStringLiteral("^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"));
  if (!repo.match(options.repo).hasMatch() || options.repo.contains(QStringLiteral("..")))
    return QStringLiteral("%1: not a repository name (owner/name)").arg(options.repo);
  if (options.revision.isEmpty() || options.revision.startsWith('/') || options.revision.contains(QStringLiteral("..")))
    return QStringLiteral("%1: not a revision (a branch, tag or commit)").arg(options.revision);
  return {};
}

bool sameOrigin(const QUrl& a, const QUrl& b) {
  return a.scheme() == b.scheme() && a.host() == b.host() && a.port(443) == b.port(443);
}

int httpStatus(const QNetworkReply* reply) {
  return reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
}

std::optional<QUrl> redirectTarget(const QNetworkReply* reply) {
  const int status = httpStatus(reply);
  const QByteArray location = reply->rawHeader("Location");
  if (status < 300 || status > 399 || location.isEmpty()) return std::nullopt;
  return reply->url().resolved(QUrl::fromEncoded(location));
}

// Dropped connections, timeouts, rate limits and server errors may pass; a 404 or 401 will not.
bool isTransient(int status) { return status == 0 || status == 408 || status == 429 || status >= 500 || status < 300; }

// CDN addresses carry long signatures that only clutter a message.
QString displayUrl(const QUrl& url) {
  const QString query = url.query();
  QUrl shown = url.adjusted(QUrl::RemoveUserInfo | QUrl::RemoveQuery);
  return shown.toDisplayString() + (query.isEmpty() ? QString() : query.size() > 40 ? QStringLiteral("?…") : "?" + query);
}

QString describeFailure(const QNetworkReply* reply) {
  const int status = httpStatus(reply);
  if (status >= 400) {
    const QString reason = reply->attribute(QNetworkRequest::HttpReasonPhraseAttribute).toString();
    const QString hint = status == 401 || status == 403
                             ? QStringLiteral(" (a gated or private repository needs HF_TOKEN)")
                             : QString();
    return QStringLiteral("HTTP %1 %2 from %3%4").arg(status).arg(reason, displayUrl(reply->url()), hint);
  }
  return QStringLiteral("%1 (%2)").arg(reply->errorString(), displayUrl(reply->url()));
}

QString percentEncodedPath(const QString& path) { return QString::fromLatin1(QUrl::toPercentEncoding(path, "/")); }

}  // namespace

void TransferRate::reset() { samples_.clear(); }

void TransferRate::add(qint64 now_ms, qint64 bytes_received) {
  samples_.emplace_back(now_ms, bytes_received);
  while (samples_.size() > 2 && now_ms - samples_.front().first > kRateWindowMs) samples_.pop_front();
}

double TransferRate::bytesPerSecond() const {
  if (samples_.size() < 2) return 0;
  const qint64 span_ms = samples_.back().first - samples_.front().first;
  if (span_ms <= 0) return 0;
  return double(samples_.back().second - samples_.front().second) * 1000.0 / double(span_ms);
}

qint64 secondsLeft(qint64 bytes_left, double bytes_per_second) {
  if (bytes_per_second <= 0) return -1;
  return qint64(std::ceil(double(std::max<qint64>(bytes_left, 0)) / bytes_per_second));
}

QString formatBytes(qint64 bytes) {
  static const char* const kUnits[] = {"kB", "MB", "GB", "TB"};
  if (bytes < 1000) return QStringLiteral("%1 B").arg(bytes);
  double value = double(bytes);
  int unit = -1;
  while (value >= 1000 && unit < 3) {
    value /= 1000;
    ++unit;
  }
  return QStringLiteral("%1 %2").arg(value, 0, 'f', 1).arg(QLatin1String(kUnits[unit]));
}

QString formatDuration(qint64 seconds) {
  if (seconds < 0) return {};
  if (seconds < 60) return QStringLiteral("%1 s").arg(seconds);
  const auto two = [](qint64 n) { return QStringLiteral("%1").arg(n, 2, 10, QChar('0')); };
  if (seconds < 3600) return QStringLiteral("%1:%2").arg(seconds / 60).arg(two(seconds % 60));
  return QStringLiteral("%1:%2:%3").arg(seconds / 3600).arg(two(seconds / 60 % 60), two(seconds % 60));
}

QString transferSummary(qint64 bytes_done, qint64 bytes_total, double bytes_per_second, qint64 seconds_left) {
  QString summary = QStringLiteral("%1 of %2").arg(formatBytes(bytes_done), formatBytes(bytes_total));
  if (bytes_per_second > 0) summary += QStringLiteral(" · %1/s").arg(formatBytes(qint64(bytes_per_second)));
  if (seconds_left >= 0) summary += QStringLiteral(" · %1 left").arg(formatDuration(seconds_left));
  return summary;
}

HubDownload::HubDownload(HubDownloadOptions options, QObject* parent)
    : QObject(parent),
      options_(std::move(options)),
      endpoint_(endpointFrom(options_)),
      token_(tokenFrom(options_)),
      cache_(cacheDirFrom(options_), options_.repo),
      network_(new QNetworkAccessManager(this)) {
  retry_timer_.setSingleShot(true);
  connect(&retry_timer_, &QTimer::timeout, this, [this] {
    redirects_ = 0;
    std::function<void()> again = std::move(retry_action_);
    again();
  });
  tick_timer_.setInterval(kTickMs);
  connect(&tick_timer_, &QTimer::timeout, this, [this] { reportProgress(false); });
}

HubDownload::~HubDownload() { stopEverything(); }

void HubDownload::start() {
  if (running_) return;
  running_ = true;
  attempts_ = 0;
  redirects_ = 0;
  received_bytes_ = 0;
  rate_.reset();
  clock_.start();
  last_report_ms_ = -1;
  if (const QString invalid = invalidRequest(options_); !invalid.isEmpty()) return fail(invalid);
  if (!lockCache()) return;
  emit statusChanged(tr("Asking %1 for the files of %2").arg(endpoint_, options_.repo));
  fetchRevision(revisionUrl());
}

void HubDownload::cancel() {
  if (!running_) return;
  stopEverything();
  emit cancelled();
}

bool HubDownload::lockCache() {
  QDir().mkpath(QFileInfo(cache_.lockPath()).absolutePath());
  lock_ = std::make_unique<QLockFile>(cache_.lockPath());
  lock_->setStaleLockTime(0);  // a lock whose process is gone is stale; a live one is never taken over
  if (lock_->tryLock(0)) return true;
  const bool held = lock_->error() == QLockFile::LockFailedError;
  lock_.reset();
  fail(held ? tr("Another download of %1 is running (%2)").arg(options_.repo, cache_.lockPath())
            : tr("cannot create the lock %1").arg(cache_.lockPath()));
  return false;
}

QUrl HubDownload::revisionUrl() const {
  return QUrl(QStringLiteral("%1/api/models/%2/revision/%3?blobs=true")
                  .arg(endpoint_, options_.repo, QString::fromLatin1(QUrl::toPercentEncoding(options_.revision))));
}

// By commit, not by branch: the files are then exactly those the revision JSON described, even if the branch
// moves while the download runs.
QUrl HubDownload::fileUrl(const HubFile& file) const {
  return QUrl(QStringLiteral("%1/%2/resolve/%3/%4")
                  .arg(endpoint_, options_.repo, revision_.commit, percentEncodedPath(file.path)));
}

QNetworkReply* HubDownload::send(const QUrl& url, qint64 range_start) {
  QNetworkRequest request(url);
  // Redirects are followed by hand: the token must not travel to the CDN, and the Range must.
  request.setAttribute(QNetworkRequest::RedirectPolicyAttribute, QNetworkRequest::ManualRedirectPolicy);
  request.setHeader(QNetworkRequest::UserAgentHeader, QByteArrayLiteral("folio"));
  request.setTransferTimeout(options_.stall_timeout_ms);
  // Resume offsets count the bytes on disk, so no transparent decompression in between.
  request.setRawHeader("Accept-Encoding", "identity");
  if (range_start > 0) request.setRawHeader("Range", "bytes=" + QByteArray::number(range_start) + "-");
  if (!token_.isEmpty() && sameOrigin(url, QUrl(endpoint_)))
    request.setRawHeader("Authorization", "Bearer " + token_.toUtf8());
  return network_->get(request);
}

void HubDownload::watch(QNetworkReply* reply, ReplyKind kind) {
  reply_ = reply;
  status_checked_ = false;
  body_ignored_ = false;
  if (kind == ReplyKind::File) {
    connect(reply, &QNetworkReply::readyRead, this, &HubDownload::onFileData);
    connect(reply, &QNetworkReply::finished, this, &HubDownload::onFileReply);
  } else {
    connect(reply, &QNetworkReply::finished, this, &HubDownload::onRevisionReply);
  }
}

void HubDownload::dropReply() {
  if (!reply_) return;
  QNetworkReply* reply = reply_;
  reply_ = nullptr;
  reply->disconnect(this);
  if (reply->error() == QNetworkReply::NoError) reply->abort();  // one that failed already is finishing anyway
  reply->deleteLater();
}

QNetworkReply* HubDownload::takeReply() {
  QNetworkReply* reply = reply_;
  reply_ = nullptr;
  reply->disconnect(this);
  reply->deleteLater();  // its headers and body stay readable until control returns to the event loop
  return reply;
}

void HubDownload::fetchRevision(const QUrl& url) { watch(send(url, 0), ReplyKind::Revision); }

void HubDownload::onRevisionReply() {
  QNetworkReply* reply = takeReply();
  const QString what = QStringLiteral("%1 (%2)").arg(options_.repo, options_.revision);
  if (const std::optional<QUrl> target = redirectTarget(reply)) {
    if (++redirects_ > kMaxRedirects) return fail(tr("%1: too many redirects (%2)").arg(what, displayUrl(*target)));
    return fetchRevision(*target);
  }
  const int status = httpStatus(reply);
  if (reply->error() != QNetworkReply::NoError || status != 200) {
    const QString problem = tr("%1: %2").arg(what, describeFailure(reply));
    if (!isTransient(status)) return fail(problem);
    return retry(problem, [this] { fetchRevision(revisionUrl()); });
  }
  if (planFiles(reply->readAll())) nextFile();
}

bool HubDownload::planFiles(const QByteArray& json) {
  QString error;
  std::optional<HubRevision> revision = parseRevision(json, &error);
  if (!revision) {
    fail(tr("%1 (%2): %3").arg(options_.repo, options_.revision, error));
    return false;
  }
  revision_ = std::move(*revision);
  file_index_ = 0;
  if (!QDir().mkpath(cache_.repoDir() + "/blobs")) {
    fail(tr("cannot create %1").arg(cache_.repoDir() + "/blobs"));
    return false;
  }
  reportProgress(true);
  return checkFreeSpace();
}

bool HubDownload::checkFreeSpace() {
  const qint64 needed = revision_.totalBytes() - bytesDone();
  const QStorageInfo storage(cache_.repoDir());
  if (!storage.isValid() || !storage.isReady() || storage.bytesAvailable() >= needed) return true;
  fail(tr("Not enough disk space for %1: it needs %2 more, %3 is free in %4")
           .arg(options_.repo, formatBytes(needed), formatBytes(storage.bytesAvailable()), cache_.repoDir()));
  return false;
}

void HubDownload::nextFile() {
  while (file_index_ < revision_.files.size() && cache_.hasBlob(currentFile())) ++file_index_;
  if (file_index_ == revision_.files.size()) return finishSnapshot();
  attempts_ = 0;
  redirects_ = 0;
  tick_timer_.start();
  requestFile(fileUrl(currentFile()));
}

void HubDownload::requestFile(const QUrl& url) {
  const HubFile& file = currentFile();
  qint64 have = cache_.partialSize(file);
  if (have > file.size) {  // longer than the file can be: not a prefix of it
    QFile::remove(cache_.partialPath(file.blob));
    have = 0;
  }
  partial_.setFileName(cache_.partialPath(file.blob));
  if (!partial_.open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Unbuffered))
    return fail(tr("%1: cannot write %2: %3").arg(file.path, partial_.fileName(), partial_.errorString()));
  if (have == file.size) return verifyFile();  // all there: an earlier run stopped while checking it
  emit statusChanged(have > 0 ? tr("Resuming %1 at %2").arg(file.path, formatBytes(have))
                              : tr("Downloading %1").arg(file.path));
  attempt_bytes_ = 0;
  watch(send(url, have), ReplyKind::File);
}

// The body is the file only for 200 and 206; a 200 to a Range request is the whole file, so it starts over.
bool HubDownload::acceptStatus() {
  if (status_checked_) return !body_ignored_;
  status_checked_ = true;
  const int status = httpStatus(reply_);
  body_ignored_ = status != 200 && status != 206;
  if (status == 200 && partial_.size() > 0) partial_.resize(0);
  return !body_ignored_;
}

void HubDownload::onFileData() {
  if (!acceptStatus()) {
    reply_->readAll();
    return;
  }
  const QByteArray data = reply_->readAll();
  if (partial_.write(data) != data.size()) {
    const HubFile& file = currentFile();
    return fail(tr("%1: cannot write %2: %3").arg(file.path, partial_.fileName(), partial_.errorString()));
  }
  attempt_bytes_ += data.size();
  received_bytes_ += data.size();
  reportProgress(false);
}

void HubDownload::onFileReply() {
  QNetworkReply* reply = takeReply();
  partial_.close();
  const HubFile& file = currentFile();
  if (const std::optional<QUrl> target = redirectTarget(reply)) {
    if (++redirects_ > kMaxRedirects)
      return fail(tr("%1: too many redirects (%2)").arg(file.path, displayUrl(*target)));
    return requestFile(*target);
  }
  const int status = httpStatus(reply);
  QString problem;
  if (status == 416) {  // the partial file is no prefix the server knows: start the file over
    QFile::remove(cache_.partialPath(file.blob));
    problem = describeFailure(reply);
  } else if (reply->error() == QNetworkReply::NoError && (status == 200 || status == 206)) {
    const qint64 have = cache_.partialSize(file);
    if (have == file.size) return verifyFile();
    problem = tr("the transfer ended at %1 of %2 bytes (%3)").arg(have).arg(file.size).arg(displayUrl(reply->url()));
  } else {
    problem = describeFailure(reply);
  }
  problem = tr("%1: %2").arg(file.path, problem);
  if (!isTransient(status) && status != 416) return fail(problem);
  retry(problem, [this] { requestFile(fileUrl(currentFile())); });
}

void HubDownload::retry(const QString& reason, const std::function<void()>& again) {
  if (attempt_bytes_ > 0) attempts_ = 0;  // that attempt got further: the next drop gets a fresh set of retries
  attempt_bytes_ = 0;
  if (attempts_ >= options_.retries)
    return fail(tr("%1 (gave up after %2 attempts)").arg(reason).arg(attempts_ + 1));
  const int delay_ms = std::min(kLongestRetryDelayMs, options_.retry_delay_ms << std::min(attempts_, 16));
  ++attempts_;
  emit statusChanged(tr("%1; retrying in %2").arg(reason, formatDuration((delay_ms + 999) / 1000)));
  retry_action_ = again;
  retry_timer_.start(delay_ms);
}

void HubDownload::verifyFile() {
  partial_.close();
  const HubFile& file = currentFile();
  emit statusChanged(tr("Verifying %1").arg(file.path));
  reportProgress(true);
  stop_hashing_ = std::make_shared<std::atomic<bool>>(false);
  auto* watcher = new QFutureWatcher<QString>(this);
  hash_watcher_ = watcher;
  connect(watcher, &QFutureWatcher<QString>::finished, this, [this, watcher] {
    watcher->deleteLater();
    if (hash_watcher_ != watcher) return;  // cancelled meanwhile
    hash_watcher_ = nullptr;
    onVerified(watcher->result());
  });
  // Gigabytes to read: on a pool thread, so that the event loop (and the window) keep going.
  watcher->setFuture(QtConcurrent::run([path = partial_.fileName(), lfs = file.lfs, stop = stop_hashing_] {
    return fileChecksum(path, lfs, stop.get());
  }));
}

void HubDownload::onVerified(const QString& checksum) {
  const HubFile& file = currentFile();
  const QString partial = cache_.partialPath(file.blob);
  if (checksum.isEmpty()) return fail(tr("%1: cannot read %2 to check it").arg(file.path, partial));
  if (checksum != file.blob) {
    QFile::remove(partial);
    return fail(tr("%1: checksum mismatch (expected %2, got %3)").arg(file.path, file.blob, checksum));
  }
  QString error;
  if (!cache_.commitBlob(file, &error)) return fail(error);
  ++file_index_;
  nextFile();
}

void HubDownload::finishSnapshot() {
  QString error;
  for (const HubFile& file : revision_.files)
    if (!cache_.linkSnapshotFile(revision_.commit, file, &error)) return fail(error);
  if (options_.revision != revision_.commit && !cache_.writeRef(options_.revision, revision_.commit, &error))
    return fail(error);
  reportProgress(true);
  stopEverything();
  emit finished(cache_.snapshotDir(revision_.commit));
}

void HubDownload::fail(const QString& message) {
  stopEverything();
  emit failed(message);
}

void HubDownload::stopEverything() {
  dropReply();
  retry_timer_.stop();
  tick_timer_.stop();
  partial_.close();
  if (stop_hashing_) *stop_hashing_ = true;
  hash_watcher_ = nullptr;
  lock_.reset();  // unlocks
  running_ = false;
}

qint64 HubDownload::bytesDone() const {
  qint64 done = 0;
  for (int i = 0; i < revision_.files.size(); ++i) {
    const HubFile& file = revision_.files[i];
    done += i < file_index_ || cache_.hasBlob(file) ? file.size : std::min(cache_.partialSize(file), file.size);
  }
  return done;
}

void HubDownload::reportProgress(bool force) {
  const qint64 now = clock_.elapsed();
  if (!force && last_report_ms_ >= 0 && now - last_report_ms_ < kReportIntervalMs) return;
  last_report_ms_ = now;
  rate_.add(now, received_bytes_);
  const qint64 total = revision_.totalBytes();
  const qint64 done = bytesDone();
  const double rate = rate_.bytesPerSecond();
  emit progress(done, total, rate, secondsLeft(total - done, rate));
}

}  // namespace folio::app
