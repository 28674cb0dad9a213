// The markdown editor: monospace QPlainTextEdit with markdown highlighting and undo/redo.
#pragma once

#include <QPlainTextEdit>
#include <QRegularExpression>
#include <QSyntaxHighlighter>

namespace folio::ui {

class MarkdownHighlighter : public QSyntaxHighlighter {
  Q_OBJECT
 public:
  explicit MarkdownHighlighter(QTextDocument* document);

 protected:
  void highlightBlock(const QString& text) override;

 private:
  struct Rule {
    QRegularExpression pattern;
    QTextCharFormat format;
  };
  QList<Rule> rules_;
};

class MarkdownEditor : public QPlainTextEdit {
  Q_OBJECT
 public:
  explicit MarkdownEditor(QWidget* parent = nullptr);
  // Replaces the text without recording an undo step or reporting an edit.
  void setTextSilently(const QString& text);
  bool settingText() const { return setting_text_; }
  void selectRange(int begin, int end);  // selects and scrolls into view

 private:
  void appendWithoutUndo(QStringView tail);

  bool setting_text_ = false;
};

}  // namespace folio::ui
