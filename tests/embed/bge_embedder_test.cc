// The `bge` embedder against the independent Python forward
// (tests/reference/bert_reference.py) on the ids our tokenizer gives.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "support/bert_model.h"
#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/embed/embedder.h"
#include "weakdistill/text/bert_tokenizer.h"

namespace weakdistill {
namespace {

using testing::bert_reference;
using testing::shell_quote;
using testing::TempDir;

const std::vector<std::string> kTexts = {
    "北京今天下雨", "上海股市大涨，成交放量",         "我爱NLP",
    "足球",         "明天的天气怎么样？北京会下雨吗", "Apple发布新款iPhone"};

class BgeEmbedder : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream vocab(tmp_.file("vocab.txt"));
    vocab << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\napple\niphone\nnl\n##p\n，\n？\n";
    for (const char* c : {"北", "京", "今", "天", "下", "雨", "上", "海", "股", "市", "大",
                          "涨", "成", "交", "放", "量", "我", "爱", "足", "球", "明", "的",
                          "气", "怎", "么", "样", "会", "吗", "发", "布", "新", "款"}) {
      vocab << c << "\n";
    }
    vocab.close();
    model_ = tmp_.file("bge");
    bert_reference(
        "make " + shell_quote(model_) + " --vocab " + shell_quote(tmp_.file("vocab.txt")) +
        " --hidden 32 --layers 2 --heads 4 --intermediate 64 --max-position 64 --std 0.2");
  }
  TempDir tmp_;
  std::string model_;
};

TEST_F(BgeEmbedder, ClsVectorsAgreeWithTheReferenceAndDoNotDependOnTheBatch) {
  auto embedder =
      make_embedder({{"kind", "bge"}, {"path", model_}, {"batch_size", 4}, {"threads", 1}});
  EXPECT_EQ(embedder->kind(), "bge");
  ASSERT_EQ(embedder->dim(), 32u);
  const EmbeddingMatrix ours = embedder->embed(kTexts);

  // The reference sees the same ids, padded to the longest.
  const BertTokenizer tokenizer = BertTokenizer::from_folder(model_);
  std::vector<std::vector<std::int64_t>> ids, mask;
  std::size_t longest = 0;
  for (const auto& t : kTexts) {
    ids.push_back(tokenizer.encode_ids(t, 64));
    longest = std::max(longest, ids.back().size());
  }
  for (auto& row : ids) {
    mask.emplace_back(longest, 0);
    std::fill_n(mask.back().begin(), row.size(), 1);
    row.resize(longest, 0);
  }
  // [CLS] 我 爱 nl ##p [SEP]: "NLP" lower-cased and split into pieces.
  EXPECT_EQ(ids[2][3], tokenizer.id("nl"));
  EXPECT_EQ(ids[2][4], tokenizer.id("##p"));
  std::ofstream(tmp_.file("ids.json"))
      << nlohmann::json{{"input_ids", ids}, {"attention_mask", mask}}.dump();
  bert_reference("forward " + shell_quote(model_) + " --ids " + shell_quote(tmp_.file("ids.json")) +
                 " --out " + shell_quote(tmp_.file("ref")));
  const auto ref = testing::read_npy(tmp_.file("ref/cls_normalized.npy"));
  ASSERT_EQ(ref.shape, (std::vector<std::int64_t>{6, 32}));
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    double norm = 0;
    for (std::size_t j = 0; j < 32; ++j) {
      EXPECT_NEAR(ours.row(i)[j], ref.values[i * 32 + j], 1e-4) << kTexts[i] << " [" << j << "]";
      norm += static_cast<double>(ours.row(i)[j]) * ours.row(i)[j];
    }
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
  // One at a time (no padding at all): the same vectors.
  for (std::size_t i = 0; i < kTexts.size(); ++i) {
    const EmbeddingMatrix one = embedder->embed({kTexts[i]});
    for (std::size_t j = 0; j < 32; ++j) EXPECT_NEAR(one.row(0)[j], ours.row(i)[j], 1e-5);
  }
}

TEST_F(BgeEmbedder, MeanPoolingAveragesTheTokensOnly) {
  auto cls = make_embedder({{"kind", "bge"}, {"path", model_}, {"threads", 1}});
  auto mean =
      make_embedder({{"kind", "bge"}, {"path", model_}, {"pooling", "mean"}, {"threads", 1}});
  const auto a = mean->embed({kTexts[0], kTexts[4]});
  const auto b = mean->embed({kTexts[0]});
  for (std::size_t j = 0; j < 32; ++j) EXPECT_NEAR(a.row(0)[j], b.row(0)[j], 1e-5);
  const auto c = cls->embed({kTexts[0]});
  double diff = 0;
  for (std::size_t j = 0; j < 32; ++j) diff += std::abs(c.row(0)[j] - b.row(0)[j]);
  EXPECT_GT(diff, 1e-3);
}

TEST_F(BgeEmbedder, BadOptionsAndFoldersNameTheKey) {
  auto message = [](const nlohmann::json& config) {
    try {
      make_embedder(config);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"kind", "bge"}}).find("embedder.path: required"), std::string::npos);
  EXPECT_NE(message({{"kind", "bge"}, {"path", tmp_.file("none")}})
                .find("embedder.path: " + tmp_.file("none") + ": no such folder"),
            std::string::npos);
  EXPECT_NE(
      message({{"kind", "bge"}, {"path", model_}, {"pooling", "max"}}).find("embedder.pooling"),
      std::string::npos);
  EXPECT_NE(message({{"kind", "bge"}, {"path", model_}, {"dim", 3}}).find("dim"),
            std::string::npos);
  EXPECT_NE(message({{"kind", "bert"}}).find("known: hashing, openai, bge"), std::string::npos);
}

}  // namespace
}  // namespace weakdistill
