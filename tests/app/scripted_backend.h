// A test double of the OcrBackend seam: "generates" a recorded model output token by token, with a delay per
// token, honouring the cancel flag between two steps and max_new_tokens like the engine does. The grounding
// parse is the real one.
#pragma once

#include "folio_test.h"
#include "ocr_backend.h"

#include <QFile>
#include <QMutex>
#include <QRegularExpression>
#include <QStringList>
#include <chrono>
#include <thread>

namespace folio::test {

inline QString samplePath(const QString& name) {
  return QString::fromStdString(sharedPath("model/sample_outputs/" + name.toStdString()));
}

inline QString readSample(const QString& name) {
  QFile file(samplePath(name));
  if (!file.open(QIODevice::ReadOnly)) qFatal("cannot read %s", qPrintable(file.fileName()));
  return QString::fromUtf8(file.readAll());
}

inline const QString kEndOfSentence = QStringLiteral("<｜end▁of▁sentence｜>");

// What the backend saw and did, shared with the test (written on the worker thread).
struct ScriptLog {
  QMutex mutex;
  QList<std::chrono::steady_clock::time_point> token_times;
  QList<QSize> page_sizes;
  QList<int> batch_sizes;  // pages per runBatch call
  int runs = 0;
};

class ScriptedBackend : public app::OcrBackend {
 public:
  ScriptedBackend(QString text, std::chrono::microseconds token_delay, std::shared_ptr<ScriptLog> log,
                  int pages_in_flight = 1)
      : token_delay_(token_delay), log_(std::move(log)), pages_in_flight_(pages_in_flight) {
    // Tokens: each run of non-space characters with the whitespace before it.
    static const QRegularExpression token(QStringLiteral("\\s*\\S+|\\s+$"));
    for (auto it = token.globalMatch(text); it.hasNext();) tokens_.push_back(it.next().captured().toStdString());
  }

  Result run(const RgbImage& page, const RunOptions& options, const std::function<void(const Progress&)>& on_progress,
             const std::atomic<bool>* cancel) override {
    {
      QMutexLocker lock(&log_->mutex);
      ++log_->runs;
      log_->page_sizes << QSize(page.width, page.height);
    }
    Result result;
    std::string text;
    auto start = std::chrono::steady_clock::now();
    for (const std::string& piece : tokens_) {
      if (result.generated_tokens >= options.max_new_tokens) {  // like the engine: the limit, not the end
        result.hit_token_limit = true;
        break;
      }
      if (cancel && *cancel) {
        result.cancelled = true;
        break;
      }
      std::this_thread::sleep_for(token_delay_);
      text += piece;
      ++result.generated_tokens;
      {
        QMutexLocker lock(&log_->mutex);
        log_->token_times << std::chrono::steady_clock::now();
      }
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (on_progress) on_progress(Progress{result.generated_tokens, text, result.generated_tokens / seconds});
    }
    std::string eos = kEndOfSentence.toStdString();
    if (text.size() >= eos.size() && text.compare(text.size() - eos.size(), eos.size(), eos) == 0)
      text.resize(text.size() - eos.size());
    result.raw_text = text;
    result.grounded = parseGrounding(text, page.width, page.height, options.figure_stem);
    return result;
  }
  QString description() const override { return QStringLiteral("scripted test backend"); }
  int pagesInFlight() const override { return pages_in_flight_; }
  // The pages one after the other, as the default does, recording the batch.
  void runBatch(const std::vector<RgbImage>& pages, const std::vector<RunOptions>& options,
                const app::BatchCallbacks& callbacks, const std::vector<const std::atomic<bool>*>& cancels) override {
    {
      QMutexLocker lock(&log_->mutex);
      log_->batch_sizes << int(pages.size());
    }
    OcrBackend::runBatch(pages, options, callbacks, cancels);
  }

 private:
  std::vector<std::string> tokens_;
  std::chrono::microseconds token_delay_;
  std::shared_ptr<ScriptLog> log_;
  int pages_in_flight_;
};

inline app::BackendFactory scriptedTextFactory(const QString& text, std::chrono::microseconds delay,
                                               std::shared_ptr<ScriptLog> log, int pages_in_flight = 1) {
  return [text, delay, log, pages_in_flight] {
    return std::make_unique<ScriptedBackend>(text, delay, log, pages_in_flight);
  };
}

inline app::BackendFactory scriptedFactory(const QString& sample, std::chrono::microseconds delay,
                                           std::shared_ptr<ScriptLog> log, int pages_in_flight = 1) {
  return scriptedTextFactory(readSample(sample), delay, log, pages_in_flight);
}

// The number of boxes parseGrounding finds in a sample.
inline int sampleBoxCount(const QString& sample) {
  QString text = readSample(sample);
  text.remove(kEndOfSentence);
  int boxes = 0;
  for (const Region& region : parseGrounding(text.toStdString(), 1000, 1000).regions) boxes += int(region.boxes.size());
  return boxes;
}

}  // namespace folio::test
