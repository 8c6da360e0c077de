// A JSON-over-HTTP client for OpenAI-compatible endpoints (chat completions,
// embeddings), shared by the teacher and the `openai` embedder: many requests
// in flight, connection reuse, replicas, timeouts, retries with exponential
// backoff and jitter honouring Retry-After, and an API key that never leaves
// the Authorization header.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace weakdistill {

struct HttpOptions {
  // Endpoint(s), e.g. "http://127.0.0.1:8000/v1"; several replicas share the load
  // (round-robin; a replica that fails is skipped for a while).
  std::vector<std::string> base_urls;
  // Environment variable holding the API key; empty = send no key.
  std::string api_key_env;
  // Requests in flight at once (post_many).
  int concurrency = 16;
  // Seconds to wait for a connection.
  double connect_timeout_s = 10;
  // Seconds to wait for the whole reply once connected (read and write timeout).
  double timeout_s = 120;
  // Retries after the first attempt, on 408, 409, 429, 5xx, timeouts, dropped
  // connections and unreadable 200 bodies. 400/401/403/404 and other 4xx are never retried.
  int max_retries = 6;
  // Backoff before retry k (k = 1, 2, ...): uniform in [0, min(max, initial * 2^(k-1))]
  // ("full jitter"); a Retry-After header, when longer, is waited instead (capped at
  // backoff_max_s).
  double backoff_initial_s = 1;
  double backoff_max_s = 60;
  // HTTPS: a PEM file of trusted CAs (empty = the system's); verify the server's certificate.
  std::string ca_file;
  bool verify_tls = true;
  // What the endpoint is, for messages ("teacher", "embedder").
  std::string context = "teacher";
};

// A request the server refused in a way no retry can fix (400, 401, 403, 404,
// other 4xx): the run must stop. The message says what to fix.
class HttpFatalError : public std::runtime_error {
 public:
  HttpFatalError(const std::string& message, int status)
      : std::runtime_error(message), status_(status) {}
  ~HttpFatalError() override;
  int status() const { return status_; }

 private:
  int status_;
};

// The outcome of one request after its retries.
struct HttpOutcome {
  bool ok = false;
  int status = 0;       // last HTTP status (0: no response)
  nlohmann::json body;  // the parsed JSON body when ok
  std::string text;     // the body as sent, when ok and asked for as text (get_text)
  int attempts = 0;     // 1 + retries made
  std::string error;    // why it failed, when !ok (key-free)
  std::string replica;  // base URL that answered (or was tried last)
};

class OptionReader;

// Sleeps `seconds`, waking early (and returning false) when `cancel` becomes true; checks it
// every 20 ms. For retry backoffs and polls.
bool sleep_unless_cancelled(double seconds, const std::atomic<bool>* cancel);

// Reads the transport keys shared by every endpoint section (base_url as a
// string or list, api_key_env, concurrency, timeout_s, connect_timeout_s,
// max_retries, backoff_initial_s, backoff_max_s, ca_file, verify_tls) into `o`;
// values absent from the section keep o's defaults. Throws InputError naming
// "<context>.ca_file" when that file does not exist.
void read_http_options(OptionReader& r, HttpOptions& o);

class HttpClient {
 public:
  // Validates the URLs (scheme http or https, a host, a port in range) and reads the
  // key from the environment. Throws InputError naming "<context>.base_url" or
  // "<context>.api_key_env" (an unset variable) otherwise.
  explicit HttpClient(HttpOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs `body` to `<base_url><path>` (path like "/chat/completions") with retries.
  // Thread-safe. Throws HttpFatalError on a non-retryable refusal.
  HttpOutcome post(const std::string& path, const nlohmann::json& body);

  // POSTs every body with up to `concurrency` in flight. `on_done(i, outcome)` is
  // called once per request as it completes (serialised: never two at once), from
  // worker threads; the outcomes are also returned in input order. A fatal error, or
  // an exception from on_done, stops new requests from starting, waits for those in
  // flight, and is rethrown. `cancel`, when set to true from elsewhere, does the same
  // without an error: the unstarted requests come back with ok = false and
  // error "cancelled".
  std::vector<HttpOutcome> post_many(
      const std::string& path, const std::vector<nlohmann::json>& bodies,
      const std::function<void(std::size_t, const HttpOutcome&)>& on_done = {},
      const std::atomic<bool>* cancel = nullptr);

  // The same with bodies already serialized (JSON whose key order matters, such as a
  // JSON Schema whose property order a grammar engine follows).
  HttpOutcome post_serialized(const std::string& path, const std::string& body);
  std::vector<HttpOutcome> post_many_serialized(
      const std::string& path, const std::vector<std::string>& bodies,
      const std::function<void(std::size_t, const HttpOutcome&)>& on_done = {},
      const std::atomic<bool>* cancel = nullptr);

  // Single requests with the same retries, for APIs beyond chat (files, batches). `cancel`
  // ends a retry wait early (error "cancelled"). Throw HttpFatalError like post.
  HttpOutcome get(const std::string& path, const std::atomic<bool>* cancel = nullptr);
  // The body as text (HttpOutcome::text), not parsed: file contents.
  HttpOutcome get_text(const std::string& path, const std::atomic<bool>* cancel = nullptr);
  HttpOutcome post_json(const std::string& path, const nlohmann::json& body,
                        const std::atomic<bool>* cancel = nullptr);
  HttpOutcome del(const std::string& path, const std::atomic<bool>* cancel = nullptr);
  // A multipart/form-data POST: `fields` as plain parts, then `content` as the file part
  // `file_field` named `file_name` (an upload to /files).
  HttpOutcome post_file(const std::string& path,
                        const std::vector<std::pair<std::string, std::string>>& fields,
                        const std::string& file_field, const std::string& file_name,
                        const std::string& content, const std::atomic<bool>* cancel = nullptr);

  const HttpOptions& options() const { return options_; }

  // Replaces every occurrence of the API key in `text` by "***" (for messages
  // that quote a server's reply).
  std::string redact(std::string text) const;

 private:
  struct Impl;
  HttpOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace weakdistill
