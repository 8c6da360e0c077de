// Writing a fine-tuned BERT student as a Hugging Face transformers folder
// (BertForSequenceClassification / BertForTokenClassification, or ErnieFor* for ERNIE 3.0):
// config.json, model.safetensors, vocab.txt, tokenizer_config.json, special_tokens_map.json
// and a README.md. Private to src/student/neural/ (bert-cls and bert-ner).
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "bert.h"

namespace weakdistill::student_internal {

struct BertExport {
  // "ForSequenceClassification" or "ForTokenClassification": the class name after Bert/Ernie.
  std::string head;
  // id2label in id order.
  std::vector<std::string> labels;
  // classifier.weight [C, H] and classifier.bias [C].
  torch::Tensor classifier_weight, classifier_bias;
  // Tensors beyond transformers' class (bert-ner's CRF), under their full names.
  std::vector<std::pair<std::string, torch::Tensor>> extra;
  // Keys added to config.json (bert-ner's window_overlap).
  nlohmann::ordered_json config_extra = nlohmann::ordered_json::object();
  // Tokens a sequence is cut to, [CLS] and [SEP] included: tokenizer_config's model_max_length.
  std::int64_t max_length = 512;
  // The folder's README.md.
  std::string readme;
};

// Writes the folder into the existing empty `dir`. `folder` is the model folder's own files
// (config.json as read at training time, vocab.txt, tokenizer_config.json when there was one).
void write_bert_export(const BertEncoderImpl& encoder, const BertFolder& folder,
                       const BertTokenizer& tokenizer, const BertExport& what,
                       const std::string& dir);

// Writes tokenizer_config.json (`config`'s keys, with tokenizer_class BertTokenizer and the
// special tokens set over them) and special_tokens_map.json into `dir`.
void write_bert_tokenizer_files(const std::string& dir, nlohmann::ordered_json config);

}  // namespace weakdistill::student_internal
