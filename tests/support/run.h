// Runs the weakdistill binary as a user would and captures what it printed.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "support/temp_dir.h"

namespace weakdistill::testing {

struct Result {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs `WEAKDISTILL_BIN args` through the shell (args are shell words, quote
// them yourself) with stdout and stderr captured. `env` ("NAME=value ...", shell
// words) is set for this run only.
inline Result run_cli(const std::string& args, const std::string& env = "") {
  TempDir dir;
  const std::string cmd = (env.empty() ? "" : "env " + env + " ") + "'" + WEAKDISTILL_BIN + "' " +
                          args + " >'" + dir.file("out") + "' 2>'" + dir.file("err") + "'";
  const int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(dir.file("out"));
  r.err = read_file(dir.file("err"));
  return r;
}

}  // namespace weakdistill::testing
