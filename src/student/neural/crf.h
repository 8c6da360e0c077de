// A linear-chain conditional random field over T tags, for sequence labelling
// on top of per-position tag scores (emissions). Private to src/student/.
//
// Shapes: B sequences in a batch, L positions (the longest sequence), T tags.
// A batch is left-aligned: sequence b occupies positions [0, length_b) with
// length_b >= 1, and `mask` [B, L] is true exactly there.
//
// The score of a tag path y over emissions e of one sequence of length n is
//   s(y) = start[y_0] + sum_t e[t][y_t] + sum_{t>0} transitions[y_{t-1}][y_t] + end[y_{n-1}]
// and p(y) = exp(s(y)) / Z with Z = sum over all allowed paths of exp(s(y')).
// Forbidden transitions (BIO: O→I-X, B-X→I-Y, I-X→I-Y, start→I-X) score -inf,
// so they have probability 0 and are never decoded.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace weakdistill::student_internal {

// Which transitions BIO allows between `tags` ("O", "B-X", "I-X"): I-X may only
// follow B-X or I-X of the same type, and may not start a sequence.
struct BioAllowed {
  torch::Tensor transitions;  // [T, T] bool; [i][j]: tag i may be followed by tag j
  torch::Tensor start;        // [T] bool; tag j may start a sequence
};
BioAllowed bio_allowed(const std::vector<std::string>& tags);

// One decoded sequence: its best tag path (length_b tag ids), the path's score
// s(y) and the log-partition log Z, so that log p(y) = score - log_z.
struct CrfDecoded {
  std::vector<std::int64_t> tags;
  double score = 0;
  double log_z = 0;
};

class CrfImpl : public torch::nn::Module {
 public:
  // A CRF with every transition allowed; parameters start at zero.
  explicit CrfImpl(std::int64_t num_tags);

  // Forbids what `allowed` marks false (adds -inf to those scores).
  void set_allowed(const BioAllowed& allowed);

  std::int64_t num_tags() const { return num_tags_; }

  // log Z of each sequence, differentiable: [B] from emissions [B, L, T] float
  // and mask [B, L] bool. The forward algorithm in tensor operations.
  torch::Tensor log_partition(const torch::Tensor& emissions, const torch::Tensor& mask);

  // s(y) of the given paths, differentiable: [B] from emissions [B, L, T],
  // tags [B, L] int64 (any allowed tag id where mask is false) and mask [B, L].
  // The paths must be allowed (a forbidden step scores -inf).
  torch::Tensor path_score(const torch::Tensor& emissions, const torch::Tensor& tags,
                           const torch::Tensor& mask);

  // Negative log-likelihood of the paths, log Z - s(y): [B].
  torch::Tensor nll(const torch::Tensor& emissions, const torch::Tensor& tags,
                    const torch::Tensor& mask) {
    return log_partition(emissions, mask) - path_score(emissions, tags, mask);
  }

  // Viterbi decoding and log Z of every sequence, not differentiable: plain
  // loops in double precision over emissions [B, L, T] (any float type, CPU),
  // with lengths[b] >= 1 the positions of sequence b. Ties go to the lower tag
  // id. This is the inference path; it costs O(B·L·T²) with no tensor overhead.
  std::vector<CrfDecoded> decode(const torch::Tensor& emissions,
                                 const std::vector<std::int64_t>& lengths) const;

  // The scores actually used (parameters plus the -inf of forbidden moves):
  // [T, T], [T] and [T].
  torch::Tensor effective_transitions() const { return transitions_ + forbidden_; }
  torch::Tensor effective_start() const { return start_ + forbidden_start_; }
  const torch::Tensor& end() const { return end_; }
  // The learned parameters alone (no -inf): [T, T] and [T].
  const torch::Tensor& transitions() const { return transitions_; }
  const torch::Tensor& start() const { return start_; }

 private:
  std::int64_t num_tags_;
  torch::Tensor transitions_;      // [T, T] parameter; [i][j]: tag i followed by tag j
  torch::Tensor start_;            // [T] parameter: tag j starts a sequence
  torch::Tensor end_;              // [T] parameter: tag i ends a sequence
  torch::Tensor forbidden_;        // [T, T] buffer, 0 or -inf
  torch::Tensor forbidden_start_;  // [T] buffer, 0 or -inf
};
TORCH_MODULE(Crf);

}  // namespace weakdistill::student_internal
