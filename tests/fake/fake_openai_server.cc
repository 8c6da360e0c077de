// The fake server is built on raw POSIX sockets rather than httplib::Server because
// the faults need control that a server library hides: a real RST (SO_LINGER 0) for
// kReset and go_down(), and a body shorter than its Content-Length for kTruncatedBody.
//
// This file holds the sockets and threads, fault injection, the dispatch of each request and
// the public members; fake_openai_internal.h lists the files that hold the rest.
#include "fake/fake_openai_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "fake/fake_openai_internal.h"

namespace weakdistill::testing {
namespace {

using nlohmann::json;

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
  // The Files and Batch APIs answer their own 404s and 405s (unknown ids, methods), after the
  // faults and the key check, as a real server looks a resource up only for a caller it knows.
  const bool is_batch_api = is_batch_api_path(request.path);
  if (!is_chat && !is_embeddings && !is_batch_api) {
    if (!sleep_unless_stopping(options.latency_ms)) return After::kClose;
    count(&Counters::not_found);
    return respond(
        error_response(404, "Unknown request URL: " + request.method + " " + request.path + ".",
                       "invalid_request_error", "unknown_url"));
  }
  if (!is_batch_api && request.method != "POST") {
    if (!sleep_unless_stopping(options.latency_ms)) return After::kClose;
    count(&Counters::method_not_allowed);
    HttpResponse response =
        error_response(405, "Method " + request.method + " not allowed on " + request.path + ".",
                       "invalid_request_error", "method_not_allowed");
    response.headers.emplace_back("Allow", "POST");
    return respond(response);
  }

  // Batch API bodies (multipart uploads among them) are parsed by batch_api_reply.
  json body =
      is_batch_api ? json() : json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  std::optional<Fault> fault;
  bool is_down;
  {
    std::lock_guard lock(mu);
    if (is_batch_api) {
      ++counters.batch_api_requests;
    } else {
      ++counters.requests;
      ++(is_chat ? counters.chat_completions : counters.embeddings);
      bodies.push_back(body.is_discarded() ? json(request.body) : body);
      authorizations.push_back(request.header("authorization"));
    }
    is_down = down;
    // A down replica never gets to its fault queue: the faults wait for resume().
    std::deque<Fault>& queue = is_batch_api ? batch_faults : faults;
    if (!is_down && !queue.empty()) {
      fault = queue.front();
      queue.pop_front();
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
  } else if (is_batch_api) {
    response = batch_api_reply(request);
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

void FakeOpenAIServer::push_batch_fault(Fault fault) {
  std::lock_guard lock(impl_->mu);
  impl_->batch_faults.push_back(fault);
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
          {"connections", c.connections},
          {"batch_api_requests", c.batch_api_requests},
          {"files_uploaded", c.files_uploaded},
          {"files_deleted", c.files_deleted},
          {"files_downloaded", c.files_downloaded},
          {"batches_created", c.batches_created},
          {"batch_polls", c.batch_polls},
          {"batches_cancelled", c.batches_cancelled}};
}

}  // namespace weakdistill::testing
