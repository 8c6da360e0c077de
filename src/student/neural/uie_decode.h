// UIE's span decoding (PaddleNLP's get_bool_ids_greater_than and get_span)
// and the rule that turns the spans of several entity types into one sorted,
// non-overlapping entity list. No libtorch: plain vectors. Private to
// src/student/ (the `uie` student and its tests).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace weakdistill::student_internal {

// A decoded span of token positions [start, end] (both inclusive, as UIE's
// pointers are) with p_start[start] * p_end[end], UIE's "probability".
struct UieSpan {
  std::size_t start = 0, end = 0;
  double prob = 0;
  friend bool operator==(const UieSpan&, const UieSpan&) = default;
};

// The spans of one (prompt, text) row. p_start and p_end hold n probabilities.
// A position is a start when p_start > threshold (strictly: a probability
// equal to the threshold is not), an end likewise. Each end is paired with
// the latest start that lies after the previous end (start or not, paired or
// not) and at or before it; an end with no such start, and every start not so
// chosen, is dropped. This is what PaddleNLP's get_span computes with its
// merge of the two sorted lists, so a type's spans never overlap or nest.
// Returned in position order.
std::vector<UieSpan> uie_spans(const float* p_start, const float* p_end, std::size_t n,
                               double threshold);

// A candidate entity on the text's code points [begin, end), of `type`
// (an index into the student's types), with its UIE probability.
struct UieCandidate {
  std::size_t begin = 0, end = 0;
  std::size_t type = 0;
  double prob = 0;
};

// Keeps a non-overlapping subset, greedily by probability: candidates in
// order of falling prob (ties: the earlier begin, then the shorter, then the
// lower type index) are kept unless they overlap one already kept (share a
// code point; an empty candidate is dropped). Returns the kept ones sorted by
// begin. Duplicates (the same span found by two overlapping windows) collapse
// to one.
std::vector<UieCandidate> uie_resolve_overlaps(std::vector<UieCandidate> candidates);

}  // namespace weakdistill::student_internal
