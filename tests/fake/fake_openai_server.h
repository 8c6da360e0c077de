// A fake OpenAI-compatible server for tests and benches: it listens on
// 127.0.0.1 (a free port), answers POST /v1/chat/completions and
// POST /v1/embeddings like the real API, and injects faults on request.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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
};

// The content of a chat reply: by default a deterministic text that names the
// model, the request's seed and a digest of its messages, so that tests can tell
// replies apart; tests replace it with set_responder.
using Responder = std::function<std::string(const nlohmann::json& request, int choice_index)>;

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
  // (400 from validation), "not_found", "method_not_allowed", "connections" (accepted)}.
  nlohmann::json summary() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace weakdistill::testing
