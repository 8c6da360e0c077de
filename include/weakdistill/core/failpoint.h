// Crash points for the kill -9 tests (tests/cli/crash_test.cc): with the environment variable
// WEAKDISTILL_CRASH_AT="<name>[:<n>]", the n-th pass (default the first) through
// failpoint("<name>") kills the process with SIGKILL, exactly as `kill -9` would at that
// moment: no destructors, no flushing. Without the variable (always, outside those tests) a
// failpoint costs a load of a flag read once.
#pragma once

namespace weakdistill {

void failpoint(const char* name);

}  // namespace weakdistill
