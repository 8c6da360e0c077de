// Reading a Hugging Face BART or Pegasus folder (config.json, vocab.txt, model.safetensors) into
// the model of seq2seq.h, with errors that name the file and what does not fit.
// Private to src/student/ (the seq2seq student).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seq2seq.h"
#include "weakdistill/core/safetensors.h"
#include "weakdistill/text/bert_tokenizer.h"

namespace weakdistill::student_internal {

// Reads a Hugging Face config.json. Throws InputError naming the file and the key: missing or of
// the wrong type, sizes that do not fit, an activation other than the ones above, and any
// model_type other than bart and pegasus (the message names the ones that are not supported:
// t5/mt5 (relative positions), mbart (its own tokenizer), led, prophetnet, marian, ...).
Seq2SeqConfig read_seq2seq_config(const std::string& path);

// What load_seq2seq_weights() found besides the model's own tensors.
struct Seq2SeqLoadReport {
  std::string prefix;                // "model." or ""
  std::vector<std::string> ignored;  // tensors the model does not use (copies of shared, ...)
  bool final_logits_bias = true;     // false: absent, taken as 0
};

// Copies the weights of `file` into `model`, converting F16/BF16/F64 to float32. Accepts the
// copies of the shared embedding some checkpoints keep (encoder/decoder.embed_tokens, a tied
// lm_head.weight; they must equal shared's shape), a missing final_logits_bias (zero) and, for
// Pegasus, stored sinusoid tables (loaded over the computed ones, as transformers does). Throws
// InputError naming the file and listing the tensors missing, unexpected, or of another shape (with
// both shapes).
Seq2SeqLoadReport load_seq2seq_weights(Seq2SeqModelImpl& model, const SafetensorsFile& file);

// A pretrained folder, read: config, tokenizer (vocab.txt; a folder with only a sentencepiece
// model is refused, saying so) and the model with the folder's weights (random ones when
// `weights` is false: a saved student loads its weights.pt afterwards).
struct PretrainedSeq2Seq {
  std::string dir;
  Seq2SeqConfig config;
  std::shared_ptr<BertTokenizer> tokenizer;
  Seq2SeqModel model{nullptr};
  Seq2SeqLoadReport report;
};
PretrainedSeq2Seq load_pretrained_seq2seq(const std::string& dir, bool weights = true);

// Copies config.json, vocab.txt, tokenizer_config.json (when present) and generation_config.json
// (when present) to `to_dir`.
void copy_seq2seq_files(const std::string& from_dir, const std::string& to_dir);

// Writes `model` into the existing folder `dir` as transformers' save_pretrained would, for
// BartForConditionalGeneration / PegasusForConditionalGeneration.from_pretrained:
// model.safetensors (float32, Hugging Face's names under "model.", final_logits_bias, and
// lm_head.weight when untied; tied copies of shared are left out, as save_pretrained does),
// config.json (`from_dir`'s, with architectures and torch_dtype set), vocab.txt and
// tokenizer_config.json / special_tokens_map.json for BertTokenizer, generation_config.json
// (`from_dir`'s token ids with `generation`'s keys set over them) and README.md (`readme`).
void write_seq2seq_folder(const Seq2SeqModelImpl& model, const std::string& from_dir,
                          const nlohmann::json& generation, const std::string& readme,
                          const std::string& dir);

}  // namespace weakdistill::student_internal
