// The run folders the report's tests render: small, synthetic, one per task, written as
// `weakdistill run` writes them (metrics.json, rounds/01's sample and weakness files,
// config.yaml).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/temp_dir.h"
#include "weakdistill/report/report.h"

namespace weakdistill::report_testing {

using json = nlohmann::json;
using weakdistill::testing::read_file;
using weakdistill::testing::TempDir;

inline json dev_eval(const std::string& task, double e) {
  if (task == "classification") {
    return {{"task", task},
            {"accuracy", e},
            {"macro_f1", e - 0.01},
            {"per_label", {{"a", {{"precision", e}, {"recall", e}, {"f1", e}, {"support", 10}}}}}};
  }
  if (task == "ner") {
    return {{"task", task},
            {"precision", e + 0.01},
            {"recall", e - 0.01},
            {"f1", e},
            {"per_type", json::object()}};
  }
  const json prf = {{"precision", e}, {"recall", e}, {"f1", e}};
  return {{"task", task}, {"rouge1", prf}, {"rouge2", prf}, {"rougeL", prf}, {"bleu4", e / 2}};
}

// A run folder with `es.size()` rounds whose dev E are `es`; round 1 has accepted and rejected
// samples and its weakness file.
inline void make_run(const TempDir& dir, const std::string& task, const std::vector<double>& es,
                     bool simulated, bool leaks) {
  json m = {{"task", task},
            {"protocol", leaks ? "paper" : "clean"},
            {"teacher_kind", simulated ? "pool" : "openai"},
            {"simulated", simulated}};
  if (leaks) m["leaks"] = "dev is the test set: the test figure is not held out";
  std::size_t best = 0;
  json rounds = json::array();
  for (std::size_t r = 0; r < es.size(); ++r) {
    if (es[r] > es[best]) best = r;
    json per_label = json::object();
    if (task == "classification") {
      // Label b gets worse from round 0 on; label a gets better.
      per_label["a"] = {{"precision", es[r]}, {"recall", es[r]}, {"f1", es[r]}, {"support", 10}};
      per_label["b"] = {
          {"precision", 0.5}, {"recall", 0.5}, {"f1", 0.5 - 0.1 * r}, {"support", 10}};
    } else if (task == "ner") {
      per_label["PER"] = {{"precision", es[r]}, {"recall", es[r]}, {"f1", es[r]}, {"support", 5}};
    }
    json round = {{"round", r},
                  {"train_size", 100 + 50 * r},
                  {"requested", r == 0 ? 0 : 100},
                  {"parsed", r == 0 ? 0 : 90},
                  {"verified", r == 0 ? 0 : 80},
                  {"diverse", r == 0 ? 0 : 70},
                  {"accepted", r == 0 ? 0 : 50},
                  {"dev", dev_eval(task, es[r])},
                  {"dev_e", es[r]},
                  {"per_label", per_label},
                  {"teacher",
                   {{"requests", r == 0 ? 0 : 100},
                    {"http_requests", 0},
                    {"retries", 3},
                    {"failures", 1},
                    {"cache_hits", 7},
                    {"prompt_tokens", 1234},
                    {"completion_tokens", 567}}},
                  {"seconds", 1.5}};
    if (r > 0) round["rejected"] = {{"unparseable", 10}, {"over_quota", 20}};
    rounds.push_back(round);
  }
  m["rounds"] = rounds;
  m["best_round"] = best;
  m["test"] = dev_eval(task, 0.7);
  m["test_round0"] = dev_eval(task, 0.6);
  m["teacher"] = {
      {"requests", 100}, {"cached", 7},           {"http_requests", 0},      {"retries", 3},
      {"failed", 1},     {"prompt_tokens", 1234}, {"completion_tokens", 567}};
  dir.write("metrics.json", m.dump());
  dir.write("config.yaml", "task: " + task + "\nteacher:\n  kind: pool\n");
  std::filesystem::create_directories(dir.path() / "rounds" / "01");
  json sample = {{"text", "x <b>& \"q\" y"}};
  if (task == "classification") sample["label"] = "a";
  if (task == "ner") sample["entities"] = json::array();
  if (task == "summarization") sample["summary"] = "s";
  dir.write("rounds/01/accepted.jsonl", json{{"ordinal", 4294967296},
                                             {"seed_index", 1},
                                             {"outcome", "accepted"},
                                             {"sample", sample},
                                             {"diversity", 0.5}}
                                                .dump() +
                                            "\n");
  dir.write("rounds/01/rejected.jsonl", json{{"ordinal", 4294967297},
                                             {"seed_index", 0},
                                             {"outcome", "unparseable"},
                                             {"detail", "no JSON object"},
                                             {"reply", "see <i>https://example.com</i>"}}
                                                .dump() +
                                            "\n");
  dir.write("rounds/01/weakness.jsonl",
            json{{"index", 0}, {"set", "train"}, {"text", "seed zero"}, {"h", 1}}.dump() + "\n" +
                json{{"index", 1}, {"set", "train"}, {"text", "the seed <one>"}, {"h", 0}}.dump() +
                "\n");
}

inline std::size_t occurrences(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

inline std::string write(const TempDir& dir) {
  report::ReportOptions options;
  options.run_dir = dir.path().string();
  const report::ReportFiles files = report::write_report(options);
  EXPECT_EQ(files.html, (dir.path() / "report.html").string());
  return read_file(files.html);
}

}  // namespace weakdistill::report_testing
