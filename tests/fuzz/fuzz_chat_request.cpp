// What `folio-cli serve` and the remote backend read from the network: a chat-completions request (the server
// side, from any client) and a server's event stream and answers (the client side, from any server). First byte:
// where the stream is cut in two. Requests either say what is wrong or give run options within the limits; the
// SSE parser gives the same events however the bytes are cut.
#include "openai_chat.h"
#include "sse_parser.h"

#include <cstdint>
#include <cstdlib>

namespace {
constexpr int kMaxTokens = 8192;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const QByteArray bytes(reinterpret_cast<const char*>(data + 1), qsizetype(size - 1));
  const auto parsed = folio::app::parseChatRequest(bytes, folio::Mode::Gundam, kMaxTokens);
  if (parsed.error.isEmpty()) {
    const auto& options = parsed.options;
    if (options.max_new_tokens < 1 || options.max_new_tokens > kMaxTokens || options.ngram_size < 0 ||
        options.ngram_window < 1 || static_cast<int>(options.mode) < 0 || static_cast<int>(options.mode) > 4)
      std::abort();
  }

  const qsizetype cut = qsizetype(data[0]) * bytes.size() / 255;
  folio::app::SseParser whole, pieces;
  const QList<folio::app::SseEvent> all = whole.feed(bytes);
  QList<folio::app::SseEvent> split = pieces.feed(bytes.left(cut));
  split += pieces.feed(bytes.mid(cut));
  if (all != split) std::abort();
  for (const auto& event : all) (void)folio::app::parseChatAnswer(event.data);
  (void)folio::app::parseChatAnswer(bytes);
  (void)folio::app::errorMessageOf(bytes);
  return 0;
}
