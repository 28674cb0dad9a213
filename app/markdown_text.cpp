#include "markdown_text.h"

#include <QRegularExpression>
#include <QStringList>

namespace folio::app {
namespace {

using Re = QRegularExpression;

// Formulas and code spans are set aside before the markup is stripped (their _, * and \ are content, not
// markup) and put back at the end.
const QString kLiteralMarker = QStringLiteral("\uE000%1\uE001");

SetAside protectLiterals(const QString& markdown) {
  static const Re literal(QStringLiteral(R"(\\\[(.*?)\\\]|\\\((.*?)\\\)|\$\$(.*?)\$\$|`+([^`]*?)`+)"),
                          Re::DotMatchesEverythingOption);
  return setAside(markdown, literal, kLiteralMarker, [](const QRegularExpressionMatch& match) {
    QString inner;
    for (int group = 1; group <= 4 && inner.isEmpty(); ++group) inner = match.captured(group);
    return inner.simplified();
  });
}

QString decodeEntities(QString text) {
  static const Re numeric(QStringLiteral("&#(x?)([0-9a-fA-F]+);"));
  QString out;
  qsizetype last = 0;
  for (auto it = numeric.globalMatch(text); it.hasNext();) {
    auto match = it.next();
    uint code = match.captured(2).toUInt(nullptr, match.captured(1).isEmpty() ? 10 : 16);
    out += text.mid(last, match.capturedStart() - last) + QString::fromUcs4(reinterpret_cast<const char32_t*>(&code), 1);
    last = match.capturedEnd();
  }
  out += text.mid(last);
  return out.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"")
      .replace("&#39;", "'").replace("&amp;", "&");
}

// HTML the model writes (tables above all): cells end with a space, rows and blocks with a line break.
QString stripHtml(QString text) {
  text.replace(Re(QStringLiteral("<br\\s*/?>|</(tr|p|div|li|h[1-6]|caption)>"), Re::CaseInsensitiveOption), "\n");
  text.replace(Re(QStringLiteral("</t[dh]>"), Re::CaseInsensitiveOption), " ");
  text.remove(Re(QStringLiteral("<!--.*?-->"), Re::DotMatchesEverythingOption));
  text.remove(Re(QStringLiteral("</?[a-zA-Z][^>]*>")));
  return text;
}

// Pipe table rows ("| a | b |"): the cells with a space between them.
QString pipeRowCells(QString line) {
  static const Re pipe(QStringLiteral("\\s*\\|\\s*"));
  return line.replace(pipe, " ").trimmed();
}

QString stripBlockMarkup(const QString& text) {
  static const Re fence(QStringLiteral("^[ \\t]*(```|~~~)"));
  static const Re rule(QStringLiteral("^[ \\t]*([-*_])([ \\t]*\\1){2,}[ \\t]*$"));
  static const Re table_rule(QStringLiteral("^[ \\t]*\\|?([ \\t]*:?-+:?[ \\t]*\\|)+[ \\t]*(:?-+:?)?[ \\t]*$"));
  static const Re line_start(QStringLiteral("^[ \\t]*(#{1,6}[ \\t]+|>[ \\t]?|[-*+][ \\t]+)"));
  QStringList lines;
  for (const QString& line : text.split('\n')) {
    if (fence.match(line).hasMatch() || rule.match(line).hasMatch() || table_rule.match(line).hasMatch()) continue;
    QString kept = QString(line).remove(line_start);
    lines << (kept.trimmed().startsWith('|') ? pipeRowCells(kept) : kept);
  }
  return lines.join('\n');
}

QString stripInlineMarkup(QString text) {
  text.replace(Re(QStringLiteral("!\\[([^\\]]*)\\]\\([^)]*\\)")), "\\1");  // images: their alt text
  text.replace(Re(QStringLiteral("\\[([^\\]]*)\\]\\([^)]*\\)")), "\\1");   // links: their text
  text.replace(Re(QStringLiteral("(\\*\\*|__|~~)(.+?)\\1")), "\\2");
  text.replace(Re(QStringLiteral("(?<![\\w*])\\*(?!\\s)(.+?)(?<!\\s)\\*(?![\\w*])")), "\\1");
  text.replace(Re(QStringLiteral("(?<![\\w])_(?!\\s)(.+?)(?<!\\s)_(?![\\w])")), "\\1");
  text.replace(Re(QStringLiteral("\\\\([!-/:-@\\[-`{-~])")), "\\1");  // backslash escapes
  return text;
}

QString tidyLines(const QString& text) {
  QStringList lines;
  for (const QString& line : text.split('\n')) lines << QString(line).replace(Re(QStringLiteral("[ \\t]+")), " ").trimmed();
  return lines.join('\n').replace(Re(QStringLiteral("\n{3,}")), "\n\n").trimmed();
}

}  // namespace

SetAside setAside(const QString& text, const QRegularExpression& pattern, const QString& marker,
                  const std::function<QString(const QRegularExpressionMatch&)>& piece) {
  SetAside out;
  qsizetype last = 0;
  for (auto it = pattern.globalMatch(text); it.hasNext();) {
    const auto match = it.next();
    out.text += text.mid(last, match.capturedStart() - last) + marker.arg(out.pieces.size());
    out.pieces << piece(match);
    last = match.capturedEnd();
  }
  out.text += text.mid(last);
  return out;
}

QString putBack(QString text, const QStringList& pieces, const QString& marker) {
  for (qsizetype i = 0; i < pieces.size(); ++i) text.replace(marker.arg(i), pieces[i]);
  return text;
}

QString markdownToPlainText(const QString& markdown) {
  SetAside input = protectLiterals(markdown);
  QString text = stripInlineMarkup(stripBlockMarkup(stripHtml(input.text)));
  return tidyLines(putBack(decodeEntities(text), input.pieces, kLiteralMarker));
}

}  // namespace folio::app
