#include "uie_model.h"

#include <fmt/format.h>

#include "weakdistill/core/error.h"
#include "weakdistill/core/safetensors.h"

namespace weakdistill::student_internal {

UieModelImpl::UieModelImpl(BertEncoder encoder) {
  encoder_ = register_module("encoder", std::move(encoder));
  const std::int64_t h = encoder_->config().hidden_size;
  start_ = register_module("linear_start", torch::nn::Linear(h, 1));
  end_ = register_module("linear_end", torch::nn::Linear(h, 1));
  torch::NoGradGuard no_grad;
  for (auto* l : {&start_, &end_}) {
    (*l)->weight.normal_(0, 0.02);
    (*l)->bias.zero_();
  }
}

std::pair<torch::Tensor, torch::Tensor> UieModelImpl::logits(const torch::Tensor& ids,
                                                             const torch::Tensor& mask,
                                                             const torch::Tensor& token_types) {
  const torch::Tensor h = encoder_(ids, mask, nullptr, token_types);  // [B, L, H]
  return {start_(h).squeeze(-1), end_(h).squeeze(-1)};
}

const std::vector<std::pair<std::string, std::string>>& uie_pointer_names() {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"linear_start", "linear_end"}, {"start_linear", "end_linear"}};
  return names;
}

namespace {

void check_type_vocab(const PretrainedBert& bert, const std::string& dir) {
  if (bert.config.type_vocab_size < 2) {
    throw InputError(
        fmt::format("{}: config.json's type_vocab_size is {}, but UIE gives the text token type 1 "
                    "([CLS] prompt [SEP] is type 0)",
                    dir, bert.config.type_vocab_size));
  }
}

std::string shape_of(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

UieCheckpoint load_uie_checkpoint(const std::string& dir) {
  UieCheckpoint c;
  c.bert = load_pretrained_bert(dir);
  check_type_vocab(c.bert, dir);
  const SafetensorsFile file(c.bert.folder.weights_path);
  const std::int64_t h = c.bert.config.hidden_size;
  c.model = UieModel(c.bert.encoder);
  std::string looked;
  for (const auto& [start, end] : uie_pointer_names()) {
    const std::string names[4] = {start + ".weight", start + ".bias", end + ".weight",
                                  end + ".bias"};
    looked += fmt::format("{}{}, {}, {}, {}", looked.empty() ? "" : "; or ", names[0], names[1],
                          names[2], names[3]);
    const SafetensorsTensor* found[4];
    int present = 0;
    for (int i = 0; i < 4; ++i) present += (found[i] = file.find(names[i])) != nullptr;
    if (present == 0) continue;
    if (present < 4) {
      std::string missing;
      for (int i = 0; i < 4; ++i) {
        if (!found[i]) missing += (missing.empty() ? "" : ", ") + names[i];
      }
      throw InputError(
          fmt::format("{}: an incomplete UIE checkpoint: {} lacks {}", dir, file.path(), missing));
    }
    torch::Tensor* params[4] = {&c.model->linear_start()->weight, &c.model->linear_start()->bias,
                                &c.model->linear_end()->weight, &c.model->linear_end()->bias};
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 4; ++i) {
      const std::vector<std::int64_t> want =
          i % 2 == 0 ? std::vector<std::int64_t>{1, h} : std::vector<std::int64_t>{1};
      if (found[i]->shape != want) {
        throw InputError(
            fmt::format("{}: {} is {} in {}, but a pointer layer of hidden size {} is {}", dir,
                        names[i], shape_of(found[i]->shape), file.path(), h, shape_of(want)));
      }
      file.to_f32(*found[i], params[i]->data_ptr<float>());
    }
    c.pointers = start + "/" + end;
    return c;
  }
  throw InputError(fmt::format(
      "{}: not a UIE checkpoint: {} has no pointer layers (looked for {}, at the top level "
      "beside the encoder). A plain BERT / ERNIE folder is read by bert-ner; a UIE model "
      "converted by uie_pytorch has them (see docs/PRETRAINED.md)",
      dir, file.path(), looked));
}

UieCheckpoint load_uie_skeleton(const std::string& dir) {
  UieCheckpoint c;
  c.bert = load_pretrained_bert(dir, false);
  check_type_vocab(c.bert, dir);
  c.model = UieModel(c.bert.encoder);
  c.pointers = "linear_start/linear_end";
  return c;
}

}  // namespace weakdistill::student_internal
