// The tokens the classification students (fasttext, textcnn) read from a
// text. Private to src/student/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "weakdistill/core/utf8.h"

namespace weakdistill::student_internal {

// Stands for a run of whitespace between two characters.
inline constexpr std::string_view kSpaceToken = "\u2581";  // ▁

// One token per code point of UTF-8 `text`, except whitespace: every run of
// whitespace (Python's str.isspace(), and NUL) between two other characters
// becomes one kSpaceToken, and leading or trailing whitespace is dropped.
// Why a token and not nothing: a space in a title separates phrases
// ("汽车水泥反攻 股指盘中再度反抽"), and fastText needs tokens without whitespace.
// A literal U+2581 in the text reads the same as a space. Throws
// std::invalid_argument on invalid UTF-8.
inline std::vector<std::string> char_tokens(std::string_view text) {
  std::vector<std::string> out;
  bool space = false;
  for (const char32_t c : utf8::decode(text)) {
    if (c == 0 || utf8::is_space(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.emplace_back(kSpaceToken);
    space = false;
    std::string token;
    utf8::append(token, c);
    out.push_back(std::move(token));
  }
  return out;
}

}  // namespace weakdistill::student_internal
