// Fuzz target: the character-level BIO reader (core/bio.h).
//
// Input: the file, as is.
//
// Allowed: a Dataset, or InputError. A bug: any other exception, or a dataset
// that breaks the reader's promises (non-empty ner samples, first lines
// increasing, entities inside the text, sorted, non-overlapping, their text the
// covered span), or one that does not survive write_bio -> read_bio: same
// texts, same entities, no repairs. write_bio may refuse (InputError) only a
// dataset with a line break in a text, as documented.
#pragma once

#include <string>
#include <string_view>

#include "fuzz/jsonl_target.h"
#include "fuzz/target_support.h"
#include "weakdistill/core/bio.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill::fuzz {

inline void bio_target(std::string_view input) {
  static MemoryFile file("bio-fuzz");
  Dataset ds;
  std::size_t repairs = 0;
  try {
    ds = read_bio(file.write(input), &repairs);
  } catch (const InputError&) {
    return;
  } catch (const std::exception& e) {
    throw undocumented(e);
  }
  expect(!ds.samples.empty(), "a dataset read has samples");
  expect(ds.samples.size() == ds.lines.size(), "one line number per sample");
  ReadOptions labeled;
  for (std::size_t k = 0; k < ds.samples.size(); ++k) {
    expect(k == 0 || ds.lines[k - 1] < ds.lines[k], "line numbers increase");
    check_jsonl_sample(ds.samples[k], Task::kNer, labeled);
  }

  static TempPath written("bio");
  try {
    write_bio(written.path(), ds.samples);
  } catch (const InputError& e) {
    // Documented: a text with a line break (a token "\r") cannot be written.
    for (const Sample& s : ds.samples) {
      if (s.text.find_first_of("\r\n") != std::string::npos) return;
    }
    throw Bug(std::string("write_bio refuses a dataset read: ") + e.what());
  } catch (const std::exception& e) {
    throw undocumented(e);
  }
  Dataset back;
  std::size_t back_repairs = 0;
  try {
    back = read_bio(written.path(), &back_repairs);
  } catch (const std::exception& e) {
    throw Bug(std::string("BIO written from a dataset read does not read back: ") + e.what());
  }
  expect(back_repairs == 0, "BIO written by write_bio needs no repairs");
  expect(back.samples.size() == ds.samples.size(), "BIO round trip keeps the sentence count");
  for (std::size_t k = 0; k < ds.samples.size(); ++k) {
    expect(back.samples[k].text == ds.samples[k].text, "BIO round trip keeps the text");
    expect(back.samples[k].entities == ds.samples[k].entities, "BIO round trip keeps the entities");
  }
}

}  // namespace weakdistill::fuzz
