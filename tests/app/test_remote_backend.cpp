// The remote backend against fake OpenAI-compatible servers on loopback ports (fake_openai_server.h): what it
// sends, that its results equal the local path's for the same model text, retries, failover, stalls, cancel and
// the per-endpoint limit. Also the SSE parser and the request/answer JSON it shares with Folio's server.
#include <folio/engine.h>

#include "fake_openai_server.h"
#include "ocr_worker.h"
#include "openai_chat.h"
#include "remote_backend.h"
#include "scripted_backend.h"
#include "sse_parser.h"

#include <QImage>
#include <QTemporaryDir>
#include <QtTest/QtTest>

using namespace folio;
using namespace std::chrono_literals;

namespace {

const QString kSample = QStringLiteral("paper_page.txt");

RgbImage testPage(int width = 96, int height = 128) {
  RgbImage page;
  page.width = width;
  page.height = height;
  page.pixels.resize(std::size_t(width) * height * 3);
  for (std::size_t i = 0; i < page.pixels.size(); ++i) page.pixels[i] = static_cast<std::uint8_t>(i * 7 % 251);
  return page;
}

app::RemoteOptions optionsFor(const QStringList& urls, int max_in_flight = 4) {
  app::RemoteOptions options;
  for (const QString& url : urls) options.endpoints.append({QUrl(url), {}, max_in_flight});
  options.retry_delay_ms = 20;
  options.probe_interval_ms = 200;
  options.stall_timeout_ms = 2000;
  options.unreachable_timeout_ms = 2000;
  return options;
}

// Every page's result or failure, by index.
struct BatchOutcome {
  std::map<std::size_t, Result> results;
  std::map<std::size_t, QString> failures;
  int progress_calls = 0;
};

BatchOutcome runPages(app::OcrBackend& backend, int pages, const RunOptions& options = {},
                      const std::vector<const std::atomic<bool>*>& cancels = {},
                      std::function<void(std::size_t, const Progress&)> on_progress = {}) {
  BatchOutcome outcome;
  std::vector<RgbImage> images(pages, testPage());
  std::vector<RunOptions> all_options(pages, options);
  app::BatchCallbacks callbacks;
  callbacks.progress = [&](std::size_t i, const Progress& progress) {
    ++outcome.progress_calls;
    if (on_progress) on_progress(i, progress);
  };
  callbacks.finished = [&](std::size_t i, Result result) { outcome.results[i] = std::move(result); };
  callbacks.failed = [&](std::size_t i, const QString& message) { outcome.failures[i] = message; };
  backend.runBatch(images, all_options, callbacks, cancels);
  return outcome;
}

std::string sampleText() { return test::readSample(kSample).toStdString(); }
// The text a page ends with: the sample without its end-of-sentence token, which the backend drops.
std::string sampleAnswer() {
  std::string text = sampleText();
  text.resize(text.size() - test::kEndOfSentence.toStdString().size());
  return text;
}

}  // namespace

class RemoteBackendTest : public QObject {
  Q_OBJECT
 private slots:
  // Events come out the same however the bytes are cut: every split point, LF, CR LF and CR line ends.
  void sseEventsDoNotDependOnHowBytesArrive() {
    const QByteArray stream = "\xEF\xBB\xBF: keep-alive\n\ndata: {\"a\":1}\n\nevent: note\ndata: line one\ndata: line two\n"
                              "id: 7\n\ndata:\n\nretry: 100\ndata: [DONE]\n\n";
    const QList<app::SseEvent> expected{{"message", "{\"a\":1}", {}},
                                        {"note", "line one\nline two", "7"},
                                        {"message", "", "7"},
                                        {"message", "[DONE]", "7"}};
    for (const QByteArray& ends : {QByteArray("\n"), QByteArray("\r\n"), QByteArray("\r")}) {
      const QByteArray text = QByteArray(stream).replace("\n", ends);
      for (qsizetype cut = 0; cut <= text.size(); ++cut) {
        app::SseParser parser;
        QList<app::SseEvent> events = parser.feed(text.left(cut));
        events += parser.feed(text.mid(cut));
        QCOMPARE(events, expected);
        QVERIFY(parser.idle());
      }
    }
    app::SseParser unfinished;
    QVERIFY(unfinished.feed("data: half").isEmpty());
    QVERIFY(!unfinished.idle());
  }

  // The request a page makes: the prompt without its placeholder, the page as a PNG data URL with the page's
  // pixels, greedy decoding, the token limit, the n-gram guard as vLLM's arguments and the mode.
  void requestCarriesPromptImageAndLimits() {
    test::FakeOpenAiServer server(sampleText());
    auto backend = app::remoteBackendFactory(optionsFor({server.url()}))();
    RunOptions options;
    options.task = Task::Locate;
    options.locate_text = "the title";
    options.mode = Mode::Base;
    options.max_new_tokens = 777;
    const BatchOutcome outcome = runPages(*backend, 1, options);
    QCOMPARE(outcome.results.size(), std::size_t(1));
    const QJsonObject request = server.lastRequest();
    QCOMPARE(request.value("model").toString(), QStringLiteral("deepseek-ai/DeepSeek-OCR"));  // from /v1/models
    QCOMPARE(request.value("temperature").toDouble(), 0.0);
    QCOMPARE(request.value("max_tokens").toInt(), 777);
    QCOMPARE(request.value("stream").toBool(), true);
    QCOMPARE(request.value("skip_special_tokens").toBool(true), false);
    QCOMPARE(request.value("folio_mode").toString(), QStringLiteral("base"));
    const QJsonObject xargs = request.value("vllm_xargs").toObject();
    QCOMPARE(xargs.value("ngram_size").toInt(), 20);
    QCOMPARE(xargs.value("window_size").toInt(), 50);
    QCOMPARE(xargs.value("whitelist_token_ids").toArray(), (QJsonArray{128821, 128822}));
    const QJsonArray content = request.value("messages").toArray().first().toObject().value("content").toArray();
    QCOMPARE(content.at(1).toObject().value("text").toString(),
             QStringLiteral("Locate <|ref|>the title<|/ref|> in the image."));
    const QString url = content.at(0).toObject().value("image_url").toObject().value("url").toString();
    QVERIFY(url.startsWith("data:image/png;base64,"));
    const QImage sent = QImage::fromData(QByteArray::fromBase64(url.mid(url.indexOf(',') + 1).toLatin1()), "PNG")
                            .convertToFormat(QImage::Format_RGB888);
    const RgbImage page = testPage();
    QCOMPARE(sent.size(), QSize(page.width, page.height));
    for (int y = 0; y < page.height; ++y)
      QVERIFY(std::memcmp(sent.constScanLine(y), page.pixels.data() + std::size_t(y) * page.width * 3, page.width * 3) == 0);
  }

  // Through the OCR worker, a remote page ends as the same outcome (text, regions, review) as a local page whose
  // model wrote the same text, and its text streamed in as it came.
  void outcomeEqualsTheLocalPathsForTheSameText() {
    test::FakeOpenAiServer server(sampleText());
    server.setChunkDelay(1ms);
    QTemporaryDir dir;
    QImage image(320, 400, QImage::Format_RGB888);
    image.fill(Qt::white);
    QVERIFY(image.save(dir.filePath("page.png")));
    const auto outcomeOf = [&](app::BackendFactory factory, int* progress_signals) {
      app::OcrService service(std::move(factory));
      std::optional<app::JobOutcome> outcome;
      connect(service.worker(), &app::OcrWorker::pageProgress, this, [&] { ++*progress_signals; });
      connect(service.worker(), &app::OcrWorker::pageFinished, this,
              [&](int, const app::JobOutcome& finished) { outcome = finished; });
      connect(service.worker(), &app::OcrWorker::pageFailed, this,
              [&](int, const QString& message) { QFAIL(qPrintable(message)); });
      connect(service.worker(), &app::OcrWorker::backendFailed, this,
              [&](const QString& message) { QFAIL(qPrintable(message)); });
      service.start();
      app::PageJob job;
      job.page = 0;
      job.source = dir.filePath("page.png");
      service.worker()->enqueue(job);
      [&] { QTRY_VERIFY_WITH_TIMEOUT(outcome.has_value(), 20000); }();
      return outcome.value_or(app::JobOutcome{});
    };
    int remote_progress = 0, local_progress = 0;
    const app::JobOutcome remote = outcomeOf(app::remoteBackendFactory(optionsFor({server.url()})), &remote_progress);
    const app::JobOutcome local =
        outcomeOf(test::scriptedFactory(kSample, 0us, std::make_shared<test::ScriptLog>()), &local_progress);
    QVERIFY(!remote.result.raw_text.empty());
    QCOMPARE(remote.result.raw_text, local.result.raw_text);
    QCOMPARE(remote.result.grounded.markdown, local.result.grounded.markdown);
    QCOMPARE(remote.result.grounded.regions.size(), local.result.grounded.regions.size());
    for (std::size_t r = 0; r < local.result.grounded.regions.size(); ++r) {
      const Region &a = remote.result.grounded.regions[r], &b = local.result.grounded.regions[r];
      QCOMPARE(a.label, b.label);
      QCOMPARE(a.markdown_begin, b.markdown_begin);
      QCOMPARE(a.markdown_end, b.markdown_end);
      QCOMPARE(a.boxes.size(), b.boxes.size());
      QCOMPARE(a.boxes.front().x1, b.boxes.front().x1);
      QCOMPARE(a.boxes.front().y2, b.boxes.front().y2);
    }
    QCOMPARE(remote.review_reasons, local.review_reasons);
    QCOMPARE(remote.result.generated_tokens, int(server.chunks().size()));  // the server's usage count
    QCOMPARE(remote.result.prompt_tokens, 273);
    QVERIFY2(remote_progress > 10, qPrintable(QString::number(remote_progress)));
    QVERIFY(remote.model.contains("remote"));
  }

  // 429 (with Retry-After) and 5xx answers are retried; a stream cut short is too.
  void busyAndFailingAnswersAreRetried() {
    test::FakeOpenAiServer server(sampleText());
    server.script({{429, 0}, {500}, {200, -1, -1, 3}});
    auto backend = app::remoteBackendFactory(optionsFor({server.url()}))();
    const BatchOutcome outcome = runPages(*backend, 1);
    QCOMPARE(outcome.failures.size(), std::size_t(0));
    QCOMPARE(outcome.results.at(0).raw_text, sampleAnswer());
    QCOMPARE(server.chatRequests(), 4);
  }

  // A request the server refuses (400) fails its page at once, with the server's message; others go on.
  void refusedRequestFailsItsPageOnly() {
    test::FakeOpenAiServer server(sampleText());
    server.script({{400}});
    auto options = optionsFor({server.url()}, 1);  // one at a time: the first request is the refused one
    auto backend = app::remoteBackendFactory(options)();
    const BatchOutcome outcome = runPages(*backend, 2);
    QCOMPARE(outcome.failures.size(), std::size_t(1));
    QVERIFY2(outcome.failures.at(0).contains("HTTP 400") && outcome.failures.at(0).contains("scripted failure 400") &&
                 outcome.failures.at(0).contains(server.url()),
             qPrintable(outcome.failures.at(0)));
    QCOMPARE(outcome.results.at(1).raw_text, sampleAnswer());
    QCOMPARE(server.chatRequests(), 2);
  }

  // Every attempt failing: the page fails after `attempts`, saying so and why.
  void persistentFailureGivesUp() {
    test::FakeOpenAiServer server(sampleText());
    server.setAlways({503});
    auto options = optionsFor({server.url()});
    options.failures_to_drop = 100;  // stays in the rotation: this is about the page's attempts
    auto backend = app::remoteBackendFactory(options)();
    const BatchOutcome outcome = runPages(*backend, 1);
    QCOMPARE(outcome.results.size(), std::size_t(0));
    QVERIFY2(outcome.failures.at(0).contains("gave up after 4 attempts") && outcome.failures.at(0).contains("503"),
             qPrintable(outcome.failures.at(0)));
    QCOMPARE(server.chatRequests(), 4);
  }

  // With one endpoint refusing connections, every page ends on the other; the dead one leaves the rotation after
  // failures_to_drop failures instead of taking a share of every batch.
  void deadEndpointFailsOver() {
    test::FakeOpenAiServer server(sampleText());
    const QString dead = test::closedPortUrl();
    auto backend = app::remoteBackendFactory(optionsFor({dead, server.url()}, 2))();
    const BatchOutcome outcome = runPages(*backend, 8);
    QCOMPARE(outcome.failures.size(), std::size_t(0));
    QCOMPARE(outcome.results.size(), std::size_t(8));
    for (const auto& [i, result] : outcome.results) QCOMPARE(result.raw_text, sampleAnswer());
    QCOMPARE(server.chatRequests(), 8);
    QVERIFY(backend->description().contains(dead));
  }

  // An endpoint that failed is probed (GET /v1/models) and takes pages again once it answers.
  void recoveredEndpointComesBack() {
    test::FakeOpenAiServer flaky(sampleText()), steady(sampleText());
    auto options = optionsFor({flaky.url(), steady.url()}, 1);
    auto backend = app::remoteBackendFactory(options)();
    flaky.setAlways({502});
    flaky.setModelsDown(true);
    runPages(*backend, 4);
    const int failed_at_flaky = flaky.chatRequests();
    QVERIFY2(failed_at_flaky == options.failures_to_drop, qPrintable(QString::number(failed_at_flaky)));
    flaky.setAlways({});
    flaky.setModelsDown(false);
    QTest::qWait(options.probe_interval_ms + 50);
    steady.setChunkDelay(2ms);  // slow enough that both endpoints get pages
    const BatchOutcome outcome = runPages(*backend, 6);
    QCOMPARE(outcome.results.size(), std::size_t(6));
    QVERIFY(flaky.modelsRequests() >= 2);  // the check at load, then at least one probe
    QVERIFY2(flaky.chatRequests() > failed_at_flaky, qPrintable(QString::number(flaky.chatRequests())));
  }

  // A stream that stops sending is given up after stall_timeout_ms and read again.
  void stalledStreamIsRetried() {
    test::FakeOpenAiServer server(sampleText());
    server.script({{200, -1, 5}});
    auto options = optionsFor({server.url()});
    options.stall_timeout_ms = 300;
    auto backend = app::remoteBackendFactory(options)();
    QElapsedTimer timer;
    timer.start();
    const BatchOutcome outcome = runPages(*backend, 1);
    QCOMPARE(outcome.results.at(0).raw_text, sampleAnswer());
    QCOMPARE(server.chatRequests(), 2);
    QVERIFY(timer.elapsed() >= 300);
  }

  // Cancelling a page closes its stream (the server sees the client go) and keeps the text so far.
  void cancelClosesTheStream() {
    test::FakeOpenAiServer server(sampleText());
    server.setChunkDelay(5ms);
    auto backend = app::remoteBackendFactory(optionsFor({server.url()}))();
    std::atomic<bool> cancel{false};
    const BatchOutcome outcome = runPages(*backend, 1, {}, {&cancel}, [&](std::size_t, const Progress& progress) {
      if (progress.generated_tokens >= 5) cancel = true;
    });
    const Result& result = outcome.results.at(0);
    QVERIFY(result.cancelled);
    QVERIFY(result.generated_tokens >= 5 && result.raw_text.size() < sampleText().size());
    QTRY_COMPARE_WITH_TIMEOUT(server.closedByClient(), 1, 2000);
    QCOMPARE(server.finishedStreams(), 0);
  }

  // No endpoint holds more pages at once than its limit; the pages are spread over both.
  void perEndpointLimitHolds() {
    test::FakeOpenAiServer a(sampleText()), b(sampleText());
    a.setChunkDelay(3ms);  // a page streams for over a second: every slot fills before the first page ends
    b.setChunkDelay(3ms);
    auto backend = app::remoteBackendFactory(optionsFor({a.url(), b.url()}, 3))();
    QCOMPARE(backend->pagesInFlight(), 6);
    const BatchOutcome outcome = runPages(*backend, 12);
    QCOMPARE(outcome.results.size(), std::size_t(12));
    QCOMPARE(a.mostAtOnce(), 3);
    QCOMPARE(b.mostAtOnce(), 3);
    QCOMPARE(a.chatRequests() + b.chatRequests(), 12);
  }

  // Eight pages on one endpoint: more than the six connections a Qt network manager opens to one host.
  void moreThanSixAtOnceToOneEndpoint() {
    test::FakeOpenAiServer server(sampleText());
    server.setChunkDelay(3ms);
    auto backend = app::remoteBackendFactory(optionsFor({server.url()}, 8))();
    const BatchOutcome outcome = runPages(*backend, 8);
    QCOMPARE(outcome.results.size(), std::size_t(8));
    QCOMPARE(server.mostAtOnce(), 8);
  }

  // Nothing answers: loading the backend fails naming every endpoint; Settings' check says which answers.
  void unreachableEndpointsAreNamed() {
    const QString dead = test::closedPortUrl();
    try {
      app::remoteBackendFactory(optionsFor({dead}))();
      QFAIL("a backend without a reachable endpoint loaded");
    } catch (const Error& e) {
      QVERIFY2(QString(e.what()).contains(dead) && QString(e.what()).contains("No OCR server answers"), e.what());
    }
    test::FakeOpenAiServer server(sampleText());
    const auto checks = app::checkEndpoints(optionsFor({dead, server.url()}));
    QCOMPARE(checks.size(), 2);
    QVERIFY(!checks[0].ok && !checks[0].message.isEmpty());
    QVERIFY(checks[1].ok);
    QCOMPARE(checks[1].models, QStringList{"deepseek-ai/DeepSeek-OCR"});
  }

  // An endpoint's own key, else the one for all, else $OPENAI_API_KEY, goes as the bearer token to that endpoint.
  void apiKeysGoToTheirEndpoints() {
    test::FakeOpenAiServer a(sampleText()), b(sampleText()), c(sampleText());
    qputenv("OPENAI_API_KEY", "sk-env");
    app::RemoteOptions options;
    options.endpoints = app::parseEndpoints(a.url() + " sk-a\n" + b.url(), 1, "sk-all");
    options.endpoints.append({QUrl(c.url()), {}, 1});
    auto backend = app::remoteBackendFactory(options)();
    QCOMPARE(runPages(*backend, 3).results.size(), std::size_t(3));
    QCOMPARE(a.lastAuthorization(), std::string("Bearer sk-a"));
    QCOMPARE(b.lastAuthorization(), std::string("Bearer sk-all"));
    QCOMPARE(c.lastAuthorization(), std::string("Bearer sk-env"));
    qunsetenv("OPENAI_API_KEY");
    app::RemoteOptions keyless;
    keyless.endpoints.append({QUrl(c.url()), {}, 1});
    app::checkEndpoints(keyless);
    QCOMPARE(c.lastAuthorization(), std::string());
  }

  void endpointUrlsTakeAnyCommonForm() {
    QCOMPARE(app::chatCompletionsUrl(QUrl("http://h:8000")).toString(), QStringLiteral("http://h:8000/v1/chat/completions"));
    QCOMPARE(app::chatCompletionsUrl(QUrl("http://h:8000/v1/")).toString(), QStringLiteral("http://h:8000/v1/chat/completions"));
    QCOMPARE(app::chatCompletionsUrl(QUrl("http://h/v1/chat/completions")).toString(),
             QStringLiteral("http://h/v1/chat/completions"));
    QCOMPARE(app::modelsUrl(QUrl("https://h/api/v1")).toString(), QStringLiteral("https://h/api/v1/models"));
    const auto endpoints = app::parseEndpoints("http://a:1, http://b:2  sk-b\n\n  http://c:3\n", 5, "sk-all");
    QCOMPARE(endpoints.size(), 3);
    QCOMPARE(endpoints[2].url, QUrl("http://c:3"));
    QCOMPARE(endpoints[1].max_in_flight, 5);
    QCOMPARE(endpoints[1].api_key, QStringLiteral("sk-b"));
    QCOMPARE(endpoints[0].api_key, QStringLiteral("sk-all"));
    QCOMPARE(endpoints[2].api_key, QStringLiteral("sk-all"));
  }

  // The server's reading of a request: every prompt maps back to its task, bad requests say what is wrong.
  void serverReadsWhatTheClientSends() {
    const RgbImage page = testPage(8, 6);
    for (Task task : {Task::Markdown, Task::Ocr, Task::Free, Task::Figure, Task::Describe, Task::Locate}) {
      RunOptions options;
      options.task = task;
      options.locate_text = "a cat";
      options.mode = Mode::Small;
      options.max_new_tokens = 99;
      options.ignore_eos = task == Task::Free;
      const auto parsed = app::parseChatRequest(app::toJson(app::chatRequestFor(page, options, "m")), Mode::Gundam, 8192);
      QVERIFY2(parsed.error.isEmpty(), qPrintable(parsed.error));
      QCOMPARE(parsed.options.task, task);
      QCOMPARE(parsed.options.mode, Mode::Small);
      QCOMPARE(parsed.options.max_new_tokens, 99);
      QCOMPARE(parsed.options.ignore_eos, task == Task::Free);
      QCOMPARE(parsed.options.locate_text, task == Task::Locate ? std::string("a cat") : std::string());
      QCOMPARE(QImage::fromData(parsed.image_bytes).size(), QSize(8, 6));
      QVERIFY(parsed.stream && parsed.include_usage);
    }
    const auto errorOf = [](const QByteArray& body) { return app::parseChatRequest(body, Mode::Gundam, 8192).error; };
    QVERIFY(errorOf("{not json").contains("malformed JSON"));
    QVERIFY(errorOf(R"({"messages": []})").contains("no user message"));
    QVERIFY(errorOf(R"({"messages": [{"role": "user", "content": "hi"}]})").contains("no image"));
    const QByteArray remote_image =
        R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]}]})";
    QVERIFY(errorOf(remote_image).contains("data URL"));
    const QByteArray bad_prompt =
        R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
           {"type": "text", "text": "Write a poem."}]}]})";
    QVERIFY(errorOf(bad_prompt).contains("unsupported prompt"));
    const QByteArray too_many =
        R"({"max_tokens": 100000, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]})";
    QVERIFY(errorOf(too_many).contains("max_tokens"));
  }

  // What Folio's server writes, Folio's client reads back.
  void answersRoundTrip() {
    const auto chunk = app::parseChatAnswer(app::chunkJson("id", "m", 1, "<|ref|>x", "length"));
    QCOMPARE(chunk.content, QStringLiteral("<|ref|>x"));
    QCOMPARE(chunk.finish_reason, QStringLiteral("length"));
    const auto usage = app::parseChatAnswer(app::usageChunkJson("id", "m", 1, 300, 42));
    QCOMPARE(usage.prompt_tokens, 300);
    QCOMPARE(usage.completion_tokens, 42);
    QVERIFY(usage.error.isEmpty());
    const auto whole = app::parseChatAnswer(app::responseJson("id", "m", 1, "text", "stop", 3, 4));
    QCOMPARE(whole.content, QStringLiteral("text"));
    QCOMPARE(whole.completion_tokens, 4);
    QCOMPARE(app::parseChatAnswer(app::errorJson("too big", "invalid_request_error")).error, QStringLiteral("too big"));
  }
};

QTEST_GUILESS_MAIN(RemoteBackendTest)
#include "test_remote_backend.moc"
