#include "weakdistill/core/subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "weakdistill/core/error.h"

namespace weakdistill {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

std::string expand_command(const std::string& templ,
                           const std::map<std::string, std::string>& values,
                           const std::string& context) {
  std::string out;
  for (std::size_t i = 0; i < templ.size(); ++i) {
    const char c = templ[i];
    if (c == '{' && i + 1 < templ.size() && templ[i + 1] == '{') {
      out += '{', ++i;
    } else if (c == '}' && i + 1 < templ.size() && templ[i + 1] == '}') {
      out += '}', ++i;
    } else if (c == '{') {
      const auto close = templ.find('}', i);
      if (close == std::string::npos)
        throw InputError(context + ": unclosed '{' in \"" + templ + "\"");
      const std::string name = templ.substr(i + 1, close - i - 1);
      const auto it = values.find(name);
      if (it == values.end()) {
        std::string known;
        for (const auto& [k, v] : values) known += (known.empty() ? "{" : ", {") + k + "}";
        throw InputError(context + ": unknown placeholder {" + name + "} (known: " + known + ")");
      }
      out += shell_quote(it->second);
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

int run_shell(const std::string& command) {
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      throw std::runtime_error(std::string("waitpid failed: ") + std::strerror(errno));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace weakdistill
