#include "bert.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "hf_config.h"
#include "hf_tensors.h"
#include "weakdistill/core/error.h"

namespace weakdistill::student_internal {
namespace fs = std::filesystem;

BertConfig read_bert_config(const std::string& path) {
  const nlohmann::json j = read_hf_config_json(path, "a Hugging Face BERT folder");
  HfConfigReader r(j, path);
  BertConfig c;
  r.get("model_type", c.model_type);
  r.get("vocab_size", c.vocab_size, true);
  r.get("hidden_size", c.hidden_size, true);
  r.get("num_hidden_layers", c.num_hidden_layers, true);
  r.get("num_attention_heads", c.num_attention_heads, true);
  r.get("intermediate_size", c.intermediate_size, true);
  r.get("hidden_act", c.hidden_act);
  r.get("max_position_embeddings", c.max_position_embeddings);
  r.get("type_vocab_size", c.type_vocab_size);
  r.get("layer_norm_eps", c.layer_norm_eps);
  r.get("hidden_dropout_prob", c.hidden_dropout_prob);
  r.get("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
  r.get("pad_token_id", c.pad_token_id);
  r.get("use_task_id", c.use_task_id);
  r.get("task_type_vocab_size", c.task_type_vocab_size);
  std::string position = "absolute";
  r.get("position_embedding_type", position);

  if (c.model_type != "bert" && c.model_type != "ernie") {
    // Same weights, same equations: RoBERTa-style models differ in position ids and are refused.
    if (c.model_type == "roberta" || c.model_type == "xlm-roberta") {
      r.fail("model_type", "\"" + c.model_type + "\" is not supported (BERT and ERNIE are)");
    }
  }
  if (position != "absolute") {
    r.fail("position_embedding_type", "\"" + position + "\" is not supported (only absolute)");
  }
  static const std::set<std::string> acts = {"gelu", "gelu_new", "gelu_pytorch_tanh",
                                             "relu", "silu",     "swish"};
  if (!acts.count(c.hidden_act)) {
    r.fail("hidden_act", "\"" + c.hidden_act +
                             "\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)");
  }
  auto positive = [&](const char* key, std::int64_t v) {
    if (v < 1) r.fail(key, "must be 1 or more, not " + std::to_string(v));
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("num_attention_heads", c.num_attention_heads);
  positive("intermediate_size", c.intermediate_size);
  positive("max_position_embeddings", c.max_position_embeddings);
  positive("type_vocab_size", c.type_vocab_size);
  if (c.hidden_size % c.num_attention_heads != 0) {
    r.fail("hidden_size", fmt::format("{} is not a multiple of num_attention_heads ({})",
                                      c.hidden_size, c.num_attention_heads));
  }
  if (c.use_task_id) positive("task_type_vocab_size", c.task_type_vocab_size);
  if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size) {
    r.fail("pad_token_id", "must be an id of the vocabulary");
  }
  if (!(c.layer_norm_eps > 0)) r.fail("layer_norm_eps", "must be more than 0");
  return c;
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& config) : config_(config) {
  const auto& c = config_;
  const std::int64_t h = c.hidden_size;
  auto norm = [&](const std::string& name) {
    return register_module(
        name, torch::nn::LayerNorm(torch::nn::LayerNormOptions({h}).eps(c.layer_norm_eps)));
  };
  auto linear = [&](const std::string& name, std::int64_t in, std::int64_t out) {
    return register_module(name, torch::nn::Linear(in, out));
  };
  word_ = register_module("word", torch::nn::Embedding(c.vocab_size, h));
  position_ = register_module("position", torch::nn::Embedding(c.max_position_embeddings, h));
  token_type_ = register_module("token_type", torch::nn::Embedding(c.type_vocab_size, h));
  if (c.use_task_id) {
    task_type_ = register_module("task_type", torch::nn::Embedding(c.task_type_vocab_size, h));
  }
  embedding_norm_ = norm("embedding_norm");
  dropout_ = register_module("dropout", torch::nn::Dropout(c.hidden_dropout_prob));
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "layer" + std::to_string(i) + "_";
    Layer l;
    l.query = linear(p + "query", h, h);
    l.key = linear(p + "key", h, h);
    l.value = linear(p + "value", h, h);
    l.attention_out = linear(p + "attention_out", h, h);
    l.attention_norm = norm(p + "attention_norm");
    l.intermediate = linear(p + "intermediate", h, c.intermediate_size);
    l.output = linear(p + "output", c.intermediate_size, h);
    l.output_norm = norm(p + "output_norm");
    layers_.push_back(l);
  }
  pooler_ = linear("pooler", h, h);

  // Only random tests and a missing pooler keep these; pretrained weights overwrite the rest.
  init_hf_weights(hf_tensors());
}

std::vector<std::pair<std::string, torch::Tensor>> BertEncoderImpl::hf_tensors() const {
  HfTensors out;
  auto add_linear = [&](const std::string& name, const torch::nn::Linear& l) {
    add_hf_linear(out, name, l);
  };
  auto add_norm = [&](const std::string& name, const torch::nn::LayerNorm& n) {
    add_hf_norm(out, name, n);
  };
  out.emplace_back("embeddings.word_embeddings.weight", word_->weight);
  out.emplace_back("embeddings.position_embeddings.weight", position_->weight);
  out.emplace_back("embeddings.token_type_embeddings.weight", token_type_->weight);
  if (task_type_) out.emplace_back("embeddings.task_type_embeddings.weight", task_type_->weight);
  add_norm("embeddings.LayerNorm", embedding_norm_);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const std::string p = "encoder.layer." + std::to_string(i) + ".";
    const Layer& l = layers_[i];
    add_linear(p + "attention.self.query", l.query);
    add_linear(p + "attention.self.key", l.key);
    add_linear(p + "attention.self.value", l.value);
    add_linear(p + "attention.output.dense", l.attention_out);
    add_norm(p + "attention.output.LayerNorm", l.attention_norm);
    add_linear(p + "intermediate.dense", l.intermediate);
    add_linear(p + "output.dense", l.output);
    add_norm(p + "output.LayerNorm", l.output_norm);
  }
  add_linear("pooler.dense", pooler_);
  return out;
}

torch::Tensor BertEncoderImpl::activation(const torch::Tensor& x) const {
  const std::string& a = config_.hidden_act;
  if (a == "gelu") return torch::gelu(x);
  if (a == "gelu_new" || a == "gelu_pytorch_tanh") return torch::gelu(x, "tanh");
  if (a == "relu") return torch::relu(x);
  return torch::silu(x);  // silu, swish
}

torch::Tensor BertEncoderImpl::forward(const torch::Tensor& ids, const torch::Tensor& mask,
                                       std::vector<torch::Tensor>* all_layers,
                                       const torch::Tensor& token_type_ids) {
  return run(ids, mask, all_layers, false, token_type_ids);
}

torch::Tensor BertEncoderImpl::forward_cls(const torch::Tensor& ids, const torch::Tensor& mask) {
  return run(ids, mask, nullptr, true).select(1, 0);
}

torch::Tensor BertEncoderImpl::run(const torch::Tensor& ids, const torch::Tensor& mask,
                                   std::vector<torch::Tensor>* all_layers, bool cls_only,
                                   const torch::Tensor& token_type_ids) {
  const auto& c = config_;
  const std::int64_t batch = ids.size(0), length = ids.size(1);
  if (length > c.max_position_embeddings) {
    throw std::invalid_argument(fmt::format("BERT input of {} positions, beyond the model's {}",
                                            length, c.max_position_embeddings));
  }
  const std::int64_t heads = c.num_attention_heads, d = c.hidden_size / heads;
  // Type 0 for every token (one-segment inputs) unless types are given, and
  // task type 0, as the Hugging Face models default them.
  torch::Tensor x =
      word_(ids) + position_->weight.slice(0, 0, length).unsqueeze(0) +
      (token_type_ids.defined() ? token_type_(token_type_ids) : token_type_->weight[0]);
  if (task_type_) x = x + task_type_->weight[0];
  x = dropout_(embedding_norm_(x));
  if (all_layers) all_layers->push_back(x);

  // [B, 1, 1, L]: 0 where a token, the float minimum where padding (Hugging Face's
  // extended attention mask), so a padded key gets probability 0.
  const torch::Tensor additive = (1.0 - mask.to(x.dtype()))
                                     .mul(std::numeric_limits<float>::lowest())
                                     .view({batch, 1, 1, length});
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  auto split = [&](const torch::Tensor& t) {  // [B, n, H] -> [B, heads, n, d]
    return t.view({batch, t.size(1), heads, d}).transpose(1, 2);
  };
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    Layer& l = layers_[i];
    // Only [CLS] is read after the last layer: there its queries, output and
    // feed-forward are computed for position 0 alone (keys and values still
    // for every position), the same vector for less work.
    const torch::Tensor in = cls_only && i + 1 == layers_.size() ? x.slice(1, 0, 1) : x;
    const torch::Tensor q = split(l.query(in)).mul(scale);
    const torch::Tensor k = split(l.key(x));
    const torch::Tensor v = split(l.value(x));
    torch::Tensor probs = torch::softmax(torch::matmul(q, k.transpose(-1, -2)) + additive, -1);
    if (is_training() && c.attention_probs_dropout_prob > 0) {
      probs = torch::dropout(probs, c.attention_probs_dropout_prob, true);
    }
    const torch::Tensor context =
        torch::matmul(probs, v).transpose(1, 2).reshape({batch, in.size(1), c.hidden_size});
    const torch::Tensor a = l.attention_norm(in + dropout_(l.attention_out(context)));
    x = l.output_norm(a + dropout_(l.output(activation(l.intermediate(a)))));
    if (all_layers) all_layers->push_back(x);
  }
  return x;
}

torch::Tensor BertEncoderImpl::pool(const torch::Tensor& last_hidden) {
  return torch::tanh(pooler_(last_hidden.dim() == 3 ? last_hidden.select(1, 0) : last_hidden));
}

BertLoadReport load_bert_weights(BertEncoderImpl& encoder, const SafetensorsFile& file,
                                 bool pooler_optional) {
  BertLoadReport report;
  // The encoder's prefix: BertModel saves none, BertFor* "bert.", ErnieFor* "ernie.", UIE
  // converted by uie_pytorch "encoder." (its UIE module holds the BertModel as `encoder`).
  bool found = false;
  for (const char* p : {"", "bert.", "ernie.", "model.", "encoder."}) {
    if (file.find(std::string(p) + "embeddings.word_embeddings.weight")) {
      report.prefix = p;
      found = true;
      break;
    }
  }
  if (!found) {
    throw InputError(file.path() +
                     ": not a BERT checkpoint: no embeddings.word_embeddings.weight (nor under "
                     "bert., ernie., model. or encoder.)");
  }
  std::map<std::string, const SafetensorsTensor*> by_name;
  for (const SafetensorsTensor& t : file.tensors()) by_name[t.name] = &t;

  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& [name, param] : encoder.hf_tensors()) {
    std::string key = report.prefix + name;
    auto it = by_name.find(key);
    // Checkpoints converted from TensorFlow name LayerNorm's weight and bias gamma and beta.
    if (it == by_name.end() && name.find("LayerNorm.") != std::string::npos) {
      std::string old = key;
      const auto dot = old.rfind('.');
      old = old.substr(0, dot) + (name.ends_with(".weight") ? ".gamma" : ".beta");
      it = by_name.find(old);
    }
    if (it == by_name.end()) {
      if (name.starts_with("pooler.") && pooler_optional) {
        report.pooler_loaded = false;
        continue;
      }
      missing.push_back(key);
      continue;
    }
    used.insert(it->first);
    const SafetensorsTensor& t = *it->second;
    if (t.shape != param.sizes().vec()) {
      mismatched.push_back(fmt::format("{} is {} in the file, {} in config.json's model", it->first,
                                       shape_string(t.shape), shape_string(param.sizes().vec())));
      continue;
    }
    file.to_f32(t, param.data_ptr<float>());
  }
  std::vector<std::string> unexpected;
  for (const SafetensorsTensor& t : file.tensors()) {
    if (used.count(t.name)) continue;
    const bool under_prefix = t.name.starts_with(report.prefix);
    const std::string rest = under_prefix ? t.name.substr(report.prefix.size()) : t.name;
    // A buffer some checkpoints keep: the ids 0..max_position-1.
    if (rest == "embeddings.position_ids") continue;
    if (under_prefix && (rest.starts_with("embeddings.") || rest.starts_with("encoder.") ||
                         rest.starts_with("pooler."))) {
      unexpected.push_back(t.name);
    } else {
      report.ignored.push_back(t.name);
    }
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    throw InputError(weights_mismatch(file.path(), missing, unexpected, mismatched));
  }
  return report;
}

BertFolder find_bert_folder(const std::string& dir, bool weights) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw InputError(dir +
                     ": no such folder (a Hugging Face BERT folder holds config.json, "
                     "vocab.txt and model.safetensors)");
  }
  BertFolder f;
  const fs::path d(dir);
  f.config_path = (d / "config.json").string();
  f.vocab_path = (d / "vocab.txt").string();
  f.weights_path = (d / "model.safetensors").string();
  if (fs::is_regular_file(d / "tokenizer_config.json", ec)) {
    f.tokenizer_config_path = (d / "tokenizer_config.json").string();
  }
  for (const std::string* p : {&f.config_path, &f.vocab_path}) {
    if (!fs::is_regular_file(*p, ec)) {
      throw InputError(dir + ": no " + fs::path(*p).filename().string() +
                       " (a Hugging Face BERT folder holds config.json, vocab.txt and "
                       "model.safetensors)");
    }
  }
  if (!weights) {
    f.weights_path.clear();
  } else if (!fs::is_regular_file(f.weights_path, ec)) {
    std::string hint;
    if (fs::exists(d / "pytorch_model.bin", ec)) {
      hint =
          "; it has pytorch_model.bin, which weakdistill does not read: convert it once with "
          "safetensors' convert script or save_pretrained(safe_serialization=True)";
    }
    throw InputError(dir + ": no model.safetensors" + hint);
  }
  return f;
}

PretrainedBert load_pretrained_bert(const std::string& dir, bool weights) {
  PretrainedBert p;
  p.folder = find_bert_folder(dir, weights);
  p.config = read_bert_config(p.folder.config_path);
  p.tokenizer = std::make_shared<BertTokenizer>(BertTokenizer::from_folder(dir));
  if (static_cast<std::int64_t>(p.tokenizer->vocab_size()) > p.config.vocab_size) {
    throw InputError(fmt::format("{}: {} tokens, but config.json's vocab_size is {}",
                                 p.folder.vocab_path, p.tokenizer->vocab_size(),
                                 p.config.vocab_size));
  }
  p.encoder = BertEncoder(p.config);
  if (weights) {
    const SafetensorsFile file(p.folder.weights_path);
    p.report = load_bert_weights(*p.encoder, file);
  }
  return p;
}

PretrainedBert load_pretrained_bert_option(const char* key, const std::string& dir) {
  try {
    return load_pretrained_bert(dir);
  } catch (const InputError& e) {
    throw InputError(std::string(key) + ": " + e.what());
  }
}

void copy_bert_files(const BertFolder& from, const std::string& to_dir) {
  const auto opts = fs::copy_options::overwrite_existing;
  fs::copy_file(from.config_path, fs::path(to_dir) / "config.json", opts);
  fs::copy_file(from.vocab_path, fs::path(to_dir) / "vocab.txt", opts);
  if (!from.tokenizer_config_path.empty()) {
    fs::copy_file(from.tokenizer_config_path, fs::path(to_dir) / "tokenizer_config.json", opts);
  }
}

std::pair<torch::Tensor, torch::Tensor> pad_ids(const std::vector<std::vector<std::int64_t>>& rows,
                                                std::int64_t pad) {
  std::size_t longest = 1;
  for (const auto& r : rows) longest = std::max(longest, r.size());
  const auto b = static_cast<std::int64_t>(rows.size()), l = static_cast<std::int64_t>(longest);
  torch::Tensor ids = torch::full({b, l}, pad, torch::kInt64);
  torch::Tensor mask = torch::zeros({b, l}, torch::kInt64);
  auto ia = ids.accessor<std::int64_t, 2>();
  auto ma = mask.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < b; ++i) {
    const auto& r = rows[static_cast<std::size_t>(i)];
    for (std::size_t j = 0; j < r.size(); ++j) {
      ia[i][static_cast<std::int64_t>(j)] = r[j];
      ma[i][static_cast<std::int64_t>(j)] = 1;
    }
  }
  return {ids, mask};
}

}  // namespace weakdistill::student_internal
