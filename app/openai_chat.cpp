#include "openai_chat.h"

#include <QBuffer>
#include <QImageWriter>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace folio::app {
namespace {

constexpr std::string_view kImagePlaceholder = "<image>\n";
// <td> and </td>: exempt from the n-gram guard, as in the local engine (tables repeat them).
const QJsonArray kNgramWhitelist{128821, 128822};
const QString kLocateStart = QStringLiteral("Locate <|ref|>");
const QString kLocateEnd = QStringLiteral("<|/ref|> in the image.");

QImage toQImage(const RgbImage& page) {
  return QImage(page.pixels.data(), page.width, page.height, page.width * 3, QImage::Format_RGB888).copy();
}

QJsonObject parseObject(const QByteArray& json, QString* error) {
  QJsonParseError parse_error;
  const QJsonDocument document = QJsonDocument::fromJson(json, &parse_error);
  if (parse_error.error != QJsonParseError::NoError) {
    *error = QStringLiteral("malformed JSON at byte %1: %2").arg(parse_error.offset).arg(parse_error.errorString());
    return {};
  }
  if (!document.isObject()) *error = QStringLiteral("the JSON is not an object");
  return document.object();
}

QJsonObject usageObject(int prompt_tokens, int completion_tokens) {
  return {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}};
}

QJsonValue finishValue(const QString& finish_reason) {
  return finish_reason.isEmpty() ? QJsonValue(QJsonValue::Null) : QJsonValue(finish_reason);
}

// ---- reading a request --------------------------------------------------------------------------------------

// The task a prompt's text asks for; error when it is none of Folio's prompts.
std::optional<Task> taskOfPrompt(const QString& text, std::string* locate_text) {
  if (text.isEmpty()) return Task::Markdown;
  for (Task task : {Task::Markdown, Task::Ocr, Task::Free, Task::Figure, Task::Describe})
    if (text == promptText(task)) return task;
  if (text.startsWith(kLocateStart) && text.endsWith(kLocateEnd) &&
      text.size() > kLocateStart.size() + kLocateEnd.size()) {
    *locate_text = text.mid(kLocateStart.size(), text.size() - kLocateStart.size() - kLocateEnd.size()).toStdString();
    return Task::Locate;
  }
  return std::nullopt;
}

QString knownPrompts() {
  QStringList prompts;
  for (Task task : {Task::Markdown, Task::Ocr, Task::Free, Task::Figure, Task::Describe})
    prompts << '"' + promptText(task) + '"';
  prompts << '"' + kLocateStart + "TEXT" + kLocateEnd + '"';
  return prompts.join(", ");
}

// The image of a data URL; error when it is not one.
QByteArray decodeDataUrl(const QString& url, QString* error) {
  if (!url.startsWith("data:")) {
    *error = QStringLiteral("the image must be a data URL (data:image/png;base64,...); Folio's server fetches no URLs");
    return {};
  }
  const qsizetype comma = url.indexOf(',');
  if (comma < 0 || !url.left(comma).endsWith(";base64")) {
    *error = QStringLiteral("the image's data URL is not base64 (data:image/...;base64,...)");
    return {};
  }
  auto decoded = QByteArray::fromBase64Encoding(url.mid(comma + 1).toLatin1(), QByteArray::AbortOnBase64DecodingErrors);
  if (!decoded) *error = QStringLiteral("the image's data URL holds invalid base64");
  return decoded ? *decoded : QByteArray();
}

// The text and the one image of the last user message.
void readUserMessage(const QJsonArray& messages, ParsedChatRequest& parsed, QString* text) {
  QJsonObject user;
  for (const QJsonValue& message : messages)
    if (message.toObject().value("role").toString() == "user") user = message.toObject();
  if (user.isEmpty()) return void(parsed.error = QStringLiteral("no user message"));
  const QJsonValue content = user.value("content");
  if (content.isString()) return void(parsed.error = QStringLiteral("the user message has no image"));
  QStringList texts;
  int images = 0;
  for (const QJsonValue& part_value : content.toArray()) {
    const QJsonObject part = part_value.toObject();
    const QString type = part.value("type").toString();
    if (type == "text") {
      texts << part.value("text").toString();
    } else if (type == "image_url") {
      ++images;
      const QJsonValue image_url = part.value("image_url");
      const QString url = image_url.isObject() ? image_url.toObject().value("url").toString() : image_url.toString();
      parsed.image_bytes = decodeDataUrl(url, &parsed.error);
    } else {
      return void(parsed.error = QStringLiteral("unsupported message part type \"%1\"").arg(type));
    }
  }
  if (parsed.error.isEmpty() && images != 1)
    parsed.error = QStringLiteral("the user message must hold exactly one image (it holds %1)").arg(images);
  *text = texts.join(QString()).trimmed();
}

// An optional whole number within [low, high] at key; error names it when it is not.
int readInt(const QJsonObject& object, const QString& key, int fallback, int low, int high, QString* error) {
  const QJsonValue value = object.value(key);
  if (value.isUndefined() || value.isNull()) return fallback;
  const double number = value.toDouble(-1e300);
  if (!value.isDouble() || number != static_cast<int>(number) || number < low || number > high) {
    *error = QStringLiteral("%1 must be a whole number from %2 to %3").arg(key).arg(low).arg(high);
    return fallback;
  }
  return static_cast<int>(number);
}

}  // namespace

QString promptText(Task task, const std::string& locate_text) {
  std::string prompt = promptFor(task, locate_text);
  if (prompt.starts_with(kImagePlaceholder)) prompt.erase(0, kImagePlaceholder.size());
  return QString::fromStdString(prompt);
}

QByteArray imageDataUrl(const QImage& image, ImageEncoding encoding) {
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  const bool png = encoding == ImageEncoding::Png;
  QImageWriter writer(&buffer, png ? "png" : "jpeg");
  // PNG: lossless, the pixels the local engine would see; fast compression (the upload is rarely the limit).
  // JPEG: about a tenth of the bytes, for slow links.
  writer.setQuality(png ? 90 : 92);
  writer.write(image);
  return (png ? "data:image/png;base64," : "data:image/jpeg;base64,") + bytes.toBase64();
}

ChatRequest chatRequestFor(const RgbImage& page, const RunOptions& options, const QString& model,
                           ImageEncoding encoding) {
  ChatRequest request;
  request.model = model;
  request.prompt = promptText(options.task, options.locate_text);
  request.image_data_url = imageDataUrl(toQImage(page), encoding);
  request.max_tokens = options.max_new_tokens;
  request.ngram_size = options.ngram_size;
  request.ngram_window = options.ngram_window;
  request.mode = options.mode;
  request.ignore_eos = options.ignore_eos;
  return request;
}

QByteArray toJson(const ChatRequest& request) {
  const QJsonArray content{
      QJsonObject{{"type", "image_url"}, {"image_url", QJsonObject{{"url", QString::fromLatin1(request.image_data_url)}}}},
      QJsonObject{{"type", "text"}, {"text", request.prompt}}};
  QJsonObject body{{"model", request.model},
                   {"messages", QJsonArray{QJsonObject{{"role", "user"}, {"content", content}}}},
                   {"temperature", 0},
                   {"max_tokens", request.max_tokens},
                   {"stream", request.stream},
                   // The grounding tags (<|ref|>, <|det|>) are special tokens: without this vLLM drops them.
                   {"skip_special_tokens", false}};
  if (request.stream) body["stream_options"] = QJsonObject{{"include_usage", true}};
  if (request.ngram_size > 0)
    body["vllm_xargs"] = QJsonObject{{"ngram_size", request.ngram_size},
                                     {"window_size", request.ngram_window},
                                     {"whitelist_token_ids", kNgramWhitelist}};
  if (request.mode) body["folio_mode"] = QString::fromUtf8(modeName(*request.mode).data());
  if (request.ignore_eos) body["ignore_eos"] = true;
  return QJsonDocument(body).toJson(QJsonDocument::Compact);
}

QString errorMessageOf(const QByteArray& body) {
  QString error;
  const QJsonObject object = parseObject(body, &error);
  if (error.isEmpty()) {
    const QJsonValue nested = object.value("error");
    if (nested.isObject() && nested.toObject().value("message").isString())
      return nested.toObject().value("message").toString();
    for (const char* key : {"error", "message", "detail"})
      if (object.value(key).isString()) return object.value(key).toString();
  }
  return QString::fromUtf8(body.left(200)).trimmed();
}

ChatAnswer parseChatAnswer(const QByteArray& json) {
  ChatAnswer answer;
  const QJsonObject object = parseObject(json, &answer.error);
  if (!answer.error.isEmpty()) return answer;
  if (object.contains("error")) {
    answer.error = errorMessageOf(json);
    return answer;
  }
  const QJsonArray choices = object.value("choices").toArray();
  if (!choices.isEmpty()) {
    const QJsonObject choice = choices.first().toObject();
    const QJsonObject message = choice.contains("delta") ? choice.value("delta").toObject() : choice.value("message").toObject();
    answer.content = message.value("content").toString();
    answer.finish_reason = choice.value("finish_reason").toString();
  } else if (!object.contains("usage")) {
    answer.error = QStringLiteral("the answer has neither choices nor usage");
  }
  const QJsonObject usage = object.value("usage").toObject();
  answer.prompt_tokens = usage.value("prompt_tokens").toInt(-1);
  answer.completion_tokens = usage.value("completion_tokens").toInt(-1);
  return answer;
}

ParsedChatRequest parseChatRequest(const QByteArray& body, Mode default_mode, int max_tokens_limit) {
  ParsedChatRequest parsed;
  const QJsonObject object = parseObject(body, &parsed.error);
  if (!parsed.error.isEmpty()) return parsed;
  parsed.model = object.value("model").toString();
  if (!object.value("messages").isArray()) return parsed.error = QStringLiteral("\"messages\" must be an array"), parsed;
  QString text;
  readUserMessage(object.value("messages").toArray(), parsed, &text);
  if (!parsed.error.isEmpty()) return parsed;
  const auto task = taskOfPrompt(text, &parsed.options.locate_text);
  if (!task) {
    parsed.error = QStringLiteral("unsupported prompt \"%1\"; Folio reads these: %2").arg(text.left(80), knownPrompts());
    return parsed;
  }
  parsed.options.task = *task;
  parsed.options.mode = default_mode;
  if (object.contains("folio_mode")) {
    const auto mode = parseMode(object.value("folio_mode").toString().toStdString());
    if (!mode) return parsed.error = QStringLiteral("unknown folio_mode (tiny, small, base, large, gundam)"), parsed;
    parsed.options.mode = *mode;
  }
  const QString tokens_key = object.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  parsed.options.max_new_tokens = readInt(object, tokens_key, max_tokens_limit, 1, max_tokens_limit, &parsed.error);
  const QJsonObject xargs = object.value("vllm_xargs").toObject();
  parsed.options.ngram_size = readInt(xargs, "ngram_size", parsed.options.ngram_size, 0, 1000, &parsed.error);
  parsed.options.ngram_window = readInt(xargs, "window_size", parsed.options.ngram_window, 1, 100000, &parsed.error);
  parsed.options.ignore_eos = object.value("ignore_eos").toBool(false);
  parsed.stream = object.value("stream").toBool(false);
  parsed.include_usage = object.value("stream_options").toObject().value("include_usage").toBool(false);
  return parsed;
}

QByteArray chunkJson(const QString& id, const QString& model, qint64 created, const QString& content,
                     const QString& finish_reason) {
  const QJsonObject choice{{"index", 0}, {"delta", QJsonObject{{"content", content}}}, {"finish_reason", finishValue(finish_reason)}};
  const QJsonObject chunk{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                          {"choices", QJsonArray{choice}}};
  return QJsonDocument(chunk).toJson(QJsonDocument::Compact);
}

QByteArray usageChunkJson(const QString& id, const QString& model, qint64 created, int prompt_tokens,
                          int completion_tokens) {
  const QJsonObject chunk{{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
                          {"choices", QJsonArray{}}, {"usage", usageObject(prompt_tokens, completion_tokens)}};
  return QJsonDocument(chunk).toJson(QJsonDocument::Compact);
}

QByteArray responseJson(const QString& id, const QString& model, qint64 created, const QString& content,
                        const QString& finish_reason, int prompt_tokens, int completion_tokens) {
  const QJsonObject choice{{"index", 0},
                           {"message", QJsonObject{{"role", "assistant"}, {"content", content}}},
                           {"finish_reason", finishValue(finish_reason)}};
  const QJsonObject response{{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model},
                             {"choices", QJsonArray{choice}}, {"usage", usageObject(prompt_tokens, completion_tokens)}};
  return QJsonDocument(response).toJson(QJsonDocument::Compact);
}

QByteArray errorJson(const QString& message, const QString& type) {
  return QJsonDocument(QJsonObject{{"error", QJsonObject{{"message", message}, {"type", type}}}})
      .toJson(QJsonDocument::Compact);
}

}  // namespace folio::app
