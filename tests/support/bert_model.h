// Small random BERT folders for tests, written by the independent Python
// reference (tests/reference/bert_reference.py, Debian's python3-torch), and a
// reader for the .npy files its `forward` writes.
#pragma once

#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace weakdistill::testing {

inline std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs tests/reference/<script> with Debian's python3 and `args` (already quoted where needed);
// returns its exit status and output (stdout and stderr).
struct ReferenceRun {
  int status = -1;
  std::string output;
};
inline ReferenceRun run_reference(const std::string& script, const std::string& args) {
  const std::string path = std::string(WEAKDISTILL_SOURCE_DIR) + "/tests/reference/" + script;
  const std::string command = "/usr/bin/python3 " + shell_quote(path) + " " + args + " 2>&1";
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + command);
  ReferenceRun r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs tests/reference/bert_reference.py with `args`; throws with the command and its output
// on failure.
inline void bert_reference(const std::string& args) {
  const ReferenceRun r = run_reference("bert_reference.py", args);
  if (r.status != 0) throw std::runtime_error("bert_reference.py " + args + " failed:\n" + r.output);
}

// A float32 .npy array: its shape and values (C order).
struct Npy {
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

inline Npy read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < 10 || data.compare(0, 6, "\x93NUMPY") != 0)
    throw std::runtime_error(path + ": not .npy");
  std::size_t header_len, start;
  if (data[6] == 1) {
    header_len = static_cast<unsigned char>(data[8]) | (static_cast<unsigned char>(data[9]) << 8);
    start = 10;
  } else {
    header_len = 0;
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<std::size_t>(static_cast<unsigned char>(data[8 + i])) << (8 * i);
    start = 12;
  }
  const std::string header = data.substr(start, header_len);
  if (header.find("'<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos) {
    throw std::runtime_error(path + ": not a C-order float32 array: " + header);
  }
  Npy out;
  const auto open = header.find('(', header.find("'shape'"));
  const auto close = header.find(')', open);
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  std::string d;
  std::int64_t n = 1;
  while (std::getline(dims, d, ',')) {
    if (d.find_first_not_of(' ') == std::string::npos) continue;
    out.shape.push_back(std::stoll(d));
    n *= out.shape.back();
  }
  out.values.resize(static_cast<std::size_t>(n));
  if (data.size() < start + header_len + out.values.size() * 4)
    throw std::runtime_error(path + ": truncated");
  std::memcpy(out.values.data(), data.data() + start + header_len, out.values.size() * 4);
  return out;
}

}  // namespace weakdistill::testing
