// Ctrl-C (SIGINT) and SIGTERM for the long commands: the first asks the work to stop at its
// next safe point, a second one exits at once. Either way the exit code is 128 + the signal's
// number, as a shell reports a process that a signal ended: 130 for SIGINT, 143 for SIGTERM.
#pragma once

#include <atomic>

namespace weakdistill::cli {

// Installs the handlers (once) and returns the flag they set.
const std::atomic<bool>* install_interrupt_handler();

// Restores the default actions (a later signal ends the process as usual).
void remove_interrupt_handler();

// 128 + the number of the first signal received (130 when none was: a cancel by other means).
int interrupted_exit_code();

// "SIGINT" or "SIGTERM": the first signal received, for messages.
const char* interrupting_signal_name();

}  // namespace weakdistill::cli
