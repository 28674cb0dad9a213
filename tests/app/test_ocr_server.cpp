// `folio-cli serve`'s server (app/ocr_server) on a loopback port: Folio's own client reads a page through it as
// the local engine reads it (the miniature model), and a plain HTTP client gets the OpenAI answers, the 400s,
// 404, 413 and 429, and cancels its page by going away.
#include <folio/engine.h>

#include <httplib.h>

#include "local_engine_backend.h"
#include "ocr_server.h"
#include "openai_chat.h"
#include "remote_backend.h"
#include "scripted_backend.h"
#include "sse_parser.h"
#include "test_documents.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest/QtTest>
#include <thread>

using namespace folio;
using namespace std::chrono_literals;

namespace {

RgbImage testPage() {
  RgbImage page;
  page.width = 120;
  page.height = 90;
  page.pixels.resize(std::size_t(page.width) * page.height * 3);
  for (std::size_t i = 0; i < page.pixels.size(); ++i) page.pixels[i] = static_cast<std::uint8_t>(i * 13 % 241);
  return page;
}

// A server on a free loopback port, serving on a thread of its own until the test ends.
class RunningServer {
 public:
  RunningServer(app::OcrBackend& backend, app::ServerOptions options) {
    options.port = 0;
    options.model_name = "folio-test";
    server_ = std::make_unique<app::OcrServer>(backend, options);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
  }
  ~RunningServer() {
    server_->stop();
    thread_.join();
  }
  QString url() const { return QStringLiteral("http://127.0.0.1:%1").arg(port_); }
  int port() const { return port_; }
  app::ServerStats stats() const { return server_->stats(); }

 private:
  std::unique_ptr<app::OcrServer> server_;
  int port_ = 0;
  std::thread thread_;
};

std::string requestBody(const RgbImage& page, const RunOptions& options, bool stream, const QString& model = "folio-test") {
  app::ChatRequest request = app::chatRequestFor(page, options, model);
  request.stream = stream;
  return app::toJson(request).toStdString();
}

httplib::Result post(int port, const std::string& body) {
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(60s);
  return client.Post("/v1/chat/completions", body, "application/json");
}

QString errorOf(const httplib::Result& result) { return app::errorMessageOf(QByteArray::fromStdString(result->body)); }

}  // namespace

class OcrServerTest : public QObject {
  Q_OBJECT
  QTemporaryDir models_;
  QString model_;

 private slots:
  void initTestCase() { model_ = test::makeMiniModel(models_.filePath("mini")); }

  // A page read by Folio's client through Folio's server is the page the engine reads in-process: same text,
  // same token counts, whether streamed or not.
  void servedPageEqualsTheLocalEngines() {
    EngineOptions engine_options;
    engine_options.model_dir = model_.toStdString();
    engine_options.device = Device::Cpu;
    auto local = Engine::load(engine_options);
    auto backend = app::localEngineBackend(Engine::load(engine_options), model_, 4);
    RunningServer server(*backend, {});
    RunOptions options;
    options.mode = Mode::Tiny;
    options.max_new_tokens = 12;
    const RgbImage page = testPage();
    const Result expected = local->run(page, options);

    app::RemoteOptions remote;
    remote.endpoints.append({QUrl(server.url()), {}, 2});
    auto client = app::remoteBackendFactory(remote)();
    QCOMPARE(client->modelName(), QStringLiteral("folio-test (remote)"));
    const Result streamed = client->run(page, options, {}, nullptr);
    QCOMPARE(streamed.raw_text, expected.raw_text);
    QCOMPARE(streamed.generated_tokens, expected.generated_tokens);
    QCOMPARE(streamed.prompt_tokens, expected.prompt_tokens);
    QCOMPARE(streamed.hit_token_limit, expected.hit_token_limit);

    const auto whole = post(server.port(), requestBody(page, options, false));
    QVERIFY(whole);
    QCOMPARE(whole->status, 200);
    const app::ChatAnswer answer = app::parseChatAnswer(QByteArray::fromStdString(whole->body));
    QVERIFY2(answer.error.isEmpty(), qPrintable(answer.error));
    QCOMPARE(answer.content.toStdString(), expected.raw_text);
    QCOMPARE(answer.completion_tokens, expected.generated_tokens);
    QCOMPARE(answer.finish_reason, expected.hit_token_limit ? QStringLiteral("length") : QStringLiteral("stop"));
    QCOMPARE(server.stats().served, 2);
  }

  // What a plain HTTP client gets: the listing, health, and a clear 4xx for each kind of bad request.
  void badRequestsAreAnsweredClearly() {
    auto backend = test::scriptedFactory("free_ocr.txt", 0us, std::make_shared<test::ScriptLog>())();
    app::ServerOptions options;
    options.max_body_bytes = 1 << 20;
    RunningServer server(*backend, options);
    httplib::Client client("127.0.0.1", server.port());
    const auto models = client.Get("/v1/models");
    QVERIFY(models && models->status == 200);
    QCOMPARE(QJsonDocument::fromJson(QByteArray::fromStdString(models->body))["data"][0]["id"].toString(),
             QStringLiteral("folio-test"));
    const auto health = client.Get("/health");
    QVERIFY(health && health->status == 200);
    QCOMPARE(QJsonDocument::fromJson(QByteArray::fromStdString(health->body))["status"].toString(), QStringLiteral("ok"));

    auto result = post(server.port(), "{\"messages\": [");
    QCOMPARE(result->status, 400);
    QVERIFY2(errorOf(result).contains("malformed JSON"), qPrintable(errorOf(result)));
    result = post(server.port(), R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "Free OCR."}]}]})");
    QCOMPARE(result->status, 400);
    QVERIFY(errorOf(result).contains("exactly one image"));
    RunOptions page_options;
    result = post(server.port(), requestBody(testPage(), page_options, false, "some-other-model"));
    QCOMPARE(result->status, 404);
    QVERIFY(errorOf(result).contains("folio-test"));
    const std::string not_an_image =
        R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}}]}]})";
    result = post(server.port(), not_an_image);
    QCOMPARE(result->status, 400);
    QVERIFY2(errorOf(result).contains("the request's image"), qPrintable(errorOf(result)));
    result = post(server.port(), std::string(2 << 20, ' '));
    QCOMPARE(result->status, 413);
    QVERIFY(server.stats().rejected >= 4);
    QCOMPARE(server.stats().served, 0);
  }

  // One page running, one waiting: a third is refused with 429 and Retry-After; a client that goes away in the
  // middle of its stream cancels its page, and the next page runs.
  void queueIsBoundedAndDisconnectCancels() {
    auto log = std::make_shared<test::ScriptLog>();
    auto backend = test::scriptedFactory("paper_page.txt", 5ms, log)();
    app::ServerOptions options;
    options.max_batch = 1;
    options.max_queue = 1;
    RunningServer server(*backend, options);
    RunOptions page_options;
    const std::string body = requestBody(testPage(), page_options, true);
    std::atomic<int> first_chunks{0};
    std::thread first([&] {
      httplib::Client client("127.0.0.1", server.port());
      httplib::Request request;
      request.method = "POST";
      request.path = "/v1/chat/completions";
      request.body = body;
      request.set_header("Content-Type", "application/json");
      request.content_receiver = [&](const char*, std::size_t, std::uint64_t, std::uint64_t) {
        return ++first_chunks < 3;  // goes away after a few chunks
      };
      httplib::Response response;
      httplib::Error error;
      client.send(request, response, error);
    });
    const auto runs = [&] {
      QMutexLocker lock(&log->mutex);
      return log->runs;
    };
    QTRY_VERIFY_WITH_TIMEOUT(runs() >= 1, 10000);  // the first page runs
    std::thread second([&] { post(server.port(), requestBody(testPage(), page_options, false)); });
    QTRY_VERIFY_WITH_TIMEOUT(QJsonDocument::fromJson(QByteArray::fromStdString(
                                 httplib::Client("127.0.0.1", server.port()).Get("/health")->body))["queued"].toInt() == 1,
                             10000);
    const auto third = post(server.port(), body);
    QCOMPARE(third->status, 429);
    QCOMPARE(third->get_header_value("Retry-After"), std::string("1"));
    first.join();
    QTRY_COMPARE_WITH_TIMEOUT(server.stats().cancelled, 1, 10000);
    second.join();
    QCOMPARE(server.stats().served, 1);
    QMutexLocker lock(&log->mutex);
    const int tokens_of_a_page = int(test::readSample("paper_page.txt").split(' ', Qt::SkipEmptyParts).size());
    QVERIFY2(log->token_times.size() < 2 * tokens_of_a_page - 10,
             qPrintable(QString("%1 tokens for two pages of about %2").arg(log->token_times.size()).arg(tokens_of_a_page)));
  }
};

QTEST_MAIN(OcrServerTest)
#include "test_ocr_server.moc"
