// What the fuzz targets share: the Bug exception, in-memory and temporary files,
// the list of inputs the unit suites replay, and the libFuzzer entry body.
//
// Each target is a header-only function (tests/fuzz/<target>_target.h) so that
// the libFuzzer programs (tests/fuzz/<target>_fuzzer.cc, built by the clang-only
// project in tests/fuzz/) and the ordinary GoogleTest suites (built by GCC)
// replay the same checks on the corpus and the regression inputs.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

namespace weakdistill::fuzz {

// An input showed a bug: an undocumented exception escaped the code under test,
// or one of the target's invariants does not hold. The fuzzer programs abort on
// it (a crash for libFuzzer); the unit tests fail with its message.
class Bug : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Throws Bug unless `condition`.
inline void expect(bool condition, const std::string& what) {
  if (!condition) throw Bug("invariant broken: " + what);
}

// Wraps an exception the code under test must not throw.
inline Bug undocumented(const std::exception& e) {
  return Bug(std::string("undocumented exception ") + typeid(e).name() + ": " + e.what());
}

// A file held in memory (memfd), reopened by path for each input, so that the
// readers run their real file code without touching the disk. One per target and
// thread; not thread-safe.
class MemoryFile {
 public:
  explicit MemoryFile(const char* name) : fd_(::memfd_create(name, 0)) {
    if (fd_ < 0) throw std::runtime_error("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemoryFile() { ::close(fd_); }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  // Replaces the content; returns a path that opens it.
  const std::string& write(std::string_view content) {
    if (::ftruncate(fd_, 0) != 0) throw std::runtime_error("ftruncate failed");
    std::size_t done = 0;
    while (done < content.size()) {
      const ssize_t n =
          ::pwrite(fd_, content.data() + done, content.size() - done, static_cast<off_t>(done));
      if (n <= 0) throw std::runtime_error("pwrite failed");
      done += static_cast<std::size_t>(n);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

// A path in the temp folder for a writer under test (write_jsonl, write_bio:
// they write a temporary file and rename it, which a memfd cannot do), removed
// at exit. One per target and process.
class TempPath {
 public:
  explicit TempPath(const char* name)
      : path_((std::filesystem::temp_directory_path() /
               ("weakdistill-fuzz-" + std::to_string(::getpid()) + "-" + name))
                  .string()) {}
  ~TempPath() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  TempPath(const TempPath&) = delete;
  TempPath& operator=(const TempPath&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The first byte of an input chooses a target's mode; the rest is the data.
struct Split {
  std::uint8_t mode = 0;
  std::string_view data;
};
inline Split split_mode(std::string_view input) {
  if (input.empty()) return {};
  return {static_cast<std::uint8_t>(input[0]), input.substr(1)};
}

// The files of tests/fuzz/corpus/<target>/ and tests/fuzz/regressions/<target>/
// in the source tree `root`, sorted: what the unit suites replay.
inline std::vector<std::filesystem::path> replay_inputs(const std::filesystem::path& root,
                                                        const std::string& target) {
  std::vector<std::filesystem::path> out;
  for (const char* kind : {"corpus", "regressions"}) {
    const auto dir = root / "tests" / "fuzz" / kind / target;
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.is_regular_file()) out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string read_input(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// The body of LLVMFuzzerTestOneInput: runs `target` on the input and aborts
// (which libFuzzer reports as a crash, keeping the input) on anything it throws.
inline int run_fuzz_input(void (*target)(std::string_view), const std::uint8_t* data,
                          std::size_t size) {
  try {
    target(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "==weakdistill fuzz== %s\n", e.what());
    std::abort();
  }
  return 0;
}

}  // namespace weakdistill::fuzz
