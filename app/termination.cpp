#include "termination.h"

#include <QSocketNotifier>
#include <csignal>
#include <sys/socket.h>
#include <unistd.h>

namespace folio::app {
namespace {

int signal_pipe[2] = {-1, -1};

// Only async-signal-safe work here: one byte down the socket wakes the event loop.
void forwardSignal(int) {
  const char byte = 1;
  [[maybe_unused]] auto written = ::write(signal_pipe[0], &byte, 1);
}

}  // namespace

void onTerminationSignal(QObject* context, std::function<void()> quit) {
  if (signal_pipe[0] < 0 && ::socketpair(AF_UNIX, SOCK_STREAM, 0, signal_pipe) != 0) return;
  auto* notifier = new QSocketNotifier(signal_pipe[1], QSocketNotifier::Read, context);
  QObject::connect(notifier, &QSocketNotifier::activated, context, [quit = std::move(quit)] {
    char byte;
    [[maybe_unused]] auto read = ::read(signal_pipe[1], &byte, 1);
    quit();
  });
  struct sigaction action {};
  action.sa_handler = forwardSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) sigaction(signal, &action, nullptr);
}

}  // namespace folio::app
