#include "run_budget.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>

namespace weakdistill::distill_internal {

Spend& Spend::operator+=(const Spend& o) {
  requests += o.requests;
  tokens += o.tokens;
  cost += o.cost;
  return *this;
}

Spend spend_of(const TeacherUsage& u, const std::optional<TeacherPrice>& price) {
  Spend s;
  s.requests = u.requests - u.cache_hits;
  s.tokens = u.prompt_tokens + u.completion_tokens;
  if (price) s.cost = price->cost(u.prompt_tokens, u.completion_tokens);
  return s;
}

Spend spent_by_rounds(const RunState& s) {
  Spend total;
  for (const auto& r : s.rounds) {
    const auto& t = r.at("teacher");
    TeacherUsage u;
    u.requests = t.value("requests", std::int64_t{0});
    u.cache_hits = t.value("cache_hits", std::int64_t{0});
    u.prompt_tokens = t.value("prompt_tokens", std::int64_t{0});
    u.completion_tokens = t.value("completion_tokens", std::int64_t{0});
    total += spend_of(u, s.teacher->price());
  }
  return total;
}

std::string budget_reached(const TeacherBudget& b, const Spend& spent,
                           const std::optional<TeacherPrice>& price) {
  if (b.max_requests && spent.requests >= *b.max_requests) {
    return fmt::format("max_requests {} (sent {})", *b.max_requests, spent.requests);
  }
  if (b.max_tokens && spent.tokens >= *b.max_tokens) {
    return fmt::format("max_tokens {} (spent {})", *b.max_tokens, spent.tokens);
  }
  if (b.max_cost && price && spent.cost >= *b.max_cost) {
    return fmt::format("max_cost {} {} (spent {:.6g} {})", *b.max_cost, price->currency,
                       spent.cost, price->currency);
  }
  return "";
}

void fit_round_to_budget(RunState& s, RoundWork& w) {
  const TeacherBudget b = s.teacher->budget();
  if (b.empty() || w.requests.empty()) return;
  const Spend spent = spent_by_rounds(s);
  std::size_t fit = w.requests.size();
  if (b.max_requests) {
    fit = std::min<std::size_t>(fit, static_cast<std::size_t>(
                                         std::max<std::int64_t>(0, *b.max_requests - spent.requests)));
  }
  // Tokens and cost by what a paid request has cost so far.
  if (spent.requests > 0) {
    const auto by = [&](double left, double per_request) {
      if (per_request <= 0) return;
      fit = std::min<std::size_t>(fit, static_cast<std::size_t>(std::max(0.0, std::ceil(left / per_request))));
    };
    const double n = static_cast<double>(spent.requests);
    if (b.max_tokens) by(static_cast<double>(*b.max_tokens - spent.tokens), spent.tokens / n);
    if (b.max_cost) by(*b.max_cost - spent.cost, spent.cost / n);
  }
  if (fit < w.requests.size()) {
    spdlog::info("round {}: the teacher budget leaves room for {} of {} requests", w.round, fit,
                 w.requests.size());
    w.requests.resize(fit);
    w.seeds.resize(fit);
  }
}

SendGuard::SendGuard(const std::atomic<bool>* cancel) {
  if (cancel == nullptr) return;
  watcher_ = std::thread([this, cancel] {
    while (!done_.load()) {
      if (cancel->load()) {
        stop_.store(true);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
}

SendGuard::~SendGuard() {
  done_.store(true);
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace weakdistill::distill_internal
