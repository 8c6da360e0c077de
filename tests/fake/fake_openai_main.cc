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
    "                   [--response-formats LIST] [--no-check-schema] [--enforce-schema]\n"
    "                   [--reasoning-field NAME] [--samples-file F [--samples-per-reply N]\n"
    "                   [--reasoning-chars N] [--think]]\n"
    "  --faults SPEC        comma-separated faults for the first requests, in order:\n"
    "                       CODE[:RETRY_AFTER_S] (e.g. 429:2, 500), hang:MS, reset,\n"
    "                       malformed, truncated, length; any may end in *N to repeat it\n"
    "  --responder-file F   JSONL: one reply content a line (a JSON string is used as is,\n"
    "                       any other JSON value as its dump), used in turn, cycling\n"
    "  --response-formats LIST  response_format types accepted, comma-separated, among\n"
    "                       text, json_object, json_schema (default: all three); another\n"
    "                       type gets 400 with param response_format ('' accepts none)\n"
    "  --no-check-schema    accept any schema (by default one outside the flat subset, or\n"
    "                       one breaking OpenAI's rules under \"strict\": true, gets 400)\n"
    "  --enforce-schema     answer 500 when a reply's content (after a leading\n"
    "                       <think>...</think>) is not JSON valid under the request's schema\n"
    "  --reasoning-field NAME  the message field for reasoning (default reasoning_content;\n"
    "                       newer vLLM and Ollama use reasoning)\n"
    "  --samples-file F     JSONL, one sample object a line in the task's shape, e.g.\n"
    "                       {\"text\": ..., \"label\": ...}; \"id\", and keys that a schema with\n"
    "                       additionalProperties false does not name, are dropped. Each\n"
    "                       choice carries the next k samples, cycling: k = maxItems of the\n"
    "                       request schema's \"samples\" array, else --samples-per-reply (at\n"
    "                       least that array's minItems), else 1. Content: the sample object\n"
    "                       when k is 1 and the schema has no \"samples\", else\n"
    "                       {\"samples\": [...]}; either way with a \"reasoning\" key first when\n"
    "                       the schema has one. Not with --responder-file\n"
    "  --samples-per-reply N  samples a reply carries when the request's schema does not say\n"
    "  --reasoning-chars N  reasoning filler length in characters (\"推理过程\" repeated;\n"
    "                       default 0), sent in the schema's \"reasoning\" key when it has one,\n"
    "                       else in a leading <think> block with --think, else in the\n"
    "                       reasoning field\n"
    "  --think              reasoning as \"<think>\\n...\\n</think>\\n\\n\" before the JSON\n";

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

// Samples in the task's shape, one JSON object a line, their key order kept.
std::vector<nlohmann::ordered_json> read_samples_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot open samples file " + path);
  std::vector<nlohmann::ordered_json> samples;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::ordered_json value = nlohmann::ordered_json::parse(line, nullptr, false);
    if (value.is_discarded() || !value.is_object()) {
      throw UsageError(path + ":" + std::to_string(line_number) + ": not a JSON object");
    }
    samples.push_back(std::move(value));
  }
  if (samples.empty()) throw UsageError("samples file " + path + " has no samples");
  return samples;
}

std::vector<std::string> parse_formats(std::string_view list) {
  std::vector<std::string> formats;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (name.empty()) continue;
    if (name != "text" && name != "json_object" && name != "json_schema") {
      throw UsageError("--response-formats: unknown type '" + std::string(name) +
                       "' (known: text, json_object, json_schema)");
    }
    formats.emplace_back(name);
  }
  return formats;
}

struct Arguments {
  FakeServerOptions options;
  std::vector<Fault> faults;
  std::string responder_file;
  std::string samples_file;
  SamplesReplyOptions samples;
  bool samples_options_given = false;  // only meaningful with --samples-file
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
    if (flag == "--enforce-schema" || flag == "--no-check-schema" || flag == "--think") {
      if (value) throw UsageError(flag + " takes no value");
      if (flag == "--enforce-schema") arguments.options.enforce_schema = true;
      if (flag == "--no-check-schema") arguments.options.check_schema = false;
      if (flag == "--think") {
        arguments.samples.think = true;
        arguments.samples_options_given = true;
      }
      continue;
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
    } else if (flag == "--response-formats") {
      arguments.options.response_formats = parse_formats(*value);
    } else if (flag == "--reasoning-field") {
      if (value->empty()) throw UsageError("--reasoning-field needs a name");
      arguments.options.reasoning_field = *value;
    } else if (flag == "--samples-file") {
      arguments.samples_file = *value;
    } else if (flag == "--samples-per-reply") {
      arguments.samples.samples_per_reply = parse_int(*value, flag);
      if (arguments.samples.samples_per_reply < 1) {
        throw UsageError("--samples-per-reply must be at least 1");
      }
      arguments.samples_options_given = true;
    } else if (flag == "--reasoning-chars") {
      arguments.samples.reasoning_chars = parse_int(*value, flag);
      if (arguments.samples.reasoning_chars < 0) throw UsageError("--reasoning-chars must be >= 0");
      arguments.samples_options_given = true;
    } else {
      throw UsageError("unknown option " + flag);
    }
  }
  if (!arguments.samples_file.empty() && !arguments.responder_file.empty()) {
    throw UsageError("--samples-file and --responder-file cannot be used together");
  }
  if (arguments.samples_options_given && arguments.samples_file.empty()) {
    throw UsageError("--samples-per-reply, --reasoning-chars and --think need --samples-file");
  }
  return arguments;
}

int run(int argc, char** argv) {
  Arguments arguments;
  Responder responder;
  ChoiceResponder choice_responder;
  try {
    arguments = parse_arguments(argc, argv);
    if (!arguments.responder_file.empty()) responder = file_responder(arguments.responder_file);
    if (!arguments.samples_file.empty()) {
      choice_responder =
          samples_responder(read_samples_file(arguments.samples_file), arguments.samples);
    }
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
  if (choice_responder) server->set_choice_responder(std::move(choice_responder));
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
