#include "weakdistill/embed/diversity.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "reference/brute_force_diversity.h"

namespace weakdistill {
namespace {

using reference::Vectors;

constexpr float kInf = std::numeric_limits<float>::infinity();

EmbeddingMatrix to_matrix(const Vectors& rows, std::size_t dim) {
  EmbeddingMatrix m(rows.size(), dim);
  for (std::size_t i = 0; i < rows.size(); ++i) std::copy(rows[i].begin(), rows[i].end(), m.row(i));
  return m;
}

std::vector<float> unit(std::size_t dim, std::size_t axis, float sign = 1.0f) {
  std::vector<float> v(dim, 0.0f);
  v[axis] = sign;
  return v;
}

// Unit vectors whose dot products are exact in float whatever the summation
// order: either ±e_i or four components of ±1/2. Dots are multiples of 1/4, so
// ties and exact duplicates are frequent.
std::vector<float> lattice_unit(std::size_t dim, std::mt19937& rng) {
  std::vector<float> v(dim, 0.0f);
  if (dim < 4 || rng() % 3 == 0) {
    v[rng() % dim] = rng() % 2 ? 1.0f : -1.0f;
    return v;
  }
  std::vector<std::size_t> axes(dim);
  for (std::size_t i = 0; i < dim; ++i) axes[i] = i;
  std::shuffle(axes.begin(), axes.end(), rng);
  for (int k = 0; k < 4; ++k) v[axes[k]] = rng() % 2 ? 0.5f : -0.5f;
  return v;
}

// Not unit vectors, but still exact: components k/4 with |k| <= 3, so every dot
// is a multiple of 1/16 well within float's 24 bits.
std::vector<float> small_integer(std::size_t dim, std::mt19937& rng) {
  std::vector<float> v(dim);
  for (float& x : v) x = static_cast<float>(static_cast<int>(rng() % 7) - 3) / 4.0f;
  return v;
}

std::vector<float> random_unit(std::size_t dim, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(dim);
  double norm = 0;
  for (float& x : v) {
    x = normal(rng);
    norm += double{x} * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

// Draws `n` rows, some repeated from earlier rows so that duplicates are common.
template <class Draw>
Vectors draw_rows(std::size_t n, std::mt19937& rng, Draw draw) {
  Vectors rows;
  for (std::size_t i = 0; i < n; ++i) {
    if (!rows.empty() && rng() % 5 == 0) {
      rows.push_back(rows[rng() % rows.size()]);
    } else {
      rows.push_back(draw());
    }
  }
  return rows;
}

DiversityResult run(const Vectors& labeled, const Vectors& candidates, std::size_t dim,
                    DiversityOptions options) {
  return select_diverse(to_matrix(labeled, dim), to_matrix(candidates, dim), options);
}

// Exact agreement: diversities equal as numbers (float against the oracle's double).
void expect_exactly(const DiversityResult& got, const reference::BruteForceDiversity& want) {
  ASSERT_EQ(got.diversity.size(), want.diversity.size());
  EXPECT_EQ(got.order, want.order);
  EXPECT_EQ(got.kept, want.kept);
  for (std::size_t i = 0; i < want.diversity.size(); ++i) {
    EXPECT_EQ(static_cast<double>(got.diversity[i]), want.diversity[i]) << "candidate " << i;
  }
}

TEST(SelectDiverse, HandWorkedSmallCase) {
  // labeled: (1, 0). Candidates' distances to it: 0, 1, 2, 1, 0.4.
  const Vectors labeled = {{1, 0}};
  const Vectors candidates = {{1, 0}, {0, 1}, {-1, 0}, {0, -1}, {0.6f, 0.8f}};
  DiversityOptions options;
  options.dist_min = 0.5;
  options.keep = 3;
  const DiversityResult r = run(labeled, candidates, 2, options);
  // Step 1: (-1, 0) at 2. Step 2: (0, 1) and (0, -1) tie at 1; the earlier wins, and
  // (0.6, 0.8) drops to 1 - 0.8 = 0.2. Step 3: (0, -1), still 1 (its distance to (0, 1) is 2).
  EXPECT_EQ(r.order, (std::vector<std::size_t>{2, 1, 3}));
  EXPECT_EQ(r.kept, (std::vector<bool>{false, true, true, true, false}));
  EXPECT_FLOAT_EQ(r.diversity[0], 0.0f);
  EXPECT_FLOAT_EQ(r.diversity[1], 1.0f);
  EXPECT_FLOAT_EQ(r.diversity[2], 2.0f);
  EXPECT_FLOAT_EQ(r.diversity[3], 1.0f);
  EXPECT_NEAR(r.diversity[4], 0.2f, 1e-6);
}

TEST(SelectDiverse, TiesGoToTheEarlierCandidate) {
  const std::size_t d = 4;
  // Every candidate is at distance 1 from the labeled e0 and from each other.
  DiversityOptions options;
  options.keep = 1;
  DiversityResult r = run({unit(d, 0)}, {unit(d, 2), unit(d, 1), unit(d, 3)}, d, options);
  EXPECT_EQ(r.order, (std::vector<std::size_t>{0}));
  EXPECT_EQ(r.diversity, (std::vector<float>{1, 1, 1}));

  // With nothing labeled every candidate starts at +infinity: input order decides.
  options.keep = 10;
  r = run({}, {unit(d, 2), unit(d, 0), unit(d, 1), unit(d, 3)}, d, options);
  EXPECT_EQ(r.order, (std::vector<std::size_t>{0, 1, 2, 3}));
  EXPECT_EQ(r.diversity, (std::vector<float>{kInf, 1, 1, 1}));
}

TEST(SelectDiverse, KeepsOnlyOneOfDuplicatedCandidates) {
  const std::size_t d = 3;
  DiversityOptions options;
  options.dist_min = 0.5;
  options.keep = 10;
  const DiversityResult r =
      run({unit(d, 0)}, {unit(d, 1), unit(d, 1), unit(d, 2), unit(d, 1)}, d, options);
  EXPECT_EQ(r.order, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(r.diversity, (std::vector<float>{1, 0, 1, 0}));
}

TEST(SelectDiverse, CandidateDuplicatingALabeledRowHasZeroDiversity) {
  const std::size_t d = 3;
  DiversityOptions options;
  options.keep = 10;
  options.dist_min = 0.0;  // 0 >= 0: the duplicate is still kept, last
  DiversityResult r = run({unit(d, 0), unit(d, 1)}, {unit(d, 1), unit(d, 2)}, d, options);
  EXPECT_EQ(r.order, (std::vector<std::size_t>{1, 0}));
  EXPECT_EQ(r.diversity, (std::vector<float>{0, 1}));
  options.dist_min = 0.1;
  r = run({unit(d, 0), unit(d, 1)}, {unit(d, 1), unit(d, 2)}, d, options);
  EXPECT_EQ(r.order, (std::vector<std::size_t>{1}));
  EXPECT_EQ(r.diversity, (std::vector<float>{0, 1}));
}

TEST(SelectDiverse, EmptyLabeledSet) {
  std::mt19937 rng(7);
  const std::size_t d = 8;
  const Vectors candidates = draw_rows(40, rng, [&] { return lattice_unit(d, rng); });
  DiversityOptions options;
  options.dist_min = 0.5;
  options.keep = 12;
  // A default matrix (0 × 0) is "no labeled rows" whatever the candidates' dim.
  const DiversityResult r = select_diverse(EmbeddingMatrix(), to_matrix(candidates, d), options);
  expect_exactly(r, reference::brute_force_select_diverse({}, candidates, 0.5, 12));
  ASSERT_FALSE(r.order.empty());
  EXPECT_EQ(r.order[0], 0u);
  EXPECT_EQ(r.diversity[0], kInf);
}

TEST(SelectDiverse, EmptyCandidates) {
  DiversityOptions options;
  options.keep = 5;
  const DiversityResult r = select_diverse(to_matrix({unit(4, 0)}, 4), EmbeddingMatrix(), options);
  EXPECT_TRUE(r.diversity.empty());
  EXPECT_TRUE(r.kept.empty());
  EXPECT_TRUE(r.order.empty());
  const DiversityResult both = select_diverse(EmbeddingMatrix(), EmbeddingMatrix(), options);
  EXPECT_TRUE(both.diversity.empty());
}

TEST(SelectDiverse, KeepZeroKeepsNothingAndReportsDistanceToLabeled) {
  const std::size_t d = 3;
  DiversityOptions options;  // keep = 0
  DiversityResult r = run({unit(d, 0)}, {unit(d, 0, -1), unit(d, 1)}, d, options);
  EXPECT_TRUE(r.order.empty());
  EXPECT_EQ(r.kept, (std::vector<bool>{false, false}));
  EXPECT_EQ(r.diversity, (std::vector<float>{2, 1}));
  r = run({}, {unit(d, 0), unit(d, 1)}, d, options);
  EXPECT_EQ(r.diversity, (std::vector<float>{kInf, kInf}));
}

TEST(SelectDiverse, KeepLargerThanCandidates) {
  std::mt19937 rng(11);
  const std::size_t d = 8;
  const Vectors labeled = draw_rows(5, rng, [&] { return lattice_unit(d, rng); });
  const Vectors candidates = draw_rows(30, rng, [&] { return lattice_unit(d, rng); });
  DiversityOptions options;
  options.keep = 1000;
  const DiversityResult r = run(labeled, candidates, d, options);
  // dist_min 0 and unit vectors: every distance is >= 0, so all are kept.
  EXPECT_EQ(r.order.size(), candidates.size());
  expect_exactly(r, reference::brute_force_select_diverse(labeled, candidates, 0.0, 1000));
}

TEST(SelectDiverse, DistMinZeroAgainstHigh) {
  std::mt19937 rng(13);
  const std::size_t d = 8;
  const Vectors labeled = draw_rows(10, rng, [&] { return lattice_unit(d, rng); });
  const Vectors candidates = draw_rows(60, rng, [&] { return lattice_unit(d, rng); });
  std::size_t previous = candidates.size() + 1;
  for (double dist_min : {0.0, 0.5, 1.0, 1.5, 2.0, 2.5}) {
    SCOPED_TRACE(dist_min);
    DiversityOptions options;
    options.dist_min = dist_min;
    options.keep = 25;
    const DiversityResult r = run(labeled, candidates, d, options);
    expect_exactly(r, reference::brute_force_select_diverse(labeled, candidates, dist_min, 25));
    EXPECT_LE(r.order.size(), previous);
    previous = r.order.size();
    for (std::size_t c : r.order) EXPECT_GE(r.diversity[c], dist_min);
  }
  EXPECT_EQ(previous, 0u);  // nothing is 2.5 away
}

// Many random sets of exactly-representable vectors: results must equal the
// oracle's bit for bit, ties and duplicates included, whatever the block size.
TEST(SelectDiverse, MatchesOracleExactlyOnRandomLatticeAndIntegerSets) {
  std::mt19937 rng(2024);
  const std::size_t block_bytes[] = {1, 16, 256, 4096, std::size_t{64} << 20};
  const double dist_mins[] = {-0.5, 0.0, 0.25, 0.5, 1.0, 1.5};
  int cases = 0, kept_total = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const bool lattice = trial % 2 == 0;
    const std::size_t d = lattice ? 4 + rng() % 9 : 1 + rng() % 9;
    auto draw = [&] { return lattice ? lattice_unit(d, rng) : small_integer(d, rng); };
    const Vectors labeled = draw_rows(rng() % 4 == 0 ? 0 : rng() % 40, rng, draw);
    const Vectors candidates = draw_rows(rng() % 70, rng, draw);
    DiversityOptions options;
    options.dist_min = dist_mins[rng() % std::size(dist_mins)];
    options.keep = rng() % (candidates.size() + 4);
    options.block_bytes = block_bytes[rng() % std::size(block_bytes)];
    SCOPED_TRACE(testing::Message()
                 << "trial " << trial << ": C " << candidates.size() << " L " << labeled.size()
                 << " d " << d << " keep " << options.keep << " dist_min " << options.dist_min
                 << " block_bytes " << options.block_bytes);
    const DiversityResult r = run(labeled, candidates, d, options);
    expect_exactly(r, reference::brute_force_select_diverse(labeled, candidates, options.dist_min,
                                                            options.keep));
    ++cases;
    kept_total += static_cast<int>(r.order.size());
  }
  EXPECT_EQ(cases, 400);
  EXPECT_GT(kept_total, 1000);  // the cases are not trivially empty
}

// Real-valued unit vectors: diversities within float rounding of the oracle's, and
// the same kept order wherever the oracle never came within 1e-4 of another choice.
TEST(SelectDiverse, MatchesOracleOnRandomRealValuedSets) {
  std::mt19937 rng(99);
  int compared = 0, ambiguous = 0;
  for (int trial = 0; trial < 120; ++trial) {
    const std::size_t dims[] = {2, 3, 8, 32, 100};
    const std::size_t d = dims[rng() % std::size(dims)];
    const Vectors labeled = draw_rows(rng() % 60, rng, [&] { return random_unit(d, rng); });
    Vectors candidates;
    for (std::size_t i = 0, n = rng() % 120; i < n; ++i) candidates.push_back(random_unit(d, rng));
    DiversityOptions options;
    options.dist_min = std::uniform_real_distribution<double>(0.0, 1.2)(rng);
    options.keep = rng() % 30;
    options.block_bytes = trial % 3 == 0 ? 512 : options.block_bytes;
    const auto want =
        reference::brute_force_select_diverse(labeled, candidates, options.dist_min, options.keep);
    if (want.margin <= 1e-4) {
      ++ambiguous;
      continue;
    }
    ++compared;
    SCOPED_TRACE(testing::Message() << "trial " << trial);
    const DiversityResult r = run(labeled, candidates, d, options);
    EXPECT_EQ(r.order, want.order);
    EXPECT_EQ(r.kept, want.kept);
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (std::isinf(want.diversity[i])) {
        EXPECT_EQ(r.diversity[i], kInf);
      } else {
        EXPECT_NEAR(r.diversity[i], want.diversity[i], 1e-5) << "candidate " << i;
      }
    }
  }
  EXPECT_GT(compared, 100) << ambiguous << " ambiguous cases skipped";
}

// Larger sets, so that SGEMM blocking and the final pass run over many blocks.
TEST(SelectDiverse, MatchesOracleOnALargerSet) {
  std::mt19937 rng(5);
  const std::size_t d = 32;
  Vectors labeled, candidates;
  for (int i = 0; i < 500; ++i) labeled.push_back(random_unit(d, rng));
  for (int i = 0; i < 1000; ++i) candidates.push_back(random_unit(d, rng));
  const auto want = reference::brute_force_select_diverse(labeled, candidates, 0.3, 20);
  // A float dot of two unit vectors in 32 dims is off by at most 32 × 2^-24 ≈ 2e-6.
  ASSERT_GT(want.margin, 2e-5);
  for (std::size_t block_bytes :
       {std::size_t{1} << 12, std::size_t{1} << 16, std::size_t{64} << 20}) {
    DiversityOptions options;
    options.dist_min = 0.3;
    options.keep = 20;
    options.block_bytes = block_bytes;
    const DiversityResult r = run(labeled, candidates, d, options);
    EXPECT_EQ(r.order, want.order);
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      EXPECT_NEAR(r.diversity[i], want.diversity[i], 1e-5);
    }
  }
}

// Accepted rows are batched for SGEMM passes that update every candidate; many
// small batches must give the oracle's result exactly.
TEST(SelectDiverse, BatchedPassesMatchOracle) {
  std::mt19937 rng(31);
  const std::size_t d = 8;
  const Vectors labeled = draw_rows(30, rng, [&] { return lattice_unit(d, rng); });
  const Vectors candidates = draw_rows(200, rng, [&] { return lattice_unit(d, rng); });
  DiversityOptions options;
  options.keep = 150;
  options.block_bytes = 200 * 7 * sizeof(float);  // score blocks of 200 candidates × 7 accepted
  const DiversityResult r = run(labeled, candidates, d, options);
  EXPECT_EQ(r.stats.batch_rows, 7u);
  EXPECT_GT(r.order.size(), 100u);
  expect_exactly(r, reference::brute_force_select_diverse(labeled, candidates, 0.0, 150));
}

TEST(MinDistances, MatchesBruteForce) {
  std::mt19937 rng(3);
  const std::size_t d = 48;
  Vectors labeled, candidates;
  for (int i = 0; i < 700; ++i) labeled.push_back(random_unit(d, rng));
  for (int i = 0; i < 1300; ++i) candidates.push_back(random_unit(d, rng));
  const EmbeddingMatrix l = to_matrix(labeled, d), c = to_matrix(candidates, d);
  for (std::size_t block_bytes : {std::size_t{4}, std::size_t{3000}, std::size_t{64} << 20}) {
    DiversityOptions options;
    options.block_bytes = block_bytes;
    DiversityStats stats;
    const std::vector<float> got = min_distances(l, c, options, &stats);
    ASSERT_EQ(got.size(), candidates.size());
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      double want = std::numeric_limits<double>::infinity();
      for (const auto& row : labeled) {
        want = std::min(want, reference::brute_force_dist(candidates[i], row));
      }
      ASSERT_NEAR(got[i], want, 1e-5) << "candidate " << i << ", block_bytes " << block_bytes;
    }
    EXPECT_EQ(stats.sgemm_dots, labeled.size() * candidates.size());
  }
  EXPECT_EQ(min_distances(EmbeddingMatrix(), c, DiversityOptions()),
            std::vector<float>(candidates.size(), kInf));
}

TEST(SelectDiverse, RejectsBadInput) {
  DiversityOptions options;
  options.keep = 1;
  EXPECT_THROW(select_diverse(EmbeddingMatrix(3, 4), EmbeddingMatrix(2, 5), options),
               std::invalid_argument);
  EXPECT_THROW(min_distances(EmbeddingMatrix(3, 4), EmbeddingMatrix(2, 5), options),
               std::invalid_argument);
  EmbeddingMatrix bad(2, 4);
  bad.row(1)[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(select_diverse(EmbeddingMatrix(3, 4), bad, options), std::invalid_argument);
  bad.row(1)[2] = kInf;
  EXPECT_THROW(select_diverse(bad, EmbeddingMatrix(3, 4), options), std::invalid_argument);
  options.dist_min = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(select_diverse(EmbeddingMatrix(3, 4), EmbeddingMatrix(2, 4), options),
               std::invalid_argument);
}

TEST(SelectDiverse, TinyBlocksGiveTheSameResult) {
  std::mt19937 rng(17);
  const std::size_t d = 8;
  const Vectors labeled = draw_rows(90, rng, [&] { return lattice_unit(d, rng); });
  const Vectors candidates = draw_rows(150, rng, [&] { return lattice_unit(d, rng); });
  DiversityOptions options;
  options.dist_min = 0.5;
  options.keep = 40;
  const DiversityResult whole = run(labeled, candidates, d, options);
  EXPECT_EQ(whole.stats.block_rows, candidates.size());  // one block: everything fits
  EXPECT_EQ(whole.stats.block_cols, labeled.size());
  for (std::size_t block_bytes :
       {std::size_t{0}, std::size_t{1}, std::size_t{4}, std::size_t{100}}) {
    options.block_bytes = block_bytes;
    const DiversityResult tiny = run(labeled, candidates, d, options);
    EXPECT_EQ(tiny.order, whole.order);
    EXPECT_EQ(tiny.diversity, whole.diversity);
    EXPECT_LE(tiny.stats.block_rows * tiny.stats.block_cols * sizeof(float),
              std::max<std::size_t>(block_bytes, sizeof(float)));
    EXPECT_GT(tiny.stats.sgemm_calls, 100u);
  }
}

// The blocks, not the set sizes, bound scratch memory: C × L here would be 24 MB of
// scores, the budget 64 KiB. Checked through the block shapes the call reports.
TEST(SelectDiverse, ScratchMemoryStaysWithinBlockBytes) {
  std::mt19937 rng(23);
  const std::size_t d = 16, c_rows = 3000, l_rows = 2000, budget = 64 << 10;
  EmbeddingMatrix labeled(l_rows, d), candidates(c_rows, d);
  for (std::size_t i = 0; i < l_rows; ++i) {
    const auto v = random_unit(d, rng);
    std::copy(v.begin(), v.end(), labeled.row(i));
  }
  for (std::size_t i = 0; i < c_rows; ++i) {
    const auto v = random_unit(d, rng);
    std::copy(v.begin(), v.end(), candidates.row(i));
  }
  DiversityOptions options;
  options.block_bytes = budget;
  options.keep = 200;
  options.dist_min = 0.1;
  const DiversityResult r = select_diverse(labeled, candidates, options);
  const DiversityStats& s = r.stats;
  EXPECT_LE(s.block_rows * s.block_cols * sizeof(float), budget);
  EXPECT_LE(s.batch_rows * d * sizeof(float), budget);
  EXPECT_LE(s.scratch_bytes, 2 * budget + 2048);  // + one float per batched row
  EXPECT_LT(s.scratch_bytes, c_rows * l_rows * sizeof(float) / 100);
  EXPECT_GT(s.sgemm_calls, 10u);
  // Greedy: each candidate × accepted dot at most once; each heap pop accepts, stops,
  // or follows at least one new dot.
  EXPECT_LE(s.greedy_dots, c_rows * r.order.size());
  EXPECT_LE(s.heap_pops, r.order.size() + s.greedy_dots + 1);
  // Only rows that reach the top are refreshed: far fewer dots than updating all
  // candidates after every acceptance.
  EXPECT_LT(s.greedy_dots, c_rows * r.order.size() / 4);
}

TEST(SelectDiverse, ThreadsOptionRestoresOpenBlasSetting) {
  using GetThreads = int (*)();
  const auto get = reinterpret_cast<GetThreads>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  if (!get) GTEST_SKIP() << "OpenBLAS not loaded";
  const int before = get();
  std::mt19937 rng(29);
  const std::size_t d = 8;
  const Vectors labeled = draw_rows(50, rng, [&] { return lattice_unit(d, rng); });
  const Vectors candidates = draw_rows(80, rng, [&] { return lattice_unit(d, rng); });
  DiversityOptions options;
  options.keep = 30;
  options.dist_min = 0.25;
  const DiversityResult a = run(labeled, candidates, d, options);
  options.threads = before == 1 ? 2 : 1;
  const DiversityResult b = run(labeled, candidates, d, options);
  EXPECT_EQ(a.order, b.order);
  EXPECT_EQ(a.diversity, b.diversity);
  EXPECT_EQ(get(), before);
}

}  // namespace
}  // namespace weakdistill
