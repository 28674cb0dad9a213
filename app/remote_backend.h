// The OcrBackend that sends pages to OpenAI-compatible OCR servers (vLLM, SGLang, llama-server, `folio-cli serve`)
// instead of the local engine: many pages in flight across one or more endpoints, each streaming its text back
// (server-sent events) so that it still flows into the editor token by token. Everything downstream (grounding,
// loop detection, the project, exports) is the code the local engine's results go through.
//
// Scheduling: a page goes to the least busy endpoint in rotation (fewest pages in flight for its limit).
// Connection errors, 429 and 5xx answers, streams cut short and stalls are retried with a doubling delay (a 429's
// Retry-After wins), up to `attempts` times a page; any other 4xx fails the page at once with the server's message.
// An endpoint that fails `failures_to_drop` times in a row leaves the rotation and is probed (GET /v1/models) every
// `probe_interval_ms` until it answers. Cancelling a page aborts its request, which closes the stream.
// runBatch blocks like the local engine's: the scheduling and every callback run in the caller's thread, each
// request on a thread of its own with cpp-httplib's client. Not Qt Network: Qt 6.4 opens at most six connections
// to a host per thread (a setting for it came with Qt 6.5), and a server reading 32 or 64 pages at once needs as
// many streams; nor does a blocking call then spin an event loop in the caller's thread, where the OCR worker's
// own queued calls would run in the middle of a batch.
#pragma once

#include "ocr_backend.h"
#include "openai_chat.h"

#include <QList>
#include <QStringList>
#include <QUrl>

namespace folio::app {

struct RemoteEndpoint {
  QUrl url;         // the server, e.g. http://gpu1:8000 (or .../v1, or the full .../v1/chat/completions)
  QString api_key;  // empty: $OPENAI_API_KEY (none when that is unset too)
  int max_in_flight = 8;
};

struct RemoteOptions {
  QList<RemoteEndpoint> endpoints;
  QString model;  // the "model" of each request; empty: the first one the first answering endpoint lists
  ImageEncoding image_encoding = ImageEncoding::Png;
  int attempts = 4;               // per page
  int retry_delay_ms = 500;       // before the first retry, doubled for each further one
  int stall_timeout_ms = 120000;  // a request that brings no byte this long has failed
  int failures_to_drop = 2;       // failures in a row that take an endpoint out of the rotation
  int probe_interval_ms = 10000;  // how often an endpoint out of the rotation is probed
  // Pages wait at most this long for an endpoint while none is in the rotation, then fail saying why.
  int unreachable_timeout_ms = 60000;
};

QUrl chatCompletionsUrl(const QUrl& endpoint);
QUrl modelsUrl(const QUrl& endpoint);
// Endpoints from the app's and folio-cli's text: entries separated by commas or new lines, each a URL and, after a
// space, that endpoint's own API key ("http://a:8000/v1 sk-abc, http://b:8000"); the others get default_api_key.
QList<RemoteEndpoint> parseEndpoints(const QString& text, int max_in_flight, const QString& default_api_key = {});

// What GET /v1/models says at each endpoint: for Settings' "Test connection" and before the first page.
struct EndpointCheck {
  QString endpoint;
  bool ok = false;
  QStringList models;  // the ids it serves
  QString message;     // "2 models: a, b" or what went wrong
};
QList<EndpointCheck> checkEndpoints(const RemoteOptions& options, int timeout_ms = 5000);

// Checks the endpoints when called (throws Error naming each and what went wrong when none answers) and picks
// the model when none is set.
BackendFactory remoteBackendFactory(const RemoteOptions& options);

}  // namespace folio::app
