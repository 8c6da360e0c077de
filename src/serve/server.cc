#include "weakdistill/serve/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "weakdistill/core/error.h"
#include "weakdistill/serve/metrics.h"

namespace weakdistill::serve {
namespace {

using Clock = std::chrono::steady_clock;

// The endpoints and the method each takes; any other path is 404, another method 405.
const std::map<std::string, std::string>& endpoints() {
  static const std::map<std::string, std::string> e = {
      {"/v1/predict", "POST"}, {"/v1/model", "GET"}, {"/health", "GET"}, {"/metrics", "GET"}};
  return e;
}

// The path as metrics label it: one of the endpoints, or "other" (bounded label values).
std::string metric_path(const std::string& path) {
  return endpoints().count(path) ? path : "other";
}

void set_error(httplib::Response& res, int status, std::string_view code, std::string_view message,
               std::string_view param = {}) {
  res.status = status;
  res.set_content(error_body(status, code, message, param), "application/json");
}

// Compares in time that depends on the lengths only, so that timing does not reveal the key.
bool same_secret(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

struct Server::Impl {
  Impl(Student& s, ServeOptions o)
      : student(s),
        options(std::move(o)),
        batcher(s, options.batching, [this](std::size_t texts, std::size_t requests) {
          metrics.batch(texts, requests);
        }) {}

  // The error boundary: every handler runs through here, and only here are exceptions turned
  // into statuses (ApiError: its own; InputError: 400; anything else: 500, logged).
  template <typename F>
  void endpoint(const httplib::Request& req, httplib::Response& res, F&& body) {
    metrics.request_started();
    const auto start = Clock::now();
    std::size_t texts = 0;
    try {
      authorize(req);
      body(texts);
      if (res.status == -1) res.status = 200;
    } catch (const ApiError& e) {
      set_error(res, e.status(), e.code(), e.what(), e.param());
    } catch (const InputError& e) {
      set_error(res, 400, "invalid_input", e.what());
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", req.method, req.path, e.what());
      set_error(res, 500, "internal_error", std::string("the model failed: ") + e.what());
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    metrics.request_finished(req.path, res.status, seconds, texts);
    spdlog::debug("{} {} {} ({} texts, {:.1f} ms)", req.method, req.path, res.status, texts,
                  seconds * 1e3);
  }

  void authorize(const httplib::Request& req) const {
    if (options.api_key.empty() || req.path == "/health") return;
    const std::string header = req.get_header_value("Authorization");
    const std::string_view bearer = "Bearer ";
    if (header.rfind(bearer, 0) != 0 ||
        !same_secret(std::string_view(header).substr(bearer.size()), options.api_key)) {
      throw ApiError(401, "invalid_api_key",
                     header.empty() ? "this server needs \"Authorization: Bearer <key>\""
                                    : "the bearer token is not this server's key");
    }
  }

  void routes() {
    http.Post("/v1/predict", [this](const httplib::Request& req, httplib::Response& res) {
      endpoint(req, res, [&](std::size_t& texts) {
        std::vector<Sample> inputs = parse_predict_request(req.body, options.limits);
        texts = inputs.size();
        const std::vector<Prediction> out = batcher.predict(inputs);
        res.set_content(predict_response(inputs, out, student.task()), "application/json");
      });
    });
    http.Get("/v1/model", [this](const httplib::Request& req, httplib::Response& res) {
      endpoint(req, res, [&](std::size_t&) {
        const nlohmann::ordered_json j = {
            {"kind", std::string(student.kind())}, {"task", std::string(task_name(student.task()))},
            {"labels", student.labels()},          {"options", student.options()},
            {"model_dir", options.model_dir},      {"weakdistill_version", WEAKDISTILL_VERSION}};
        res.set_content(j.dump() + "\n", "application/json");
      });
    });
    http.Get("/health", [this](const httplib::Request& req, httplib::Response& res) {
      endpoint(req, res,
               [&](std::size_t&) { res.set_content("{\"status\":\"ok\"}\n", "application/json"); });
    });
    http.Get("/metrics", [this](const httplib::Request& req, httplib::Response& res) {
      endpoint(req, res, [&](std::size_t&) {
        res.set_content(metrics.prometheus({{"kind", std::string(student.kind())},
                                            {"task", std::string(task_name(student.task()))},
                                            {"version", WEAKDISTILL_VERSION}}),
                        "text/plain; version=0.0.4");
      });
    });
    // Before the body is read: unknown paths and wrong methods. The connection is closed after
    // the answer, since the body (if any) was not read.
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      const auto it = endpoints().find(req.path);
      if (it != endpoints().end() && it->second == req.method) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      if (it == endpoints().end()) {
        set_error(res, 404, "not_found",
                  "no endpoint " + req.path +
                      " (POST /v1/predict, GET /v1/model, GET /health, GET /metrics)");
      } else {
        res.set_header("Allow", it->second);
        set_error(res, 405, "method_not_allowed",
                  req.method + " " + req.path + ": this endpoint takes " + it->second);
      }
      res.set_header("Connection", "close");
      metrics.rejected(metric_path(req.path), res.status);
      return httplib::Server::HandlerResponse::Handled;
    });
    // Answers httplib gives on its own (a body over the limit, a malformed request) get the
    // same JSON shape; the handlers' own errors already have a body.
    http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                       httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      if (res.status == 413) {
        set_error(
            res, 413, "body_too_large",
            fmt::format("the body is over {} bytes (--max-body-bytes)", options.max_body_bytes));
        res.set_header("Connection", "close");
      } else {
        set_error(res, res.status, "bad_request",
                  res.status == 400 ? std::string("the request is not valid HTTP/1.1")
                                    : fmt::format("the request was refused (HTTP {})", res.status));
      }
      metrics.rejected(metric_path(req.path), res.status);
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          set_error(res, 500, "internal_error", "unexpected error");
        });
  }

  Student& student;
  ServeOptions options;
  ServeMetrics metrics;
  PredictBatcher batcher;  // declared before http: outlives the handlers that use it
  httplib::Server http;
  int port = 0;
};

Server::Server(Student& student, ServeOptions options)
    : impl_(std::make_unique<Impl>(student, std::move(options))) {
  Impl& i = *impl_;
  const int threads = std::max(1, i.options.connections);
  i.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  i.http.set_payload_max_length(i.options.max_body_bytes);
  // httplib writes a response as two sends (headers, body); with Nagle on, the body waited for
  // the client's delayed ACK: ~40 ms a request whatever the model (bench/compare_serve.sh).
  i.http.set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default, so a pooled client
  // reconnected every fifth request.
  i.http.set_keep_alive_max_count(1000);
  // The socket is kept to listen on it again: Debian's libcpp-httplib listens with a backlog of
  // 5, compiled in, and a burst of clients beyond that overflows the queue (clients then see
  // dropped connections). No SO_REUSEPORT (httplib's default): a second server on a port in use
  // must fail, not share it.
  int listening = -1;
  i.http.set_socket_options([&listening](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listening = sock;
  });
  i.routes();
  if (i.options.port == 0) {
    i.port = i.http.bind_to_any_port(i.options.host);
  } else {
    i.port = i.http.bind_to_port(i.options.host, i.options.port) ? i.options.port : -1;
  }
  if (i.port <= 0) {
    throw std::runtime_error(
        fmt::format("cannot listen on {}:{} (in use, or not an address of "
                    "this machine)",
                    i.options.host, i.options.port));
  }
  if (listening >= 0) ::listen(listening, SOMAXCONN);
}

Server::~Server() = default;

int Server::port() const { return impl_->port; }

void Server::run() { impl_->http.listen_after_bind(); }

void Server::stop() {
  impl_->batcher.drain();
  impl_->http.stop();
}

std::uint64_t Server::requests() const { return impl_->metrics.requests(); }

}  // namespace weakdistill::serve
