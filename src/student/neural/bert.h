// A BERT encoder in libtorch that reads Hugging Face folders (config.json,
// vocab.txt, model.safetensors): BERT, and ERNIE 3.0 with its task-type
// embeddings. Private to src/student/ (the bert students and the bge embedder).
//
// For a batch of B sequences of L ids with attention mask m (1 = token, 0 = pad):
//   x_0 = LayerNorm(word[ids] + position[0..L-1] + token_type[t] (+ task_type[0]))
//   (t = 0 everywhere unless forward() is given token_type_ids)
//   per layer:  a = LayerNorm(x + Dense(Attention(x, m)))
//               x = LayerNorm(a + Dense(act(Dense(a))))
//   Attention: softmax(Q K^T / sqrt(d) + (1 - m) * float_min) V per head, as
//   Hugging Face's eager BertSelfAttention (a padded position gets weight 0).
//   pooled = tanh(Dense(x_last[:, 0]))   (the pooler; BertForSequenceClassification's input)
// hf_tensors() names every parameter as Hugging Face does ("encoder.layer.3.
// attention.self.query.weight"), so loading is a name lookup after the prefix.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "weakdistill/core/safetensors.h"
#include "weakdistill/text/bert_tokenizer.h"

namespace weakdistill::student_internal {

struct BertConfig {
  std::string model_type = "bert";  // "bert" or "ernie" (any BERT-shaped model reads as bert)
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 768;
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";  // gelu (erf), gelu_new / gelu_pytorch_tanh (tanh), relu, silu
  std::int64_t max_position_embeddings = 512;
  std::int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  std::int64_t pad_token_id = 0;
  // ERNIE 3.0: a third embedding table of task types, added to every position.
  bool use_task_id = false;
  std::int64_t task_type_vocab_size = 0;
};

// Reads a Hugging Face config.json. Throws InputError naming the file and the
// key: missing or of the wrong type, sizes that do not fit (hidden_size not a
// multiple of num_attention_heads), an activation or position embedding type
// other than the ones above.
BertConfig read_bert_config(const std::string& path);

class BertEncoderImpl : public torch::nn::Module {
 public:
  // Random weights (normal(0, 0.02), LayerNorm 1 and 0, as Hugging Face initialises).
  explicit BertEncoderImpl(const BertConfig& config);

  // Hidden states of the last layer [B, L, H] of ids [B, L] (int64) with
  // `mask` [B, L] (1 or true = a token). Rows whose mask is 0 hold padding
  // garbage. `all_layers`, when given, receives x_0 (embeddings) ... x_N.
  // `token_type_ids` [B, L] (int64, each < type_vocab_size), when defined,
  // selects each position's token-type embedding (a sentence pair: 0 on
  // [CLS] A [SEP], 1 on B [SEP]); undefined, every position has type 0.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask,
                        std::vector<torch::Tensor>* all_layers = nullptr,
                        const torch::Tensor& token_type_ids = {});

  // The last layer's [CLS] state [B, H], as forward(ids, mask)[:, 0], with the
  // last layer computed for position 0 only (about 1/N of the work of N layers less).
  torch::Tensor forward_cls(const torch::Tensor& ids, const torch::Tensor& mask);

  // tanh(Dense(hidden[:, 0])) [B, H] of the last hidden states [B, L, H] or of
  // the [CLS] states [B, H].
  torch::Tensor pool(const torch::Tensor& last_hidden);

  const BertConfig& config() const { return config_; }

  // Every parameter under its Hugging Face name (without prefix), pooler last.
  std::vector<std::pair<std::string, torch::Tensor>> hf_tensors() const;

 private:
  struct Layer {
    torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr}, attention_out{nullptr};
    torch::nn::LayerNorm attention_norm{nullptr};
    torch::nn::Linear intermediate{nullptr}, output{nullptr};
    torch::nn::LayerNorm output_norm{nullptr};
  };
  torch::Tensor activation(const torch::Tensor& x) const;
  torch::Tensor run(const torch::Tensor& ids, const torch::Tensor& mask,
                    std::vector<torch::Tensor>* all_layers, bool cls_only,
                    const torch::Tensor& token_type_ids = {});

  BertConfig config_;
  torch::nn::Embedding word_{nullptr}, position_{nullptr}, token_type_{nullptr},
      task_type_{nullptr};
  torch::nn::LayerNorm embedding_norm_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  std::vector<Layer> layers_;
  torch::nn::Linear pooler_{nullptr};
};
TORCH_MODULE(BertEncoder);

// What load_bert_weights() found besides the encoder's own tensors.
struct BertLoadReport {
  std::string prefix;  // "", "bert.", "ernie.", "model." or "encoder." (UIE): the encoder's prefix
  std::vector<std::string> ignored;  // tensors outside the encoder (an MLM or task head)
  bool pooler_loaded = true;         // false: the checkpoint has no pooler (kept at random)
};

// Copies the weights of `file` into `encoder`, converting F16/BF16/F64 to float32.
// Finds the prefix by the word embeddings' name. Throws InputError naming the
// file and listing (up to 20 of) the tensors the encoder needs and the file
// lacks, the file's tensors under the prefix the encoder does not know, and any
// shape that differs (with both shapes). A missing pooler is not an error when
// `pooler_optional` (a fine-tuned head replaces it; it is then reported).
BertLoadReport load_bert_weights(BertEncoderImpl& encoder, const SafetensorsFile& file,
                                 bool pooler_optional = true);

// The pretrained folder's three files, checked to exist and to agree (the
// vocabulary's size against config.json's vocab_size), with errors that name
// the folder and say what a Hugging Face BERT folder holds.
struct BertFolder {
  std::string config_path, vocab_path, weights_path, tokenizer_config_path;  // last may be ""
};
// `weights` false: a saved student's folder, which has weights.pt instead.
BertFolder find_bert_folder(const std::string& dir, bool weights = true);

// A pretrained folder, read: the config, its tokenizer and the encoder with
// the folder's weights (random ones when `weights` is false: a saved student
// loads its own weights.pt afterwards).
struct PretrainedBert {
  BertFolder folder;
  BertConfig config;
  std::shared_ptr<BertTokenizer> tokenizer;
  BertEncoder encoder{nullptr};
  BertLoadReport report;
};
PretrainedBert load_pretrained_bert(const std::string& dir, bool weights = true);
// The same for the folder a config option names: errors start with "<key>: ".
PretrainedBert load_pretrained_bert_option(const char* key, const std::string& dir);

// Copies config.json, vocab.txt and tokenizer_config.json (when there is one)
// from a pretrained folder to a model folder, which then loads without it.
void copy_bert_files(const BertFolder& from, const std::string& to_dir);

// Pads id rows to the longest: ids [B, L] int64 filled with `pad`, mask [B, L]
// int64 (1 on tokens).
std::pair<torch::Tensor, torch::Tensor> pad_ids(const std::vector<std::vector<std::int64_t>>& rows,
                                                std::int64_t pad);

}  // namespace weakdistill::student_internal
