// A stand-in for an OpenAI-compatible OCR server (vLLM and the like) on a loopback port, for the remote backend's
// tests: it streams a recorded answer as server-sent events, a few characters a chunk, and can be told to answer
// the next requests with an HTTP error, to stall, or to cut the stream. It records what it was sent, how many
// requests it held at once and which streams the client closed. cpp-httplib's server, on threads of its own.
#pragma once

#include <httplib.h>

#include <QByteArray>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QString>
#include <QTcpServer>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace folio::test {

// A loopback URL nothing listens on: connections to it are refused.
inline QString closedPortUrl() {
  QTcpServer probe;
  probe.listen(QHostAddress::LocalHost);
  const quint16 port = probe.serverPort();
  probe.close();
  return QStringLiteral("http://127.0.0.1:%1").arg(port);
}

class FakeOpenAiServer {
 public:
  // What the server does with one chat request.
  struct Behaviour {
    int status = 200;         // != 200: that status with an error body
    int retry_after_s = -1;   // with a 429: a Retry-After header
    int stall_after_chunks = -1;  // stop sending (keep the connection open) after this many chunks
    int cut_after_chunks = -1;    // close the connection after this many chunks
  };

  explicit FakeOpenAiServer(std::string answer, std::string model = "deepseek-ai/DeepSeek-OCR")
      : answer_(std::move(answer)), model_(std::move(model)) {
    server_.new_task_queue = [] { return new httplib::ThreadPool(64); };
    server_.Get("/v1/models", [this](const httplib::Request& request, httplib::Response& response) {
      ++models_requests_;
      noteAuthorization(request);
      if (models_down_) {
        response.status = 503;
        return;
      }
      const QJsonObject body{{"object", "list"},
                             {"data", QJsonArray{QJsonObject{{"id", QString::fromStdString(model_)}, {"object", "model"}}}}};
      response.set_content(QJsonDocument(body).toJson().toStdString(), "application/json");
    });
    server_.Post("/v1/chat/completions",
                 [this](const httplib::Request& request, httplib::Response& response) { chat(request, response); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  ~FakeOpenAiServer() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }

  QString url() const { return QStringLiteral("http://127.0.0.1:%1").arg(port_); }

  // The next requests get these, in order; then plain answers.
  void script(std::vector<Behaviour> behaviours) {
    std::lock_guard lock(mutex_);
    script_.assign(behaviours.begin(), behaviours.end());
  }
  void setAlways(Behaviour behaviour) {
    std::lock_guard lock(mutex_);
    always_ = behaviour;
  }
  void setChunkDelay(std::chrono::milliseconds delay) { chunk_delay_ms_ = int(delay.count()); }
  void setModelsDown(bool down) { models_down_ = down; }

  int chatRequests() const { return chat_requests_; }
  int modelsRequests() const { return models_requests_; }
  int mostAtOnce() const { return most_at_once_; }
  int closedByClient() const { return closed_by_client_; }
  int finishedStreams() const { return finished_streams_; }
  QJsonObject lastRequest() const {
    std::lock_guard lock(mutex_);
    return last_request_;
  }
  // The Authorization header of the last request, of any route ("" when it had none).
  std::string lastAuthorization() const {
    std::lock_guard lock(mutex_);
    return last_authorization_;
  }

  // The answer in the chunks the server streams (four bytes a chunk, never splitting a UTF-8 character).
  std::vector<std::string> chunks() const {
    std::vector<std::string> pieces;
    for (std::size_t at = 0; at < answer_.size();) {
      std::size_t end = std::min(answer_.size(), at + 4);
      while (end < answer_.size() && (static_cast<unsigned char>(answer_[end]) & 0xC0) == 0x80) ++end;
      pieces.push_back(answer_.substr(at, end - at));
      at = end;
    }
    return pieces;
  }

 private:
  void noteAuthorization(const httplib::Request& request) {
    std::lock_guard lock(mutex_);
    last_authorization_ = request.get_header_value("Authorization");
  }

  Behaviour nextBehaviour() {
    std::lock_guard lock(mutex_);
    if (script_.empty()) return always_;
    const Behaviour next = script_.front();
    script_.pop_front();
    return next;
  }

  static std::string event(const QJsonObject& object) {
    return "data: " + QJsonDocument(object).toJson(QJsonDocument::Compact).toStdString() + "\n\n";
  }

  QJsonObject chunkObject(const QString& content, const QJsonValue& finish) const {
    return {{"id", "chatcmpl-fake"},
            {"object", "chat.completion.chunk"},
            {"model", QString::fromStdString(model_)},
            {"choices", QJsonArray{QJsonObject{{"index", 0}, {"delta", QJsonObject{{"content", content}}}, {"finish_reason", finish}}}}};
  }

  void chat(const httplib::Request& request, httplib::Response& response) {
    ++chat_requests_;
    noteAuthorization(request);
    {
      std::lock_guard lock(mutex_);
      last_request_ = QJsonDocument::fromJson(QByteArray::fromStdString(request.body)).object();
    }
    const Behaviour behaviour = nextBehaviour();
    if (behaviour.status != 200) {
      response.status = behaviour.status;
      if (behaviour.retry_after_s >= 0) response.set_header("Retry-After", std::to_string(behaviour.retry_after_s));
      response.set_content(R"({"error": {"message": "scripted failure )" + std::to_string(behaviour.status) +
                               R"(", "type": "test"}})",
                           "application/json");
      return;
    }
    const int now = ++at_once_;
    for (int most = most_at_once_; now > most && !most_at_once_.compare_exchange_weak(most, now);) {}
    response.set_chunked_content_provider(
        "text/event-stream",
        [this, behaviour, sent = 0](std::size_t, httplib::DataSink& sink) mutable { return stream(behaviour, sink, sent); },
        [this](bool) { --at_once_; });
  }

  // Writes the whole answer (or what the behaviour allows of it); false closes the connection.
  bool stream(const Behaviour& behaviour, httplib::DataSink& sink, int& sent) {
    const std::vector<std::string> pieces = chunks();
    for (const std::string& piece : pieces) {
      if (sent == behaviour.cut_after_chunks) return false;
      if (sent == behaviour.stall_after_chunks) {
        while (!stopping_ && sink.is_writable()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(chunk_delay_ms_));
      if (!sink.is_writable() || !writeEvent(sink, chunkObject(QString::fromStdString(piece), QJsonValue::Null))) {
        ++closed_by_client_;
        return false;
      }
      ++sent;
    }
    writeEvent(sink, chunkObject(QString(), "stop"));
    const QJsonObject usage{{"id", "chatcmpl-fake"}, {"object", "chat.completion.chunk"}, {"choices", QJsonArray{}},
                            {"usage", QJsonObject{{"prompt_tokens", 273}, {"completion_tokens", int(pieces.size())},
                                                  {"total_tokens", 273 + int(pieces.size())}}}};
    writeEvent(sink, usage);
    sink.write("data: [DONE]\n\n", 14);
    ++finished_streams_;
    sink.done();
    return true;
  }

  static bool writeEvent(httplib::DataSink& sink, const QJsonObject& object) {
    const std::string text = event(object);
    return sink.write(text.data(), text.size());
  }

  const std::string answer_, model_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::deque<Behaviour> script_;
  Behaviour always_;
  QJsonObject last_request_;
  std::string last_authorization_;
  std::atomic<int> chunk_delay_ms_{0};
  std::atomic<bool> models_down_{false}, stopping_{false};
  std::atomic<int> chat_requests_{0}, models_requests_{0}, at_once_{0}, most_at_once_{0}, closed_by_client_{0},
      finished_streams_{0};
};

}  // namespace folio::test
