#include "cached_attention.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "float_lanes.h"

namespace weakdistill::student_internal {
namespace {

float dot(const float* a, const float* b, std::int64_t n) {
  Lanes acc0 = {0, 0, 0, 0}, acc1 = {0, 0, 0, 0};
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    acc0 += load_lanes(a + i) * load_lanes(b + i);
    acc1 += load_lanes(a + i + 4) * load_lanes(b + i + 4);
  }
  const Lanes acc = acc0 + acc1;
  float sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// out[0..n) += w * x[0..n)
void add_scaled(float* out, const float* x, float w, std::int64_t n) {
  std::int64_t i = 0;
  const Lanes wv = splat(w);
  for (; i + 4 <= n; i += 4) store_lanes(out + i, load_lanes(out + i) + wv * load_lanes(x + i));
  for (; i < n; ++i) out[i] += w * x[i];
}

void check(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("cached_attention: ") + what);
}

}  // namespace

torch::Tensor cached_attention(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& mask,
                               std::int64_t length, std::int64_t group) {
  check(q.dim() == 3 && k.dim() == 4 && v.dim() == 4, "q must be [R, h, hd], k and v 4-d");
  check(q.scalar_type() == torch::kFloat32 && k.scalar_type() == torch::kFloat32 &&
            v.scalar_type() == torch::kFloat32,
        "float32 only");
  check(q.is_contiguous(), "q must be contiguous");
  check(group >= 1 && q.size(0) == k.size(0) * group && k.sizes() == v.sizes(),
        "k and v must be [R / group, h, capacity, hd]");
  const std::int64_t rows = q.size(0), heads = q.size(1), hd = q.size(2);
  check(k.size(1) == heads && k.size(3) == hd && length >= 1 && length <= k.size(2),
        "k's heads or head size differ from q's, or length is out of range");
  check(k.stride(3) == 1 && v.stride(3) == 1, "k and v must be contiguous in their last dimension");
  if (mask.defined()) {
    check(mask.scalar_type() == torch::kFloat32 && mask.is_contiguous() && mask.dim() == 2 &&
              mask.size(0) == k.size(0) && mask.size(1) == length,
          "mask must be contiguous float32 [R / group, length]");
  }
  // Named in profiles (bench/compare_seq2seq.sh -P) beside the aten ops.
  RECORD_FUNCTION("weakdistill::cached_attention", std::vector<c10::IValue>());
  torch::Tensor out = torch::zeros({rows, heads * hd}, q.options());
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  const float* mp = mask.defined() ? mask.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  const std::int64_t ks0 = k.stride(0), ks1 = k.stride(1), ks2 = k.stride(2);
  const std::int64_t vs0 = v.stride(0), vs1 = v.stride(1), vs2 = v.stride(2);
  const std::int64_t tasks = k.size(0) * heads;  // (source row, head)
  at::parallel_for(0, tasks, 1, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> p(static_cast<std::size_t>(length));
    for (std::int64_t t = begin; t < end; ++t) {
      const std::int64_t src = t / heads, j = t % heads;
      const float* kh = kp + src * ks0 + j * ks1;
      const float* vh = vp + src * vs0 + j * vs1;
      const float* m = mp ? mp + src * length : nullptr;
      for (std::int64_t g = 0; g < group; ++g) {
        const std::int64_t r = src * group + g;
        const float* qh = qp + (r * heads + j) * hd;
        float top = -std::numeric_limits<float>::infinity();
        for (std::int64_t s = 0; s < length; ++s) {
          p[s] = dot(qh, kh + s * ks2, hd) + (m ? m[s] : 0.0f);
          top = std::max(top, p[s]);
        }
        float sum = 0;
        for (std::int64_t s = 0; s < length; ++s) sum += (p[s] = std::exp(p[s] - top));
        float* o = op + r * heads * hd + j * hd;
        const float inv = 1.0f / sum;
        for (std::int64_t s = 0; s < length; ++s) add_scaled(o, vh + s * vs2, p[s] * inv, hd);
      }
    }
  });
  return out;
}

}  // namespace weakdistill::student_internal
