#include "pdf_export.h"
#include "atomic_file.h"

#include "document.h"
#include "markdown_text.h"

#include <podofo/podofo.h>

#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QStandardPaths>
#include <QTextBoundaryFinder>
#include <QtMath>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <vector>

namespace folio::app {
namespace {

using namespace PoDoFo;

constexpr double kLineHeight = 1.2;  // line pitch in font sizes
constexpr double kDescent = 0.22;    // room below the baseline, in font sizes
constexpr int kMaxLines = 400;       // a box never gets more lines than this (text too small to matter beyond)
constexpr double kImageDpi = 144;    // an image page's resolution when the page does not say

// The text layer's fonts, tried in this order for each character: DejaVu Sans (Latin, Greek, Cyrillic, math
// symbols), then Droid Sans Fallback (CJK). TrueType, because PoDoFo subsets only TrueType: a file carries only
// the glyphs it uses, with a ToUnicode map so copied text is the original characters. Found in the XDG data
// folders ($XDG_DATA_DIRS, by default /usr/local/share and /usr/share), where Debian's font packages put them.
const char* const kFontFiles[][2] = {
    {"DejaVu Sans", "fonts/truetype/dejavu/DejaVuSans.ttf"},
    {"Droid Sans Fallback", "fonts/truetype/droid/DroidSansFallbackFull.ttf"},
};

QByteArray number(double value) { return QByteArray::number(value, 'f', 3); }

class LayerFonts {
 public:
  explicit LayerFonts(PdfMemDocument& document) {
    for (const auto& [name, relative] : kFontFiles) {
      const QByteArray file = QStandardPaths::locate(QStandardPaths::GenericDataLocation, relative).toLocal8Bit();
      if (file.isEmpty()) continue;
      PdfFont* font = document.CreateFontSubset(name, false, false, false, new PdfIdentityEncoding(0, 0xffff, true),
                                                file.constData());
      font->SetFontSize(1.0f);  // metrics in ems
      fonts_.push_back(font);
    }
  }
  bool empty() const { return fonts_.empty(); }
  int count() const { return int(fonts_.size()); }
  PdfFont* font(int index) const { return fonts_[index]; }
  // Resource name of the font on every page; Folio's own prefix keeps clear of the source page's names.
  static QByteArray resourceName(int index) { return "FolioText" + QByteArray::number(index); }

  int indexFor(char16_t c) const {
    for (int i = 0; i < count(); ++i)
      if (fonts_[i]->GetFontMetrics()->GetGlyphId(c) != 0) return i;
    return 0;
  }
  double emWidth(char16_t c) const { return fonts_[indexFor(c)]->GetFontMetrics()->UnicodeCharWidth(c); }

 private:
  std::vector<PdfFont*> fonts_;
};

// ---- Fitting a region's text into its box -------------------------------------------------------------------

struct FittedLine {
  QString text;
  double ems = 0;        // natural width at font size 1
  bool stretch = false;  // widened to the box width: a wrapped line (a paragraph's last line keeps its width)
};

struct FittedText {
  double font_size = 0;
  double pitch = 0;
  QList<FittedLine> lines;
};

using EmWidth = std::function<double(char16_t)>;

double emsOf(const QString& text, const EmWidth& em) {
  double sum = 0;
  for (QChar c : text) sum += em(c.unicode());
  return sum;
}

// Greedy wrapping at Unicode line-break opportunities (between words, between CJK characters).
QList<FittedLine> wrapParagraph(const QString& paragraph, double max_ems, const EmWidth& em) {
  QList<FittedLine> lines;
  QString line;
  QTextBoundaryFinder breaks(QTextBoundaryFinder::Line, paragraph);
  qsizetype start = 0;
  while (breaks.toNextBoundary() != -1) {
    QString piece = paragraph.mid(start, breaks.position() - start);
    start = breaks.position();
    if (!line.isEmpty() && emsOf((line + piece).trimmed(), em) > max_ems) {
      lines << FittedLine{line.trimmed(), emsOf(line.trimmed(), em), true};
      line.clear();
    }
    line += piece;
  }
  if (!line.trimmed().isEmpty()) lines << FittedLine{line.trimmed(), emsOf(line.trimmed(), em), false};
  return lines;
}

QList<FittedLine> wrapText(const QStringList& paragraphs, double max_ems, const EmWidth& em) {
  QList<FittedLine> lines;
  for (const QString& paragraph : paragraphs) lines << wrapParagraph(paragraph, max_ems, em);
  return lines;
}

// The largest font size at which the wrapped text fits the box; the lines then share the box's height.
FittedText fitText(const QString& text, QSizeF box, const EmWidth& em) {
  QStringList paragraphs = text.split('\n', Qt::SkipEmptyParts);
  if (paragraphs.isEmpty() || box.isEmpty()) return {};
  // No fewer lines than the text's area needs at full width: a lower bound that skips hopeless tries.
  double total_ems = emsOf(paragraphs.join(' '), em);
  int lines = std::max<int>(paragraphs.size(), int(std::sqrt(total_ems * box.height() / (kLineHeight * box.width()))));
  for (; lines <= kMaxLines; ++lines) {
    double size = box.height() / (lines * kLineHeight);
    QList<FittedLine> wrapped = wrapText(paragraphs, box.width() / size, em);
    if (wrapped.size() <= lines || lines == kMaxLines) return {size, box.height() / wrapped.size(), wrapped};
  }
  return {};
}

// ---- Content stream operators -------------------------------------------------------------------------------

// The line as runs of one font each ("/FolioText0 9.5 Tf <00240025> Tj"); the glyphs are marked as used so
// the subset embeds them.
QByteArray showText(const QString& text, double size, const LayerFonts& fonts) {
  QByteArray out;
  int i = 0;
  while (i < text.size()) {
    int font_index = fonts.indexFor(text[i].unicode());
    int end = i;
    while (end < text.size() && fonts.indexFor(text[end].unicode()) == font_index) ++end;
    PdfFont* font = fonts.font(font_index);
    QString run = text.mid(i, end - i);
    font->AddUsedSubsettingGlyphs(PdfString(reinterpret_cast<const pdf_utf8*>(run.toUtf8().constData())), run.size());
    out += "/" + LayerFonts::resourceName(font_index) + " " + number(size) + " Tf <";
    for (QChar c : run) out += QByteArray::number(qlonglong(font->GetFontMetrics()->GetGlyphId(c.unicode())), 16).rightJustified(4, '0');
    out += "> Tj ";
    i = end;
  }
  return out;
}

// One region's invisible text. box: in points of the displayed page, y down; page_height turns it to PDF's y up.
QByteArray regionText(const QString& text, const QRectF& box, double page_height, const LayerFonts& fonts) {
  FittedText fitted = fitText(text, box.size(), [&](char16_t c) { return fonts.emWidth(c); });
  QByteArray out;
  for (int i = 0; i < fitted.lines.size(); ++i) {
    const FittedLine& line = fitted.lines[i];
    double natural = line.ems * fitted.font_size;
    double scale = natural > 0 && (line.stretch || natural > box.width()) ? box.width() / natural : 1.0;
    double slack = (fitted.pitch - fitted.font_size * kLineHeight) / 2;  // centres the line in its share
    double baseline = box.top() + (i + 1) * fitted.pitch - slack - kDescent * fitted.font_size;
    out += "1 0 0 1 " + number(box.left()) + " " + number(page_height - baseline) + " Tm " + number(scale * 100) +
           " Tz " + showText(line.text, fitted.font_size, fonts) + "\n";
  }
  return out;
}

// ---- Pages --------------------------------------------------------------------------------------------------

// A page as the viewer shows it: its size in points, and the matrix from that upright space (origin bottom left,
// y up) to the page's own coordinates (its crop box, turned by /Rotate).
struct PageFrame {
  QSizeF size;
  double matrix[6] = {1, 0, 0, 1, 0, 0};
};

PageFrame frameOf(const PdfPage& page) {
  PdfRect box = page.GetCropBox();
  double x = box.GetLeft(), y = box.GetBottom(), w = box.GetWidth(), h = box.GetHeight();
  switch (((page.GetRotation() % 360) + 360) % 360) {
    case 90: return {QSizeF(h, w), {0, 1, -1, 0, x + w, y}};
    case 180: return {QSizeF(w, h), {-1, 0, 0, -1, x + w, y + h}};
    case 270: return {QSizeF(h, w), {0, -1, 1, 0, x, y + h}};
    default: return {QSizeF(w, h), {1, 0, 0, 1, x, y}};
  }
}

// The text of each region in reading order with its first box, in pixels of the image the model saw. A page
// read without grounding (no regions) gets its whole text over the whole page.
QList<std::pair<QString, QRectF>> textBlocks(const Page& page) {
  QList<PageRegion> regions = page.regions;
  std::stable_sort(regions.begin(), regions.end(), [](const PageRegion& a, const PageRegion& b) { return a.begin < b.begin; });
  QList<std::pair<QString, QRectF>> blocks;
  for (const PageRegion& region : regions) {
    QString text = markdownToPlainText(page.markdown.mid(region.begin, region.end - region.begin));
    if (!text.isEmpty() && !region.boxes.isEmpty()) blocks.append({text, region.boxes.first()});
  }
  if (regions.isEmpty() && !page.markdown.trimmed().isEmpty())
    blocks.append({markdownToPlainText(page.markdown), QRectF(QPointF(0, 0), QSizeF(page.image_size))});
  return blocks;
}

QByteArray textLayer(const Page& page, const PageFrame& frame, const LayerFonts& fonts) {
  QSizeF pixels = page.image_size.isEmpty() ? frame.size * (page.dpi / 72) : QSizeF(page.image_size);
  double sx = frame.size.width() / pixels.width(), sy = frame.size.height() / pixels.height();
  QRectF page_rect(QPointF(0, 0), frame.size);
  QByteArray out = "BT 3 Tr\n";
  for (const auto& [text, pixel_box] : textBlocks(page)) {
    QRectF box = QRectF(pixel_box.left() * sx, pixel_box.top() * sy, pixel_box.width() * sx, pixel_box.height() * sy)
                     .intersected(page_rect);
    if (!box.isEmpty()) out += regionText(text, box, frame.size.height(), fonts);
  }
  return out + "ET\n";
}

PdfObject* resolved(PdfVecObjects& objects, PdfObject* object) {
  return object->IsReference() ? objects.GetObject(object->GetReference()) : object;
}

PdfDictionary& subDictionary(PdfVecObjects& objects, PdfDictionary& parent, const char* key) {
  if (!parent.HasKey(key)) parent.AddKey(key, PdfDictionary());
  return resolved(objects, parent.GetKey(key))->GetDictionary();
}

// The keys a page may inherit from the page tree, copied onto the page: the tree is rebuilt flat afterwards.
void ownInheritedKeys(PdfPage& page) {
  for (const char* key : {"Resources", "MediaBox", "CropBox", "Rotate"}) {
    const PdfObject* inherited = page.GetInheritedKey(key);
    if (!page.GetObject()->GetDictionary().HasKey(key) && inherited) page.GetObject()->GetDictionary().AddKey(key, *inherited);
  }
}

void addFontResources(PdfMemDocument& document, PdfPage& page, const LayerFonts& fonts) {
  PdfDictionary& resources = subDictionary(document.GetObjects(), page.GetObject()->GetDictionary(), "Resources");
  PdfDictionary& font_resources = subDictionary(document.GetObjects(), resources, "Font");
  for (int i = 0; i < fonts.count(); ++i)
    font_resources.AddKey(LayerFonts::resourceName(i).constData(), fonts.font(i)->GetObject()->Reference());
}

PdfObject* streamObject(PdfMemDocument& document, const QByteArray& content) {
  PdfObject* object = document.GetObjects().CreateObject();
  object->GetStream()->Set(content.constData(), content.size());
  return object;
}

QByteArray matrixOperator(const double (&m)[6]) {
  QByteArray out;
  for (double v : m) out += number(v) + " ";
  return out + "cm\n";
}

// Appends the text layer to a copied page. Its own content is wrapped in q ... Q first, so whatever graphics
// state it leaves behind (a scaled CTM, a clip) does not move the text.
void overlayImportedPage(PdfMemDocument& document, PdfPage& page, const Page& source, const LayerFonts& fonts) {
  ownInheritedKeys(page);
  addFontResources(document, page, fonts);
  PageFrame frame = frameOf(page);
  PdfDictionary& dictionary = page.GetObject()->GetDictionary();
  PdfArray contents;
  contents.push_back(streamObject(document, "q\n")->Reference());
  if (PdfObject* original = dictionary.GetKey("Contents")) {
    PdfObject* value = resolved(document.GetObjects(), original);
    if (value->IsArray()) for (const PdfObject& part : value->GetArray()) contents.push_back(part);
    else contents.push_back(*original);
  }
  QByteArray layer = "Q\nq\n" + matrixOperator(frame.matrix) + textLayer(source, frame, fonts) + "Q\n";
  contents.push_back(streamObject(document, layer)->Reference());
  dictionary.AddKey("Contents", contents);
}

// ---- Sources ------------------------------------------------------------------------------------------------

// The image as a PDF image XObject: a JPEG file's own bytes (no re-encoding), anything else as lossless Flate
// (grey when the image has no colour, a third of the size).
std::unique_ptr<PdfImage> pageImage(PdfMemDocument& document, const Page& page, const QString& password, QString* error) {
  auto image = std::make_unique<PdfImage>(&document, "FolioPage");
  QString suffix = QFileInfo(page.source).suffix().toLower();
  if ((suffix == "jpg" || suffix == "jpeg") && page.source_page == 0) {
    image->LoadFromJpeg(QFile::encodeName(page.source).constData());
    return image;
  }
  OpenResult opened = openDocument(page.source, password);
  QImage pixels = opened.document ? opened.document->renderPage(page.source_page, page.dpi) : QImage();
  if (pixels.isNull()) {
    *error = opened.document ? opened.document->error() : opened.error;
    return nullptr;
  }
  bool grey = pixels.allGray();
  pixels = pixels.convertToFormat(grey ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
  QByteArray packed;  // rows without QImage's 4-byte padding
  for (int y = 0; y < pixels.height(); ++y)
    packed.append(reinterpret_cast<const char*>(pixels.constScanLine(y)), pixels.width() * (grey ? 1 : 3));
  image->SetImageColorSpace(grey ? ePdfColorSpace_DeviceGray : ePdfColorSpace_DeviceRGB);
  PdfMemoryInputStream stream(packed.constData(), packed.size());
  TVecFilters flate{ePdfFilter_FlateDecode};
  image->SetImageData(pixels.width(), pixels.height(), 8, &stream, flate);
  return image;
}

PdfPage* addImagePage(PdfMemDocument& document, const Page& page, const QString& password, const LayerFonts& fonts,
                      QString* error) {
  std::unique_ptr<PdfImage> image = pageImage(document, page, password, error);
  if (!image) return nullptr;
  double points_per_pixel = 72 / (page.dpi > 0 ? page.dpi : kImageDpi);
  QSizeF size(image->GetWidth() * points_per_pixel, image->GetHeight() * points_per_pixel);
  PdfPage* pdf_page = document.CreatePage(PdfRect(0, 0, size.width(), size.height()));
  PdfDictionary& resources = subDictionary(document.GetObjects(), pdf_page->GetObject()->GetDictionary(), "Resources");
  subDictionary(document.GetObjects(), resources, "XObject").AddKey("FolioPage", image->GetObject()->Reference());
  addFontResources(document, *pdf_page, fonts);
  PageFrame frame{size};
  QByteArray content = "q " + number(size.width()) + " 0 0 " + number(size.height()) + " 0 0 cm /FolioPage Do Q\n" +
                       textLayer(page, frame, fonts);
  pdf_page->GetObject()->GetDictionary().AddKey("Contents", streamObject(document, content)->Reference());
  return pdf_page;
}

// Each source PDF is appended whole, once (PoDoFo copies a page by copying its document); the pages no output
// page uses are dropped from the page tree when it is rebuilt.
class PdfSources {
 public:
  PdfSources(PdfMemDocument& output, QString password) : output_(output), password_(std::move(password)) {}

  PdfPage* page(const QString& path, int index) {
    auto found = first_page_.find(path);
    if (found == first_page_.end()) found = first_page_.emplace(path, append(path)).first;
    return output_.GetPage(found->second + index);
  }

 private:
  int append(const QString& path) {
    PdfMemDocument source;
    try {
      source.Load(QFile::encodeName(path).constData());
    } catch (const PdfError& error) {
      if (error.GetError() != ePdfError_InvalidPassword) throw;
      source.SetPassword(password_.toStdString());
    }
    int first = output_.GetPageCount();
    output_.Append(source);
    return first;
  }

  PdfMemDocument& output_;
  QString password_;
  std::map<QString, int> first_page_;
};

void setPageOrder(PdfMemDocument& document, const std::vector<PdfObject*>& pages) {
  PdfObject* root = document.GetPagesTree()->GetObject();
  PdfArray kids;
  for (PdfObject* page : pages) {
    kids.push_back(page->Reference());
    page->GetDictionary().AddKey("Parent", root->Reference());
  }
  root->GetDictionary().AddKey("Kids", kids);
  root->GetDictionary().AddKey("Count", PdfVariant(pdf_int64(pages.size())));
}

QString describe(const PdfError& error) {
  const char* message = PdfError::ErrorMessage(error.GetError());
  return QString::fromUtf8(message ? message : PdfError::ErrorName(error.GetError()));
}

bool writeDocument(PdfMemDocument& document, const QString& path, ExportReport& report) {
  PdfRefCountedBuffer buffer;
  PdfOutputDevice device(&buffer);
  document.Write(&device);
  QString error;
  if (!writeFileAtomically(path, QByteArray(buffer.GetBuffer(), qsizetype(device.GetLength())), &error)) {
    report.errors << error;
    return false;
  }
  report.written << path;
  return true;
}

}  // namespace

ExportReport exportSearchablePdf(const Project& project, const QList<int>& pages, const QString& path,
                                 const QString& password) {
  PdfError::EnableLogging(false);  // PoDoFo logs its repairs to stderr; failures come back as exceptions
  ExportReport report;
  try {
    PdfMemDocument document;
    LayerFonts fonts(document);
    if (fonts.empty()) {
      report.errors << QStringLiteral("No font for the PDF's text layer: install fonts-dejavu-core");
      return report;
    }
    PdfSources sources(document, password);
    std::vector<PdfObject*> output_pages;
    QHash<QString, bool> is_pdf;  // isPdfPath reads the file's first bytes: once a source, not once a page
    for (int index : pages) {
      const Page& page = project.page(index);
      QString error;
      try {
        PdfPage* pdf_page = nullptr;
        auto known = is_pdf.find(page.source);
        if (known == is_pdf.end()) known = is_pdf.insert(page.source, isPdfPath(page.source));
        if (known.value()) {
          pdf_page = sources.page(page.source, page.source_page);
          if (pdf_page) overlayImportedPage(document, *pdf_page, page, fonts);
          else error = QStringLiteral("%1 has no page %2").arg(page.source).arg(page.source_page + 1);
        } else {
          pdf_page = addImagePage(document, page, password, fonts, &error);
        }
        if (pdf_page) output_pages.push_back(pdf_page->GetObject());
      } catch (const PdfError& pdf_error) {
        error = describe(pdf_error);
      }
      if (!error.isEmpty()) report.errors << QStringLiteral("page %1: %2").arg(index + 1).arg(error);
    }
    setPageOrder(document, output_pages);
    writeDocument(document, path, report);
  } catch (const PdfError& error) {
    report.errors << QStringLiteral("%1: %2").arg(path, describe(error));
  }
  return report;
}

}  // namespace folio::app
