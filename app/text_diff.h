// "Show changes": a word-level diff of the model's markdown against the user's edit of it, its summary and an HTML
// rendering for display. Runs on the GUI thread: a whole page diffs in a few milliseconds.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>

namespace folio::app {

enum class DiffKind { Same, Removed, Added };

struct DiffSpan {
  DiffKind kind = DiffKind::Same;
  QString text;
  bool operator==(const DiffSpan&) const = default;
};

// Words counted per change: a change that removes r words and adds a counts min(r, a) as changed, the rest as
// removed or added. Words are tokens with a letter or digit; punctuation and whitespace are not counted.
struct DiffSummary {
  int words_changed = 0;
  int words_added = 0;
  int words_removed = 0;
  bool operator==(const DiffSummary&) const = default;
};

struct TextDiff {
  // In order: the Same and Removed spans concatenated give the model's text, the Same and Added ones the edit.
  // Within a change the Removed span comes before the Added one; adjacent spans differ in kind.
  QList<DiffSpan> spans;
  DiffSummary summary;
  bool hasChanges() const;
};

// The tokens the diff compares: a run of letters and digits (with apostrophes inside it, as in
// "don't") is one word; each CJK ideograph or kana is a word of its own (those scripts do not separate words with
// spaces, so a fixed character shows as one character replaced); each newline, each run of other whitespace and
// each punctuation mark or symbol is a token of its own.
QStringList diffTokens(const QString& text);

TextDiff diffWords(const QString& model, const QString& edited);

// The backgrounds diffHtml marks changes with.
inline constexpr char kDiffRemovedColor[] = "#ffd7d5";
inline constexpr char kDiffAddedColor[] = "#ccffd8";

// HTML for a rich-text view: removed text struck through on red, added text on green, changed line breaks shown
// as a pilcrow, everything else as plain text with its line breaks and spaces kept.
QString diffHtml(const TextDiff& diff);

// One line for the user: "3 words changed, 1 added", "No changes: the page is the model's output".
QString diffSummaryLine(const TextDiff& diff);

}  // namespace folio::app
