#include "text_diff.h"

#include <dtl/dtl.hpp>

#include <QHash>

#include <algorithm>
#include <vector>

namespace folio::app {

namespace {

// ---- Tokens

struct CodePoint {
  char32_t value;
  qsizetype size;  // in UTF-16 code units
};

CodePoint codePointAt(QStringView text, qsizetype at) {
  const QChar unit = text[at];
  if (unit.isHighSurrogate() && at + 1 < text.size() && text[at + 1].isLowSurrogate())
    return {QChar::surrogateToUcs4(unit, text[at + 1]), 2};
  return {unit.unicode(), 1};
}

bool isCjk(char32_t c) {
  const QChar::Script script = QChar::script(c);
  return script == QChar::Script_Han || script == QChar::Script_Hiragana || script == QChar::Script_Katakana;
}

bool isWordChar(char32_t c) { return (QChar::isLetterOrNumber(c) || QChar::isMark(c)) && !isCjk(c); }
bool isHorizontalSpace(char32_t c) { return c != '\n' && QChar::isSpace(c); }
bool isApostrophe(char32_t c) { return c == '\'' || c == U'\u2019'; }

bool wordCharAt(QStringView text, qsizetype at) { return at < text.size() && isWordChar(codePointAt(text, at).value); }

qsizetype wordEnd(QStringView text, qsizetype at) {
  while (at < text.size()) {
    const CodePoint c = codePointAt(text, at);
    const bool inside_word = isWordChar(c.value) || (isApostrophe(c.value) && wordCharAt(text, at + c.size));
    if (!inside_word) break;
    at += c.size;
  }
  return at;
}

qsizetype spaceEnd(QStringView text, qsizetype at) {
  while (at < text.size() && isHorizontalSpace(text[at].unicode())) ++at;
  return at;
}

qsizetype tokenEnd(QStringView text, qsizetype at) {
  const CodePoint first = codePointAt(text, at);
  if (isWordChar(first.value)) return wordEnd(text, at);
  if (isHorizontalSpace(first.value)) return spaceEnd(text, at);
  return at + first.size;  // a newline, a CJK character, a punctuation mark or symbol
}

QList<QStringView> tokenViews(QStringView text) {
  QList<QStringView> tokens;
  for (qsizetype at = 0; at < text.size();) {
    const qsizetype end = tokenEnd(text, at);
    tokens.append(text.sliced(at, end - at));
    at = end;
  }
  return tokens;
}

bool isWord(QStringView token) { return QChar::isLetterOrNumber(codePointAt(token, 0).value); }

int wordCount(QStringView text) {
  const QList<QStringView> tokens = tokenViews(text);
  return int(std::count_if(tokens.begin(), tokens.end(), isWord));
}

// ---- The edit script

// dtl compares small integers; equal tokens of both texts share one.
std::vector<int> tokenIds(const QList<QStringView>& tokens, QHash<QStringView, int>& ids) {
  std::vector<int> result;
  result.reserve(tokens.size());
  for (QStringView token : tokens) {
    auto it = ids.constFind(token);
    if (it == ids.constEnd()) it = ids.insert(token, int(ids.size()));
    result.push_back(it.value());
  }
  return result;
}

DiffKind kindOf(dtl::edit_t edit) {
  if (edit == dtl::SES_DELETE) return DiffKind::Removed;
  if (edit == dtl::SES_ADD) return DiffKind::Added;
  return DiffKind::Same;
}

// The shortest edit script from dtl (Wu, Manber and Myers' O(NP) algorithm). "Unserious" mode: past dtl's
// limit of 2 million path points (some 1400 edits on a page) the rest is reported as removed and added
// wholesale, which bounds the worst case on the GUI thread (onUnserious: dtl 1.20's enableTrivial() is declared
// const and does not compile).
void appendEditScript(const std::vector<int>& model, const std::vector<int>& edited, std::vector<DiffKind>& script) {
  if (model.empty() || edited.empty()) {
    script.insert(script.end(), model.size(), DiffKind::Removed);
    script.insert(script.end(), edited.size(), DiffKind::Added);
    return;
  }
  dtl::Diff<int> diff(model, edited);
  diff.onUnserious();
  diff.compose();
  for (const auto& [id, info] : diff.getSes().getSequence()) script.push_back(kindOf(info.type));
}

// A user edits a few places of a page: the common head and tail are skipped before dtl sees the texts, so
// its cost follows the edited middle.
std::vector<DiffKind> editScript(const std::vector<int>& model, const std::vector<int>& edited) {
  const std::size_t head =
      std::size_t(std::mismatch(model.begin(), model.end(), edited.begin(), edited.end()).first - model.begin());
  const std::size_t longest_tail = std::min(model.size(), edited.size()) - head;
  const std::size_t tail = std::size_t(
      std::mismatch(model.rbegin(), model.rbegin() + std::ptrdiff_t(longest_tail), edited.rbegin()).first -
      model.rbegin());

  std::vector<DiffKind> script(head, DiffKind::Same);
  appendEditScript({model.begin() + std::ptrdiff_t(head), model.end() - std::ptrdiff_t(tail)},
                   {edited.begin() + std::ptrdiff_t(head), edited.end() - std::ptrdiff_t(tail)}, script);
  script.insert(script.end(), tail, DiffKind::Same);
  return script;
}

// ---- Stretches: text both sides share, or one change (what it removed and what it added)

struct Stretch {
  bool change = false;
  QString same;
  QString removed;
  QString added;
};

void appendToken(QList<Stretch>& stretches, DiffKind kind, QStringView token) {
  const bool change = kind != DiffKind::Same;
  if (stretches.isEmpty() || stretches.last().change != change) stretches.append(Stretch{change, {}, {}, {}});
  Stretch& last = stretches.last();
  QString& text = kind == DiffKind::Same ? last.same : kind == DiffKind::Removed ? last.removed : last.added;
  text += token;
}

QList<Stretch> stretchesOf(const QList<QStringView>& model, const QList<QStringView>& edited,
                           const std::vector<DiffKind>& script) {
  QList<Stretch> stretches;
  qsizetype in_model = 0, in_edited = 0;
  for (DiffKind kind : script) {
    appendToken(stretches, kind, kind == DiffKind::Added ? edited[in_edited] : model[in_model]);
    if (kind != DiffKind::Added) ++in_model;
    if (kind != DiffKind::Removed) ++in_edited;
  }
  return stretches;
}

bool isHorizontalSpaceOnly(const QString& text) {
  const auto horizontal_space = [](QChar c) { return isHorizontalSpace(c.unicode()); };
  return !text.isEmpty() && std::all_of(text.begin(), text.end(), horizontal_space);
}

// "quick brown" rewritten as "slow red" reads better as one change than as two around a kept space.
bool joinsAcross(const Stretch& before, const Stretch& gap, const Stretch& after) {
  return before.change && after.change && isHorizontalSpaceOnly(gap.same) &&
         !(before.removed.isEmpty() && after.removed.isEmpty()) && !(before.added.isEmpty() && after.added.isEmpty());
}

QList<Stretch> joinChangesAcrossSpaces(const QList<Stretch>& stretches) {
  QList<Stretch> joined;
  for (qsizetype i = 0; i < stretches.size(); ++i) {
    if (!joined.isEmpty() && i + 1 < stretches.size() && joinsAcross(joined.last(), stretches[i], stretches[i + 1])) {
      Stretch& change = joined.last();
      change.removed += stretches[i].same + stretches[i + 1].removed;
      change.added += stretches[i].same + stretches[i + 1].added;
      ++i;
    } else {
      joined.append(stretches[i]);
    }
  }
  return joined;
}

DiffSummary summaryOf(const QList<Stretch>& stretches) {
  DiffSummary summary;
  for (const Stretch& stretch : stretches) {
    if (!stretch.change) continue;
    const int removed = wordCount(stretch.removed), added = wordCount(stretch.added);
    const int changed = std::min(removed, added);
    summary.words_changed += changed;
    summary.words_removed += removed - changed;
    summary.words_added += added - changed;
  }
  return summary;
}

QList<DiffSpan> spansOf(const QList<Stretch>& stretches) {
  QList<DiffSpan> spans;
  for (const Stretch& stretch : stretches) {
    if (!stretch.change) spans.append({DiffKind::Same, stretch.same});
    if (!stretch.removed.isEmpty()) spans.append({DiffKind::Removed, stretch.removed});
    if (!stretch.added.isEmpty()) spans.append({DiffKind::Added, stretch.added});
  }
  return spans;
}

// ---- Display

// A removed or added line break would otherwise show as nothing but a break.
QString changedTextHtml(const QString& text) {
  return text.toHtmlEscaped().replace(QLatin1Char('\n'), QStringLiteral("\u00b6\n"));
}

QString spanHtml(const DiffSpan& span) {
  switch (span.kind) {
    case DiffKind::Removed:
      return QStringLiteral("<span style=\"background-color:%1; text-decoration:line-through\">%2</span>")
          .arg(QLatin1String(kDiffRemovedColor), changedTextHtml(span.text));
    case DiffKind::Added:
      return QStringLiteral("<span style=\"background-color:%1\">%2</span>")
          .arg(QLatin1String(kDiffAddedColor), changedTextHtml(span.text));
    case DiffKind::Same:
      break;
  }
  return span.text.toHtmlEscaped();
}

QString countedWords(int count, const char* what) {
  return QStringLiteral("%1 %2 %3").arg(QString::number(count), QLatin1String(count == 1 ? "word" : "words"),
                                         QLatin1String(what));
}

}  // namespace

bool TextDiff::hasChanges() const {
  return std::any_of(spans.begin(), spans.end(), [](const DiffSpan& span) { return span.kind != DiffKind::Same; });
}

QStringList diffTokens(const QString& text) {
  QStringList tokens;
  for (QStringView token : tokenViews(text)) tokens.append(token.toString());
  return tokens;
}

TextDiff diffWords(const QString& model, const QString& edited) {
  const QList<QStringView> model_tokens = tokenViews(model), edited_tokens = tokenViews(edited);
  QHash<QStringView, int> ids;
  const std::vector<int> model_ids = tokenIds(model_tokens, ids), edited_ids = tokenIds(edited_tokens, ids);
  const QList<Stretch> stretches =
      joinChangesAcrossSpaces(stretchesOf(model_tokens, edited_tokens, editScript(model_ids, edited_ids)));
  return {spansOf(stretches), summaryOf(stretches)};
}

QString diffHtml(const TextDiff& diff) {
  QString html = QStringLiteral("<div style=\"white-space:pre-wrap\">");
  for (const DiffSpan& span : diff.spans) html += spanHtml(span);
  return html + QStringLiteral("</div>");
}

QString diffSummaryLine(const TextDiff& diff) {
  if (!diff.hasChanges()) return QStringLiteral("No changes: the page is the model's output");
  const DiffSummary& summary = diff.summary;
  QStringList parts;
  const std::pair<int, const char*> counts[] = {
      {summary.words_changed, "changed"}, {summary.words_added, "added"}, {summary.words_removed, "removed"}};
  for (const auto& [count, what] : counts) {
    if (count == 0) continue;
    // "3 words changed, 1 added": only the first count names the words.
    parts.append(parts.isEmpty() ? countedWords(count, what)
                                 : QStringLiteral("%1 %2").arg(QString::number(count), QLatin1String(what)));
  }
  if (parts.isEmpty()) return QStringLiteral("Only punctuation or spacing changed");
  return parts.join(QStringLiteral(", "));
}

}  // namespace folio::app
