// What the bert-cls and bert-ner students share: their fine-tuning options,
// AdamW with a linear warm-up and decay (Hugging Face's
// get_linear_schedule_with_warmup), and the epoch loop's bookkeeping. Private
// to src/student/.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "bert.h"
#include "fused_adamw.h"
#include "weakdistill/core/options.h"
#include "weakdistill/student/student.h"

namespace weakdistill::student_internal {

struct BertFineTuneOptions {
  // The pretrained Hugging Face folder (config.json, vocab.txt,
  // model.safetensors); read, never written. Required.
  std::string path;
  // Tokens per input, [CLS] and [SEP] included; capped at the model's
  // max_position_embeddings. Longer texts: bert-cls reads the head, bert-ner
  // reads the whole text in windows of this size.
  int max_length = 128;
  // Passes over the training set; 0 (auto) is 3, raised for small sets to reach
  // 100 updates (48 samples at batch 16: 34 epochs), at most 50.
  int epochs = 0;
  // Inputs per mini-batch.
  int batch_size = 16;
  // AdamW learning rate of the encoder, reached after the warm-up.
  double lr = 5e-5;
  // Learning rate of the task head (classifier, CRF); 0 means lr.
  double head_lr = 0;
  // AdamW weight decay, on weights only (not biases, not LayerNorm).
  double weight_decay = 0.01;
  // Fraction of all updates over which the rate rises linearly from 0; it then
  // falls linearly to 0 at the last update.
  double warmup = 0.1;
  // Largest global L2 norm of the gradient; 0 = no clipping.
  double clip = 1.0;
  // Dropout before the head, while training (the encoder's own comes from config.json).
  double dropout = 0.1;
  // With a dev set: keep the weights of the epoch with the best dev metric.
  bool keep_best = true;
  // Score dev every this many epochs; 0 (auto): every epoch up to 20, else ~10 times.
  int dev_every = 0;
};

// Reads the options above from `r` (the caller reads its own and calls finish()),
// checking ranges; `path` must be a Hugging Face BERT folder.
void read_bert_finetune_options(OptionReader& r, BertFineTuneOptions& o);
nlohmann::json bert_finetune_json(const BertFineTuneOptions& o);

// The epochs and dev interval `o` gives for `samples` training inputs.
int bert_epochs(const BertFineTuneOptions& o, std::size_t samples);
int bert_dev_every(const BertFineTuneOptions& o, int epochs);

// AdamW over two parameter sets (encoder at lr, head at head_lr), each split
// into decayed weights and undecayed biases / LayerNorm, with the linear
// warm-up and decay schedule over `total_steps`.
class BertOptimizer {
 public:
  BertOptimizer(const BertEncoderImpl& encoder, const std::vector<torch::Tensor>& head_weights,
                const std::vector<torch::Tensor>& head_biases, const BertFineTuneOptions& o,
                std::int64_t total_steps);
  // Any model, all at lr: `named` holds its parameters under Hugging Face names; LayerNorms'
  // ("LayerNorm", "layer_norm", "layernorm") and biases are not decayed, and tensors that do not
  // require a gradient (buffers) are left out.
  BertOptimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named,
                const BertFineTuneOptions& o, std::int64_t total_steps);
  // Clips the gradients, sets this step's rates, steps and sets the gradients to undefined (the
  // next backward writes them afresh; a parameter that then gets none is not stepped).
  void step();
  // The multiplier of the base rates at update `step` (0-based).
  static double schedule(std::int64_t step, std::int64_t warmup_steps, std::int64_t total_steps);

 private:
  std::vector<torch::Tensor> all_;
  std::vector<double> base_lr_;  // one a group of adam_
  FusedAdamW adam_;
  double clip_;
  std::int64_t step_ = 0, warmup_steps_, total_steps_;
};

// The end of each epoch for the bert students: scores dev when it is due
// (bert_dev_every), keeps a copy of the weights of the best dev epoch (the
// first on ties) when keep_best, and builds the epoch's report.
class EpochTracker {
 public:
  EpochTracker(const BertFineTuneOptions& o, int epochs, bool has_dev);
  // Call when an epoch starts (for the report's seconds).
  void start() { started_ = std::chrono::steady_clock::now(); }
  // `score_dev` returns the dev metric and its name; it is called only when due.
  EpochReport finish(int epoch, double train_loss,
                     const std::function<std::pair<double, std::string>()>& score_dev,
                     const std::vector<torch::Tensor>& params);
  // Copies the best epoch's weights into `params` (nothing when none was kept).
  void restore_best(const std::vector<torch::Tensor>& params) const;

 private:
  int epochs_, dev_every_;
  bool has_dev_, keep_best_;
  double best_ = -1;
  std::vector<torch::Tensor> best_weights_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace weakdistill::student_internal
