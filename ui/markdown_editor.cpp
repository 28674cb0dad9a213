#include "markdown_editor.h"

#include <QFontDatabase>

namespace folio::ui {

MarkdownHighlighter::MarkdownHighlighter(QTextDocument* document) : QSyntaxHighlighter(document) {
  auto format = [](QColor color, bool bold = false) {
    QTextCharFormat f;
    f.setForeground(color);
    if (bold) f.setFontWeight(QFont::Bold);
    return f;
  };
  rules_ = {
      {QRegularExpression(QStringLiteral("^#{1,6} .*")), format(QColor(0x1f, 0x4e, 0x9a), true)},
      {QRegularExpression(QStringLiteral("\\*\\*[^*]+\\*\\*")), format(Qt::black, true)},
      {QRegularExpression(QStringLiteral("^\\s*([-*+]|\\d+\\.) ")), format(QColor(0xb3, 0x58, 0x06), true)},
      {QRegularExpression(QStringLiteral("`[^`]+`|\\\\[\\[\\]()]|\\\\[a-zA-Z]+")), format(QColor(0x2c, 0x7a, 0x2c))},
      {QRegularExpression(QStringLiteral("</?[a-zA-Z][^>]*>")), format(QColor(0x88, 0x44, 0x99))},
      {QRegularExpression(QStringLiteral("!?\\[[^\\]]*\\]\\([^)]*\\)")), format(QColor(0x00, 0x66, 0xcc))},
      {QRegularExpression(QStringLiteral("<\\|[^|]*\\|>")), format(QColor(0x99, 0x99, 0x99))},
  };
}

void MarkdownHighlighter::highlightBlock(const QString& text) {
  for (const Rule& rule : rules_) {
    for (auto it = rule.pattern.globalMatch(text); it.hasNext();) {
      QRegularExpressionMatch match = it.next();
      setFormat(int(match.capturedStart()), int(match.capturedLength()), rule.format);
    }
  }
}

MarkdownEditor::MarkdownEditor(QWidget* parent) : QPlainTextEdit(parent) {
  setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  setLineWrapMode(QPlainTextEdit::WidgetWidth);
  new MarkdownHighlighter(document());
}

void MarkdownEditor::setTextSilently(const QString& text) {
  const QString current = toPlainText();
  if (text == current) return;
  setting_text_ = true;
  // Streamed text grows at its end: laying out and highlighting only the new tail keeps each update short.
  if (!current.isEmpty() && text.startsWith(current))
    appendWithoutUndo(QStringView(text).mid(current.size()));
  else
    setPlainText(text);
  setting_text_ = false;
}

// Like setPlainText, leaves no undo step: the text is the model's, not an edit.
void MarkdownEditor::appendWithoutUndo(QStringView tail) {
  document()->setUndoRedoEnabled(false);
  QTextCursor end(document());
  end.movePosition(QTextCursor::End);
  end.insertText(tail.toString());
  document()->setUndoRedoEnabled(true);
}

void MarkdownEditor::selectRange(int begin, int end) {
  QTextCursor cursor(document());
  int last = document()->characterCount() - 1;
  cursor.setPosition(std::clamp(begin, 0, last));
  cursor.setPosition(std::clamp(end, 0, last), QTextCursor::KeepAnchor);
  setTextCursor(cursor);
  centerCursor();
}

}  // namespace folio::ui
