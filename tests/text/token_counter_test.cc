// Token counts worked out by hand on tiny tokenizer.json files written here (the merges decide
// a byte-level BPE's count; the vocabulary only names the ids).
#include "weakdistill/text/token_counter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// A GPT-2 style tokenizer.json: ByteLevel with its own regex, the merges given.
nlohmann::json gpt2(const nlohmann::json& merges) {
  return {{"model", {{"type", "BPE"}, {"vocab", {{"h", 0}, {"e", 1}}}, {"merges", merges}}},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false},
                             {"use_regex", true}}},
          {"added_tokens", {{{"id", 5}, {"content", "<|im_start|>"}, {"special", true}}}}};
}

std::unique_ptr<TokenCounter> counter(TempDir& dir, const nlohmann::json& j) {
  dir.write("tok/tokenizer.json", j.dump());
  return TokenCounter::open(dir.file("tok"));
}

TEST(TokenCounter, MergesByRankLowestFirst) {
  TempDir dir;
  // "hello" → h e l l o → he l l o → he ll o → hell o → hello: 1.
  // " hello" → Ġ h e l l o: "h e" (rank 0) goes before "Ġ h" (rank 4): Ġ hello: 2.
  auto c = counter(dir, gpt2({"h e", "l l", "he ll", "hell o", "Ġ h"}));
  EXPECT_EQ(c->count("hello"), 1u);
  EXPECT_EQ(c->count("hello hello"), 3u);
  // Without merges every byte is a token: 11 bytes.
  auto bytes = counter(dir, gpt2(nlohmann::json::array()));
  EXPECT_EQ(bytes->count("hello hello"), 11u);
  // 你好: six UTF-8 bytes, E4 BD A0 E5 A5 BD. In GPT-2's alphabet E4 is ä, BD ½, A5 ¥, E5 å;
  // A0 (not printable) is U+0142 (ł). Merging "ä ½" makes 5, then "å ¥" 4.
  EXPECT_EQ(bytes->count("你好"), 6u);
  auto zh = counter(dir, gpt2(nlohmann::json::array({nlohmann::json::array({"ä", "½"}),
                                                     nlohmann::json::array({"å", "¥"})})));
  EXPECT_EQ(zh->count("你好"), 4u);
  auto zh2 = counter(dir, gpt2({"ä½ ł"}));  // no such pair of symbols at first: no merge
  EXPECT_EQ(zh2->count("你好"), 6u);
}

TEST(TokenCounter, AddedTokensAreCutOutWhole) {
  TempDir dir;
  auto c = counter(dir, gpt2(nlohmann::json::array()));
  // <|im_start|> is 1; "ab" 2 bytes.
  EXPECT_EQ(c->count("<|im_start|>ab<|im_start|>"), 4u);
}

TEST(TokenCounter, ASplitRegexIsAppliedBeforeByteLevel) {
  TempDir dir;
  nlohmann::json j = gpt2({"1 2"});
  // Qwen2's digits rule: one digit a piece, so "12" is never merged.
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern", {{"Regex", R"(\p{N}| ?[^\s\p{N}]+|\s+)"}}},
                           {"behavior", "Isolated"},
                           {"invert", false}},
                          {{"type", "ByteLevel"}, {"add_prefix_space", false},
                           {"use_regex", false}}}}};
  j["normalizer"] = {{"type", "NFC"}};
  auto c = counter(dir, j);
  EXPECT_EQ(c->count("12"), 2u);
  // GPT-2's regex alone would keep "12" one piece and merge it.
  auto plain = counter(dir, gpt2({"1 2"}));
  EXPECT_EQ(plain->count("12"), 1u);
  // NFC: e + U+0301 becomes é (2 bytes) before counting.
  EXPECT_EQ(c->count("e\xCC\x81"), 2u);
}

TEST(TokenCounter, VocabTxtCountsWordPieces) {
  TempDir dir;
  dir.write("bert/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n你\n好\nhello\n##s\n");
  auto c = TokenCounter::open(dir.file("bert"));
  // 你 好 hello ##s
  EXPECT_EQ(c->count("你好 hellos"), 4u);
  EXPECT_THAT(c->description(), HasSubstr("WordPiece"));
}

TEST(TokenCounter, WhatIsNotSupportedIsSaidWithTheFile) {
  TempDir dir;
  nlohmann::json unigram = {{"model", {{"type", "Unigram"}, {"vocab", nlohmann::json::array()}}}};
  dir.write("u/tokenizer.json", unigram.dump());
  try {
    TokenCounter::open(dir.file("u"));
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("tokenizer.json: model type Unigram is not supported"));
  }
  nlohmann::json meta = gpt2(nlohmann::json::array());
  meta["pre_tokenizer"] = {{"type", "Metaspace"}};
  dir.write("m/tokenizer.json", meta.dump());
  EXPECT_THROW(TokenCounter::open(dir.file("m")), InputError);
  dir.write("bad/tokenizer.json", "{not json");
  EXPECT_THROW(TokenCounter::open(dir.file("bad")), InputError);
  EXPECT_THROW(TokenCounter::open(dir.file("none")), InputError);
}

}  // namespace
}  // namespace weakdistill
