// A token vocabulary (characters, character bigrams, labels) with fixed ids,
// saved as JSON so that any token, even a newline, round-trips.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace weakdistill {

class Vocabulary {
 public:
  Vocabulary() = default;
  // `specials` get ids 0, 1, ... in order (e.g. {"<pad>", "<unk>"}).
  explicit Vocabulary(std::vector<std::string> specials);

  // Counts a token occurrence (before build()).
  void count(const std::string& token, std::size_t n = 1) { counts_[token] += n; }
  // Assigns ids after the specials: tokens seen at least `min_count` times,
  // most frequent first (ties in byte order), at most `max_size` ids in all
  // (0 = no limit). Deterministic for the same counts.
  void build(std::size_t min_count = 1, std::size_t max_size = 0);

  // Adds `token` (if new) and returns its id, for closed sets such as labels.
  std::int64_t add(const std::string& token);
  // The id of `token`, or `fallback` when absent (-1 by default).
  std::int64_t id(std::string_view token, std::int64_t fallback = -1) const;
  const std::string& token(std::int64_t id) const {
    return tokens_.at(static_cast<std::size_t>(id));
  }
  std::size_t size() const { return tokens_.size(); }
  const std::vector<std::string>& tokens() const { return tokens_; }

  // Writes / reads {"tokens": [...]}; load throws InputError naming the file.
  void save(const std::string& path) const;
  static Vocabulary load(const std::string& path);

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::int64_t> ids_;
  std::map<std::string, std::size_t> counts_;
};

// The code points of UTF-8 `text`, each as its own UTF-8 string.
std::vector<std::string> split_chars(std::string_view text);

}  // namespace weakdistill
