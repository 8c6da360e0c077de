// Reading an OpenAI-style embeddings reply (POST /v1/embeddings), as servers really send it.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace weakdistill {

// The vectors of an embeddings reply to a request of `n` inputs, in input order, each scaled to
// unit length (a zero vector stays zero). Items are placed by their "index" (servers may send
// them in any order); when no item has an index they are taken in order, as some servers send
// them. `dim`, when non-zero, is the length every vector must have; in any case all have one
// length. Returns nullopt and sets `why` to a message naming the field at fault: "data" missing
// or not an array of n items, an item that is not an object, an index that is missing (on some
// items only), not an integer, out of range or repeated, an embedding that is missing, null,
// empty, not an array, holding something other than a finite number (base64 strings
// included), or of another length. Never throws but std::bad_alloc; `body` may be any JSON.
std::optional<std::vector<std::vector<float>>> read_embeddings_reply(const nlohmann::json& body,
                                                                     std::size_t n,
                                                                     std::size_t dim,
                                                                     std::string& why);

}  // namespace weakdistill
