// UIE (Universal Information Extraction, PaddleNLP): a BERT / ERNIE 3.0
// encoder (bert.h) with two pointer layers, read from a UIE checkpoint in
// Hugging Face / PyTorch form. Private to src/student/ (the `uie` student and
// its tests).
//
// For B rows of L positions [CLS] prompt [SEP] text [SEP] (padded), with
// token types 0 on [CLS] prompt [SEP] and 1 on text [SEP]:
//   h       = encoder(ids, mask, token_types)              [B, L, H]
//   p_start = sigmoid(h w_s^T + b_s)  (linear_start)       [B, L]
//   p_end   = sigmoid(h w_e^T + b_e)  (linear_end)         [B, L]
// An ERNIE encoder with task types adds task type 0 everywhere, as PaddleNLP's
// UIE and uie_pytorch do.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "bert.h"

namespace weakdistill::student_internal {

class UieModelImpl : public torch::nn::Module {
 public:
  // `encoder` is taken over; the pointers start random (normal(0, 0.02), bias 0).
  explicit UieModelImpl(BertEncoder encoder);

  // The start and end logits [B, L] (before the sigmoid) of ids [B, L] int64,
  // mask [B, L] (1 = token) and token types [B, L] int64.
  std::pair<torch::Tensor, torch::Tensor> logits(const torch::Tensor& ids,
                                                 const torch::Tensor& mask,
                                                 const torch::Tensor& token_types);

  BertEncoder& encoder() { return encoder_; }
  const BertEncoder& encoder() const { return encoder_; }
  torch::nn::Linear& linear_start() { return start_; }
  torch::nn::Linear& linear_end() { return end_; }

 private:
  BertEncoder encoder_{nullptr};
  torch::nn::Linear start_{nullptr}, end_{nullptr};
};
TORCH_MODULE(UieModel);

// The pointer layers' tensor names a checkpoint may use, at the top level of
// model.safetensors: {"linear_start", "linear_end"} (PaddleNLP's UIE and the
// uie_pytorch conversion) or {"start_linear", "end_linear"} (conversions to
// BertModel names under "bert."), each with .weight [1, H] and .bias [1].
const std::vector<std::pair<std::string, std::string>>& uie_pointer_names();

// A UIE checkpoint, read: the encoder (bert.h's load_pretrained_bert: config.json,
// vocab.txt, model.safetensors with the encoder under "", "bert.", "ernie." or
// "encoder.") and its pointer layers.
struct UieCheckpoint {
  PretrainedBert bert;  // bert.encoder is the one inside `model`
  UieModel model{nullptr};
  std::string pointers;  // the names found, e.g. "linear_start/linear_end"
};

// Reads a UIE folder. Throws InputError naming the folder: everything
// load_pretrained_bert() refuses; a model.safetensors with no pointer layers
// (listing the names looked for) or with one of another shape; a config whose
// type_vocab_size is below 2 (the text is token type 1).
UieCheckpoint load_uie_checkpoint(const std::string& dir);

// A saved `uie` student's folder (config.json, vocab.txt, no safetensors):
// the model with random weights, for load_module() to fill.
UieCheckpoint load_uie_skeleton(const std::string& dir);

}  // namespace weakdistill::student_internal
