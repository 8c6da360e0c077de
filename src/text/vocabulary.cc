#include "weakdistill/text/vocabulary.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {

Vocabulary::Vocabulary(std::vector<std::string> specials) {
  for (auto& s : specials) add(s);
}

void Vocabulary::build(std::size_t min_count, std::size_t max_size) {
  std::vector<std::pair<std::string, std::size_t>> v;
  for (const auto& [token, n] : counts_) {
    if (n >= min_count && !ids_.count(token)) v.emplace_back(token, n);
  }
  // counts_ is a std::map, so equal counts stay in byte order under stable_sort.
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [token, n] : v) {
    if (max_size && tokens_.size() >= max_size) break;
    add(token);
  }
  counts_.clear();
}

std::int64_t Vocabulary::add(const std::string& token) {
  const auto [it, inserted] = ids_.emplace(token, static_cast<std::int64_t>(tokens_.size()));
  if (inserted) tokens_.push_back(token);
  return it->second;
}

std::int64_t Vocabulary::id(std::string_view token, std::int64_t fallback) const {
  const auto it = ids_.find(std::string(token));
  return it == ids_.end() ? fallback : it->second;
}

void Vocabulary::save(const std::string& path) const {
  write_file_atomically(path, nlohmann::json{{"tokens", tokens_}}.dump() + "\n");
}

Vocabulary Vocabulary::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open vocabulary");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("tokens") || !j["tokens"].is_array()) {
    throw InputError(path + ": not a vocabulary file ({\"tokens\": [...]})");
  }
  Vocabulary v;
  for (const auto& t : j["tokens"]) {
    if (!t.is_string()) throw InputError(path + ": a token is not a string");
    v.add(t.get<std::string>());
  }
  if (v.size() != j["tokens"].size()) throw InputError(path + ": duplicate tokens");
  return v;
}

std::vector<std::string> split_chars(std::string_view text) {
  std::vector<std::string> out;
  for (char32_t c : utf8::decode(text)) {
    std::string s;
    utf8::append(s, c);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace weakdistill
