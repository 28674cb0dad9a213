#include "markdown_text.h"

#include <QRegularExpression>
#include <QStringList>

namespace folio::app {
namespace {

using Re = QRegularExpression;

// Formulas and code spans are set aside before the markup is stripped (their _, * and \ are content, not
// markup) and put back at the end; \uE000<n>\uE001 marks where each one goes.
struct Protected {
  QString text;
  QStringList pieces;
};

Protected protectLiterals(const QString& markdown) {
  static const Re literal(QStringLiteral(R"(\\\[(.*?)\\\]|\\\((.*?)\\\)|\$\$(.*?)\$\$|`+([^`]*?)`+)"),
                          Re::DotMatchesEverythingOption);
  Protected out;
  qsizetype last = 0;
  for (auto it = literal.globalMatch(markdown); it.hasNext();) {
    auto match = it.next();
    out.text += markdown.mid(last, match.capturedStart() - last);
    QString inner;
    for (int group = 1; group <= 4 && inner.isEmpty(); ++group) inner = match.captured(group);
    out.text += QStringLiteral("\uE000%1\uE001").arg(out.pieces.size());
    out.pieces << inner.simplified();
    last = match.capturedEnd();
  }
  out.text += markdown.mid(last);
  return out;
}

QString restoreLiterals(QString text, const QStringList& pieces) {
  static const Re marker(QStringLiteral("\uE000(\\d+)\uE001"));
  QString out;
  qsizetype last = 0;
  for (auto it = marker.globalMatch(text); it.hasNext();) {
    auto match = it.next();
    out += text.mid(last, match.capturedStart() - last) + pieces.value(match.captured(1).toInt());
    last = match.capturedEnd();
  }
  return out + text.mid(last);
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

QString markdownToPlainText(const QString& markdown) {
  Protected input = protectLiterals(markdown);
  QString text = stripInlineMarkup(stripBlockMarkup(stripHtml(input.text)));
  return tidyLines(restoreLiterals(decodeEntities(text), input.pieces));
}

}  // namespace folio::app
