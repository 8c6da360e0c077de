// A fake OpenAI-compatible server for tests and benches: it listens on
// 127.0.0.1 (a free port), answers POST /v1/chat/completions and
// POST /v1/embeddings like the real API, and injects faults on request.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fake/json_schema_check.h"

namespace weakdistill::testing {

// One injected fault, consumed by the next chat or embeddings request that arrives
// (faults win over the API-key check and over request validation, as an overloaded or
// broken server answers before looking at the request). On embeddings requests
// kFinishLength has nothing to act on and gives a normal reply.
struct Fault {
  enum class Kind {
    kStatus,         // reply with `status` and an OpenAI-style {"error": {...}} body
    kHang,           // accept the request, then sleep `hang_ms` before answering normally
    kReset,          // drop the connection with a TCP RST (ECONNRESET), without any response
    kMalformedJson,  // 200 with a body that is not JSON
    kTruncatedBody,  // 200 whose body is cut in half (Content-Length of the full body)
    kFinishLength,   // a normal reply whose choices have finish_reason "length"
    kBody,           // 200 with `body` as it is: a reply of an unexpected shape
  };
  Kind kind = Kind::kStatus;
  int status = 500;
  double retry_after_s = -1;  // kStatus: send a Retry-After header (seconds) when >= 0
  int hang_ms = 0;
  std::string body;  // kBody
  static Fault status_code(int code, double retry_after_s = -1);
  static Fault hang(int ms);
  static Fault reset();
  static Fault malformed_json();
  static Fault truncated_body();
  static Fault finish_length();
  static Fault reply_body(std::string body);
};

struct FakeServerOptions {
  int port = 0;           // 0: a free port chosen by the OS
  int latency_ms = 0;     // added before every answer (not before go_down() resets)
  std::string api_key;    // when non-empty, requests without "Authorization: Bearer <key>" get 401
  int threads = 128;      // connections served at once (one thread each; an idle
                          // keep-alive connection holds its thread until closed)
  int embedding_dim = 8;  // /v1/embeddings vector length
  // The message field that carries a choice's reasoning: "reasoning_content" (vLLM's
  // older name, llama-server, DeepSeek) or "reasoning" (newer vLLM, Ollama, OpenRouter).
  std::string reasoning_field = "reasoning_content";
  // response_format types this server accepts; a request with another type gets 400
  // {"error": {"message": "...", "type": "invalid_request_error", "param": "response_format",
  // "code": null}}. An absent or null response_format is always accepted.
  std::vector<std::string> response_formats = {"text", "json_object", "json_schema"};
  // Check json_schema requests (and json_object ones that carry a "schema", as llama-server
  // takes them) like a grammar engine does: 400 on a schema outside json_schema_check.h's
  // subset, or one that breaks OpenAI's strict rules under "strict": true. The shape of the
  // response_format itself (json_schema object, name, schema object) is checked either way.
  bool check_schema = true;
  // The reply's content (after dropping a leading <think>...</think> block and surrounding
  // whitespace) must be JSON valid under the request's schema (a JSON object for json_object
  // without one); when the scripted content is not, the request gets a 500 whose message says
  // why, so a test fails loudly when the client's schema and the scripted reply disagree.
  // Choices that finish with "length" are exempt: a cut reply is not expected to parse.
  bool enforce_schema = false;
};

// Why a server with `options` would refuse this response_format value (the 400's message),
// or nullopt when it is accepted (null, i.e. no response_format, always is).
std::optional<std::string> response_format_problem(const nlohmann::json& response_format,
                                                   const FakeServerOptions& options);
// schema_violation(schema, value), the first place `value` breaks `schema`, comes from
// json_schema_check.h, included above.

// The content of a chat reply: by default a deterministic text that names the
// model, the request's seed and a digest of its messages, so that tests can tell
// replies apart; tests replace it with set_responder.
using Responder = std::function<std::string(const nlohmann::json& request, int choice_index)>;

// One choice of a chat reply as a test scripts it.
struct ChatChoice {
  std::string content;
  std::string reasoning;      // non-empty: sent in the message's options.reasoning_field
  std::string finish_reason;  // "" = "stop" (a kFinishLength fault still overrides it)
};
using ChoiceResponder = std::function<ChatChoice(const nlohmann::json& request, int choice_index)>;

// How samples_responder shapes a reply (the fake_openai flags of the same names).
struct SamplesReplyOptions {
  // Samples a reply carries when the request's schema does not say (see samples_responder);
  // 0 means 1.
  int samples_per_reply = 0;
  // Length, in code points, of the reasoning filler ("推理过程" repeated); 0: none, except
  // an empty "reasoning" key when the schema asks for one.
  int reasoning_chars = 0;
  // Put the filler in content as a leading "<think>...</think>" block, as a reasoning model
  // served without a reasoning parser does, instead of the reasoning field.
  bool think = false;
};

// A responder that answers with `samples` (objects in a task's shape, e.g. {"text", "label"}),
// the next k of them for each choice, in turn, cycling (thread-safe). The request's schema
// (response_format json_schema's "schema", or json_object's "schema") decides the reply:
// - k is its "samples" array property's maxItems; without one, samples_per_reply (raised to
//   the property's minItems), at most 10000.
// - content is the bare sample object when k == 1 and the schema has no "samples" property,
//   else {"samples": [k samples]}; either way with a "reasoning" key first when the schema
//   has a "reasoning" property at the root.
// - each sample keeps its key order, loses "id", and loses any key that a schema with
//   "additionalProperties": false does not name (at any depth).
// - the reasoning filler goes to exactly one place: the "reasoning" key when the schema has
//   one; else, with think, a "<think>\n...\n</think>\n\n" prefix of content; else the
//   choice's reasoning (the server's reasoning field).
// Throws std::invalid_argument when `samples` is empty or holds a non-object.
ChoiceResponder samples_responder(std::vector<nlohmann::ordered_json> samples,
                                  SamplesReplyOptions options = {});

class FakeOpenAIServer {
 public:
  // Binds and listens before returning, so base_url() accepts connections at once.
  // Throws std::system_error when the socket cannot be set up (e.g. port in use).
  explicit FakeOpenAIServer(FakeServerOptions options = {});
  // Stops accepting, shuts down open connections (interrupting latency and hang sleeps,
  // so in-flight requests get a connection error) and joins every thread.
  ~FakeOpenAIServer();
  FakeOpenAIServer(const FakeOpenAIServer&) = delete;
  FakeOpenAIServer& operator=(const FakeOpenAIServer&) = delete;

  // The port bound: the OS's choice when options.port is 0.
  int port() const;
  // "http://127.0.0.1:<port>/v1"
  std::string base_url() const;

  // Queues faults; each is used by one request, in arrival order.
  void push_fault(Fault fault);
  void push_faults(std::size_t n, Fault fault);
  // Replaces the default content; called once per choice, on the connection's thread
  // (so it must be thread-safe). If it throws, the request gets a 500 error.
  void set_responder(Responder responder);
  // Like set_responder, with reasoning and a finish_reason per choice; the two replace each
  // other (the last one set answers). An empty function restores the default content.
  void set_choice_responder(ChoiceResponder responder);
  // Stops answering: every request from now on is reset (a replica that is down),
  // without latency and without consuming queued faults, until resume().
  void go_down();
  void resume();

  // Chat and embeddings requests received (faulted ones included), and their
  // bodies and Authorization headers in arrival order. A body that is not JSON is
  // recorded as a JSON string holding its raw text; a missing header as "".
  std::size_t requests() const;
  std::vector<nlohmann::json> bodies() const;
  std::vector<std::string> authorization_headers() const;

  // Counters for reports: {"requests", "chat_completions", "embeddings", "faults"
  // (injected ones), "resets" (faults and go_down), "unauthorized", "bad_requests"
  // (400 from validation, the two below included), "unsupported_format" (400: a
  // response_format type this server does not accept, or not an object with a string type),
  // "bad_schema" (400: a malformed json_schema, or a schema check_schema refuses),
  // "schema_mismatches" (500 from enforce_schema), "not_found", "method_not_allowed",
  // "connections" (accepted)}.
  nlohmann::json summary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace weakdistill::testing
