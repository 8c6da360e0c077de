// Decoding a Seq2SeqModel (seq2seq.h): greedy and beam search, batched, one token a step over the
// decoder's key/value cache. Private to src/student/.
//
// Each row starts from config.decoder_start_token_id; g counts the tokens generated so far. A
// step's scores are log_softmax of the logits over the vocabulary, then, as transformers'
// logits processors do: the tokens that would repeat an n-gram of the row (start token included)
// get -inf (no_repeat_ngram); eos gets -inf while g < min_new_tokens; at g = 0 a
// forced_bos_token_id takes score 0 and every other token -inf; at g = max_new_tokens - 1 eos
// does the same (so every row ends). A row ends when it takes eos.
// Greedy takes the best token (the lowest id on ties). Beam search keeps the `beam` best
// unfinished rows by summed score; every live row's eos candidate becomes a finished hypothesis,
// scored sum / length^length_penalty (length: generated tokens, eos included). An item stops when
// no row is live, or when its best finished hypothesis scores at least what its best live row
// could still reach (sums only fall as tokens are added): an exact rule, not transformers'
// heuristic, so a beam as wide as every prefix still finds the best sequence.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "seq2seq.h"

namespace weakdistill::student_internal {

struct GenerateOptions {
  // Tokens generated at most, the final eos included (1 or more).
  int max_new_tokens = 64;
  // eos is not taken before this many tokens are generated.
  int min_new_tokens = 0;
  // Beam width; 1 is greedy.
  int beam = 1;
  // Exponent of the length dividing a hypothesis' summed score.
  double length_penalty = 1.0;
  // No n-gram of this size appears twice in a row's tokens; 0 = off.
  int no_repeat_ngram = 0;
};

struct Generated {
  std::vector<std::int64_t> tokens;  // generated ids, the final eos included (not the start)
  double sum_logprob = 0;            // of the scores above (forced tokens count 0)
  double score = 0;                  // sum_logprob / tokens.size()^length_penalty
};

// Decodes each source row of ids [B, S] with mask [B, S]. The model should be in eval mode and
// the caller in an InferenceMode or NoGrad scope.
std::vector<Generated> generate(Seq2SeqModelImpl& model, const torch::Tensor& ids,
                                const torch::Tensor& mask, const GenerateOptions& options);

// The tokens `sequence` (ids, start token first) may not take next under no_repeat_ngram `n`.
std::vector<std::int64_t> banned_by_ngram(const std::vector<std::int64_t>& sequence, int n);

}  // namespace weakdistill::student_internal
