#include "weakdistill/text/bert_tokenizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The fixed vocabulary of the hand-derived tests; a token's id is its index here.
const std::vector<std::string> kVocab = {
    "[PAD]",        // 0
    "[UNK]",        // 1
    "[CLS]",        // 2
    "[SEP]",        // 3
    "[MASK]",       // 4
    "我",           // 5
    "爱",           // 6
    "技",           // 7
    "术",           // 8
    "中",           // 9
    "国",           // 10
    "，",           // 11 U+FF0C FULLWIDTH COMMA
    "。",           // 12 U+3002 IDEOGRAPHIC FULL STOP
    "！",           // 13 U+FF01 FULLWIDTH EXCLAMATION MARK
    ",",            // 14
    ".",            // 15
    "!",            // 16
    "?",            // 17
    "nl",           // 18
    "##p",          // 19
    "un",           // 20
    "##aff",        // 21
    "##able",       // 22
    "cafe",         // 23
    "caf\xC3\xA9",  // 24 "café" with the precomposed é U+00E9
    "ａｂｃ",       // 25 full-width lower-case a b c (U+FF41..U+FF43)
    "##１２３",     // 26 full-width digits (U+FF11..U+FF13)
    "abc",          // 27
    "##123",        // 28
    "hello",        // 29
    "world",        // 30
    "the",          // 31
    "「",           // 32 U+300C LEFT CORNER BRACKET
    "」",           // 33 U+300D
    "a",            // 34
    "##a",          // 35
    "x",            // 36
    "##yz",         // 37
    "+",            // 38
    "[",            // 39
    "]",            // 40
    "σασ",          // 41 Greek, all medial sigmas
    "i",            // 42
    "Hello",        // 43
    "##s",          // 44
};

std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

class BertTokenizerTest : public ::testing::Test {
 protected:
  BertTokenizer make(BertTokenizerOptions options = {}) {
    return BertTokenizer(dir_.write("vocab.txt", join_lines(kVocab)), options);
  }
  std::vector<std::int64_t> ids(const BertTokenizer& tok, const std::string& text) {
    std::vector<std::int64_t> out = tok.encode_ids(text, 10000);
    return std::vector<std::int64_t>(out.begin() + 1, out.end() - 1);  // without [CLS] [SEP]
  }
  // The [begin, end) spans of the tokens of `text`, without [CLS] and [SEP].
  std::vector<std::pair<std::size_t, std::size_t>> spans(const BertTokenizer& tok,
                                                         const std::string& text) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    const auto tokens = tok.encode(text, 10000);
    for (std::size_t i = 1; i + 1 < tokens.size(); ++i)
      out.emplace_back(tokens[i].begin, tokens[i].end);
    return out;
  }
  using Spans = std::vector<std::pair<std::size_t, std::size_t>>;
  testing::TempDir dir_;
};

TEST_F(BertTokenizerTest, ReadsTheVocabulary) {
  const BertTokenizer tok = make();
  EXPECT_EQ(tok.vocab_size(), kVocab.size());
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.unk_id(), 1);
  EXPECT_EQ(tok.cls_id(), 2);
  EXPECT_EQ(tok.sep_id(), 3);
  EXPECT_EQ(tok.id("##able"), 22);
  EXPECT_EQ(tok.id("absent"), -1);
  EXPECT_EQ(tok.token(5), "我");
  EXPECT_TRUE(tok.options().lower_case);
  EXPECT_EQ(tok.options().strip_accents, -1);
}

TEST_F(BertTokenizerTest, Chinese) {
  const BertTokenizer tok = make();
  // Each CJK ideograph is a word of its own; 。 (Po) is punctuation: 我 爱 中 国 。
  EXPECT_EQ(ids(tok, "我爱中国。"), (std::vector<std::int64_t>{5, 6, 9, 10, 12}));
  EXPECT_EQ(tok.encode_ids("我爱中国。", 100), (std::vector<std::int64_t>{2, 5, 6, 9, 10, 12, 3}));
  // 你 and 好 are not in the vocabulary: one [UNK] each (each is its own word).
  EXPECT_EQ(ids(tok, "你好中国"), (std::vector<std::int64_t>{1, 1, 9, 10}));
  EXPECT_EQ(spans(tok, "你好中国"), (Spans{{0, 1}, {1, 2}, {2, 3}, {3, 4}}));
}

TEST_F(BertTokenizerTest, MixedChineseAndEnglish) {
  const BertTokenizer tok = make();
  // " 我  爱 NLP 技  术 " -> 我 | 爱 | NLP -> nlp | 技 | 术. "nlp" is not in the vocabulary; the
  // longest prefix that is, "nl" (18), then "##p" (19).
  EXPECT_EQ(tok.tokenize("我爱NLP技术"),
            (std::vector<std::string>{"我", "爱", "nl", "##p", "技", "术"}));
  EXPECT_EQ(ids(tok, "我爱NLP技术"), (std::vector<std::int64_t>{5, 6, 18, 19, 7, 8}));
  // Code points: 我0 爱1 N2 L3 P4 技5 术6; "nl" covers N L, "##p" covers P.
  EXPECT_EQ(spans(tok, "我爱NLP技术"), (Spans{{0, 1}, {1, 2}, {2, 4}, {4, 5}, {5, 6}, {6, 7}}));
  // Without tokenize_chinese_chars, "我爱nlp技术" is one word: "我" matches, then no
  // "##爱..." piece does, so the whole word is one [UNK] spanning all 7 code points.
  BertTokenizerOptions o;
  o.tokenize_chinese_chars = false;
  const BertTokenizer whole = make(o);
  EXPECT_EQ(ids(whole, "我爱NLP技术"), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(spans(whole, "我爱NLP技术"), (Spans{{0, 7}}));
}

TEST_F(BertTokenizerTest, FullWidthCharactersAreNotNfkcNormalized) {
  const BertTokenizer tok = make();
  // ＡＢＣ１２３ (letters Lu, digits Nd: one word). Lower-casing maps Ａ U+FF21 to ａ U+FF41 but
  // leaves full-width digits; nothing maps them to ASCII (so "abc" 27 / "##123" 28 never match):
  // "ａｂｃ" (25) + "##１２３" (26).
  EXPECT_EQ(ids(tok, "ＡＢＣ１２３"), (std::vector<std::int64_t>{25, 26}));
  EXPECT_EQ(spans(tok, "ＡＢＣ１２３"), (Spans{{0, 3}, {3, 6}}));
  // ！ U+FF01 is Po: split off.
  EXPECT_EQ(ids(tok, "ＡＢＣ！"), (std::vector<std::int64_t>{25, 13}));
  // Cased: "ＡＢＣ１２３" has no prefix in the vocabulary: [UNK].
  BertTokenizerOptions o;
  o.lower_case = false;
  EXPECT_EQ(ids(make(o), "ＡＢＣ１２３"), (std::vector<std::int64_t>{1}));
  // The ASCII spelling still works: "abc" + "##123".
  EXPECT_EQ(ids(tok, "ABC123"), (std::vector<std::int64_t>{27, 28}));
}

TEST_F(BertTokenizerTest, Punctuation) {
  const BertTokenizer tok = make();
  // ASCII punctuation splits words: hello , world !
  EXPECT_EQ(ids(tok, "hello,world!"), (std::vector<std::int64_t>{29, 14, 30, 16}));
  // Chinese punctuation (Ps, Pe, Po): 「 中 国 」 ， 我 ！
  EXPECT_EQ(ids(tok, "「中国」，我！"), (std::vector<std::int64_t>{32, 9, 10, 33, 11, 5, 13}));
  // "+" is Sm, yet BERT treats all non-alphanumeric printable ASCII as punctuation:
  // xyz -> x ##yz, then +, then x.
  EXPECT_EQ(ids(tok, "xyz+x"), (std::vector<std::int64_t>{36, 37, 38, 36}));
  EXPECT_EQ(spans(tok, "xyz+x"), (Spans{{0, 1}, {1, 3}, {3, 4}, {4, 5}}));
  // "€" (Sc) outside ASCII is not punctuation: "x€" stays one word; "x" then no "##€": [UNK].
  EXPECT_EQ(ids(tok, "x€"), (std::vector<std::int64_t>{1}));
  // "?" at the end, and "..." as three pieces.
  EXPECT_EQ(ids(tok, "the?..."), (std::vector<std::int64_t>{31, 17, 15, 15, 15}));
}

TEST_F(BertTokenizerTest, AccentsStrippedWhenLowerCasing) {
  const BertTokenizer tok = make();
  // "Café" -> "café" -> NFD "cafe" U+0301 -> drop the Mn: "cafe" (23), spanning all 4.
  EXPECT_EQ(ids(tok, "Café"), (std::vector<std::int64_t>{23}));
  EXPECT_EQ(spans(tok, "Café"), (Spans{{0, 4}}));
  // The same word typed with a combining acute (5 code points): the same token, spanning 5.
  EXPECT_EQ(ids(tok, "Cafe\u0301"), (std::vector<std::int64_t>{23}));
  EXPECT_EQ(spans(tok, "Cafe\u0301 x"), (Spans{{0, 5}, {6, 7}}));
  // "ÚNÄFFÁBLE": lower-case, strip accents: "unaffable" -> un ##aff ##able; each accented
  // letter is one code point, so spans are [0,2) [2,5) [5,9).
  EXPECT_EQ(ids(tok, "ÚNÄFFÁBLE"), (std::vector<std::int64_t>{20, 21, 22}));
  EXPECT_EQ(spans(tok, "ÚNÄFFÁBLE"), (Spans{{0, 2}, {2, 5}, {5, 9}}));
  // "U" U+0301 "naffable": NFC makes Ú of the first two code points, so "un" spans [0,3), and
  // the "##" pieces are shifted by one: [3,6) [6,10).
  EXPECT_EQ(spans(tok, "U\u0301naffable"), (Spans{{0, 3}, {3, 6}, {6, 10}}));
  // A word of combining marks only vanishes: "the" [0,3), then "world" at [6,11).
  EXPECT_EQ(spans(tok, "the \u0301\u0308 world"), (Spans{{0, 3}, {7, 12}}));
}

TEST_F(BertTokenizerTest, AccentsKeptWithoutStripping) {
  BertTokenizerOptions keep;
  keep.strip_accents = 0;  // lower-case, but keep accents (strip_accents: false)
  const BertTokenizer tok = make(keep);
  EXPECT_EQ(ids(tok, "Café"), (std::vector<std::int64_t>{24}));
  // NFC composes e + U+0301 into é, so this is "café" (24) as well (transformers >= 4.31).
  EXPECT_EQ(ids(tok, "Cafe\u0301"), (std::vector<std::int64_t>{24}));
  EXPECT_EQ(spans(tok, "Cafe\u0301"), (Spans{{0, 5}}));
  // No lower-casing: "Café" is not in the vocabulary; strip_accents auto follows lower_case
  // (off), so no "cafe" either.
  BertTokenizerOptions cased;
  cased.lower_case = false;
  EXPECT_EQ(ids(make(cased), "Café"), (std::vector<std::int64_t>{1}));
  // strip_accents: true without lower-casing: "Cafe" is still not "cafe".
  cased.strip_accents = 1;
  EXPECT_EQ(ids(make(cased), "Café cafés"), (std::vector<std::int64_t>{1, 23, 44}));
  EXPECT_EQ(ids(make(cased), "Hello worlds"), (std::vector<std::int64_t>{43, 30, 44}));
}

TEST_F(BertTokenizerTest, LowerCasingIsPerCharacterAndFull) {
  const BertTokenizer tok = make();
  // transformers lower-cases the text one character at a time, so Σ is always σ, never the
  // word-final ς that str.lower() of a whole word would give: "ΣΑΣ" -> "σασ" (41).
  EXPECT_EQ(ids(tok, "ΣΑΣ"), (std::vector<std::int64_t>{41}));
  // İ U+0130: full lower-case mapping "i" U+0307; stripping drops the U+0307: "i" (42),
  // spanning the one original code point.
  EXPECT_EQ(ids(tok, "İ"), (std::vector<std::int64_t>{42}));
  EXPECT_EQ(spans(tok, "İ"), (Spans{{0, 1}}));
  BertTokenizerOptions keep;
  keep.strip_accents = 0;
  EXPECT_EQ(make(keep).tokenize("İ"), (std::vector<std::string>{"[UNK]"}));  // "i̇" is absent
}

TEST_F(BertTokenizerTest, UnknownWords) {
  const BertTokenizer tok = make();
  // "qqq": no prefix in the vocabulary: one [UNK] for the word.
  EXPECT_EQ(ids(tok, "hello qqq"), (std::vector<std::int64_t>{29, 1}));
  EXPECT_EQ(spans(tok, "hello qqq"), (Spans{{0, 5}, {6, 9}}));
  // "unaffablex": un ##aff ##able match, but no "##x" exists: the whole word is one [UNK].
  EXPECT_EQ(ids(tok, "unaffablex"), (std::vector<std::int64_t>{1}));
  EXPECT_EQ(tok.tokenize("unaffable"), (std::vector<std::string>{"un", "##aff", "##able"}));
}

TEST_F(BertTokenizerTest, WordsOverOneHundredCharactersAreUnknown) {
  const BertTokenizer tok = make();
  // 100 a's: "a" then 99 × "##a" (the longest match from each position is one character).
  const auto hundred = ids(tok, std::string(100, 'a'));
  ASSERT_EQ(hundred.size(), 100u);
  EXPECT_EQ(hundred[0], 34);
  EXPECT_EQ(std::count(hundred.begin(), hundred.end(), 35), 99);
  // 101: longer than max_input_chars_per_word = 100: one [UNK] spanning the word.
  EXPECT_EQ(ids(tok, "x " + std::string(101, 'a')), (std::vector<std::int64_t>{36, 1}));
  EXPECT_EQ(spans(tok, "x " + std::string(101, 'a')), (Spans{{0, 1}, {2, 103}}));
  // The limit counts characters after punctuation splitting: 60 a's, ".", 60 a's is fine.
  const auto split = ids(tok, std::string(60, 'a') + "." + std::string(60, 'a'));
  EXPECT_EQ(split.size(), 121u);
}

TEST_F(BertTokenizerTest, ControlCharactersAndReplacementCharDropped) {
  const BertTokenizer tok = make();
  // U+0001 (Cc), U+00AD soft hyphen (Cf), U+200B zero width space (Cf), NUL and U+FFFD are
  // removed before splitting, so they join what surrounds them: "hello".
  EXPECT_EQ(ids(tok, "hel\x01lo"), (std::vector<std::int64_t>{29}));
  EXPECT_EQ(ids(tok, "hel\u00ADlo"), (std::vector<std::int64_t>{29}));
  EXPECT_EQ(ids(tok, std::string("he\0llo\u200B", 9)), (std::vector<std::int64_t>{29}));
  EXPECT_EQ(ids(tok, "\uFFFDhello\uFFFD"), (std::vector<std::int64_t>{29}));
  // The span still covers the original characters, the dropped ones inside included.
  EXPECT_EQ(spans(tok, "\uFFFDhel\u00ADlo\uFFFD"), (Spans{{1, 7}}));
  // Private use (Co) is dropped too.
  EXPECT_EQ(ids(tok, "\uE000the"), (std::vector<std::int64_t>{31}));
  // U+0085 NEXT LINE is Cc, hence dropped, not a separator: "helloworld" -> hello, no ##world.
  EXPECT_EQ(ids(tok, "hello\u0085world"), (std::vector<std::int64_t>{1}));
  // Only control characters: nothing.
  EXPECT_TRUE(tok.tokenize("\x01\x02\uFFFD").empty());
}

TEST_F(BertTokenizerTest, WhitespaceVariants) {
  const BertTokenizer tok = make();
  // Tab, newline, CRLF, U+3000 IDEOGRAPHIC SPACE and U+00A0 (Zs), U+2028 LINE SEPARATOR (Zl:
  // not BERT whitespace, but Python's str.split() splits at it), runs of spaces.
  EXPECT_EQ(ids(tok, "  hello\tworld\nthe\u3000world\u00A0hello\r\n the\u2028world  "),
            (std::vector<std::int64_t>{29, 30, 31, 30, 29, 31, 30}));
  EXPECT_EQ(spans(tok, "the\u3000world"), (Spans{{0, 3}, {4, 9}}));
  EXPECT_TRUE(tok.tokenize(" \t\n\u3000 ").empty());
  EXPECT_TRUE(tok.tokenize("").empty());
  EXPECT_EQ(tok.encode_ids("", 8), (std::vector<std::int64_t>{2, 3}));
}

TEST_F(BertTokenizerTest, SpecialTokensInTheTextStayWhole) {
  const BertTokenizer tok = make();
  // As transformers' tokens_trie: [CLS] and [MASK] are cut out before anything else, even
  // without spaces around them, and are not lower-cased.
  EXPECT_EQ(ids(tok, "[CLS]hello[MASK] the"), (std::vector<std::int64_t>{2, 29, 4, 31}));
  EXPECT_EQ(spans(tok, "[CLS]hello[MASK]"), (Spans{{0, 5}, {5, 10}, {10, 16}}));
  // Lower-case spelling is not special: [ cls ] with "cls" unknown.
  EXPECT_EQ(ids(tok, "[cls]"), (std::vector<std::int64_t>{39, 1, 40}));
  // A zero width space inside hides [CLS] from the cut. Lower-casing (which transformers does
  // to the whole text, special tokens found in it excepted, before BasicTokenizer) makes it
  // "[cl\u200Bs]"; cleaning drops the U+200B: "[cls]" -> [ cls ] -> 39 [UNK] 40.
  EXPECT_EQ(ids(tok, "[CL\u200BS]"), (std::vector<std::int64_t>{39, 1, 40}));
  // Without lower-casing, the cleaned word is "[CLS]", which BasicTokenizer's never_split keeps
  // whole, and WordPiece finds it in the vocabulary: 2.
  BertTokenizerOptions cased;
  cased.lower_case = false;
  EXPECT_EQ(ids(make(cased), "[CL\u200BS]"), (std::vector<std::int64_t>{2}));
}

TEST_F(BertTokenizerTest, TruncationKeepsSep) {
  const BertTokenizer tok = make();
  EXPECT_EQ(tok.encode_ids("我爱中国", 4), (std::vector<std::int64_t>{2, 5, 6, 3}));
  EXPECT_EQ(tok.encode_ids("我爱中国", 2), (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(tok.encode_ids("我爱中国", 6), (std::vector<std::int64_t>{2, 5, 6, 9, 10, 3}));
  EXPECT_EQ(tok.encode_ids("我爱中国", 7), (std::vector<std::int64_t>{2, 5, 6, 9, 10, 3}));
  // [CLS] spans [0, 0), [SEP] [n, n) with n the text's code points, also after truncation.
  const auto t = tok.encode("我爱中国", 3);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].id, 2);
  EXPECT_EQ(t[0].begin, 0u);
  EXPECT_EQ(t[0].end, 0u);
  EXPECT_EQ(t[1].begin, 0u);
  EXPECT_EQ(t[1].end, 1u);
  EXPECT_EQ(t[2].id, 3);
  EXPECT_EQ(t[2].begin, 4u);
  EXPECT_EQ(t[2].end, 4u);
  EXPECT_THROW(tok.encode("我", 1), std::invalid_argument);
}

// decode() joins what a summarizer generates: CJK and punctuation without spaces, Latin words
// with one, "##" pieces glued, special tokens and ids outside the vocabulary dropped.
TEST_F(BertTokenizerTest, DecodeJoinsGeneratedTokens) {
  const BertTokenizer tok = make();
  auto decode = [&](const std::string& text) {
    std::vector<std::int64_t> ids = tok.encode_ids(text, 64);
    ids.insert(ids.begin() + 1, tok.pad_id());  // a stray [PAD]
    ids.push_back(9999);
    return tok.decode(ids);
  };
  EXPECT_EQ(decode("我爱中国"), "我爱中国");
  EXPECT_EQ(decode("hello world。the"), "hello world。the");
  const std::vector<std::string> pieces = tok.tokenize("unaffable 中国");
  ASSERT_EQ(pieces.front(), "un");  // the fixture's vocabulary splits it into pieces
  EXPECT_EQ(decode("unaffable 中国"), "unaffable中国");
  EXPECT_EQ(tok.decode({tok.id("un"), tok.id("##aff"), tok.id("un")}), "unaff un");
  EXPECT_EQ(tok.decode({tok.id("我"), tok.id("爱")}, {tok.id("爱")}), "我");
  EXPECT_EQ(tok.decode({tok.cls_id(), tok.sep_id(), tok.unk_id()}), "");
}

TEST_F(BertTokenizerTest, InvalidUtf8Throws) {
  const BertTokenizer tok = make();
  EXPECT_THROW(tok.tokenize("ab\xFF"), std::invalid_argument);
  EXPECT_THROW(tok.encode("\xC0\x80", 8), std::invalid_argument);
}

// ---- vocab.txt and tokenizer_config.json errors ----

std::string vocab_error(const std::string& path) {
  try {
    BertTokenizer tok(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(BertTokenizerVocab, LineEndingsAndIds) {
  testing::TempDir dir;
  // CRLF lines, no newline at the end; ids are line numbers - 1.
  const std::string path = dir.write("vocab.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello");
  const BertTokenizer tok(path);
  EXPECT_EQ(tok.vocab_size(), 5u);
  EXPECT_EQ(tok.id("[SEP]"), 3);
  EXPECT_EQ(tok.id("hello"), 4);
  EXPECT_EQ(tok.tokenize("Hello"), std::vector<std::string>{"hello"});
}

TEST(BertTokenizerVocab, Errors) {
  testing::TempDir dir;
  const std::string missing = dir.file("absent.txt");
  EXPECT_THAT(vocab_error(missing), AllOf(HasSubstr(missing), HasSubstr("cannot open")));

  const std::string empty = dir.write("empty.txt", "");
  EXPECT_THAT(vocab_error(empty), AllOf(HasSubstr(empty), HasSubstr("empty")));

  const std::string dup = dir.write("dup.txt", "[PAD]\n[UNK]\nfoo\n[CLS]\nfoo\n[SEP]\n");
  EXPECT_THAT(vocab_error(dup), AllOf(HasSubstr(dup + ":5:"), HasSubstr("duplicate token \"foo\""),
                                      HasSubstr("first on line 3")));

  const std::string no_unk = dir.write("no_unk.txt", "[PAD]\n[CLS]\n[SEP]\nfoo\n");
  EXPECT_THAT(vocab_error(no_unk),
              AllOf(HasSubstr(no_unk), HasSubstr("[UNK]"), HasSubstr("missing special token")));
  const std::string no_two = dir.write("no_two.txt", "[UNK]\n[CLS]\nfoo\n");
  EXPECT_THAT(vocab_error(no_two), HasSubstr("missing special token(s) [SEP], [PAD]"));

  const std::string bad = dir.write("bad.txt", "[PAD]\n[UNK]\nca\xFF\n[CLS]\n[SEP]\n");
  EXPECT_THAT(vocab_error(bad), AllOf(HasSubstr(bad + ":3:"), HasSubstr("invalid UTF-8")));
}

TEST(BertTokenizerVocab, FromFolderReadsTheConfig) {
  testing::TempDir dir;
  dir.write("vocab.txt", join_lines(kVocab));
  // No config: the defaults.
  EXPECT_TRUE(BertTokenizer::from_folder(dir.path().string()).options().lower_case);
  dir.write("tokenizer_config.json",
            R"({"do_lower_case": false, "strip_accents": true, "tokenize_chinese_chars": false,
                "model_max_length": 512, "tokenizer_class": "BertTokenizer"})");
  BertTokenizer tok = BertTokenizer::from_folder(dir.path().string());
  EXPECT_FALSE(tok.options().lower_case);
  EXPECT_EQ(tok.options().strip_accents, 1);
  EXPECT_FALSE(tok.options().tokenize_chinese_chars);
  dir.write("tokenizer_config.json", R"({"strip_accents": null})");
  tok = BertTokenizer::from_folder(dir.path().string());
  EXPECT_TRUE(tok.options().lower_case);
  EXPECT_EQ(tok.options().strip_accents, -1);
  EXPECT_TRUE(tok.options().tokenize_chinese_chars);
  dir.write("tokenizer_config.json", R"({"strip_accents": false})");
  EXPECT_EQ(BertTokenizer::from_folder(dir.path().string()).options().strip_accents, 0);

  const std::string config = dir.write("tokenizer_config.json", R"({"do_lower_case": "yes"})");
  try {
    BertTokenizer::from_folder(dir.path().string());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr(config), HasSubstr("do_lower_case")));
  }
  dir.write("tokenizer_config.json", "{oops");
  try {
    BertTokenizer::from_folder(dir.path().string());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr(config), HasSubstr("not valid JSON")));
  }
}

// ---- cross-check against tests/reference/bert_tokenizer_reference.py ----

std::vector<std::string> read_texts(const std::string& path, const char* field, std::size_t n) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (out.size() < n && std::getline(in, line)) {
    out.push_back(nlohmann::json::parse(line).at(field).get<std::string>());
  }
  return out;
}

// Hand-picked hard cases, and random strings over ranges where categories, case mappings and
// normalization matter.
std::vector<std::string> tricky_texts() {
  std::vector<std::string> t = {
      "Café CAFÉ cafe\u0301 ÚNÄFFÁBLE naïve Ångström \u212Bngstr\u00F6m",
      "ΣΑΣ ΟΔΟΣ. Σ ς σ İstanbul ǅemal ﬁnance Straße ẞ",
      "[CLS]hello[SEP] [MASK][PAD][UNK] [cls] [CL\u200BS] [ CLS ]",
      "ＡＢＣ１２３ ｈｅｌｌｏ！ 全角ＡＢＣ，标点。「引号」『书名』（括号）【方括号】",
      "tab\there\nnew\r\nline\u3000ideo\u00A0nbsp\u2028ls\u2029ps\u0085nel\u200Bzw\uFEFFbom",
      "\x01\x02\x7F\uFFFD\uE000\U000F0000 control\u00ADsoft",
      "我爱NLP技术，我爱自然语言处理！2024年3月15日。",
      "emoji 😀👍🏽 ❤️ flags 🇨🇳 zwj 👨‍👩‍👧",
      "한국어 テスト ひらがな カタカナ ｶﾀｶﾅ",
      "\uF900\uF901\U0002F800 compatibility ideographs \U00020000\U0002A700",
      "a\u0301\u0302\u0323b \u0301lonely e\u0308\u0301 \u1E9B\u0323",
      std::string(101, 'a') + " " + std::string(100, 'b'),
      "$100 + 50% = ~`^|\\ @user #tag &amp; <b>",
      "€ £ ¥ © ® ° ± × ÷ § ¶ • … ‰ ′ ″ ‹ › « » ‐ – — ― ‖",
      "Ⅷ ① ² ½ ﹏ ︰ ﹑ ､ ･",
  };
  std::mt19937 rng(7);
  const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x20, 0x7E},       {0xA0, 0x24F},      {0x300, 0x36F},   {0x370, 0x3FF},   {0x400, 0x4FF},
      {0x1E00, 0x1FFF},   {0x2000, 0x206F},   {0x2100, 0x214F}, {0x3000, 0x303F}, {0x4E00, 0x4E40},
      {0xF900, 0xF920},   {0xFF00, 0xFFEF},   {0xFE30, 0xFE4F}, {0x10A0, 0x10FF}, {0xA640, 0xA69F},
      {0x1F300, 0x1F64F}, {0x1D400, 0x1D4FF}, {0x0, 0x1F},      {0xAC00, 0xAC20}, {0x0E00, 0x0E7F}};
  std::uniform_int_distribution<std::size_t> pick(0, ranges.size() - 1);
  std::uniform_int_distribution<int> len(1, 30);
  std::uniform_int_distribution<std::uint32_t> bmp(0x20, 0xFFFD);
  for (int i = 0; i < 600; ++i) {
    std::u32string s;
    const int n = len(rng);
    for (int k = 0; k < n; ++k) {
      char32_t c;
      if (i >= 500) {
        c = static_cast<char32_t>(bmp(rng));  // anywhere in the BMP
        if (c >= 0xD800 && c <= 0xDFFF) c = 'x';
      } else {
        const auto [lo, hi] = ranges[pick(rng)];
        c = static_cast<char32_t>(std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng));
      }
      s += c;
      if (k % 5 == 4) s += U' ';
    }
    t.push_back(utf8::encode(s));
  }
  return t;
}

// What the spans must satisfy whatever the text: in order, not overlapping, inside the text;
// and a piece that came from ASCII characters is their spelling, up to case.
void check_spans(const BertTokenizer& tok, const std::string& text) {
  const std::u32string cps = utf8::decode(text);
  const auto tokens = tok.encode(text, 1'000'000);
  std::size_t last_end = 0;
  for (std::size_t k = 1; k + 1 < tokens.size(); ++k) {
    const BertToken& t = tokens[k];
    ASSERT_LT(t.begin, t.end) << text;
    ASSERT_LE(last_end, t.begin) << text;
    ASSERT_LE(t.end, cps.size()) << text;
    last_end = t.end;
    std::string original;
    for (std::size_t p = t.begin; p < t.end; ++p) {
      const char32_t c = cps[p];
      if (c >= 0x80) {
        original.clear();
        break;
      }
      original += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    std::string piece = tok.token(t.id);
    if (piece.rfind("##", 0) == 0) piece = piece.substr(2);
    for (char& ch : piece) ch = (ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch;
    if (!original.empty() && t.id != tok.unk_id() && piece.size() == original.size()) {
      ASSERT_EQ(piece, original) << text;
    }
  }
}

TEST(BertTokenizerReference, AgreesWithPythonOnDataTexts) {
  const std::string data = testing::data_dir();
  if (data.empty()) {
    GTEST_SKIP() << "data/ is absent (scripts/get-data.sh copies it)";
  }
  const char* python = "/usr/bin/python3";
  if (!std::filesystem::exists(python)) {
    GTEST_SKIP() << python << " is absent";
  }

  std::vector<std::string> texts = read_texts(data + "/cls/train.jsonl", "text", 1200);
  for (const auto& t : read_texts(data + "/ner/train.jsonl", "text", 800)) texts.push_back(t);
  for (const auto& t : read_texts(data + "/sum/train.jsonl", "text", 800)) texts.push_back(t);
  for (const auto& t : read_texts(data + "/sum/train.jsonl", "summary", 200)) texts.push_back(t);
  const std::size_t real_texts = texts.size();
  for (const auto& t : tricky_texts()) texts.push_back(t);

  // The vocabulary: the specials, every character seen at least twice in the texts (rarer ones
  // become [UNK]), as it is and lower-cased ASCII, "##" forms of ASCII alphanumerics but q/x/z
  // and of full-width digits, and some English words and pieces.
  std::map<char32_t, int> counts;
  for (const auto& t : texts) {
    for (const char32_t c : utf8::decode(t)) ++counts[c];
  }
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  std::set<std::string> seen(vocab.begin(), vocab.end());
  const auto add = [&](const std::string& token) {
    if (!token.empty() && token.find('\n') == std::string::npos &&
        token.find('\r') == std::string::npos && seen.insert(token).second) {
      vocab.push_back(token);
    }
  };
  for (const auto& [c, n] : counts) {
    if (n < 2 || c == '\n' || c == '\r' || c == 0x85 || c == 0x2028 || c == 0x2029) continue;
    std::string s;
    utf8::append(s, c);
    add(s);
  }
  for (char c = 'a'; c <= 'z'; ++c) {
    add(std::string(1, c));
    if (c != 'q' && c != 'x' && c != 'z') add("##" + std::string(1, c));
  }
  for (char c = '0'; c <= '9'; ++c) add("##" + std::string(1, c));
  for (const char* full : {"##０", "##１", "##２", "##３", "##５", "##８"}) add(full);
  for (const char* w :
       {"the",    "of",   "and", "to",    "in",         "is",     "news", "china", "hello", "world",
        "cafe",   "café", "un",  "##aff", "##able",     "##s",    "##ed", "##ing", "##er",  "##ly",
        "##tion", "nl",   "##p", "nlp",   "ipad",       "iphone", "cctv", "nba",   "gdp",   "2008",
        "2010",   "##00", "19",  "20",    "ｈｅｌｌｏ", "σασ",    "οδος"}) {
    add(w);
  }
  testing::TempDir dir;
  const std::string vocab_path = dir.write("vocab.txt", join_lines(vocab));

  struct Config {
    BertTokenizerOptions options;
    const char* name;
  };
  std::vector<Config> configs(4);
  configs[0].name = "lower+strip";
  configs[1].options.lower_case = false;
  configs[1].name = "cased";
  configs[2].options.strip_accents = 0;
  configs[2].name = "lower, keep accents";
  configs[3].options.tokenize_chinese_chars = false;
  configs[3].options.lower_case = false;
  configs[3].options.strip_accents = 1;
  configs[3].name = "cased+strip, no chinese split";

  // Every text under the first configuration; the synthetic ones and a quarter of the data
  // texts under each other one.
  std::vector<std::pair<std::size_t, std::size_t>> cases;  // (text, config)
  {
    std::ofstream out(dir.file("cases.jsonl"));
    for (std::size_t c = 0; c < configs.size(); ++c) {
      for (std::size_t i = 0; i < texts.size(); ++i) {
        if (c > 0 && i < real_texts && i % 4 != c) continue;
        const auto& o = configs[c].options;
        nlohmann::json j = {{"text", texts[i]},
                            {"lower_case", o.lower_case},
                            {"tokenize_chinese_chars", o.tokenize_chinese_chars}};
        j["strip_accents"] =
            o.strip_accents < 0 ? nlohmann::json(nullptr) : nlohmann::json(o.strip_accents == 1);
        out << j.dump() << "\n";
        cases.emplace_back(i, c);
      }
    }
  }
  const std::string script =
      std::string(WEAKDISTILL_SOURCE_DIR) + "/tests/reference/bert_tokenizer_reference.py";
  const std::string cmd = std::string(python) + " '" + script + "' '" + vocab_path + "' '" +
                          dir.file("cases.jsonl") + "' '" + dir.file("out.jsonl") + "' > '" +
                          dir.file("stdout") + "'";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;

  std::vector<BertTokenizer> tokenizers;
  for (const auto& c : configs) tokenizers.emplace_back(vocab_path, c.options);
  std::ifstream in(dir.file("out.jsonl"));
  std::string line;
  std::size_t k = 0, mismatches = 0, explained = 0, unk = 0, total = 0;
  for (; std::getline(in, line); ++k) {
    ASSERT_LT(k, cases.size());
    const auto [i, c] = cases[k];
    const nlohmann::json want = nlohmann::json::parse(line);
    const auto want_ids = want.at("ids").get<std::vector<std::int64_t>>();
    std::vector<std::int64_t> got = tokenizers[c].encode_ids(texts[i], 1'000'000);
    got = std::vector<std::int64_t>(got.begin() + 1, got.end() - 1);
    total += got.size();
    unk += static_cast<std::size_t>(std::count(got.begin(), got.end(), 1));
    if (c == 0) check_spans(tokenizers[0], texts[i]);
    if (got == want_ids) continue;
    ++mismatches;
    // Allowed only around a character unassigned (Cn, so dropped) in Python's Unicode version
    // that ICU's newer one knows: the C++ tokenizer keeps it.
    const auto icu_knows = [&](std::uint32_t cp) {
      std::string s;
      utf8::append(s, static_cast<char32_t>(cp));
      return !tokenizers[0].tokenize(s).empty();
    };
    const auto unassigned = want.at("unassigned").get<std::vector<std::uint32_t>>();
    if (std::any_of(unassigned.begin(), unassigned.end(), icu_knows)) {
      ++explained;
      std::cout << "[ note ] differs only around characters unassigned in Python's Unicode "
                << want.at("unassigned").dump() << ": " << texts[i] << "\n";
      continue;
    }
    ADD_FAILURE() << "config " << configs[c].name << ", text " << i << ": " << texts[i]
                  << "\n  python: " << want.at("ids").dump()
                  << "\n  c++:    " << nlohmann::json(got).dump();
    if (mismatches - explained > 10) break;
  }
  if (mismatches == explained) {
    EXPECT_EQ(k, cases.size());
  }
  std::cout << "[ info ] " << cases.size() << " tokenizations (" << real_texts << " data texts, "
            << texts.size() - real_texts << " synthetic; vocabulary " << vocab.size() << ", "
            << total << " tokens, " << unk << " [UNK]), python "
            << testing::read_file(dir.file("stdout")) << "         " << mismatches
            << " differences, " << explained << " on characters Python does not know\n";
  EXPECT_GT(unk, 0u);
}

}  // namespace
}  // namespace weakdistill
