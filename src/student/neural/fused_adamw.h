// AdamW whose update of a parameter is one pass over memory. Private to src/student/ (the
// fine-tuning optimizer, bert_finetune.h).
//
// torch::optim::AdamW runs each step as a chain of element-wise ops (mul_, add_, mul_, addcmul_,
// sqrt, div, add_, addcdiv_), each a full pass over the parameter, its gradient or its moments:
// about 10% of a training step of a 49 M-parameter BART (bench/compare_seq2seq.sh -P -m train).
// This does the same arithmetic element by element, in parallel over chunks of each parameter,
// and its zero_grad() drops the gradients instead of zeroing them, so that backward writes fresh
// ones instead of adding to zeros. On that BART's 49 M parameters (2 cores), a step and zero_grad
// take 32 ms, torch's 78 to 95 ms.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <span>
#include <vector>

namespace weakdistill::student_internal {

class FusedAdamW {
 public:
  struct Group {
    // Updated in place; each float32, contiguous, on the CPU.
    std::vector<torch::Tensor> params;
    // Decoupled weight decay: each step multiplies the parameters by 1 - lr * weight_decay.
    double weight_decay = 0;
  };
  // A parameter's moments, shaped like it; undefined until its first step.
  struct ParamState {
    torch::Tensor exp_avg, exp_avg_sq;
    // Steps taken by this parameter: a step that finds its gradient undefined skips it.
    std::int64_t steps = 0;
  };

  FusedAdamW() = default;
  // Throws std::invalid_argument when a parameter is not a contiguous float32 CPU tensor.
  explicit FusedAdamW(std::vector<Group> groups, double beta1 = 0.9, double beta2 = 0.999,
                      double eps = 1e-8);

  // One update of every parameter whose gradient is defined, with group g at rate group_lr[g]
  // (one a group), as torch 1.13's AdamW (amsgrad off) computes it:
  //   p = p * (1 - lr * wd); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g g
  //   p = p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
  // with t the parameter's own step count. Parameters whose gradient is undefined are left as
  // they are and their state does not advance (torch skips them too). Gradients must be dense
  // float32 of the parameter's size; throws std::invalid_argument otherwise, or when a parameter
  // is no longer a contiguous float32 CPU tensor, before anything is updated.
  void step(std::span<const double> group_lr);
  // The same, every group at `lr`.
  void step(double lr);
  // Sets every parameter's gradient to undefined, so that the next backward writes it.
  void zero_grad();

  std::size_t groups() const { return groups_.size(); }
  // Parameter `index` of group `group`'s state.
  const ParamState& state(std::size_t group, std::size_t index) const {
    return state_.at(group).at(index);
  }

 private:
  std::vector<Group> groups_;
  std::vector<std::vector<ParamState>> state_;  // [group][index], as groups_
  double beta1_ = 0.9, beta2_ = 0.999, eps_ = 1e-8;
};

}  // namespace weakdistill::student_internal
