// folio-bench-serve: OCR servers (folio-cli serve, vLLM, ...) under a closed loop of clients, through Folio's own
// client (app/remote_backend): --clients pages in flight per endpoint, --pages pages of --tokens tokens each
// (ignore_eos), one page image sent with each. Prints one JSON object: pages/s, tokens/s and each page's latency
// from its request to its last token (p50, p95, max). A benchmark, not a test: its figures go to docs/perf.md.
#include <folio/engine.h>

#include <CLI/CLI.hpp>
#include <QGuiApplication>
#include <QImageReader>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <algorithm>
#include <chrono>
#include <iostream>

#include "document.h"
#include "ocr_worker.h"
#include "remote_backend.h"

using namespace folio;

namespace {

struct Args {
  std::vector<std::string> endpoints;
  std::string image, mode = "base";
  int clients = 8, pages = 32, tokens = 1000;
};

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(p * (values.size() - 1) + 0.5))];
}

RgbImage readPage(const std::string& path) {
  QImageReader reader(QString::fromStdString(path));
  QString error;
  const QImage image = app::readImagePage(reader, QString::fromStdString(path), &error);
  if (image.isNull()) throw Error(error.toStdString());
  return app::toRgbImage(image);
}

QJsonObject run(const Args& args) {
  app::RemoteOptions remote;
  for (const std::string& endpoint : args.endpoints)
    remote.endpoints.append({QUrl(QString::fromStdString(endpoint)), {}, args.clients});
  remote.stall_timeout_ms = 600000;
  auto backend = app::remoteBackendFactory(remote)();
  RunOptions options;
  options.mode = *parseMode(args.mode);
  options.max_new_tokens = args.tokens;
  options.ignore_eos = true;
  const std::vector<RgbImage> pages(args.pages, readPage(args.image));
  std::vector<double> latency_ms;
  long tokens = 0;
  int failed = 0;
  app::BatchCallbacks callbacks;
  callbacks.finished = [&](std::size_t, Result result) {
    latency_ms.push_back(result.timings.decode_ms);
    tokens += result.generated_tokens;
  };
  callbacks.failed = [&](std::size_t, const QString& message) {
    ++failed;
    std::cerr << message.toStdString() << "\n";
  };
  const auto start = std::chrono::steady_clock::now();
  backend->runBatch(pages, std::vector<RunOptions>(pages.size(), options), callbacks, {});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return QJsonObject{{"endpoints", int(args.endpoints.size())},
                     {"clients_per_endpoint", args.clients},
                     {"pages", args.pages},
                     {"failed", failed},
                     {"tokens_per_page", args.tokens},
                     {"mode", QString::fromStdString(args.mode)},
                     {"seconds", seconds},
                     {"pages_per_s", (args.pages - failed) / seconds},
                     {"tokens_per_s", tokens / seconds},
                     {"latency_p50_ms", percentile(latency_ms, 0.5)},
                     {"latency_p95_ms", percentile(latency_ms, 0.95)},
                     {"latency_max_ms", percentile(latency_ms, 1.0)}};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli("folio-bench-serve: OCR servers under a closed loop of clients");
  Args args;
  cli.add_option("--endpoint", args.endpoints, "A server (repeat for several)")->required()->allow_extra_args(false);
  cli.add_option("--image", args.image, "The page image every request sends")->required()->check(CLI::ExistingFile);
  cli.add_option("--clients", args.clients, "Pages in flight per endpoint")->check(CLI::Range(1, 1024));
  cli.add_option("--pages", args.pages, "Pages in all")->check(CLI::Range(1, 100000));
  cli.add_option("--tokens", args.tokens, "Tokens a page (ignore_eos)")->check(CLI::Range(1, 8192));
  cli.add_option("--mode", args.mode, "tiny, small, base, large or gundam")->check(CLI::IsMember({"tiny", "small", "base", "large", "gundam"}));
  CLI11_PARSE(cli, argc, argv);
  if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
  QGuiApplication application(argc, argv);  // QImage's readers
  try {
    std::cout << QJsonDocument(run(args)).toJson(QJsonDocument::Compact).toStdString() << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "folio-bench-serve: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
