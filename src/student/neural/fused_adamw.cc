#include "fused_adamw.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <utility>

#include "float_lanes.h"

namespace weakdistill::student_internal {
namespace {

// A step's scalars, rounded to float as ATen rounds a double Scalar for a float tensor.
struct Coefficients {
  float decay;  // 1 - lr * weight_decay
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float root_correction2;  // sqrt(1 - beta2^t)
  float eps;
  float neg_step;  // -lr / (1 - beta1^t)
};

// Elements [0, n) of one parameter: each is read and written once. The operations and their
// order are those of torch's ops (p.mul_; m.mul_(b1).add_(g, 1 - b1);
// v.mul_(b2).addcmul_(g, g, 1 - b2); (v.sqrt() / c2).add_(eps); p.addcdiv_(m, denom, -step)).
void update(float* p, const float* g, float* m, float* v, std::int64_t n, const Coefficients& c) {
  const Lanes decay = splat(c.decay), beta1 = splat(c.beta1), a1 = splat(c.one_minus_beta1),
              beta2 = splat(c.beta2), a2 = splat(c.one_minus_beta2),
              root2 = splat(c.root_correction2), eps = splat(c.eps), neg_step = splat(c.neg_step);
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    Lanes pv = load_lanes(p + i), mv = load_lanes(m + i), vv = load_lanes(v + i);
    const Lanes gv = load_lanes(g + i);
    pv = pv * decay;
    mv = mv * beta1 + a1 * gv;
    vv = vv * beta2 + a2 * gv * gv;
    pv = pv + neg_step * mv / (lanes_sqrt(vv) / root2 + eps);
    store_lanes(p + i, pv);
    store_lanes(m + i, mv);
    store_lanes(v + i, vv);
  }
  for (; i < n; ++i) {
    const float gi = g[i];
    const float mi = m[i] * c.beta1 + c.one_minus_beta1 * gi;
    const float vi = v[i] * c.beta2 + c.one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * c.decay + c.neg_step * mi / (std::sqrt(vi) / c.root_correction2 + c.eps);
  }
}

// Elements a task: 128 KB of each of the four arrays, so that a small tensor (a bias, a
// LayerNorm) runs on the calling thread instead of paying for a parallel region.
constexpr std::int64_t kGrain = 1 << 15;

std::string where(std::size_t group, std::size_t index) {
  return "fused_adamw: group " + std::to_string(group) + " parameter " + std::to_string(index);
}

void check_param(const torch::Tensor& p, std::size_t group, std::size_t index) {
  auto fail = [&](const std::string& what) {
    throw std::invalid_argument(where(group, index) + ": " + what);
  };
  if (!p.defined()) fail("is undefined");
  if (!p.device().is_cpu() || p.layout() != torch::kStrided) fail("must be a dense CPU tensor");
  if (p.scalar_type() != torch::kFloat32) {
    fail(std::string("must be float32, is ") + c10::toString(p.scalar_type()) +
         " (convert the model to float32 before training)");
  }
  if (!p.is_contiguous()) fail("must be contiguous");
}

}  // namespace

FusedAdamW::FusedAdamW(std::vector<Group> groups, double beta1, double beta2, double eps)
    : groups_(std::move(groups)), beta1_(beta1), beta2_(beta2), eps_(eps) {
  if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps >= 0)) {
    throw std::invalid_argument("fused_adamw: betas must be in [0, 1) and eps 0 or more");
  }
  // torch keys its state by tensor, so a tensor listed twice shares its moments and is stepped
  // twice; here each entry has its own, which would differ silently: refuse it.
  std::unordered_set<const void*> seen;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    if (!(groups_[g].weight_decay >= 0)) {
      throw std::invalid_argument("fused_adamw: group " + std::to_string(g) +
                                  ": weight_decay must be 0 or more");
    }
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      check_param(groups_[g].params[i], g, i);
      if (!seen.insert(groups_[g].params[i].unsafeGetTensorImpl()).second) {
        throw std::invalid_argument(where(g, i) + ": is listed more than once");
      }
    }
    state_.emplace_back(groups_[g].params.size());
  }
}

void FusedAdamW::step(double lr) { step(std::vector<double>(groups_.size(), lr)); }

void FusedAdamW::step(std::span<const double> group_lr) {
  if (group_lr.size() != groups_.size()) {
    throw std::invalid_argument("fused_adamw: step() got " + std::to_string(group_lr.size()) +
                                " rates for " + std::to_string(groups_.size()) + " groups");
  }
  // Everything is checked before anything is updated, so that a bad gradient does not leave
  // the model half stepped.
  struct Work {
    std::size_t group, index;
    torch::Tensor grad;
  };
  std::vector<Work> work;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      const torch::Tensor& p = groups_[g].params[i];
      check_param(p, g, i);
      const torch::Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      if (grad.layout() != torch::kStrided || !grad.device().is_cpu() ||
          grad.scalar_type() != torch::kFloat32 || grad.sizes() != p.sizes()) {
        throw std::invalid_argument(where(g, i) +
                                    ": its gradient must be a dense float32 CPU tensor of its "
                                    "shape (sparse gradients are not supported)");
      }
      // Backward gives a contiguous parameter a contiguous gradient (autograd's layout
      // contract); one set by hand may not be, and a copy is cheaper than refusing it.
      work.push_back({g, i, grad.contiguous()});
    }
  }
  // Named in profiles (bench/compare_seq2seq.sh -P) beside the aten ops.
  RECORD_FUNCTION("weakdistill::fused_adamw_step", std::vector<c10::IValue>());
  for (const Work& w : work) {
    const torch::Tensor& p = groups_[w.group].params[w.index];
    ParamState& s = state_[w.group][w.index];
    if (!s.exp_avg.defined()) {
      s.exp_avg = torch::zeros_like(p, at::MemoryFormat::Contiguous);
      s.exp_avg_sq = torch::zeros_like(p, at::MemoryFormat::Contiguous);
    }
    ++s.steps;
    const double lr = group_lr[w.group], wd = groups_[w.group].weight_decay;
    const double correction1 = 1 - std::pow(beta1_, static_cast<double>(s.steps));
    const double correction2 = 1 - std::pow(beta2_, static_cast<double>(s.steps));
    const Coefficients c{static_cast<float>(wd != 0 ? 1 - lr * wd : 1.0),
                         static_cast<float>(beta1_),
                         static_cast<float>(1 - beta1_),
                         static_cast<float>(beta2_),
                         static_cast<float>(1 - beta2_),
                         static_cast<float>(std::sqrt(correction2)),
                         static_cast<float>(eps_),
                         static_cast<float>(-(lr / correction1))};
    float* pp = p.data_ptr<float>();
    const float* gp = w.grad.data_ptr<float>();
    float* mp = s.exp_avg.data_ptr<float>();
    float* vp = s.exp_avg_sq.data_ptr<float>();
    at::parallel_for(0, p.numel(), kGrain, [&](std::int64_t begin, std::int64_t end) {
      update(pp + begin, gp + begin, mp + begin, vp + begin, end - begin, c);
    });
    // Written through a raw pointer, so tell autograd, as an in-place op would: a graph that
    // saved this parameter then fails loudly instead of using the new values.
    p.unsafeGetTensorImpl()->bump_version();
  }
}

void FusedAdamW::zero_grad() {
  for (Group& g : groups_) {
    for (torch::Tensor& p : g.params) p.mutable_grad() = torch::Tensor();
  }
}

}  // namespace weakdistill::student_internal
