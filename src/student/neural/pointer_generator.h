// The `pointer-generator` summarizer: a character-level encoder-decoder with
// attention and a copy mechanism (See et al., 2017, "Get To The Point:
// Summarization with Pointer-Generator Networks"), with optional coverage.
//
// Layer order (B batch, S source chars, E embedding_dim, H hidden, V vocabulary):
//   source ids [B,S] -> embedding [B,S,E] -> dropout -> BiLSTM (H/2 each way)
//     -> memory [B,S,H]; the final forward/backward states [B,H] -> ReLU(Linear)
//     -> the decoder's first (h, c)
//   each decoder step, previous char y [B] -> embedding [B,E] -> dropout;
//     x = Linear([emb; context]) [B,E]; (h, c) = LSTMCell(x, (h, c)) [B,H]
//     attention a = softmax_S(v · tanh(W_h memory + W_s [h; c] + w_c coverage)) [B,S]
//     context = a · memory [B,H]; coverage += a (when on)
//     p_gen = sigmoid(w · [context; h; c; x]) [B,1]
//     P_vocab = softmax(Linear_V(dropout(Linear([h; context])))) [B,V]
//     P(w) = p_gen P_vocab(w) + (1 - p_gen) sum_{i: source_i = w} a_i over the
//     extended vocabulary: V plus the sample's own out-of-vocabulary chars, so a
//     char never seen in training can be copied from the source and emitted.
// Loss: the mean over target chars (and the final <eos>) of -log P(w*), plus
// coverage_weight times the mean of sum_i min(a_i, coverage_i) when coverage is on.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "weakdistill/student/student.h"
#include "weakdistill/text/vocabulary.h"

namespace weakdistill::neural {

struct PointerGeneratorOptions {
  // Vocabulary: characters of train texts and summaries seen at least this often
  // (rarer ones are <unk> to the encoder but can still be copied).
  std::size_t min_count = 2;
  // At most this many ids including the 4 specials (<pad>, <unk>, <bos>, <eos>); 0 = no limit.
  std::size_t max_vocab = 2000;
  // Character embedding width, shared by encoder and decoder.
  int embedding_dim = 64;
  // Decoder state and memory width; the BiLSTM encoder has hidden/2 units each way (even, >= 2).
  int hidden = 128;
  // Dropout on embeddings and on the decoder output before the vocabulary projection.
  double dropout = 0.2;
  // Source characters read; the rest of a longer text is dropped.
  std::size_t max_source = 150;
  // Reference characters trained on; the rest of a longer summary is dropped.
  std::size_t max_target = 40;
  // Passes over the training set.
  int epochs = 15;
  // Pairs per mini-batch (shuffled by the seed each epoch).
  int batch_size = 32;
  // Adam learning rate.
  double lr = 1e-3;
  // Gradient clipping: the global L2 norm is scaled down to this; 0 turns clipping off.
  double clip = 2.0;
  // Coverage (See et al. section 2.3): a coverage vector in the attention and a coverage loss.
  bool coverage = false;
  // Weight of the coverage loss (lambda); used only when `coverage` is on.
  double coverage_weight = 1.0;
  // With a dev set: epochs without a better dev ROUGE-L before stopping (0 = never stop early).
  int patience = 4;
  // With a dev set: the first N dev pairs are decoded (greedily) after each epoch; 0 = all.
  std::size_t dev_limit = 0;
  // Beam width for predict(); 1 is greedy decoding.
  int beam = 4;
  // Most characters in a summary (decoding stops there even without <eos>).
  std::size_t max_length = 30;
  // Fewest characters before <eos> may be emitted.
  std::size_t min_length = 1;
  // Beam search ranks finished summaries by log_prob / length^length_penalty
  // (length counts <eos>); 0 ranks by log_prob alone.
  double length_penalty = 1.0;
  // Never emit an n-gram of characters twice in a summary (0 = off).
  int no_repeat_ngram = 3;
};

// The decoder's memory of one batch of sources.
struct Encoded {
  torch::Tensor memory;    // [B,S,H] BiLSTM outputs (zeros at padding)
  torch::Tensor features;  // [B,S,H] W_h · memory, precomputed for attention
  torch::Tensor mask;      // [B,S] bool, true at real characters
  torch::Tensor h, c;      // [B,H] the decoder's first state
};

// What a decoder step carries to the next one.
struct DecoderState {
  torch::Tensor h, c;      // [B,H]
  torch::Tensor context;   // [B,H] the last attention's weighted memory
  torch::Tensor coverage;  // [B,S] the sum of earlier attentions (zeros without coverage)
};

// One decoder step's output, before the vocabulary projection.
struct StepOutput {
  torch::Tensor features;       // [B,H] input of the vocabulary projection
  torch::Tensor attention;      // [B,S] the copy distribution over source positions
  torch::Tensor p_gen;          // [B,1] probability of generating from the vocabulary
  torch::Tensor coverage_loss;  // [B] sum_i min(a_i, coverage_i); undefined without coverage
};

class PointerGeneratorNetImpl : public torch::nn::Module {
 public:
  PointerGeneratorNetImpl(std::int64_t vocab_size, const PointerGeneratorOptions& options);

  // `source` [B,S] vocabulary ids (padded with <pad>), `lengths` [B] int64 on the CPU, each >= 1.
  Encoded encode(const torch::Tensor& source, const torch::Tensor& lengths);
  DecoderState start(const Encoded& encoded);
  // Feeds `previous` [B] (vocabulary ids) and advances `state`.
  StepOutput step(const Encoded& encoded, DecoderState& state, const torch::Tensor& previous);
  // [..., H] -> [..., V] vocabulary logits.
  torch::Tensor vocabulary_logits(const torch::Tensor& features);

 private:
  bool coverage_;
  torch::nn::Embedding embedding_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::LSTM encoder_{nullptr};
  torch::nn::Linear reduce_h_{nullptr}, reduce_c_{nullptr};
  torch::nn::Linear memory_features_{nullptr};    // W_h
  torch::nn::Linear query_features_{nullptr};     // W_s and the attention bias
  torch::nn::Linear coverage_features_{nullptr};  // w_c, only with coverage
  torch::nn::Linear attention_score_{nullptr};    // v
  torch::nn::Linear decoder_input_{nullptr};
  torch::nn::LSTMCell decoder_{nullptr};
  torch::nn::Linear switch_{nullptr};  // p_gen
  torch::nn::Linear output_{nullptr};
  torch::nn::Linear projection_{nullptr};
};
TORCH_MODULE(PointerGeneratorNet);

class PointerGeneratorStudent : public Student {
 public:
  // Reads PointerGeneratorOptions and the common options; throws InputError
  // naming "student.<key>" on an unknown key or a bad value.
  explicit PointerGeneratorStudent(const nlohmann::json& options);

  Task task() const override { return Task::kSummarization; }
  std::string_view kind() const override { return "pointer-generator"; }
  // Teacher forcing, Adam, gradient clipping. With `dev`, keeps the weights of
  // the epoch with the best greedy dev ROUGE-L (on the first dev_limit pairs)
  // and stops after `patience` epochs without improvement. Throws InputError
  // when no pair has a non-empty text.
  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override;
  // Beam search of width `beam` (greedy when 1), one text at a time, so that a
  // prediction does not depend on the rest of the batch. log_prob is the
  // model's log-probability of the emitted characters and of the final <eos>
  // (absent when max_length cut the summary).
  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override;
  nlohmann::json options() const override;
  // vocab.json and weights.pt.
  void save_files(const std::string& dir) const override;
  void load_files(const std::string& dir) override;

  // The two decoders behind predict(), for tests and benches. Both obey
  // max_length, min_length and no_repeat_ngram, and never emit <unk>.
  Prediction greedy(const std::string& text);
  Prediction beam_search(const std::string& text, int beam);
  // Changes the decoding options after training or loading; throws InputError
  // on beam < 1 or max_length < 1.
  void set_decoding(int beam, std::size_t max_length);
  const Vocabulary& vocabulary() const { return vocabulary_; }

 private:
  struct Source;
  Source make_source(const std::string& text) const;
  void build_net();
  void require_trained(const char* what) const;

  PointerGeneratorOptions options_;
  CommonOptions common_;
  Vocabulary vocabulary_;
  PointerGeneratorNet net_{nullptr};
};

}  // namespace weakdistill::neural
