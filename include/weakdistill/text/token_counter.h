// Counting a teacher's tokens before paying for them (`run --estimate` with teacher.tokenizer):
// the number of tokens a Hugging Face tokenizer makes of a text, for the two families a
// teacher's folder ships:
//   tokenizer.json with a byte-level BPE model (Qwen, Llama 3, DeepSeek, GPT-2 style): added
//     tokens cut out whole; the normalizer if it is NFC (or none); the pre-tokenizer's regex
//     (a Split with a Regex pattern, Isolated, and/or ByteLevel's own GPT-2 regex when
//     use_regex), run with ICU's regex engine; each piece's bytes mapped to GPT-2's byte
//     alphabet and merged by rank, lowest first, as tokenizers' BPE does;
//   vocab.txt (BERT, ERNIE): text/bert_tokenizer.h's WordPiece.
// Other models (Unigram/SentencePiece, Metaspace BPE, WordPiece inside tokenizer.json without a
// vocab.txt) are refused with a message that says so. The count is of the text only: the chat
// template adds a few tokens a message on the server (about 5 for ChatML).
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace weakdistill {

class TokenCounter {
 public:
  virtual ~TokenCounter() = default;
  virtual std::size_t count(std::string_view text) const = 0;
  // "byte-level BPE (tokenizer.json, 151643 tokens)", for the estimate's header.
  virtual std::string description() const = 0;

  // The counter for a tokenizer folder (tokenizer.json, else vocab.txt) or file. Throws
  // InputError naming the file and what is not supported or malformed.
  static std::unique_ptr<TokenCounter> open(const std::string& path);
};

}  // namespace weakdistill
