// Throughput of the summarization metrics (ROUGE-1/2/L, BLEU-4) on LCSTS-sized pairs.
//
// Usage:
//   metrics_bench [benchmark flags] [PAIRS.jsonl]
//   metrics_bench --scores [PAIRS.jsonl]
//
// PAIRS.jsonl defaults to $WEAKDISTILL_DATA, else data/sum/test.jsonl. Each
// line's candidate is the first 20 code points of its "text" and its reference
// is its "summary" (the lengths of a summary, ~18 characters). The text-length
// benchmark scores each text (~107 characters) against the next one, so that
// the LCS spans two 64-bit words. When the file does not exist, deterministic
// synthetic Chinese pairs of the same lengths are used instead, and the program
// says so on stderr and in the benchmark context ("pairs_source").
//
// --scores prints the corpus scores as one JSON object (no timing), so that
// bench/compare_metrics.py can check that it computes the same numbers.
// Throughput is reported as items/s, one item being one pair.
#include <benchmark/benchmark.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/eval/summarization_metrics.h"

namespace {

namespace eval = weakdistill::eval;
namespace utf8 = weakdistill::utf8;

constexpr std::size_t kCandidateChars = 20;

struct Corpus {
  std::string source;                   // the file read, or a note that pairs are synthetic
  std::vector<std::string> candidates;  // raw UTF-8, first kCandidateChars of each text
  std::vector<std::string> references;  // raw UTF-8 summaries
  std::vector<std::string> texts;       // raw UTF-8 texts
  // The same after scoring_chars (whitespace removed).
  std::vector<std::u32string> candidate_chars, reference_chars, text_chars;
};

// The generator that bench/compare_metrics.py repeats exactly (PCG's LCG
// constants, top 31 bits), so that both sides score the same synthetic pairs.
class Lcg {
 public:
  std::uint64_t next() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return state_ >> 33;
  }

 private:
  std::uint64_t state_ = 0x5eed;
};

// 996 pairs like data/sum/test.jsonl: texts of 81..132 CJK characters drawn
// from an 800-character alphabet; summaries of 8..24 characters, built from
// runs of 2..5 characters copied from the text's first 40 and single random
// characters, so that candidates (the text's first 20) share n-grams with them.
void make_synthetic(Corpus& corpus) {
  Lcg rng;
  for (int i = 0; i < 996; ++i) {
    std::u32string text;
    const std::size_t text_length = 81 + rng.next() % 52;
    for (std::size_t k = 0; k < text_length; ++k) text.push_back(0x4E00 + rng.next() % 800);
    std::u32string summary;
    const std::size_t summary_length = 8 + rng.next() % 17;
    while (summary.size() < summary_length) {
      if (rng.next() % 2 == 0) {
        const std::size_t start = rng.next() % 36;
        const std::size_t run = 2 + rng.next() % 4;
        for (std::size_t k = 0; k < run && summary.size() < summary_length; ++k) {
          summary.push_back(text[start + k]);
        }
      } else {
        summary.push_back(0x4E00 + rng.next() % 800);
      }
    }
    corpus.texts.push_back(utf8::encode(text));
    corpus.references.push_back(utf8::encode(summary));
  }
}

Corpus load_corpus(const std::string& path) {
  Corpus corpus;
  if (std::filesystem::exists(path)) {
    corpus.source = path;
    for (auto& sample : weakdistill::read_jsonl(path, weakdistill::Task::kSummarization).samples) {
      corpus.texts.push_back(std::move(sample.text));
      corpus.references.push_back(std::move(sample.summary));
    }
  } else {
    corpus.source = "synthetic (" + path + " not found)";
    std::fprintf(stderr, "metrics_bench: %s not found; using 996 synthetic Chinese pairs\n",
                 path.c_str());
    make_synthetic(corpus);
  }
  for (std::size_t i = 0; i < corpus.texts.size(); ++i) {
    const std::u32string text = utf8::decode(corpus.texts[i]);
    corpus.candidates.push_back(utf8::encode(std::u32string_view(text).substr(0, kCandidateChars)));
    corpus.candidate_chars.push_back(eval::scoring_chars(corpus.candidates[i]));
    corpus.reference_chars.push_back(eval::scoring_chars(corpus.references[i]));
    corpus.text_chars.push_back(eval::scoring_chars(corpus.texts[i]));
  }
  return corpus;
}

const Corpus* g_corpus = nullptr;

void set_pairs_processed(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() *
                          static_cast<std::int64_t>(g_corpus->candidates.size()));
}

// ROUGE-L, summary-length candidate vs its reference summary (one 64-bit word).
void BM_RougeL_Summary(benchmark::State& state) {
  const Corpus& c = *g_corpus;
  for (auto _ : state) {
    for (std::size_t i = 0; i < c.candidate_chars.size(); ++i) {
      benchmark::DoNotOptimize(eval::rouge_l(c.candidate_chars[i], c.reference_chars[i]));
    }
  }
  set_pairs_processed(state);
}
BENCHMARK(BM_RougeL_Summary);

// ROUGE-L, text vs the next text (~107 characters each: two 64-bit words).
void BM_RougeL_Text(benchmark::State& state) {
  const Corpus& c = *g_corpus;
  const std::size_t n = c.text_chars.size();
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      benchmark::DoNotOptimize(eval::rouge_l(c.text_chars[i], c.text_chars[(i + 1) % n]));
    }
  }
  set_pairs_processed(state);
}
BENCHMARK(BM_RougeL_Text);

void BM_Rouge1(benchmark::State& state) {
  const Corpus& c = *g_corpus;
  for (auto _ : state) {
    for (std::size_t i = 0; i < c.candidate_chars.size(); ++i) {
      benchmark::DoNotOptimize(eval::rouge_n(c.candidate_chars[i], c.reference_chars[i], 1));
    }
  }
  set_pairs_processed(state);
}
BENCHMARK(BM_Rouge1);

void BM_Rouge2(benchmark::State& state) {
  const Corpus& c = *g_corpus;
  for (auto _ : state) {
    for (std::size_t i = 0; i < c.candidate_chars.size(); ++i) {
      benchmark::DoNotOptimize(eval::rouge_n(c.candidate_chars[i], c.reference_chars[i], 2));
    }
  }
  set_pairs_processed(state);
}
BENCHMARK(BM_Rouge2);

// BLEU-4 sufficient statistics over all pairs, then the corpus score.
void BM_Bleu4_Accumulate(benchmark::State& state) {
  const Corpus& c = *g_corpus;
  for (auto _ : state) {
    eval::BleuStats stats;
    for (std::size_t i = 0; i < c.candidate_chars.size(); ++i) {
      stats.add(c.candidate_chars[i], c.reference_chars[i]);
    }
    benchmark::DoNotOptimize(stats.bleu());
  }
  set_pairs_processed(state);
}
BENCHMARK(BM_Bleu4_Accumulate);

// The whole of summarization_metrics() on raw UTF-8: decoding, whitespace
// removal, ROUGE-1/2/L per pair and corpus BLEU-4. The figure compare_metrics.sh
// sets against plain Python.
void BM_SummarizationMetrics_Corpus(benchmark::State& state) {
  const Corpus& c = *g_corpus;
  for (auto _ : state) {
    benchmark::DoNotOptimize(eval::summarization_metrics(c.candidates, c.references));
  }
  set_pairs_processed(state);
}
BENCHMARK(BM_SummarizationMetrics_Corpus);

// The same scores compare_metrics.py prints, with 17 significant digits.
void print_scores(const Corpus& c) {
  const eval::SummarizationMetrics m = eval::summarization_metrics(c.candidates, c.references);
  double text_rouge_l = 0;
  const std::size_t n = c.text_chars.size();
  for (std::size_t i = 0; i < n; ++i) {
    text_rouge_l += eval::rouge_l(c.text_chars[i], c.text_chars[(i + 1) % n]).f1;
  }
  text_rouge_l /= static_cast<double>(n);
  std::printf(
      "{\"source\": \"%s\", \"pairs\": %zu, \"rouge1_f1\": %.17g, \"rouge2_f1\": %.17g, "
      "\"rougeL_f1\": %.17g, \"bleu4\": %.17g, \"rougeL_f1_text_pairs\": %.17g}\n",
      c.source.c_str(), m.n, m.rouge1.f1, m.rouge2.f1, m.rougeL.f1, m.bleu4, text_rouge_l);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);  // removes the flags it knows
  bool scores = false;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--scores") {
      scores = true;
    } else if (arg.starts_with("-") || !path.empty()) {
      std::fprintf(stderr, "metrics_bench: unexpected argument '%s'\n", argv[i]);
      std::fprintf(stderr, "Usage: metrics_bench [--scores] [benchmark flags] [PAIRS.jsonl]\n");
      return 2;
    } else {
      path = arg;
    }
  }
  if (path.empty()) {
    const char* env = std::getenv("WEAKDISTILL_DATA");
    path = env && *env ? env : "data/sum/test.jsonl";
  }
  try {
    static const Corpus corpus = load_corpus(path);
    if (corpus.candidates.empty()) {
      std::fprintf(stderr, "metrics_bench: %s has no pairs\n", path.c_str());
      return 2;
    }
    g_corpus = &corpus;
    if (scores) {
      print_scores(corpus);
      return 0;
    }
    benchmark::AddCustomContext("pairs_source", corpus.source);
    benchmark::AddCustomContext("pairs", std::to_string(corpus.candidates.size()));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "metrics_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
