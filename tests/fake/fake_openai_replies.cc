// The replies to requests that pass the server's checks: a chat completion (its choices from
// the responder or the default content, with usage counted in code points) and embeddings
// (deterministic unit vectors of each input text).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fake/fake_openai_internal.h"

namespace weakdistill::testing {
namespace {

using nlohmann::json;

// A bound that keeps a misbehaving client from making the fake allocate without limit (as
// those on headers and bodies in fake_openai_http.cc do).
constexpr int kMaxChoices = 128;

uint64_t fnv1a64(std::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Counts lead bytes, which is the code-point count for valid UTF-8 and a stable,
// harmless number for anything else.
std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string hex16(uint64_t value) {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(value));
  return buffer;
}

// The text that message contents contribute to prompt_tokens: plain strings, and the
// "text" of content parts.
std::size_t content_code_points(const json& content) {
  if (content.is_string()) return code_points(content.get_ref<const std::string&>());
  std::size_t total = 0;
  if (content.is_array()) {
    for (const json& part : content) {
      if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        total += code_points(part["text"].get_ref<const std::string&>());
      }
    }
  }
  return total;
}

std::string default_content(const json& request, int choice_index) {
  const json& seed = request.contains("seed") ? request["seed"] : json();
  return "reply model=" + request["model"].get<std::string>() +
         " seed=" + (seed.is_null() ? std::string("none") : seed.dump()) +
         " choice=" + std::to_string(choice_index) +
         " digest=" + hex16(fnv1a64(request["messages"].dump()));
}

std::vector<float> embedding_of(std::string_view text, int dim) {
  uint64_t state = fnv1a64(text);
  std::vector<double> values(static_cast<std::size_t>(dim));
  double norm2 = 0;
  for (double& value : values) {
    value = 2.0 * static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53 - 1.0;
    norm2 += value * value;
  }
  std::vector<float> out(values.size());
  const double norm = std::sqrt(norm2);
  for (std::size_t i = 0; i < values.size(); ++i) {
    out[i] = norm > 0 ? static_cast<float>(values[i] / norm) : (i == 0 ? 1.0f : 0.0f);
  }
  return out;
}

}  // namespace

HttpResponse FakeOpenAIServer::Impl::chat_reply(const json& request, bool finish_length) {
  auto invalid = [](const std::string& message) {
    return error_response(400, message, "invalid_request_error", nullptr);
  };
  if (!request.is_object()) return invalid("The request body must be a JSON object.");
  if (!request.contains("model") || !request["model"].is_string()) {
    return invalid("you must provide a model parameter");
  }
  if (!request.contains("messages") || !request["messages"].is_array() ||
      request["messages"].empty()) {
    return invalid("'messages' must be a non-empty array.");
  }
  int n = 1;
  if (request.contains("n") && !request["n"].is_null()) {
    if (!request["n"].is_number_integer() || request["n"].get<int64_t>() < 1 ||
        request["n"].get<int64_t>() > kMaxChoices) {
      return invalid("'n' must be an integer from 1 to " + std::to_string(kMaxChoices) + ".");
    }
    n = request["n"].get<int>();
  }
  if (request.contains("seed") && !request["seed"].is_null() &&
      !request["seed"].is_number_integer()) {
    return invalid("'seed' must be an integer.");
  }
  std::size_t prompt_tokens = 0;
  for (const json& message : request["messages"]) {
    if (!message.is_object()) return invalid("Each message must be an object.");
    if (message.contains("content")) prompt_tokens += content_code_points(message["content"]);
  }
  static const json kNoFormat;
  const json& format = request.contains("response_format") ? request["response_format"] : kNoFormat;
  if (auto problem = check_response_format(format, options)) {
    count(problem->bad_schema ? &Counters::bad_schema : &Counters::unsupported_format);
    return error_response(400, problem->message, "invalid_request_error", nullptr,
                          "response_format");
  }
  // What enforce_schema holds the content to: the schema, or (json_object without one) any
  // JSON object.
  const json* schema = request_schema(request);
  const bool wants_json =
      schema != nullptr || (format.is_object() && format["type"] == "json_object");

  ChoiceResponder responder_copy;
  uint64_t completion_id;
  {
    std::lock_guard lock(mu);
    responder_copy = responder;
    completion_id = next_completion_id++;
  }
  json choices = json::array();
  std::size_t completion_tokens = 0;
  for (int i = 0; i < n; ++i) {
    ChatChoice choice;
    if (responder_copy) {
      // A throwing responder is a test's way of asking for a server error.
      try {
        choice = responder_copy(request, i);
      } catch (const std::exception& error) {
        return error_response(500, std::string("responder failed: ") + error.what(), "server_error",
                              "server_error");
      }
    } else {
      choice.content = default_content(request, i);
    }
    const std::string finish_reason = finish_length                  ? "length"
                                      : choice.finish_reason.empty() ? "stop"
                                                                     : choice.finish_reason;
    if (options.enforce_schema && wants_json && finish_reason != "length") {
      if (auto problem = content_problem(choice.content, schema)) {
        count(&Counters::schema_mismatches);
        return error_response(
            500,
            "enforce_schema: choice " + std::to_string(i) +
                " does not fit the request's response_format (the scripted reply and the "
                "client's schema disagree): " +
                *problem,
            "server_error", "schema_mismatch");
      }
    }
    completion_tokens += code_points(choice.content) + code_points(choice.reasoning);
    json message = {{"role", "assistant"}, {"content", std::move(choice.content)}};
    if (!choice.reasoning.empty()) message[options.reasoning_field] = std::move(choice.reasoning);
    choices.push_back({{"index", i},
                       {"message", std::move(message)},
                       {"logprobs", nullptr},
                       {"finish_reason", finish_reason}});
  }
  const json reply = {{"id", "chatcmpl-" + std::to_string(completion_id)},
                      {"object", "chat.completion"},
                      {"created", static_cast<int64_t>(std::time(nullptr))},
                      {"model", request["model"]},
                      {"choices", std::move(choices)},
                      {"usage",
                       {{"prompt_tokens", prompt_tokens},
                        {"completion_tokens", completion_tokens},
                        {"total_tokens", prompt_tokens + completion_tokens}}}};
  return {200, reply.dump(), {}};
}

HttpResponse FakeOpenAIServer::Impl::embeddings_reply(const json& request) {
  auto invalid = [](const std::string& message) {
    return error_response(400, message, "invalid_request_error", nullptr);
  };
  if (!request.is_object()) return invalid("The request body must be a JSON object.");
  if (!request.contains("model") || !request["model"].is_string()) {
    return invalid("you must provide a model parameter");
  }
  std::vector<std::string> inputs;
  const json& input = request.contains("input") ? request["input"] : json();
  if (input.is_string()) {
    inputs.push_back(input.get<std::string>());
  } else if (input.is_array() && !input.empty() &&
             std::all_of(input.begin(), input.end(), [](const json& x) { return x.is_string(); })) {
    for (const json& text : input) inputs.push_back(text.get<std::string>());
  } else {
    return invalid("'input' must be a string or a non-empty array of strings.");
  }

  json data = json::array();
  std::size_t tokens = 0;
  // Reversed on purpose: the API does not promise order, so clients must sort by index.
  for (std::size_t i = inputs.size(); i-- > 0;) {
    tokens += code_points(inputs[i]);
    data.push_back({{"object", "embedding"},
                    {"index", i},
                    {"embedding", embedding_of(inputs[i], options.embedding_dim)}});
  }
  const json reply = {{"object", "list"},
                      {"data", std::move(data)},
                      {"model", request["model"]},
                      {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
  return {200, reply.dump(), {}};
}

}  // namespace weakdistill::testing
