#include "interrupt.h"

#include <csignal>
#include <cstdlib>

namespace weakdistill::cli {
namespace {

std::atomic<bool> g_cancel{false};
std::atomic<int> g_signal{0};

void on_signal(int signal) {
  int none = 0;
  g_signal.compare_exchange_strong(none, signal);
  // A second signal while the work winds down stops at once.
  if (g_cancel.exchange(true)) std::_Exit(128 + signal);
}

}  // namespace

const std::atomic<bool>* install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  return &g_cancel;
}

void remove_interrupt_handler() {
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

int interrupted_exit_code() {
  const int signal = g_signal.load();
  return 128 + (signal != 0 ? signal : SIGINT);
}

const char* interrupting_signal_name() { return g_signal.load() == SIGTERM ? "SIGTERM" : "SIGINT"; }

}  // namespace weakdistill::cli
