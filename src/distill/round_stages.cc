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

Weakness analyse_round_weakness(RunState& s, const RoundWork& w) {
  const RunConfig& c = s.c;
  const std::vector<Prediction> preds = s.student->predict(s.data.labeled);
  WeaknessOptions wopt;
  wopt.tau = c.distill.tau;
  wopt.soft_classification = c.distill.soft_h;
  wopt.uniform = c.distill.seeds == "uniform";
  Weakness weak = analyse_weakness(c.task, s.data.labeled, preds, wopt);
  const std::size_t n_train = s.data.train.samples.size();
  if (c.distill.seed_from == "train") {
    // dev is analysed and reported, never imitated (draw_seeds needs no normalisation).
    for (std::size_t i = n_train; i < weak.p.size(); ++i) weak.p[i] = 0;
  }
  std::vector<nlohmann::ordered_json> lines;
  for (std::size_t i = 0; i < s.data.labeled.size(); ++i) {
    lines.push_back({{"index", i},
                     {"set", i < n_train ? "train" : "dev"},
                     {"text", s.data.labeled[i].text},
                     {"h", weak.h[i]},
                     {"error_value", weak.error_value[i]},
                     {"p", weak.p[i]}});
  }
  write_lines(w.dir / "weakness.jsonl", lines);
  return weak;
}

void draw_round_seeds(const RunState& s, RoundWork& w, const Weakness& weakness) {
  const DistillConfig& d = s.c.distill;
  Rng rng(stream_seed(d.seed, static_cast<std::uint64_t>(w.round)));
  // oversample × per_round, or × what distill.max_train still lets in.
  const auto n =
      static_cast<std::size_t>(std::llround(d.oversample * static_cast<double>(w.quota)));
  w.seeds = draw_seeds(weakness.p, n, rng);
  w.requests.clear();
  for (std::size_t i = 0; i < w.seeds.size(); ++i) {
    w.requests.push_back({&s.data.labeled[w.seeds[i]], ordinal_of(w.round, i)});
  }
}

bool ask_teacher(RunState& s, RoundWork& w) {
  {
    Progress progress(fmt::format("round {} teacher", w.round), w.requests.size(), "requests");
    std::int64_t tokens = 0;
    w.generations = s.teacher->generate(
        w.requests,
        [&](std::size_t, const Generation& g) {
          tokens += g.prompt_tokens + g.completion_tokens;
          progress.advance(1, tokens ? human_count(static_cast<double>(tokens)) + " tokens" : "");
        },
        s.o.cancel);
  }
  s.check_cancel(fmt::format("during round {}'s teacher requests", w.round));
  // A teacher that answered nothing is down, not weak: stop (what was answered is cached)
  // rather than train rounds on nothing.
  if (!w.requests.empty() && std::none_of(w.generations.begin(), w.generations.end(),
                                          [](const Generation& g) { return g.ok; })) {
    if (s.teacher->kind() == "pool") {
      spdlog::warn("round {}: the pool teacher has no unused sample left for any seed; stopping",
                   w.round);
      return false;
    }
    throw std::runtime_error(fmt::format(
        "round {}: the teacher answered none of {} requests (last error: {}); fix it, then "
        "continue with: weakdistill run --resume {}",
        w.round, w.requests.size(), w.generations.back().error, s.o.run_dir));
  }
  return true;
}

void parse_and_verify(RunState& s, RoundWork& w) {
  const RunConfig& c = s.c;
  w.records.assign(w.requests.size(), CandidateRecord{});
  w.candidates.assign(w.requests.size(), Sample{});
  for (std::size_t i = 0; i < w.requests.size(); ++i) {
    CandidateRecord& rec = w.records[i];
    const Generation& g = w.generations[i];
    rec.round = w.round;
    rec.ordinal = w.requests[i].ordinal;
    rec.seed_index = w.seeds[i];
    rec.reply = g.reply;
    if (!g.ok) {
      rec.outcome = std::string(reason_name(RejectReason::kRequestFailed));
      rec.detail = g.error;
      continue;
    }
    ParsedReply p = parse_reply(c.task, g.reply, g.finish_reason);
    if (p.rejection) {
      rec.outcome = std::string(reason_name(p.rejection->reason));
      rec.detail = p.rejection->detail;
      continue;
    }
    ++w.parsed;
    if (c.distill.verify) {
      if (auto bad = s.verifier->verify(*p.sample, *w.requests[i].seed)) {
        rec.outcome = std::string(reason_name(bad->reason));
        rec.detail = bad->detail;
        rec.sample = to_json(*p.sample, c.task);
        continue;
      }
    } else if (c.task == Task::kNer) {
      // Without verification, offsets still have to be found to train on.
      Verifier lenient(c.task, s.data.labeled, VerifyOptions{0.0});
      if (auto bad = lenient.verify(*p.sample, *w.requests[i].seed);
          bad && bad->reason == RejectReason::kEntityNotInText) {
        rec.outcome = std::string(reason_name(bad->reason));
        rec.detail = bad->detail;
        continue;
      }
    }
    rec.sample = to_json(*p.sample, c.task);
    w.candidates[i] = std::move(*p.sample);
    w.verified.push_back(i);
  }
}

void select_diverse_candidates(RunState& s, RoundWork& w) {
  if (w.verified.empty()) return;
  const DistillConfig& d = s.c.distill;
  std::vector<std::string> texts;
  for (std::size_t i : w.verified) texts.push_back(w.candidates[i].text);
  w.verified_vectors = s.embedder->embed(texts);
  if (!d.diversity) {
    w.diverse = w.verified.size();
    for (std::size_t i : w.verified) {
      if (w.kept.size() < w.quota) {
        w.kept.push_back(i);
      } else {
        w.records[i].outcome = "over_quota";
      }
    }
    return;
  }
  // The comparison set: the labeled samples, then every accepted one.
  const std::size_t dim = w.verified_vectors.dim();
  const EmbeddingMatrix& labeled = s.labeled_vectors;
  EmbeddingMatrix reference(labeled.rows() + s.accepted.size(), dim);
  std::copy(labeled.data(), labeled.data() + labeled.rows() * dim, reference.data());
  std::copy(s.accepted_vectors.begin(), s.accepted_vectors.end(),
            reference.data() + labeled.rows() * dim);
  DiversityOptions dopt;
  dopt.dist_min = d.dist_min;
  dopt.keep = w.quota;
  const DiversityResult r = select_diverse(reference, w.verified_vectors, dopt);
  for (std::size_t k = 0; k < w.verified.size(); ++k) {
    auto& rec = w.records[w.verified[k]];
    rec.diversity = r.diversity[k];
    if (r.kept[k] || r.diversity[k] >= d.dist_min) ++w.diverse;
    if (!r.kept[k]) {
      rec.outcome = r.diversity[k] >= d.dist_min ? "over_quota" : "not_diverse";
      rec.detail = fmt::format("diversity {:.4f} (dist_min {})", r.diversity[k], d.dist_min);
    }
  }
  for (std::size_t k : r.order) w.kept.push_back(w.verified[k]);
}

void accept_candidates(RunState& s, RoundWork& w) {
  if (w.kept.empty()) return;
  const std::size_t dim = w.verified_vectors.dim();
  std::vector<std::size_t> row_of(w.requests.size(), 0);  // request -> row of verified_vectors
  for (std::size_t k = 0; k < w.verified.size(); ++k) row_of[w.verified[k]] = k;
  for (std::size_t rank = 0; rank < w.kept.size(); ++rank) {
    const std::size_t i = w.kept[rank];
    auto& rec = w.records[i];
    rec.accepted = true;
    rec.rank = static_cast<int>(rank);
    rec.outcome = "accepted";
    s.verifier->add_accepted(w.candidates[i]);
    const float* row = w.verified_vectors.row(row_of[i]);
    s.accepted_vectors.insert(s.accepted_vectors.end(), row, row + dim);
    s.augmented.push_back(
        {{"sample", to_json(w.candidates[i], s.c.task)},
         {"seed", w.requests[i].seed->id.value_or(std::to_string(w.seeds[i]))},
         {"round", w.round},
         {"diversity", rec.diversity >= 0 ? nlohmann::ordered_json(rec.diversity)
                                          : nlohmann::ordered_json()}});
    s.accepted.push_back(w.candidates[i]);
  }
}

void train_and_evaluate(RunState& s, RoundWork& w) {
  w.train_set = s.data.train.samples;
  w.train_set.insert(w.train_set.end(), s.accepted.begin(), s.accepted.end());
  s.check_cancel(fmt::format("before training round {}", w.round));
  s.train_student(w.round, w.train_set);
  s.check_cancel(fmt::format("after training round {}", w.round));
  w.dev = evaluate_student(*s.student, s.data.dev);
  w.dev_e = headline(s.c.task, w.dev);
}

namespace {

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

// The round's entry of metrics.json.
nlohmann::ordered_json round_record(RunState& s, const RoundWork& w) {
  const RunConfig& c = s.c;
  nlohmann::ordered_json r;
  r["round"] = w.round;
  r["train_size"] = w.train_set.size();
  r["requested"] = w.requests.size();
  r["parsed"] = w.parsed;
  r["verified"] = w.verified.size();
  r["diverse"] = w.diverse;
  r["accepted"] = w.kept.size();
  r["dev"] = w.dev;
  r["dev_e"] = w.dev_e;
  r["per_label"] = per_label(c.task, w.dev);
  if (c.distill.test_each_round) r["test"] = evaluate_student(*s.student, s.data.test);
  nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
  for (const auto& rec : w.records) {
    if (!rec.accepted) reasons[rec.outcome] = reasons.value(rec.outcome, 0) + 1;
  }
  r["rejected"] = reasons;
  r["teacher"] = usage_since(s.teacher->usage(), w.usage_start).to_json();
  r["seconds"] = std::chrono::duration<double>(Clock::now() - w.start).count();
  if (c.protocol == "paper") r["leaks"] = true;
  if (s.teacher->simulated()) r["simulated"] = true;
  return r;
}

}  // namespace

void commit_round(RunState& s, RoundWork& w) {
  const nlohmann::ordered_json r = round_record(s, w);
  // Files first, then the store: the round counts once its row is committed.
  std::vector<nlohmann::ordered_json> acc_lines, rej_lines;
  for (const auto& rec : w.records) {
    nlohmann::ordered_json line = {
        {"ordinal", rec.ordinal}, {"seed_index", rec.seed_index}, {"outcome", rec.outcome}};
    if (!rec.detail.empty()) line["detail"] = rec.detail;
    if (!rec.sample.is_null()) line["sample"] = rec.sample;
    if (rec.diversity >= 0) line["diversity"] = rec.diversity;
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
  s.store->commit_round(w.round, r, w.records);
  failpoint("round_committed");
  s.rounds.push_back(r);
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
      "round {}: requested {} → parsed {} → verified {} → diverse {} → accepted {} · train {} · "
      "dev {} {:.4f}{} · {:.0f} s",
      w.round, w.requests.size(), w.parsed, w.verified.size(), w.diverse, w.kept.size(),
      w.train_set.size(), headline_name(s.c.task), w.dev_e, improved ? " (best)" : "",
      r["seconds"].get<double>());
}

}  // namespace weakdistill::distill_internal
