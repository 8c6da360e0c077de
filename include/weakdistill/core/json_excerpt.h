// Quoting a piece of someone else's JSON in a message, safely.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace weakdistill {

// `value` as compact JSON cut to at most `max_chars` bytes (then "..." is appended, and a cut
// never splits a UTF-8 character), or its kind ("an object nested 300 levels deep") when it
// nests deeper than kMaxJsonNesting: dumping such a value would recurse that deep. Never throws
// but std::bad_alloc.
std::string json_excerpt(const nlohmann::json& value, std::size_t max_chars = 80);

// What a server's error value says, for a message: a string as it is; an object's "message"
// (a string as it is, anything else as an excerpt); any other value as an excerpt of at most
// `max_chars`. Servers send {"error": "..."}, {"error": {"message": ...}} and worse.
std::string error_message(const nlohmann::json& error, std::size_t max_chars = 200);

// "a string", "a number", "null", "an object", "an array", "a boolean": for messages that say
// what a field held instead of what was expected.
const char* json_kind(const nlohmann::json& value);

}  // namespace weakdistill
