// `folio-cli serve`: Folio's engine behind the OpenAI chat-completions API that OCR servers speak (vLLM, SGLang,
// llama-server), so that Folio desktops (remote_backend.h) and any OpenAI client can use it.
//
//   POST /v1/chat/completions   one page (openai_chat.h), streamed as server-sent events or answered whole
//   GET  /v1/models             the one model served
//   GET  /health                {"status": "ok", "queued": n, "running": n}
//
// Requests are read on cpp-httplib's connection threads and queued; one scheduler thread owns the backend and
// hands it every queued page at once (up to max_batch), which the local engine decodes together (continuous
// batching within the batch). Pages that arrive while a batch runs wait for the next one. Bounded: a body over
// max_body_bytes is answered 413, a request beyond max_queue waiting pages 429; a malformed request 400 saying
// what is wrong; a client that goes away cancels its page. A mode the model lacks becomes the nearest it has.
#pragma once

#include "ocr_backend.h"

#include <QString>
#include <memory>
#include <string>

namespace folio::app {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port (bind() says which)
  int max_batch = 32;
  int max_queue = 256;
  std::size_t max_body_bytes = 64u << 20;
  Mode default_mode = Mode::Gundam;  // a request's folio_mode overrides it
  int max_tokens = 8192;             // the most a request may ask for, and what it gets when it asks for none
  QString model_name;                // the id /v1/models lists
};

struct ServerStats {
  int served = 0;     // pages answered in full
  int cancelled = 0;  // pages whose client went away
  int rejected = 0;   // requests answered 4xx
};

class OcrServer {
 public:
  // The backend is used from the server's scheduler thread only, for the server's lifetime.
  OcrServer(OcrBackend& backend, ServerOptions options);
  ~OcrServer();
  OcrServer(const OcrServer&) = delete;
  OcrServer& operator=(const OcrServer&) = delete;

  // Binds the address; returns the port, or throws Error saying why not.
  int bind();
  // Serves until stop() (from any thread).
  void serve();
  void stop();
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace folio::app
