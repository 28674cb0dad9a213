// A miniature model with synthetic weights for tests, written by folio-cli synth-weights through the real
// checkpoint path: tests/data/mini_config.json (DeepSeek-OCR) or mini_ocr2_config.json (DeepSeek-OCR-2).
#pragma once

#include <QProcess>
#include <QString>

#include "folio_test.h"

namespace folio::test {

// False, with the CLI's message in *error, when synth-weights fails.
inline bool writeMiniModel(const QString& folder, const QString& config = "mini_config.json",
                           QString* error = nullptr) {
  QProcess synth;
  synth.start(FOLIO_CLI_PATH, {"synth-weights", "--config", QString(FOLIO_SOURCE_DIR "/tests/data/") + config,
                               "--tokenizer", QString::fromStdString(sharedPath("model/tokenizer.json")), "-o", folder});
  const bool ok = synth.waitForFinished(600000) && synth.exitStatus() == QProcess::NormalExit && synth.exitCode() == 0;
  if (!ok && error) *error = QString::fromUtf8(synth.readAllStandardError());
  return ok;
}

}  // namespace folio::test
