// Fuzz target: the JSON Lines reader (core/jsonl.h).
//
// Input: one mode byte, then the file. mode % 3 is the task (0 classification,
// 1 ner, 2 summarization); the bits of (mode / 3) % 16 set ReadOptions: 1
// prediction, 2 unlabeled, 4 allow_empty, 8 max_line_bytes = 64. So a seed that
// starts with '0', '1' or '2' is a labeled file of that task with the defaults.
//
// Allowed: a Dataset, or InputError. A bug: any other exception, or a dataset
// that breaks the reader's promises (one line number per sample, increasing;
// ner entities inside the text, sorted, non-overlapping, their text the covered
// span) or, with the default options, a dataset that does not survive
// write_jsonl -> read_jsonl unchanged.
#pragma once

#include <string>
#include <string_view>

#include "fuzz/target_support.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill::fuzz {

inline void check_jsonl_sample(const Sample& s, Task task, const ReadOptions& options) {
  expect(!utf8::find_invalid(s.text), "text is valid UTF-8");
  if (!options.prediction) expect(!s.text.empty(), "a labeled text is not empty");
  if (task == Task::kNer && !s.text.empty()) {
    const std::u32string text = utf8::decode(s.text);
    for (std::size_t k = 0; k < s.entities.size(); ++k) {
      const Entity& e = s.entities[k];
      expect(e.start < e.end && e.end <= text.size(), "entity span inside the text");
      expect(utf8::encode(text.substr(e.start, e.end - e.start)) == e.text,
             "entity text is the covered span");
      expect(k == 0 || s.entities[k - 1].end <= e.start, "entities sorted, not overlapping");
    }
  }
}

inline bool same_sample(const Sample& a, const Sample& b) {
  return a.id == b.id && a.text == b.text && a.label == b.label && a.entities == b.entities &&
         a.summary == b.summary && a.extra == b.extra;
}

inline void jsonl_target(std::string_view input) {
  static MemoryFile file("jsonl-fuzz");
  const Split in = split_mode(input);
  const Task task = static_cast<Task>(in.mode % 3);
  const unsigned flags = (in.mode / 3) % 16;
  ReadOptions options;
  options.prediction = flags & 1;
  options.unlabeled = flags & 2;
  options.allow_empty = flags & 4;
  if (flags & 8) options.max_line_bytes = 64;
  const std::string& path = file.write(in.data);

  Dataset ds;
  try {
    ds = read_jsonl(path, task, options);
  } catch (const InputError&) {
    return;
  } catch (const std::exception& e) {
    throw undocumented(e);
  }
  expect(ds.samples.size() == ds.lines.size(), "one line number per sample");
  expect(!ds.samples.empty() || options.allow_empty, "an empty dataset only with allow_empty");
  for (std::size_t k = 0; k < ds.samples.size(); ++k) {
    expect(k == 0 || ds.lines[k - 1] < ds.lines[k], "line numbers increase");
    check_jsonl_sample(ds.samples[k], task, options);
  }
  if (options.prediction || options.unlabeled) return;  // to_json writes every field
  static TempPath written("jsonl");
  Dataset back;
  try {
    write_jsonl(written.path(), ds.samples, task);
    back = read_jsonl(written.path(), task, options);
  } catch (const std::exception& e) {
    throw Bug(std::string("a dataset read does not write and read back: ") + e.what());
  }
  expect(back.samples.size() == ds.samples.size(), "write -> read keeps the sample count");
  for (std::size_t k = 0; k < ds.samples.size(); ++k) {
    expect(same_sample(ds.samples[k], back.samples[k]),
           "write -> read keeps sample " + std::to_string(k) + ": " +
               to_json(ds.samples[k], task)
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
}

}  // namespace weakdistill::fuzz
