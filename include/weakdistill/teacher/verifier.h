// The character-matching checks of a parsed candidate (the paper's 二次校验;
// SPEC.md "Verification by character matching").
#pragma once

#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "weakdistill/core/sample.h"
#include "weakdistill/teacher/rejection.h"

namespace weakdistill {

struct VerifyOptions {
  // Summarization: the least share of the summary's characters (whitespace
  // excluded, counted with multiplicity) that must occur in the text.
  double min_char_overlap = 0.5;
};

class Verifier {
 public:
  // The label set (classification labels, ner entity types) is taken from
  // `labeled` unless `label_set` is non-empty. Texts of `labeled` are remembered
  // for the copy checks.
  Verifier(Task task, const std::vector<Sample>& labeled, VerifyOptions options = {},
           std::set<std::string> label_set = {});

  // Checks `candidate` (from parse_reply) generated from `seed`. On success
  // returns nullopt and, for ner, replaces the entities by their occurrences:
  // every non-overlapping occurrence of each entity string is labeled (longer
  // strings first where occurrences would overlap, then leftmost, whatever the
  // listing order), sorted by start. A string listed twice keeps its first type;
  // a string found only inside a longer entity gets no span of its own.
  // Checks, in this order: empty text, copy of seed, copy of a labeled sample,
  // copy of an accepted sample, then the task's checks. Texts are compared
  // with whitespace (utf8::is_space) removed. Task checks:
  //   classification: the label is in the label set (kLabelNotInSet);
  //   ner, entity by entity: the type is in the label set (kLabelNotInSet), the
  //     string is non-empty and occurs in the text (kEntityNotInText);
  //   summarization: the summary has a non-space character and fewer code points
  //     than the text (kSummaryInvalid), and the multiset intersection of its
  //     non-space characters with the text's, over its non-space character count,
  //     is >= min_char_overlap (kSummaryOverlapLow).
  // With an empty label set every classification label and ner type is rejected.
  std::optional<Rejection> verify(Sample& candidate, const Sample& seed) const;

  // Remembers an accepted sample so that later copies of it are rejected.
  void add_accepted(const Sample& sample);

  const std::set<std::string>& label_set() const { return label_set_; }

 private:
  Task task_;
  VerifyOptions options_;
  std::set<std::string> label_set_;
  std::unordered_set<std::string> labeled_texts_;
  std::unordered_set<std::string> accepted_texts_;
};

}  // namespace weakdistill
