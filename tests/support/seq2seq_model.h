// Small random BART / Pegasus folders for tests, written by the independent Python reference
// (tests/reference/seq2seq_reference.py), with a vocabulary of the characters a test's data uses.
#pragma once

#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/bert_model.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill::testing {

// Writes a random model to `dir` with seq2seq_reference.py `make` and `args` (e.g. "--arch bart
// --d-model 32"), then, when `texts` is not empty, rewrites vocab.txt so that its tokens after
// the five specials are the texts' characters (the vocabulary keeps its size: characters beyond
// it stay unknown; the lines after the last character keep the maker's tokens).
inline void make_seq2seq_model(const std::string& dir, const std::string& args,
                               const std::vector<std::string>& texts = {}) {
  const ReferenceRun r =
      run_reference("seq2seq_reference.py", "make " + shell_quote(dir) + " " + args);
  if (r.status != 0) throw std::runtime_error("seq2seq_reference.py make failed:\n" + r.output);
  if (texts.empty()) return;
  std::vector<std::string> lines;
  {
    std::ifstream in(dir + "/vocab.txt");
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  std::set<std::u32string> seen;
  std::size_t next = 5;
  for (const std::string& t : texts) {
    for (char32_t c : utf8::decode(t)) {
      const std::u32string one(1, c);
      if (next >= lines.size() || !seen.insert(one).second) continue;
      lines[next++] = utf8::encode(one);
    }
  }
  // A maker's token further down that is now also a data character would be a duplicate.
  for (std::size_t i = next; i < lines.size(); ++i) {
    if (seen.count(utf8::decode(lines[i]))) lines[i] = "[unused" + std::to_string(i) + "]";
  }
  std::ofstream out(dir + "/vocab.txt");
  for (const std::string& l : lines) out << l << "\n";
}

}  // namespace weakdistill::testing
