#include "ocr_server.h"

#include "document.h"
#include "ocr_worker.h"
#include "openai_chat.h"

#include <httplib.h>

#include <QBuffer>
#include <QDateTime>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QUuid>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace folio::app {
namespace {

const std::string kEndOfSentence = "<｜end▁of▁sentence｜>";
constexpr auto kPoll = std::chrono::milliseconds(50);  // how often an answer looks for new text
// Nothing else written for this long, an answer writes a keep-alive (an SSE comment, or a space before the JSON):
// a client that went away shows only when a write fails, and then its page is cancelled.
constexpr auto kKeepAlive = std::chrono::seconds(1);

// One page from its request to its answer: written by the scheduler thread, read by the request's thread.
struct ServedPage {
  RgbImage image;
  RunOptions options;
  std::atomic<bool> cancel{false};
  std::mutex mutex;
  std::condition_variable changed;
  std::string text;  // the model's text so far
  int tokens = 0;
  bool done = false;
  Result result;
  QString error;  // the page could not be read

  // The text a client may be sent: not the end-of-sentence token, which the final answer drops too.
  std::string sendableText() const {
    return text.ends_with(kEndOfSentence) ? text.substr(0, text.size() - kEndOfSentence.size()) : text;
  }
};

QByteArray sseEvent(const QByteArray& json) { return "data: " + json + "\n\n"; }

}  // namespace

struct OcrServer::Impl {
  OcrBackend& backend;
  ServerOptions options;
  httplib::Server http;
  std::thread scheduler;
  mutable std::mutex mutex;
  std::condition_variable queued_changed;
  std::deque<std::shared_ptr<ServedPage>> queue;
  int running = 0;
  bool stopping = false;
  ServerStats stats;

  Impl(OcrBackend& b, ServerOptions o) : backend(b), options(std::move(o)) {}

  void count(int ServerStats::*field) {
    std::lock_guard lock(mutex);
    ++(stats.*field);
  }

  void reject(httplib::Response& response, int status, const QString& message, const char* type) {
    count(&ServerStats::rejected);
    response.status = status;
    response.set_content(errorJson(message, type).toStdString(), "application/json");
  }

  void routes() {
    http.set_payload_max_length(options.max_body_bytes);
    // A connection thread for every request that may wait or stream, and a few for the cheap routes.
    const int threads = options.max_queue + options.max_batch + 8;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_error_handler([this](const httplib::Request&, httplib::Response& response) {
      if (response.status == 413)
        response.set_content(errorJson(QStringLiteral("the request is larger than %1 MB").arg(options.max_body_bytes >> 20),
                                       "invalid_request_error").toStdString(), "application/json");
    });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& response) {
      std::lock_guard lock(mutex);
      const QJsonObject body{{"status", "ok"}, {"queued", int(queue.size())}, {"running", running}};
      response.set_content(QJsonDocument(body).toJson(QJsonDocument::Compact).toStdString(), "application/json");
    });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& response) {
      const QJsonObject model{{"id", options.model_name}, {"object", "model"}, {"owned_by", "folio"}};
      const QJsonObject body{{"object", "list"}, {"data", QJsonArray{model}}};
      response.set_content(QJsonDocument(body).toJson(QJsonDocument::Compact).toStdString(), "application/json");
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request& request, httplib::Response& response) {
      chat(request, response);
    });
  }

  void chat(const httplib::Request& request, httplib::Response& response) {
    ParsedChatRequest parsed =
        parseChatRequest(QByteArray::fromStdString(request.body), options.default_mode, options.max_tokens);
    if (!parsed.error.isEmpty()) return reject(response, 400, parsed.error, "invalid_request_error");
    if (!parsed.model.isEmpty() && parsed.model != options.model_name)
      return reject(response, 404, QStringLiteral("this server serves %1, not %2").arg(options.model_name, parsed.model),
                    "not_found_error");
    // A client cannot know which modes this model has (DeepSeek-OCR-2 lacks Tiny and Large): the nearest, as the
    // app's worker picks it.
    parsed.options.mode = availableMode(parsed.options.mode, backend.modes());
    auto job = std::make_shared<ServedPage>();
    QString error;
    if (!decodeImage(parsed.image_bytes, &job->image, &error)) return reject(response, 400, error, "invalid_request_error");
    job->options = parsed.options;
    if (!enqueue(job)) {
      response.set_header("Retry-After", "1");
      return reject(response, 429, QStringLiteral("%1 pages are waiting already; try again").arg(options.max_queue),
                    "rate_limit_error");
    }
    const QString id = "chatcmpl-" + QUuid::createUuid().toString(QUuid::Id128);
    const qint64 created = QDateTime::currentSecsSinceEpoch();
    if (parsed.stream) return stream(job, id, created, parsed.include_usage, response);
    answerWhole(job, id, created, response);
  }

  static bool decodeImage(const QByteArray& bytes, RgbImage* image, QString* error) {
    QBuffer buffer;
    buffer.setData(bytes);
    buffer.open(QIODevice::ReadOnly);
    QImageReader reader(&buffer);
    const QImage page = readImagePage(reader, QStringLiteral("the request's image"), error);
    if (page.isNull()) return false;
    *image = toRgbImage(page);
    return true;
  }

  bool enqueue(const std::shared_ptr<ServedPage>& job) {
    {
      std::lock_guard lock(mutex);
      if (int(queue.size()) >= options.max_queue) return false;
      queue.push_back(job);
    }
    queued_changed.notify_one();
    return true;
  }

  static QString finishReason(const Result& result) { return result.hit_token_limit ? "length" : "stop"; }

  // Writes to the client; false when it went away, which cancels the page (after waiting for the backend to let
  // go of it).
  bool writeOrCancel(ServedPage& job, std::unique_lock<std::mutex>& lock, httplib::DataSink& sink, const QByteArray& bytes) {
    if (sink.write(bytes.constData(), std::size_t(bytes.size()))) return true;
    job.cancel = true;
    job.changed.wait(lock, [&] { return job.done; });
    count(&ServerStats::cancelled);
    return false;
  }

  // Waits for the page, calling on_text with what the model wrote since the last call, and writing keep_alive
  // when nothing was written for kKeepAlive. False when the client went away.
  bool follow(ServedPage& job, std::unique_lock<std::mutex>& lock, httplib::DataSink& sink, const QByteArray& keep_alive,
              const std::function<QByteArray(const std::string& more)>& on_text) {
    std::size_t sent = 0;
    auto last_write = std::chrono::steady_clock::now();
    while (!job.done) {
      job.changed.wait_for(lock, kPoll);
      const std::string text = job.done ? job.result.raw_text : job.sendableText();
      QByteArray bytes;
      if (text.size() > sent && on_text) bytes = on_text(text.substr(sent));
      sent = std::max(sent, text.size());
      if (bytes.isEmpty() && std::chrono::steady_clock::now() - last_write >= kKeepAlive) bytes = keep_alive;
      if (bytes.isEmpty()) continue;
      if (!writeOrCancel(job, lock, sink, bytes)) return false;
      last_write = std::chrono::steady_clock::now();
    }
    return true;
  }

  // The whole answer once the page is done, with spaces before it meanwhile (JSON allows them) to notice a
  // client that went away. Headers go out first, so a page that fails ends as an error body.
  void answerWhole(const std::shared_ptr<ServedPage>& job, const QString& id, qint64 created, httplib::Response& response) {
    const QString model = options.model_name;
    response.set_chunked_content_provider("application/json", [this, job, id, created, model](std::size_t, httplib::DataSink& sink) {
      std::unique_lock lock(job->mutex);
      if (!follow(*job, lock, sink, " ", {})) return false;
      const Result& result = job->result;
      const QByteArray body = job->error.isEmpty()
                                  ? responseJson(id, model, created, QString::fromStdString(result.raw_text),
                                                 finishReason(result), result.prompt_tokens, result.generated_tokens)
                                  : errorJson(job->error, "server_error");
      if (job->error.isEmpty()) count(&ServerStats::served);
      sink.write(body.constData(), std::size_t(body.size()));
      sink.done();
      return true;
    });
  }

  // Server-sent events: each new piece of text as a chunk, then the finish reason, the token counts when asked
  // for, and [DONE].
  void stream(const std::shared_ptr<ServedPage>& job, const QString& id, qint64 created, bool include_usage,
              httplib::Response& response) {
    const QString model = options.model_name;
    response.set_header("Cache-Control", "no-cache");
    response.set_chunked_content_provider("text/event-stream", [this, job, id, created, include_usage, model](
                                                                    std::size_t, httplib::DataSink& sink) {
      std::unique_lock lock(job->mutex);
      const auto chunk = [&](const std::string& more) {
        return sseEvent(chunkJson(id, model, created, QString::fromStdString(more)));
      };
      if (!follow(*job, lock, sink, ":\n\n", chunk)) return false;
      QByteArray tail;
      if (!job->error.isEmpty()) {
        tail = sseEvent(errorJson(job->error, "server_error"));
      } else {
        tail = sseEvent(chunkJson(id, model, created, QString(), finishReason(job->result)));
        if (include_usage)
          tail += sseEvent(usageChunkJson(id, model, created, job->result.prompt_tokens, job->result.generated_tokens));
        count(&ServerStats::served);
      }
      tail += "data: [DONE]\n\n";
      sink.write(tail.constData(), std::size_t(tail.size()));
      sink.done();
      return true;
    });
  }

  // The scheduler: every queued page (up to max_batch) goes to the backend at once.
  void schedule() {
    while (true) {
      std::vector<std::shared_ptr<ServedPage>> batch, gone;
      {
        std::unique_lock lock(mutex);
        queued_changed.wait(lock, [&] { return stopping || !queue.empty(); });
        if (stopping) break;
        while (!queue.empty() && int(batch.size()) < options.max_batch) {
          // A page whose client left while it waited is not read at all.
          (queue.front()->cancel ? gone : batch).push_back(queue.front());
          queue.pop_front();
        }
        running = int(batch.size());
      }
      Result nothing;
      nothing.cancelled = true;
      for (const auto& job : gone) finish(*job, nothing, {});
      if (!batch.empty()) runBatch(batch);
      std::lock_guard lock(mutex);
      running = 0;
    }
    failQueued(QStringLiteral("the server is stopping"));
  }

  void runBatch(const std::vector<std::shared_ptr<ServedPage>>& batch) {
    std::vector<RgbImage> images;
    std::vector<RunOptions> page_options;
    std::vector<const std::atomic<bool>*> cancels;
    for (const auto& job : batch) {
      images.push_back(std::move(job->image));
      page_options.push_back(job->options);
      cancels.push_back(&job->cancel);
    }
    BatchCallbacks callbacks;
    callbacks.progress = [&](std::size_t i, const Progress& progress) {
      std::lock_guard lock(batch[i]->mutex);
      batch[i]->text = progress.text;
      batch[i]->tokens = progress.generated_tokens;
    };
    callbacks.finished = [&](std::size_t i, Result result) { finish(*batch[i], std::move(result), {}); };
    callbacks.failed = [&](std::size_t i, const QString& message) { finish(*batch[i], {}, message); };
    try {
      backend.runBatch(images, page_options, callbacks, cancels);
    } catch (const std::exception& e) {
      for (const auto& job : batch) finish(*job, {}, QString::fromUtf8(e.what()), /*unless_done=*/true);
    }
  }

  static void finish(ServedPage& job, Result result, const QString& error, bool unless_done = false) {
    {
      std::lock_guard lock(job.mutex);
      if (unless_done && job.done) return;
      job.result = std::move(result);
      job.error = error;
      job.done = true;
    }
    job.changed.notify_all();
  }

  void failQueued(const QString& why) {
    std::deque<std::shared_ptr<ServedPage>> left;
    {
      std::lock_guard lock(mutex);
      left.swap(queue);
    }
    for (const auto& job : left) finish(*job, {}, why);
  }
};

OcrServer::OcrServer(OcrBackend& backend, ServerOptions options)
    : impl_(std::make_unique<Impl>(backend, std::move(options))) {
  impl_->routes();
}

OcrServer::~OcrServer() {
  stop();
  if (impl_->scheduler.joinable()) impl_->scheduler.join();
}

int OcrServer::bind() {
  const int port = impl_->options.port == 0 ? impl_->http.bind_to_any_port(impl_->options.host)
                                            : (impl_->http.bind_to_port(impl_->options.host, impl_->options.port)
                                                   ? impl_->options.port
                                                   : -1);
  if (port <= 0)
    throw Error("cannot listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port) +
                " (in use, or not an address of this machine)");
  return port;
}

void OcrServer::serve() {
  impl_->scheduler = std::thread([this] { impl_->schedule(); });
  impl_->http.listen_after_bind();
}

void OcrServer::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->queued_changed.notify_all();
  impl_->http.stop();
}

ServerStats OcrServer::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace folio::app
