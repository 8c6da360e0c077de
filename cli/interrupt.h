// Ctrl-C (SIGINT) and SIGTERM for the long commands: the first asks the work to stop at its
// next safe point, a second one exits at once (130).
#pragma once

#include <atomic>

namespace weakdistill::cli {

// Installs the handlers (once) and returns the flag they set.
const std::atomic<bool>* install_interrupt_handler();

}  // namespace weakdistill::cli
