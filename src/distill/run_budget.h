// The teacher budget in the loop (teacher.budget, private to src/distill/): what the run has
// spent, whether a limit is reached, how many requests a round may still send, and the guard
// that stops sending once a limit is reached mid-round (so a run passes its budget by at most
// the requests in flight).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "run_state.h"

namespace weakdistill::distill_internal {

// Paid requests (cache hits are free), prompt + completion tokens, and their cost.
struct Spend {
  std::int64_t requests = 0;
  std::int64_t tokens = 0;
  double cost = 0;
  Spend& operator+=(const Spend& o);
};

Spend spend_of(const TeacherUsage& usage, const std::optional<TeacherPrice>& price);
// What the committed rounds spent (their metrics' "teacher" objects).
Spend spent_by_rounds(const RunState& s);

// The first limit `spent` has reached ("max_cost 0.5 CNY (spent 0.5012 CNY)"), or "".
std::string budget_reached(const TeacherBudget& budget, const Spend& spent,
                           const std::optional<TeacherPrice>& price);

// Stage 3b: cuts the round's requests to what the budget still allows: max_requests exactly,
// tokens and cost by the average paid request so far (none before the first paid request:
// the guard then holds the round). Logs what it cut.
void fit_round_to_budget(RunState& s, RoundWork& w);

// While alive, `flag()` turns true once the caller's cancel does (forwarded within 20 ms) or
// once trip() is called: the teacher stage's cancel, so that a reached budget stops sending.
class SendGuard {
 public:
  explicit SendGuard(const std::atomic<bool>* cancel);
  ~SendGuard();
  SendGuard(const SendGuard&) = delete;
  SendGuard& operator=(const SendGuard&) = delete;
  const std::atomic<bool>* flag() const { return &stop_; }
  void trip() { stop_.store(true); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::thread watcher_;
};

}  // namespace weakdistill::distill_internal
