#include "run_progress.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "weakdistill/distill/run_store.h"

namespace weakdistill::distill_internal {

namespace fs = std::filesystem;

BestSoFar best_so_far(const std::vector<nlohmann::ordered_json>& rounds) {
  BestSoFar b;
  for (const auto& r : rounds) {
    const double e = r.at("dev_e").get<double>();
    if (e > b.best_e) {
      b.best_e = e;
      b.best_round = r.at("round").get<int>();
      b.since_best = 0;
    } else {
      ++b.since_best;
    }
  }
  return b;
}

std::optional<nlohmann::ordered_json> finished_metrics(const RunConfig& c,
                                                       const std::string& run_dir) {
  const fs::path dir(run_dir);
  if (!fs::is_regular_file(dir / "metrics.json") || !fs::is_regular_file(dir / "run.sqlite")) {
    return std::nullopt;
  }
  nlohmann::ordered_json metrics;
  {
    std::ifstream in(dir / "metrics.json", std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    metrics = nlohmann::ordered_json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  }
  if (!metrics.is_object() || !metrics.contains("rounds") || !metrics["rounds"].is_array() ||
      !metrics.contains("stop_reason") || !metrics["stop_reason"].is_string()) {
    return std::nullopt;  // not ours, or damaged: the full resume rewrites it
  }
  const auto stored = RunStore((dir / "run.sqlite").string()).rounds();
  const std::vector<nlohmann::ordered_json> rounds(stored.begin(), stored.end());
  if (rounds.empty() || metrics["rounds"].size() != rounds.size()) return std::nullopt;
  const BestSoFar b = best_so_far(rounds);
  const int next_round = static_cast<int>(rounds.size());
  const std::size_t train_size = rounds.back().value("train_size", std::size_t{0});
  const bool done = next_round > c.distill.rounds_limit() || b.since_best >= c.distill.patience ||
                    (c.distill.max_train != 0 && train_size >= c.distill.max_train) ||
                    metrics["stop_reason"] == "teacher_exhausted";
  if (!done) return std::nullopt;
  return metrics;
}

}  // namespace weakdistill::distill_internal
