// The fine-tuned head of a Hugging Face classification folder (BertForSequenceClassification,
// BertForTokenClassification, their Ernie twins, and what `weakdistill export` writes), read for
// bert-cls and bert-ner with `fine_tune: false`, which use a checkpoint as it is. Private to
// src/student/neural/.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace weakdistill::student_internal {

struct HfHead {
  // config.json's id2label in id order (distinct names, ids "0".."C-1").
  std::vector<std::string> labels;
  // classifier.weight [C, H] and classifier.bias [C], float32.
  torch::Tensor weight, bias;
  // crf.transitions [C, C] ([i][j]: label i followed by label j), crf.start_transitions [C] and
  // crf.end_transitions [C], float32, when the file has all three (a bert-ner export); else
  // undefined tensors.
  torch::Tensor transitions, start, end;
  // config.json's architectures[0] ("" when absent).
  std::string architecture;
  // tokenizer_config.json's model_max_length; 0 when absent or not an integer in 3..8192 (many
  // checkpoints carry a huge placeholder there).
  std::int64_t model_max_length = 0;
  // config.json's window_overlap (written by a bert-ner export); -1 when absent.
  std::int64_t window_overlap = -1;
};

// Reads the head of the folder `dir` for an encoder of `hidden_size`. Throws InputError
// read_hf_head() for the `student.path` option of bert-cls (`tagger` false) or bert-ner (true):
// errors start "student.path: ", and a folder of the other head (a ForTokenClassification for
// bert-cls, a ForSequenceClassification for bert-ner) is refused, saying which kind reads it.
HfHead read_hf_head_option(const std::string& dir, std::int64_t hidden_size, bool tagger);

// "<dir>: fine_tune=false needs a folder with a classification head, e.g. one written by
// `weakdistill export`; <what is missing or wrong>" when config.json has no usable id2label,
// model.safetensors has no classifier.weight / classifier.bias of the shapes above, or only
// some of the three crf tensors, or any of them of another shape.
HfHead read_hf_head(const std::string& dir, std::int64_t hidden_size);

// read_hf_head() for the `student.path` option of bert-cls (`tagger` false) or bert-ner (true):
// errors start "student.path: ", and a folder of the other head (a ForTokenClassification for
// bert-cls, a ForSequenceClassification for bert-ner) is refused, saying which kind reads it.
HfHead read_hf_head_option(const std::string& dir, std::int64_t hidden_size, bool tagger);

// "<dir>: fine_tune=false needs a folder with a classification head, e.g. one written by
// `weakdistill export`; " + `what`: the message of every error about such a folder.
std::string hf_head_error(const std::string& dir, const std::string& what);

}  // namespace weakdistill::student_internal
