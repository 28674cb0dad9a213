// SIGTERM, SIGINT and SIGHUP (a kill, Ctrl+C in the terminal, the terminal closing) end the app the way the
// Quit command does, so the project is saved like at a normal close instead of dying mid-write.
#pragma once

#include <QObject>
#include <functional>

namespace folio::app {

// From now on those signals call `quit` on the Qt event loop's thread (never inside the signal handler).
void onTerminationSignal(QObject* context, std::function<void()> quit);

}  // namespace folio::app
