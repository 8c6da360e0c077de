// The one-pass AdamW (src/student/neural/fused_adamw.h) against torch::optim::AdamW, the
// independent reference, on the same parameters and the same random gradients: two groups (with
// and without weight decay), tensors of sizes that are and are not a multiple of the kernel's
// lane width and one large enough to be split between threads, a rate that changes each step as
// the fine-tuning schedule's does (from 0), and gradients missing on some steps. Then zero_grad,
// the parameters it refuses, and BertOptimizer (bert_finetune.h) against torch's AdamW with the
// same clipping and schedule.
#include "fused_adamw.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bert_finetune.h"

namespace weakdistill {
namespace {

using student_internal::BertFineTuneOptions;
using student_internal::BertOptimizer;
using student_internal::FusedAdamW;

// |a - b| <= 1e-6 |b| + atol element-wise. The two differ by float32 rounding: torch's add_
// fuses a multiply-add (FMA) where the CPU has one and ours does not, a unit in the last place of
// exp_avg that can be most of an element near 0; atol covers that, many times below what any
// change to the formula does at these rates.
void expect_close(const torch::Tensor& ours, const torch::Tensor& want, const std::string& what,
                  double atol) {
  ASSERT_EQ(ours.sizes(), want.sizes()) << what;
  const torch::Tensor excess = (ours - want).abs() - (1e-6 * want.abs() + atol);
  EXPECT_LE(excess.max().item<double>(), 0)
      << what << ": largest difference " << (ours - want).abs().max().item<double>();
}

// Parameters (of size about 1): a tolerance of 1e-6 relative, 1e-8 absolute.
void expect_close(const torch::Tensor& ours, const torch::Tensor& want, const std::string& what) {
  expect_close(ours, want, what, 1e-8);
}

// Moments: 1e-6 of the tensor's largest element, as they are averages of gradients that cancel.
void expect_close_moment(const torch::Tensor& ours, const torch::Tensor& want,
                         const std::string& what) {
  expect_close(ours, want, what, 1e-6 * want.abs().max().item<double>());
}

const torch::optim::AdamWParamState& torch_state(torch::optim::AdamW& adam,
                                                 const torch::Tensor& p) {
  return static_cast<const torch::optim::AdamWParamState&>(
      *adam.state().at(c10::guts::to_string(p.unsafeGetTensorImpl())));
}

// Group 0 (weight decay 0.01) and group 1 (none). The 70001 elements span more than two of the
// kernel's parallel chunks.
const std::vector<std::vector<std::vector<std::int64_t>>> kShapes = {
    {{7}, {3, 129}, {70001}},
    {{1}, {1000}, {4, 5}},
};
const double kDecay[] = {0.01, 0};
// The rate of each step: a warm-up from 0, then a decay, as BertOptimizer's schedule gives.
const std::vector<double> kRates = {0, 5e-3, 1e-2, 7.5e-3, 5e-3, 2.5e-3, 1e-3};

// Steps FusedAdamW and torch's AdamW side by side over kRates; `has_grad(step, group, index)`
// says which parameters get a gradient on a step (the others' gradients are undefined on both
// sides). Checks the parameters, the moments and the step counts after every step.
void compare_with_torch(const std::function<bool(int, std::size_t, std::size_t)>& has_grad) {
  torch::manual_seed(11);
  std::vector<FusedAdamW::Group> ours_groups;
  std::vector<torch::optim::OptimizerParamGroup> torch_groups;
  std::vector<std::vector<torch::Tensor>> ours(kShapes.size()), theirs(kShapes.size());
  for (std::size_t g = 0; g < kShapes.size(); ++g) {
    for (const auto& shape : kShapes[g]) {
      const torch::Tensor init = torch::randn(shape);
      ours[g].push_back(init.clone().requires_grad_());
      theirs[g].push_back(init.clone().requires_grad_());
    }
    ours_groups.push_back({ours[g], kDecay[g]});
    auto options = std::make_unique<torch::optim::AdamWOptions>(1e-3);
    options->weight_decay(kDecay[g]).eps(1e-8).betas({0.9, 0.999});
    torch_groups.emplace_back(theirs[g], std::move(options));
  }
  FusedAdamW fused(ours_groups);
  torch::optim::AdamW reference(torch_groups, torch::optim::AdamWOptions(1e-3));

  std::vector<std::vector<std::int64_t>> steps(kShapes.size());
  for (std::size_t g = 0; g < kShapes.size(); ++g) steps[g].assign(kShapes[g].size(), 0);
  for (int t = 0; t < static_cast<int>(kRates.size()); ++t) {
    std::vector<std::vector<torch::Tensor>> before(kShapes.size());
    for (std::size_t g = 0; g < kShapes.size(); ++g) {
      for (std::size_t i = 0; i < kShapes[g].size(); ++i) {
        before[g].push_back(ours[g][i].detach().clone());
        if (has_grad(t, g, i)) {
          // Gradients whose scale changes from step to step, so that the moments' ratio is not
          // just the gradient's sign; group 1's last parameter's are so small (1e-9) that eps
          // is most of the denominator.
          const double scale = std::pow(10.0, static_cast<double>(t % 3) - 2) *
                               (g == 1 && i == kShapes[1].size() - 1 ? 1e-7 : 1.0);
          const torch::Tensor grad = torch::randn(kShapes[g][i]) * scale;
          ours[g][i].mutable_grad() = grad.clone();
          theirs[g][i].mutable_grad() = grad.clone();
          ++steps[g][i];
        } else {
          ours[g][i].mutable_grad() = torch::Tensor();
          theirs[g][i].mutable_grad() = torch::Tensor();
        }
      }
      static_cast<torch::optim::AdamWOptions&>(reference.param_groups()[g].options())
          .lr(kRates[static_cast<std::size_t>(t)]);
    }
    fused.step(kRates[static_cast<std::size_t>(t)]);
    reference.step();

    for (std::size_t g = 0; g < kShapes.size(); ++g) {
      for (std::size_t i = 0; i < kShapes[g].size(); ++i) {
        const std::string what = "step " + std::to_string(t) + ", group " + std::to_string(g) +
                                 " parameter " + std::to_string(i);
        const FusedAdamW::ParamState& s = fused.state(g, i);
        EXPECT_EQ(s.steps, steps[g][i]) << what;
        if (steps[g][i] == 0) {
          EXPECT_FALSE(s.exp_avg.defined()) << what << ": state allocated before its first step";
          EXPECT_EQ(
              reference.state().count(c10::guts::to_string(theirs[g][i].unsafeGetTensorImpl())), 0u)
              << what;
        } else {
          const auto& ts = torch_state(reference, theirs[g][i]);
          EXPECT_EQ(s.steps, ts.step()) << what;
          expect_close_moment(s.exp_avg, ts.exp_avg(), what + ", exp_avg");
          expect_close_moment(s.exp_avg_sq, ts.exp_avg_sq(), what + ", exp_avg_sq");
        }
        expect_close(ours[g][i].detach(), theirs[g][i].detach(), what);
        if (!has_grad(t, g, i)) {
          EXPECT_TRUE(torch::equal(ours[g][i].detach(), before[g][i]))
              << what << ": changed without a gradient";
        }
      }
    }
  }
}

TEST(FusedAdamW, MatchesTorchAdamWEveryStep) {
  compare_with_torch([](int, std::size_t, std::size_t) { return true; });
}

TEST(FusedAdamW, SkipsParametersWithoutGradientAsTorchDoes) {
  // Group 0's first parameter gets none on the first two steps (its state starts late); group
  // 1's second none on steps 3 and 4 (its step count, and so its bias correction, falls behind
  // the others'); group 0's large one none on the last step.
  compare_with_torch([](int t, std::size_t g, std::size_t i) {
    if (g == 0 && i == 0) return t >= 2;
    if (g == 1 && i == 1) return t != 3 && t != 4;
    if (g == 0 && i == 2) return t != static_cast<int>(kRates.size()) - 1;
    return true;
  });
}

TEST(FusedAdamW, PerGroupRates) {
  // step(rates) gives each group its own rate: the same as two optimizers of one group each.
  torch::manual_seed(3);
  const torch::Tensor a0 = torch::randn({9}), b0 = torch::randn({9}), ga = torch::randn({9}),
                      gb = torch::randn({9});
  torch::Tensor a = a0.clone().requires_grad_(), b = b0.clone().requires_grad_(),
                a1 = a0.clone().requires_grad_(), b1 = b0.clone().requires_grad_();
  FusedAdamW both({{{a}, 0.01}, {{b}, 0}});
  FusedAdamW only_a({{{a1}, 0.01}}), only_b({{{b1}, 0}});
  for (int t = 0; t < 3; ++t) {
    for (torch::Tensor* p : {&a, &a1}) p->mutable_grad() = ga.clone();
    for (torch::Tensor* p : {&b, &b1}) p->mutable_grad() = gb.clone();
    both.step(std::vector<double>{1e-2, 3e-2});
    only_a.step(1e-2);
    only_b.step(3e-2);
  }
  EXPECT_TRUE(torch::equal(a.detach(), a1.detach()));
  EXPECT_TRUE(torch::equal(b.detach(), b1.detach()));
  EXPECT_FALSE(torch::equal(a.detach(), a0));
  EXPECT_THROW(both.step(std::vector<double>{1e-2}), std::invalid_argument);
}

TEST(FusedAdamW, ZeroGradLeavesGradientsUndefined) {
  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({6});
  torch::Tensor p = torch::randn({6}).requires_grad_();
  FusedAdamW adam({{{p}, 0.01}});
  auto backward = [&] { (p * x).sum().backward(); };
  backward();
  ASSERT_TRUE(torch::equal(p.grad(), x));
  backward();  // without zero_grad, backward adds to what is there
  ASSERT_TRUE(torch::allclose(p.grad(), 2 * x));
  adam.step(1e-3);
  adam.zero_grad();
  EXPECT_FALSE(p.grad().defined());
  backward();
  ASSERT_TRUE(p.grad().defined());
  EXPECT_TRUE(torch::equal(p.grad(), x)) << "backward after zero_grad must give the gradient "
                                            "of one backward from nothing";
  adam.zero_grad();
  adam.step(1e-3);  // no gradient at all: nothing moves, nothing advances
  EXPECT_EQ(adam.state(0, 0).steps, 1);
}

TEST(FusedAdamW, RefusesWhatItCannotStep) {
  EXPECT_THROW(FusedAdamW({{{torch::zeros({4}, torch::kFloat64)}, 0}}), std::invalid_argument);
  EXPECT_THROW(FusedAdamW({{{torch::zeros({4}, torch::kFloat16)}, 0}}), std::invalid_argument);
  EXPECT_THROW(FusedAdamW({{{torch::zeros({3, 4}).t()}, 0}}), std::invalid_argument);
  EXPECT_THROW(FusedAdamW({{{torch::zeros({3, 4}).select(1, 1)}, 0}}), std::invalid_argument);
  const torch::Tensor twice = torch::zeros({2});
  EXPECT_THROW(FusedAdamW({{{twice}, 0.01}, {{twice}, 0}}), std::invalid_argument);
  EXPECT_THROW(FusedAdamW({{{torch::zeros({2})}, -1}}), std::invalid_argument);
  try {
    FusedAdamW bad(
        {{{torch::zeros({2})}, 0}, {{torch::zeros({4}), torch::zeros({4}, torch::kFloat64)}, 0}});
    ADD_FAILURE() << "a float64 parameter was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("group 1 parameter 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("float32"), std::string::npos) << e.what();
  }

  // A parameter made non-contiguous after construction, or a gradient of another shape, is
  // refused at step() before any parameter moves.
  torch::Tensor ok = torch::ones({5}).requires_grad_(), bad = torch::ones({5}).requires_grad_();
  FusedAdamW adam({{{ok}, 0}, {{bad}, 0}});
  ok.mutable_grad() = torch::ones({5});
  bad.mutable_grad() = torch::ones({6});
  EXPECT_THROW(adam.step(1e-2), std::invalid_argument);
  EXPECT_TRUE(torch::equal(ok.detach(), torch::ones({5})));
  EXPECT_EQ(adam.state(0, 0).steps, 0);
  bad.mutable_grad() = torch::ones({5});
  bad.set_data(torch::ones({5, 2}).select(1, 0));
  EXPECT_THROW(adam.step(1e-2), std::invalid_argument);
  EXPECT_TRUE(torch::equal(ok.detach(), torch::ones({5})));
}

TEST(FusedAdamW, AcceptsANonContiguousGradient) {
  torch::manual_seed(9);
  const torch::Tensor g = torch::randn({4, 3}).t();  // [3, 4], not contiguous
  torch::Tensor p = torch::randn({3, 4}).requires_grad_(), q = p.detach().clone().requires_grad_();
  FusedAdamW a({{{p}, 0.01}}), b({{{q}, 0.01}});
  p.mutable_grad() = g;
  q.mutable_grad() = g.contiguous();
  a.step(1e-2);
  b.step(1e-2);
  EXPECT_TRUE(torch::equal(p.detach(), q.detach()));
}

// BertOptimizer keeps its clipping, schedule and groups: against torch's AdamW over the same two
// groups, clip_grad_norm_ and the schedule's rate, step by step.
TEST(FusedAdamW, BertOptimizerMatchesTorchAdamWWithItsClippingAndSchedule) {
  torch::manual_seed(13);
  const std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes = {
      {"layer.0.dense.weight", {6, 5}},  {"layer.0.dense.bias", {6}},
      {"layer.0.LayerNorm.weight", {6}}, {"layer.0.LayerNorm.bias", {6}},
      {"layer.0.fc.weight", {3, 6}},     {"final_logits_bias", {3}}};
  std::vector<std::pair<std::string, torch::Tensor>> named;
  std::vector<torch::Tensor> ours, decay, plain;
  for (const auto& [name, shape] : shapes) {
    const torch::Tensor init = torch::randn(shape);
    const bool buffer = name == "final_logits_bias";
    named.emplace_back(name, init.clone().requires_grad_(!buffer));
    ours.push_back(named.back().second);
    if (buffer) continue;
    torch::Tensor t = init.clone().requires_grad_();
    (name.ends_with(".bias") || name.find("LayerNorm") != std::string::npos ? plain : decay)
        .push_back(t);
  }
  // decay: dense.weight, fc.weight; plain: dense.bias, LayerNorm.weight, LayerNorm.bias
  const std::vector<torch::Tensor> theirs = {decay[0], plain[0], plain[1], plain[2], decay[1]};

  BertFineTuneOptions o;
  o.lr = 1e-2;
  o.weight_decay = 0.05;
  o.warmup = 0.25;
  o.clip = 1.0;
  const std::int64_t total = 8, warmup = 2;  // ceil(0.25 * 8)
  BertOptimizer optimizer(named, o, total);

  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto options = std::make_unique<torch::optim::AdamWOptions>(o.lr);
  options->weight_decay(o.weight_decay);
  groups.emplace_back(decay, std::move(options));
  options = std::make_unique<torch::optim::AdamWOptions>(o.lr);
  options->weight_decay(0);
  groups.emplace_back(plain, std::move(options));
  torch::optim::AdamW reference(groups);

  const std::vector<std::size_t> trained = {0, 1, 2, 3, 4};  // indices into `named`
  for (std::int64_t t = 0; t < total; ++t) {
    for (std::size_t k = 0; k < trained.size(); ++k) {
      // Gradients with a norm well above the clip, so that clipping changes them.
      const torch::Tensor grad = torch::randn(ours[trained[k]].sizes()) * 3;
      ours[trained[k]].mutable_grad() = grad.clone();
      theirs[k].mutable_grad() = grad.clone();
    }
    optimizer.step();
    torch::nn::utils::clip_grad_norm_(theirs, o.clip);
    const double rate = o.lr * BertOptimizer::schedule(t, warmup, total);
    for (auto& g : reference.param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(g.options()).lr(rate);
    }
    reference.step();
    for (const torch::Tensor& p : theirs) p.mutable_grad() = torch::Tensor();

    for (std::size_t k = 0; k < trained.size(); ++k) {
      const torch::Tensor& p = ours[trained[k]];
      expect_close(p.detach(), theirs[k].detach(),
                   "step " + std::to_string(t) + ", " + named[trained[k]].first);
      EXPECT_FALSE(p.grad().defined()) << "step() leaves no gradient behind";
    }
  }
}

}  // namespace
}  // namespace weakdistill
