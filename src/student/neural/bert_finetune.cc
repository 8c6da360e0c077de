#include "bert_finetune.h"

#include <algorithm>
#include <cmath>

#include "weakdistill/core/error.h"

namespace weakdistill::student_internal {

void read_bert_finetune_options(OptionReader& r, BertFineTuneOptions& o) {
  r.get("path", o.path);
  r.get("max_length", o.max_length);
  r.get("epochs", o.epochs);
  r.get("batch_size", o.batch_size);
  r.get("lr", o.lr);
  r.get("head_lr", o.head_lr);
  r.get("weight_decay", o.weight_decay);
  r.get("warmup", o.warmup);
  r.get("clip", o.clip);
  r.get("dropout", o.dropout);
  r.get("keep_best", o.keep_best);
  r.get("dev_every", o.dev_every);
  if (o.max_length < 3 || o.max_length > 8192) r.fail("max_length", "must be in 3..8192");
  if (o.epochs < 0) r.fail("epochs", "must be 0 (auto) or more");
  if (o.batch_size < 1) r.fail("batch_size", "must be 1 or more");
  if (!(o.lr > 0)) r.fail("lr", "must be more than 0");
  if (o.head_lr < 0) r.fail("head_lr", "must be 0 (same as lr) or more");
  if (o.weight_decay < 0) r.fail("weight_decay", "must be 0 or more");
  if (o.warmup < 0 || o.warmup >= 1) r.fail("warmup", "must be in [0, 1)");
  if (o.clip < 0) r.fail("clip", "must be 0 (no clipping) or more");
  if (o.dropout < 0 || o.dropout >= 1) r.fail("dropout", "must be in [0, 1)");
  if (o.dev_every < 0) r.fail("dev_every", "must be 0 (auto) or more");
}

nlohmann::json bert_finetune_json(const BertFineTuneOptions& o) {
  return {{"path", o.path},
          {"max_length", o.max_length},
          {"epochs", o.epochs},
          {"batch_size", o.batch_size},
          {"lr", o.lr},
          {"head_lr", o.head_lr},
          {"weight_decay", o.weight_decay},
          {"warmup", o.warmup},
          {"clip", o.clip},
          {"dropout", o.dropout},
          {"keep_best", o.keep_best},
          {"dev_every", o.dev_every}};
}

int bert_epochs(const BertFineTuneOptions& o, std::size_t samples) {
  if (o.epochs > 0) return o.epochs;
  constexpr std::size_t kMinSteps = 100;
  const std::size_t batch = static_cast<std::size_t>(o.batch_size);
  const std::size_t per_epoch = std::max<std::size_t>(1, (samples + batch - 1) / batch);
  return static_cast<int>(std::clamp<std::size_t>((kMinSteps + per_epoch - 1) / per_epoch, 3, 50));
}

int bert_dev_every(const BertFineTuneOptions& o, int epochs) {
  if (o.dev_every > 0) return o.dev_every;
  return epochs <= 20 ? 1 : (epochs + 9) / 10;
}

namespace {

bool undecayed(const std::string& hf_name) {
  for (const char* norm : {"LayerNorm", "layer_norm", "layernorm"}) {
    if (hf_name.find(norm) != std::string::npos) return true;
  }
  return hf_name.ends_with(".bias");
}

}  // namespace

BertOptimizer::BertOptimizer(const BertEncoderImpl& encoder,
                             const std::vector<torch::Tensor>& head_weights,
                             const std::vector<torch::Tensor>& head_biases,
                             const BertFineTuneOptions& o, std::int64_t total_steps)
    : clip_(o.clip), total_steps_(std::max<std::int64_t>(1, total_steps)) {
  warmup_steps_ =
      static_cast<std::int64_t>(std::ceil(o.warmup * static_cast<double>(total_steps_)));
  std::vector<torch::Tensor> enc_decay, enc_plain;
  for (const auto& [name, t] : encoder.hf_tensors())
    (undecayed(name) ? enc_plain : enc_decay).push_back(t);
  const double head_lr = o.head_lr > 0 ? o.head_lr : o.lr;
  std::vector<FusedAdamW::Group> groups;
  auto add = [&](const std::vector<torch::Tensor>& params, double lr, double decay) {
    if (params.empty()) return;
    groups.push_back({params, decay});
    base_lr_.push_back(lr);
    all_.insert(all_.end(), params.begin(), params.end());
  };
  add(enc_decay, o.lr, o.weight_decay);
  add(enc_plain, o.lr, 0);
  add(head_weights, head_lr, o.weight_decay);
  add(head_biases, head_lr, 0);
  adam_ = FusedAdamW(std::move(groups), 0.9, 0.999, 1e-8);
}

BertOptimizer::BertOptimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named,
                             const BertFineTuneOptions& o, std::int64_t total_steps)
    : clip_(o.clip), total_steps_(std::max<std::int64_t>(1, total_steps)) {
  warmup_steps_ =
      static_cast<std::int64_t>(std::ceil(o.warmup * static_cast<double>(total_steps_)));
  std::vector<torch::Tensor> decay, plain;
  for (const auto& [name, t] : named) {
    if (t.requires_grad()) (undecayed(name) ? plain : decay).push_back(t);
  }
  std::vector<FusedAdamW::Group> groups;
  for (const auto* params : {&decay, &plain}) {
    if (params->empty()) continue;
    groups.push_back({*params, params == &decay ? o.weight_decay : 0});
    base_lr_.push_back(o.lr);
    all_.insert(all_.end(), params->begin(), params->end());
  }
  adam_ = FusedAdamW(std::move(groups), 0.9, 0.999, 1e-8);
}

double BertOptimizer::schedule(std::int64_t step, std::int64_t warmup_steps,
                               std::int64_t total_steps) {
  if (step < warmup_steps) {
    return static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup_steps));
  }
  return std::max(0.0,
                  static_cast<double>(total_steps - step) /
                      static_cast<double>(std::max<std::int64_t>(1, total_steps - warmup_steps)));
}

void BertOptimizer::step() {
  if (clip_ > 0) torch::nn::utils::clip_grad_norm_(all_, clip_);
  const double f = schedule(step_, warmup_steps_, total_steps_);
  std::vector<double> lr(base_lr_.size());
  for (std::size_t g = 0; g < lr.size(); ++g) lr[g] = base_lr_[g] * f;
  adam_.step(lr);
  adam_.zero_grad();
  ++step_;
}

EpochTracker::EpochTracker(const BertFineTuneOptions& o, int epochs, bool has_dev)
    : epochs_(epochs),
      dev_every_(bert_dev_every(o, epochs)),
      has_dev_(has_dev),
      keep_best_(o.keep_best),
      started_(std::chrono::steady_clock::now()) {}

EpochReport EpochTracker::finish(int epoch, double train_loss,
                                 const std::function<std::pair<double, std::string>()>& score_dev,
                                 const std::vector<torch::Tensor>& params) {
  EpochReport report;
  report.epoch = epoch;
  report.epochs = epochs_;
  report.train_loss = train_loss;
  if (has_dev_ && (epoch % dev_every_ == 0 || epoch == epochs_)) {
    std::tie(report.dev_metric, report.dev_metric_name) = score_dev();
    if (keep_best_ && report.dev_metric > best_) {
      best_ = report.dev_metric;
      best_weights_.clear();
      for (const auto& p : params) best_weights_.push_back(p.detach().clone());
    }
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return report;
}

void EpochTracker::restore_best(const std::vector<torch::Tensor>& params) const {
  if (best_weights_.empty()) return;
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_weights_[i]);
}

}  // namespace weakdistill::student_internal
