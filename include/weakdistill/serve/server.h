// `weakdistill serve`: a saved student behind HTTP (docs/SERVE.md). The API:
//   POST /v1/predict  {"texts": [...]} or {"inputs": [{"text", "id"?}]} -> {"predictions": [...]}
//   GET  /v1/model    kind, task, labels, weakdistill version
//   GET  /health      {"status": "ok"}
//   GET  /metrics     Prometheus text
// Errors are OpenAI-style {"error": {"message", "type", "param", "code"}}, decided in one place
// (the server's error boundary). Built on cpp-httplib; predictions go through a PredictBatcher.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "weakdistill/serve/batcher.h"
#include "weakdistill/serve/predict_api.h"
#include "weakdistill/student/student.h"

namespace weakdistill::serve {

struct ServeOptions {
  // Address to listen on. The loopback default keeps the model off the network unless asked.
  std::string host = "127.0.0.1";
  // Port; 0 picks a free one (see Server::port()).
  int port = 8000;
  // Connections handled at once (HTTP threads; a keep-alive connection holds one while open).
  int connections = 64;
  // Bytes in a request body; more is 413.
  std::size_t max_body_bytes = 1 << 20;
  // Texts and text lengths a request may have.
  PredictLimits limits;
  // How concurrent requests are batched.
  BatcherOptions batching;
  // When not empty, every endpoint but /health needs "Authorization: Bearer <api_key>".
  std::string api_key;
  // The model folder, reported by /v1/model.
  std::string model_dir;
};

class Server {
 public:
  // Binds the address (so that port() is known and clients may connect: they queue until run()).
  // Throws std::runtime_error naming the address when it cannot be bound.
  Server(Student& student, ServeOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port.
  int port() const;

  // Serves until stop(). Requests being handled when stop() is called are answered; connections
  // then close and new ones are refused.
  void run();

  // Asks run() to return; safe from any thread (not from a signal handler).
  void stop();

  // Requests answered so far.
  std::uint64_t requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace weakdistill::serve
