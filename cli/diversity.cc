// weakdistill diversity: the diversity selection alone (SPEC.md "Diversity").
#include "weakdistill/embed/diversity.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "config_sections.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/options.h"
#include "weakdistill/embed/embedder.h"

namespace weakdistill::cli {
namespace {

struct DiversityArgs {
  std::string config;
  std::string labeled;
  std::string candidates;
  std::string output;
  std::size_t keep = 0;
  std::string cache;
  std::vector<std::string> sets;
};

// The default of distill.dist_min (docs/CONFIG.md says why this value).
constexpr double kDefaultDistMin = 0.1;

// distill.dist_min of the config (kDefaultDistMin when absent).
double read_dist_min(const nlohmann::json& config) {
  const nlohmann::json distill = config_section(config, "distill");
  double dist_min = kDefaultDistMin;
  if (distill.contains("dist_min")) {
    if (!distill["dist_min"].is_number()) {
      throw InputError("distill.dist_min: expected a number, got " + distill["dist_min"].dump());
    }
    dist_min = distill["dist_min"].get<double>();
  }
  if (!(dist_min >= 0 && dist_min <= 2)) {
    throw InputError("distill.dist_min: must be in [0, 2] (a cosine distance)");
  }
  return dist_min;
}

void run_diversity(const DiversityArgs& a) {
  const nlohmann::json config = load_config(a.config, a.sets);
  const Task task = config_task(config, a.config);
  const double dist_min = read_dist_min(config);
  auto embedder = make_embedder(config_section(config, "embedder"), a.cache);
  const Dataset labeled = read_jsonl(a.labeled, task);
  ReadOptions lenient;
  lenient.allow_empty = true;
  const Dataset candidates = read_jsonl(a.candidates, task, lenient);
  std::vector<std::string> texts;
  for (const auto& s : labeled.samples) texts.push_back(s.text);
  embedder->fit(texts);
  const EmbeddingMatrix lv = embedder->embed(texts);
  texts.clear();
  for (const auto& s : candidates.samples) texts.push_back(s.text);
  const EmbeddingMatrix cv = embedder->embed(texts);
  DiversityOptions options;
  options.dist_min = dist_min;
  options.keep = a.keep;
  const DiversityResult r = select_diverse(lv, cv, options);
  AtomicFile out(a.output);
  for (std::size_t i = 0; i < candidates.samples.size(); ++i) {
    nlohmann::ordered_json j = to_json(candidates.samples[i], task);
    j["diversity"] = r.diversity[i];
    j["kept"] = static_cast<bool>(r.kept[i]);
    out.stream() << j.dump() << '\n';
  }
  out.commit();
  spdlog::info("kept {} of {} candidates (dist_min {}, keep {}, {} labeled); wrote {}",
               r.order.size(), candidates.samples.size(), dist_min, a.keep, labeled.samples.size(),
               a.output);
}

}  // namespace

void add_diversity(CLI::App& app) {
  auto args = std::make_shared<DiversityArgs>();
  CLI::App* cmd = app.add_subcommand(
      "diversity", "Keep the candidates farthest from the labeled set (greedy farthest-first)");
  cmd->add_option("--config", args->config, "Run config (YAML): task, embedder, distill.dist_min")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--labeled", args->labeled, "JSONL of labeled samples")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--candidates", args->candidates, "JSONL of candidate samples")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--keep", args->keep, "At most this many are kept (a round's per_round)")
      ->required();
  cmd->add_option("--output", args->output,
                  "JSONL: every candidate in input order plus \"diversity\" and \"kept\"")
      ->required();
  cmd->add_option("--cache", args->cache, "SQLite file caching remote embedders' vectors");
  cmd->add_option("--set", args->sets, "Override a config key: key=value (repeatable)");
  cmd->footer(
      "Example:\n"
      "  weakdistill diversity --config examples/cls-augment.yaml --labeled few.jsonl \\\n"
      "      --candidates generated.jsonl --keep 100 --output judged.jsonl --set "
      "distill.dist_min=0.2\n");
  cmd->callback([args] { run_diversity(*args); });
}

}  // namespace weakdistill::cli
