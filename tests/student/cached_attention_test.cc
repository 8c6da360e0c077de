// The fused one-query attention of incremental decoding (src/student/neural/cached_attention.h)
// against the plain formula in float64 torch ops: scores, mask, softmax and the weighted sum of
// values, for several row groups (beams sharing a source), head sizes that are and are not a
// multiple of the kernel's lane width, caches read short of their capacity, strided caches, and
// masks that hide positions.
#include "cached_attention.h"

#include <gtest/gtest.h>

#include <limits>
#include <ostream>
#include <stdexcept>

namespace weakdistill {
namespace {

using student_internal::cached_attention;

// The reference: out[r, j] = softmax(q[r, j] k[r / group, j, :length]^T + mask) v[...], float64.
torch::Tensor reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask, std::int64_t length, std::int64_t group) {
  const torch::Tensor kd = k.narrow(2, 0, length).to(torch::kFloat64).repeat_interleave(group, 0);
  const torch::Tensor vd = v.narrow(2, 0, length).to(torch::kFloat64).repeat_interleave(group, 0);
  torch::Tensor scores = torch::matmul(q.to(torch::kFloat64).unsqueeze(2), kd.transpose(2, 3));
  if (mask.defined()) {
    scores = scores +
             mask.to(torch::kFloat64).repeat_interleave(group, 0).view({q.size(0), 1, 1, length});
  }
  return torch::matmul(torch::softmax(scores, -1), vd).view({q.size(0), -1});
}

struct Shape {
  std::int64_t sources, group, heads, head_dim, capacity, length;
  bool masked;
};

void PrintTo(const Shape& s, std::ostream* os) {
  *os << s.sources << " sources x " << s.group << " rows, " << s.heads << " heads of " << s.head_dim
      << ", " << s.length << " of " << s.capacity << " positions" << (s.masked ? ", masked" : "");
}

class CachedAttention : public ::testing::TestWithParam<Shape> {};

TEST_P(CachedAttention, EqualsThePlainFormulaInFloat64) {
  const Shape s = GetParam();
  torch::manual_seed(7);
  const torch::Tensor q = torch::randn({s.sources * s.group, s.heads, s.head_dim});
  const torch::Tensor k = torch::randn({s.sources, s.heads, s.capacity, s.head_dim});
  const torch::Tensor v = torch::randn({s.sources, s.heads, s.capacity, s.head_dim});
  torch::Tensor mask;
  if (s.masked) {
    // Padding as the decoder writes it (float's lowest), a different amount on each source row;
    // position 0 is always kept.
    mask = torch::zeros({s.sources, s.length});
    for (std::int64_t i = 0; i < s.sources; ++i) {
      const std::int64_t hidden = (i * 3) % s.length;
      if (hidden > 0) {
        mask[i].narrow(0, s.length - hidden, hidden).fill_(std::numeric_limits<float>::lowest());
      }
    }
  }
  const torch::Tensor ours = cached_attention(q, k, v, mask, s.length, s.group);
  const torch::Tensor want = reference(q, k, v, mask, s.length, s.group);
  ASSERT_EQ(ours.sizes(), want.sizes());
  EXPECT_LT((ours.to(torch::kFloat64) - want).abs().max().item<double>(), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CachedAttention,
    ::testing::Values(Shape{1, 1, 1, 1, 1, 1, false},       // one position: the value itself
                      Shape{3, 1, 4, 8, 16, 16, false},     // a full cache
                      Shape{3, 1, 4, 8, 32, 17, false},     // read short of capacity
                      Shape{5, 1, 8, 64, 40, 37, true},     // a BART-sized head, padding masked
                      Shape{4, 3, 2, 12, 20, 9, true},      // beams sharing a source
                      Shape{2, 4, 3, 5, 7, 7, true},        // head size below the lane width
                      Shape{6, 2, 12, 13, 30, 25, false}),  // and not a multiple of it
    [](const ::testing::TestParamInfo<Shape>& info) {
      const Shape& s = info.param;
      return "s" + std::to_string(s.sources) + "g" + std::to_string(s.group) + "h" +
             std::to_string(s.heads) + "d" + std::to_string(s.head_dim) + "c" +
             std::to_string(s.capacity) + "l" + std::to_string(s.length) +
             (s.masked ? "_masked" : "");
    });

TEST(CachedAttention, ReadsStridedCaches) {
  // The decoder's cross-attention keys are a view [B, S, h, hd] -> [B, h, S, hd] when not made
  // contiguous: only the last dimension must be.
  torch::manual_seed(3);
  const torch::Tensor q = torch::randn({4, 3, 8});
  const torch::Tensor k = torch::randn({4, 11, 3, 8}).transpose(1, 2);
  const torch::Tensor v = torch::randn({4, 11, 3, 8}).transpose(1, 2);
  ASSERT_FALSE(k.is_contiguous());
  const torch::Tensor ours = cached_attention(q, k, v, torch::Tensor(), 11);
  EXPECT_LT((ours.to(torch::kFloat64) - reference(q, k, v, torch::Tensor(), 11, 1))
                .abs()
                .max()
                .item<double>(),
            1e-5);
  EXPECT_TRUE(torch::allclose(
      ours, cached_attention(q, k.contiguous(), v.contiguous(), torch::Tensor(), 11)));
}

TEST(CachedAttention, RefusesWhatItCannotRead) {
  const torch::Tensor q = torch::randn({4, 2, 8}), k = torch::randn({2, 2, 5, 8});
  EXPECT_THROW(cached_attention(q, k, k, torch::Tensor(), 6, 2), std::invalid_argument);  // length
  EXPECT_THROW(cached_attention(q, k, k, torch::Tensor(), 5, 3), std::invalid_argument);  // group
  EXPECT_THROW(cached_attention(q.to(torch::kFloat64), k, k, torch::Tensor(), 5, 2),
               std::invalid_argument);
  const torch::Tensor column_major = torch::randn({2, 2, 8, 5}).transpose(2, 3);  // [2, 2, 5, 8]
  EXPECT_THROW(cached_attention(q, column_major, k, torch::Tensor(), 5, 2),
               std::invalid_argument);  // last dimension not contiguous
  EXPECT_THROW(cached_attention(q, k, k, torch::zeros({2, 4}), 5, 2),
               std::invalid_argument);  // mask shorter than length
  EXPECT_NO_THROW(cached_attention(q, k, k, torch::zeros({2, 5}), 5, 2));
}

}  // namespace
}  // namespace weakdistill
