#include "weakdistill/teacher/augmenter.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

void check_rate(double value, const char* name) {
  // Written so that NaN fails too.
  if (!(value >= 0.0 && value <= 1.0)) {
    throw InputError(fmt::format("teacher.{}: must be in [0, 1], got {}", name, value));
  }
}

void check_options(const AugmentOptions& o) {
  check_rate(o.edit_rate, "edit_rate");
  check_rate(o.replace_prob, "replace_prob");
  check_rate(o.delete_prob, "delete_prob");
  if (o.keep_sentences < 0) {
    throw InputError(fmt::format("teacher.keep_sentences: must be >= 0, got {}", o.keep_sentences));
  }
  if (o.max_attempts < 1) {
    throw InputError(fmt::format("teacher.max_attempts: must be >= 1, got {}", o.max_attempts));
  }
}

template <typename T>
std::size_t index_of(const std::vector<T>& sorted, const T& value) {
  const auto it = std::lower_bound(sorted.begin(), sorted.end(), value);
  return it != sorted.end() && *it == value ? static_cast<std::size_t>(it - sorted.begin())
                                            : kNotFound;
}

std::u32string without_space(std::u32string_view s) {
  std::u32string out;
  for (char32_t c : s) {
    if (!utf8::is_space(c)) out.push_back(c);
  }
  return out;
}

// The verifier compares texts with whitespace removed, so an edit that only
// moves or deletes whitespace would be rejected as a copy: it does not count.
bool differs(const std::u32string& a, const std::u32string& b) {
  return without_space(a) != without_space(b);
}

// The seed's label fields without its id and extra fields: what a copy returns.
Sample bare_copy(const Sample& seed, Task task, const std::vector<Entity>& entities) {
  Sample out;
  out.text = seed.text;
  switch (task) {
    case Task::kClassification:
      out.label = seed.label;
      break;
    case Task::kNer:
      out.entities = entities;
      break;
    case Task::kSummarization:
      out.summary = seed.summary;
      break;
  }
  return out;
}

// ---- summarization: sentence and clause splitting -------------------------

bool is_sentence_end(char32_t c) {
  return c == U'。' || c == U'！' || c == U'？' || c == U'!' || c == U'?' || c == U'；' ||
         c == U';' || c == U'\n';
}

bool is_clause_end(char32_t c) { return c == U'，' || c == U','; }

// Closing quotes and brackets belong to the sentence they close: "他说：“好。”"
// must not leave ” at the head of the next sentence.
bool is_closer(char32_t c) {
  return c == U'”' || c == U'’' || c == U'」' || c == U'』' || c == U'）' || c == U')' ||
         c == U'】' || c == U'》' || c == U'"' || c == U'\'';
}

struct Span {
  std::size_t begin;
  std::size_t end;
};

// Splits after every `is_end` character. Further end characters, closers and
// whitespace that follow stay with the unit they end, so that "！！”\n" is one
// tail and no unit starts with punctuation or blank space.
template <typename IsEnd>
std::vector<Span> split_units(const std::u32string& text, IsEnd is_end) {
  std::vector<Span> units;
  std::size_t start = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_end(text[i])) {
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < text.size() && (is_end(text[j]) || is_sentence_end(text[j]) || is_closer(text[j]) ||
                               utf8::is_space(text[j]))) {
      ++j;
    }
    units.push_back({start, j});
    start = i = j;
  }
  if (start < text.size()) units.push_back({start, text.size()});
  return units;
}

// Characters shared by `unit` and the summary, counted with multiplicity
// (min of the two counts per character), whitespace ignored.
std::size_t overlap(std::u32string_view unit, const std::map<char32_t, std::size_t>& summary) {
  std::map<char32_t, std::size_t> counts;
  for (char32_t c : unit) {
    if (!utf8::is_space(c)) ++counts[c];
  }
  std::size_t shared = 0;
  for (const auto& [c, n] : counts) {
    const auto it = summary.find(c);
    if (it != summary.end()) shared += std::min(n, it->second);
  }
  return shared;
}

}  // namespace

Augmenter::Augmenter(Task task, const std::vector<Sample>& labeled, AugmentOptions options)
    : task_(task), options_(options) {
  check_options(options_);
  if (task_ == Task::kClassification) {
    std::map<std::string, std::u32string> chars;
    for (const Sample& s : labeled) {
      std::u32string& pool = chars[s.label];
      // With multiplicity: frequent characters of a label are drawn more often,
      // which keeps inserted noise close to the label's own distribution.
      pool += without_space(utf8::decode(s.text));
    }
    for (auto& [label, pool] : chars) {
      labels_.push_back(label);
      label_chars_.push_back(std::move(pool));
    }
  } else if (task_ == Task::kNer) {
    std::map<std::string, std::set<std::u32string>> mentions;
    for (const Sample& s : labeled) {
      std::u32string text;
      bool decoded = false;
      for (const Entity& e : s.entities) {
        std::u32string mention;
        if (!e.text.empty()) {
          mention = utf8::decode(e.text);
        } else {
          // An entity read without "text" has it filled on read; one built in
          // memory may not, so take it from the offsets when they fit.
          if (!decoded) text = utf8::decode(s.text), decoded = true;
          if (e.start < e.end && e.end <= text.size()) {
            mention = text.substr(e.start, e.end - e.start);
          }
        }
        if (!mention.empty()) mentions[e.type].insert(std::move(mention));
      }
    }
    for (auto& [type, set] : mentions) {
      types_.push_back(type);
      mentions_.emplace_back(set.begin(), set.end());
    }
  }
}

Sample Augmenter::augment(const Sample& seed, Rng& rng) const {
  const std::u32string text = utf8::decode(seed.text);
  std::vector<Entity> entities;
  if (task_ == Task::kNer) {
    entities = seed.entities;
    check_entities(text, entities, "augment seed");
  }
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    std::optional<Sample> out;
    switch (task_) {
      case Task::kClassification:
        out = edit_characters(seed, text, rng);
        break;
      case Task::kNer:
        out = replace_mentions(text, entities, rng);
        break;
      case Task::kSummarization:
        out = drop_sentences(seed, text, rng);
        break;
    }
    if (!out) break;  // no augmentation exists for this seed: do not spend the attempts
    const std::u32string new_text = utf8::decode(out->text);
    if (!new_text.empty() && differs(new_text, text)) return std::move(*out);
  }
  return bare_copy(seed, task_, entities);
}

std::optional<Sample> Augmenter::edit_characters(const Sample& seed, const std::u32string& text,
                                                 Rng& rng) const {
  const std::size_t label = index_of(labels_, seed.label);
  std::u32string own;
  const std::u32string* pool = nullptr;
  if (label != kNotFound && !label_chars_[label].empty()) {
    pool = &label_chars_[label];
  } else {
    own = without_space(text);
    pool = &own;
  }

  enum Op { kDelete, kSwap, kInsert };
  std::u32string out = text;
  const std::size_t edits = std::max<std::size_t>(
      1, static_cast<std::size_t>(
             std::llround(options_.edit_rate * static_cast<double>(text.size()))));
  for (std::size_t k = 0; k < edits; ++k) {
    // Ops that apply to the current text, in a fixed order so that one Rng
    // state gives one result. Deleting the last character would leave nothing.
    std::vector<Op> ops;
    if (out.size() >= 2) ops.push_back(kDelete);
    if (out.size() >= 2) ops.push_back(kSwap);
    if (!pool->empty()) ops.push_back(kInsert);
    if (ops.empty()) return std::nullopt;
    switch (ops[rng.below(ops.size())]) {
      case kDelete:
        out.erase(rng.below(out.size()), 1);
        break;
      case kSwap: {
        const std::size_t i = rng.below(out.size() - 1);
        std::swap(out[i], out[i + 1]);
        break;
      }
      case kInsert: {
        const std::size_t at = rng.below(out.size() + 1);
        out.insert(out.begin() + static_cast<std::ptrdiff_t>(at), (*pool)[rng.below(pool->size())]);
        break;
      }
    }
  }
  Sample result;
  result.text = utf8::encode(out);
  result.label = seed.label;
  return result;
}

std::optional<Sample> Augmenter::replace_mentions(const std::u32string& text,
                                                  const std::vector<Entity>& entities,
                                                  Rng& rng) const {
  // Per entity: the mention list of its type and the entity's own place in it
  // (kNotFound when the labeled set does not hold it).
  struct Choice {
    const std::vector<std::u32string>* mentions = nullptr;
    std::size_t current = kNotFound;
    std::size_t chosen = kNotFound;
  };
  std::vector<Choice> choices(entities.size());
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < entities.size(); ++i) {
    const std::size_t type = index_of(types_, entities[i].type);
    if (type == kNotFound) continue;
    Choice& c = choices[i];
    c.mentions = &mentions_[type];
    c.current = index_of(*c.mentions, utf8::decode(entities[i].text));
    const std::size_t others = c.mentions->size() - (c.current == kNotFound ? 0 : 1);
    if (others > 0) candidates.push_back(i);
  }

  if (candidates.empty()) return edit_outside_mentions(text, entities, rng);

  // Any other mention of the type, uniformly: draw among size-1 slots and skip
  // over the entity's own.
  const auto pick = [&rng](Choice& c) {
    const std::size_t n = c.mentions->size();
    if (c.current == kNotFound) {
      c.chosen = rng.below(n);
    } else {
      c.chosen = rng.below(n - 1);
      if (c.chosen >= c.current) ++c.chosen;
    }
  };
  bool any = false;
  for (std::size_t i : candidates) {
    if (rng.uniform() < options_.replace_prob) {
      pick(choices[i]);
      any = true;
    }
  }
  if (!any) pick(choices[candidates[rng.below(candidates.size())]]);

  std::u32string out;
  std::vector<Entity> new_entities;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < entities.size(); ++i) {
    const Entity& e = entities[i];
    out.append(text, pos, e.start - pos);
    const std::u32string mention = choices[i].chosen == kNotFound
                                       ? text.substr(e.start, e.end - e.start)
                                       : (*choices[i].mentions)[choices[i].chosen];
    Entity ne;
    ne.start = out.size();
    out += mention;
    ne.end = out.size();
    ne.type = e.type;
    ne.text = utf8::encode(mention);
    new_entities.push_back(std::move(ne));
    pos = e.end;
  }
  out.append(text, pos, std::u32string::npos);

  Sample result;
  result.text = utf8::encode(out);
  result.entities = std::move(new_entities);
  return result;
}

std::optional<Sample> Augmenter::edit_outside_mentions(const std::u32string& text,
                                                       const std::vector<Entity>& entities,
                                                       Rng& rng) {
  std::vector<bool> covered(text.size(), false);
  for (const Entity& e : entities) {
    std::fill(covered.begin() + static_cast<std::ptrdiff_t>(e.start),
              covered.begin() + static_cast<std::ptrdiff_t>(e.end), true);
  }
  std::vector<std::size_t> deletable;
  std::vector<std::size_t> swappable;  // i: swap text[i] and text[i + 1]
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (covered[i]) continue;
    if (text.size() >= 2) deletable.push_back(i);
    // Equal neighbours would swap into the same text.
    if (i + 1 < text.size() && !covered[i + 1] && text[i] != text[i + 1]) swappable.push_back(i);
  }
  if (deletable.empty() && swappable.empty()) return std::nullopt;

  std::u32string out = text;
  std::vector<Entity> new_entities = entities;
  // Deletion and swap are equally likely whenever both are possible.
  const bool can_delete = !deletable.empty();
  const bool can_swap = !swappable.empty();
  const bool do_delete = can_delete && (!can_swap || rng.below(2) == 0);
  if (do_delete) {
    const std::size_t at = deletable[rng.below(deletable.size())];
    out.erase(at, 1);
    // `at` is outside every mention, so a mention is wholly before or after it.
    for (Entity& e : new_entities) {
      if (e.start > at) --e.start, --e.end;
    }
  } else {
    const std::size_t i = swappable[rng.below(swappable.size())];
    std::swap(out[i], out[i + 1]);
  }
  Sample result;
  result.text = utf8::encode(out);
  result.entities = std::move(new_entities);
  return result;
}

std::optional<Sample> Augmenter::drop_sentences(const Sample& seed, const std::u32string& text,
                                                Rng& rng) const {
  std::vector<Span> units = split_units(text, is_sentence_end);
  // One sentence: work on its clauses, deleting but never reordering them,
  // since clause order carries the sentence's grammar.
  const bool clauses = units.size() < 2;
  if (clauses) units = split_units(text, is_clause_end);
  if (units.size() < 2) return std::nullopt;

  std::map<char32_t, std::size_t> summary;
  for (char32_t c : utf8::decode(seed.summary)) {
    if (!utf8::is_space(c)) ++summary[c];
  }
  std::vector<std::size_t> scores(units.size());
  std::vector<std::size_t> rank(units.size());
  for (std::size_t i = 0; i < units.size(); ++i) {
    scores[i] = overlap(
        std::u32string_view(text).substr(units[i].begin, units[i].end - units[i].begin), summary);
    rank[i] = i;
  }
  // Best overlap first; ties go to the earlier unit.
  std::stable_sort(rank.begin(), rank.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  std::vector<bool> kept(units.size(), false);
  const std::size_t protect =
      std::min(units.size(), static_cast<std::size_t>(options_.keep_sentences));
  for (std::size_t r = 0; r < protect; ++r) kept[rank[r]] = true;
  // Nothing to delete and nothing to reorder: every attempt would return the seed.
  if (protect == units.size() && clauses) return std::nullopt;

  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < units.size(); ++i) {
    if (!kept[i] && rng.uniform() >= options_.delete_prob) kept[i] = true;
    if (kept[i]) order.push_back(i);
  }
  // keep_sentences 0 with everything deleted: keep the best rather than
  // produce an empty text.
  if (order.empty()) order.push_back(rank[0]);
  if (!clauses) rng.shuffle(order);

  std::u32string out;
  for (std::size_t i : order) out.append(text, units[i].begin, units[i].end - units[i].begin);
  if (clauses && order.back() != units.size() - 1) {
    // The sentence's end was deleted: "甲，乙。" kept as "甲，" reads as cut off,
    // so trade the trailing comma (and blank) for the sentence's own end mark.
    while (!out.empty() && (utf8::is_space(out.back()) || is_clause_end(out.back()))) {
      out.pop_back();
    }
    std::size_t last = text.size();
    while (last > 0 && utf8::is_space(text[last - 1])) --last;
    if (last > 0 && is_sentence_end(text[last - 1])) out.push_back(text[last - 1]);
  }

  Sample result;
  result.text = utf8::encode(out);
  result.summary = seed.summary;
  return result;
}

}  // namespace weakdistill
