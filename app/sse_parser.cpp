#include "sse_parser.h"

namespace folio::app {

QList<SseEvent> SseParser::feed(QByteArrayView bytes) {
  QList<SseEvent> events;
  for (const char byte : bytes) {
    if (byte == '\n' && after_cr_) {
      after_cr_ = false;
      continue;
    }
    after_cr_ = byte == '\r';
    if (byte == '\r' || byte == '\n') {
      takeLine(events);
    } else {
      line_.append(byte);
    }
  }
  return events;
}

void SseParser::takeLine(QList<SseEvent>& events) {
  QByteArray line = std::exchange(line_, {});
  if (first_line_ && line.startsWith("\xEF\xBB\xBF")) line.remove(0, 3);
  first_line_ = false;
  if (line.isEmpty()) return dispatch(events);
  if (line.startsWith(':')) return;  // a comment (servers send them as keep-alives)
  const qsizetype colon = line.indexOf(':');
  const QByteArray field = colon < 0 ? line : line.left(colon);
  QByteArray value = colon < 0 ? QByteArray() : line.mid(colon + 1);
  if (value.startsWith(' ')) value.remove(0, 1);
  if (field == "data") {
    if (has_data_) data_.append('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    type_ = value;
  } else if (field == "id" && !value.contains('\0')) {
    last_id_ = value;
  }  // "retry" and unknown fields are ignored, as the format says
}

void SseParser::dispatch(QList<SseEvent>& events) {
  if (has_data_) events.append({type_.isEmpty() ? QByteArray("message") : type_, data_, last_id_});
  data_.clear();
  type_.clear();
  has_data_ = false;
}

}  // namespace folio::app
