// Inference latency of any saved student, one sample at a time on one thread,
// and the size of its model folder.
//
// Usage:
//   student_latency MODEL_DIR [INPUT.jsonl] [--rounds N] [--set key=value ...]
//
// INPUT.jsonl defaults to the task's test split under $WEAKDISTILL_DATA, else
// data/ (cls/, ner/ or sum/test.jsonl). The model is loaded like
// load_student() does but with the option threads=1, whatever it was trained
// with, and with the --set options on top (e.g. --set beam=1 for greedy
// decoding). After one warm-up pass,
// each of N rounds (default 3) calls predict() on every input alone and times
// the call with steady_clock; the percentiles are over all N x inputs calls.
// Then one predict() call on all inputs gives the batched throughput. Prints
// one JSON object.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/options.h"
#include "weakdistill/student/student.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::uintmax_t folder_bytes(const fs::path& dir) {
  std::uintmax_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

int run(int argc, char** argv) {
  std::string model_dir, input;
  int rounds = 3;
  std::vector<std::string> sets;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--set" && i + 1 < argc) {
      sets.push_back(argv[++i]);
    } else if (model_dir.empty()) {
      model_dir = a;
    } else if (input.empty()) {
      input = a;
    } else {
      std::fprintf(
          stderr,
          "usage: student_latency MODEL_DIR [INPUT.jsonl] [--rounds N] [--set key=value ...]\n");
      return 2;
    }
  }
  if (model_dir.empty()) {
    std::fprintf(
        stderr,
        "usage: student_latency MODEL_DIR [INPUT.jsonl] [--rounds N] [--set key=value ...]\n");
    return 2;
  }
  std::ifstream in(fs::path(model_dir) / "model.json");
  const auto manifest = nlohmann::json::parse(in);
  nlohmann::json options = manifest.value("options", nlohmann::json::object());
  options["threads"] = 1;
  weakdistill::merge_into(options, weakdistill::parse_assignments(sets));
  const auto task = weakdistill::parse_task(manifest.at("task").get<std::string>());
  if (input.empty()) {
    const char* data = std::getenv("WEAKDISTILL_DATA");
    const char* split = task == weakdistill::Task::kClassification ? "/cls/test.jsonl"
                        : task == weakdistill::Task::kNer          ? "/ner/test.jsonl"
                                                                   : "/sum/test.jsonl";
    input = std::string(data ? data : "data") + split;
  }
  auto student = weakdistill::make_student(task, manifest.at("kind").get<std::string>(), options);
  student->load_files(model_dir);

  const auto data = weakdistill::read_jsonl(input, task);
  const auto& samples = data.samples;
  if (samples.empty()) throw std::runtime_error(input + ": no samples");
  for (const auto& s : samples) student->predict({s});  // warm-up

  std::vector<double> micros;
  micros.reserve(samples.size() * static_cast<std::size_t>(rounds));
  for (int r = 0; r < rounds; ++r) {
    for (const auto& s : samples) {
      const auto t0 = Clock::now();
      const auto p = student->predict({s});
      const auto t1 = Clock::now();
      if (p.size() != 1) throw std::runtime_error("predict returned no prediction");
      micros.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
  }
  const auto t0 = Clock::now();
  student->predict(samples);
  const double batch_secs = std::chrono::duration<double>(Clock::now() - t0).count();

  double mean = 0;
  for (double m : micros) mean += m;
  mean /= static_cast<double>(micros.size());
  const nlohmann::ordered_json out = {
      {"model", model_dir},
      {"kind", manifest.at("kind")},
      {"options", options},
      {"input", input},
      {"samples", samples.size()},
      {"rounds", rounds},
      {"threads", 1},
      {"p50_us", percentile(micros, 0.50)},
      {"p99_us", percentile(micros, 0.99)},
      {"mean_us", mean},
      {"batched_samples_per_s", static_cast<double>(samples.size()) / batch_secs},
      {"model_bytes", folder_bytes(model_dir)},
  };
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "student_latency: %s\n", e.what());
    return 1;
  }
}
