// A learnable synthetic classification set for end-to-end tests: labels A and B whose texts
// draw on disjoint characters.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace weakdistill::testing {

// Two labels whose texts draw on disjoint characters, so a student can learn them.
inline const char* kA = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳";
inline const char* kB = "春夏秋冬东南西北金木水火土日月星";

inline std::string text_of(const std::string& chars, std::uint64_t n, int len = 6) {
  // Characters of `chars` picked by the digits of n: distinct n, distinct texts.
  std::u32string pool;
  for (std::size_t i = 0; i < chars.size(); i += 3) {  // all 3-byte characters
    pool += static_cast<char32_t>(((chars[i] & 0x0f) << 12) | ((chars[i + 1] & 0x3f) << 6) |
                                  (chars[i + 2] & 0x3f));
  }
  std::string out;
  std::uint64_t x = n * 2654435761ULL + 17;
  for (int k = 0; k < len; ++k) {
    const char32_t c = pool[x % pool.size()];
    x = x / pool.size() + (x % 7) * 1000003ULL + k;
    out += static_cast<char>(0xe0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  }
  return out;
}

inline std::string dataset(std::uint64_t first, int per_label) {
  std::string out;
  for (int i = 0; i < per_label; ++i) {
    out += "{\"text\": \"" + text_of(kA, first + i) + "\", \"label\": \"A\"}\n";
    out += "{\"text\": \"" + text_of(kB, first + i) + "\", \"label\": \"B\"}\n";
  }
  return out;
}

// An LLM that reasons, then writes a new text of the seed's label (the
// built-in prompt's {format} carries the label); the request seed makes each
// reply different.
inline std::string responder(const nlohmann::json& request, int) {
  const std::string prompt = request["messages"].back()["content"];
  const bool is_a = prompt.find("\"label\": \"A\"") != std::string::npos;
  const std::uint64_t seed = request.value("seed", 0);
  return "先分析样本，再仿写。\n```json\n{\"text\": \"" +
         text_of(is_a ? kA : kB, 100000 + seed, 7) + "\", \"label\": \"" + (is_a ? "A" : "B") +
         "\"}\n```";
}

}  // namespace weakdistill::testing
