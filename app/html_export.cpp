#include "html_export.h"

#include "markdown_text.h"

#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>

#include <QBuffer>
#include <QRegularExpression>

#include <cstdlib>

namespace folio::app {
namespace {

// Markdown to HTML with cmark-gfm, the reference CommonMark parser with GitHub's extensions: tables (pipe tables
// a user types), strikethrough, and the tag filter that disarms <script>, <iframe>, <style>, ... in raw HTML. Raw
// HTML is otherwise kept, since the model writes its tables as HTML.
QString markdownToHtml(const QString& markdown) {
  cmark_gfm_core_extensions_ensure_registered();
  cmark_parser* parser = cmark_parser_new(CMARK_OPT_UNSAFE);
  for (const char* name : {"table", "strikethrough", "tagfilter"})
    if (cmark_syntax_extension* extension = cmark_find_syntax_extension(name))
      cmark_parser_attach_syntax_extension(parser, extension);
  QByteArray utf8 = markdown.toUtf8();
  cmark_parser_feed(parser, utf8.constData(), utf8.size());
  cmark_node* document = cmark_parser_finish(parser);
  char* html = cmark_render_html(document, CMARK_OPT_UNSAFE, cmark_parser_get_syntax_extensions(parser));
  QString out = QString::fromUtf8(html);
  std::free(html);
  cmark_node_free(document);
  cmark_parser_free(parser);
  return out;
}

// Formulas are taken out before markdown sees them (their \, _ and * are TeX, not markup) and put back as
// spans holding the escaped TeX; FOLIOMATH<n>END marks the place, a word markdown leaves alone.
const QString kFormulaMarker = QStringLiteral("FOLIOMATH%1END");

SetAside takeFormulas(const QString& markdown) {
  static const QRegularExpression formula(QStringLiteral(R"(\\\[(.*?)\\\]|\$\$(.*?)\$\$|\\\((.*?)\\\))"),
                                          QRegularExpression::DotMatchesEverythingOption);
  return setAside(markdown, formula, kFormulaMarker, [](const QRegularExpressionMatch& match) {
    const bool inline_math = !match.captured(3).isNull();
    const QString tex =
        (inline_math ? match.captured(3) : match.captured(1) + match.captured(2)).trimmed().toHtmlEscaped();
    return inline_math ? QStringLiteral("<span class=\"math inline\">\\(%1\\)</span>").arg(tex)
                       : QStringLiteral("<span class=\"math display\">\\[%1\\]</span>").arg(tex);
  });
}

QString dataUri(const QImage& image) {
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  image.save(&buffer, "JPEG", 90);
  return "data:image/jpeg;base64," + QString::fromLatin1(bytes.toBase64());
}

QString embedFigures(QString html, const QHash<QString, QImage>& crops) {
  for (auto it = crops.cbegin(); it != crops.cend(); ++it)
    html.replace("src=\"" + it.key().toHtmlEscaped() + "\"", "src=\"" + dataUri(it.value()) + "\"");
  return html;
}

QString pageSection(const Page& page, int index, const QString& password, QStringList* errors) {
  const SetAside formulas = takeFormulas(page.markdown);
  QString body = putBack(markdownToHtml(formulas.text), formulas.pieces, kFormulaMarker);
  body = embedFigures(body, figureCrops(page, password, errors));
  return QStringLiteral("<section class=\"page\" id=\"page-%1\">\n%2</section>\n").arg(index + 1).arg(body);
}

const char* const kStyle =
    "body{font-family:sans-serif;max-width:50em;margin:auto;padding:1em;line-height:1.5}"
    ".page{border-bottom:1px solid #ccc;padding-bottom:1em;margin-bottom:2em}"
    "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .5em}img{max-width:100%}"
    ".math.display{display:block;text-align:center;font-family:serif}";

}  // namespace

QString projectHtml(const Project& project, const QList<int>& pages, const QString& password, QStringList* errors) {
  QString sections;
  for (int index : pages) sections += pageSection(project.page(index), index, password, errors);
  return QStringLiteral("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n<title>%1</title>\n<style>%2</style>\n"
                        "</head>\n<body>\n%3</body>\n</html>\n")
      .arg(project.name().toHtmlEscaped(), kStyle, sections);
}

}  // namespace folio::app
