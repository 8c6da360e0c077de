// samples_responder: chat replies made of a task's samples, shaped by the request's schema.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fake/fake_openai_internal.h"

namespace weakdistill::testing {
namespace {

using nlohmann::json;

constexpr int kMaxSamplesPerReply = 10000;

// "推理过程" repeated to `chars` code points: reasoning of a known length that reads like it.
std::string reasoning_filler(int chars) {
  static const std::array<std::string_view, 4> kPieces = {"推", "理", "过", "程"};
  std::string out;
  for (int i = 0; i < chars; ++i) out += kPieces[static_cast<std::size_t>(i) % kPieces.size()];
  return out;
}

// `sample` without the keys that `schema` (when it closes its objects) does not name, at any
// depth, so that a strict schema's additionalProperties: false holds.
nlohmann::ordered_json fit_to_schema(const nlohmann::ordered_json& sample, const json* schema) {
  if (schema == nullptr || !schema->is_object()) return sample;
  if (sample.is_object()) {
    const json* properties = schema->contains("properties") && (*schema)["properties"].is_object()
                                 ? &(*schema)["properties"]
                                 : nullptr;
    const bool closed =
        schema->contains("additionalProperties") && (*schema)["additionalProperties"] == false;
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& [key, value] : sample.items()) {
      const bool named = properties != nullptr && properties->contains(key);
      if (closed && !named) continue;
      out[key] = fit_to_schema(value, named ? &(*properties)[key] : nullptr);
    }
    return out;
  }
  if (sample.is_array() && schema->contains("items")) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& item : sample) out.push_back(fit_to_schema(item, &(*schema)["items"]));
    return out;
  }
  return sample;
}

// The root property `name` of `schema`, or nullptr.
const json* root_property(const json* schema, const char* name) {
  if (schema == nullptr || !schema->contains("properties")) return nullptr;
  const json& properties = (*schema)["properties"];
  if (!properties.is_object() || !properties.contains(name)) return nullptr;
  return &properties[name];
}

uint64_t count_or(const json& schema, const char* key, uint64_t fallback) {
  if (!schema.is_object() || !schema.contains(key)) return fallback;
  const json& value = schema[key];
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return value.get<uint64_t>();
  return fallback;
}

}  // namespace

ChoiceResponder samples_responder(std::vector<nlohmann::ordered_json> samples,
                                  SamplesReplyOptions options) {
  if (samples.empty()) throw std::invalid_argument("samples_responder: no samples");
  for (nlohmann::ordered_json& sample : samples) {
    if (!sample.is_object()) {
      throw std::invalid_argument("samples_responder: a sample is not a JSON object: " +
                                  sample.dump());
    }
    sample.erase("id");
  }
  // Shared so that copies of the responder (std::function copies it) hand out one sequence.
  auto shared = std::make_shared<const std::vector<nlohmann::ordered_json>>(std::move(samples));
  auto next = std::make_shared<std::atomic<uint64_t>>(0);
  return [shared, next, options](const json& request, int) {
    const json* schema = request_schema(request);
    const json* samples_schema = root_property(schema, "samples");
    const bool wants_reasoning = root_property(schema, "reasoning") != nullptr;
    uint64_t k = static_cast<uint64_t>(std::max(options.samples_per_reply, 1));
    if (samples_schema != nullptr) {
      k = count_or(*samples_schema, "maxItems",
                   std::max(k, count_or(*samples_schema, "minItems", 0)));
    }
    k = std::min<uint64_t>(k, kMaxSamplesPerReply);
    const json* item_schema = samples_schema == nullptr           ? schema
                              : samples_schema->contains("items") ? &(*samples_schema)["items"]
                                                                  : nullptr;
    const uint64_t first = next->fetch_add(k);
    std::vector<nlohmann::ordered_json> picked;
    for (uint64_t j = 0; j < k; ++j) {
      picked.push_back(fit_to_schema((*shared)[(first + j) % shared->size()], item_schema));
    }

    const std::string filler = reasoning_filler(options.reasoning_chars);
    nlohmann::ordered_json content = nlohmann::ordered_json::object();
    // Inserted first: a model that reasons before it answers writes this key first.
    if (wants_reasoning) content["reasoning"] = filler;
    if (k == 1 && samples_schema == nullptr) {
      for (const auto& [key, value] : picked[0].items()) {
        if (key != "reasoning" || !wants_reasoning) content[key] = value;
      }
    } else {
      content["samples"] = std::move(picked);
    }
    ChatChoice choice;
    choice.content = content.dump();
    if (!wants_reasoning && !filler.empty()) {
      if (options.think) {
        choice.content = "<think>\n" + filler + "\n</think>\n\n" + choice.content;
      } else {
        choice.reasoning = filler;
      }
    }
    return choice;
  };
}

}  // namespace weakdistill::testing
