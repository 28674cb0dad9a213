// The OpenAI chat-completions format as OCR servers speak it (vLLM, SGLang, llama-server, `folio-cli serve`): the
// one place that knows its JSON, for Folio's client (remote_backend.h) and Folio's server (ocr_server.h) alike.
//
// A page is one user message: the prompt's text (the task's prompt without its "<image>" placeholder, which the
// server's chat template puts back) and the page as a base64 PNG or JPEG data URL. Decoding is greedy
// (temperature 0); the no-repeat n-gram guard goes as vLLM's per-request logits-processor arguments (vllm_xargs:
// ngram_size, window_size, whitelist_token_ids), the resolution mode as "folio_mode" (Folio's own server; other
// servers ignore both, using their own settings). Benchmarks send ignore_eos, as vLLM takes it.
#pragma once

#include <folio/engine.h>

#include <QByteArray>
#include <QImage>
#include <QString>
#include <optional>

namespace folio::app {

enum class ImageEncoding { Png, Jpeg };

struct ChatRequest {
  QString model;
  QString prompt;           // the text part: promptText(task, locate_text)
  QByteArray image_data_url;  // data:image/png;base64,...
  int max_tokens = 8192;
  int ngram_size = 20;  // 0: off
  int ngram_window = 50;
  std::optional<Mode> mode;  // sent as folio_mode
  bool ignore_eos = false;   // benchmarks: exactly max_tokens (vLLM's field of the same name)
  bool stream = true;
};

// The prompt's text without "<image>\n": what a chat message carries beside its image.
QString promptText(Task task, const std::string& locate_text = {});
// The request a page and its run options make.
ChatRequest chatRequestFor(const RgbImage& page, const RunOptions& options, const QString& model,
                           ImageEncoding encoding = ImageEncoding::Png);
QByteArray imageDataUrl(const QImage& image, ImageEncoding encoding);
QByteArray toJson(const ChatRequest& request);

// What one answer (a streamed chunk, or a whole non-streamed response) says.
struct ChatAnswer {
  QString content;        // the text of this chunk (or the whole text)
  QString finish_reason;  // "stop", "length", ... when this chunk ends the answer
  int prompt_tokens = -1;  // from "usage", when the server sends it
  int completion_tokens = -1;
  QString error;  // the server's error message ({"error": {"message": ...}}), or why the JSON is unreadable
};
ChatAnswer parseChatAnswer(const QByteArray& json);
// The message of an error body ({"error": {"message"}} or {"message"} or {"detail"}), else the body's start.
QString errorMessageOf(const QByteArray& body);

// ---- the server's side -------------------------------------------------------------------------------------

// A request as Folio's server reads it; error says why it cannot be served (a 400 for the client).
struct ParsedChatRequest {
  QString model;
  QByteArray image_bytes;  // the decoded data URL
  RunOptions options;      // task from the prompt, mode from folio_mode (default: the server's), limits
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the token counts
  QString error;
};
ParsedChatRequest parseChatRequest(const QByteArray& body, Mode default_mode, int max_tokens_limit);

// A streamed chunk (without the SSE framing) and a whole response, in the format parseChatAnswer reads.
QByteArray chunkJson(const QString& id, const QString& model, qint64 created, const QString& content,
                     const QString& finish_reason = {});
QByteArray usageChunkJson(const QString& id, const QString& model, qint64 created, int prompt_tokens,
                          int completion_tokens);
QByteArray responseJson(const QString& id, const QString& model, qint64 created, const QString& content,
                        const QString& finish_reason, int prompt_tokens, int completion_tokens);
QByteArray errorJson(const QString& message, const QString& type);

}  // namespace folio::app
