// Attention of one new query position per decoder row over cached keys and values: the inner
// step of incremental decoding. Private to src/student/ (the seq2seq decoder).
//
// torch::matmul over one query position is a batched GEMM of 1-row matrices: ATen runs it as a
// serial loop of one BLAS call per (row, head) on a single core, which was 30% of a greedy
// decoding step (bench/compare_seq2seq.sh -P). This kernel does scores, softmax and the weighted
// sum of values in one pass per (source row, head), in parallel over them, reading each key and
// value once for all the rows (beams) that share the source.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace weakdistill::student_internal {

// For decoder row r (of R) and head j:
//   out[r, j*hd .. j*hd+hd) = softmax_s(q[r, j] . k[r / group, j, s] + mask[r / group, s]) v[...]
// over s < length. q: float32 [R, h, hd], contiguous, already scaled. k, v: float32
// [R / group, h, capacity >= length, hd] whose last dimension is contiguous (a cache preallocated
// beyond `length` is read only up to it). mask: float32 [R / group, length] additive, contiguous,
// or undefined (none). Returns [R, h * hd]. No autograd: callers run it under NoGradGuard.
torch::Tensor cached_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& mask,
                               std::int64_t length, std::int64_t group = 1);

}  // namespace weakdistill::student_internal
