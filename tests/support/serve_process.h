// `weakdistill serve` started as a user starts it: the real binary, a free loopback port that it
// picks itself (--port 0) and reports in --port-file, stopped by a signal.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/temp_dir.h"

namespace weakdistill::testing {

class ServeProcess {
 public:
  // Starts `weakdistill serve <args> --port 0 --port-file F` (args are shell words) with `env`
  // ("NAME=value ...") and waits until the port file appears: clients can connect from then on.
  // Throws with the server's log if it exits first.
  // `flags` go before the command (-v, -q).
  explicit ServeProcess(const std::string& args, const std::string& env = "",
                        const std::string& flags = "") {
    const std::string cmd = std::string("exec ") + (env.empty() ? "" : "env " + env + " ") + "'" +
                            WEAKDISTILL_BIN + "' " + flags + " serve " + args +
                            " --port 0 --port-file '" + dir_.file("port") + "' 2>'" +
                            dir_.file("log") + "'";
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Waits for an event (the file), polling; a slow machine only waits longer.
    while (!std::filesystem::exists(dir_.file("port"))) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("weakdistill serve exited before listening:\n" + log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    port_ = std::stoi(read_file(dir_.file("port")));
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  std::string log() const { return read_file(dir_.file("log")); }

  // Sends `signal` and waits for the exit; returns the exit code (128 + N when a signal ended it).
  int stop(int signal = SIGTERM) {
    ::kill(pid_, signal);
    return wait();
  }
  void signal(int signal) { ::kill(pid_, signal); }
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace weakdistill::testing
