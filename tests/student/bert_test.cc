// The libtorch BERT encoder (src/student/neural/bert.h) against an independent
// float64 forward in Python PyTorch (tests/reference/bert_reference.py), which
// also writes the random Hugging Face folders with its own safetensors writer.
#include "bert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "bert_finetune.h"
#include "support/bert_model.h"
#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/random.h"

namespace weakdistill {
namespace {

using student_internal::load_pretrained_bert;
using testing::bert_reference;
using testing::read_npy;
using testing::shell_quote;
using testing::TempDir;

constexpr int kVocab = 120;

// Three rows of lengths 16, 9 and 3 ([CLS] ... [SEP]), padded with [PAD] = 0.
struct Ids {
  std::vector<std::vector<std::int64_t>> rows;
  std::vector<std::vector<std::int64_t>> mask;
};

Ids make_ids(std::uint64_t seed) {
  Rng rng(seed);
  Ids out;
  for (std::size_t n : {16u, 9u, 3u}) {
    std::vector<std::int64_t> r = {2}, m(16, 0);
    while (r.size() + 1 < n) r.push_back(5 + static_cast<std::int64_t>(rng.below(kVocab - 5)));
    r.push_back(3);
    for (std::size_t i = 0; i < n; ++i) m[i] = 1;
    r.resize(16, 0);
    out.rows.push_back(r);
    out.mask.push_back(m);
  }
  return out;
}

void write_ids(const std::string& path, const Ids& ids) {
  std::ofstream(path)
      << nlohmann::json{{"input_ids", ids.rows}, {"attention_mask", ids.mask}}.dump();
}

torch::Tensor to_tensor(const std::vector<std::vector<std::int64_t>>& rows) {
  std::vector<std::int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return torch::tensor(flat, torch::kInt64).view({static_cast<std::int64_t>(rows.size()), -1});
}

// Largest |ours - reference| over the rows (and, for [B, L, H], the positions
// whose mask is 1).
double max_diff(const torch::Tensor& ours, const testing::Npy& ref, const Ids& ids) {
  const torch::Tensor r =
      torch::from_blob(const_cast<float*>(ref.values.data()), ref.shape, torch::kFloat32);
  EXPECT_EQ(ours.sizes().vec(), ref.shape);
  torch::Tensor d = (ours.to(torch::kFloat32) - r).abs();
  if (d.dim() == 3) d = d * to_tensor(ids.mask).unsqueeze(2).to(torch::kFloat32);
  return d.max().item<double>();
}

struct Variant {
  std::string name;
  std::string make_args;
  bool pooler = true;
};

class BertReference : public ::testing::TestWithParam<Variant> {};

// std 0.2 (not HF's 0.02) so that attention is far from uniform and gelu's erf and
// tanh forms differ by ~1e-3: a wrong mask or activation fails the 1e-4 bound.
TEST_P(BertReference, HiddenStatesPooledAndClsVectorsAgreeWithin1e4) {
  const Variant& v = GetParam();
  TempDir tmp;
  const std::string model = tmp.file("model");
  bert_reference("make " + shell_quote(model) + " --vocab-size " + std::to_string(kVocab) +
                 " --hidden 48 --layers 2 --heads 4 --intermediate 96 --max-position 32 --std 0.2 "
                 "--seed 7 " +
                 v.make_args);
  const Ids ids = make_ids(11);
  write_ids(tmp.file("ids.json"), ids);
  bert_reference("forward " + shell_quote(model) + " --ids " + shell_quote(tmp.file("ids.json")) +
                 " --out " + shell_quote(tmp.file("ref")));

  auto bert = load_pretrained_bert(model);
  EXPECT_EQ(bert.report.pooler_loaded, v.pooler);
  bert.encoder->eval();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> layers;
  const torch::Tensor last =
      bert.encoder->forward(to_tensor(ids.rows), to_tensor(ids.mask), &layers);
  ASSERT_EQ(layers.size(), 3u);
  for (std::size_t k = 0; k < layers.size(); ++k) {
    EXPECT_LT(max_diff(layers[k],
                       read_npy(tmp.file("ref/hidden_states_" + std::to_string(k) + ".npy")), ids),
              1e-4)
        << "layer " << k;
  }
  EXPECT_LT(max_diff(last, read_npy(tmp.file("ref/last_hidden.npy")), ids), 1e-4);
  const torch::Tensor cls = last.select(1, 0);
  EXPECT_LT(max_diff(cls / cls.norm(2, 1, true), read_npy(tmp.file("ref/cls_normalized.npy")), ids),
            1e-4);
  if (v.pooler) {
    EXPECT_LT(max_diff(bert.encoder->pool(last), read_npy(tmp.file("ref/pooled.npy")), ids), 1e-4);
  }
  // The [CLS]-only last layer gives the same [CLS] state and pooled vector.
  const torch::Tensor cls_only =
      bert.encoder->forward_cls(to_tensor(ids.rows), to_tensor(ids.mask));
  EXPECT_LT(max_diff(cls_only / cls_only.norm(2, 1, true),
                     read_npy(tmp.file("ref/cls_normalized.npy")), ids),
            1e-4);
  EXPECT_LT((cls_only - cls).abs().max().item<double>(), 1e-5);
  if (v.pooler) {
    EXPECT_LT(max_diff(bert.encoder->pool(cls_only), read_npy(tmp.file("ref/pooled.npy")), ids),
              1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Variants, BertReference,
    ::testing::Values(Variant{"f32", "--dtype F32"}, Variant{"f16", "--dtype F16"},
                      Variant{"bf16", "--dtype BF16"},
                      Variant{"for_model_prefix_and_heads",
                              "--prefix bert. --extra-head --position-ids-buffer"},
                      Variant{"ernie_task_types", "--prefix ernie. --ernie-task-types 3"},
                      Variant{"gelu_new", "--act gelu_new"},
                      Variant{"relu_bf16", "--act relu --dtype BF16"},
                      Variant{"no_pooler", "--no-pooler", false}),
    [](const auto& info) { return info.param.name; });

// A model folder made by the reference, for the error cases.
class BertFolderErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = tmp_.file("model");
    bert_reference("make " + shell_quote(model_) +
                   " --vocab-size 40 --hidden 16 --layers 1 --heads 2 "
                   "--intermediate 32 --max-position 16 --extra-head");
  }
  // Rewrites model.safetensors with `edit` applied to its tensors.
  void rewrite(const std::function<void(std::vector<SafetensorsWriteTensor>&)>& edit) {
    std::vector<SafetensorsWriteTensor> tensors;
    {
      const SafetensorsFile f(model_ + "/model.safetensors");
      for (const auto& t : f.tensors()) {
        if (t.dtype != SafetensorsDtype::kF32) continue;
        tensors.push_back({t.name, t.shape, f.to_f32(t), SafetensorsDtype::kF32});
      }
    }
    edit(tensors);
    write_safetensors(model_ + "/model.safetensors", tensors);
  }
  std::string message() {
    try {
      load_pretrained_bert(model_);
    } catch (const InputError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no InputError";
    return "";
  }
  TempDir tmp_;
  std::string model_;
};

TEST_F(BertFolderErrors, AMissingTensorIsListedByName) {
  rewrite([](auto& ts) {
    std::erase_if(ts, [](const auto& t) { return t.name == "encoder.layer.0.output.dense.bias"; });
  });
  const std::string m = message();
  EXPECT_NE(m.find("model.safetensors: the weights do not fit config.json"), std::string::npos)
      << m;
  EXPECT_NE(m.find("1 missing tensor(s): encoder.layer.0.output.dense.bias"), std::string::npos)
      << m;
}

TEST_F(BertFolderErrors, AnExtraLayerIsUnexpectedButATaskHeadIsIgnored) {
  rewrite([](auto& ts) {
    ts.push_back({"encoder.layer.1.output.dense.bias",
                  {16},
                  std::vector<float>(16),
                  SafetensorsDtype::kF32});
  });
  const std::string m = message();
  EXPECT_NE(m.find("1 unexpected tensor(s): encoder.layer.1.output.dense.bias"), std::string::npos)
      << m;
  EXPECT_EQ(m.find("cls.predictions"), std::string::npos) << m;
}

TEST_F(BertFolderErrors, AShapeThatDiffersNamesBothShapes) {
  rewrite([](auto& ts) {
    for (auto& t : ts) {
      if (t.name == "pooler.dense.weight") {
        t.shape = {8, 32};
      }
    }
  });
  const std::string m = message();
  EXPECT_NE(m.find("pooler.dense.weight is [8, 32] in the file, [16, 16] in config.json's model"),
            std::string::npos)
      << m;
}

TEST_F(BertFolderErrors, ATruncatedDownloadIsAnInputError) {
  const std::string path = model_ + "/model.safetensors";
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  const std::string m = message();
  EXPECT_NE(m.find("model.safetensors"), std::string::npos) << m;
}

TEST_F(BertFolderErrors, MissingFilesAndBadConfigSayWhatIsWrong) {
  std::filesystem::rename(model_ + "/model.safetensors", model_ + "/pytorch_model.bin");
  EXPECT_NE(message().find("no model.safetensors; it has pytorch_model.bin"), std::string::npos);
  std::filesystem::rename(model_ + "/pytorch_model.bin", model_ + "/model.safetensors");

  auto config = nlohmann::json::parse(std::ifstream(model_ + "/config.json"));
  config["num_attention_heads"] = 5;
  std::ofstream(model_ + "/config.json") << config.dump();
  EXPECT_NE(
      message().find("config.json: hidden_size: 16 is not a multiple of num_attention_heads (5)"),
      std::string::npos)
      << message();
  config.erase("num_attention_heads");
  std::ofstream(model_ + "/config.json") << config.dump();
  EXPECT_NE(message().find("config.json: num_attention_heads: missing"), std::string::npos)
      << message();
  config["num_attention_heads"] = 2;
  config["position_embedding_type"] = "relative_key";
  std::ofstream(model_ + "/config.json") << config.dump();
  EXPECT_NE(message().find("position_embedding_type: \"relative_key\" is not supported"),
            std::string::npos);
  config["position_embedding_type"] = "absolute";
  config["vocab_size"] = 30;
  std::ofstream(model_ + "/config.json") << config.dump();
  EXPECT_NE(message().find("40 tokens, but config.json's vocab_size is 30"), std::string::npos)
      << message();

  std::filesystem::remove(model_ + "/vocab.txt");
  EXPECT_NE(message().find("no vocab.txt"), std::string::npos);
  EXPECT_NE(([&] {
              try {
                load_pretrained_bert(tmp_.file("nowhere"));
              } catch (const InputError& e) {
                return std::string(e.what());
              }
              return std::string();
            })()
                .find("nowhere: no such folder"),
            std::string::npos);
}

TEST(BertSchedule, RisesLinearlyThenFallsToZeroAsHuggingFace) {
  using student_internal::BertOptimizer;
  // get_linear_schedule_with_warmup(warmup 2, total 10): 0, 0.5, then (10 - s) / 8.
  EXPECT_DOUBLE_EQ(BertOptimizer::schedule(0, 2, 10), 0.0);
  EXPECT_DOUBLE_EQ(BertOptimizer::schedule(1, 2, 10), 0.5);
  EXPECT_DOUBLE_EQ(BertOptimizer::schedule(2, 2, 10), 1.0);
  EXPECT_DOUBLE_EQ(BertOptimizer::schedule(6, 2, 10), 0.5);
  EXPECT_DOUBLE_EQ(BertOptimizer::schedule(10, 2, 10), 0.0);
  EXPECT_DOUBLE_EQ(BertOptimizer::schedule(0, 0, 4), 1.0);
}

}  // namespace
}  // namespace weakdistill
