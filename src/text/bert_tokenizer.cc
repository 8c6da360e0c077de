// The steps follow transformers' BertTokenizer (tokenization_bert.py and the base class
// PreTrainedTokenizer.tokenize), in its order:
//   0. special tokens ([CLS], [SEP], [UNK], [PAD], [MASK]) written in the text are cut out first
//      and kept whole (the base class's tokens_trie);
//   1. _clean_text; 2. _tokenize_chinese_chars; 3. NFC (added to BasicTokenizer in 2023);
//   4. whitespace split (Python's str.split()); a word equal to a special token is kept whole;
//   5. lower-casing, each code point on its own (the base class lower-cases the text one
//      character at a time before BasicTokenizer runs, so Σ never becomes the final ς);
//      accent stripping (NFD, drop Mn); 6. split on punctuation; 7. WordPiece.
// Every code point carries the span [begin, end) of original code points it came from, so that
// tokens keep their place in the original text through lower-casing and normalization.
#include "weakdistill/text/bert_tokenizer.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

constexpr std::size_t kMaxWordChars = 100;  // WordpieceTokenizer.max_input_chars_per_word

// The special tokens of BertTokenizer (all_special_tokens), cut out of the text whole.
constexpr std::u32string_view kSpecials[] = {U"[UNK]", U"[SEP]", U"[PAD]", U"[CLS]", U"[MASK]"};

// A code point with the span of original code points it came from.
struct Char {
  char32_t c;
  std::uint32_t begin, end;
};
using Chars = std::vector<Char>;

bool is_category_c(char32_t c) {
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_CONTROL_CHAR:      // Cc
    case U_FORMAT_CHAR:       // Cf
    case U_UNASSIGNED:        // Cn
    case U_PRIVATE_USE_CHAR:  // Co
    case U_SURROGATE:         // Cs
      return true;
    default:
      return false;
  }
}

// _is_control
bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  return is_category_c(c);
}

// _is_whitespace
bool is_bert_whitespace(char32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  return u_charType(static_cast<UChar32>(c)) == U_SPACE_SEPARATOR;
}

// _is_punctuation: category P*, and every non-alphanumeric printable ASCII character.
bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

// _is_chinese_char: the CJK Unified Ideographs blocks (not Hangul, Hiragana, Katakana).
bool is_chinese(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

void check(UErrorCode status, const char* what) {
  if (U_FAILURE(status)) {
    throw std::runtime_error(std::string("ICU ") + what + " failed: " + u_errorName(status));
  }
}

std::u16string to_utf16(const Char* begin, const Char* end) {
  std::u16string s;
  for (const Char* p = begin; p != end; ++p) {
    if (p->c <= 0xFFFF) {
      s += static_cast<char16_t>(p->c);
    } else {
      s += static_cast<char16_t>(U16_LEAD(p->c));
      s += static_cast<char16_t>(U16_TRAIL(p->c));
    }
  }
  return s;
}

// Appends the code points of UTF-16 `s`, each with the span [begin, end).
void append_utf16(const UChar* s, int32_t n, std::uint32_t begin, std::uint32_t end, Chars& out) {
  for (int32_t i = 0; i < n;) {
    UChar32 c;
    U16_NEXT(s, i, n, c);
    out.push_back({static_cast<char32_t>(c), begin, end});
  }
}

// `in` normalized by `norm` (NFC or NFD). ICU normalizes the text piece by piece between
// normalization boundaries; a piece that normalization leaves unchanged keeps each code point's
// span, and every code point of a changed piece gets the span of the whole piece (for NFD of one
// character, e.g. "é" -> "e" U+0301, that is the character's own span).
Chars normalize(const UNormalizer2* norm, const Chars& in) {
  Chars out;
  out.reserve(in.size());
  std::u16string buf;
  for (std::size_t i = 0; i < in.size();) {
    std::size_t j = i + 1;
    while (j < in.size() && !unorm2_hasBoundaryBefore(norm, static_cast<UChar32>(in[j].c))) ++j;
    if (j == i + 1 && unorm2_isInert(norm, static_cast<UChar32>(in[i].c))) {
      out.push_back(in[i]);
      i = j;
      continue;
    }
    const std::u16string src = to_utf16(in.data() + i, in.data() + j);
    UErrorCode status = U_ZERO_ERROR;
    buf.resize(src.size() * 4 + 8);  // NFD expands a code point to at most 4 (UAX #15)
    int32_t n = unorm2_normalize(
        norm, reinterpret_cast<const UChar*>(src.data()), static_cast<int32_t>(src.size()),
        reinterpret_cast<UChar*>(buf.data()), static_cast<int32_t>(buf.size()), &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      buf.resize(static_cast<std::size_t>(n));
      status = U_ZERO_ERROR;
      n = unorm2_normalize(norm, reinterpret_cast<const UChar*>(src.data()),
                           static_cast<int32_t>(src.size()), reinterpret_cast<UChar*>(buf.data()),
                           static_cast<int32_t>(buf.size()), &status);
    }
    check(status, "normalization");
    if (static_cast<std::size_t>(n) == src.size() &&
        std::equal(src.begin(), src.end(), buf.begin())) {
      out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(i),
                 in.begin() + static_cast<std::ptrdiff_t>(j));
    } else {
      std::uint32_t begin = in[i].begin, end = in[i].end;
      for (std::size_t k = i; k < j; ++k) {
        begin = std::min(begin, in[k].begin);
        end = std::max(end, in[k].end);
      }
      append_utf16(reinterpret_cast<const UChar*>(buf.data()), n, begin, end, out);
    }
    i = j;
  }
  return out;
}

// Full lower-case mapping of one code point without context, as Python's str.lower() of a
// one-character string (İ -> i U+0307; Σ -> σ).
void append_lower(const Char& ch, Chars& out) {
  if (ch.c < 0x80) {
    const char32_t c = (ch.c >= 'A' && ch.c <= 'Z') ? ch.c + 32 : ch.c;
    out.push_back({c, ch.begin, ch.end});
    return;
  }
  UChar src[2];
  int32_t len = 0;
  U16_APPEND_UNSAFE(src, len, static_cast<UChar32>(ch.c));
  UChar dst[16];
  UErrorCode status = U_ZERO_ERROR;
  const int32_t n = u_strToLower(dst, 16, src, len, "", &status);
  check(status, "lower-casing");
  append_utf16(dst, n, ch.begin, ch.end, out);
}

const UNormalizer2* nfc() {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* n = unorm2_getNFCInstance(&status);
  check(status, "NFC instance");
  return n;
}

const UNormalizer2* nfd() {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* n = unorm2_getNFDInstance(&status);
  check(status, "NFD instance");
  return n;
}

std::string to_utf8(const Char* begin, const Char* end) {
  std::string s;
  for (const Char* p = begin; p != end; ++p) utf8::append(s, p->c);
  return s;
}

bool is_special(const Chars& word) {
  for (const auto special : kSpecials) {
    if (word.size() == special.size() &&
        std::equal(word.begin(), word.end(), special.begin(),
                   [](const Char& a, char32_t b) { return a.c == b; })) {
      return true;
    }
  }
  return false;
}

// The length of the special token starting at `text[i]`, or 0.
std::size_t special_at(const std::u32string& text, std::size_t i) {
  if (text[i] != U'[') return 0;
  for (const auto special : kSpecials) {
    if (std::u32string_view(text).substr(i, special.size()) == special) return special.size();
  }
  return 0;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(at(path, 0, "cannot open the vocabulary (is this a BERT model folder?)"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One token before [CLS]/[SEP] are added: its id and its span of original code points.
struct BertPiece {
  std::int64_t id;
  std::size_t begin, end;
};

// WordPiece of one word (a run of Chars without space or punctuation inside).
void wordpiece(const Chars& word, const BertTokenizer& tok, std::vector<BertPiece>& out) {
  const auto span = [&](std::size_t s, std::size_t e) {
    std::uint32_t b = word[s].begin, en = word[s].end;
    for (std::size_t k = s; k < e; ++k) {
      b = std::min(b, word[k].begin);
      en = std::max(en, word[k].end);
    }
    return BertPiece{0, b, en};
  };
  if (word.size() > kMaxWordChars) {
    BertPiece p = span(0, word.size());
    p.id = tok.unk_id();
    out.push_back(p);
    return;
  }
  const std::size_t first = out.size();
  std::string piece;
  for (std::size_t start = 0; start < word.size();) {
    std::size_t end = word.size();
    std::int64_t found = -1;
    for (; end > start; --end) {
      piece = start > 0 ? "##" : "";
      piece += to_utf8(word.data() + start, word.data() + end);
      found = tok.id(piece);
      if (found >= 0) break;
    }
    if (found < 0) {
      // One piece without a match makes the whole word one [UNK].
      out.resize(first);
      BertPiece p = span(0, word.size());
      p.id = tok.unk_id();
      out.push_back(p);
      return;
    }
    BertPiece p = span(start, end);
    p.id = found;
    out.push_back(p);
    start = end;
  }
}

// The BasicTokenizer steps 1-7 on `text[from, to)` (no special token inside).
void tokenize_segment(const std::u32string& text, std::size_t from, std::size_t to,
                      const BertTokenizer& tok, std::vector<BertPiece>& out) {
  const BertTokenizerOptions& o = tok.options();
  // 1-2. Clean, and surround CJK ideographs with spaces.
  Chars cleaned;
  cleaned.reserve(to - from);
  for (std::size_t i = from; i < to; ++i) {
    const char32_t c = text[i];
    const auto pos = static_cast<std::uint32_t>(i);
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_bert_whitespace(c)) {
      cleaned.push_back({U' ', pos, pos + 1});
    } else if (o.tokenize_chinese_chars && is_chinese(c)) {
      cleaned.push_back({U' ', pos, pos});
      cleaned.push_back({c, pos, pos + 1});
      cleaned.push_back({U' ', pos + 1, pos + 1});
    } else {
      cleaned.push_back({c, pos, pos + 1});
    }
  }
  // 3. NFC.
  static const UNormalizer2* const kNfc = nfc();
  static const UNormalizer2* const kNfd = nfd();
  const Chars normalized = normalize(kNfc, cleaned);
  const bool strip = o.strip_accents < 0 ? o.lower_case : o.strip_accents != 0;

  Chars word, changed, sub;
  const auto finish_word = [&]() {
    if (word.empty()) return;
    // never_split: a word such as "[CL\u200BS]" that is "[CLS]" once cleaned stays whole. Only
    // without lower-casing: transformers lower-cases the text (all but the special tokens found
    // in it) before cleaning, so the word is then "[cls]", which is split.
    if (!o.lower_case && is_special(word)) {
      wordpiece(word, tok, out);
      word.clear();
      return;
    }
    // 5. Lower-case, strip accents.
    const Chars* w = &word;
    if (o.lower_case) {
      changed.clear();
      for (const Char& ch : word) append_lower(ch, changed);
      w = &changed;
    }
    Chars stripped;
    if (strip) {
      for (const Char& ch : normalize(kNfd, *w)) {
        if (u_charType(static_cast<UChar32>(ch.c)) != U_NON_SPACING_MARK) stripped.push_back(ch);
      }
      w = &stripped;
    }
    // 6. Split at punctuation; 7. WordPiece.
    sub.clear();
    for (const Char& ch : *w) {
      if (is_punctuation(ch.c)) {
        if (!sub.empty()) wordpiece(sub, tok, out);
        sub.assign(1, ch);
        wordpiece(sub, tok, out);
        sub.clear();
      } else {
        sub.push_back(ch);
      }
    }
    if (!sub.empty()) wordpiece(sub, tok, out);
    word.clear();
  };
  // 4. Split on whitespace, as Python's str.split() (U+2028, U+2029 too).
  for (const Char& ch : normalized) {
    if (utf8::is_space(ch.c)) {
      finish_word();
    } else {
      word.push_back(ch);
    }
  }
  finish_word();
}

std::vector<BertPiece> run(std::string_view text, const BertTokenizer& tok,
                           std::size_t* length = nullptr) {
  const std::u32string cps = utf8::decode(text);
  if (length != nullptr) *length = cps.size();
  std::vector<BertPiece> out;
  std::size_t from = 0;
  for (std::size_t i = 0; i < cps.size();) {
    const std::size_t n = special_at(cps, i);
    if (n == 0) {
      ++i;
      continue;
    }
    tokenize_segment(cps, from, i, tok, out);
    const std::string special = utf8::encode(std::u32string_view(cps).substr(i, n));
    const std::int64_t id = tok.id(special);
    // [MASK] may be missing from the vocabulary; transformers would then give it a new id.
    out.push_back({id >= 0 ? id : tok.unk_id(), i, i + n});
    i += n;
    from = i;
  }
  tokenize_segment(cps, from, cps.size(), tok, out);
  return out;
}

}  // namespace

BertTokenizer::BertTokenizer(const std::string& vocab_path, const BertTokenizerOptions& options)
    : options_(options) {
  const std::string content = read_all(vocab_path);
  if (content.empty()) throw InputError(at(vocab_path, 0, "the vocabulary is empty"));
  std::unordered_map<std::string, std::size_t> first_line;
  // Lines end at "\n", "\r\n" or "\r", as Python's text mode reads them (universal newlines).
  std::size_t line_no = 0;
  for (std::size_t pos = 0; pos < content.size();) {
    std::size_t end = content.find_first_of("\r\n", pos);
    if (end == std::string::npos) end = content.size();
    const std::string_view line(content.data() + pos, end - pos);
    ++line_no;
    if (end < content.size()) {
      end += (content[end] == '\r' && end + 1 < content.size() && content[end + 1] == '\n') ? 2 : 1;
    }
    pos = end;
    if (const auto bad = utf8::find_invalid(line)) {
      throw InputError(at(vocab_path, line_no,
                          "invalid UTF-8 at byte " + std::to_string(*bad + 1) + " of the line"));
    }
    std::string token(line);
    const auto [it, inserted] = ids_.emplace(token, static_cast<std::int64_t>(tokens_.size()));
    if (!inserted) {
      throw InputError(at(vocab_path, line_no,
                          "duplicate token \"" + token + "\" (first on line " +
                              std::to_string(first_line[token]) + ")"));
    }
    first_line[token] = line_no;
    tokens_.push_back(std::move(token));
  }
  std::string missing;
  for (const char* special : {"[CLS]", "[SEP]", "[UNK]", "[PAD]"}) {
    if (!ids_.count(special)) missing += std::string(missing.empty() ? "" : ", ") + special;
  }
  if (!missing.empty()) {
    throw InputError(at(vocab_path, 0,
                        "missing special token(s) " + missing +
                            ": a BERT vocabulary needs [CLS], [SEP], [UNK] and [PAD]"));
  }
  cls_ = ids_.at("[CLS]");
  sep_ = ids_.at("[SEP]");
  unk_ = ids_.at("[UNK]");
  pad_ = ids_.at("[PAD]");
}

BertTokenizer BertTokenizer::from_folder(const std::string& dir) {
  const std::filesystem::path folder(dir);
  BertTokenizerOptions options;
  const std::string config_path = (folder / "tokenizer_config.json").string();
  if (std::filesystem::exists(config_path)) {
    std::ifstream in(config_path, std::ios::binary);
    if (!in) throw InputError(at(config_path, 0, "cannot open"));
    nlohmann::json config;
    try {
      config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      throw InputError(at(config_path, 0, std::string("not valid JSON: ") + e.what()));
    }
    if (!config.is_object()) throw InputError(at(config_path, 0, "not a JSON object"));
    const auto flag = [&](const char* key, bool& value) {
      if (!config.contains(key) || config[key].is_null()) return;
      if (!config[key].is_boolean()) {
        throw InputError(
            at(config_path, 0,
               std::string(key) + " must be true or false, not " + config[key].dump()));
      }
      value = config[key].get<bool>();
    };
    flag("do_lower_case", options.lower_case);
    flag("tokenize_chinese_chars", options.tokenize_chinese_chars);
    if (config.contains("strip_accents") && !config["strip_accents"].is_null()) {
      if (!config["strip_accents"].is_boolean()) {
        throw InputError(
            at(config_path, 0,
               "strip_accents must be null, true or false, not " + config["strip_accents"].dump()));
      }
      options.strip_accents = config["strip_accents"].get<bool>() ? 1 : 0;
    }
  }
  return BertTokenizer((folder / "vocab.txt").string(), options);
}

std::int64_t BertTokenizer::id(std::string_view token) const {
  const auto it = ids_.find(std::string(token));
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::string> BertTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (const BertPiece& p : run(text, *this)) out.push_back(token(p.id));
  return out;
}

std::vector<BertToken> BertTokenizer::encode(std::string_view text, std::size_t max_length) const {
  if (max_length < 2) {
    throw std::invalid_argument("BertTokenizer::encode: max_length " + std::to_string(max_length) +
                                " leaves no room for [CLS] and [SEP]");
  }
  std::size_t n = 0;
  const std::vector<BertPiece> pieces = run(text, *this, &n);
  const std::size_t keep = std::min(pieces.size(), max_length - 2);
  std::vector<BertToken> out;
  out.reserve(keep + 2);
  out.push_back({cls_, 0, 0});
  for (std::size_t i = 0; i < keep; ++i)
    out.push_back({pieces[i].id, pieces[i].begin, pieces[i].end});
  out.push_back({sep_, n, n});
  return out;
}

std::vector<std::int64_t> BertTokenizer::encode_ids(std::string_view text,
                                                    std::size_t max_length) const {
  std::vector<std::int64_t> ids;
  for (const BertToken& t : encode(text, max_length)) ids.push_back(t.id);
  return ids;
}

std::string BertTokenizer::decode(const std::vector<std::int64_t>& ids,
                                  const std::vector<std::int64_t>& skip) const {
  auto ascii_alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  const std::int64_t mask = id("[MASK]");
  std::string out;
  for (const std::int64_t i : ids) {
    if (i < 0 || i >= static_cast<std::int64_t>(tokens_.size())) continue;
    if (i == cls_ || i == sep_ || i == pad_ || i == unk_ || i == mask) continue;
    if (std::find(skip.begin(), skip.end(), i) != skip.end()) continue;
    const std::string& t = tokens_[static_cast<std::size_t>(i)];
    if (t.size() > 2 && t[0] == '#' && t[1] == '#') {
      out += t.substr(2);
      continue;
    }
    if (!out.empty() && !t.empty() && ascii_alnum(out.back()) && ascii_alnum(t.front())) out += ' ';
    out += t;
  }
  return out;
}

}  // namespace weakdistill
