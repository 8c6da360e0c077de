// Writes a file so that readers see either the old file or the whole new one,
// never a half-written one: the data goes to a temporary file in the same
// folder, which is renamed over the target on commit().
#pragma once

#include <fstream>
#include <functional>
#include <string>
#include <string_view>

namespace weakdistill {

class AtomicFile {
 public:
  // Opens a temporary file beside `path`. Throws std::runtime_error when the
  // folder cannot be written.
  explicit AtomicFile(std::string path);
  // Removes the temporary file unless commit() succeeded.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  // Flushes, fsyncs and renames the temporary file over `path`.
  void commit();

 private:
  std::string path_;
  std::string tmp_path_;
  std::ofstream out_;
  bool committed_ = false;
};

// Writes `content` to `path` atomically.
void write_file_atomically(const std::string& path, std::string_view content);

// Builds the folder `dir` so that it is never half-made: `fill` writes into a new temporary
// folder beside `dir`, which then replaces `dir` (an existing `dir` is moved aside first and
// removed after). When `fill` throws, the temporary folder is removed, `dir` is left as it
// was, and the exception propagates. Parent folders are created.
void build_folder_atomically(const std::string& dir,
                             const std::function<void(const std::string& tmp)>& fill);

}  // namespace weakdistill
