#include "bert_export.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "hf_tensors.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/safetensors.h"

namespace weakdistill::student_internal {
namespace {

namespace fs = std::filesystem;

nlohmann::ordered_json read_json_object(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open");
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw InputError(path + ": not a JSON object");
  return j;
}

}  // namespace

void write_bert_export(const BertEncoderImpl& encoder, const BertFolder& folder,
                       const BertTokenizer& tokenizer, const BertExport& what,
                       const std::string& dir) {
  const BertConfig& c = encoder.config();
  const bool ernie = c.model_type == "ernie";
  const std::string prefix = ernie ? "ernie." : "bert.";

  // config.json: the encoder's fields as read, the head's fields set.
  nlohmann::ordered_json config = read_json_object(folder.config_path);
  config["architectures"] = {(ernie ? "Ernie" : "Bert") + what.head};
  config["model_type"] = ernie ? "ernie" : "bert";
  nlohmann::ordered_json id2label = nlohmann::ordered_json::object();
  nlohmann::ordered_json label2id = nlohmann::ordered_json::object();
  for (std::size_t i = 0; i < what.labels.size(); ++i) {
    id2label[std::to_string(i)] = what.labels[i];
    label2id[what.labels[i]] = i;
  }
  config.erase("num_labels");  // transformers refuses one that disagrees with id2label
  config["id2label"] = id2label;
  config["label2id"] = label2id;
  if (what.head == "ForSequenceClassification") {
    config["problem_type"] = "single_label_classification";
  }
  config["torch_dtype"] = "float32";
  for (const auto& [k, v] : what.config_extra.items()) config[k] = v;
  write_file_atomically(dir + "/config.json", config.dump(2) + "\n");

  std::vector<SafetensorsWriteTensor> tensors;
  // transformers' token classifiers are built without a pooler, so theirs would be unused.
  const bool pooler = what.head == "ForSequenceClassification";
  for (const auto& [name, t] : encoder.hf_tensors()) {
    if (pooler || !name.starts_with("pooler."))
      tensors.push_back(to_write_tensor(prefix + name, t));
  }
  tensors.push_back(to_write_tensor("classifier.weight", what.classifier_weight));
  tensors.push_back(to_write_tensor("classifier.bias", what.classifier_bias));
  for (const auto& [name, t] : what.extra) tensors.push_back(to_write_tensor(name, t));
  write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});

  fs::copy_file(folder.vocab_path, dir + "/vocab.txt");
  // tokenizer_config.json: the pretrained one's keys kept, ours set to what the student did.
  nlohmann::ordered_json tok = folder.tokenizer_config_path.empty()
                                   ? nlohmann::ordered_json::object()
                                   : read_json_object(folder.tokenizer_config_path);
  const BertTokenizerOptions& o = tokenizer.options();
  tok["do_lower_case"] = o.lower_case;
  tok["tokenize_chinese_chars"] = o.tokenize_chinese_chars;
  if (o.strip_accents < 0) {
    tok["strip_accents"] = nullptr;
  } else {
    tok["strip_accents"] = o.strip_accents != 0;
  }
  tok["model_max_length"] = what.max_length;
  write_bert_tokenizer_files(dir, std::move(tok));
  write_file_atomically(dir + "/README.md", what.readme);
}

void write_bert_tokenizer_files(const std::string& dir, nlohmann::ordered_json config) {
  const nlohmann::ordered_json specials = {{"unk_token", "[UNK]"},
                                           {"sep_token", "[SEP]"},
                                           {"pad_token", "[PAD]"},
                                           {"cls_token", "[CLS]"},
                                           {"mask_token", "[MASK]"}};
  config["tokenizer_class"] = "BertTokenizer";
  for (const auto& [k, v] : specials.items()) config[k] = v;
  write_file_atomically(dir + "/tokenizer_config.json", config.dump(2) + "\n");
  write_file_atomically(dir + "/special_tokens_map.json", specials.dump(2) + "\n");
}

}  // namespace weakdistill::student_internal
