// A linear-chain CRF by enumeration of every tag path, linked only into tests:
// the oracle for the forward algorithm and Viterbi in src/student/neural/crf.h.
// Plain doubles on std::vector; exponential in the length, so keep T^L small.
#pragma once

#include <string>
#include <vector>

namespace weakdistill::reference {

// One sequence and the CRF's scores. emissions [n][T], transitions [T][T]
// ([i][j]: tag i followed by tag j), start [T], end [T].
struct CrfCase {
  std::vector<std::vector<double>> emissions;
  std::vector<std::vector<double>> transitions;
  std::vector<double> start;
  std::vector<double> end;
  // When non-empty, the tag names; then only paths that are valid BIO count.
  std::vector<std::string> bio_tags;
};

// True when `tags` is valid BIO: every I-X follows a B-X or an I-X.
bool is_valid_bio(const std::vector<std::string>& tags);

// The score of one path: start + emissions + transitions + end.
double path_score(const CrfCase& c, const std::vector<int>& path);

// log of the sum of exp(path_score) over every path (all T^n, or the valid BIO
// ones); -inf when there are none.
double brute_force_log_partition(const CrfCase& c);

// The highest-scoring path and its score (the first in enumeration order on ties).
std::pair<std::vector<int>, double> brute_force_best_path(const CrfCase& c);

// [n][T]: the probability that position t has tag j (what d log Z / d emission is).
std::vector<std::vector<double>> brute_force_marginals(const CrfCase& c);

}  // namespace weakdistill::reference
