#include "weakdistill/embed/hashing_embedder.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

std::vector<float> row_of(const EmbeddingMatrix& m, std::size_t i) {
  return std::vector<float>(m.row(i), m.row(i) + m.dim());
}

double norm(const EmbeddingMatrix& m, std::size_t i) {
  double s = 0;
  for (std::size_t d = 0; d < m.dim(); ++d) s += double{m.row(i)[d]} * m.row(i)[d];
  return std::sqrt(s);
}

double cosine(const EmbeddingMatrix& m, std::size_t i, std::size_t j) {
  double s = 0;
  for (std::size_t d = 0; d < m.dim(); ++d) s += double{m.row(i)[d]} * m.row(j)[d];
  return s;  // rows are unit vectors
}

HashingEmbedder fitted(HashingEmbedderOptions options, const std::vector<std::string>& labeled) {
  HashingEmbedder e(options);
  e.fit(labeled);
  return e;
}

// Deterministic varied texts: CJK, ASCII, 4-byte characters, repeats and
// whitespace (ASCII and full-width).
std::vector<std::string> synthetic_texts(std::size_t count, std::uint32_t seed) {
  const std::vector<std::string> alphabet = {"的", "是", "中", "国",     "人", "北",
                                             "京", "大", "学", "a",      "b",  "1",
                                             "𠮷", "😀",  " ",  "\u3000", "\t"};
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    std::string t;
    const std::size_t n = rng() % 80;
    for (std::size_t k = 0; k < n; ++k) t += alphabet[rng() % alphabet.size()];
    out.push_back(t);
  }
  return out;
}

TEST(Fnv1a64, MatchesPublishedAndPythonComputedValues) {
  // The first three are the FNV authors' test vectors.
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ULL);
  // Computed with a three-line Python FNV-1a over str.encode("utf-8").
  EXPECT_EQ(fnv1a64("甲"), 0x27b2971b6d06418cULL);
  EXPECT_EQ(fnv1a64("乙"), 0x1e55191b67856945ULL);
  EXPECT_EQ(fnv1a64("甲乙"), 0xea522428aad9955eULL);
  EXPECT_EQ(fnv1a64("乙乙"), 0xa2be630d5803d325ULL);
  EXPECT_EQ(fnv1a64("乙甲"), 0xaea7a10d5fadc3ecULL);
}

// Fitted on {"甲乙", "乙"} (N = 2) with orders 1-2 and dim 8. From the hashes above
// (bucket = h mod 8, sign = top bit):
//   甲   bucket 4, +   df 1  idf ln(3/2) + 1
//   乙   bucket 5, +   df 2  idf 1
//   甲乙 bucket 6, -   df 1  idf ln(3/2) + 1
//   乙乙 bucket 5, -   df 0  idf ln 3 + 1
//   乙甲 bucket 4, -   df 0  idf ln 3 + 1
HashingEmbedderOptions tiny_options(bool sublinear) {
  HashingEmbedderOptions o;
  o.dim = 8;
  o.min_n = 1;
  o.max_n = 2;
  o.sublinear_tf = sublinear;
  return o;
}

std::vector<float> normalised(std::vector<double> v) {
  double s = 0;
  for (double x : v) s += x * x;
  std::vector<float> out;
  for (double x : v) out.push_back(static_cast<float>(x / std::sqrt(s)));
  return out;
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t d = 0; d < want.size(); ++d) EXPECT_NEAR(got[d], want[d], 1e-6) << "dim " << d;
}

TEST(HashingEmbedder, HandWorkedIdf) {
  const auto e = fitted(tiny_options(true), {"甲乙", "乙"});
  EXPECT_DOUBLE_EQ(e.idf("甲"), std::log(1.5) + 1);
  EXPECT_DOUBLE_EQ(e.idf("乙"), 1.0);
  EXPECT_DOUBLE_EQ(e.idf("甲乙"), std::log(1.5) + 1);
  EXPECT_DOUBLE_EQ(e.idf("乙乙"), std::log(3.0) + 1);
  EXPECT_DOUBLE_EQ(e.idf("丙"), std::log(3.0) + 1);
}

TEST(HashingEmbedder, HandWorkedVectorsSublinear) {
  const auto e = fitted(tiny_options(true), {"甲乙", "乙"});
  const auto m = e.embed({"甲乙乙", "乙甲"});
  const double a = std::log(1.5) + 1;
  // "甲乙乙": 甲 tf 1, 乙 tf 2 (weight 1 + ln 2), 甲乙 tf 1, 乙乙 tf 1; 乙 and 乙乙 share
  // bucket 5 with opposite signs.
  expect_near(row_of(m, 0),
              normalised({0, 0, 0, 0, a, (1 + std::log(2.0)) - (std::log(3.0) + 1), -a, 0}));
  // "乙甲": 甲 and the unseen 乙甲 share bucket 4.
  expect_near(row_of(m, 1), normalised({0, 0, 0, 0, a - (std::log(3.0) + 1), 1, 0, 0}));
}

TEST(HashingEmbedder, HandWorkedVectorRawTf) {
  const auto e = fitted(tiny_options(false), {"甲乙", "乙"});
  const double a = std::log(1.5) + 1;
  expect_near(row_of(e.embed({"甲乙乙"}), 0),
              normalised({0, 0, 0, 0, a, 2 - (std::log(3.0) + 1), -a, 0}));
}

TEST(HashingEmbedder, OrderRangeSelectsNgrams) {
  // Bigrams only: "甲乙乙" has 甲乙 (bucket 6, -) and 乙乙 (bucket 5, -).
  auto o = tiny_options(true);
  o.min_n = o.max_n = 2;
  const auto e = fitted(o, {"甲乙", "乙"});
  expect_near(row_of(e.embed({"甲乙乙"}), 0),
              normalised({0, 0, 0, 0, 0, -(std::log(3.0) + 1), -(std::log(1.5) + 1), 0}));
  // Too short for a bigram: no features.
  EXPECT_EQ(norm(e.embed({"甲"}), 0), 0.0);
}

TEST(HashingEmbedder, RefitReplacesIdfAndEmptyFitGivesUnitIdf) {
  HashingEmbedder e(tiny_options(true));
  e.fit({"甲乙", "乙"});
  e.fit({});
  EXPECT_DOUBLE_EQ(e.idf("甲"), 1.0);
  EXPECT_DOUBLE_EQ(e.idf("乙"), 1.0);
  e.fit({"甲"});
  EXPECT_DOUBLE_EQ(e.idf("甲"), 1.0);
  EXPECT_DOUBLE_EQ(e.idf("乙"), std::log(2.0) + 1);
}

TEST(HashingEmbedder, RowsAreUnitOrZero) {
  const auto texts = synthetic_texts(300, 7);
  const auto e = fitted({}, {texts.begin(), texts.begin() + 100});
  std::vector<std::string> all = texts;
  all.insert(all.end(), {"", " \t\u3000\n", "北"});
  const auto m = e.embed(all);
  ASSERT_EQ(m.rows(), all.size());
  ASSERT_EQ(m.dim(), 1024u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    bool has_content = false;
    for (const char32_t c : utf8::decode(all[i])) has_content |= !utf8::is_space(c);
    EXPECT_NEAR(norm(m, i), has_content ? 1.0 : 0.0, 1e-6) << i;
  }
}

TEST(HashingEmbedder, SameTextSameVector) {
  const std::vector<std::string> labeled = {"今天北京天气晴朗", "明天上海有雨", "北京大学"};
  const auto a = fitted({}, labeled);
  const auto b = fitted({}, labeled);
  const std::string t = "北京今天天气晴朗，适合出游。";
  const auto ma = a.embed({t, "别的句子", t});
  const auto mb = b.embed({t});
  EXPECT_EQ(row_of(ma, 0), row_of(ma, 2));
  EXPECT_EQ(row_of(ma, 0), row_of(mb, 0));
  EXPECT_EQ(row_of(ma, 0), row_of(a.embed({t}), 0));
}

TEST(HashingEmbedder, WhitespaceIsDropped) {
  const auto e = fitted({}, {"北京大学", "清华大学", "北京 天气"});
  const auto m = e.embed({"北京大学", "北京 大学", " 北\u3000京\t大\n学 ", "北京\u00a0大学"});
  for (std::size_t i = 1; i < m.rows(); ++i) EXPECT_EQ(row_of(m, 0), row_of(m, i)) << i;
  // A character that is not whitespace (zero-width space U+200B) is kept.
  EXPECT_NE(row_of(m, 0), row_of(e.embed({"北京\u200b大学"}), 0));
}

TEST(HashingEmbedder, ThreadCountDoesNotChangeResults) {
  const auto texts = synthetic_texts(1500, 11);
  const std::vector<std::string> labeled(texts.begin(), texts.begin() + 500);
  HashingEmbedderOptions o;
  o.threads = 1;
  const auto reference = fitted(o, labeled).embed(texts);
  for (const int threads : {0, 2, 3, 8}) {
    o.threads = threads;
    const auto m = fitted(o, labeled).embed(texts);
    ASSERT_EQ(m.rows(), reference.rows());
    EXPECT_EQ(std::memcmp(m.data(), reference.data(), m.rows() * m.dim() * sizeof(float)), 0)
        << "threads=" << threads;
  }
}

TEST(HashingEmbedder, SimilarTextsAreCloser) {
  const std::vector<std::string> texts = {
      "北京大学今天举行了毕业典礼，数千名毕业生参加。",      // 0
      "北京大学举行毕业典礼，毕业生们参加了典礼。",          // 1: like 0
      "央行宣布下调存款准备金率，释放长期资金约一万亿元。",  // 2
      "央行下调存款准备金率0.5个百分点，释放长期资金。",     // 3: like 2
      "今日沪深股市大幅上涨，沪指收涨百分之二。",            // 4
      "台风“山竹”登陆广东，多地停工停课。",                  // 5
  };
  const auto m = fitted({}, texts).embed(texts);
  for (const std::size_t other : {2, 3, 4, 5}) {
    EXPECT_GT(cosine(m, 0, 1), cosine(m, 0, other)) << other;
    EXPECT_GT(cosine(m, 0, 1), cosine(m, 1, other)) << other;
  }
  for (const std::size_t other : {0, 1, 4, 5}) {
    EXPECT_GT(cosine(m, 2, 3), cosine(m, 2, other)) << other;
    EXPECT_GT(cosine(m, 2, 3), cosine(m, 3, other)) << other;
  }
  EXPECT_GT(cosine(m, 0, 1), 0.3);
  EXPECT_GT(cosine(m, 2, 3), 0.3);
}

TEST(HashingEmbedder, EmbedBeforeFitIsALogicError) {
  HashingEmbedder e;
  EXPECT_THROW(e.embed({"北京"}), std::logic_error);
  EXPECT_THROW(e.idf("北"), std::logic_error);
}

TEST(HashingEmbedder, InvalidUtf8Throws) {
  HashingEmbedder e;
  EXPECT_THROW(e.fit({"ok", "\xff"}), std::invalid_argument);
  e.fit({"ok"});
  EXPECT_THROW(e.embed({"\xc3"}), std::invalid_argument);
  // Also when the bad text is met by a worker thread.
  auto texts = synthetic_texts(1000, 3);
  texts[900] = "坏\xe4\xb8";
  HashingEmbedderOptions o;
  o.threads = 4;
  EXPECT_THROW(fitted(o, {"ok"}).embed(texts), std::invalid_argument);
}

TEST(HashingEmbedder, ConstructorRejectsBadOptions) {
  HashingEmbedderOptions o;
  o.dim = 0;
  EXPECT_THROW(HashingEmbedder{o}, InputError);
  o = {};
  o.max_n = 6;
  EXPECT_THROW(HashingEmbedder{o}, InputError);
  o = {};
  o.threads = -1;
  EXPECT_THROW(HashingEmbedder{o}, InputError);
}

TEST(MakeEmbedder, DefaultsToHashing) {
  for (const auto& config :
       {nlohmann::json::object(), nlohmann::json(), nlohmann::json{{"kind", "hashing"}}}) {
    const auto e = make_embedder(config);
    ASSERT_EQ(e->kind(), "hashing");
    EXPECT_EQ(e->dim(), 1024u);
    const auto& o = dynamic_cast<const HashingEmbedder&>(*e).options();
    EXPECT_EQ(o.min_n, 1);
    EXPECT_EQ(o.max_n, 3);
    EXPECT_TRUE(o.sublinear_tf);
    EXPECT_EQ(o.threads, 0);
  }
}

TEST(MakeEmbedder, ReadsOptions) {
  const auto e = make_embedder({{"kind", "hashing"},
                                {"dim", 64},
                                {"min_n", 2},
                                {"max_n", 4},
                                {"threads", 3},
                                {"sublinear_tf", false}});
  EXPECT_EQ(e->dim(), 64u);
  const auto& o = dynamic_cast<const HashingEmbedder&>(*e).options();
  EXPECT_EQ(o.min_n, 2);
  EXPECT_EQ(o.max_n, 4);
  EXPECT_EQ(o.threads, 3);
  EXPECT_FALSE(o.sublinear_tf);
  e->fit({"北京大学"});
  EXPECT_EQ(e->embed({"北京"}).dim(), 64u);
}

std::string error_of(const nlohmann::json& config) {
  try {
    make_embedder(config);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

TEST(MakeEmbedder, ErrorsNameTheKey) {
  const auto has = [](const std::string& message, const std::string& part) {
    return message.find(part) != std::string::npos;
  };
  EXPECT_PRED2(has, error_of({{"dim", 0}}), "embedder.dim:");
  EXPECT_PRED2(has, error_of({{"dim", -3}}), "embedder.dim:");
  EXPECT_PRED2(has, error_of({{"dim", "big"}}), "embedder.dim:");
  EXPECT_PRED2(has, error_of({{"min_n", 0}}), "embedder.min_n:");
  EXPECT_PRED2(has, error_of({{"max_n", 6}}), "embedder.max_n:");
  EXPECT_PRED2(has, error_of({{"min_n", 3}, {"max_n", 2}}), "embedder.min_n:");
  EXPECT_PRED2(has, error_of({{"threads", -1}}), "embedder.threads:");
  EXPECT_PRED2(has, error_of({{"sublinear_tf", 1}}), "embedder.sublinear_tf:");
  EXPECT_PRED2(has, error_of({{"dims", 64}}), "unknown option(s) dims");
  EXPECT_PRED2(has, error_of({{"kind", "bert"}}), "embedder.kind: unknown kind \"bert\"");
  EXPECT_PRED2(has, error_of({{"kind", 3}}), "embedder.kind:");
  EXPECT_PRED2(has, error_of(nlohmann::json::array()), "embedder:");
}

// Writes texts and vectors for tests/reference/hashing_embedder_reference.py when
// WEAKDISTILL_EMBED_DUMP_DIR is set (the ctest python_check_hashing_embedder does
// that); otherwise only checks that the rows are unit or zero.
TEST(HashingEmbedderPythonDump, WritesVectorsWhenAsked) {
  std::vector<std::string> texts = {
      "",
      " ",
      "北",
      "北京",
      "北京 大学",
      "甲乙乙",
      "aaa",
      "𠮷野家",
      "😀😀😀 😀",
      "\u3000全角空格\u3000",
      "zero\u200bwidth",
      "a\u0085b\x1c"
      "c\u2028d",
  };
  const auto synthetic = synthetic_texts(250, 2024);
  texts.insert(texts.end(), synthetic.begin(), synthetic.end());
  const auto lcsts = std::filesystem::path(WEAKDISTILL_SOURCE_DIR) / "data/sum/train.jsonl";
  if (std::filesystem::exists(lcsts)) {
    const auto data = read_jsonl(lcsts.string(), Task::kSummarization);
    for (std::size_t i = 0; i < 150 && i < data.samples.size(); ++i) {
      texts.push_back(data.samples[i].text);
    }
  }
  // Fit on every other text, so that the rest bring n-grams unseen at fit time.
  std::vector<std::string> labeled;
  for (std::size_t i = 0; i < texts.size(); i += 2) labeled.push_back(texts[i]);

  struct Config {
    std::size_t dim;
    int min_n, max_n;
    bool sublinear_tf;
  };
  const std::vector<Config> configs = {{1024, 1, 3, true}, {37, 2, 4, false}, {5, 1, 5, true}};
  const char* dir = std::getenv("WEAKDISTILL_EMBED_DUMP_DIR");
  nlohmann::json manifest = {{"texts", texts}, {"labeled", labeled}, {"configs", {}}};
  for (std::size_t c = 0; c < configs.size(); ++c) {
    HashingEmbedderOptions o;
    o.dim = configs[c].dim;
    o.min_n = configs[c].min_n;
    o.max_n = configs[c].max_n;
    o.sublinear_tf = configs[c].sublinear_tf;
    const auto m = fitted(o, labeled).embed(texts);
    for (std::size_t i = 0; i < m.rows(); ++i) {
      const double n = norm(m, i);
      EXPECT_TRUE(n == 0.0 || std::abs(n - 1.0) < 1e-5) << i;
    }
    const std::string file = "vectors_" + std::to_string(c) + ".f32";
    manifest["configs"].push_back({{"dim", o.dim},
                                   {"min_n", o.min_n},
                                   {"max_n", o.max_n},
                                   {"sublinear_tf", o.sublinear_tf},
                                   {"file", file}});
    if (dir != nullptr) {
      std::ofstream out(std::filesystem::path(dir) / file, std::ios::binary);
      out.write(reinterpret_cast<const char*>(m.data()),
                static_cast<std::streamsize>(m.rows() * m.dim() * sizeof(float)));
      ASSERT_TRUE(out.good());
    }
  }
  if (dir != nullptr) {
    std::ofstream out(std::filesystem::path(dir) / "manifest.json", std::ios::binary);
    out << manifest.dump() << "\n";
    ASSERT_TRUE(out.good());
  }
}

}  // namespace
}  // namespace weakdistill
