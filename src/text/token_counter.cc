#include "weakdistill/text/token_counter.h"

#include <fmt/format.h>
#include <unicode/regex.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/text/bert_tokenizer.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;

// GPT-2's pre-tokenizer regex (ByteLevel with use_regex).
constexpr const char* kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for 256 + n.
std::vector<std::string> byte_alphabet() {
  std::vector<std::string> out(256);
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    std::string s;
    utf8::append(s, static_cast<char32_t>(printable ? b : 256 + next++));
    out[static_cast<std::size_t>(b)] = s;
  }
  return out;
}

// A compiled regex, its pieces (Isolated: matches and the gaps between them).
class Splitter {
 public:
  explicit Splitter(const std::string& pattern, const std::string& where) {
    UErrorCode status = U_ZERO_ERROR;
    UParseError pe;
    pattern_.reset(icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(pattern), 0, pe,
                                              status));
    if (U_FAILURE(status)) {
      throw InputError(fmt::format("{}: the pre-tokenizer's regex does not compile ({})", where,
                                   u_errorName(status)));
    }
  }
  void split(const std::string& text, std::vector<std::string>& out) const {
    const icu::UnicodeString u = icu::UnicodeString::fromUTF8(text);
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::RegexMatcher> m(pattern_->matcher(u, status));
    int32_t last = 0;
    const auto piece = [&](int32_t b, int32_t e) {
      if (e <= b) return;
      std::string s;
      u.tempSubStringBetween(b, e).toUTF8String(s);
      out.push_back(std::move(s));
    };
    while (U_SUCCESS(status) && m->find(status)) {
      const int32_t b = m->start(status), e = m->end(status);
      piece(last, b);
      piece(b, e);
      last = e;
      if (e == b) break;  // an empty match would not move on
    }
    piece(last, u.length());
  }

 private:
  std::unique_ptr<icu::RegexPattern> pattern_;
};

std::string pair_key(const std::string& a, const std::string& b) { return a + '\x01' + b; }

class BpeCounter : public TokenCounter {
 public:
  BpeCounter(const nlohmann::json& j, const std::string& file) : file_(file) {
    const auto bad = [&](const std::string& why) {
      throw InputError(fmt::format("{}: {}", file, why));
    };
    const nlohmann::json& model = j["model"];
    if (model.contains("vocab") && model["vocab"].is_object()) vocab_size_ = model["vocab"].size();
    if (!model.contains("merges") || !model["merges"].is_array()) bad("model.merges: missing");
    int rank = 0;
    for (const auto& m : model["merges"]) {
      std::string a, b;
      if (m.is_string()) {
        const std::string s = m;
        const auto sp = s.find(' ');
        if (sp == std::string::npos) bad("model.merges: \"" + s + "\" is not two tokens");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0];
        b = m[1];
      } else {
        bad("model.merges: an entry is neither \"a b\" nor [a, b]");
      }
      ranks_.emplace(pair_key(a, b), rank++);
    }
    // The normalizer: none or NFC (what byte-level models use).
    const nlohmann::json& norm = j.value("normalizer", nlohmann::json());
    if (norm.is_object()) {
      const std::string type = norm.value("type", "");
      if (type != "NFC") bad("normalizer " + type + " is not supported (only none or NFC)");
      nfc_ = true;
    }
    // The pre-tokenizer: ByteLevel alone, or a Sequence of Split (Regex, Isolated) and
    // ByteLevel.
    std::vector<nlohmann::json> steps;
    const nlohmann::json& pre = j.value("pre_tokenizer", nlohmann::json());
    if (pre.is_object() && pre.value("type", "") == "Sequence") {
      for (const auto& p : pre.value("pretokenizers", nlohmann::json::array())) steps.push_back(p);
    } else if (pre.is_object()) {
      steps.push_back(pre);
    }
    bool byte_level = false;
    for (const auto& p : steps) {
      const std::string type = p.value("type", "");
      if (type == "ByteLevel") {
        byte_level = true;
        prefix_space_ = p.value("add_prefix_space", false);
        if (p.value("use_regex", true)) splitters_.emplace_back(kGpt2Regex, file);
      } else if (type == "Split") {
        const auto& pattern = p.value("pattern", nlohmann::json());
        if (!pattern.is_object() || !pattern.contains("Regex") ||
            p.value("behavior", "") != "Isolated" || p.value("invert", false)) {
          bad("pre_tokenizer Split: only a Regex pattern with behavior Isolated is supported");
        }
        splitters_.emplace_back(pattern["Regex"].get<std::string>(), file);
      } else {
        bad("pre_tokenizer " + type + " is not supported (byte-level BPE: Split and ByteLevel)");
      }
    }
    if (!byte_level) {
      bad("not a byte-level BPE (no ByteLevel pre-tokenizer): only byte-level BPE tokenizer.json "
          "files, or a vocab.txt, are supported");
    }
    for (const auto& t : j.value("added_tokens", nlohmann::json::array())) {
      if (t.is_object() && t.contains("content") && t["content"].is_string() &&
          !t["content"].get<std::string>().empty()) {
        added_.push_back(t["content"]);
      }
    }
    // Longest first, so that an added token that contains another wins.
    std::sort(added_.begin(), added_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    alphabet_ = byte_alphabet();
  }

  std::size_t count(std::string_view text) const override {
    std::string t(text);
    if (nfc_) {
      UErrorCode status = U_ZERO_ERROR;
      const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(status);
      icu::UnicodeString u = n->normalize(icu::UnicodeString::fromUTF8(t), status);
      t.clear();
      u.toUTF8String(t);
    }
    std::size_t total = 0;
    std::size_t pos = 0;
    while (pos <= t.size()) {
      // The next added token, cut out whole.
      std::size_t at = std::string::npos, len = 0;
      for (const auto& a : added_) {
        const std::size_t f = t.find(a, pos);
        if (f != std::string::npos && (f < at || (f == at && a.size() > len))) {
          at = f;
          len = a.size();
        }
      }
      const std::size_t end = at == std::string::npos ? t.size() : at;
      if (end > pos) total += count_plain(t.substr(pos, end - pos));
      if (at == std::string::npos) break;
      ++total;
      pos = at + len;
    }
    return total;
  }

  std::string description() const override {
    return fmt::format("byte-level BPE ({}, {} tokens)", fs::path(file_).filename().string(),
                       vocab_size_);
  }

 private:
  std::size_t count_plain(std::string text) const {
    if (prefix_space_ && !text.empty() && text[0] != ' ') text.insert(text.begin(), ' ');
    std::vector<std::string> pieces{text};
    for (const Splitter& s : splitters_) {
      std::vector<std::string> next;
      for (const auto& p : pieces) s.split(p, next);
      pieces = std::move(next);
    }
    std::size_t n = 0;
    for (const auto& p : pieces) n += count_piece(p);
    return n;
  }

  std::size_t count_piece(const std::string& piece) const {
    {
      std::lock_guard lock(cache_mutex_);
      if (const auto it = cache_.find(piece); it != cache_.end()) return it->second;
    }
    std::vector<std::string> symbols;
    for (unsigned char b : piece) symbols.push_back(alphabet_[b]);
    // Merge the adjacent pair of lowest rank, every occurrence of it left to right, until no
    // pair has a rank.
    for (;;) {
      int best = std::numeric_limits<int>::max();
      std::string best_a, best_b;
      for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
        const auto it = ranks_.find(pair_key(symbols[i], symbols[i + 1]));
        if (it != ranks_.end() && it->second < best) {
          best = it->second;
          best_a = symbols[i];
          best_b = symbols[i + 1];
        }
      }
      if (best == std::numeric_limits<int>::max()) break;
      std::vector<std::string> merged;
      for (std::size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == best_a && symbols[i + 1] == best_b) {
          merged.push_back(best_a + best_b);
          ++i;
        } else {
          merged.push_back(symbols[i]);
        }
      }
      symbols = std::move(merged);
    }
    std::lock_guard lock(cache_mutex_);
    cache_.emplace(piece, symbols.size());
    return symbols.size();
  }

  std::string file_;
  std::size_t vocab_size_ = 0;
  std::unordered_map<std::string, int> ranks_;
  std::vector<Splitter> splitters_;
  std::vector<std::string> added_;
  std::vector<std::string> alphabet_;
  bool nfc_ = false;
  bool prefix_space_ = false;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::size_t> cache_;
};

class WordPieceCounter : public TokenCounter {
 public:
  explicit WordPieceCounter(const std::string& dir)
      : tokenizer_(BertTokenizer::from_folder(dir)) {}
  std::size_t count(std::string_view text) const override {
    return tokenizer_.tokenize(text).size();
  }
  std::string description() const override {
    return fmt::format("WordPiece (vocab.txt, {} tokens)", tokenizer_.vocab_size());
  }

 private:
  BertTokenizer tokenizer_;
};

}  // namespace

std::unique_ptr<TokenCounter> TokenCounter::open(const std::string& path) {
  fs::path dir(path), json_file;
  if (fs::is_regular_file(dir)) {
    if (dir.filename() == "vocab.txt") return std::make_unique<WordPieceCounter>(dir.parent_path());
    json_file = dir;
    dir = dir.parent_path();
  } else if (fs::is_directory(dir)) {
    if (fs::is_regular_file(dir / "tokenizer.json")) json_file = dir / "tokenizer.json";
  } else {
    throw InputError(path + ": no such tokenizer folder or file");
  }
  if (!json_file.empty()) {
    std::ifstream in(json_file, std::ios::binary);
    nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("model") || !j["model"].is_object()) {
      throw InputError(json_file.string() + ": not a Hugging Face tokenizer.json (no model)");
    }
    const std::string type = j["model"].value("type", "");
    if (type == "BPE") return std::make_unique<BpeCounter>(j, json_file.string());
    if (type == "WordPiece" && fs::is_regular_file(dir / "vocab.txt")) {
      return std::make_unique<WordPieceCounter>(dir.string());
    }
    throw InputError(fmt::format(
        "{}: model type {} is not supported (byte-level BPE, or WordPiece with a vocab.txt)",
        json_file.string(), type.empty() ? "(none)" : type));
  }
  if (fs::is_regular_file(dir / "vocab.txt")) return std::make_unique<WordPieceCounter>(dir.string());
  throw InputError(path + ": no tokenizer.json or vocab.txt in this folder");
}

}  // namespace weakdistill
