// Inference latency of a saved summarization student, one text at a time on
// one thread, per decoding beam width, and the size of its model folder.
//
// Usage:
//   sum_latency MODEL_DIR [INPUT.jsonl] [--beam N]... [--rounds N] [--limit N]
//
// INPUT.jsonl defaults to $WEAKDISTILL_DATA/sum/test.jsonl, else
// data/sum/test.jsonl. For each beam width (default: 1, i.e. greedy, and 4)
// the model is loaded like load_student() does but with the options
// threads=1 and beam=N. After a warm-up pass over the first 20 inputs, each of
// the rounds (default 1) calls predict() on every input alone (the first
// --limit inputs, default all) and times the call with steady_clock; the
// percentiles are over all rounds x inputs calls. Prints one JSON object.
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
#include "weakdistill/core/utf8.h"
#include "weakdistill/student/student.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: sum_latency MODEL_DIR [INPUT.jsonl] [--beam N]... [--rounds N] [--limit N]\n";

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
  std::vector<int> beams;
  int rounds = 1;
  std::size_t limit = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--beam" && i + 1 < argc) {
      beams.push_back(std::max(1, std::atoi(argv[++i])));
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--limit" && i + 1 < argc) {
      limit = static_cast<std::size_t>(std::max(0, std::atoi(argv[++i])));
    } else if (model_dir.empty()) {
      model_dir = a;
    } else if (input.empty()) {
      input = a;
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (model_dir.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (input.empty()) {
    const char* data = std::getenv("WEAKDISTILL_DATA");
    input = std::string(data ? data : "data") + "/sum/test.jsonl";
  }
  if (beams.empty()) beams = {1, 4};

  std::ifstream in(fs::path(model_dir) / "model.json");
  const auto manifest = nlohmann::json::parse(in);
  const auto task = weakdistill::parse_task(manifest.at("task").get<std::string>());
  weakdistill::ReadOptions read_options;
  read_options.unlabeled = true;
  auto samples = weakdistill::read_jsonl(input, task, read_options).samples;
  if (samples.empty()) throw std::runtime_error(input + ": no samples");
  if (limit > 0 && samples.size() > limit) samples.resize(limit);

  nlohmann::ordered_json out = {{"model", model_dir},
                                {"kind", manifest.at("kind")},
                                {"input", input},
                                {"samples", samples.size()},
                                {"rounds", rounds},
                                {"threads", 1},
                                {"model_bytes", folder_bytes(model_dir)},
                                {"decoding", nlohmann::ordered_json::array()}};
  for (const int beam : beams) {
    nlohmann::json options = manifest.value("options", nlohmann::json::object());
    options["threads"] = 1;
    if (options.contains("beam")) options["beam"] = beam;
    auto student = weakdistill::make_student(task, manifest.at("kind").get<std::string>(), options);
    student->load_files(model_dir);
    for (std::size_t i = 0; i < std::min<std::size_t>(20, samples.size()); ++i) {
      student->predict({samples[i]});  // warm-up
    }
    std::vector<double> micros;
    double chars = 0;
    micros.reserve(samples.size() * static_cast<std::size_t>(rounds));
    for (int r = 0; r < rounds; ++r) {
      for (const auto& s : samples) {
        const auto t0 = Clock::now();
        const auto p = student->predict({s});
        const auto t1 = Clock::now();
        if (p.size() != 1) throw std::runtime_error("predict returned no prediction");
        micros.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        chars += static_cast<double>(weakdistill::utf8::length(p[0].summary));
      }
    }
    double mean = 0;
    for (double m : micros) mean += m;
    mean /= static_cast<double>(micros.size());
    out["decoding"].push_back({{"beam", beam},
                               {"p50_us", percentile(micros, 0.50)},
                               {"p99_us", percentile(micros, 0.99)},
                               {"mean_us", mean},
                               {"mean_summary_chars", chars / static_cast<double>(micros.size())}});
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sum_latency: %s\n", e.what());
    return 1;
  }
}
