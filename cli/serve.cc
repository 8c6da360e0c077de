// weakdistill serve: a saved student behind HTTP (docs/SERVE.md).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <thread>

#include "commands.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/serve/server.h"
#include "weakdistill/student/student.h"

namespace weakdistill::cli {
namespace {

struct ServeArgs {
  std::string model;
  serve::ServeOptions options;
  int threads = 0;  // 0: the model's own setting
  std::string port_file;
  std::string api_key_env;
};

int g_signal_pipe[2] = {-1, -1};
std::atomic<bool> g_stopping{false};

void on_signal(int signal) {
  if (g_stopping.exchange(true)) std::_Exit(128 + signal);  // the second one stops at once
  const int saved = errno;
  [[maybe_unused]] const auto n = ::write(g_signal_pipe[1], &signal, sizeof signal);
  errno = saved;
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void run_serve(ServeArgs& a) {
  if (!a.api_key_env.empty()) {
    const char* key = std::getenv(a.api_key_env.c_str());
    if (!key || !*key) {
      throw UsageError("--api-key-env " + a.api_key_env +
                       ": that environment variable is not set "
                       "or empty");
    }
    a.options.api_key = key;
  } else if (!is_loopback(a.options.host)) {
    spdlog::warn("listening on {} without --api-key-env: anyone who reaches it can use the model",
                 a.options.host);
  }
  nlohmann::json overrides = nlohmann::json::object();
  if (a.threads > 0) overrides["threads"] = a.threads;
  const std::unique_ptr<Student> student = load_student(a.model, {}, std::nullopt, overrides);
  a.options.model_dir = a.model;
  serve::Server server(*student, a.options);
  if (!a.port_file.empty())
    write_file_atomically(a.port_file, std::to_string(server.port()) + "\n");
  spdlog::info(
      "serving {} ({}) from {} on http://{}:{} (batches of up to {} texts, waiting up to "
      "{} ms; {} connections)",
      student->kind(), task_name(student->task()), a.model, a.options.host, server.port(),
      a.options.batching.max_batch, a.options.batching.max_wait_ms, a.options.connections);
  // The handler only writes the signal's number to a pipe; a thread reads it and stops the
  // server in ordinary code. (sigwait would need the signals blocked in every thread, and
  // OpenBLAS starts its threads before main.)
  if (::pipe(g_signal_pipe) != 0) throw std::runtime_error("serve: cannot make a pipe");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::thread watcher([&server] {
    int signal = 0;
    if (::read(g_signal_pipe[0], &signal, sizeof signal) != sizeof signal || signal == 0) return;
    spdlog::info("{}: finishing the requests in flight, then stopping (again to stop at once)",
                 signal == SIGTERM ? "SIGTERM" : "SIGINT");
    server.stop();
  });
  server.run();
  // run() ends only after a stop; a 0 wakes the watcher in case it was not a signal's.
  if (!g_stopping.exchange(true)) {
    const int none = 0;
    [[maybe_unused]] const auto n = ::write(g_signal_pipe[1], &none, sizeof none);
  }
  watcher.join();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  spdlog::info("stopped after {} requests", server.requests());
}

}  // namespace

void add_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  serve::ServeOptions& o = args->options;
  CLI::App* cmd = app.add_subcommand("serve", "Serve a saved student over HTTP");
  cmd->add_option("MODEL_DIR", args->model, "Model folder written by train or run")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--host", o.host, "Address to listen on (0.0.0.0: every interface)")
      ->capture_default_str();
  cmd->add_option("--port", o.port, "Port (0: a free one; see --port-file)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--port-file", args->port_file,
                  "Write the port to this file once clients can connect");
  cmd->add_option("--threads", args->threads,
                  "Threads the model computes with (default: the model's own setting, 0 = all "
                  "cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--connections", o.connections, "Connections handled at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--max-batch", o.batching.max_batch,
                  "Texts of concurrent requests predicted together (1: no batching)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--max-wait-ms", o.batching.max_wait_ms,
                  "How long a request may wait for others to fill a batch")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600000.0));
  cmd->add_option("--max-body-bytes", o.max_body_bytes, "Largest request body (413 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-texts", o.limits.max_texts, "Texts in one request (400 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-text-chars", o.limits.max_text_chars, "Characters in one text (400 above)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--api-key-env", args->api_key_env,
                  "Environment variable holding a key that clients must send as "
                  "\"Authorization: Bearer <key>\" (all endpoints but /health)");
  cmd->footer(
      "Example:\n"
      "  weakdistill serve runs/cls-offline/best --port 8000 &\n"
      "  curl -s localhost:8000/v1/predict -d '{\"texts\": [\"A股三大指数集体收涨\"]}'\n"
      "SIGTERM or Ctrl-C: the requests in flight are answered, then the server exits 0.\n");
  cmd->callback([args] { run_serve(*args); });
}

}  // namespace weakdistill::cli
