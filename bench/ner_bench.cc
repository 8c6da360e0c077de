// Timing of the bigru-crf ner student, for bench/ner_train_compare.sh.
//
// Usage:
//   ner_bench train TRAIN.jsonl [--epochs N] [--threads K] [--seed S] [--set key=value ...]
//       Trains N epochs (default 3, no dev set) and prints one JSON object:
//       the seconds and mean loss of every epoch and the median samples/s.
//   ner_bench latency MODEL_DIR INPUT.jsonl [--n N]
//       Loads the model on one thread and predicts the first N sentences
//       (default 1000) one at a time, after 20 warm-up calls; prints one JSON
//       object with the p50, p99 and mean milliseconds per sentence and the
//       model folder's size on disk in bytes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/options.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/student/student.h"

namespace {

using namespace weakdistill;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The value at quantile q (nearest rank).
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

int train(const std::vector<std::string>& args) {
  nlohmann::json options = nlohmann::json::object();
  std::vector<std::string> sets;
  std::string path;
  int epochs = 3;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&] {
      if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
      return args[++i];
    };
    if (a == "--epochs") {
      epochs = std::stoi(value());
    } else if (a == "--threads") {
      sets.push_back("threads=" + value());
    } else if (a == "--seed") {
      sets.push_back("seed=" + value());
    } else if (a == "--set") {
      sets.push_back(value());
    } else {
      path = a;
    }
  }
  if (path.empty()) throw UsageError("train: no TRAIN.jsonl");
  sets.push_back("epochs=" + std::to_string(epochs));
  options = parse_assignments(sets);
  const Dataset data = read_jsonl(path, Task::kNer);
  auto student = make_student(Task::kNer, "bigru-crf", options);
  std::vector<double> seconds, losses;
  student->on_epoch = [&](const EpochReport& r) {
    seconds.push_back(r.seconds);
    losses.push_back(r.train_loss);
    std::cerr << "epoch " << r.epoch << "/" << r.epochs << "  loss " << r.train_loss << "  ("
              << r.seconds << "s)\n";
  };
  student->train(data.samples, {});
  const auto n = static_cast<double>(data.samples.size());
  std::cout << nlohmann::json{{"implementation", "weakdistill libtorch"},
                              {"samples", data.samples.size()},
                              {"options", student->options()},
                              {"epoch_seconds", seconds},
                              {"epoch_loss", losses},
                              {"samples_per_second", n / median(seconds)}}
                   .dump()
            << "\n";
  return 0;
}

int latency(const std::vector<std::string>& args) {
  std::vector<std::string> positional;
  std::size_t n = 1000;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--n" && i + 1 < args.size()) {
      n = std::stoul(args[++i]);
    } else {
      positional.push_back(args[i]);
    }
  }
  if (positional.size() != 2) throw UsageError("latency: needs MODEL_DIR and INPUT.jsonl");
  const std::string dir = positional[0];
  // The saved options with one thread: load_student() would use the saved thread count.
  std::ifstream in(dir + "/model.json");
  const auto manifest = nlohmann::json::parse(in);
  nlohmann::json options = manifest.at("options");
  options["threads"] = 1;
  auto student = make_student(Task::kNer, manifest.at("kind").get<std::string>(), options);
  student->load_files(dir);

  ReadOptions read;
  read.unlabeled = true;
  const Dataset data = read_jsonl(positional[1], Task::kNer, read);
  n = std::min(n, data.samples.size());
  for (std::size_t i = 0; i < std::min<std::size_t>(20, n); ++i)
    student->predict({data.samples[i]});
  std::vector<double> ms;
  for (std::size_t i = 0; i < n; ++i) {
    const auto start = Clock::now();
    student->predict({data.samples[i]});
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::uintmax_t bytes = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (f.is_regular_file()) bytes += f.file_size();
  }
  double sum = 0;
  for (double x : ms) sum += x;
  std::cout << nlohmann::json{{"sentences", n},
                              {"threads", 1},
                              {"p50_ms", quantile(ms, 0.5)},
                              {"p99_ms", quantile(ms, 0.99)},
                              {"mean_ms", sum / static_cast<double>(n)},
                              {"model_bytes", bytes}}
                   .dump()
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + std::min(argc, 2), argv + argc);
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    Progress::set_enabled(false);
    if (mode == "train") return train(args);
    if (mode == "latency") return latency(args);
    std::cerr << "usage: ner_bench train TRAIN.jsonl [--epochs N] [--threads K] [--seed S] "
                 "[--set key=value ...]\n"
                 "       ner_bench latency MODEL_DIR INPUT.jsonl [--n N]\n";
    return 2;
  } catch (const UsageError& e) {
    std::cerr << "ner_bench: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ner_bench: " << e.what() << "\n";
    return 1;
  }
}
