// Load generator for `weakdistill serve`, and the in-process ceiling it is compared with
// (bench/compare_serve.sh, docs/PERFORMANCE.md "Serving").
//
// Usage:
//   serve_bench --url http://127.0.0.1:PORT --texts FILE.jsonl --concurrency C --requests N
//               [--texts-per-request K] [--warmup W] [--no-nodelay]
//   serve_bench --in-process MODEL_DIR --texts FILE.jsonl --batch B --threads T [--rounds R]
//
// FILE.jsonl: one JSON object a line with a "text" field (other fields are ignored).
//
// Against a server: C threads, each with its own keep-alive httplib::Client (TCP_NODELAY on, as
// curl sets it; --no-nodelay leaves Nagle on), send POST /v1/predict {"texts": [K texts]},
// taking the texts round-robin from the file (request i starts at text i*K). Each thread first
// sends W warm-up requests (default 5); once every thread has, the clock starts and the threads
// share N requests, each timed with steady_clock from before the send to after the answer was
// read. A request counts as an error when it gets no answer, a status other than 200 or a body
// that is not {"predictions": [...]}. GET /metrics, read before and after the timed phase, gives
// the texts per model call over that phase (weakdistill_batch_size_texts). Prints one JSON line.
//
// In process: loads the student as the server does, with load_student(dir, {}, nullopt,
// {"threads": T}), predicts min(64, texts) texts in batches of B to warm up, then R rounds
// (default 3) each call predict() on all the texts in batches of B (B = 1: one text a call), every
// call timed. texts_per_s is the best round's (other jobs share the machine); every_round lists
// them all; p50_ms/p99_ms are per call over all rounds. Prints one JSON line.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <latch>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "weakdistill/student/student.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: serve_bench --url http://HOST:PORT --texts FILE.jsonl --concurrency C --requests N\n"
    "                   [--texts-per-request K] [--warmup W] [--no-nodelay]\n"
    "       serve_bench --in-process MODEL_DIR --texts FILE.jsonl --batch B --threads T "
    "[--rounds R]\n";

struct Args {
  std::string url, in_process, texts;
  int concurrency = 1;
  long requests = 1000;
  int texts_per_request = 1;
  int warmup = 5;
  bool nodelay = true;
  int batch = 1;
  int threads = 1;
  int rounds = 3;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::vector<std::string> read_texts(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    out.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  }
  if (out.empty()) throw std::runtime_error(path + ": no texts");
  return out;
}

// The sum and count of the server's batch-size histogram, or nothing when /metrics does not say.
std::optional<std::pair<double, double>> batch_metrics(const std::string& url) {
  httplib::Client cli(url);
  cli.set_read_timeout(30, 0);
  const auto res = cli.Get("/metrics");
  if (!res || res->status != 200) return std::nullopt;
  auto value = [&](const std::string& name) -> std::optional<double> {
    const std::string key = "\n" + name + " ";
    const auto at = res->body.find(key);
    if (at == std::string::npos) return std::nullopt;
    return std::strtod(res->body.c_str() + at + key.size(), nullptr);
  };
  const auto sum = value("weakdistill_batch_size_texts_sum");
  const auto count = value("weakdistill_batch_size_texts_count");
  if (!sum || !count) return std::nullopt;
  return std::make_pair(*sum, *count);
}

int run_client(const Args& a) {
  const std::vector<std::string> texts = read_texts(a.texts);
  const std::size_t n = texts.size(), k = static_cast<std::size_t>(a.texts_per_request);
  // Bodies built beforehand, so that the timed loop does no JSON: request i sends bodies[i*K % n].
  std::vector<std::string> bodies(n);
  for (std::size_t s = 0; s < n; ++s) {
    nlohmann::json list = nlohmann::json::array();
    for (std::size_t j = 0; j < k; ++j) list.push_back(texts[(s + j) % n]);
    bodies[s] = nlohmann::json{{"texts", list}}.dump();
  }
  const auto body_of = [&](long i) -> const std::string& {
    return bodies[(static_cast<std::size_t>(i) * k) % n];
  };

  const int c = a.concurrency;
  std::latch warmed(c), go(1);
  std::atomic<long> next{0};
  std::atomic<long> errors{0}, warmup_errors{0};
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(c));
  std::vector<std::thread> threads;
  for (int t = 0; t < c; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client cli(a.url);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(a.nodelay);
      cli.set_connection_timeout(10, 0);
      cli.set_read_timeout(120, 0);
      auto send = [&](const std::string& body) {
        const auto res = cli.Post("/v1/predict", body, "application/json");
        return res && res->status == 200 && res->body.rfind("{\"predictions\":[", 0) == 0;
      };
      for (int w = 0; w < a.warmup; ++w) {
        if (!send(body_of(static_cast<long>(t) * a.warmup + w))) ++warmup_errors;
      }
      warmed.count_down();
      go.wait();
      auto& mine = latencies[static_cast<std::size_t>(t)];
      for (long i; (i = next.fetch_add(1)) < a.requests;) {
        const auto t0 = Clock::now();
        const bool ok = send(body_of(i));
        const auto t1 = Clock::now();
        if (ok) {
          mine.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        } else {
          ++errors;
        }
      }
    });
  }
  warmed.wait();
  const auto before = batch_metrics(a.url);
  const auto start = Clock::now();
  go.count_down();
  for (auto& th : threads) th.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const auto after = batch_metrics(a.url);

  std::vector<double> all;
  for (const auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  double mean = 0;
  for (double l : all) mean += l;
  mean = all.empty() ? 0 : mean / static_cast<double>(all.size());
  nlohmann::ordered_json out = {
      {"mode", "serve"},
      {"url", a.url},
      {"concurrency", c},
      {"requests", a.requests},
      {"texts_per_request", a.texts_per_request},
      {"seconds", seconds},
      {"requests_per_s", static_cast<double>(a.requests) / seconds},
      {"texts_per_s", static_cast<double>(a.requests) * static_cast<double>(k) / seconds},
      {"p50_ms", percentile(all, 0.50)},
      {"p99_ms", percentile(all, 0.99)},
      {"mean_ms", mean},
      {"max_ms", all.empty() ? 0 : *std::max_element(all.begin(), all.end())},
      {"errors", errors.load()},
      {"warmup_errors", warmup_errors.load()},
      {"nodelay", a.nodelay},
  };
  // Texts per model call over the timed phase; the /metrics request itself predicts nothing.
  if (before && after && after->second > before->second) {
    out["model_calls"] = after->second - before->second;
    out["mean_batch_texts"] = (after->first - before->first) / (after->second - before->second);
  } else {
    out["model_calls"] = nullptr;
    out["mean_batch_texts"] = nullptr;
  }
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return errors.load() == 0 && warmup_errors.load() == 0 ? 0 : 1;
}

int run_in_process(const Args& a) {
  const std::vector<std::string> texts = read_texts(a.texts);
  std::vector<weakdistill::Sample> samples(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) samples[i].text = texts[i];
  const std::unique_ptr<weakdistill::Student> student =
      weakdistill::load_student(a.in_process, {}, std::nullopt, {{"threads", a.threads}});
  const std::size_t b = static_cast<std::size_t>(a.batch);
  auto batch_at = [&](std::size_t at) {
    return std::vector<weakdistill::Sample>(
        samples.begin() + static_cast<std::ptrdiff_t>(at),
        samples.begin() + static_cast<std::ptrdiff_t>(std::min(at + b, samples.size())));
  };
  for (std::size_t at = 0; at < std::min<std::size_t>(64, samples.size()); at += b) {
    student->predict(batch_at(at));  // warm-up
  }
  std::vector<double> calls, rates;
  for (int r = 0; r < a.rounds; ++r) {
    const auto round_start = Clock::now();
    for (std::size_t at = 0; at < samples.size(); at += b) {
      const auto batch = batch_at(at);  // copied outside the timed call, as the server does
      const auto t0 = Clock::now();
      const auto p = student->predict(batch);
      const auto t1 = Clock::now();
      if (p.size() != batch.size()) throw std::runtime_error("predict returned too few predictions");
      calls.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    const double secs = std::chrono::duration<double>(Clock::now() - round_start).count();
    rates.push_back(static_cast<double>(samples.size()) / secs);
  }
  const nlohmann::ordered_json out = {
      {"mode", "in-process"},
      {"model", a.in_process},
      {"kind", std::string(student->kind())},
      {"texts", samples.size()},
      {"batch", a.batch},
      {"threads", a.threads},
      {"rounds", a.rounds},
      {"texts_per_s", *std::max_element(rates.begin(), rates.end())},
      {"every_round", rates},
      {"p50_ms", percentile(calls, 0.50)},
      {"p99_ms", percentile(calls, 0.99)},
  };
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

int run(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const bool has_value = i + 1 < argc;
    auto number = [&]() -> long {
      const char* v = argv[++i];
      char* end = nullptr;
      const long x = std::strtol(v, &end, 10);
      if (*end || x < 1) throw std::invalid_argument(s + ": not a positive integer: " + v);
      return x;
    };
    if (s == "--url" && has_value) {
      a.url = argv[++i];
    } else if (s == "--in-process" && has_value) {
      a.in_process = argv[++i];
    } else if (s == "--texts" && has_value) {
      a.texts = argv[++i];
    } else if (s == "--concurrency" && has_value) {
      a.concurrency = static_cast<int>(number());
    } else if (s == "--requests" && has_value) {
      a.requests = number();
    } else if (s == "--texts-per-request" && has_value) {
      a.texts_per_request = static_cast<int>(number());
    } else if (s == "--warmup" && has_value) {
      a.warmup = static_cast<int>(number());
    } else if (s == "--no-nodelay") {
      a.nodelay = false;
    } else if (s == "--batch" && has_value) {
      a.batch = static_cast<int>(number());
    } else if (s == "--threads" && has_value) {
      a.threads = static_cast<int>(number());
    } else if (s == "--rounds" && has_value) {
      a.rounds = static_cast<int>(number());
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (a.texts.empty() || a.url.empty() == a.in_process.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  return a.in_process.empty() ? run_client(a) : run_in_process(a);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "serve_bench: %s\n", e.what());
    return 1;
  }
}
