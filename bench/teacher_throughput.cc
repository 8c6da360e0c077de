// Throughput of the teacher's HTTP client against an OpenAI-compatible server
// (normally tests/fake_openai with a fixed latency), for bench/compare_teacher.sh.
//
// Usage:
//   teacher_throughput --url URL [--requests N] [--concurrency C] [--latency-ms L]
//                      [--mode http|teacher] [--task classification|ner|summarization]
//                      [--body-out FILE]
//
// The request is the real teacher's: the built-in Chinese prompt of --task rendered for
// one fixed seed (seed_for below) and wrapped by OpenAITeacher::request_body (model
// "fake-model", default sampling options, no seed), so every request has the same body.
// --mode http (default) sends N copies with HttpClient::post_many at concurrency C,
// with the client's default timeouts and retries. --mode teacher runs
// OpenAITeacher::generate on N requests for that seed (ordinals 0..N-1, no cache):
// the same HTTP path plus prompt rendering and reply parsing. No warm-up: the
// connections are opened inside the timed call, as in a real run.
//
// Prints one JSON object: wall seconds of the one post_many / generate call,
// requests/s = N / wall, ideal = C / (L / 1000) (every slot always busy, zero
// overhead), ratio = achieved / ideal, and wave_ceiling = N / (ceil(N / C) * C), the
// best ratio possible when the C slots start together and the last wave is partial.
// failures = requests with no answer after retries; retries = attempts beyond the
// first. Per-request latency is not observable through post_many, so what is reported
// instead is the worker cycle: the time between two consecutive completions on the
// same worker thread (the first: since the call started), i.e. one request's latency
// plus the client's own per-request work (serialising the body, parsing the reply,
// waiting for the on_done lock). --body-out FILE also writes the request body (JSON,
// one line), so that the Python client sends exactly the same bytes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "weakdistill/net/http_client.h"
#include "weakdistill/teacher/openai_teacher.h"
#include "weakdistill/teacher/prompt.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: teacher_throughput --url URL [--requests N] [--concurrency C] [--latency-ms L]\n"
    "                          [--mode http|teacher] [--task classification|ner|summarization]\n"
    "                          [--body-out FILE]\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Arguments {
  std::string url;
  int requests = 2000;
  int concurrency = 64;
  int latency_ms = 200;
  std::string mode = "http";
  std::string task = "classification";
  std::string body_out;
};

int parse_positive(const std::string& text, const std::string& flag) {
  std::size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || value < 1) {
    throw UsageError(flag + ": expected a positive integer, got '" + text + "'");
  }
  return value;
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (i + 1 >= argc) throw UsageError(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--url") {
      a.url = value;
    } else if (flag == "--requests") {
      a.requests = parse_positive(value, flag);
    } else if (flag == "--concurrency") {
      a.concurrency = parse_positive(value, flag);
    } else if (flag == "--latency-ms") {
      a.latency_ms = parse_positive(value, flag);
    } else if (flag == "--mode") {
      if (value != "http" && value != "teacher") throw UsageError("--mode: http or teacher");
      a.mode = value;
    } else if (flag == "--task") {
      a.task = value;
    } else if (flag == "--body-out") {
      a.body_out = value;
    } else {
      throw UsageError("unknown option " + flag);
    }
  }
  if (a.url.empty()) throw UsageError("--url is required");
  return a;
}

// One realistic seed per task (news headline / sentence / article as in the paper's data).
weakdistill::Sample seed_for(weakdistill::Task task) {
  weakdistill::Sample s;
  switch (task) {
    case weakdistill::Task::kClassification:
      s.text = "北京高招最后一次补报志愿8月4日晚结束，未被录取的考生可登录市教育考试院网站填报";
      s.label = "education";
      break;
    case weakdistill::Task::kNer:
      s.text = "国务院总理李克强在北京人民大会堂会见了来访的德国总理默克尔";
      s.entities = {{5, 8, "PER", "李克强"},
                    {9, 11, "LOC", "北京"},
                    {11, 16, "LOC", "人民大会堂"},
                    {22, 24, "LOC", "德国"},
                    {26, 29, "PER", "默克尔"}};
      break;
    case weakdistill::Task::kSummarization:
      s.text =
          "国家统计局今天发布数据，今年前三季度国内生产总值同比增长百分之七点七，"
          "增速比上半年加快零点一个百分点。其中第三季度增长百分之七点八，"
          "消费对经济增长的贡献率继续提高，就业形势总体稳定。";
      s.summary = "前三季度GDP同比增长7.7%";
      break;
  }
  return s;
}

std::size_t code_points(const std::string& utf8) {
  return static_cast<std::size_t>(
      std::count_if(utf8.begin(), utf8.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Worker cycle times, recorded from on_done (which both post_many and generate serialise,
// so no lock is needed here).
class CycleRecorder {
 public:
  explicit CycleRecorder(Clock::time_point start) : start_(start) {}
  void record() {
    const auto now = Clock::now();
    auto [it, fresh] = last_.try_emplace(std::this_thread::get_id(), start_);
    cycles_ms_.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
    it->second = now;
    (void)fresh;
  }
  const std::vector<double>& cycles_ms() const { return cycles_ms_; }
  std::size_t threads() const { return last_.size(); }

 private:
  Clock::time_point start_;
  std::map<std::thread::id, Clock::time_point> last_;
  std::vector<double> cycles_ms_;
};

int run(int argc, char** argv) {
  Arguments args;
  try {
    args = parse_arguments(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "teacher_throughput: " << e.what() << "\n" << kUsage;
    return 2;
  }
  const weakdistill::Task task = weakdistill::parse_task(args.task);
  const weakdistill::Sample seed = seed_for(task);

  weakdistill::OpenAITeacherOptions options;
  options.http.base_urls = {args.url};
  options.http.concurrency = args.concurrency;
  options.model = "fake-model";
  options.language = "zh";
  options.cache = false;
  weakdistill::OpenAITeacher teacher(task, options, "");
  const std::vector<weakdistill::ChatMessage> messages = teacher.prompt().render(seed);
  const nlohmann::json body = teacher.request_body(messages, 0);
  const std::string body_text = body.dump();
  if (!args.body_out.empty()) {
    std::ofstream out(args.body_out);
    out << body_text << "\n";
    if (!out) throw std::runtime_error("cannot write " + args.body_out);
  }
  std::size_t prompt_chars = 0;
  for (const auto& m : messages) prompt_chars += code_points(m.content);

  const std::size_t n = static_cast<std::size_t>(args.requests);
  std::size_t failures = 0;
  long long retries = 0;
  std::optional<std::string> first_error;
  auto count = [&](bool ok, int attempts, const std::string& error) {
    if (!ok) {
      ++failures;
      if (!first_error) first_error = error;
    }
    retries += std::max(0, attempts - 1);
  };

  double wall_s = 0;
  std::vector<double> cycles_ms;
  std::size_t worker_threads = 0;
  if (args.mode == "http") {
    weakdistill::HttpClient client(options.http);
    const std::vector<nlohmann::json> bodies(n, body);
    const auto start = Clock::now();
    CycleRecorder cycles(start);
    const auto outcomes =
        client.post_many("/chat/completions", bodies,
                         [&](std::size_t, const weakdistill::HttpOutcome&) { cycles.record(); });
    wall_s = std::chrono::duration<double>(Clock::now() - start).count();
    for (const auto& o : outcomes) count(o.ok, o.attempts, o.error);
    cycles_ms = cycles.cycles_ms();
    worker_threads = cycles.threads();
  } else {
    std::vector<weakdistill::GenerationRequest> requests(n);
    for (std::size_t i = 0; i < n; ++i) requests[i] = {&seed, static_cast<std::uint64_t>(i)};
    const auto start = Clock::now();
    CycleRecorder cycles(start);
    const auto generations = teacher.generate(
        requests, [&](std::size_t, const weakdistill::Generation&) { cycles.record(); }, nullptr);
    wall_s = std::chrono::duration<double>(Clock::now() - start).count();
    for (const auto& g : generations) count(g.ok, g.attempts, g.error);
    cycles_ms = cycles.cycles_ms();
    worker_threads = cycles.threads();
  }

  const double achieved = static_cast<double>(n) / wall_s;
  const double ideal = args.concurrency / (args.latency_ms / 1000.0);
  const double waves = std::ceil(static_cast<double>(n) / args.concurrency);
  nlohmann::ordered_json report;
  report["client"] = args.mode == "http" ? "weakdistill HttpClient::post_many"
                                         : "weakdistill OpenAITeacher::generate";
  report["url"] = args.url;
  report["task"] = args.task;
  report["prompt_chars"] = prompt_chars;
  report["body_bytes"] = body_text.size();
  report["requests"] = n;
  report["concurrency"] = args.concurrency;
  report["latency_ms"] = args.latency_ms;
  report["wall_s"] = wall_s;
  report["requests_per_s"] = achieved;
  report["ideal_requests_per_s"] = ideal;
  report["ratio"] = achieved / ideal;
  report["wave_ceiling"] = static_cast<double>(n) / (waves * args.concurrency);
  report["failures"] = failures;
  report["retries"] = retries;
  report["worker_threads_seen"] = worker_threads;
  report["worker_cycle_ms"] = {{"p50", percentile(cycles_ms, 0.50)},
                               {"p99", percentile(cycles_ms, 0.99)},
                               {"max", percentile(cycles_ms, 1.0)}};
  if (first_error) report["first_error"] = *first_error;
  std::cout << report.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "teacher_throughput: " << e.what() << "\n";
    return 1;
  }
}
