// fake_openai: the fake OpenAI-compatible server as a program, for CLI tests and benches.
// It prints "listening on http://127.0.0.1:PORT/v1" once ready, serves until SIGINT or
// SIGTERM, then prints a one-line JSON summary of request counts and exits 0.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fake/fake_openai_server.h"

namespace weakdistill::testing {
namespace {

constexpr const char* kUsage =
    "usage: fake_openai [--port N] [--latency-ms N] [--api-key K] [--threads N]\n"
    "                   [--embedding-dim N] [--faults SPEC] [--responder-file F]\n"
    "  --faults SPEC        comma-separated faults for the first requests, in order:\n"
    "                       CODE[:RETRY_AFTER_S] (e.g. 429:2, 500), hang:MS, reset,\n"
    "                       malformed, truncated, length; any may end in *N to repeat it\n"
    "  --responder-file F   JSONL: one reply content a line (a JSON string is used as is,\n"
    "                       any other JSON value as its dump), used in turn, cycling\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int parse_int(std::string_view text, std::string_view what) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    throw UsageError(std::string(what) + ": not an integer: '" + std::string(text) + "'");
  }
  return value;
}

double parse_seconds(std::string_view text) {
  try {
    std::size_t used = 0;
    const double value = std::stod(std::string(text), &used);
    if (used == text.size() && value >= 0) return value;
  } catch (const std::exception&) {
  }
  throw UsageError("fault: bad Retry-After seconds '" + std::string(text) + "'");
}

Fault parse_fault(std::string_view token) {
  const std::size_t colon = token.find(':');
  const std::string_view name = token.substr(0, colon);
  const std::optional<std::string_view> argument =
      colon == std::string_view::npos ? std::nullopt : std::optional(token.substr(colon + 1));
  auto no_argument = [&](Fault fault) {
    if (argument) throw UsageError("fault '" + std::string(token) + "' takes no argument");
    return fault;
  };
  if (name == "hang") {
    if (!argument) throw UsageError("fault 'hang' needs milliseconds, e.g. hang:3000");
    return Fault::hang(parse_int(*argument, "hang"));
  }
  if (name == "reset") return no_argument(Fault::reset());
  if (name == "malformed") return no_argument(Fault::malformed_json());
  if (name == "truncated") return no_argument(Fault::truncated_body());
  if (name == "length") return no_argument(Fault::finish_length());
  const int status = parse_int(name, "fault");
  if (status < 100 || status > 599) throw UsageError("fault: bad status " + std::string(name));
  return Fault::status_code(status, argument ? parse_seconds(*argument) : -1);
}

std::vector<Fault> parse_faults(std::string_view spec) {
  std::vector<Fault> faults;
  while (!spec.empty()) {
    const std::size_t comma = spec.find(',');
    std::string_view token = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (token.empty()) continue;
    int repeat = 1;
    if (const std::size_t star = token.find('*'); star != std::string_view::npos) {
      repeat = parse_int(token.substr(star + 1), "fault repeat");
      token = token.substr(0, star);
    }
    const Fault fault = parse_fault(token);
    faults.insert(faults.end(), static_cast<std::size_t>(std::max(repeat, 0)), fault);
  }
  return faults;
}

// A responder that hands out the file's contents in turn; the shared state keeps the
// std::function copyable, as Responder requires.
Responder file_responder(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot open responder file " + path);
  auto contents = std::make_shared<std::vector<std::string>>();
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const nlohmann::json value = nlohmann::json::parse(line, nullptr, false);
    if (value.is_discarded()) {
      throw UsageError(path + ":" + std::to_string(line_number) + ": not JSON");
    }
    contents->push_back(value.is_string() ? value.get<std::string>() : value.dump());
  }
  if (contents->empty()) throw UsageError("responder file " + path + " has no lines");
  auto next = std::make_shared<std::atomic<std::size_t>>(0);
  return [contents, next](const nlohmann::json&, int) {
    return (*contents)[next->fetch_add(1) % contents->size()];
  };
}

struct Arguments {
  FakeServerOptions options;
  std::vector<Fault> faults;
  std::string responder_file;
};

Arguments parse_arguments(int argc, char** argv) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    std::optional<std::string> value;
    if (const std::size_t equals = flag.find('='); equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag.resize(equals);
    }
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (!value) {
      if (i + 1 >= argc) throw UsageError(flag + " needs a value");
      value = argv[++i];
    }
    if (flag == "--port") {
      arguments.options.port = parse_int(*value, flag);
    } else if (flag == "--latency-ms") {
      arguments.options.latency_ms = parse_int(*value, flag);
    } else if (flag == "--api-key") {
      arguments.options.api_key = *value;
    } else if (flag == "--threads") {
      arguments.options.threads = parse_int(*value, flag);
      if (arguments.options.threads < 1) throw UsageError("--threads must be at least 1");
    } else if (flag == "--embedding-dim") {
      arguments.options.embedding_dim = parse_int(*value, flag);
      if (arguments.options.embedding_dim < 1) throw UsageError("--embedding-dim must be >= 1");
    } else if (flag == "--faults") {
      arguments.faults = parse_faults(*value);
    } else if (flag == "--responder-file") {
      arguments.responder_file = *value;
    } else {
      throw UsageError("unknown option " + flag);
    }
  }
  return arguments;
}

int run(int argc, char** argv) {
  Arguments arguments;
  Responder responder;
  try {
    arguments = parse_arguments(argc, argv);
    if (!arguments.responder_file.empty()) responder = file_responder(arguments.responder_file);
  } catch (const UsageError& error) {
    std::cerr << "fake_openai: " << error.what() << "\n" << kUsage;
    return 2;
  }

  // Blocked before the server starts its threads, which inherit the mask, so that
  // sigwait below is the only place these signals are taken.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = std::make_unique<FakeOpenAIServer>(arguments.options);
  for (const Fault& fault : arguments.faults) server->push_fault(fault);
  if (responder) server->set_responder(std::move(responder));
  std::cout << "listening on " << server->base_url() << std::endl;

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  const nlohmann::json summary = server->summary();
  server.reset();
  std::cout << summary.dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace weakdistill::testing

int main(int argc, char** argv) {
  try {
    return weakdistill::testing::run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "fake_openai: " << error.what() << "\n";
    return 1;
  }
}
