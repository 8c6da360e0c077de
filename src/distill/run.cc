#include "weakdistill/distill/run.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "round_stages.h"
#include "run_budget.h"
#include "run_progress.h"
#include "run_state.h"
#include "weakdistill/eval/evaluate.h"

namespace weakdistill {

RunInterrupted::~RunInterrupted() = default;

Split draw_few_shot(const std::vector<Sample>& train, const FewShotConfig& f) {
  return f.per_label ? sample_per_label(train, f.per_label, f.seed)
                     : sample_n(train.size(), f.n, f.seed);
}

nlohmann::ordered_json evaluate_student(Student& student, const Dataset& gold,
                                        std::vector<Prediction>* predictions,
                                        const std::string& label) {
  std::vector<Prediction> preds = predict_in_batches(student, gold.samples, label);
  Dataset pred;
  pred.task = gold.task;
  pred.path = "(predictions)";
  for (std::size_t i = 0; i < preds.size(); ++i) {
    Sample s;
    s.id = gold.samples[i].id;
    s.text = gold.samples[i].text;
    s.label = preds[i].label;
    s.entities = preds[i].entities;
    s.summary = preds[i].summary;
    pred.samples.push_back(std::move(s));
    pred.lines.push_back(i + 1);
  }
  auto metrics = eval::evaluate(gold, pred).metrics;
  if (predictions != nullptr) *predictions = std::move(preds);
  return metrics;
}

namespace {

using namespace distill_internal;

// The run's metrics.json (the best round's student on test, once), and augmented.jsonl.
nlohmann::ordered_json finish_run(RunState& s) {
  const RunConfig& c = s.c;
  // The best round's student, on test, once.
  nlohmann::ordered_json m;
  m["task"] = std::string(task_name(c.task));
  m["protocol"] = c.protocol;
  if (c.protocol == "paper") m["leaks"] = "dev is the test set: the test figure is not held out";
  if (dev_is_optimistic(c)) m["dev_optimistic"] = kDevOptimistic;
  m["teacher_kind"] = s.teacher->kind();
  m["simulated"] = s.teacher->simulated();
  m["best_round"] = s.best.best_round;
  m["stop_reason"] = !s.budget_stop.empty()                      ? "budget"
                     : s.teacher_exhausted                        ? "teacher_exhausted"
                     : s.quota() == 0                           ? "max_train"
                     : c.distill.schedule == "one_shot"         ? "one_shot"
                     : s.best.since_best >= c.distill.patience  ? "patience"
                                                                : "max_rounds";
  if (!s.budget_stop.empty()) m["budget_reached"] = s.budget_stop;
  m["rounds"] = s.rounds;
  if (!s.data.test.samples.empty()) {
    // best/ may lag the store after a crash between a commit and its copy: refresh it.
    auto best = load_student(s.round_student(s.best.best_round).string(), c.student_kind, c.task);
    save_student(*best, (s.dir / "best").string());
    m["test"] = evaluate_student(*best, s.data.test, nullptr,
                                 fmt::format("round {}'s student on test", s.best.best_round));
    m["test_round0"] = s.test_round0;
  }
  TeacherUsage total;
  for (const auto& r : s.rounds) {
    const auto& t = r.at("teacher");
    total.requests += t.at("requests").get<std::int64_t>();
    total.http_requests += t.at("http_requests").get<std::int64_t>();
    total.retries += t.at("retries").get<std::int64_t>();
    total.failures += t.at("failures").get<std::int64_t>();
    total.cache_hits += t.at("cache_hits").get<std::int64_t>();
    total.prompt_tokens += t.at("prompt_tokens").get<std::int64_t>();
    total.completion_tokens += t.at("completion_tokens").get<std::int64_t>();
  }
  m["teacher"] = {{"requests", total.requests},
                  {"cached", total.cache_hits},
                  {"http_requests", total.http_requests},
                  {"retries", total.retries},
                  {"failed", total.failures},
                  {"prompt_tokens", total.prompt_tokens},
                  {"completion_tokens", total.completion_tokens}};
  std::size_t accepted = 0;
  for (const auto& r : s.rounds) accepted += r.value("accepted", std::size_t{0});
  add_cost(m["teacher"], total.prompt_tokens, total.completion_tokens, accepted,
           s.teacher->price());
  write_lines(s.dir / "augmented.jsonl", s.augmented);
  write_json(s.dir / "metrics.json", m);
  if (m.contains("test")) {
    spdlog::info("best round {} · test {} {:.4f} (round 0: {:.4f}){}{}", s.best.best_round,
                 headline_name(c.task), headline(c.task, m["test"]),
                 s.test_round0.is_null() ? 0.0 : headline(c.task, s.test_round0),
                 spend_note(m["teacher"]),
                 c.protocol == "paper" ? " — LEAKS: dev is the test set" : "");
  }
  return m;
}

}  // namespace

nlohmann::ordered_json run_distillation(const RunConfig& c, const RunOptions& o) {
  // A finished run has nothing to resume: answer from its files, loading nothing else.
  if (o.resume) {
    if (auto m = finished_metrics(c, o.run_dir)) {
      spdlog::info("{} is finished (stop reason {}, best round {}): nothing to do", o.run_dir,
                   (*m)["stop_reason"].get<std::string>(), (*m).value("best_round", 0));
      return *m;
    }
  }
  RunState s(c, o);
  open_run(s);
  if (s.rounds.empty()) run_round_zero(s);
  if (s.quota() == 0) {
    spdlog::info("the training set holds {} samples, distill.max_train {}: no round to run",
                 s.data.train.samples.size() + s.accepted.size(), c.distill.max_train);
  }
  for (int round = static_cast<int>(s.rounds.size());
       round <= c.distill.rounds_limit() && s.best.since_best < c.distill.patience &&
       s.quota() > 0;
       ++round) {
    if (auto why = budget_reached(s.teacher->budget(), spent_by_rounds(s), s.teacher->price());
        !why.empty()) {
      s.budget_stop = why;
      break;
    }
    RoundWork w;
    w.round = round;
    w.dir = s.round_dir(round);
    fs::create_directories(w.dir);
    w.quota = s.quota();
    w.usage_start = s.teacher->usage();
    w.batches_start = s.teacher->batches().size();
    const Weakness weakness = analyse_round_weakness(s, w);
    take_from_reservoir(s, w);
    draw_round_seeds(s, w, weakness);
    fit_round_to_budget(s, w);
    if (!ask_teacher(s, w)) {
      s.teacher_exhausted = true;
      break;
    }
    parse_and_verify(s, w);
    select_diverse_candidates(s, w);
    accept_candidates(s, w);
    train_and_evaluate(s, w);
    commit_round(s, w);
    if (!s.budget_stop.empty()) break;
  }
  return finish_run(s);
}

}  // namespace weakdistill
