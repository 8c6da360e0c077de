#include "weakdistill/teacher/reply_parser.h"

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/teacher/teacher.h"

namespace weakdistill {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------
// Finding JSON objects in free text.
//
// A reply is reasoning prose with the answer somewhere in it, so any '{' may
// start an object. Matching braces naively goes wrong on braces inside strings
// and on prose quotes, and parsing from every '{' is quadratic on a long reply
// full of braces. Instead, each '{' is checked against the JSON grammar, from
// the last '{' to the first, and the result (the end of the object, or "not an
// object") is remembered: a nested object is then skipped in one step, so each
// check reads only its object's own level, and the whole pass is linear in
// practice.
// ---------------------------------------------------------------------------

constexpr std::size_t kNotObject = 0;  // an object's end is always > 0

class ObjectScanner {
 public:
  explicit ObjectScanner(std::string_view s) : s_(s), end_(s.size(), kNotObject) {
    for (std::size_t i = s.size(); i-- > 0;) {
      if (s_[i] == '{') end_[i] = scan_object(i);
    }
  }

  // The objects not nested in another object (nor inside one's strings), in order.
  std::vector<std::pair<std::size_t, std::size_t>> top_level() const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (std::size_t i = 0; i < s_.size();) {
      if (s_[i] == '{' && end_[i] != kNotObject) {
        out.emplace_back(i, end_[i]);
        i = end_[i];
      } else {
        ++i;
      }
    }
    return out;
  }

 private:
  enum class Expect { kKeyOrClose, kKey, kColon, kValueOrClose, kValue, kCommaOrClose };

  static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  // s_[i] == '"'. Returns the index after the closing quote, or npos. Raw control
  // characters are let through: parse_candidate() escapes them (see there).
  std::size_t scan_string(std::size_t i) const {
    for (++i; i < s_.size(); ++i) {
      const char c = s_[i];
      if (c == '"') return i + 1;
      if (c != '\\') continue;
      if (++i >= s_.size()) return std::string_view::npos;
      const char e = s_[i];
      if (e == 'u') {
        for (int k = 0; k < 4; ++k) {
          if (++i >= s_.size() || !is_hex(s_[i])) return std::string_view::npos;
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return std::string_view::npos;
      }
    }
    return std::string_view::npos;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  std::size_t scan_number(std::size_t i) const {
    const auto digits = [&](std::size_t j) {
      const std::size_t from = j;
      while (j < s_.size() && is_digit(s_[j])) ++j;
      return j == from ? std::string_view::npos : j;
    };
    if (s_[i] == '-') ++i;
    if (i >= s_.size()) return std::string_view::npos;
    if (s_[i] == '0') {
      ++i;
    } else if ((i = digits(i)) == std::string_view::npos) {
      return i;
    }
    if (i < s_.size() && s_[i] == '.') {
      if ((i = digits(i + 1)) == std::string_view::npos) return i;
    }
    if (i < s_.size() && (s_[i] == 'e' || s_[i] == 'E')) {
      ++i;
      if (i < s_.size() && (s_[i] == '+' || s_[i] == '-')) ++i;
      if ((i = digits(i)) == std::string_view::npos) return i;
    }
    return i;
  }

  // The end of the object at s_[start] == '{', or kNotObject. Every '{' after
  // `start` has been scanned already (the constructor goes backwards).
  std::size_t scan_object(std::size_t start) {
    stack_.assign(1, '{');
    Expect expect = Expect::kKeyOrClose;
    std::size_t i = start + 1;
    constexpr auto npos = std::string_view::npos;
    while (true) {
      while (i < s_.size() && is_ws(s_[i])) ++i;
      if (i >= s_.size()) return kNotObject;
      const char c = s_[i];
      bool close = false;
      switch (expect) {
        case Expect::kKeyOrClose:
        case Expect::kKey:
          if (c == '}' && expect == Expect::kKeyOrClose) {
            close = true;
          } else if (c == '"') {
            if ((i = scan_string(i)) == npos) return kNotObject;
            expect = Expect::kColon;
          } else {
            return kNotObject;
          }
          break;
        case Expect::kColon:
          if (c != ':') return kNotObject;
          ++i;
          expect = Expect::kValue;
          break;
        case Expect::kValueOrClose:
        case Expect::kValue:
          if (c == ']' && expect == Expect::kValueOrClose) {
            close = true;
          } else if (c == '{') {
            if (end_[i] == kNotObject) return kNotObject;
            i = end_[i];
            expect = Expect::kCommaOrClose;
          } else if (c == '[') {
            stack_.push_back('[');
            ++i;
            expect = Expect::kValueOrClose;
          } else if (c == '"') {
            if ((i = scan_string(i)) == npos) return kNotObject;
            expect = Expect::kCommaOrClose;
          } else if (c == '-' || is_digit(c)) {
            if ((i = scan_number(i)) == npos) return kNotObject;
            expect = Expect::kCommaOrClose;
          } else {
            std::size_t len = 0;
            for (std::string_view word : {"true", "false", "null"}) {
              if (s_.substr(i, word.size()) == word) len = word.size();
            }
            if (len == 0) return kNotObject;
            i += len;
            expect = Expect::kCommaOrClose;
          }
          break;
        case Expect::kCommaOrClose:
          if (c == ',') {
            ++i;
            expect = stack_.back() == '{' ? Expect::kKey : Expect::kValue;
          } else if (c == (stack_.back() == '{' ? '}' : ']')) {
            close = true;
          } else {
            return kNotObject;
          }
          break;
      }
      if (close) {
        ++i;
        stack_.pop_back();
        if (stack_.empty()) return i;
        expect = Expect::kCommaOrClose;
      }
    }
  }

  std::string_view s_;
  std::vector<std::size_t> end_;
  std::vector<char> stack_;  // '{' at the bottom, '[' above: nested objects are skipped
};

// Models often write line breaks inside a JSON string raw. That is not JSON,
// but its meaning is unambiguous, so raw control characters inside strings are
// escaped before parsing. Nothing else is repaired (full-width quotes, single
// quotes, trailing commas): guessing there could change the sample.
std::string escape_raw_controls(std::string_view span) {
  std::string out;
  out.reserve(span.size());
  bool in_string = false;
  for (std::size_t i = 0; i < span.size(); ++i) {
    const char c = span[i];
    if (in_string && c == '\\') {
      out += c;
      out += span[++i];  // the scanner checked that an escape follows
      continue;
    }
    if (c == '"') in_string = !in_string;
    if (in_string && static_cast<unsigned char>(c) < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[(c >> 4) & 0xF];
      out += kHex[c & 0xF];
    } else {
      out += c;
    }
  }
  return out;
}

std::string trim(const std::string& s) {
  const std::u32string cps = utf8::decode(s);
  std::size_t b = 0;
  std::size_t e = cps.size();
  while (b < e && utf8::is_space(cps[b])) ++b;
  while (e > b && utf8::is_space(cps[e - 1])) --e;
  return utf8::encode(std::u32string_view(cps).substr(b, e - b));
}

// `s` shortened to `max` code points for a message (valid UTF-8 in, valid out).
std::string quote(std::string_view s, std::size_t max = 60) {
  const std::u32string cps = utf8::decode(s);
  if (cps.size() <= max) return "\"" + std::string(s) + "\"";
  return "\"" + utf8::encode(std::u32string_view(cps).substr(0, max)) + "...\"";
}

// The reply's last `max` code points, for the message of a reply with no answer.
std::string quote_tail(std::string_view s, std::size_t max = 60) {
  const std::u32string cps = utf8::decode(s);
  if (cps.size() <= max) return "\"" + std::string(s) + "\"";
  return "\"..." + utf8::encode(std::u32string_view(cps).substr(cps.size() - max)) + "\"";
}

std::string field_list(Task task) {
  switch (task) {
    case Task::kClassification:
      return "\"text\" and \"label\"";
    case Task::kNer:
      return "\"text\" and \"entities\"";
    case Task::kSummarization:
      return "\"text\" and \"summary\"";
  }
  return "";
}

// How well an object answers the task.
enum class Fit {
  kOk,
  kNoAnswer,  // the task's field (label, entities, summary) missing or mistyped
  kNoText,    // the task's field fine, "text" missing, mistyped or blank
};

struct Extracted {
  Fit fit = Fit::kNoAnswer;
  std::string problem;  // for kNoAnswer and kNoText
  Sample sample;
};

// A string field's value; numbers are accepted as their decimal text when
// `numbers` (a model may write the label 3 for "3").
std::optional<std::string> string_field(const json& obj, const char* key, bool numbers) {
  const auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (numbers && it->is_number()) return it->dump();
  return std::nullopt;
}

Extracted extract(Task task, const json& obj) {
  Extracted out;
  switch (task) {
    case Task::kClassification: {
      const auto label = string_field(obj, "label", true);
      if (!label) {
        out.problem = obj.contains("label") ? "\"label\" is not a string" : "no \"label\"";
        return out;
      }
      out.sample.label = trim(*label);
      break;
    }
    case Task::kNer: {
      const auto it = obj.find("entities");
      if (it == obj.end() || !it->is_array()) {
        out.problem = it == obj.end() ? "no \"entities\"" : "\"entities\" is not an array";
        return out;
      }
      for (std::size_t k = 0; k < it->size(); ++k) {
        const json& e = (*it)[k];
        const auto text = e.is_object() ? string_field(e, "text", false) : std::nullopt;
        const auto type = e.is_object() ? string_field(e, "type", false) : std::nullopt;
        if (!text || !type) {
          out.problem = "entity " + std::to_string(k) +
                        " is not an object with string \"text\" and \"type\": " +
                        quote(e.dump(-1, ' ', false, json::error_handler_t::replace));
          return out;
        }
        Entity entity;
        entity.text = trim(*text);
        entity.type = trim(*type);
        out.sample.entities.push_back(std::move(entity));
      }
      break;
    }
    case Task::kSummarization: {
      const auto summary = string_field(obj, "summary", false);
      if (!summary) {
        out.problem = obj.contains("summary") ? "\"summary\" is not a string" : "no \"summary\"";
        return out;
      }
      out.sample.summary = trim(*summary);
      break;
    }
  }
  const auto text = string_field(obj, "text", false);
  if (!text || trim(*text).empty()) {
    out.fit = Fit::kNoText;
    out.problem = !text ? (obj.contains("text") ? "\"text\" is not a string" : "no \"text\"")
                        : "\"text\" is blank";
    return out;
  }
  out.sample.text = trim(*text);
  out.fit = Fit::kOk;
  return out;
}

Rejection reject(RejectReason reason, std::string detail) {
  return Rejection{reason, std::move(detail)};
}

}  // namespace

ParsedReply parse_reply(Task task, std::string_view content, std::string_view finish_reason) {
  ParsedReply result;
  if (finish_reason == "length") {
    result.rejection = reject(RejectReason::kTruncated,
                              "the reply was cut at the length limit (finish_reason \"length\")");
    return result;
  }
  if (const auto bad = utf8::find_invalid(content)) {
    result.rejection = reject(RejectReason::kUnparseable, "the reply is not valid UTF-8 (byte " +
                                                              std::to_string(*bad + 1) + ")");
    return result;
  }

  const auto objects = ObjectScanner(content).top_level();
  std::optional<std::string> no_text;  // the latest object that lacked only its text
  std::string last_problem;            // why the latest object was not the answer
  for (auto it = objects.rbegin(); it != objects.rend(); ++it) {
    const std::string_view span = content.substr(it->first, it->second - it->first);
    // A deep value would overflow the stack where an entity is printed in a
    // message (dump() recurses; found while fuzzing).
    if (json_nesting(span) > kMaxJsonNesting) {
      if (last_problem.empty()) {
        last_problem = "it nests deeper than " + std::to_string(kMaxJsonNesting) + " levels";
      }
      continue;
    }
    json obj;
    try {
      obj = json::parse(escape_raw_controls(span));
    } catch (const json::exception&) {
      // The scanner's grammar is JSON's, but nlohmann also checks \u surrogates.
      if (last_problem.empty()) last_problem = "it does not parse as JSON";
      continue;
    }
    Extracted ex = extract(task, obj);
    if (ex.fit == Fit::kOk) {
      result.sample = std::move(ex.sample);
      return result;
    }
    if (ex.fit == Fit::kNoText && !no_text) no_text = ex.problem + " in " + quote(span);
    if (last_problem.empty()) last_problem = ex.problem;
  }
  if (no_text) {
    result.rejection = reject(RejectReason::kEmptyText, *no_text);
  } else if (objects.empty()) {
    result.rejection = reject(RejectReason::kUnparseable,
                              "no JSON object in the reply, which ends " + quote_tail(content));
  } else {
    result.rejection =
        reject(RejectReason::kUnparseable,
               "none of the " + std::to_string(objects.size()) +
                   " JSON object(s) in the reply has " + field_list(task) + "; the last one, " +
                   quote(content.substr(objects.back().first,
                                        objects.back().second - objects.back().first)) +
                   ": " + last_problem);
  }
  return result;
}

namespace {

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// The parsed objects of `content` (those that parse as JSON and nest no deeper than the limit),
// in order, with their spans.
std::vector<std::pair<json, std::string_view>> parsed_objects(std::string_view content) {
  std::vector<std::pair<json, std::string_view>> out;
  for (const auto& [b, e] : ObjectScanner(content).top_level()) {
    const std::string_view span = content.substr(b, e - b);
    if (json_nesting(span) > kMaxJsonNesting) continue;
    try {
      out.emplace_back(json::parse(escape_raw_controls(span)), span);
    } catch (const json::exception&) {
    }
  }
  return out;
}

ParsedReply judge_object(Task task, const json& obj, const std::string& where) {
  ParsedReply r;
  if (!obj.is_object()) {
    r.rejection = reject(RejectReason::kUnparseable, where + " is not a JSON object");
    return r;
  }
  Extracted ex = extract(task, obj);
  if (ex.fit == Fit::kOk) {
    r.sample = std::move(ex.sample);
  } else {
    r.rejection = reject(ex.fit == Fit::kNoText ? RejectReason::kEmptyText
                                                : RejectReason::kUnparseable,
                         where + ": " + ex.problem);
  }
  return r;
}

}  // namespace

std::vector<ParsedReply> parse_generation(Task task, const Generation& g, int samples) {
  const bool cut = g.finish_reason == "length";
  if (g.reasoning_open || (cut && blank(g.reply) && !g.reasoning.empty())) {
    ParsedReply r;
    r.rejection = reject(
        RejectReason::kTruncatedInReasoning,
        g.reasoning_open && !cut
            ? "the reply ends inside its <think> block: the model gave no answer"
            : "the reply was cut while the model was still reasoning (finish_reason \"length\"); "
              "raise teacher.max_tokens to leave room for the answer after the reasoning");
    return {r};
  }
  if (utf8::find_invalid(g.reply)) return {parse_reply(task, g.reply, g.finish_reason)};
  const auto objects = parsed_objects(g.reply);
  std::vector<ParsedReply> out;
  // The several-samples form: the last object with a "samples" array.
  for (auto it = objects.rbegin(); it != objects.rend(); ++it) {
    const auto list = it->first.find("samples");
    if (list == it->first.end() || !list->is_array()) continue;
    for (std::size_t k = 0; k < list->size() && out.size() < kMaxSamplesPerReply; ++k) {
      out.push_back(judge_object(task, (*list)[k], "samples[" + std::to_string(k) + "]"));
    }
    if (out.empty()) {
      ParsedReply r;
      r.rejection = reject(RejectReason::kUnparseable, "the reply's \"samples\" array is empty");
      out.push_back(std::move(r));
    }
    break;
  }
  if (out.empty() && (samples > 1 || cut)) {
    for (const auto& [obj, span] : objects) {
      if (out.size() >= kMaxSamplesPerReply) break;
      ParsedReply r = judge_object(task, obj, "");
      if (r.sample) out.push_back(std::move(r));
    }
    // A cut reply asked for one sample is judged whole, as before: a complete object
    // before the cut may be an example the model was still writing about.
    if (samples <= 1) out.clear();
  }
  if (out.empty()) return {parse_reply(task, g.reply, g.finish_reason)};
  if (cut) {
    ParsedReply r;
    r.rejection = reject(RejectReason::kTruncated,
                         "the reply was cut at the length limit (finish_reason \"length\") "
                         "after " + std::to_string(out.size()) + " complete sample(s)");
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace weakdistill
