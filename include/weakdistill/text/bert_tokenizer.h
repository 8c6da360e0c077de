// The BERT tokenizer, as Hugging Face's BertTokenizer (transformers,
// tokenization_bert.py) does it, so that a model fine-tuned or embedded with
// weakdistill sees exactly the ids it saw in pre-training:
//   0. special tokens ([CLS], [SEP], [UNK], [PAD], [MASK]) written in the text
//      are cut out first and kept whole, as transformers' tokens_trie does
//      ([MASK] gets the [UNK] id when the vocabulary lacks it);
//   1. clean: drop NUL, U+FFFD and control characters (Unicode category C*
//      except \t \n \r), map every whitespace character to a space;
//   2. put spaces around every CJK ideograph (the ranges of BERT's
//      _is_chinese_char) when tokenize_chinese_chars; then NFC (as
//      transformers >= 4.31 does; no NFKC: full-width forms stay full-width);
//   3. split on whitespace; with lower_case, lower-case each word (full case
//      mapping of each code point on its own, as transformers' per-character
//      pass does: Σ is always σ) and, when strip_accents (default: same as
//      lower_case), NFD it and drop the nonspacing marks (Mn); split each word
//      at punctuation (category P*, and every non-alphanumeric printable ASCII
//      character); without lower_case, a word that is a special token once
//      cleaned is kept whole (never_split);
//   4. WordPiece: greedy longest match from the left, continuation pieces
//      prefixed "##"; a word longer than 100 characters, or one with a piece
//      that is not in the vocabulary, becomes one [UNK].
// encode() then adds [CLS] ... [SEP] and truncates to max_length ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace weakdistill {

struct BertTokenizerOptions {
  // Lower-case words (bert-base-chinese, bge-*-zh and ERNIE 3.0 do).
  bool lower_case = true;
  // Strip accents after NFD; -1 (auto) follows lower_case, as in transformers.
  int strip_accents = -1;
  // Surround CJK ideographs with spaces, so each is a word of its own.
  bool tokenize_chinese_chars = true;
};

// One WordPiece token with the code points [begin, end) of the original text
// it came from (for ner: entity offsets are code points). For a piece of a
// word changed by lower-casing or accent stripping, the span is that of the
// original characters the piece's characters came from. [CLS] and [SEP] span
// [0, 0) and [n, n).
struct BertToken {
  std::int64_t id = 0;
  std::size_t begin = 0, end = 0;
};

class BertTokenizer {
 public:
  // Reads a vocab.txt (one token per line, id = line number - 1, as
  // transformers does; a trailing "\r" is dropped). Throws InputError naming the
  // file: missing, empty, invalid UTF-8 (with its line), a duplicate token
  // (with both lines), or a special token ([CLS], [SEP], [UNK], [PAD]) missing.
  BertTokenizer(const std::string& vocab_path, const BertTokenizerOptions& options = {});

  // Reads do_lower_case / strip_accents / tokenize_chinese_chars from a
  // Hugging Face tokenizer_config.json when the folder has one, else defaults.
  static BertTokenizer from_folder(const std::string& dir);

  // The WordPiece tokens of `text` (no [CLS]/[SEP], no truncation), e.g.
  // "unaffable" -> {"un", "##aff", "##able"}. Throws std::invalid_argument on
  // invalid UTF-8.
  std::vector<std::string> tokenize(std::string_view text) const;

  // [CLS] tokens [SEP], the tokens cut so that at most max_length ids remain
  // (max_length >= 2), with their spans.
  std::vector<BertToken> encode(std::string_view text, std::size_t max_length) const;
  // The same, ids only.
  std::vector<std::int64_t> encode_ids(std::string_view text, std::size_t max_length) const;

  // Text of generated ids (a summarizer's output): special tokens ([CLS], [SEP], [PAD], [MASK],
  // [UNK] and any id in `skip`) dropped, "##" pieces joined to the token before, and a space
  // only between two tokens that meet with ASCII letters or digits ("ab" "cd" -> "ab cd", while
  // CJK characters and punctuation join without one). Ids outside the vocabulary are dropped.
  std::string decode(const std::vector<std::int64_t>& ids,
                     const std::vector<std::int64_t>& skip = {}) const;

  std::size_t vocab_size() const { return tokens_.size(); }
  std::int64_t id(std::string_view token) const;  // -1 when absent
  const std::string& token(std::int64_t id) const {
    return tokens_.at(static_cast<std::size_t>(id));
  }
  std::int64_t cls_id() const { return cls_; }
  std::int64_t sep_id() const { return sep_; }
  std::int64_t pad_id() const { return pad_; }
  std::int64_t unk_id() const { return unk_; }
  const BertTokenizerOptions& options() const { return options_; }

 private:
  BertTokenizerOptions options_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int64_t> ids_;
  std::int64_t cls_ = -1, sep_ = -1, pad_ = -1, unk_ = -1;
};

}  // namespace weakdistill
