// What the fake OpenAI server's files share, private to tests/fake/ (tests include
// fake_openai_server.h only):
//   fake_openai_server.cc           the server: sockets and threads, faults, dispatch, the API
//   fake_openai_http.cc             HTTP/1.1 on a socket: reading a request, writing a response
//   fake_openai_replies.cc          the chat completion and embeddings replies
//   fake_openai_response_format.cc  response_format and schema checks on requests and replies
//   fake_openai_samples.cc          samples_responder
//   fake_openai_batches.cc          the Files and Batch APIs
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "fake/fake_openai_server.h"

namespace weakdistill::testing {

// ---------------------------------------------------------------------------------------------
// HTTP (fake_openai_http.cc)

struct HttpRequest {
  std::string method;
  std::string path;                                          // the target without its query string
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  bool keep_alive = true;

  std::string header(std::string_view name) const {
    for (const auto& [key, value] : headers) {
      if (key == name) return value;
    }
    return "";
  }
  bool has_header(std::string_view name) const {
    return std::any_of(headers.begin(), headers.end(),
                       [&](const auto& entry) { return entry.first == name; });
  }
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "application/json";
};

// What the connection does after a request has been handled.
enum class After { kKeepAlive, kClose, kReset };

// The shape OpenAI uses for every error, so clients can be tested on real parsing.
HttpResponse error_response(int status, const std::string& message, const std::string& type,
                            const nlohmann::json& code, const nlohmann::json& param = nullptr);

// The status line and headers of `response` (its Content-Type, the Content-Length given, and
// Connection as `keep_alive` says), ending with the empty line.
std::string serialize_head(const HttpResponse& response, std::size_t content_length,
                           bool keep_alive);

// Writes all of `data` to `fd`; false when the peer has gone away.
bool send_all(int fd, std::string_view data);

// ---------------------------------------------------------------------------------------------
// response_format (fake_openai_response_format.cc)

// A refused response_format, and the counter it belongs to.
struct FormatProblem {
  bool bad_schema = false;  // false: the type is the problem ("unsupported_format")
  std::string message;
};

// Why a server with `options` refuses `format` (a request's response_format, null when it has
// none), or nullopt when it is accepted. The forms OpenAI and vLLM take, plus llama-server's
// {"type": "json_object", "schema": {...}}.
std::optional<FormatProblem> check_response_format(const nlohmann::json& format,
                                                   const FakeServerOptions& options);

// The schema a request's response_format carries, or nullptr. Call only on a request whose
// response_format check_response_format accepted.
const nlohmann::json* request_schema(const nlohmann::json& request);

// Why `content` does not fit what the request asked for (`schema`, or any JSON object when
// it is null), or nullopt. A leading <think>...</think> block and surrounding whitespace are
// not part of the JSON looked at.
std::optional<std::string> content_problem(std::string_view content, const nlohmann::json* schema);

// ---------------------------------------------------------------------------------------------
// Files and batches (fake_openai_batches.cc)

// Whether `path` belongs to the Files or Batch API (/v1/files, /v1/batches and below).
bool is_batch_api_path(std::string_view path);

// One request of a batch input file.
struct BatchLine {
  std::string custom_id;
  nlohmann::json body;
};

struct StoredFile {
  std::string id;
  std::string filename;
  std::string purpose;  // "batch" (uploaded) or "batch_output" (a batch's output or error file)
  int64_t created_at = 0;
  std::string content;
  // The parsed lines of a "batch" file, shared with the batches made from it (so that deleting
  // the file leaves them whole).
  std::shared_ptr<const std::vector<BatchLine>> lines;
};

struct BatchState {
  std::string id;
  std::string input_file_id;
  std::string endpoint;
  std::string completion_window;
  nlohmann::json metadata;
  std::shared_ptr<const std::vector<BatchLine>> lines;
  BatchScript script;
  std::string status = "validating";
  // Unix seconds of each transition; null until it happens.
  nlohmann::json created_at, in_progress_at, expires_at, finalizing_at, completed_at, failed_at,
      expired_at, cancelling_at, cancelled_at;
  int polls_in_step = 0;      // GETs since the last step
  std::size_t next_line = 0;  // lines [0, next_line) have been processed
  std::size_t completed = 0;  // answered 200, dropped ones included
  // The records of each file, with the input line (from 0) they belong to, in input order.
  std::vector<std::pair<std::size_t, nlohmann::json>> output, errors;
  nlohmann::json output_file_id, error_file_id;  // null until the batch ends with such lines
};

// ---------------------------------------------------------------------------------------------
// The server's state. Its members are defined in fake_openai_server.cc, except read_request
// (fake_openai_http.cc), chat_reply and embeddings_reply (fake_openai_replies.cc), and the
// Files and Batch APIs (fake_openai_batches.cc).

struct FakeOpenAIServer::Impl {
  struct Counters {
    std::size_t requests = 0;
    std::size_t chat_completions = 0;
    std::size_t embeddings = 0;
    std::size_t faults = 0;
    std::size_t resets = 0;
    std::size_t unauthorized = 0;
    std::size_t bad_requests = 0;
    std::size_t unsupported_format = 0;
    std::size_t bad_schema = 0;
    std::size_t schema_mismatches = 0;
    std::size_t not_found = 0;
    std::size_t method_not_allowed = 0;
    std::size_t connections = 0;
    std::size_t batch_api_requests = 0;
    std::size_t files_uploaded = 0;
    std::size_t files_deleted = 0;
    std::size_t files_downloaded = 0;
    std::size_t batches_created = 0;
    std::size_t batch_polls = 0;
    std::size_t batches_cancelled = 0;
  };

  explicit Impl(FakeServerOptions opts);
  ~Impl();

  // Accepts connections (at most options.threads at once) until the server stops, then
  // joins every worker.
  void accept_loop();
  // Serves requests on `fd` until either side ends the connection, then closes it.
  void serve_connection(int fd, uint64_t worker_id);
  // Reads the next request into `request`; false when the connection is done (closed by
  // the peer, broken, or after a 4xx/5xx about the framing itself has been sent).
  bool read_request(int fd, std::string& buffer, HttpRequest& request);
  // Answers one request on `fd` (applying latency, faults and the key check) and says
  // what becomes of the connection.
  After handle(int fd, const HttpRequest& request);
  // The 200 reply for a parsed request body, or a 400 when the body is invalid.
  HttpResponse chat_reply(const nlohmann::json& request, bool finish_length);
  HttpResponse embeddings_reply(const nlohmann::json& request);
  // The answer of the Files and Batch APIs to a request on one of their paths, 404 and 405
  // included (latency, faults and the key check have been applied by handle()).
  HttpResponse batch_api_reply(const HttpRequest& request);
  // Sleeps `ms`, returning early (false) when the server is stopping.
  bool sleep_unless_stopping(int ms);
  // Adds one to a counter, under the lock.
  void count(std::size_t Counters::*counter);

  const FakeServerOptions options;
  int listen_fd = -1;
  int wake_read_fd = -1;  // the accept loop polls it to learn that it must stop
  int wake_write_fd = -1;
  int port = 0;

  mutable std::mutex mu;
  std::condition_variable stop_cv;  // wakes latency and hang sleeps
  std::condition_variable slot_cv;  // wakes the accept loop when a connection ends
  bool stopping = false;
  bool down = false;
  std::deque<Fault> faults;
  ChoiceResponder responder;
  Counters counters;
  uint64_t next_completion_id = 0;
  std::vector<nlohmann::json> bodies;
  std::vector<std::string> authorizations;
  std::unordered_set<int> open_fds;  // shut down by the destructor to wake blocked threads
  int active_connections = 0;
  uint64_t next_worker_id = 0;
  std::unordered_map<uint64_t, std::thread> workers;
  std::vector<uint64_t> finished_workers;  // joined by the accept loop
  std::thread acceptor;

  // The Files and Batch APIs' state, under its own lock, taken before `mu` when both are held
  // (a batch step answers lines with chat_reply, which takes `mu`).
  std::deque<Fault> batch_faults;  // under `mu`, like `faults`
  std::mutex batch_mu;
  std::map<std::string, StoredFile> files;
  std::map<std::string, BatchState> batches;
  std::vector<std::string> batch_order;     // ids in creation order
  std::optional<BatchScript> batch_script;  // set_batch_script's, over options.batch_script
  std::deque<BatchScript> batch_scripts;    // push_batch_script's, used first
  uint64_t next_file_id = 1;
  uint64_t next_batch_id = 1;
  uint64_t next_batch_request_id = 1;
};

// ASCII lower-casing (header names) and trimming of spaces and tabs, for the HTTP and
// multipart parsers.
std::string lowercase(std::string_view text);
std::string_view trim(std::string_view text);

}  // namespace weakdistill::testing
