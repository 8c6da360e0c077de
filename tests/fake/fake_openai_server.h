// A fake OpenAI-compatible server for tests and benches: it listens on
// 127.0.0.1 (a free port), answers POST /v1/chat/completions and
// POST /v1/embeddings like the real API, runs the Files and Batch APIs for chat
// completions (see "Files and batches" below), and injects faults on request.
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

// ---------------------------------------------------------------------------------------------
// Files and batches
//
// The server keeps uploaded files and batches in memory and answers, as OpenAI documents them:
//   POST   /v1/files                 multipart/form-data, fields "purpose" ("batch", the only
//                                    one taken) and "file" (JSONL, one request a line:
//                                    {"custom_id": unique string, "method": "POST",
//                                    "url": "/v1/chat/completions", "body": object}); a File
//                                    object, or 400 whose message names the first bad line
//                                    ("line 3: ...") or the limit passed
//   GET    /v1/files/{id}            the File object
//   GET    /v1/files/{id}/content    the file's bytes (input files, and batch output and error
//                                    files), Content-Type application/octet-stream
//   DELETE /v1/files/{id}            {"id", "object": "file", "deleted": true}
//   POST   /v1/batches               {"input_file_id", "endpoint": "/v1/chat/completions",
//                                    "completion_window": "24h", "metadata"?}: a Batch object,
//                                    status "validating"
//   GET    /v1/batches/{id}          a poll: the Batch object, after the step it may make
//   POST   /v1/batches/{id}/cancel   the Batch object, status "cancelling"
// An unknown file or batch id gets 404 ("No such File object: <id>", "No such Batch object:
// <id>"); another method on these paths 405. Cancelling a batch that has ended gets 400.
// Latency, the API key, go_down() and push_batch_fault's faults apply to these paths as to
// chat requests; requests() and bodies() leave them out.
//
// No clock: a batch advances only when polled. Every BatchScript::polls_per_step GETs of it
// move it one step along validating -> in_progress -> ... -> finalizing -> completed; the
// GET answers with the state after the step. in_progress answers lines_per_step lines a step
// (all of them by default), so by default the 1st GET says in_progress, the 2nd finalizing
// and the 3rd completed. A line is answered by the same code as POST /v1/chat/completions
// (the responder, response_format checks, enforce_schema), without faults or latency.
//
// Once the batch ends (completed, expired, cancelled) its files exist:
//   output file lines  {"id": "batch_req_...", "custom_id", "response": {"status_code": 200,
//                      "request_id": "req_...", "body": <the chat completion>}, "error": null}
//   error file lines   a line the chat endpoint refused (4xx/5xx): {"id", "custom_id",
//                      "response": {"status_code", "request_id", "body": {"error": {...}}},
//                      "error": null}; a line failed by the script: the same with
//                      fail_status, or, when fail_status is 0, "response": null and
//                      "error": {"code": fail_code, "message"}; a line the batch never reached:
//                      "response": null, "error": {"code": "batch_expired" or
//                      "batch_cancelled", "message"}
// output_file_id / error_file_id stay null while the batch runs, and when their file would be
// empty (as OpenAI's do). request_counts: total = the input lines; completed = lines answered
// 200 (dropped lines included: the server believes it sent them); failed = error file lines.

// How the server runs one batch; fixed when the batch is created (see
// FakeOpenAIServer::set_batch_script and push_batch_script). Lines are numbered from 1 in
// input-file order.
struct BatchScript {
  // GETs of the batch that make one step (values below 1 count as 1).
  int polls_per_step = 1;
  // Lines answered by each in_progress step; 0: all that remain.
  std::size_t lines_per_step = 0;
  // Expire once this many lines have been processed (answered, failed or dropped) and some
  // remain: status "expired" straight from in_progress (expired_at set), the processed lines
  // in the output and error files, the others in the error file as "batch_expired".
  // 0 expires at the first in_progress step with nothing done; nullopt never expires.
  std::optional<std::size_t> expire_after_lines;
  // Lines that fail: those whose custom_id is listed, and every fail_every-th line (0: none).
  std::vector<std::string> fail_custom_ids;
  std::size_t fail_every = 0;
  // A failed line's error file record: "response" with this status_code and an
  // {"error": {...}} body (the responder is not called); 0: "response": null and
  // "error": {"code": fail_code, "message"}.
  int fail_status = 500;
  std::string fail_code = "request_timeout";
  // Lines left out of both files (a server that loses results): those whose custom_id is
  // listed, and every drop_every-th line (0: none). Dropping wins over failing.
  std::vector<std::string> drop_custom_ids;
  std::size_t drop_every = 0;
  // The order of the lines in the output and error files: input order, reversed, or a fixed
  // pseudo-random permutation (the same for files of the same number of lines).
  enum class Order { kInput, kReversed, kShuffled };
  Order order = Order::kInput;
};

// A batch as the server recorded it, for tests to assert what a client submitted.
struct BatchRecord {
  std::string id;             // "batch_..."
  std::string input_file_id;  // "file-..."
  std::size_t input_lines = 0;
  std::vector<std::string> custom_ids;  // in input-file order
  std::string status;                   // its status now
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
  // POST /v1/files: the most lines and bytes a batch input file may hold (OpenAI's limits:
  // 50,000 requests, 200 MB); a larger file gets 400.
  std::size_t batch_file_max_lines = 50000;
  std::size_t batch_file_max_bytes = 200 * 1024 * 1024;
  // How batches run unless set_batch_script or push_batch_script says otherwise.
  BatchScript batch_script;
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
  // Queues faults for the Files and Batch endpoints (/v1/files..., /v1/batches...), apart
  // from push_fault's queue: each is used by one such request, in arrival order, before the
  // API-key check (kFinishLength has nothing to act on there and gives a normal answer).
  void push_batch_fault(Fault fault);
  // The script for batches created from now on (in place of options.batch_script).
  void set_batch_script(BatchScript script);
  // Queues a script for one batch: the next batch created uses it, ahead of the one above.
  void push_batch_script(BatchScript script);
  // Every batch created (POST /v1/batches answered 200), in creation order.
  std::vector<BatchRecord> batches() const;
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
  // "connections" (accepted), and for the Files and Batch endpoints: "batch_api_requests"
  // (every request to them; not in "requests"), "files_uploaded", "files_downloaded"
  // (GETs of a file's content), "files_deleted", "batches_created", "batch_polls" (GETs of a known batch),
  // "batches_cancelled" (cancel requests that moved a batch to cancelling)}. Their 400s count
  // in "bad_requests", unknown ids and URLs under them in "not_found".
  nlohmann::json summary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace weakdistill::testing
