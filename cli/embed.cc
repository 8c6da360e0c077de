// weakdistill embed: the configured embedder's vectors of a JSONL file, as .npy.
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "config_sections.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/npy.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/embed/embedder.h"

namespace weakdistill::cli {
namespace {

struct EmbedArgs {
  std::string config;
  std::string input;
  std::string output;
  std::string fit;
  std::string cache;
  std::vector<std::string> sets;
};

void run_embed(const EmbedArgs& a) {
  const nlohmann::json config = load_config(a.config, a.sets);
  const Task task = config_task(config, a.config);
  auto embedder = make_embedder(config_section(config, "embedder"), a.cache);
  ReadOptions unlabeled;
  unlabeled.unlabeled = true;
  const Dataset in = read_jsonl(a.input, task, unlabeled);
  // What the embedder learns (the hashing embedder's IDF) comes from the
  // labeled set of a run; here from --fit, else data.train, else the input.
  std::string fit_path = a.fit;
  const nlohmann::json data = config_section(config, "data");
  if (fit_path.empty() && data.contains("train") && data["train"].is_string()) {
    fit_path = data["train"].get<std::string>();
  }
  std::vector<std::string> fit_texts;
  if (fit_path.empty()) {
    for (const auto& s : in.samples) fit_texts.push_back(s.text);
  } else {
    for (const auto& s : read_jsonl(fit_path, task, unlabeled).samples) fit_texts.push_back(s.text);
  }
  embedder->fit(fit_texts);
  spdlog::info("embedding {} texts with the {} embedder (fitted on {})", in.samples.size(),
               embedder->kind(), fit_path.empty() ? a.input : fit_path);
  // Chunks, for progress and so that a remote embedder's cache fills as it goes.
  constexpr std::size_t kChunk = 4096;
  Progress progress("embed", in.samples.size(), "texts");
  std::vector<float> all;
  std::size_t dim = 0;
  for (std::size_t begin = 0; begin < in.samples.size(); begin += kChunk) {
    const std::size_t end = std::min(in.samples.size(), begin + kChunk);
    std::vector<std::string> texts;
    for (std::size_t i = begin; i < end; ++i) texts.push_back(in.samples[i].text);
    const EmbeddingMatrix m = embedder->embed(texts);
    dim = m.dim();
    all.insert(all.end(), m.data(), m.data() + m.rows() * m.dim());
    progress.advance(end - begin);
  }
  progress.finish();
  if (dim == 0) dim = embedder->dim();
  write_npy_f32(a.output, all.data(), in.samples.size(), dim);
  spdlog::info("wrote {} × {} float32 to {}", in.samples.size(), dim, a.output);
}

}  // namespace

void add_embed(CLI::App& app) {
  auto args = std::make_shared<EmbedArgs>();
  CLI::App* cmd = app.add_subcommand("embed", "Embed the texts of a JSONL file into a .npy matrix");
  cmd->add_option("--config", args->config, "Run config (YAML): task and embedder")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--input", args->input, "JSONL file with \"text\" on every line")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--output", args->output, "float32 .npy file, one row per input line, in order")
      ->required();
  cmd->add_option("--fit", args->fit,
                  "JSONL whose texts the embedder is fitted on (hashing: IDF); default data.train "
                  "of the config, else the input")
      ->check(CLI::ExistingFile);
  cmd->add_option("--cache", args->cache, "SQLite file caching remote embedders' vectors");
  cmd->add_option("--set", args->sets, "Override a config key: key=value (repeatable)");
  cmd->footer(
      "Example:\n"
      "  weakdistill embed --config examples/cls-augment.yaml --input data/cls/dev.jsonl "
      "--output dev.npy\n"
      "  python3 -c \"import numpy; print(numpy.load('dev.npy').shape)\"\n");
  cmd->callback([args] { run_embed(*args); });
}

}  // namespace weakdistill::cli
