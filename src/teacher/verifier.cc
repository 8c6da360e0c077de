#include "weakdistill/teacher/verifier.h"

#include <algorithm>
#include <cstdio>
#include <unordered_map>

#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

// `s` in quotes, shortened to `max` code points, for a rejection's detail.
std::string quote(const std::string& s, std::size_t max = 60) {
  const std::u32string cps = utf8::decode(s);
  std::string out = "\"";
  if (cps.size() <= max) {
    out += s;
  } else {
    out += utf8::encode(std::u32string_view(cps).substr(0, max));
    out += "...";
  }
  out += '"';
  return out;
}

std::string describe_set(const std::set<std::string>& set) {
  if (set.empty()) return "the label set, which is empty";
  std::string out = "the label set {";
  std::size_t shown = 0;
  for (const std::string& label : set) {
    if (shown == 20) {
      out += ", ... (" + std::to_string(set.size()) + " in all)";
      break;
    }
    out += (shown++ == 0 ? "" : ", ") + label;
  }
  return out + "}";
}

Rejection reject(RejectReason reason, std::string detail) {
  return Rejection{reason, std::move(detail)};
}

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", share * 100.0);
  return buf;
}

// Offsets of the entity strings in `text`. Every occurrence of every string is
// a candidate span; they are taken longer first, then leftmost, each skipped when
// it overlaps one already taken. So 北京 inside 北京大学 is left to 北京大学, and
// "哈哈" in "哈哈哈" is labeled once. A string listed twice keeps its first type.
std::vector<Entity> locate(const std::u32string& text, const std::vector<Entity>& listed) {
  std::vector<std::pair<std::u32string, std::string>> strings;  // (string, type), first listing
  for (const Entity& e : listed) {
    std::u32string s = utf8::decode(e.text);
    if (std::none_of(strings.begin(), strings.end(), [&](const auto& p) { return p.first == s; })) {
      strings.emplace_back(std::move(s), e.type);
    }
  }
  struct Span {
    std::size_t start;
    std::size_t length;
    std::size_t string;  // index into `strings`
  };
  std::vector<Span> spans;
  for (std::size_t k = 0; k < strings.size(); ++k) {
    const std::u32string& s = strings[k].first;
    for (std::size_t pos = text.find(s); pos != std::u32string::npos; pos = text.find(s, pos + 1)) {
      spans.push_back({pos, s.size(), k});
    }
  }
  // Two spans of one length and start are one string, so the order is total.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.length != b.length ? a.length > b.length : a.start < b.start;
  });
  std::vector<bool> taken(text.size(), false);
  std::vector<Entity> found;
  for (const Span& span : spans) {
    const auto first = taken.begin() + static_cast<std::ptrdiff_t>(span.start);
    const auto last = first + static_cast<std::ptrdiff_t>(span.length);
    if (std::find(first, last, true) != last) continue;
    std::fill(first, last, true);
    found.push_back(Entity{span.start, span.start + span.length, strings[span.string].second,
                           utf8::encode(strings[span.string].first)});
  }
  return found;
}

}  // namespace

Verifier::Verifier(Task task, const std::vector<Sample>& labeled, VerifyOptions options,
                   std::set<std::string> label_set)
    : task_(task), options_(options), label_set_(std::move(label_set)) {
  const bool from_labeled = label_set_.empty();
  for (const Sample& sample : labeled) {
    labeled_texts_.insert(utf8::without_space(sample.text));
    if (!from_labeled) continue;
    if (task_ == Task::kClassification && !sample.label.empty()) label_set_.insert(sample.label);
    if (task_ == Task::kNer) {
      for (const Entity& e : sample.entities) label_set_.insert(e.type);
    }
  }
}

void Verifier::add_accepted(const Sample& sample) {
  accepted_texts_.insert(utf8::without_space(sample.text));
}

std::optional<Rejection> Verifier::verify(Sample& candidate, const Sample& seed) const {
  // Compared without whitespace: a copy that differs only in spacing teaches nothing new.
  const std::string text = utf8::without_space(candidate.text);
  if (text.empty()) return reject(RejectReason::kEmptyText, "the text is empty");
  if (text == utf8::without_space(seed.text)) {
    return reject(RejectReason::kCopyOfSeed,
                  "the text " + quote(candidate.text) + " is its seed's (whitespace ignored)");
  }
  if (labeled_texts_.count(text) != 0) {
    return reject(RejectReason::kCopyOfLabeled, "the text " + quote(candidate.text) +
                                                    " is a labeled sample's (whitespace ignored)");
  }
  if (accepted_texts_.count(text) != 0) {
    return reject(
        RejectReason::kCopyOfAccepted,
        "the text " + quote(candidate.text) + " is an accepted sample's (whitespace ignored)");
  }

  switch (task_) {
    case Task::kClassification:
      if (label_set_.count(candidate.label) == 0) {
        return reject(RejectReason::kLabelNotInSet,
                      "label " + quote(candidate.label) + " not in " + describe_set(label_set_));
      }
      return std::nullopt;

    case Task::kNer: {
      const std::u32string cps = utf8::decode(candidate.text);
      for (const Entity& e : candidate.entities) {
        if (label_set_.count(e.type) == 0) {
          return reject(RejectReason::kLabelNotInSet, "entity type " + quote(e.type) + " (of " +
                                                          quote(e.text) + ") not in " +
                                                          describe_set(label_set_));
        }
        if (e.text.empty()) {
          return reject(RejectReason::kEntityNotInText,
                        "an entity of type " + quote(e.type) + " has an empty string");
        }
        if (cps.find(utf8::decode(e.text)) == std::u32string::npos) {
          return reject(RejectReason::kEntityNotInText, "entity " + quote(e.text) + " (" + e.type +
                                                            ") does not occur in the text " +
                                                            quote(candidate.text));
        }
      }
      std::vector<Entity> located = locate(cps, candidate.entities);
      // locate() builds valid spans by construction; checking is cheap and turns a
      // bug into an error instead of a corrupt training file.
      check_entities(cps, located, "verified ner candidate");
      candidate.entities = std::move(located);
      return std::nullopt;
    }

    case Task::kSummarization: {
      const std::u32string summary = utf8::decode(candidate.summary);
      std::unordered_map<char32_t, std::size_t> available;
      std::size_t summary_chars = 0;
      for (const char32_t c : summary) summary_chars += utf8::is_space(c) ? 0 : 1;
      if (summary_chars == 0) return reject(RejectReason::kSummaryInvalid, "the summary is empty");
      const std::size_t text_length = utf8::length(candidate.text);
      if (summary.size() >= text_length) {
        return reject(RejectReason::kSummaryInvalid,
                      "the summary " + quote(candidate.summary) + " (" +
                          std::to_string(summary.size()) +
                          " characters) is not shorter than the text (" +
                          std::to_string(text_length) + " characters)");
      }
      for (const char32_t c : utf8::decode(candidate.text)) ++available[c];
      std::size_t shared = 0;  // multiset intersection: each text character used once
      for (const char32_t c : summary) {
        if (utf8::is_space(c)) continue;
        auto it = available.find(c);
        if (it != available.end() && it->second > 0) {
          --it->second;
          ++shared;
        }
      }
      const double share = static_cast<double>(shared) / static_cast<double>(summary_chars);
      if (share < options_.min_char_overlap) {
        return reject(
            RejectReason::kSummaryOverlapLow,
            "only " + std::to_string(shared) + " of the " + std::to_string(summary_chars) +
                " characters of the summary " + quote(candidate.summary) + " (" + percent(share) +
                ") occur in the text; at least " + percent(options_.min_char_overlap) + " must");
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace weakdistill
