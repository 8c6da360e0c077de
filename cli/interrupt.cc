#include "interrupt.h"

#include <csignal>
#include <cstdlib>

namespace weakdistill::cli {
namespace {

std::atomic<bool> g_cancel{false};

void on_signal(int) {
  // A second Ctrl-C while the work winds down stops at once.
  if (g_cancel.exchange(true)) std::_Exit(130);
}

}  // namespace

const std::atomic<bool>* install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  return &g_cancel;
}

}  // namespace weakdistill::cli
