// Stages 4 and 5 of a round: the teacher, and parsing and verifying what it wrote.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "round_stages.h"
#include "run_budget.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/teacher/reply_parser.h"

namespace weakdistill::distill_internal {

std::vector<Verdict> judge_reply(const RunState& s, const GenerationRequest& request,
                                 const Generation& g) {
  const RunConfig& c = s.c;
  return judge_generation(c.task, g, s.teacher->samples_per_request(), [&](Verdict& v) {
    if (c.distill.verify) {
      v.rejection = s.verifier->verify(*v.sample, *request.seed);
    } else if (c.task == Task::kNer) {
      // Without verification, offsets still have to be found to train on.
      Verifier lenient(c.task, s.data.labeled, VerifyOptions{0.0});
      if (auto bad = lenient.verify(*v.sample, *request.seed);
          bad && bad->reason == RejectReason::kEntityNotInText) {
        v.rejection = std::move(bad);
        v.sample.reset();  // its entities have no offsets
      }
    }
  });
}

bool ask_teacher(RunState& s, RoundWork& w) {
  ReaskOptions o;
  o.retries = s.teacher->format_retries();
  // Re-asks are numbered after the round's first requests: new seeds, new cache entries, and
  // the same numbers again on a resume that meets the same replies.
  o.reask_ordinal = [&](std::size_t k) { return ordinal_of(w.round, w.requests.size() + k); };
  std::unique_ptr<Progress> progress;
  std::int64_t tokens = 0;
  o.on_wave = [&](int wave, std::size_t n) {
    progress.reset();
    progress = std::make_unique<Progress>(
        wave == 0 ? fmt::format("round {} teacher", w.round)
                  : fmt::format("round {} re-asks ({})", w.round, wave),
        n, "requests");
  };
  // With a budget, sending stops once a limit is reached: the requests in flight are the most
  // it can be passed by.
  const TeacherBudget budget = s.teacher->budget();
  SendGuard guard(budget.empty() ? nullptr : s.o.cancel);
  const Spend before = budget.empty() ? Spend{} : spent_by_rounds(s);
  o.on_done = [&](const Generation& g) {
    tokens += g.prompt_tokens + g.completion_tokens;
    progress->advance(1, tokens ? human_count(static_cast<double>(tokens)) + " tokens" : "");
    if (budget.empty() || !s.budget_stop.empty()) return;
    Spend now = before;
    now += spend_of(usage_since(s.teacher->usage(), w.usage_start), s.teacher->price());
    if (auto why = budget_reached(budget, now, s.teacher->price()); !why.empty()) {
      s.budget_stop = why;
      guard.trip();
    }
  };
  o.cancel = budget.empty() ? s.o.cancel : guard.flag();
  s.teacher->set_work_dir(s.round_dir(w.round).string());
  w.attempts = ask_with_reasks(
      *s.teacher, w.requests,
      [&](const GenerationRequest& r, const Generation& g) { return judge_reply(s, r, g); }, o);
  progress.reset();
  // A response_format fallback is a fact about the server: kept for the rest of the run.
  if (const auto format = s.teacher->format_state(); !format.is_null()) {
    const std::string text = format.dump();
    if (s.store->meta("teacher_format") != text) s.store->put_meta("teacher_format", text);
  }
  s.check_cancel(fmt::format("during round {}'s teacher requests", w.round));
  if (!s.budget_stop.empty()) {
    // Requests never sent cost nothing and are not part of the round.
    std::erase_if(w.attempts, [](const Attempt& a) {
      return !a.generation.ok && a.generation.error == "cancelled";
    });
    spdlog::warn("round {}: the teacher budget is reached ({}): the round goes on with the {} "
                 "replies it has",
                 w.round, s.budget_stop, w.attempts.size());
    return true;
  }
  // A teacher that answered nothing is down, not weak: stop (what was answered is cached)
  // rather than train rounds on nothing.
  if (!w.attempts.empty() && std::none_of(w.attempts.begin(), w.attempts.end(),
                                          [](const Attempt& a) { return a.generation.ok; })) {
    if (s.teacher->kind() == "pool") {
      spdlog::warn("round {}: the pool teacher has no unused sample left for any seed; stopping",
                   w.round);
      return false;
    }
    throw std::runtime_error(fmt::format(
        "round {}: the teacher answered none of {} requests (last error: {}); fix it, then "
        "continue with: weakdistill run --resume {}",
        w.round, w.attempts.size(), w.attempts.back().generation.error, s.o.run_dir));
  }
  return true;
}

void parse_and_verify(RunState& s, RoundWork& w) {
  for (const Attempt& a : w.attempts) {
    for (std::size_t k = 0; k < a.verdicts.size(); ++k) {
      const Verdict& v = a.verdicts[k];
      CandidateRecord rec;
      rec.round = w.round;
      rec.ordinal = a.request.ordinal;
      rec.slot = static_cast<int>(k);
      rec.attempt = a.attempt;
      rec.first_ordinal = a.first_ordinal;
      rec.seed_index = w.seeds[a.origin];
      rec.reply = a.generation.reply;
      rec.reasoning = a.generation.reasoning;
      if (v.rejection) {
        rec.outcome = std::string(reason_name(v.rejection->reason));
        rec.detail = v.rejection->detail;
      }
      if (v.sample) rec.sample = to_json(*v.sample, s.c.task);
      if (v.parsed) ++w.parsed;
      if (v.usable()) w.verified.push_back(w.records.size());
      w.records.push_back(std::move(rec));
      w.candidates.push_back(v.usable() ? *v.sample : Sample{});
      w.vectors.emplace_back();
    }
  }
}

}  // namespace weakdistill::distill_internal
