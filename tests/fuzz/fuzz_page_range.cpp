// The page-range parser (--pages, the Open dialog) on arbitrary text and page counts: every page it returns lies
// within the document; an empty answer comes with a message.
#include <QString>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "document.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const int page_count = (data[0] << 8 | data[1]) % 20001;  // up to the 10 000-page PDF and beyond
  const QString text = QString::fromUtf8(reinterpret_cast<const char*>(data + 2), qsizetype(size - 2));
  QString error;
  const QList<int> pages = folio::app::parsePageRange(text, page_count, &error);
  if (pages.isEmpty() && page_count > 0 && error.isEmpty()) std::abort();
  for (const int page : pages)
    if (page < 0 || page >= page_count) std::abort();
  return 0;
}
