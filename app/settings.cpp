#include "settings.h"

#include "local_engine_backend.h"

namespace folio::app {

RemoteOptions remoteOptions(const AppSettings& settings) {
  RemoteOptions options;
  options.endpoints =
      parseEndpoints(settings.remote_endpoints, settings.remote_pages_per_server, settings.remote_api_key);
  options.model = settings.remote_model;
  return options;
}

BackendFactory backendFactory(const AppSettings& settings) {
  if (settings.remote) return remoteBackendFactory(remoteOptions(settings));
  return localEngineFactory(settings.model_dir, settings.device, settings.eight_bit);
}

QString deviceName(Device device) {
  switch (device) {
    case Device::Cpu: return QStringLiteral("cpu");
    case Device::Cuda: return QStringLiteral("cuda");
    case Device::Auto: break;
  }
  return QStringLiteral("auto");
}

Device deviceFromName(const QString& name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  return Device::Auto;
}

QString eightBitName(EngineOptions::EightBit choice) {
  switch (choice) {
    case EngineOptions::EightBit::On: return QStringLiteral("on");
    case EngineOptions::EightBit::Off: return QStringLiteral("off");
    case EngineOptions::EightBit::Auto: break;
  }
  return QStringLiteral("auto");
}

EngineOptions::EightBit eightBitFromName(const QString& name) {
  if (name == "on") return EngineOptions::EightBit::On;
  if (name == "off") return EngineOptions::EightBit::Off;
  return EngineOptions::EightBit::Auto;
}

// Mode and task names are stored as indices so app/ needs no engine code to read them back.
AppSettings AppSettings::load(QSettings& settings) {
  AppSettings loaded;
  loaded.model_dir = settings.value("model_dir").toString();
  loaded.device = deviceFromName(settings.value("device", "auto").toString());
  loaded.eight_bit = eightBitFromName(settings.value("eight_bit", "auto").toString());
  loaded.remote = settings.value("backend", "local").toString() == "remote";
  loaded.remote_endpoints = settings.value("remote_endpoints").toString();
  loaded.remote_model = settings.value("remote_model").toString();
  loaded.remote_api_key = settings.value("remote_api_key").toString();
  loaded.remote_pages_per_server = std::clamp(settings.value("remote_pages_per_server", 8).toInt(), 1, 256);
  loaded.mode = static_cast<Mode>(std::clamp(settings.value("mode", int(Mode::Gundam)).toInt(), 0, 4));
  loaded.task = static_cast<Task>(std::clamp(settings.value("task", int(Task::Markdown)).toInt(), 0, 5));
  loaded.dpi = std::clamp(settings.value("dpi", 144.0).toDouble(), kMinDpi, kMaxDpi);
  loaded.max_tokens = std::clamp(settings.value("max_tokens", 8192).toInt(), 16, 8192);
  loaded.page_markers = settings.value("page_markers", true).toBool();
  loaded.last_project = settings.value("last_project").toString();
  return loaded;
}

void AppSettings::save(QSettings& settings) const {
  settings.setValue("model_dir", model_dir);
  settings.setValue("device", deviceName(device));
  settings.setValue("eight_bit", eightBitName(eight_bit));
  settings.setValue("backend", remote ? "remote" : "local");
  settings.setValue("remote_endpoints", remote_endpoints);
  settings.setValue("remote_model", remote_model);
  settings.setValue("remote_api_key", remote_api_key);
  settings.setValue("remote_pages_per_server", remote_pages_per_server);
  settings.setValue("mode", int(mode));
  settings.setValue("task", int(task));
  settings.setValue("dpi", dpi);
  settings.setValue("max_tokens", max_tokens);
  settings.setValue("page_markers", page_markers);
  settings.setValue("last_project", last_project);
}

}  // namespace folio::app
