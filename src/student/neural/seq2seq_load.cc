#include "seq2seq_load.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <set>

#include "bert_export.h"
#include "hf_config.h"
#include "hf_tensors.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"

namespace weakdistill::student_internal {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFolderHint =
    "a Hugging Face BART or Pegasus folder holds config.json, vocab.txt and model.safetensors";

}  // namespace

Seq2SeqConfig read_seq2seq_config(const std::string& path) {
  const nlohmann::json j = read_hf_config_json(path, kFolderHint);
  HfConfigReader r(j, path);
  Seq2SeqConfig c;
  r.get("model_type", c.model_type);
  if (c.model_type != "bart" && c.model_type != "pegasus") {
    r.fail("model_type",
           "\"" + c.model_type +
               "\" is not supported: the seq2seq student reads bart "
               "(BartForConditionalGeneration) and pegasus (PegasusForConditionalGeneration); "
               "not t5/mt5 (relative positions), mbart (its own tokenizer and language codes), "
               "marian, led, prophetnet, bigbird_pegasus or pegasus_x");
  }
  if (c.model_type == "pegasus") {
    c.scale_embedding = true;
    c.activation_function = "relu";
    c.decoder_start_token_id = 0;
    c.eos_token_id = 1;
  }
  r.get("vocab_size", c.vocab_size, true);
  r.get("d_model", c.d_model, true);
  r.get("encoder_layers", c.encoder_layers, true);
  r.get("decoder_layers", c.decoder_layers, true);
  r.get("encoder_attention_heads", c.encoder_attention_heads, true);
  r.get("decoder_attention_heads", c.decoder_attention_heads, true);
  r.get("encoder_ffn_dim", c.encoder_ffn_dim, true);
  r.get("decoder_ffn_dim", c.decoder_ffn_dim, true);
  r.get("max_position_embeddings", c.max_position_embeddings, true);
  r.get("activation_function", c.activation_function);
  r.get("scale_embedding", c.scale_embedding);
  r.get("normalize_before", c.normalize_before);
  r.get("tie_word_embeddings", c.tie_word_embeddings);
  r.get("dropout", c.dropout);
  r.get("attention_dropout", c.attention_dropout);
  r.get("activation_dropout", c.activation_dropout);
  r.get("pad_token_id", c.pad_token_id);
  r.get_id("bos_token_id", c.bos_token_id);
  r.get_id("eos_token_id", c.eos_token_id);
  r.get_id("decoder_start_token_id", c.decoder_start_token_id);
  r.get_id("forced_bos_token_id", c.forced_bos_token_id);
  r.get_id("forced_eos_token_id", c.forced_eos_token_id);

  // Variants of old BART configs with other equations.
  bool flag = false;
  r.get("static_position_embeddings", flag);
  if (flag && c.bart()) r.fail("static_position_embeddings", "true is not supported");
  flag = false;
  r.get("add_bias_logits", flag);
  if (flag) r.fail("add_bias_logits", "true is not supported");
  flag = true;
  r.get("normalize_embedding", flag);
  if (!flag && c.bart()) r.fail("normalize_embedding", "false is not supported");
  flag = false;
  r.get("add_final_layer_norm", flag);
  if (flag && !c.normalize_before) {
    r.fail("add_final_layer_norm", "true without normalize_before is not supported");
  }
  static const std::set<std::string> acts = {"gelu", "gelu_new", "gelu_pytorch_tanh",
                                             "relu", "silu",     "swish"};
  if (!acts.count(c.activation_function)) {
    r.fail("activation_function",
           "\"" + c.activation_function +
               "\" is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)");
  }
  for (const auto& [key, v] : {std::pair{"vocab_size", c.vocab_size},
                               {"d_model", c.d_model},
                               {"encoder_layers", c.encoder_layers},
                               {"decoder_layers", c.decoder_layers},
                               {"encoder_attention_heads", c.encoder_attention_heads},
                               {"decoder_attention_heads", c.decoder_attention_heads},
                               {"encoder_ffn_dim", c.encoder_ffn_dim},
                               {"decoder_ffn_dim", c.decoder_ffn_dim},
                               {"max_position_embeddings", c.max_position_embeddings}}) {
    r.positive(key, v);
  }
  for (const auto& [key, heads] : {std::pair{"encoder_attention_heads", c.encoder_attention_heads},
                                   {"decoder_attention_heads", c.decoder_attention_heads}}) {
    if (c.d_model % heads != 0) {
      r.fail("d_model", fmt::format("{} is not a multiple of {} ({})", c.d_model, key, heads));
    }
  }
  for (const auto& [key, id] : {std::pair{"pad_token_id", c.pad_token_id},
                                {"bos_token_id", c.bos_token_id},
                                {"eos_token_id", c.eos_token_id},
                                {"decoder_start_token_id", c.decoder_start_token_id},
                                {"forced_bos_token_id", c.forced_bos_token_id},
                                {"forced_eos_token_id", c.forced_eos_token_id}}) {
    if (id >= c.vocab_size) r.fail(key, fmt::format("{} is not below vocab_size", id));
  }
  if (c.eos_token_id < 0) r.fail("eos_token_id", "required: decoding ends at it");
  if (c.decoder_start_token_id < 0) r.fail("decoder_start_token_id", "required");
  if (c.forced_eos_token_id >= 0 && c.forced_eos_token_id != c.eos_token_id) {
    r.fail("forced_eos_token_id", "must be eos_token_id or null");
  }
  for (const auto& [key, p] : {std::pair{"dropout", c.dropout},
                               {"attention_dropout", c.attention_dropout},
                               {"activation_dropout", c.activation_dropout}}) {
    if (p < 0 || p >= 1) r.fail(key, "must be in [0, 1)");
  }
  return c;
}

Seq2SeqLoadReport load_seq2seq_weights(Seq2SeqModelImpl& model, const SafetensorsFile& file) {
  Seq2SeqLoadReport report;
  std::map<std::string, const SafetensorsTensor*> by_name;
  for (const SafetensorsTensor& t : file.tensors()) by_name[t.name] = &t;
  bool found = false;
  for (const char* p : {"model.", ""}) {
    for (const char* e : {"shared.weight", "encoder.embed_tokens.weight"}) {
      if (!found && by_name.count(std::string(p) + e)) {
        report.prefix = p;
        found = true;
      }
    }
  }
  if (!found) {
    throw InputError(file.path() +
                     ": not a BART or Pegasus checkpoint: no model.shared.weight (nor "
                     "shared.weight, model.encoder.embed_tokens.weight)");
  }
  const bool tied = model.config().tie_word_embeddings;
  // Where the shared embedding may be stored instead: its tied copies.
  const std::vector<std::string> shared_copies = {report.prefix + "encoder.embed_tokens.weight",
                                                  report.prefix + "decoder.embed_tokens.weight",
                                                  "lm_head.weight"};
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& [name, param] : model.hf_tensors()) {
    const bool top_level = name == "final_logits_bias" || name == "lm_head.weight";
    std::string key = (top_level ? "" : report.prefix) + name;
    auto it = by_name.find(key);
    if (it == by_name.end() && name == "shared.weight") {
      for (const std::string& copy : shared_copies) {
        if (copy == "lm_head.weight" && !tied) continue;
        if ((it = by_name.find(copy)) != by_name.end()) break;
      }
    }
    if (it == by_name.end()) {
      if (name == "final_logits_bias") {
        report.final_logits_bias = false;
        param.zero_();
        continue;
      }
      missing.push_back(key);
      continue;
    }
    used.insert(it->first);
    const SafetensorsTensor& t = *it->second;
    std::vector<std::int64_t> want = param.sizes().vec();
    if (t.shape != want) {
      mismatched.push_back(fmt::format("{} is {} in the file, {} in config.json's model", it->first,
                                       shape_string(t.shape), shape_string(want)));
      continue;
    }
    file.to_f32(t, param.data_ptr<float>());
  }
  const std::vector<std::int64_t> shared_shape = {model.config().vocab_size,
                                                  model.config().d_model};
  std::vector<std::string> unexpected;
  for (const SafetensorsTensor& t : file.tensors()) {
    if (used.count(t.name)) continue;
    const bool copy =
        std::find(shared_copies.begin(), shared_copies.end(), t.name) != shared_copies.end() &&
        (t.name != "lm_head.weight" || tied);
    if (copy) {
      if (t.shape != shared_shape) {
        mismatched.push_back(fmt::format("{} is {}, the shared embedding {}", t.name,
                                         shape_string(t.shape), shape_string(shared_shape)));
      }
      report.ignored.push_back(t.name);
      continue;
    }
    const bool under_prefix = t.name.starts_with(report.prefix);
    const std::string rest = under_prefix ? t.name.substr(report.prefix.size()) : t.name;
    // Pegasus' sinusoids, which some versions saved: transformers loads them over its own.
    if (!model.config().bart() &&
        (rest == "encoder.embed_positions.weight" || rest == "decoder.embed_positions.weight")) {
      torch::Tensor& table = model.sinusoid(rest.starts_with("decoder"));
      if (t.shape != table.sizes().vec()) {
        mismatched.push_back(fmt::format("{} is {} in the file, {} in config.json's model", t.name,
                                         shape_string(t.shape), shape_string(table.sizes().vec())));
      } else {
        file.to_f32(t, table.data_ptr<float>());
      }
      continue;
    }
    // fairseq's leftover version buffers.
    if (rest.ends_with(".version") || rest.ends_with("_float_tensor")) {
      report.ignored.push_back(t.name);
    } else if (under_prefix && (rest.starts_with("encoder.") || rest.starts_with("decoder.") ||
                                rest.starts_with("shared."))) {
      unexpected.push_back(t.name);
    } else {
      report.ignored.push_back(t.name);  // a task head, e.g. a classification head
    }
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    throw InputError(weights_mismatch(file.path(), missing, unexpected, mismatched));
  }
  return report;
}

PretrainedSeq2Seq load_pretrained_seq2seq(const std::string& dir, bool weights) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw InputError(dir + ": no such folder (" + kFolderHint + ")");
  const fs::path d(dir);
  PretrainedSeq2Seq p;
  p.dir = dir;
  if (!fs::is_regular_file(d / "config.json", ec)) {
    throw InputError(dir + ": no config.json (" + kFolderHint + ")");
  }
  p.config = read_seq2seq_config((d / "config.json").string());
  if (!fs::is_regular_file(d / "vocab.txt", ec)) {
    std::string hint;
    for (const char* sp : {"spiece.model", "sentencepiece.bpe.model", "tokenizer.json"}) {
      if (fs::exists(d / sp, ec)) {
        hint = fmt::format(
            "; it has {}, a tokenizer weakdistill does not read: the seq2seq student needs a "
            "BERT-style vocab.txt (as fnlp/bart-base-chinese and IDEA-CCNL's Chinese Pegasus have)",
            sp);
        break;
      }
    }
    throw InputError(dir + ": no vocab.txt" + hint);
  }
  p.tokenizer = std::make_shared<BertTokenizer>(BertTokenizer::from_folder(dir));
  if (static_cast<std::int64_t>(p.tokenizer->vocab_size()) > p.config.vocab_size) {
    throw InputError(fmt::format("{}: {} tokens, but config.json's vocab_size is {}",
                                 (d / "vocab.txt").string(), p.tokenizer->vocab_size(),
                                 p.config.vocab_size));
  }
  p.model = Seq2SeqModel(p.config);
  if (weights) {
    const fs::path file = d / "model.safetensors";
    if (!fs::is_regular_file(file, ec)) {
      std::string hint;
      if (fs::exists(d / "pytorch_model.bin", ec)) {
        hint =
            "; it has pytorch_model.bin, which weakdistill does not read: convert it once with "
            "save_pretrained(safe_serialization=True)";
      }
      throw InputError(dir + ": no model.safetensors" + hint);
    }
    p.report = load_seq2seq_weights(*p.model, SafetensorsFile(file.string()));
  }
  return p;
}

void write_seq2seq_folder(const Seq2SeqModelImpl& model, const std::string& from_dir,
                          const nlohmann::json& generation, const std::string& readme,
                          const std::string& dir) {
  const Seq2SeqConfig& c = model.config();
  const std::string config_path = (fs::path(from_dir) / "config.json").string();
  nlohmann::json config = read_hf_config_json(config_path, kFolderHint);
  config["architectures"] = {c.bart() ? "BartForConditionalGeneration"
                                      : "PegasusForConditionalGeneration"};
  config["torch_dtype"] = "float32";
  write_file_atomically(dir + "/config.json", config.dump(2) + "\n");

  std::vector<SafetensorsWriteTensor> tensors;
  for (const auto& [name, t] : model.hf_tensors()) {
    const bool top_level = name == "final_logits_bias" || name == "lm_head.weight";
    tensors.push_back(to_write_tensor((top_level ? "" : "model.") + name, t));
  }
  write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});

  // generate() reads its defaults here: the token ids of config.json, then the student's decoding.
  nlohmann::json g = nlohmann::json::object();
  const fs::path from_generation = fs::path(from_dir) / "generation_config.json";
  std::error_code ec;
  if (fs::is_regular_file(from_generation, ec)) {
    g = read_hf_config_json(from_generation.string(), kFolderHint);
  }
  auto id = [](std::int64_t v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
  g["bos_token_id"] = id(c.bos_token_id);
  g["eos_token_id"] = c.eos_token_id;
  g["pad_token_id"] = c.pad_token_id;
  g["decoder_start_token_id"] = c.decoder_start_token_id;
  g["forced_bos_token_id"] = id(c.forced_bos_token_id);
  g["forced_eos_token_id"] = id(c.forced_eos_token_id);
  for (const auto& [k, v] : generation.items()) g[k] = v;
  write_file_atomically(dir + "/generation_config.json", g.dump(2) + "\n");

  fs::copy_file(fs::path(from_dir) / "vocab.txt", fs::path(dir) / "vocab.txt");
  const fs::path from_tokenizer = fs::path(from_dir) / "tokenizer_config.json";
  write_bert_tokenizer_files(
      dir, fs::is_regular_file(from_tokenizer, ec)
               ? nlohmann::ordered_json(read_hf_config_json(from_tokenizer.string(), kFolderHint))
               : nlohmann::ordered_json::object());
  write_file_atomically(dir + "/README.md", readme);
}

void copy_seq2seq_files(const std::string& from_dir, const std::string& to_dir) {
  const auto opts = fs::copy_options::overwrite_existing;
  std::error_code ec;
  for (const char* name :
       {"config.json", "vocab.txt", "tokenizer_config.json", "generation_config.json"}) {
    const fs::path from = fs::path(from_dir) / name;
    if (fs::is_regular_file(from, ec)) fs::copy_file(from, fs::path(to_dir) / name, opts);
  }
}

}  // namespace weakdistill::student_internal
