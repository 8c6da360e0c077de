// Strict reading and atomic writing of JSON Lines datasets (docs/FORMATS.md).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "weakdistill/core/sample.h"

namespace weakdistill {

struct ReadOptions {
  // Predictions may omit "text" (eval then checks entity offsets against the
  // gold text) and may have an empty summary.
  bool prediction = false;
  // Inputs to predict: "text" is required, the task's label fields are
  // optional (checked when present).
  bool unlabeled = false;
  // An empty file (no non-blank line) is an error unless this is set.
  bool allow_empty = false;
  // Longer lines are rejected: a sample this big is a broken file, not data.
  std::size_t max_line_bytes = std::size_t{4} << 20;
};

// A dataset and where each sample came from.
struct Dataset {
  Task task = Task::kClassification;
  std::string path;  // the file it was read from ("" if built in memory)
  std::vector<Sample> samples;
  std::vector<std::size_t> lines;  // 1-based line number of each sample in `path`
};

// Values nested deeper than this are refused by the readers (JSON Lines, teacher
// replies): nlohmann parses without recursion but copies, compares and prints
// values recursively, so a line of a million '[' would overflow the stack.
inline constexpr std::size_t kMaxJsonNesting = 64;

// The deepest nesting of arrays and objects in the JSON text `text` (0 for a
// scalar, 1 for [1, 2], 2 for {"a": [1]}); strings are skipped, brackets need
// not balance. Linear, without recursion.
std::size_t json_nesting(std::string_view text);

// Reads a JSON Lines file of `task` samples. Blank lines are skipped; a UTF-8
// BOM and CRLF line ends are accepted. Throws InputError naming path:line and
// the problem for: invalid UTF-8, a line that is not a JSON object, a missing
// or mistyped field, entity offsets outside the text or not matching the
// entity's "text", overlapping entities, an over-long line, values nested deeper
// than kMaxJsonNesting, an empty file.
Dataset read_jsonl(const std::string& path, Task task, const ReadOptions& options = {});

// Parses one line (already free of its line end) into a sample. `where` is
// prefixed to error messages (usually "path:line").
Sample parse_sample(const std::string& line, Task task, const ReadOptions& options,
                    const std::string& where);

// Writes the samples atomically, one compact JSON object per line.
void write_jsonl(const std::string& path, const std::vector<Sample>& samples, Task task);

// Checks that `entities` fit `text` (code points) and do not overlap, sorts them
// by start and fills any empty entity text. Throws InputError prefixed by `where`.
void check_entities(const std::u32string& text, std::vector<Entity>& entities,
                    const std::string& where);

}  // namespace weakdistill
