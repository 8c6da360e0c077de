// Fuzz target: the readers of what an OpenAI-compatible server answers, chat completions
// (teacher/chat_reply.h) and embeddings (embed/embeddings_reply.h).
//
// Input: one mode byte, then the reply's body. The body is parsed as the HTTP client parses a
// 200 reply (nlohmann, no exceptions); a body that is not JSON, or nests deeper than
// kMaxJsonNesting, is refused by the client and skipped here. mode % 2 == 0 reads a chat reply; mode % 2 == 1 an embeddings reply to
// n = (mode / 2) % 5 inputs, with the expected length dim = (mode / 10) % 3 * 4 (0: any).
//
// Neither reader documents an exception: any is a bug. So is a result that breaks its
// contract: a failure without a reason, or one that is not valid UTF-8; token counts below
// zero; n vectors of other lengths than one another (or than dim), not of unit length (or
// zero). And two metamorphic checks: a chat reply whose content is sent again as an array of
// two text parts reads the same; an embeddings reply whose items carry an index reads the
// same with its items in reverse order.
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz/target_support.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/embed/embeddings_reply.h"
#include "weakdistill/teacher/chat_reply.h"

namespace weakdistill::fuzz {

inline void expect_reason(const std::string& why) {
  expect(!why.empty(), "a rejected reply has a reason");
  expect(!utf8::find_invalid(why), "the reason is valid UTF-8");
}

inline void check_chat(const nlohmann::json& body) {
  std::string why;
  const auto reply = read_chat_reply(body, why);
  if (!reply) {
    expect_reason(why);
    return;
  }
  expect(reply->prompt_tokens >= 0 && reply->completion_tokens >= 0, "token counts >= 0");
  expect(!utf8::find_invalid(reply->content), "content is valid UTF-8");
  expect(!utf8::find_invalid(reply->usage_note), "the usage note is valid UTF-8");
  // The same content as two text parts, cut at a character boundary.
  const std::string& c = reply->content;
  std::size_t cut = c.size() / 2;
  while (cut > 0 && (static_cast<unsigned char>(c[cut]) & 0xC0) == 0x80) --cut;
  nlohmann::json parts = body;
  parts["choices"][0]["message"]["content"] =
      nlohmann::json::array({{{"type", "text"}, {"text", c.substr(0, cut)}},
                             {{"type", "text"}, {"text", c.substr(cut)}}});
  std::string why_parts;
  const auto again = read_chat_reply(parts, why_parts);
  expect(again && again->content == c, "content sent as parts reads the same");
  expect(again->finish_reason == reply->finish_reason, "parts keep the finish reason");
}

inline void check_embeddings(const nlohmann::json& body, std::size_t n, std::size_t dim) {
  std::string why;
  const auto vectors = read_embeddings_reply(body, n, dim, why);
  if (!vectors) {
    expect_reason(why);
    return;
  }
  expect(vectors->size() == n, "n vectors");
  for (const auto& v : *vectors) {
    expect(v.size() == (*vectors)[0].size(), "one length for all vectors");
    expect(dim == 0 || v.size() == dim, "the expected length");
    double s = 0;
    for (float x : v) s += static_cast<double>(x) * x;
    expect(s == 0 || std::fabs(s - 1) < 1e-3, "unit length, or zero");
  }
  // Placed by index, the items' order does not matter.
  const auto& data = body["data"];
  bool indexed = !data.empty();
  for (const auto& item : data) indexed = indexed && item.contains("index");
  if (!indexed) return;
  nlohmann::json reversed = body;
  reversed["data"] = nlohmann::json::array();
  for (auto it = data.rbegin(); it != data.rend(); ++it) reversed["data"].push_back(*it);
  std::string why_reversed;
  const auto again = read_embeddings_reply(reversed, n, dim, why_reversed);
  expect(again && *again == *vectors, "reordered items read the same");
}

inline void openai_reply_target(std::string_view input) {
  const Split in = split_mode(input);
  // The HTTP client refuses deeper bodies before parsing them (net/http_client.cc).
  if (json_nesting(in.data) > kMaxJsonNesting) return;
  const nlohmann::json body = nlohmann::json::parse(in.data, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return;
  try {
    if (in.mode % 2 == 0) {
      check_chat(body);
    } else {
      check_embeddings(body, (in.mode / 2) % 5, (in.mode / 10) % 3 * 4);
    }
  } catch (const Bug&) {
    throw;
  } catch (const std::exception& e) {
    throw undocumented(e);
  }
}

}  // namespace weakdistill::fuzz
