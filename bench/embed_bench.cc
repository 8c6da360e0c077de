// Throughput of the `hashing` embedder (TF-IDF over character 1-3-grams,
// feature-hashed to 1024 dimensions) on the LCSTS texts.
//
// Usage:
//   embed_bench [benchmark flags] [TEXTS.jsonl]
//
// TEXTS.jsonl defaults to $WEAKDISTILL_DATA, else data/sum/train.jsonl
// (~8,400 texts of ~107 characters, copied by scripts/get-data.sh); when it
// does not exist the program says so and exits 0, as there is nothing
// representative to time. Every benchmark fits on all texts first:
//   BM_Fit             fit() on all texts (items = texts counted)
//   BM_Embed/T         one embed() call on all texts with threads = T
//                      (items/s = texts/s; T = 0 means all cores)
//   BM_EmbedOneByOne   embed() per text on one thread: the per-call cost that
//                      callers embedding a sample at a time pay
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "weakdistill/core/jsonl.h"
#include "weakdistill/embed/hashing_embedder.h"

namespace {

using weakdistill::HashingEmbedder;
using weakdistill::HashingEmbedderOptions;

const std::vector<std::string>* g_texts = nullptr;

HashingEmbedder fitted(int threads) {
  HashingEmbedderOptions options;
  options.threads = threads;
  HashingEmbedder embedder(options);
  embedder.fit(*g_texts);
  return embedder;
}

void BM_Fit(benchmark::State& state) {
  HashingEmbedder embedder;
  for (auto _ : state) embedder.fit(*g_texts);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g_texts->size()));
}
BENCHMARK(BM_Fit)->Unit(benchmark::kMillisecond);

void BM_Embed(benchmark::State& state) {
  const HashingEmbedder embedder = fitted(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    const auto m = embedder.embed(*g_texts);
    benchmark::DoNotOptimize(m.data());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g_texts->size()));
}
// Real time: with threads, CPU time of the calling thread alone would flatter.
BENCHMARK(BM_Embed)->Arg(1)->Arg(2)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_EmbedOneByOne(benchmark::State& state) {
  const HashingEmbedder embedder = fitted(1);
  std::vector<std::vector<std::string>> singles;
  for (const auto& t : *g_texts) singles.push_back({t});
  for (auto _ : state) {
    for (const auto& one : singles) {
      const auto m = embedder.embed(one);
      benchmark::DoNotOptimize(m.data());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(g_texts->size()));
}
BENCHMARK(BM_EmbedOneByOne)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);  // removes the flags it knows
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("-") || !path.empty()) {
      std::fprintf(stderr, "embed_bench: unexpected argument '%s'\n", argv[i]);
      std::fprintf(stderr, "Usage: embed_bench [benchmark flags] [TEXTS.jsonl]\n");
      return 2;
    }
    path = arg;
  }
  if (path.empty()) {
    const char* env = std::getenv("WEAKDISTILL_DATA");
    path = env && *env ? env : "data/sum/train.jsonl";
  }
  if (!std::filesystem::exists(path)) {
    std::fprintf(stderr,
                 "embed_bench: %s not found, skipping (run scripts/get-data.sh, or give a "
                 "JSONL file with \"text\" fields)\n",
                 path.c_str());
    return 0;
  }
  try {
    weakdistill::ReadOptions read_options;
    read_options.unlabeled = true;  // only "text" is used, whatever the task
    const auto dataset =
        weakdistill::read_jsonl(path, weakdistill::Task::kSummarization, read_options);
    static std::vector<std::string> texts;
    for (const auto& s : dataset.samples) texts.push_back(s.text);
    if (texts.empty()) {
      std::fprintf(stderr, "embed_bench: %s has no texts\n", path.c_str());
      return 2;
    }
    g_texts = &texts;
    benchmark::AddCustomContext("texts_source", path);
    benchmark::AddCustomContext("texts", std::to_string(texts.size()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embed_bench: %s\n", e.what());
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
