#include "weakdistill/embed/embeddings_reply.h"

#include <cmath>
#include <limits>

#include "weakdistill/core/json_excerpt.h"

namespace weakdistill {
namespace {

using nlohmann::json;

std::string item_field(std::size_t k, const char* field) {
  return "data[" + std::to_string(k) + "]." + field;
}

// The item's vector, unit length; nullopt with `why` set.
std::optional<std::vector<float>> read_vector(const json& item, std::size_t k, std::string& why) {
  const auto embedding = item.find("embedding");
  const std::string field = item_field(k, "embedding");
  if (embedding == item.end()) {
    why = field + " is missing";
    return std::nullopt;
  }
  if (embedding->is_string()) {
    why = field + " is a string (base64?); the embedder asks for float arrays";
    return std::nullopt;
  }
  if (!embedding->is_array() || embedding->empty()) {
    why = field + " is " + (embedding->is_array() ? "empty" : json_kind(*embedding)) +
          ", not an array of numbers";
    return std::nullopt;
  }
  std::vector<float> v;
  v.reserve(embedding->size());
  double norm2 = 0;
  for (std::size_t i = 0; i < embedding->size(); ++i) {
    const json& x = (*embedding)[i];
    const double d = x.is_number() ? x.get<double>() : std::nan("");
    if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max()) {
      why = field + "[" + std::to_string(i) + "] is " +
            (x.is_number() ? "out of a float's range" : json_kind(x)) + ", not a number";
      return std::nullopt;
    }
    v.push_back(static_cast<float>(d));
    norm2 += d * d;
  }
  // Float magnitudes squared stay far inside a double's range: the sum cannot overflow.
  if (norm2 > 0) {
    const double inv = 1.0 / std::sqrt(norm2);
    for (float& x : v) x = static_cast<float>(x * inv);
  }
  return v;
}

}  // namespace

std::optional<std::vector<std::vector<float>>> read_embeddings_reply(const json& body,
                                                                     std::size_t n,
                                                                     std::size_t dim,
                                                                     std::string& why) {
  const auto data = body.is_object() ? body.find("data") : json::const_iterator{};
  if (!body.is_object() || data == body.end()) {
    if (body.is_object()) {
      if (const auto error = body.find("error"); error != body.end() && !error->is_null()) {
        why = "the reply is an error: " + error_message(*error, 80);
        return std::nullopt;
      }
    }
    why = body.is_object() ? "the reply has no \"data\""
                           : std::string("the reply is ") + json_kind(body) + ", not an object";
    return std::nullopt;
  }
  if (!data->is_array() || data->size() != n) {
    why = data->is_array() ? "\"data\" holds " + std::to_string(data->size()) + " items for " +
                                 std::to_string(n) + " inputs"
                           : std::string("\"data\" is ") + json_kind(*data) + ", not an array";
    return std::nullopt;
  }
  std::size_t with_index = 0;
  for (const json& item : *data) with_index += item.is_object() && item.contains("index");
  std::vector<std::vector<float>> out(n);
  std::vector<bool> seen(n, false);
  for (std::size_t k = 0; k < n; ++k) {
    const json& item = (*data)[k];
    if (!item.is_object()) {
      why = "data[" + std::to_string(k) + "] is " + json_kind(item) + ", not an object";
      return std::nullopt;
    }
    std::size_t slot = k;
    if (with_index > 0) {
      const auto index = item.find("index");
      if (index == item.end() || !index->is_number_integer() || index->get<std::int64_t>() < 0 ||
          index->get<std::uint64_t>() >= n) {
        why = item_field(k, "index") + " is " +
              (index == item.end() ? std::string("missing (other items have one)")
               : index->is_number_integer()
                   ? json_excerpt(*index) + ", outside 0.." + std::to_string(n - 1)
                   : std::string(json_kind(*index)) + ", not an integer");
        return std::nullopt;
      }
      slot = index->get<std::size_t>();
      if (seen[slot]) {
        why = item_field(k, "index") + " repeats " + std::to_string(slot);
        return std::nullopt;
      }
    }
    seen[slot] = true;
    auto v = read_vector(item, k, why);
    if (!v) return std::nullopt;
    out[slot] = std::move(*v);
  }
  if (n == 0) return out;
  // One length for all, and `dim` when given.
  const std::size_t expected = dim != 0 ? dim : out[0].size();
  for (std::size_t k = 0; k < n; ++k) {
    if (out[k].size() != expected) {
      why = "the vector of input " + std::to_string(k) + " has " + std::to_string(out[k].size()) +
            " numbers where " + std::to_string(expected) + " were expected" +
            (dim != 0 ? " (embedder.dim)" : "");
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace weakdistill
