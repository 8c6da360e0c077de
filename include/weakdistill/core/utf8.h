// UTF-8 helpers. Offsets everywhere in weakdistill are Unicode code points.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace weakdistill::utf8 {

// Returns the byte offset of the first ill-formed sequence in `s` (overlong
// forms, surrogates and values above U+10FFFF are ill-formed), or nullopt when
// `s` is valid UTF-8.
std::optional<std::size_t> find_invalid(std::string_view s);

// `s` with each byte that starts no well-formed sequence replaced by U+FFFD: text from outside
// (a server's error page) made safe to keep in JSON and logs.
std::string make_valid(std::string_view s);

// Decodes valid UTF-8 into code points. Throws std::invalid_argument on invalid input.
std::u32string decode(std::string_view s);

// Encodes code points as UTF-8. Throws std::invalid_argument on a surrogate or a
// value above U+10FFFF.
std::string encode(std::u32string_view s);
void append(std::string& out, char32_t c);

// Number of code points in valid UTF-8 `s`.
std::size_t length(std::string_view s);

// True for the characters that Python's str.isspace() accepts, so that
// "whitespace removed" means the same here and in a Python reference.
bool is_space(char32_t c);

// Valid UTF-8 `s` without its whitespace (is_space): the form in which texts
// are compared when spacing must not make two texts differ. Throws
// std::invalid_argument on invalid input.
std::string without_space(std::string_view s);

// The first C0 control character other than tab, LF and CR, or DEL, in `s`: what a YAML
// document may not hold (and so neither a config). nullopt when there is none.
std::optional<unsigned char> find_control(std::string_view s);

// Strips a leading UTF-8 byte order mark, if any.
std::string_view strip_bom(std::string_view s);

}  // namespace weakdistill::utf8
