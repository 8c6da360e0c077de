// The fake server is built on raw POSIX sockets rather than httplib::Server because
// the faults need control that a server library hides: a real RST (SO_LINGER 0) for
// kReset and go_down(), and a body shorter than its Content-Length for kTruncatedBody.
#include "fake/fake_openai_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <deque>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace weakdistill::testing {
namespace {

using nlohmann::json;

// Bounds that keep a misbehaving client from making the fake allocate without limit.
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
constexpr std::size_t kMaxBodyBytes = 64 * 1024 * 1024;
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

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

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
};

// What the connection does after a request has been handled.
enum class After { kKeepAlive, kClose, kReset };

// The shape OpenAI uses for every error, so clients can be tested on real parsing.
HttpResponse error_response(int status, const std::string& message, const std::string& type,
                            const json& code, const json& param = nullptr) {
  json body = {{"error", {{"message", message}, {"type", type}, {"param", param}, {"code", code}}}};
  return {status, body.dump(), {}};
}

// A refused response_format, and the counter it belongs to.
struct FormatProblem {
  bool bad_schema = false;  // false: the type is the problem ("unsupported_format")
  std::string message;
};

constexpr std::array<std::string_view, 3> kKnownFormats = {"text", "json_object", "json_schema"};

bool valid_schema_name(const json& name) {
  if (!name.is_string()) return false;
  const std::string& text = name.get_ref<const std::string&>();
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// The forms OpenAI and vLLM take, plus llama-server's {"type": "json_object", "schema": {...}}.
std::optional<FormatProblem> check_response_format(const json& format,
                                                   const FakeServerOptions& options) {
  if (format.is_null()) return std::nullopt;
  auto unsupported = [](std::string message) {
    return std::optional<FormatProblem>({false, std::move(message)});
  };
  auto bad_schema = [](std::string message) {
    return std::optional<FormatProblem>({true, std::move(message)});
  };
  if (!format.is_object()) {
    return unsupported(
        "'response_format' must be an object such as {\"type\": \"json_object\"}, got " +
        format.dump());
  }
  if (!format.contains("type") || !format["type"].is_string()) {
    return unsupported(
        "'response_format.type' is required and must be a string: one of text, "
        "json_object, json_schema.");
  }
  const std::string& type = format["type"].get_ref<const std::string&>();
  const bool known =
      std::find(kKnownFormats.begin(), kKnownFormats.end(), type) != kKnownFormats.end();
  const bool accepted = std::find(options.response_formats.begin(), options.response_formats.end(),
                                  type) != options.response_formats.end();
  if (!known || !accepted) {
    return unsupported("Invalid value for 'response_format.type': '" + type + "' is not supported" +
                       (options.response_formats.empty()
                            ? std::string(" (this server takes no response_format).")
                            : " (this server takes: " + joined(options.response_formats) + ")."));
  }
  const json* schema = nullptr;
  bool strict = false;
  std::string where;
  if (type == "json_schema") {
    if (!format.contains("json_schema") || !format["json_schema"].is_object()) {
      return bad_schema(
          "'response_format.json_schema' is required for type json_schema and "
          "must be an object with a name and a schema.");
    }
    const json& spec = format["json_schema"];
    if (!spec.contains("name") || !valid_schema_name(spec["name"])) {
      return bad_schema(
          "'response_format.json_schema.name' must match ^[a-zA-Z0-9_-]{1,64}$, got " +
          (spec.contains("name") ? spec["name"].dump() : std::string("none")) + ".");
    }
    if (spec.contains("strict") && !spec["strict"].is_boolean() && !spec["strict"].is_null()) {
      return bad_schema("'response_format.json_schema.strict' must be a boolean.");
    }
    if (spec.contains("description") && !spec["description"].is_string()) {
      return bad_schema("'response_format.json_schema.description' must be a string.");
    }
    if (!spec.contains("schema") || !spec["schema"].is_object()) {
      return bad_schema(
          "'response_format.json_schema.schema' is required and must be a JSON "
          "Schema object.");
    }
    schema = &spec["schema"];
    strict = spec.contains("strict") && spec["strict"] == true;
    where = "'response_format.json_schema.schema'";
  } else if (type == "json_object" && format.contains("schema")) {
    if (!format["schema"].is_object()) {
      return bad_schema("'response_format.schema' must be a JSON Schema object.");
    }
    schema = &format["schema"];
    where = "'response_format.schema'";
  }
  if (schema != nullptr && options.check_schema) {
    if (auto problem = schema_problem(*schema, strict)) {
      return bad_schema("Invalid schema in " + where + (strict ? " (strict)" : "") + ": " +
                        *problem + ".");
    }
  }
  return std::nullopt;
}

// The schema a request's response_format carries, or nullptr. Call only on a request whose
// response_format check_response_format accepted.
const json* request_schema(const json& request) {
  if (!request.is_object() || !request.contains("response_format")) return nullptr;
  const json& format = request["response_format"];
  if (!format.is_object() || !format.contains("type")) return nullptr;
  if (format["type"] == "json_schema" && format.contains("json_schema") &&
      format["json_schema"].is_object() && format["json_schema"].contains("schema") &&
      format["json_schema"]["schema"].is_object()) {
    return &format["json_schema"]["schema"];
  }
  if (format["type"] == "json_object" && format.contains("schema") &&
      format["schema"].is_object()) {
    return &format["schema"];
  }
  return nullptr;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view strip_space(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// The JSON a reply carries: content without a leading <think>...</think> block (a reasoning
// model served without a reasoning parser) and without surrounding whitespace.
std::string_view json_part(std::string_view content) {
  content = strip_space(content);
  constexpr std::string_view kOpen = "<think>";
  constexpr std::string_view kClose = "</think>";
  if (content.substr(0, kOpen.size()) == kOpen) {
    const std::size_t close = content.find(kClose);
    if (close != std::string_view::npos) {
      content = strip_space(content.substr(close + kClose.size()));
    }
  }
  return content;
}

// Why `content` does not fit what the request asked for (`schema`, or any JSON object when
// it is null), or nullopt.
std::optional<std::string> content_problem(std::string_view content, const json* schema) {
  const std::string_view text = json_part(content);
  const json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    std::string shown(text.substr(0, 80));
    return "the content is not JSON: '" + shown + (text.size() > 80 ? "...'" : "'");
  }
  if (schema == nullptr) {
    if (!value.is_object()) return std::string("the content is JSON but not an object");
    return std::nullopt;
  }
  return schema_violation(*schema, value);
}

// A plausible error for an injected status, modelled on what the real API sends.
HttpResponse fault_response(const Fault& fault) {
  HttpResponse response;
  if (fault.status == 429) {
    response = error_response(429, "Rate limit reached (injected by the fake server).", "requests",
                              "rate_limit_exceeded");
  } else if (fault.status >= 500) {
    response =
        error_response(fault.status, "The server had an error (injected by the fake server).",
                       "server_error", "server_error");
  } else {
    response =
        error_response(fault.status, "Injected error.", "invalid_request_error", "injected_error");
  }
  if (fault.retry_after_s >= 0) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", fault.retry_after_s);
    response.headers.emplace_back("Retry-After", buffer);
  }
  return response;
}

std::string serialize_head(const HttpResponse& response, std::size_t content_length,
                           bool keep_alive) {
  std::string head =
      "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
  head += "Content-Type: application/json\r\n";
  head += "Content-Length: " + std::to_string(content_length) + "\r\n";
  head += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
  head += "\r\n";
  return head;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    // MSG_NOSIGNAL: a client that went away must not kill the process with SIGPIPE.
    const ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
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

Fault Fault::status_code(int code, double retry_after_s) {
  Fault fault;
  fault.kind = Kind::kStatus;
  fault.status = code;
  fault.retry_after_s = retry_after_s;
  return fault;
}

Fault Fault::hang(int ms) {
  Fault fault;
  fault.kind = Kind::kHang;
  fault.hang_ms = ms;
  return fault;
}

Fault Fault::reset() {
  Fault fault;
  fault.kind = Kind::kReset;
  return fault;
}

Fault Fault::malformed_json() {
  Fault fault;
  fault.kind = Kind::kMalformedJson;
  return fault;
}

Fault Fault::truncated_body() {
  Fault fault;
  fault.kind = Kind::kTruncatedBody;
  return fault;
}

Fault Fault::finish_length() {
  Fault fault;
  fault.kind = Kind::kFinishLength;
  return fault;
}

Fault Fault::reply_body(std::string body) {
  Fault fault;
  fault.kind = Kind::kBody;
  fault.body = std::move(body);
  return fault;
}

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
  HttpResponse chat_reply(const json& request, bool finish_length);
  HttpResponse embeddings_reply(const json& request);
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
  std::vector<json> bodies;
  std::vector<std::string> authorizations;
  std::unordered_set<int> open_fds;  // shut down by the destructor to wake blocked threads
  int active_connections = 0;
  uint64_t next_worker_id = 0;
  std::unordered_map<uint64_t, std::thread> workers;
  std::vector<uint64_t> finished_workers;  // joined by the accept loop
  std::thread acceptor;
};

FakeOpenAIServer::Impl::Impl(FakeServerOptions opts) : options(std::move(opts)) {
  auto fail = [this](const char* what) {
    const int error = errno;
    if (listen_fd >= 0) ::close(listen_fd);
    if (wake_read_fd >= 0) ::close(wake_read_fd);
    if (wake_write_fd >= 0) ::close(wake_write_fd);
    throw std::system_error(error, std::generic_category(), what);
  };
  listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd < 0) fail("fake server: socket");
  // So that a fixed --port can be reused right after a previous run's TIME_WAIT.
  const int one = 1;
  ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(options.port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    fail("fake server: bind 127.0.0.1");
  }
  if (::listen(listen_fd, SOMAXCONN) != 0) fail("fake server: listen");
  socklen_t length = sizeof address;
  if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    fail("fake server: getsockname");
  }
  port = ntohs(address.sin_port);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail("fake server: pipe");
  wake_read_fd = pipe_fds[0];
  wake_write_fd = pipe_fds[1];
  try {
    acceptor = std::thread(&Impl::accept_loop, this);
  } catch (const std::system_error&) {
    fail("fake server: thread");
  }
}

FakeOpenAIServer::Impl::~Impl() {
  {
    std::lock_guard lock(mu);
    stopping = true;
    // Registered fds are closed only by their worker after unregistering under `mu`, so
    // none of these numbers can have been reused by another file.
    for (const int fd : open_fds) ::shutdown(fd, SHUT_RDWR);
  }
  stop_cv.notify_all();
  slot_cv.notify_all();
  const char byte = 0;
  while (::write(wake_write_fd, &byte, 1) < 0 && errno == EINTR) {
  }
  acceptor.join();
  ::close(listen_fd);
  ::close(wake_read_fd);
  ::close(wake_write_fd);
}

void FakeOpenAIServer::Impl::accept_loop() {
  while (true) {
    std::vector<std::thread> to_join;
    {
      std::unique_lock lock(mu);
      slot_cv.wait(lock, [this] { return stopping || active_connections < options.threads; });
      if (stopping) break;
      for (const uint64_t id : finished_workers) {
        auto it = workers.find(id);
        to_join.push_back(std::move(it->second));
        workers.erase(it);
      }
      finished_workers.clear();
    }
    for (std::thread& thread : to_join) thread.join();

    pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_read_fd, POLLIN, 0}};
    // The timeout only bounds how long finished workers wait to be joined.
    const int ready = ::poll(fds, 2, 1000);
    if (ready < 0 && errno != EINTR) break;
    if (fds[1].revents != 0) break;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      // Out of descriptors: back off instead of spinning on a listen queue we cannot drain.
      if (errno == EMFILE || errno == ENFILE) sleep_unless_stopping(10);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mu);
    if (stopping) {
      ::close(fd);
      break;
    }
    const uint64_t id = next_worker_id++;
    open_fds.insert(fd);
    ++active_connections;
    ++counters.connections;
    try {
      workers.emplace(id, std::thread(&Impl::serve_connection, this, fd, id));
    } catch (const std::system_error&) {
      open_fds.erase(fd);
      --active_connections;
      ::close(fd);
    }
  }
  // Every open connection has been shut down by the destructor, so each worker is on
  // its way out.
  std::unordered_map<uint64_t, std::thread> remaining;
  {
    std::lock_guard lock(mu);
    remaining.swap(workers);
  }
  for (auto& [id, thread] : remaining) thread.join();
}

void FakeOpenAIServer::Impl::serve_connection(int fd, uint64_t worker_id) {
  std::string buffer;
  After after = After::kClose;
  HttpRequest request;
  while (read_request(fd, buffer, request)) {
    after = handle(fd, request);
    if (after != After::kKeepAlive) break;
  }
  {
    std::lock_guard lock(mu);
    open_fds.erase(fd);
  }
  if (after == After::kReset) {
    // Linger {on, 0}: close() sends RST and drops the connection, like a crashed replica.
    const linger hard{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  }
  ::close(fd);
  {
    std::lock_guard lock(mu);
    --active_connections;
    finished_workers.push_back(worker_id);
  }
  slot_cv.notify_all();
}

bool FakeOpenAIServer::Impl::read_request(int fd, std::string& buffer, HttpRequest& request) {
  auto receive_more = [&]() {
    char chunk[16384];
    while (true) {
      const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
      if (got > 0) {
        buffer.append(chunk, static_cast<std::size_t>(got));
        // Clients that write headers and body separately without TCP_NODELAY (httplib's
        // default) hold the body back until the headers are ACKed; a delayed ACK would
        // add 40 ms to every keep-alive request. Linux clears the flag, so set it each time.
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        return true;
      }
      if (got < 0 && errno == EINTR) continue;
      return false;
    }
  };
  auto reject = [&](int status, const std::string& message) {
    const HttpResponse response = error_response(status, message, "invalid_request_error", nullptr);
    send_all(fd, serialize_head(response, response.body.size(), false) + response.body);
    return false;
  };

  std::size_t header_end;
  while (true) {
    // RFC 9112 lets a server skip empty lines before a request line.
    const std::size_t start = buffer.find_first_not_of("\r\n");
    buffer.erase(0, start == std::string::npos ? buffer.size() : start);
    header_end = buffer.find("\r\n\r\n");
    if (header_end != std::string::npos) break;
    if (buffer.size() > kMaxHeaderBytes) return reject(431, "request headers too large");
    if (!receive_more()) return false;
  }

  std::string_view head(buffer.data(), header_end);
  const std::size_t line_end = std::min(head.find("\r\n"), head.size());
  const std::string_view request_line = head.substr(0, line_end);
  const std::size_t space1 = request_line.find(' ');
  const std::size_t space2 = request_line.rfind(' ');
  if (space1 == std::string_view::npos || space2 == space1) {
    return reject(400, "malformed request line");
  }
  request = HttpRequest{};
  request.method = std::string(request_line.substr(0, space1));
  const std::string_view target = request_line.substr(space1 + 1, space2 - space1 - 1);
  request.path = std::string(target.substr(0, std::min(target.find('?'), target.size())));
  const std::string_view version = request_line.substr(space2 + 1);

  std::string_view rest = line_end < head.size() ? head.substr(line_end + 2) : std::string_view();
  while (!rest.empty()) {
    const std::size_t end = std::min(rest.find("\r\n"), rest.size());
    const std::string_view line = rest.substr(0, end);
    rest = end < rest.size() ? rest.substr(end + 2) : std::string_view();
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return reject(400, "malformed header line");
    request.headers.emplace_back(lowercase(trim(line.substr(0, colon))),
                                 std::string(trim(line.substr(colon + 1))));
  }

  const std::string connection = lowercase(request.header("connection"));
  request.keep_alive = version == "HTTP/1.0" ? connection.find("keep-alive") != std::string::npos
                                             : connection.find("close") == std::string::npos;
  if (request.has_header("transfer-encoding")) {
    return reject(501, "chunked request bodies are not supported by the fake server");
  }
  std::size_t content_length = 0;
  if (request.has_header("content-length")) {
    const std::string text = request.header("content-length");
    const auto [end, error] =
        std::from_chars(text.data(), text.data() + text.size(), content_length);
    if (error != std::errc() || end != text.data() + text.size()) {
      return reject(400, "invalid Content-Length");
    }
  }
  if (content_length > kMaxBodyBytes) return reject(413, "request body too large");

  const std::size_t body_start = header_end + 4;
  if (buffer.size() < body_start + content_length &&
      lowercase(request.header("expect")) == "100-continue") {
    if (!send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return false;
  }
  while (buffer.size() < body_start + content_length) {
    if (!receive_more()) return false;
  }
  request.body = buffer.substr(body_start, content_length);
  buffer.erase(0, body_start + content_length);
  return true;
}

bool FakeOpenAIServer::Impl::sleep_unless_stopping(int ms) {
  std::unique_lock lock(mu);
  if (ms <= 0) return !stopping;
  return !stop_cv.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping; });
}

void FakeOpenAIServer::Impl::count(std::size_t Counters::*counter) {
  std::lock_guard lock(mu);
  ++(counters.*counter);
}

After FakeOpenAIServer::Impl::handle(int fd, const HttpRequest& request) {
  const bool keep_alive = request.keep_alive;
  auto respond = [&](const HttpResponse& response) {
    if (!send_all(fd, serialize_head(response, response.body.size(), keep_alive) + response.body)) {
      return After::kClose;
    }
    return keep_alive ? After::kKeepAlive : After::kClose;
  };

  const bool is_chat = request.path == "/v1/chat/completions";
  const bool is_embeddings = request.path == "/v1/embeddings";
  if (!is_chat && !is_embeddings) {
    if (!sleep_unless_stopping(options.latency_ms)) return After::kClose;
    count(&Counters::not_found);
    return respond(
        error_response(404, "Unknown request URL: " + request.method + " " + request.path + ".",
                       "invalid_request_error", "unknown_url"));
  }
  if (request.method != "POST") {
    if (!sleep_unless_stopping(options.latency_ms)) return After::kClose;
    count(&Counters::method_not_allowed);
    HttpResponse response =
        error_response(405, "Method " + request.method + " not allowed on " + request.path + ".",
                       "invalid_request_error", "method_not_allowed");
    response.headers.emplace_back("Allow", "POST");
    return respond(response);
  }

  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  std::optional<Fault> fault;
  bool is_down;
  {
    std::lock_guard lock(mu);
    ++counters.requests;
    ++(is_chat ? counters.chat_completions : counters.embeddings);
    bodies.push_back(body.is_discarded() ? json(request.body) : body);
    authorizations.push_back(request.header("authorization"));
    is_down = down;
    // A down replica never gets to its fault queue: the faults wait for resume().
    if (!is_down && !faults.empty()) {
      fault = faults.front();
      faults.pop_front();
      ++counters.faults;
    }
    if (is_down || (fault && fault->kind == Fault::Kind::kReset)) ++counters.resets;
  }
  if (is_down) return After::kReset;
  if (!sleep_unless_stopping(options.latency_ms)) return After::kClose;

  bool finish_length = false;
  bool truncate = false;
  if (fault) {
    switch (fault->kind) {
      case Fault::Kind::kStatus:
        return respond(fault_response(*fault));
      case Fault::Kind::kHang:
        if (!sleep_unless_stopping(fault->hang_ms)) return After::kClose;
        break;
      case Fault::Kind::kReset:
        return After::kReset;
      case Fault::Kind::kBody:
        return respond({200, fault->body, {}});
      case Fault::Kind::kMalformedJson:
        return respond(
            {200, R"({"id": "chatcmpl-broken", "object": "chat.completion", "choi)", {}});
      case Fault::Kind::kTruncatedBody:
        truncate = true;
        break;
      case Fault::Kind::kFinishLength:
        finish_length = true;
        break;
    }
  }

  HttpResponse response;
  if (!options.api_key.empty() && request.header("authorization") != "Bearer " + options.api_key) {
    count(&Counters::unauthorized);
    response = error_response(
        401,
        request.has_header("authorization")
            ? "Incorrect API key provided."
            : "You didn't provide an API key. You need to provide your API key in an "
              "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        "invalid_request_error", "invalid_api_key");
  } else if (body.is_discarded()) {
    response = error_response(400, "We could not parse the JSON body of your request.",
                              "invalid_request_error", nullptr);
  } else {
    response = is_chat ? chat_reply(body, finish_length) : embeddings_reply(body);
  }
  if (response.status == 400) count(&Counters::bad_requests);

  if (truncate) {
    // Announce the whole body, send half of it, and hang up.
    const std::string head = serialize_head(response, response.body.size(), false);
    send_all(fd, head + response.body.substr(0, response.body.size() / 2));
    return After::kClose;
  }
  return respond(response);
}

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

std::optional<std::string> response_format_problem(const nlohmann::json& response_format,
                                                   const FakeServerOptions& options) {
  if (auto problem = check_response_format(response_format, options)) return problem->message;
  return std::nullopt;
}

namespace {

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

FakeOpenAIServer::FakeOpenAIServer(FakeServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

FakeOpenAIServer::~FakeOpenAIServer() = default;

int FakeOpenAIServer::port() const { return impl_->port; }

std::string FakeOpenAIServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port) + "/v1";
}

void FakeOpenAIServer::push_fault(Fault fault) {
  std::lock_guard lock(impl_->mu);
  impl_->faults.push_back(fault);
}

void FakeOpenAIServer::push_faults(std::size_t n, Fault fault) {
  std::lock_guard lock(impl_->mu);
  impl_->faults.insert(impl_->faults.end(), n, fault);
}

void FakeOpenAIServer::set_responder(Responder responder) {
  ChoiceResponder wrapped;
  if (responder) {
    wrapped = [responder = std::move(responder)](const nlohmann::json& request, int choice) {
      return ChatChoice{responder(request, choice), "", ""};
    };
  }
  set_choice_responder(std::move(wrapped));
}

void FakeOpenAIServer::set_choice_responder(ChoiceResponder responder) {
  std::lock_guard lock(impl_->mu);
  impl_->responder = std::move(responder);
}

void FakeOpenAIServer::go_down() {
  std::lock_guard lock(impl_->mu);
  impl_->down = true;
}

void FakeOpenAIServer::resume() {
  std::lock_guard lock(impl_->mu);
  impl_->down = false;
}

std::size_t FakeOpenAIServer::requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->counters.requests;
}

std::vector<nlohmann::json> FakeOpenAIServer::bodies() const {
  std::lock_guard lock(impl_->mu);
  return impl_->bodies;
}

std::vector<std::string> FakeOpenAIServer::authorization_headers() const {
  std::lock_guard lock(impl_->mu);
  return impl_->authorizations;
}

nlohmann::json FakeOpenAIServer::summary() const {
  std::lock_guard lock(impl_->mu);
  const Impl::Counters& c = impl_->counters;
  return {{"requests", c.requests},
          {"chat_completions", c.chat_completions},
          {"embeddings", c.embeddings},
          {"faults", c.faults},
          {"resets", c.resets},
          {"unauthorized", c.unauthorized},
          {"bad_requests", c.bad_requests},
          {"unsupported_format", c.unsupported_format},
          {"bad_schema", c.bad_schema},
          {"schema_mismatches", c.schema_mismatches},
          {"not_found", c.not_found},
          {"method_not_allowed", c.method_not_allowed},
          {"connections", c.connections}};
}

}  // namespace weakdistill::testing
