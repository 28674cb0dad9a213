// The user's settings, kept in QSettings.
#pragma once

#include <folio/engine.h>

#include "ocr_backend.h"
#include "remote_backend.h"

#include <QSettings>
#include <QString>

namespace folio::app {

// The resolutions PDF pages may be rasterised at (Settings offers them; a loaded project is held to them).
inline constexpr double kMinDpi = 36, kMaxDpi = 600;

struct AppSettings {
  QString model_dir;  // empty: search (folio::findModel)
  Device device = Device::Auto;
  EngineOptions::EightBit eight_bit = EngineOptions::EightBit::Auto;  // the decoder's weights in 8 bits
  // Pages read by OpenAI-compatible OCR servers (remote_backend.h) instead of this machine.
  bool remote = false;
  QString remote_endpoints;  // a URL a line (or comma), each optionally followed by its own API key
  QString remote_model;      // empty: the servers' first
  QString remote_api_key;    // for the URLs without their own; empty: $OPENAI_API_KEY
  int remote_pages_per_server = 8;
  Mode mode = Mode::Gundam;
  Task task = Task::Markdown;
  double dpi = 144;
  int max_tokens = 8192;  // most tokens the model writes per page
  bool page_markers = true;
  QString last_project;

  static AppSettings load(QSettings& settings);
  void save(QSettings& settings) const;
};

// What reads the pages with these settings: the local engine, or the remote servers.
BackendFactory backendFactory(const AppSettings& settings);
RemoteOptions remoteOptions(const AppSettings& settings);

QString deviceName(Device device);
Device deviceFromName(const QString& name);
QString eightBitName(EngineOptions::EightBit choice);  // "auto", "on", "off"
EngineOptions::EightBit eightBitFromName(const QString& name);

}  // namespace folio::app
