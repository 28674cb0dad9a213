// A miniature Hugging Face hub for the download tests: HTTP/1.1 on 127.0.0.1 (random ports), answering the two
// calls the downloader makes, with the faults the tests need: a dropped connection, a corrupted byte, error
// statuses, a server that ignores Range, a slow link. Like the real hub, /resolve/ answers with a redirect to a
// "CDN", here a second port (another origin, so the token must not go there). Every request is logged.
#pragma once

#include <QCryptographicHash>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMap>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTimer>
#include <algorithm>
#include <memory>
#include <optional>

namespace folio::test {

class FakeHub : public QObject {
 public:
  struct File {
    QByteArray content;                // what the revision JSON describes
    bool lfs = false;
    std::optional<QByteArray> served;  // what goes out instead (a corrupted copy)
  };
  struct Request {
    bool to_cdn = false;
    QByteArray target;                      // path and query, as sent
    QHash<QByteArray, QByteArray> headers;  // names in lower case
  };

  QString repo = QStringLiteral("deepseek-ai/DeepSeek-OCR");
  QString commit = QString(40, 'a');
  QMap<QString, File> files;            // by path in the repository
  QHash<QByteArray, int> fail_paths;    // request path (no query) -> status to answer every time
  QHash<QString, qint64> drop_after;    // file -> body bytes sent before the connection drops (once)
  bool ignore_range = false;            // answer Range requests with 200 and the whole file
  int chunk_delay_ms = 0;               // > 0: bodies go out chunk_bytes at a time, this far apart
  qint64 chunk_bytes = 64 * 1024;
  QList<Request> requests;

  FakeHub() {
    for (QTcpServer* server : {&hub_, &cdn_}) {
      if (!server->listen(QHostAddress::LocalHost, 0)) qFatal("fake hub: cannot listen on 127.0.0.1");
      connect(server, &QTcpServer::newConnection, this, [this, server] { accept(server); });
    }
  }

  QString endpoint() const { return origin(hub_); }
  QByteArray resolvePath(const QString& file) const {
    return QStringLiteral("/%1/resolve/%2/%3").arg(repo, commit, file).toUtf8();
  }
  QByteArray revisionPath(const QString& revision = QStringLiteral("main")) const {
    return QStringLiteral("/api/models/%1/revision/%2").arg(repo, revision).toUtf8();
  }
  // The CDN requests for a file's bytes, in order.
  QList<Request> downloadsOf(const QString& file) const {
    QList<Request> found;
    const QByteArray prefix = "/cdn/" + blobName(file).toUtf8();
    for (const Request& request : requests)
      if (request.to_cdn && request.target.startsWith(prefix)) found << request;
    return found;
  }
  int requestCount(const QByteArray& path) const {
    return int(std::count_if(requests.begin(), requests.end(),
                             [&](const Request& r) { return r.target.split('?').first() == path; }));
  }

  static QString sha256(const QByteArray& bytes) {
    return QString::fromLatin1(QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex());
  }
  static QString gitBlobId(const QByteArray& bytes) {
    const QByteArray blob = "blob " + QByteArray::number(bytes.size()) + '\0' + bytes;
    return QString::fromLatin1(QCryptographicHash::hash(blob, QCryptographicHash::Sha1).toHex());
  }
  QString blobName(const QString& file) const {
    const File& f = files[file];
    return f.lfs ? sha256(f.content) : gitBlobId(f.content);
  }

 private:
  struct Connection {
    QByteArray buffer;
    bool answered = false;
  };

  static QString origin(const QTcpServer& server) {
    return QStringLiteral("http://127.0.0.1:%1").arg(server.serverPort());
  }

  void accept(QTcpServer* server) {
    const bool to_cdn = server == &cdn_;
    while (QTcpSocket* socket = server->nextPendingConnection()) {
      connect(socket, &QTcpSocket::disconnected, socket, &QObject::deleteLater);
      auto connection = std::make_shared<Connection>();
      connect(socket, &QTcpSocket::readyRead, this, [this, socket, connection, to_cdn] {
        connection->buffer += socket->readAll();
        const qsizetype end = connection->buffer.indexOf("\r\n\r\n");
        if (end < 0 || connection->answered) return;
        connection->answered = true;
        Request request = parse(connection->buffer.left(end));
        request.to_cdn = to_cdn;
        requests << request;
        answer(socket, request);
      });
    }
  }

  static Request parse(const QByteArray& head) {
    Request request;
    const QList<QByteArray> lines = head.split('\n');
    const QList<QByteArray> first = lines.value(0).trimmed().split(' ');
    request.target = first.value(1);
    for (qsizetype i = 1; i < lines.size(); ++i) {
      const qsizetype colon = lines[i].indexOf(':');
      if (colon > 0) request.headers[lines[i].left(colon).trimmed().toLower()] = lines[i].mid(colon + 1).trimmed();
    }
    return request;
  }

  void answer(QTcpSocket* socket, const Request& request) {
    const QByteArray path = request.target.split('?').first();
    if (const int status = fail_paths.value(path); status != 0)
      return respond(socket, status, {}, "{\"error\":\"injected failure\"}");
    if (request.to_cdn && path.startsWith("/cdn/")) return serveBlob(socket, request, QString::fromUtf8(path.mid(5)));
    const QString revision_prefix = QStringLiteral("/api/models/%1/revision/").arg(repo);
    const QString resolve_prefix = QStringLiteral("/%1/resolve/").arg(repo);
    const QString text = QString::fromUtf8(path);
    if (!request.to_cdn && text.startsWith(revision_prefix)) return serveRevision(socket, text.mid(revision_prefix.size()));
    if (!request.to_cdn && text.startsWith(resolve_prefix)) return redirectToCdn(socket, text.mid(resolve_prefix.size()));
    respond(socket, 404, {}, "{\"error\":\"Repository not found\"}");
  }

  bool knowsRevision(const QString& revision) const { return revision == "main" || revision == commit; }

  void serveRevision(QTcpSocket* socket, const QString& revision) {
    if (!knowsRevision(revision)) return respond(socket, 404, {}, "{\"error\":\"Invalid rev id\"}");
    QJsonArray siblings;
    for (auto it = files.begin(); it != files.end(); ++it) {
      QJsonObject sibling{{"rfilename", it.key()}, {"size", it->content.size()}, {"blobId", gitBlobId(it->content)}};
      if (it->lfs)
        sibling["lfs"] = QJsonObject{{"sha256", sha256(it->content)}, {"size", it->content.size()}, {"pointerSize", 134}};
      siblings.append(sibling);
    }
    const QJsonObject revision_json{{"id", repo}, {"sha", commit}, {"siblings", siblings}};
    respond(socket, 200, {{"Content-Type", "application/json"}}, QJsonDocument(revision_json).toJson());
  }

  // "<revision>/<file>" -> 302 to the CDN, with a signature-like query as the real one carries.
  void redirectToCdn(QTcpSocket* socket, const QString& revision_and_file) {
    const qsizetype slash = revision_and_file.indexOf('/');
    const QString file = revision_and_file.mid(slash + 1);
    if (!knowsRevision(revision_and_file.left(slash)) || !files.contains(file))
      return respond(socket, 404, {}, "{\"error\":\"Entry not found\"}");
    const QByteArray location = (origin(cdn_) + "/cdn/" + blobName(file)).toUtf8() + "?X-Amz-Signature=" +
                                QByteArray(64, 'f') + "&Expires=1";
    respond(socket, 302, {{"Location", location}}, {});
  }

  void serveBlob(QTcpSocket* socket, const Request& request, const QString& blob) {
    for (auto it = files.begin(); it != files.end(); ++it) {
      if (blobName(it.key()) != blob) continue;
      const QByteArray body = it->served.value_or(it->content);
      qint64 start = 0;
      const QByteArray range = request.headers.value("range");
      if (range.startsWith("bytes=") && !ignore_range) start = range.mid(6).split('-').first().toLongLong();
      if (start >= body.size() && start > 0)
        return respond(socket, 416, {{"Content-Range", "bytes */" + QByteArray::number(body.size())}}, {});
      const qint64 drop = drop_after.take(it.key());
      QList<QPair<QByteArray, QByteArray>> headers{{"Content-Type", "application/octet-stream"},
                                                   {"Accept-Ranges", "bytes"}};
      if (start > 0)
        headers.append({"Content-Range", "bytes " + QByteArray::number(start) + "-" +
                                             QByteArray::number(body.size() - 1) + "/" +
                                             QByteArray::number(body.size())});
      return respond(socket, start > 0 ? 206 : 200, headers, body.mid(start), drop > 0 ? drop : -1);
    }
    respond(socket, 404, {}, "{\"error\":\"no such blob\"}");
  }

  static QByteArray reason(int status) {
    switch (status) {
      case 200: return "OK";
      case 206: return "Partial Content";
      case 302: return "Found";
      case 404: return "Not Found";
      case 416: return "Range Not Satisfiable";
      case 500: return "Internal Server Error";
      default: return "Status";
    }
  }

  // Content-Length always states the whole body; drop_at >= 0 closes the connection after that many bytes.
  void respond(QTcpSocket* socket, int status, const QList<QPair<QByteArray, QByteArray>>& headers,
               const QByteArray& body, qint64 drop_at = -1) {
    QByteArray head = "HTTP/1.1 " + QByteArray::number(status) + " " + reason(status) + "\r\n";
    for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
    head += "Content-Length: " + QByteArray::number(body.size()) + "\r\nConnection: close\r\n\r\n";
    socket->write(head);
    if (drop_at >= 0) {
      socket->write(body.left(drop_at));
      socket->disconnectFromHost();
    } else if (chunk_delay_ms > 0 && status < 300) {
      trickle(socket, body, 0);
    } else {
      socket->write(body);
      socket->disconnectFromHost();
    }
  }

  void trickle(QPointer<QTcpSocket> socket, const QByteArray& body, qint64 offset) {
    if (!socket || socket->state() != QAbstractSocket::ConnectedState) return;
    socket->write(body.mid(offset, chunk_bytes));
    if (offset + chunk_bytes >= body.size()) return socket->disconnectFromHost();
    QTimer::singleShot(chunk_delay_ms, this, [this, socket, body, offset] { trickle(socket, body, offset + chunk_bytes); });
  }

  QTcpServer hub_;
  QTcpServer cdn_;
};

}  // namespace folio::test
