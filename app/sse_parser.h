// Server-sent events (the WHATWG "text/event-stream" format), as OpenAI-compatible servers stream a chat
// completion: "data: {json}" events separated by blank lines, ending with "data: [DONE]". Bytes arrive in pieces
// of any size (a line, an event or a CR LF pair may be split between two network reads); feed() returns the events
// the new bytes complete.
#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>

namespace folio::app {

struct SseEvent {
  QByteArray type = "message";  // the "event:" field, "message" when absent
  QByteArray data;              // the "data:" lines joined with '\n'
  QByteArray id;                // the last "id:" seen (it carries over to later events)
  bool operator==(const SseEvent&) const = default;
};

class SseParser {
 public:
  QList<SseEvent> feed(QByteArrayView bytes);
  // Bytes of an unfinished line or event are held; true when there are none (the stream ended cleanly).
  bool idle() const { return line_.isEmpty() && !has_data_ && type_.isEmpty(); }

 private:
  void takeLine(QList<SseEvent>& events);
  void dispatch(QList<SseEvent>& events);

  QByteArray line_;
  QByteArray data_, type_, last_id_;
  bool has_data_ = false;
  bool after_cr_ = false;  // the last byte was CR: a LF right after it ends no second line
  bool first_line_ = true;  // a UTF-8 byte-order mark may open the stream
};

}  // namespace folio::app
