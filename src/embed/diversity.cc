#include "weakdistill/embed/diversity.h"

#include <cblas.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__SSE__)
#include <immintrin.h>
#endif

namespace weakdistill {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Sets OpenBLAS's thread count for one call and restores it after, so that a
// caller's own setting (e.g. set_torch_threads) survives.
class OpenBlasThreads {
 public:
  explicit OpenBlasThreads(int threads) {
    if (threads <= 0) return;
    const int current = openblas_get_num_threads();
    if (current == threads) return;
    openblas_set_num_threads(threads);
    previous_ = current;
  }
  ~OpenBlasThreads() {
    if (previous_ > 0) openblas_set_num_threads(previous_);
  }
  OpenBlasThreads(const OpenBlasThreads&) = delete;
  OpenBlasThreads& operator=(const OpenBlasThreads&) = delete;

 private:
  int previous_ = 0;
};

bool all_finite(const EmbeddingMatrix& m) {
  // Branch-free so that it vectorizes: NaN and ±inf both fail |x| <= FLT_MAX.
  const float* x = m.data();
  const std::size_t n = m.rows() * m.dim();
  int ok = 1;
  for (std::size_t i = 0; i < n; ++i) ok &= static_cast<int>(std::fabs(x[i]) <= FLT_MAX);
  return ok != 0;
}

void validate(const EmbeddingMatrix& labeled, const EmbeddingMatrix& candidates,
              const DiversityOptions& options) {
  if (labeled.rows() > 0 && candidates.rows() > 0 && labeled.dim() != candidates.dim()) {
    throw std::invalid_argument("diversity: labeled vectors have dim " +
                                std::to_string(labeled.dim()) + " but candidates have dim " +
                                std::to_string(candidates.dim()));
  }
  if (std::isnan(options.dist_min)) throw std::invalid_argument("diversity: dist_min is NaN");
  // Heap entries and sync marks hold candidate indices in 32 bits (8 bytes an entry).
  if (candidates.rows() >= std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("diversity: too many candidates (" + std::to_string(candidates.rows()) +
                            ")");
  }
  const std::size_t dim = std::max(labeled.dim(), candidates.dim());
  if (dim > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw std::length_error("diversity: dim too large for BLAS");
  }
  if (!all_finite(labeled)) {
    throw std::invalid_argument("diversity: a labeled vector is not finite");
  }
  if (!all_finite(candidates)) {
    throw std::invalid_argument("diversity: a candidate vector is not finite");
  }
}

struct Shape {
  std::size_t rows, cols;
};

// The SGEMM output block for m candidate rows against n other rows. It stays
// within block_bytes, and within 4 MiB even when the budget is larger: then the
// row maxima read the block from cache rather than DRAM, and SGEMM is no slower
// on 1024 × 1024 blocks (K = 512) than on larger ones (docs/PERFORMANCE.md).
// Rows are capped so that the block is wide: each candidate's row max runs over
// long contiguous stretches. If all n columns fit, the rows grow to use the budget.
Shape block_shape(std::size_t m, std::size_t n, std::size_t block_bytes) {
  constexpr std::size_t kPreferredRows = 1024, kCacheBytes = std::size_t{4} << 20;
  const std::size_t floats =
      std::max<std::size_t>(1, std::min(block_bytes, kCacheBytes) / sizeof(float));
  std::size_t rows = std::max<std::size_t>(1, std::min({m, floats, kPreferredRows}));
  const std::size_t cols = std::max<std::size_t>(1, std::min(n, floats / rows));
  rows = std::max<std::size_t>(1, std::min(m, floats / cols));
  return {rows, cols};
}

// c (m × n, row-major, ld n) = a (m × k, ld k) · bᵀ where b is n × k (ld k).
void sgemm_nt(const float* a, std::size_t m, const float* b, std::size_t n, std::size_t k, float* c,
              DiversityStats& stats) {
  ++stats.sgemm_calls;
  stats.sgemm_dots += m * n;
  if (k == 0) {  // BLAS rejects lda = 0; every dot of empty vectors is 0
    std::fill(c, c + m * n, 0.0f);
    return;
  }
  const int ik = static_cast<int>(k);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), ik,
              1.0f, a, ik, b, ik, 0.0f, c, static_cast<int>(n));
}

// Largest of x[0..n), n >= 1. Written with SSE (baseline on x86-64) because
// compilers will not vectorize a float max reduction without -ffast-math; max is
// exact, so the lane order does not change the result.
float row_max(const float* x, std::size_t n) {
  std::size_t i = 0;
  float m = -kInf;
#if defined(__SSE__)
  __m128 a0 = _mm_set1_ps(-kInf), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 16 <= n; i += 16) {
    a0 = _mm_max_ps(a0, _mm_loadu_ps(x + i));
    a1 = _mm_max_ps(a1, _mm_loadu_ps(x + i + 4));
    a2 = _mm_max_ps(a2, _mm_loadu_ps(x + i + 8));
    a3 = _mm_max_ps(a3, _mm_loadu_ps(x + i + 12));
  }
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, _mm_max_ps(_mm_max_ps(a0, a1), _mm_max_ps(a2, a3)));
  m = std::max({lanes[0], lanes[1], lanes[2], lanes[3]});
#endif
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// best[i] = max over labeled rows j of candidates_i · labeled_j (−inf if none),
// candidate blocks outer so that each block's running maxima stay in cache.
std::vector<float> max_dots(const EmbeddingMatrix& labeled, const EmbeddingMatrix& candidates,
                            std::size_t block_bytes, DiversityStats& stats) {
  const std::size_t c_rows = candidates.rows(), l_rows = labeled.rows();
  std::vector<float> best(c_rows, -kInf);
  if (c_rows == 0 || l_rows == 0) return best;
  const std::size_t dim = candidates.dim();
  const Shape shape = block_shape(c_rows, l_rows, block_bytes);
  std::vector<float> scores(shape.rows * shape.cols);  // [rows][cols], reused
  stats.block_rows = std::max(stats.block_rows, shape.rows);
  stats.block_cols = std::max(stats.block_cols, shape.cols);
  stats.scratch_bytes = std::max(stats.scratch_bytes, scores.size() * sizeof(float));
  for (std::size_t c0 = 0; c0 < c_rows; c0 += shape.rows) {
    const std::size_t m = std::min(shape.rows, c_rows - c0);
    for (std::size_t l0 = 0; l0 < l_rows; l0 += shape.cols) {
      const std::size_t n = std::min(shape.cols, l_rows - l0);
      sgemm_nt(candidates.row(c0), m, labeled.row(l0), n, dim, scores.data(), stats);
      for (std::size_t r = 0; r < m; ++r) {
        best[c0 + r] = std::max(best[c0 + r], row_max(scores.data() + r * n, n));
      }
    }
  }
  return best;
}

// A heap entry: a candidate and an upper bound on its current diversity (exact as
// of the acceptances it was last refreshed against).
struct Entry {
  float value;
  std::uint32_t index;
};
// std heap order: "a below b" — the top is the highest value, earliest index on ties.
bool below(const Entry& a, const Entry& b) {
  return a.value < b.value || (a.value == b.value && a.index > b.index);
}

}  // namespace

std::vector<float> min_distances(const EmbeddingMatrix& labeled, const EmbeddingMatrix& candidates,
                                 const DiversityOptions& options, DiversityStats* stats) {
  validate(labeled, candidates, options);
  OpenBlasThreads threads(options.threads);
  DiversityStats local;
  std::vector<float> dist = max_dots(labeled, candidates, options.block_bytes, local);
  // fl(1 - x) is monotone in x, so 1 - max dot is exactly the min of 1 - dot;
  // −inf (no labeled rows) becomes +inf.
  for (float& d : dist) d = 1.0f - d;
  if (stats) *stats = local;
  return dist;
}

DiversityResult select_diverse(const EmbeddingMatrix& labeled, const EmbeddingMatrix& candidates,
                               const DiversityOptions& options) {
  validate(labeled, candidates, options);
  OpenBlasThreads threads(options.threads);
  DiversityResult result;
  DiversityStats& stats = result.stats;
  std::vector<float>& value = result.diversity;
  value = max_dots(labeled, candidates, options.block_bytes, stats);
  for (float& d : value) d = 1.0f - d;

  const std::size_t c_rows = candidates.rows(), dim = candidates.dim();
  result.kept.assign(c_rows, false);
  std::vector<std::size_t>& order = result.order;
  if (options.keep == 0 || c_rows == 0) return result;

  // Greedy farthest-first with lazy refreshes. value[c] is exact against labeled ∪
  // order[0..synced[c]) and, since the comparison set only grows, an upper bound on
  // c's current diversity. Popping the top and refreshing it either keeps it on top
  // (then it is the true maximum: every other entry's bound is below it) or
  // re-inserts it lower. Candidates below dist_min can never qualify again, so they
  // leave the heap.
  //
  // Every candidate not kept must in the end be compared with every accepted row
  // (its reported diversity), so those dots are needed anyway; they are computed in
  // batches. Accepted rows are copied into `recent`; when it holds `batch` rows, one
  // SGEMM pass brings every candidate not kept up to date against them
  // (compute-bound, where refreshing candidates one at a time is memory-bound), and
  // the heap is re-keyed. Between passes a refresh needs only the rows in `recent`:
  // one SGEMV over at most `batch` rows that stay in cache. Each candidate ×
  // accepted dot is computed once.
  constexpr std::size_t kBatchRows = 512;  // SGEMM's N: large enough to run near peak
  const std::size_t row_bytes = std::max<std::size_t>(1, dim * sizeof(float));
  const Shape shape =
      block_shape(c_rows,
                  std::min({options.keep, c_rows, kBatchRows,
                            std::max<std::size_t>(1, options.block_bytes / row_bytes)}),
                  options.block_bytes);
  const std::size_t batch = shape.cols;
  std::vector<float> recent;  // [order.size() - passed][dim]: accepted since the last pass
  recent.reserve(batch * dim);
  std::vector<float> dots(batch);  // one refresh's SGEMV output
  std::vector<float> scores;       // [shape.rows][shape.cols], allocated at the first pass
  std::size_t passed = 0;          // every candidate not kept has synced >= passed
  std::vector<std::uint32_t> synced(c_rows, 0);
  stats.batch_rows = batch;
  stats.block_rows = std::max(stats.block_rows, shape.rows);
  stats.block_cols = std::max(stats.block_cols, shape.cols);
  stats.scratch_bytes = std::max(stats.scratch_bytes,
                                 (batch * dim + batch + shape.rows * shape.cols) * sizeof(float));

  auto pass = [&] {
    const std::size_t n = order.size() - passed;
    if (n == 0) return;
    if (scores.empty()) scores.resize(shape.rows * shape.cols);
    for (std::size_t c0 = 0; c0 < c_rows; c0 += shape.rows) {
      const std::size_t m = std::min(shape.rows, c_rows - c0);
      bool pending = false;
      for (std::size_t r = 0; r < m && !pending; ++r) {
        pending = !result.kept[c0 + r] && synced[c0 + r] < order.size();
      }
      if (!pending) continue;
      sgemm_nt(candidates.row(c0), m, recent.data(), n, dim, scores.data(), stats);
      for (std::size_t r = 0; r < m; ++r) {
        const std::size_t c = c0 + r;
        if (result.kept[c] || synced[c] >= order.size()) continue;
        const std::size_t from = synced[c] - passed;
        value[c] = std::min(value[c], 1.0f - row_max(scores.data() + r * n + from, n - from));
        synced[c] = static_cast<std::uint32_t>(order.size());
      }
    }
    passed = order.size();
    recent.clear();
  };
  auto refresh = [&](std::uint32_t c) {
    const std::size_t from = synced[c] - passed, n = order.size() - passed;
    float best = 0.0f;  // the dot of empty vectors, when dim is 0
    if (dim > 0) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(n - from), static_cast<int>(dim),
                  1.0f, recent.data() + from * dim, static_cast<int>(dim), candidates.row(c), 1,
                  0.0f, dots.data(), 1);
      best = row_max(dots.data(), n - from);
    }
    stats.greedy_dots += n - from;
    value[c] = std::min(value[c], 1.0f - best);
    synced[c] = static_cast<std::uint32_t>(order.size());
  };
  auto qualifies = [&](float v) { return static_cast<double>(v) >= options.dist_min; };

  std::vector<Entry> heap;
  for (std::size_t c = 0; c < c_rows; ++c) {
    if (qualifies(value[c])) heap.push_back({value[c], static_cast<std::uint32_t>(c)});
  }
  std::make_heap(heap.begin(), heap.end(), below);
  while (order.size() < options.keep && !heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), below);
    Entry top = heap.back();
    heap.pop_back();
    ++stats.heap_pops;
    if (synced[top.index] < order.size()) {
      refresh(top.index);
      top.value = value[top.index];
      if (!heap.empty() && below(top, heap.front())) {
        if (qualifies(top.value)) {
          heap.push_back(top);
          std::push_heap(heap.begin(), heap.end(), below);
        }
        continue;
      }
    }
    // top is now the highest current diversity (earliest on ties).
    if (!qualifies(top.value)) break;
    result.kept[top.index] = true;
    order.push_back(top.index);
    recent.insert(recent.end(), candidates.row(top.index), candidates.row(top.index) + dim);
    if (order.size() - passed == batch && order.size() < options.keep) {
      pass();
      // Values fell: re-key the heap, dropping the entries that no longer qualify.
      std::size_t live = 0;
      for (const Entry& e : heap) {
        if (qualifies(value[e.index])) heap[live++] = {value[e.index], e.index};
      }
      heap.resize(live);
      std::make_heap(heap.begin(), heap.end(), below);
    }
  }
  pass();  // the rest: every candidate not kept against every accepted row
  return result;
}

}  // namespace weakdistill
