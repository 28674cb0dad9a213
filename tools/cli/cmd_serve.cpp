// folio-cli serve: the local engine behind the OpenAI chat-completions API (app/ocr_server.h), for Folio desktops
// pointed at it (--backend openai, or Settings) and for any OpenAI client.
#include <folio/engine.h>

// libtorch's headers before Qt's: Qt's `slots` macro breaks them.
#include "model_options.h"

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "document_commands.h"
#include "local_engine_backend.h"
#include "ocr_server.h"

namespace folio::cli {
namespace {

std::atomic<bool> stop_requested{false};
extern "C" void requestStop(int) { stop_requested = true; }

struct Args {
  ModelOptions model;
  app::ServerOptions server;
  std::string mode = "gundam", served_model_name;
  std::size_t max_body_mb = 64;
};

// The id clients ask for: the Hugging Face name of the family's model, as vLLM serves it.
QString defaultModelName(ModelFamily family) {
  return family == ModelFamily::DeepseekOcr2 ? QStringLiteral("deepseek-ai/DeepSeek-OCR-2")
                                             : QStringLiteral("deepseek-ai/DeepSeek-OCR");
}

void runServe(Args& args) {
  const auto application = startOffscreenApplication();  // QImage's readers for the requests' images
  args.server.default_mode = modeOption(args.mode);
  args.server.max_body_bytes = args.max_body_mb << 20;
  std::unique_ptr<Engine> engine;
  EngineOptions options;
  try {
    options = args.model.engineOptions();
    engine = Engine::load(options);
  } catch (const Error& e) {
    usageError("serve", e.what());
  }
  args.server.model_name = args.served_model_name.empty() ? defaultModelName(engine->family())
                                                          : QString::fromStdString(args.served_model_name);
  const std::string device = engine->deviceDescription();
  auto backend = app::localEngineBackend(std::move(engine), QString::fromStdString(options.model_dir),
                                         args.server.max_batch);
  app::OcrServer server(*backend, args.server);
  int port = 0;
  try {
    port = server.bind();
  } catch (const Error& e) {
    usageError("serve", e.what());
  }
  std::cerr << "serving " << args.server.model_name.toStdString() << " (" << options.model_dir << " on " << device
            << ") at http://" << args.server.host << ":" << port << "/v1" << std::endl;
  std::signal(SIGINT, requestStop);
  std::signal(SIGTERM, requestStop);
  std::thread watcher([&server] {
    while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
  });
  server.serve();
  stop_requested = true;
  watcher.join();
  const app::ServerStats stats = server.stats();
  std::cerr << "stopped: " << stats.served << " pages served, " << stats.cancelled << " cancelled, " << stats.rejected
            << " requests refused\n";
}

void setupServe(CLI::App& cli) {
  auto args = std::make_shared<Args>();
  auto* cmd = cli.add_subcommand("serve", "Serve the model over the OpenAI chat-completions API (/v1/chat/completions)");
  args->model.addTo(*cmd, /*model_required=*/false);
  cmd->add_option("--host", args->server.host, "Address to listen on (0.0.0.0: every interface)");
  cmd->add_option("--port", args->server.port, "Port (0: any free one)")->check(CLI::Range(0, 65535));
  cmd->add_option("--max-batch", args->server.max_batch, "Pages decoded together")->check(CLI::Range(1, 256));
  cmd->add_option("--max-queue", args->server.max_queue, "Pages waiting beyond the batch before requests get 429")
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--max-body-mb", args->max_body_mb, "Largest request accepted (413 beyond)")->check(CLI::Range(1, 4096));
  cmd->add_option("--max-tokens", args->server.max_tokens, "Most tokens a page may ask for")->check(CLI::Range(1, 8192));
  cmd->add_option("--mode", args->mode, "Mode of requests without folio_mode: tiny, small, base, large or gundam");
  cmd->add_option("--served-model-name", args->served_model_name,
                  "Model id in /v1/models (default: deepseek-ai/DeepSeek-OCR or -OCR-2, as vLLM names it)");
  cmd->callback([args] { runServe(*args); });
}

}  // namespace

FOLIO_CLI_COMMAND(setupServe);

}  // namespace folio::cli
