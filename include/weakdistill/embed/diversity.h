// Diversity selection (SPEC.md "Diversity"): keep generated samples that lie
// far from what is already labeled, greedily farthest-first.
//
//   dist(a, i)    = 1 - cos(vec(a), vec(i))           (rows are unit vectors, so 1 - dot)
//   diversity(a)  = min over i in (labeled ∪ accepted) of dist(a, i)
// Repeatedly accept the candidate with the highest current diversity (ties: the
// earlier in input order) while it is >= dist_min and fewer than `keep` are
// accepted; each acceptance joins the comparison set.
//
// Exact: every distance the definition needs is computed (in float, as 1 - dot);
// nothing is approximated. Candidate × labeled and candidate × accepted distances
// come from blocked SGEMM (OpenBLAS), so scratch memory is bounded by `block_bytes`
// whatever the set sizes. The greedy loop keeps each candidate's diversity as an
// upper bound that only falls (a lazy max-heap): between SGEMM passes over batches
// of accepted rows, it refreshes only the candidates that reach the top.
#pragma once

#include <cstddef>
#include <vector>

#include "weakdistill/embed/embedder.h"

namespace weakdistill {

struct DiversityOptions {
  // Least diversity a candidate needs to be kept (compared as double; must not be NaN).
  double dist_min = 0.0;
  // At most this many are kept (the round's per_round).
  std::size_t keep = 0;
  // Memory bound for scratch: the candidate × labeled-or-accepted dot-product
  // blocks computed by SGEMM take at most this many bytes, and so do the accepted
  // rows batched for them (each at least one row). Beyond the inputs, the selection
  // then needs only O(candidates + labeled) bookkeeping (about 16 bytes a candidate
  // besides the result), whatever the set sizes. Blocks never exceed 4 MiB
  // (cache-sized; larger ones are no faster), so the bound matters only below that.
  std::size_t block_bytes = std::size_t{64} << 20;
  // Threads for OpenBLAS (0 = leave OpenBLAS's own setting). The previous setting
  // is restored on return, so this is not thread-safe against other OpenBLAS
  // users that change the thread count concurrently.
  int threads = 0;
};

// What a call did, for tests and benches (not needed to use the result).
struct DiversityStats {
  // Shape of the largest SGEMM output block (rows: candidates; cols: labeled or
  // accepted rows), and how many accepted rows are batched for one SGEMM pass.
  std::size_t block_rows = 0, block_cols = 0, batch_rows = 0;
  // Bytes of scratch allocated for those blocks and batches
  // (<= 2 × max(block_bytes, one row) + 2 KiB).
  std::size_t scratch_bytes = 0;
  // SGEMM calls, and the dot products they computed (rows × cols summed).
  std::size_t sgemm_calls = 0, sgemm_dots = 0;
  // Dot products computed by SGEMV while refreshing heap tops between SGEMM passes.
  std::size_t greedy_dots = 0;
  // Heap pops in the greedy loop (each either accepts, stops, or refreshes and re-inserts).
  std::size_t heap_pops = 0;
};

struct DiversityResult {
  // Per candidate, in input order: its diversity at the moment it was judged —
  // for a kept candidate, against labeled ∪ the candidates accepted before it;
  // for one not kept, against labeled ∪ every accepted candidate. The minimum
  // over an empty comparison set (no labeled rows and nothing accepted before)
  // is +infinity, so with no labeled rows the first candidate accepted reports
  // +infinity, and so does every candidate when nothing is accepted at all.
  std::vector<float> diversity;
  std::vector<bool> kept;
  // Indices of the kept candidates in the order they were accepted.
  std::vector<std::size_t> order;
  DiversityStats stats;
};

// Runs the selection. `labeled` and `candidates` must have the same dim unless
// one of them has no rows (so a default EmbeddingMatrix serves as "no labeled
// rows"). Rows need not be unit vectors, but distances assume they are (1 - dot).
// Throws std::invalid_argument on a dim mismatch, a non-finite component or a NaN
// dist_min, and std::length_error for 2^32 - 1 or more candidates.
DiversityResult select_diverse(const EmbeddingMatrix& labeled, const EmbeddingMatrix& candidates,
                               const DiversityOptions& options);

// The first step of select_diverse on its own: per candidate, in input order, the
// least 1 - dot over the labeled rows (+infinity when there are none), by blocked
// SGEMM within options.block_bytes. Uses block_bytes and threads; ignores
// dist_min and keep. Same errors as select_diverse; fills `stats` when given.
std::vector<float> min_distances(const EmbeddingMatrix& labeled, const EmbeddingMatrix& candidates,
                                 const DiversityOptions& options, DiversityStats* stats = nullptr);

}  // namespace weakdistill
