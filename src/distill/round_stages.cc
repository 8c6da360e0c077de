#include "round_stages.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "weakdistill/core/failpoint.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"
#include "weakdistill/embed/diversity.h"
#include "weakdistill/teacher/reply_parser.h"

namespace weakdistill::distill_internal {

EmbeddingMatrix comparison_set(const RunState& s,
                               const std::vector<const std::vector<float>*>& extra) {
  const EmbeddingMatrix& labeled = s.labeled_vectors;
  const std::size_t dim = labeled.dim();
  const std::size_t accepted_rows = dim ? s.accepted_vectors.size() / dim : 0;
  EmbeddingMatrix m(labeled.rows() + accepted_rows + extra.size(), dim);
  float* out = std::copy(labeled.data(), labeled.data() + labeled.rows() * dim, m.data());
  out = std::copy(s.accepted_vectors.begin(), s.accepted_vectors.end(), out);
  for (const auto* v : extra) out = std::copy(v->begin(), v->end(), out);
  return m;
}

void select_diverse_candidates(RunState& s, RoundWork& w) {
  const DistillConfig& d = s.c.distill;
  const auto over_quota = [&](std::size_t i) {
    w.records[i].outcome = "over_quota";
    if (d.reservoir) w.reservoir_added.push_back(i);
  };
  if (w.verified.empty()) return;
  std::vector<std::string> texts;
  for (std::size_t i : w.verified) texts.push_back(w.candidates[i].text);
  const EmbeddingMatrix embedded = s.embedder->embed(texts);
  for (std::size_t k = 0; k < w.verified.size(); ++k) {
    w.vectors[w.verified[k]].assign(embedded.row(k), embedded.row(k) + embedded.dim());
  }
  std::vector<std::size_t> kept;
  if (!d.diversity) {
    w.diverse = w.verified.size();
    for (std::size_t i : w.verified) {
      if (kept.size() < w.need) {
        kept.push_back(i);
      } else {
        over_quota(i);
      }
    }
  } else {
    // Against the labeled samples, every accepted one and what the reservoir gave this round.
    std::vector<const std::vector<float>*> taken;
    for (std::size_t i : w.kept) taken.push_back(&w.vectors[i]);
    DiversityOptions dopt;
    dopt.dist_min = d.dist_min;
    dopt.keep = w.need;
    const DiversityResult r = select_diverse(comparison_set(s, taken), embedded, dopt);
    for (std::size_t k = 0; k < w.verified.size(); ++k) {
      auto& rec = w.records[w.verified[k]];
      rec.diversity = r.diversity[k];
      if (r.kept[k] || r.diversity[k] >= d.dist_min) ++w.diverse;
      if (!r.kept[k]) {
        rec.detail = fmt::format("diversity {:.4f} (dist_min {})", r.diversity[k], d.dist_min);
        if (r.diversity[k] >= d.dist_min) {
          over_quota(w.verified[k]);
        } else {
          rec.outcome = "not_diverse";
        }
      }
    }
    for (std::size_t k : r.order) kept.push_back(w.verified[k]);
  }
  w.kept.insert(w.kept.end(), kept.begin(), kept.end());
}

nlohmann::ordered_json augmented_line(const RunState& s, const Sample& sample,
                                      const CandidateRecord& rec) {
  nlohmann::ordered_json line = {
      {"sample", to_json(sample, s.c.task)},
      {"seed", s.data.labeled[rec.seed_index].id.value_or(std::to_string(rec.seed_index))},
      {"round", rec.round},
      {"diversity", rec.diversity >= 0 ? nlohmann::ordered_json(rec.diversity)
                                       : nlohmann::ordered_json()}};
  if (rec.source_round >= 0) line["generated_in_round"] = rec.source_round;
  return line;
}

void accept_candidates(RunState& s, RoundWork& w) {
  for (std::size_t rank = 0; rank < w.kept.size(); ++rank) {
    const std::size_t i = w.kept[rank];
    auto& rec = w.records[i];
    rec.accepted = true;
    rec.rank = static_cast<int>(rank);
    rec.outcome = "accepted";
    s.verifier->add_accepted(w.candidates[i]);
    s.accepted_vectors.insert(s.accepted_vectors.end(), w.vectors[i].begin(), w.vectors[i].end());
    s.augmented.push_back(augmented_line(s, w.candidates[i], rec));
    s.accepted.push_back(w.candidates[i]);
  }
}

void train_and_evaluate(RunState& s, RoundWork& w) {
  w.train_set = s.data.train.samples;
  w.train_set.insert(w.train_set.end(), s.accepted.begin(), s.accepted.end());
  s.check_cancel(fmt::format("before training round {}", w.round));
  s.train_student(w.round, w.train_set);
  s.check_cancel(fmt::format("after training round {}", w.round));
  w.dev = evaluate_student(*s.student, s.data.dev, nullptr, fmt::format("round {} dev", w.round));
  w.dev_e = headline(s.c.task, w.dev);
}

TeacherUsage usage_since(const TeacherUsage& now, const TeacherUsage& start) {
  TeacherUsage d;
  d.requests = now.requests - start.requests;
  d.http_requests = now.http_requests - start.http_requests;
  d.retries = now.retries - start.retries;
  d.failures = now.failures - start.failures;
  d.cache_hits = now.cache_hits - start.cache_hits;
  d.prompt_tokens = now.prompt_tokens - start.prompt_tokens;
  d.completion_tokens = now.completion_tokens - start.completion_tokens;
  return d;
}

namespace {

}  // namespace

void add_cost(nlohmann::ordered_json& t, std::int64_t prompt_tokens,
              std::int64_t completion_tokens, std::size_t accepted,
              const std::optional<TeacherPrice>& price) {
  const auto per = [&](double x) {
    return accepted ? nlohmann::ordered_json(x / static_cast<double>(accepted))
                    : nlohmann::ordered_json();
  };
  t["tokens_per_accepted"] = per(static_cast<double>(prompt_tokens + completion_tokens));
  if (!price) return;
  const double cost = price->cost(prompt_tokens, completion_tokens);
  t["cost"] = cost;
  t["currency"] = price->currency;
  t["cost_per_accepted"] = per(cost);
}

std::string spend_note(const nlohmann::ordered_json& t) {
  const auto tokens = t.value("prompt_tokens", std::int64_t{0}) +
                      t.value("completion_tokens", std::int64_t{0});
  if (tokens == 0) return "";
  std::string out = " · " + human_count(static_cast<double>(tokens)) + " tokens";
  if (t.contains("cost")) {
    out += fmt::format(", {:.4g} {}", t["cost"].get<double>(), t["currency"].get<std::string>());
  }
  return out;
}

namespace {

// The round's entry of metrics.json.
nlohmann::ordered_json round_record(RunState& s, const RoundWork& w) {
  const RunConfig& c = s.c;
  nlohmann::ordered_json r;
  r["round"] = w.round;
  r["train_size"] = w.train_set.size();
  // First asks sent (a budget reached mid-round leaves some unsent: they are not counted).
  const ReaskYield y = reask_yield(w.attempts);
  r["requested"] = y.requests;
  r["reasked"] = y.reasks;
  r["parsed"] = w.parsed;
  r["verified"] = w.verified.size();
  r["diverse"] = w.diverse;
  r["accepted"] = w.kept.size();
  // Usable samples (parsed and verified) per first request: before and after re-asks.
  const auto per_request = [&](std::size_t n) {
    return y.requests ? static_cast<double>(n) / static_cast<double>(y.requests) : 0.0;
  };
  r["yield"] = {{"first_try", per_request(y.usable_first_try)},
                {"after_reasks", per_request(y.usable)}};
  if (c.distill.reservoir) {
    double age = 0;
    for (std::size_t rank = 0; rank < w.from_reservoir; ++rank) {
      age += w.round - w.records[w.kept[rank]].source_round;
    }
    r["reservoir"] = {
        {"held", s.reservoir.size()},
        {"taken", w.from_reservoir},
        {"dropped", w.reservoir_change.removed.size() - w.from_reservoir},
        {"added", w.reservoir_added.size()},
        {"held_after", s.reservoir.size() - w.reservoir_change.removed.size() +
                           w.reservoir_added.size()},
        {"taken_mean_age", w.from_reservoir ? age / static_cast<double>(w.from_reservoir) : 0.0}};
  }
  r["dev"] = w.dev;
  r["dev_e"] = w.dev_e;
  r["per_label"] = per_label(c.task, w.dev);
  if (c.distill.test_each_round) {
    r["test"] = evaluate_student(*s.student, s.data.test, nullptr,
                                 fmt::format("round {} test", w.round));
  }
  nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
  for (const auto& rec : w.records) {
    if (!rec.accepted) reasons[rec.outcome] = reasons.value(rec.outcome, 0) + 1;
  }
  r["rejected"] = reasons;
  const TeacherUsage used = usage_since(s.teacher->usage(), w.usage_start);
  r["teacher"] = used.to_json();
  add_cost(r["teacher"], used.prompt_tokens, used.completion_tokens, w.kept.size(),
           s.teacher->price());
  if (const auto format = s.teacher->format_state(); !format.is_null()) {
    r["teacher"]["response_format"] = format["response_format"];
    if (!format["fallbacks"].empty()) r["teacher"]["fallbacks"] = format["fallbacks"];
  }
  if (const std::string mode = s.teacher->mode(); mode != "online") {
    r["teacher"]["mode"] = mode;
    const auto batches = s.teacher->batches();
    r["teacher"]["batches"] = std::vector<std::string>(
        batches.begin() + static_cast<std::ptrdiff_t>(std::min(w.batches_start, batches.size())),
        batches.end());
  }
  const DistillConfig& d = c.distill;
  if (s.weakness.method != "in_sample" || d.allocation != "global" || d.schedule != "iterative") {
    r["weakness"] = {{"method", s.weakness.method},
                     {"seeds", d.seeds},
                     {"allocation", d.allocation},
                     {"schedule", d.schedule}};
    if (s.weakness.method == "cv") {
      r["weakness"]["cv_folds"] = s.weakness.folds;
      r["weakness"]["cv_seconds"] = w.cv_seconds;
    }
    if (!w.allocation.empty()) r["weakness"]["requests_per_label"] = w.allocation;
  }
  r["seconds"] = std::chrono::duration<double>(Clock::now() - w.start).count();
  if (c.protocol == "paper") r["leaks"] = true;
  if (dev_is_optimistic(c)) r["dev_optimistic"] = true;
  if (s.teacher->simulated()) r["simulated"] = true;
  return r;
}

}  // namespace

void commit_round(RunState& s, RoundWork& w) {
  const nlohmann::ordered_json r = round_record(s, w);
  const ReaskYield y = reask_yield(w.attempts);
  // Files first, then the store: the round counts once its row is committed.
  std::vector<nlohmann::ordered_json> acc_lines, rej_lines;
  for (const auto& rec : w.records) {
    nlohmann::ordered_json line = {
        {"ordinal", rec.ordinal}, {"seed_index", rec.seed_index}, {"outcome", rec.outcome}};
    if (rec.slot > 0) line["slot"] = rec.slot;
    if (rec.attempt > 0) {
      line["attempt"] = rec.attempt;
      line["first_ordinal"] = rec.first_ordinal;
    }
    if (rec.source_round >= 0) line["generated_in_round"] = rec.source_round;
    if (!rec.detail.empty()) line["detail"] = rec.detail;
    if (!rec.sample.is_null()) line["sample"] = rec.sample;
    if (rec.diversity >= 0) line["diversity"] = rec.diversity;
    if (!rec.reasoning.empty()) line["reasoning"] = rec.reasoning;
    if (rec.accepted) {
      acc_lines.push_back(line);
    } else {
      line["reply"] = rec.reply;
      rej_lines.push_back(line);
    }
  }
  write_lines(w.dir / "accepted.jsonl", acc_lines);
  write_lines(w.dir / "rejected.jsonl", rej_lines);
  write_json(w.dir / "metrics.json", r);
  failpoint("round_files_written");
  const bool improved = w.dev_e > s.best.best_e;
  save_student(*s.student, s.round_student(w.round).string());
  for (std::size_t i : w.reservoir_added) {
    w.reservoir_change.added.push_back({w.records[i], w.vectors[i]});
  }
  s.store->commit_round(w.round, r, w.records, w.reservoir_change);
  failpoint("round_committed");
  s.rounds.push_back(r);
  // The reservoir as the store now holds it.
  std::erase_if(s.reservoir, [&](const ReservoirEntry& e) {
    return std::find(w.reservoir_change.removed.begin(), w.reservoir_change.removed.end(),
                     std::tuple(e.record.round, e.record.ordinal, e.record.slot)) !=
           w.reservoir_change.removed.end();
  });
  for (auto& e : w.reservoir_change.added) s.reservoir.push_back(std::move(e));
  if (improved) {
    s.best.best_e = w.dev_e;
    s.best.best_round = w.round;
    s.best.since_best = 0;
    save_student(*s.student, (s.dir / "best").string());
  } else {
    ++s.best.since_best;
  }
  // The last round's student was kept for a resume; now this round's is, unless it is best.
  if (w.round > 0 && w.round - 1 != s.best.best_round) {
    fs::remove_all(s.round_student(w.round - 1));
  }
  spdlog::info(
      "round {}: requested {}{} → parsed {} → verified {} → diverse {} → accepted {}{}{} · train {} · "
      "dev {} {:.4f}{} · {:.0f} s",
      w.round, y.requests, y.reasks ? fmt::format(" (+{} re-asked)", y.reasks) : "",
      w.parsed, w.verified.size(), w.diverse, w.kept.size(),
      w.from_reservoir ? fmt::format(" ({} from the reservoir)", w.from_reservoir) : "",
      spend_note(r["teacher"]),
      w.train_set.size(), headline_name(s.c.task), w.dev_e, improved ? " (best)" : "",
      r["seconds"].get<double>());
}

}  // namespace weakdistill::distill_internal
