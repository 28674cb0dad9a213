#include "remote_backend.h"

#include "sse_parser.h"

#include <httplib.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace folio::app {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTick = std::chrono::milliseconds(25);  // how often cancel flags, retries and probes are looked at
constexpr int kLongestRetryDelayMs = 60000;
constexpr int kConnectTimeoutS = 10;
const std::string kEndOfSentence = "<｜end▁of▁sentence｜>";

QString apiKeyFor(const RemoteEndpoint& endpoint) {
  return endpoint.api_key.isEmpty() ? qEnvironmentVariable("OPENAI_API_KEY") : endpoint.api_key;
}

QUrl withPath(const QUrl& endpoint, const QString& tail) {
  QUrl url = endpoint;
  QString path = url.path();
  for (const QString& known : {QStringLiteral("/chat/completions"), QStringLiteral("/models")})
    if (path.endsWith(known)) path.chop(known.size());
  while (path.endsWith('/')) path.chop(1);
  if (!path.endsWith("/v1")) path += "/v1";
  url.setPath(path + tail);
  return url;
}

QStringList modelIds(const std::string& body) {
  QStringList ids;
  for (const QJsonValue& model : QJsonDocument::fromJson(QByteArray::fromStdString(body)).object().value("data").toArray())
    ids << model.toObject().value("id").toString();
  ids.removeAll(QString());
  return ids;
}

// One HTTP exchange on a thread of its own (cpp-httplib's blocking client): the response's head, its body as it
// arrives, and how it ended, handed to the scheduler through an Inbox. stop() closes the connection from any
// thread, which ends a stream at once (a cancelled page, a batch that ends).
class Exchange {
 public:
  struct Head {
    int status = 0;
    std::string content_type;
    int retry_after_s = -1;
  };

  Exchange(const QUrl& url, const RemoteEndpoint& endpoint, int read_timeout_ms)
      : client_(url.adjusted(QUrl::RemovePath | QUrl::RemoveQuery | QUrl::RemoveFragment).toString().toStdString()),
        path_(url.path(QUrl::FullyEncoded).toStdString()) {
    client_.set_connection_timeout(kConnectTimeoutS);
    client_.set_read_timeout(std::chrono::milliseconds(read_timeout_ms));
    client_.set_write_timeout(std::chrono::seconds(60));
    const QString key = apiKeyFor(endpoint);
    if (!key.isEmpty()) client_.set_bearer_token_auth(key.toStdString());
  }
  ~Exchange() {
    stop();
    if (thread_.joinable()) thread_.join();
  }

  // GET (body empty) or POST; on_head, on_bytes and on_end run on the exchange's thread.
  void start(std::string body, std::function<void(const Head&)> on_head,
             std::function<void(std::string)> on_bytes, std::function<void(std::string error)> on_end) {
    thread_ = std::thread([this, body = std::move(body), on_head, on_bytes, on_end] {
      httplib::Request request;
      request.method = body.empty() ? "GET" : "POST";
      request.path = path_;
      request.body = body;
      if (!body.empty()) request.set_header("Content-Type", "application/json");
      request.set_header("Accept", body.empty() ? "application/json" : "text/event-stream");
      request.response_handler = [&](const httplib::Response& response) {
        Head head{response.status, response.get_header_value("Content-Type"), -1};
        if (response.has_header("Retry-After")) head.retry_after_s = std::atoi(response.get_header_value("Retry-After").c_str());
        on_head(head);
        return !stopped_;
      };
      request.content_receiver = [&](const char* data, std::size_t length, std::uint64_t, std::uint64_t) {
        on_bytes(std::string(data, length));
        return !stopped_;
      };
      httplib::Response response;
      httplib::Error error = httplib::Error::Success;
      client_.send(request, response, error);
      on_end(error == httplib::Error::Success ? std::string() : describe(error));
    });
  }

  void stop() {
    stopped_ = true;
    client_.stop();
  }
  void wait() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  static std::string describe(httplib::Error error) {
    switch (error) {
      case httplib::Error::Connection: return "cannot connect";
      case httplib::Error::Read: return "no data within the time limit, or the connection was closed";
      case httplib::Error::Write: return "the connection was closed while sending";
      case httplib::Error::Canceled: return "cancelled";
      case httplib::Error::SSLConnection: return "TLS connection failed";
      case httplib::Error::SSLServerVerification: return "the server's TLS certificate is not trusted";
      default: return httplib::to_string(error);
    }
  }

  httplib::Client client_;
  const std::string path_;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

// What the exchanges' threads hand to the scheduler, which runs in the caller's thread.
class Inbox {
 public:
  void post(std::function<void()> message) {
    {
      std::lock_guard lock(mutex_);
      messages_.push_back(std::move(message));
    }
    ready_.notify_one();
  }
  // Runs what arrived, waiting at most `wait` for the first message.
  void deliver(std::chrono::milliseconds wait) {
    std::deque<std::function<void()>> messages;
    {
      std::unique_lock lock(mutex_);
      ready_.wait_for(lock, wait, [&] { return !messages_.empty(); });
      messages.swap(messages_);
    }
    for (auto& message : messages) message();
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> messages_;
};

struct EndpointState {
  int in_flight = 0;
  int failures_in_row = 0;
  Clock::time_point out_until{};  // out of the rotation until then, then probed
  bool out = false;
  std::unique_ptr<Exchange> probe;
  QString last_error;
};

// One attempt's outcome, when it did not bring a whole answer.
struct AttemptFailure {
  QString message;
  bool retry = true;           // connection errors, 429, 5xx, cut streams, stalls
  bool endpoint_fault = true;  // counts against the endpoint (a 429 is the endpoint being busy, not broken)
  int retry_after_ms = -1;
};

class RemoteBackend;

// One runBatch call: the pages' requests, retries and results. The scheduling and every callback run in the
// caller's thread; only the exchanges' blocking network I/O runs on theirs.
class BatchRun {
 public:
  BatchRun(RemoteBackend& backend, const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
           const BatchCallbacks& callbacks, const std::vector<const std::atomic<bool>*>& cancels);
  void run();

 private:
  struct Page {
    std::string body;  // the request, made once: encoding the image costs
    int attempts = 0;
    Clock::time_point not_before{};
    std::unique_ptr<Exchange> exchange;
    int endpoint = -1;
    Exchange::Head head;
    SseParser events;
    std::string plain_body;  // a non-streamed answer, or an error's body
    std::string text;
    int tokens = 0, prompt_tokens = -1, completion_tokens = -1;
    QString finish_reason, stream_error;
    bool saw_done = false, cancelled = false, done = false;
    Clock::time_point sent, first_byte;
    bool got_bytes = false;
  };

  void lookAtCancels();
  void probeEndpoints();
  void dispatch();
  int pickEndpoint() const;
  void send(std::size_t i, int endpoint);
  void onBytes(std::size_t i, const std::string& bytes);
  void onEnd(std::size_t i, const std::string& error);
  std::optional<AttemptFailure> failureOf(const Page& page, const std::string& error) const;
  void retryOrFail(std::size_t i, const AttemptFailure& failure);
  void finishPage(std::size_t i);
  void failPage(std::size_t i, const QString& message);
  void takeAnswer(Page& page, const ChatAnswer& answer);
  bool allDone() const;
  bool cancelRequested(std::size_t i) const { return !cancels_.empty() && cancels_[i] && cancels_[i]->load(); }
  QString endpointUrl(int endpoint) const;

  RemoteBackend& backend_;
  const RemoteOptions& remote_;
  const std::vector<RgbImage>& pages_;
  const std::vector<RunOptions>& options_;
  const BatchCallbacks& callbacks_;
  const std::vector<const std::atomic<bool>*>& cancels_;
  std::vector<Page> state_;
  Inbox inbox_;
  std::optional<Clock::time_point> none_in_rotation_since_;
};

class RemoteBackend : public OcrBackend {
 public:
  RemoteBackend(RemoteOptions options, QString model)
      : options_(std::move(options)), model_(std::move(model)), endpoints_(options_.endpoints.size()) {}

  Result run(const RgbImage& page, const RunOptions& options, const std::function<void(const Progress&)>& on_progress,
             const std::atomic<bool>* cancel) override {
    std::optional<Result> result;
    QString failure;
    BatchCallbacks callbacks;
    if (on_progress) callbacks.progress = [&](std::size_t, const Progress& progress) { on_progress(progress); };
    callbacks.finished = [&](std::size_t, Result r) { result = std::move(r); };
    callbacks.failed = [&](std::size_t, const QString& message) { failure = message; };
    runBatch({page}, {options}, callbacks, {cancel});
    if (!result) throw Error(failure.toStdString());
    return *result;
  }

  void runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                const BatchCallbacks& callbacks, const std::vector<const std::atomic<bool>*>& cancels) override {
    if (options.size() != pages.size()) throw Error("a batch needs one set of run options per page");
    BatchRun(*this, pages, options, callbacks, cancels).run();
  }

  QString description() const override {
    QStringList endpoints;
    for (const RemoteEndpoint& endpoint : options_.endpoints)
      endpoints << QStringLiteral("%1 (%2 at once)").arg(endpoint.url.toString()).arg(endpoint.max_in_flight);
    return QStringLiteral("OCR servers: %1").arg(endpoints.join(", "));  // the window shows modelName() before it
  }
  QString modelName() const override { return QStringLiteral("%1 (remote)").arg(model_); }
  // The server decides what a mode means (Folio's own honours folio_mode): every mode may be asked for.
  std::vector<Mode> modes() const override { return supportedModes(ModelFamily::DeepseekOcr); }
  int pagesInFlight() const override {
    int total = 0;
    for (const RemoteEndpoint& endpoint : options_.endpoints) total += std::max(endpoint.max_in_flight, 1);
    return total;
  }

 private:
  friend class BatchRun;
  RemoteOptions options_;
  QString model_;
  std::vector<EndpointState> endpoints_;  // kept across batches: an endpoint out of the rotation stays out
};

BatchRun::BatchRun(RemoteBackend& backend, const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                   const BatchCallbacks& callbacks, const std::vector<const std::atomic<bool>*>& cancels)
    : backend_(backend), remote_(backend.options_), pages_(pages), options_(options), callbacks_(callbacks),
      cancels_(cancels), state_(pages.size()) {
  for (std::size_t i = 0; i < pages.size(); ++i)
    state_[i].body = toJson(chatRequestFor(pages[i], options[i], backend.model_, remote_.image_encoding)).toStdString();
}

void BatchRun::run() {
  while (!allDone()) {
    lookAtCancels();
    probeEndpoints();
    dispatch();
    if (!allDone()) inbox_.deliver(kTick);
  }
  // A probe still out belongs to no batch: stopped here, so that its thread posts to no dead inbox.
  for (EndpointState& endpoint : backend_.endpoints_) endpoint.probe.reset();
}

bool BatchRun::allDone() const {
  return std::all_of(state_.begin(), state_.end(), [](const Page& page) { return page.done; });
}

QString BatchRun::endpointUrl(int endpoint) const { return remote_.endpoints[endpoint].url.toString(); }

void BatchRun::lookAtCancels() {
  for (std::size_t i = 0; i < state_.size(); ++i) {
    Page& page = state_[i];
    if (page.done || page.cancelled || !cancelRequested(i)) continue;
    page.cancelled = true;
    if (page.exchange) page.exchange->stop();  // its end finishes the page
    else finishPage(i);
  }
}

// GET /v1/models at each endpoint whose time out of the rotation is up: an answer puts it back.
void BatchRun::probeEndpoints() {
  for (std::size_t e = 0; e < backend_.endpoints_.size(); ++e) {
    EndpointState& endpoint = backend_.endpoints_[e];
    if (!endpoint.out || endpoint.probe || Clock::now() < endpoint.out_until) continue;
    const RemoteEndpoint& config = remote_.endpoints[int(e)];
    endpoint.probe = std::make_unique<Exchange>(modelsUrl(config.url), config, std::min(remote_.probe_interval_ms, 10000));
    auto status = std::make_shared<std::atomic<int>>(0);
    endpoint.probe->start(
        {}, [status](const Exchange::Head& head) { *status = head.status; }, [](std::string) {},
        [this, e, status](std::string) {
          inbox_.post([this, e, status] {
            EndpointState& endpoint = backend_.endpoints_[e];
            endpoint.probe.reset();
            endpoint.out = *status != 200;
            if (endpoint.out) endpoint.out_until = Clock::now() + std::chrono::milliseconds(remote_.probe_interval_ms);
            else endpoint.failures_in_row = 0;
          });
        });
  }
}

int BatchRun::pickEndpoint() const {
  int best = -1;
  double best_load = 0;
  for (int e = 0; e < int(backend_.endpoints_.size()); ++e) {
    const EndpointState& endpoint = backend_.endpoints_[e];
    const int limit = std::max(remote_.endpoints[e].max_in_flight, 1);
    if (endpoint.out || endpoint.in_flight >= limit) continue;
    const double load = double(endpoint.in_flight) / limit;
    if (best < 0 || load < best_load) best = e, best_load = load;
  }
  return best;
}

void BatchRun::dispatch() {
  const auto now = Clock::now();
  const bool any_in_rotation = std::any_of(backend_.endpoints_.begin(), backend_.endpoints_.end(),
                                           [](const EndpointState& e) { return !e.out; });
  if (any_in_rotation) none_in_rotation_since_.reset();
  else if (!none_in_rotation_since_) none_in_rotation_since_ = now;
  const bool unreachable =
      none_in_rotation_since_ && now - *none_in_rotation_since_ > std::chrono::milliseconds(remote_.unreachable_timeout_ms);
  for (std::size_t i = 0; i < state_.size(); ++i) {
    Page& page = state_[i];
    if (page.done || page.exchange || now < page.not_before) continue;
    if (unreachable) {
      QStringList why;
      for (std::size_t e = 0; e < backend_.endpoints_.size(); ++e)
        why << endpointUrl(int(e)) + ": " + backend_.endpoints_[e].last_error;
      failPage(i, QStringLiteral("No OCR server answered for %1 s (%2)")
                      .arg(remote_.unreachable_timeout_ms / 1000.0)
                      .arg(why.join("; ")));
      continue;
    }
    const int endpoint = pickEndpoint();
    if (endpoint < 0) break;
    send(i, endpoint);
  }
}

void BatchRun::send(std::size_t i, int endpoint) {
  Page& page = state_[i];
  const RemoteEndpoint& config = remote_.endpoints[endpoint];
  page = Page{std::move(page.body), page.attempts + 1};
  page.endpoint = endpoint;
  page.sent = Clock::now();
  ++backend_.endpoints_[endpoint].in_flight;
  page.exchange = std::make_unique<Exchange>(chatCompletionsUrl(config.url), config, remote_.stall_timeout_ms);
  Exchange* exchange = page.exchange.get();
  // Messages name their exchange: one that arrives after its page moved on (a retry) is dropped.
  const auto current = [this, i, exchange] { return state_[i].exchange.get() == exchange; };
  page.exchange->start(
      page.body,
      [this, i, current](const Exchange::Head& head) {
        inbox_.post([this, i, current, head] { if (current()) state_[i].head = head; });
      },
      [this, i, current](std::string bytes) {
        inbox_.post([this, i, current, bytes = std::move(bytes)] { if (current()) onBytes(i, bytes); });
      },
      [this, i, current](std::string error) {
        inbox_.post([this, i, current, error = std::move(error)] { if (current()) onEnd(i, error); });
      });
}

void BatchRun::takeAnswer(Page& page, const ChatAnswer& answer) {
  if (!answer.error.isEmpty()) page.stream_error = answer.error;
  page.text += answer.content.toStdString();
  if (!answer.content.isEmpty()) ++page.tokens;  // servers stream a token a chunk; usage corrects the count
  if (!answer.finish_reason.isEmpty()) page.finish_reason = answer.finish_reason;
  if (answer.prompt_tokens >= 0) page.prompt_tokens = answer.prompt_tokens;
  if (answer.completion_tokens >= 0) page.completion_tokens = answer.completion_tokens;
}

void BatchRun::onBytes(std::size_t i, const std::string& bytes) {
  Page& page = state_[i];
  const bool streamed = page.head.status == 200 && page.head.content_type.starts_with("text/event-stream");
  if (!streamed) {
    page.plain_body += bytes;
    return;
  }
  if (!page.got_bytes) page.first_byte = Clock::now();
  page.got_bytes = true;
  const std::size_t length_before = page.text.size();
  for (const SseEvent& event : page.events.feed(QByteArrayView(bytes.data(), qsizetype(bytes.size())))) {
    if (event.data == "[DONE]") page.saw_done = true;
    else takeAnswer(page, parseChatAnswer(event.data));
  }
  if (page.text.size() != length_before && callbacks_.progress) {
    const double seconds = std::max(1e-3, std::chrono::duration<double>(Clock::now() - page.first_byte).count());
    callbacks_.progress(i, Progress{page.tokens, page.text, page.tokens / seconds});
  }
}

std::optional<AttemptFailure> BatchRun::failureOf(const Page& page, const std::string& error) const {
  const int status = page.head.status;
  const QString message = errorMessageOf(QByteArray::fromStdString(page.plain_body));
  if (status == 429) {
    return AttemptFailure{QStringLiteral("HTTP 429: %1").arg(message), true, false,
                          page.head.retry_after_s >= 0 ? page.head.retry_after_s * 1000 : -1};
  }
  if (status >= 400) {
    const bool server_side = status >= 500 || status == 408;
    return AttemptFailure{QStringLiteral("HTTP %1: %2").arg(status).arg(message), server_side, server_side};
  }
  if (!error.empty()) return AttemptFailure{QString::fromStdString(error)};
  if (!page.stream_error.isEmpty()) return AttemptFailure{page.stream_error};
  if (!page.events.idle() || (!page.saw_done && page.finish_reason.isEmpty()))
    return AttemptFailure{QStringLiteral("the answer ended before its end")};
  return std::nullopt;
}

void BatchRun::onEnd(std::size_t i, const std::string& error) {
  Page& page = state_[i];
  // A non-streamed answer (a server that ignores "stream") is one JSON document.
  if (page.head.status == 200 && !page.plain_body.empty() && page.text.empty()) {
    takeAnswer(page, parseChatAnswer(QByteArray::fromStdString(page.plain_body)));
    page.saw_done = page.stream_error.isEmpty();
  }
  EndpointState& endpoint = backend_.endpoints_[page.endpoint];
  --endpoint.in_flight;
  page.exchange.reset();  // joins its thread, which has posted its last message
  if (page.cancelled) return finishPage(i);
  if (const auto failure = failureOf(page, error)) {
    retryOrFail(i, *failure);
  } else {
    endpoint.failures_in_row = 0;
    finishPage(i);
  }
}

void BatchRun::retryOrFail(std::size_t i, const AttemptFailure& failure) {
  Page& page = state_[i];
  EndpointState& endpoint = backend_.endpoints_[page.endpoint];
  const QString last_error = endpointUrl(page.endpoint) + ": " + failure.message;
  endpoint.last_error = failure.message;
  if (failure.endpoint_fault && ++endpoint.failures_in_row >= remote_.failures_to_drop && !endpoint.out) {
    endpoint.out = true;
    endpoint.out_until = Clock::now() + std::chrono::milliseconds(remote_.probe_interval_ms);
  }
  if (!failure.retry) return failPage(i, last_error);
  if (page.attempts >= remote_.attempts)
    return failPage(i, QStringLiteral("%1 (gave up after %2 attempts)").arg(last_error).arg(page.attempts));
  const int backoff = std::min(kLongestRetryDelayMs, remote_.retry_delay_ms << std::min(page.attempts - 1, 16));
  page.not_before = Clock::now() + std::chrono::milliseconds(failure.retry_after_ms >= 0 ? failure.retry_after_ms : backoff);
}

void BatchRun::finishPage(std::size_t i) {
  Page& page = state_[i];
  page.done = true;
  Result result;
  if (page.text.ends_with(kEndOfSentence)) page.text.resize(page.text.size() - kEndOfSentence.size());
  result.raw_text = page.text;
  result.grounded = parseGrounding(result.raw_text, pages_[i].width, pages_[i].height, options_[i].figure_stem);
  result.generated_tokens = page.completion_tokens >= 0 ? page.completion_tokens : page.tokens;
  result.prompt_tokens = std::max(page.prompt_tokens, 0);
  result.hit_token_limit = page.finish_reason == "length";
  result.cancelled = page.cancelled;
  if (page.attempts > 0) {
    const auto milliseconds = [](Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    result.timings.decode_ms = milliseconds(Clock::now() - page.sent);
    if (page.got_bytes) result.timings.prefill_ms = milliseconds(page.first_byte - page.sent);
  }
  callbacks_.finished(i, std::move(result));
}

void BatchRun::failPage(std::size_t i, const QString& message) {
  state_[i].done = true;
  if (callbacks_.failed) callbacks_.failed(i, message);
}

}  // namespace

QUrl chatCompletionsUrl(const QUrl& endpoint) { return withPath(endpoint, "/chat/completions"); }
QUrl modelsUrl(const QUrl& endpoint) { return withPath(endpoint, "/models"); }

QList<RemoteEndpoint> parseEndpoints(const QString& text, int max_in_flight, const QString& default_api_key) {
  QList<RemoteEndpoint> endpoints;
  for (const QString& entry : text.split(QRegularExpression("[,\\n]+"), Qt::SkipEmptyParts)) {
    const QStringList words = entry.split(QRegularExpression("\\s+"), Qt::SkipEmptyParts);
    if (words.isEmpty()) continue;
    endpoints.append({QUrl::fromUserInput(words[0]), words.size() > 1 ? words[1] : default_api_key, max_in_flight});
  }
  return endpoints;
}

QList<EndpointCheck> checkEndpoints(const RemoteOptions& options, int timeout_ms) {
  struct Answer {
    std::mutex mutex;
    Exchange::Head head;
    std::string body, error;
  };
  QList<EndpointCheck> checks;
  std::vector<std::unique_ptr<Exchange>> exchanges;
  std::vector<std::shared_ptr<Answer>> answers;
  for (const RemoteEndpoint& endpoint : options.endpoints) {
    checks.append({endpoint.url.toString()});
    answers.push_back(std::make_shared<Answer>());
    if (!endpoint.url.isValid() || !endpoint.url.scheme().startsWith("http")) {
      answers.back()->error = "not an http(s) URL";
      exchanges.emplace_back();
      continue;
    }
    exchanges.push_back(std::make_unique<Exchange>(modelsUrl(endpoint.url), endpoint, timeout_ms));
    const auto answer = answers.back();
    exchanges.back()->start(
        {}, [answer](const Exchange::Head& head) { std::lock_guard lock(answer->mutex); answer->head = head; },
        [answer](std::string bytes) { std::lock_guard lock(answer->mutex); answer->body += bytes; },
        [answer](std::string error) { std::lock_guard lock(answer->mutex); answer->error = std::move(error); });
  }
  for (const auto& exchange : exchanges)
    if (exchange) exchange->wait();
  for (qsizetype i = 0; i < checks.size(); ++i) {
    EndpointCheck& check = checks[i];
    const Answer& answer = *answers[std::size_t(i)];
    if (answer.head.status == 200 && answer.error.empty()) {
      check.ok = true;
      check.models = modelIds(answer.body);
      check.message = check.models.isEmpty() ? QStringLiteral("answers, lists no model")
                                              : QStringLiteral("serves %1").arg(check.models.join(", "));
    } else if (answer.head.status != 0 && answer.head.status != 200) {
      check.message = QStringLiteral("HTTP %1: %2").arg(answer.head.status).arg(errorMessageOf(QByteArray::fromStdString(answer.body)));
    } else {
      check.message = QString::fromStdString(answer.error);
    }
  }
  return checks;
}

BackendFactory remoteBackendFactory(const RemoteOptions& options) {
  return [options]() -> std::unique_ptr<OcrBackend> {
    if (options.endpoints.isEmpty()) throw Error("No OCR server configured: add an endpoint URL in Settings");
    const QList<EndpointCheck> checks = checkEndpoints(options);
    QStringList problems;
    QString model = options.model;
    for (const EndpointCheck& check : checks) {
      if (!check.ok) problems << check.endpoint + ": " + check.message;
      else if (model.isEmpty() && !check.models.isEmpty()) model = check.models.first();
    }
    if (problems.size() == checks.size())
      throw Error(QStringLiteral("No OCR server answers: %1").arg(problems.join("; ")).toStdString());
    if (model.isEmpty()) throw Error("The OCR servers list no model: name one (--api-model, or in Settings)");
    return std::make_unique<RemoteBackend>(options, model);
  };
}

}  // namespace folio::app
