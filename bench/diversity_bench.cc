// Diversity selection's heavy step, the min distance of every candidate to the
// labeled set (min_distances in weakdistill/embed/diversity.h), against plain
// cblas_sgemm doing the same multiply-adds in the same run.
//
//   diversity_bench [--candidates 100000] [--labeled 20000] [--dim 512] [--threads 0]
//                   [--block-bytes 67108864] [--big-bytes 1073741824] [--reps 1]
//                   [--seed 1] [--npy-dir DIR] [--no-big] [--keep N [--dist-min X]]
//
// Inputs: random unit vectors (normal components, normalised), fixed seed.
// Timed after an untimed warm-up, best of --reps each, the three interleaved
// (order alternating between repetitions):
//   ours       min_distances: blocked SGEMM of candidates × labeledᵀ into a reused
//              score block of at most --block-bytes, then each row's max dot.
//   sgemm      plain cblas_sgemm over exactly the blocks `ours` uses (same shapes,
//              same count), writing into one reused buffer, no reduction: what the
//              FLOPs cost with nothing else.
//   sgemm_big  plain cblas_sgemm with blocks of all labeled columns × as many
//              candidate rows as fit in --big-bytes (1 GiB), in case small blocks
//              slow SGEMM itself. The full C × L product (8 GB at the default
//              sizes) is never materialised.
// GFLOP/s = 2·C·L·dim / seconds for all three. Peak RSS is getrusage's ru_maxrss,
// read after generating the data and after `ours` (before the plain runs).
// With --keep N, then also times one whole select_diverse (min distances, greedy
// loop, final pass) keeping at most N with --dist-min, and reports its counters.
// With --npy-dir, writes candidates.npy, labeled.npy and ours.npy (float32, the
// min distances) there for bench/diversity_numpy.py. Prints one JSON object.
#include <cblas.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "weakdistill/core/npy.h"
#include "weakdistill/embed/diversity.h"

namespace {

using weakdistill::EmbeddingMatrix;
using Clock = std::chrono::steady_clock;

struct Args {
  std::size_t candidates = 100000, labeled = 20000, dim = 512;
  int threads = 0;
  std::size_t block_bytes = std::size_t{64} << 20;
  std::size_t big_bytes = std::size_t{1} << 30;
  int reps = 1;
  unsigned seed = 1;
  std::string npy_dir;
  bool big = true;
  std::size_t keep = 0;  // > 0: also time the whole select_diverse
  double dist_min = 0.0;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "diversity_bench: %s\nusage: diversity_bench [--candidates N] [--labeled N] "
               "[--dim N] [--threads N] [--block-bytes N] [--big-bytes N] [--reps N] [--seed N] "
               "[--npy-dir DIR] [--no-big] [--keep N [--dist-min X]]\n",
               why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--no-big") {
      a.big = false;
      continue;
    }
    if (i + 1 >= argc) usage(("missing value for " + flag).c_str());
    const std::string value = argv[++i];
    auto number = [&] {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0') usage(("bad number for " + flag).c_str());
      return static_cast<std::size_t>(v);
    };
    if (flag == "--candidates") {
      a.candidates = number();
    } else if (flag == "--labeled") {
      a.labeled = number();
    } else if (flag == "--dim") {
      a.dim = number();
    } else if (flag == "--threads") {
      a.threads = static_cast<int>(number());
    } else if (flag == "--block-bytes") {
      a.block_bytes = number();
    } else if (flag == "--big-bytes") {
      a.big_bytes = number();
    } else if (flag == "--reps") {
      a.reps = std::max(1, static_cast<int>(number()));
    } else if (flag == "--seed") {
      a.seed = static_cast<unsigned>(number());
    } else if (flag == "--npy-dir") {
      a.npy_dir = value;
    } else if (flag == "--keep") {
      a.keep = number();
    } else if (flag == "--dist-min") {
      char* end = nullptr;
      a.dist_min = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0') usage("bad number for --dist-min");
    } else {
      usage(("unknown flag " + flag).c_str());
    }
  }
  if (a.candidates == 0 || a.labeled == 0 || a.dim == 0) usage("sizes must be positive");
  return a;
}

EmbeddingMatrix random_unit_rows(std::size_t rows, std::size_t dim, std::mt19937_64& rng) {
  EmbeddingMatrix m(rows, dim);
  std::normal_distribution<float> normal;
  for (std::size_t i = 0; i < rows; ++i) {
    float* r = m.row(i);
    double norm = 0;
    for (std::size_t k = 0; k < dim; ++k) {
      r[k] = normal(rng);
      norm += double{r[k]} * r[k];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (std::size_t k = 0; k < dim; ++k) r[k] *= inv;
  }
  return m;
}

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Plain SGEMM over candidate blocks of `rows` × labeled blocks of `cols` (the
// tail blocks smaller, exactly as min_distances tiles), into one reused buffer.
double time_plain_sgemm(const EmbeddingMatrix& c, const EmbeddingMatrix& l, std::size_t rows,
                        std::size_t cols, float* sink) {
  const int k = static_cast<int>(c.dim());
  const auto t0 = Clock::now();
  for (std::size_t c0 = 0; c0 < c.rows(); c0 += rows) {
    const std::size_t m = std::min(rows, c.rows() - c0);
    for (std::size_t l0 = 0; l0 < l.rows(); l0 += cols) {
      const std::size_t n = std::min(cols, l.rows() - l0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                  k, 1.0f, c.row(c0), k, l.row(l0), k, 0.0f, sink, static_cast<int>(n));
    }
  }
  return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (a.threads > 0) openblas_set_num_threads(a.threads);
  std::mt19937_64 rng(a.seed);
  const auto t_gen = Clock::now();
  const EmbeddingMatrix candidates = random_unit_rows(a.candidates, a.dim, rng);
  const EmbeddingMatrix labeled = random_unit_rows(a.labeled, a.dim, rng);
  std::fprintf(stderr, "generated %zu + %zu unit vectors of dim %zu in %.1f s\n", a.candidates,
               a.labeled, a.dim, seconds_since(t_gen));
  const long rss_data = peak_rss_kib();
  const double gflop = 2.0 * double(a.candidates) * double(a.labeled) * double(a.dim) / 1e9;

  weakdistill::DiversityOptions options;
  options.block_bytes = a.block_bytes;
  options.threads = a.threads;
  weakdistill::DiversityStats stats;
  std::vector<float> ours;
  const std::size_t big_rows =
      std::clamp<std::size_t>(a.big_bytes / (a.labeled * sizeof(float)), 1, a.candidates);
  const double inf = std::numeric_limits<double>::infinity();
  double ours_s = inf, sgemm_s = inf, big_s = inf;
  long rss_ours = 0;
  // Warm-up, untimed: OpenBLAS starts its threads and allocates its buffers.
  {
    EmbeddingMatrix head(std::min<std::size_t>(a.candidates, 2048), a.dim);
    std::copy_n(candidates.data(), head.rows() * a.dim, head.data());
    weakdistill::min_distances(labeled, head, options);
  }
  auto run_ours = [&](int rep) {
    const auto t0 = Clock::now();
    ours = weakdistill::min_distances(labeled, candidates, options, &stats);
    const double s = seconds_since(t0);
    ours_s = std::min(ours_s, s);
    std::fprintf(stderr, "ours:      %.2f s, %.1f GFLOP/s (blocks %zu x %zu)\n", s, gflop / s,
                 stats.block_rows, stats.block_cols);
    if (rep == 0) rss_ours = peak_rss_kib();  // before the plain runs' buffers
  };
  auto run_plain = [&] {
    // The same blocks as ours without the reduction; buffer touched before timing.
    std::vector<float> sink(stats.block_rows * stats.block_cols, 0.0f);
    const double s =
        time_plain_sgemm(candidates, labeled, stats.block_rows, stats.block_cols, sink.data());
    sgemm_s = std::min(sgemm_s, s);
    std::fprintf(stderr, "sgemm:     %.2f s, %.1f GFLOP/s (blocks %zu x %zu)\n", s, gflop / s,
                 stats.block_rows, stats.block_cols);
    if (!a.big) return;
    std::vector<float> big_sink(big_rows * a.labeled, 0.0f);
    const double b = time_plain_sgemm(candidates, labeled, big_rows, a.labeled, big_sink.data());
    big_s = std::min(big_s, b);
    std::fprintf(stderr, "sgemm_big: %.2f s, %.1f GFLOP/s (blocks %zu x %zu)\n", b, gflop / b,
                 big_rows, a.labeled);
  };
  // Interleaved, in alternating order, so that changes in the machine's load hit
  // all alike. The first repetition runs ours first: the plain runs copy its blocks.
  for (int rep = 0; rep < a.reps; ++rep) {
    if (rep % 2 == 0) {
      run_ours(rep);
      run_plain();
    } else {
      run_plain();
      run_ours(rep);
    }
  }
  nlohmann::json big = nullptr;
  if (a.big) {
    big = {{"seconds", big_s},
           {"gflops", gflop / big_s},
           {"block_rows", big_rows},
           {"block_cols", a.labeled},
           {"ratio_ours", (gflop / ours_s) / (gflop / big_s)}};
  }

  nlohmann::json select = nullptr;
  if (a.keep > 0) {
    weakdistill::DiversityOptions o = options;
    o.keep = a.keep;
    o.dist_min = a.dist_min;
    const auto t0 = Clock::now();
    const weakdistill::DiversityResult r = weakdistill::select_diverse(labeled, candidates, o);
    const double s = seconds_since(t0);
    std::fprintf(stderr, "select_diverse: %.2f s, kept %zu of %zu\n", s, r.order.size(),
                 a.candidates);
    select = {{"seconds", s},
              {"keep", a.keep},
              {"dist_min", a.dist_min},
              {"kept", r.order.size()},
              {"heap_pops", r.stats.heap_pops},
              {"greedy_dots", r.stats.greedy_dots},
              {"sgemm_dots", r.stats.sgemm_dots},
              {"scratch_bytes", r.stats.scratch_bytes}};
  }

  if (!a.npy_dir.empty()) {
    std::filesystem::create_directories(a.npy_dir);
    weakdistill::write_npy_f32(a.npy_dir + "/candidates.npy", candidates.data(), a.candidates,
                               a.dim);
    weakdistill::write_npy_f32(a.npy_dir + "/labeled.npy", labeled.data(), a.labeled, a.dim);
    weakdistill::write_npy_f32(a.npy_dir + "/ours.npy", ours.data(), a.candidates, 1);
  }

  nlohmann::json out = {{"candidates", a.candidates},
                        {"labeled", a.labeled},
                        {"dim", a.dim},
                        {"gflop", gflop},
                        {"openblas_threads", openblas_get_num_threads()},
                        {"openblas_config", openblas_get_config()},
                        {"block_bytes", a.block_bytes},
                        {"ours",
                         {{"seconds", ours_s},
                          {"gflops", gflop / ours_s},
                          {"block_rows", stats.block_rows},
                          {"block_cols", stats.block_cols},
                          {"sgemm_calls", stats.sgemm_calls},
                          {"scratch_bytes", stats.scratch_bytes}}},
                        {"sgemm",
                         {{"seconds", sgemm_s},
                          {"gflops", gflop / sgemm_s},
                          {"block_rows", stats.block_rows},
                          {"block_cols", stats.block_cols},
                          {"ratio_ours", (gflop / ours_s) / (gflop / sgemm_s)}}},
                        {"sgemm_big", big},
                        {"select_diverse", select},
                        {"input_bytes", (a.candidates + a.labeled) * a.dim * sizeof(float)},
                        {"peak_rss_kib_after_data", rss_data},
                        {"peak_rss_kib_after_ours", rss_ours},
                        {"reps", a.reps}};
  std::cout << out.dump(2) << "\n";
  return 0;
}
