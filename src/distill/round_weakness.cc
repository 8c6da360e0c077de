// Stages 1 and 3 of a round: weakness (in-sample, or cross-validated over the training
// samples) and the seed draw (over every eligible sample, or spread over labels first).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "round_stages.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"

namespace weakdistill::distill_internal {

namespace {

// h of each training sample from students that did not train on it: fold f's student trains
// on the other folds plus every accepted sample and scores fold f.
// Sets w.cv_seconds to what it took.
std::vector<Prediction> cross_validated_predictions(RunState& s, RoundWork& w) {
  const RunConfig& c = s.c;
  const std::vector<Sample>& train = s.data.train.samples;
  const auto& folds = s.cv_folds;
  const int k = s.weakness.folds;
  nlohmann::json options = c.student;
  for (const auto& [key, value] : c.distill.cv_student.items()) options[key] = value;
  std::vector<Prediction> out(train.size());
  Progress progress(fmt::format("round {} weakness (cv)", w.round), static_cast<std::size_t>(k),
                    "trainings");
  const auto start = std::chrono::steady_clock::now();
  for (int f = 0; f < k; ++f) {
    std::vector<Sample> fold_train, held_out;
    std::vector<std::size_t> held_index;
    for (std::size_t i = 0; i < train.size(); ++i) {
      if (folds[i] == f) {
        held_out.push_back(train[i]);
        held_index.push_back(i);
      } else {
        fold_train.push_back(train[i]);
      }
    }
    fold_train.insert(fold_train.end(), s.accepted.begin(), s.accepted.end());
    auto student = make_student(c.task, c.student_kind, options);
    {
      Progress::Mute mute;  // the fold student's own bars
      student->train(fold_train, s.data.dev.samples);
    }
    const auto preds = student->predict(held_out);
    for (std::size_t j = 0; j < held_index.size(); ++j) out[held_index[j]] = preds[j];
    progress.advance(1, fmt::format("fold {}/{} on {} samples", f + 1, k, fold_train.size()));
    s.check_cancel(fmt::format("during round {}'s cross-validated weakness", w.round));
  }
  progress.finish();
  w.cv_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  spdlog::info("round {}: cross-validated weakness: {} fold students in {:.1f} s", w.round, k,
               w.cv_seconds);
  return out;
}

}  // namespace

WeaknessPlan plan_weakness(const RunConfig& c, const std::vector<Sample>& train) {
  const DistillConfig& d = c.distill;
  WeaknessPlan plan{d.weakness, d.cv_folds};
  if (d.weakness != "cv") return plan;
  std::map<std::string, std::size_t> counts;
  for (const auto& s : train) {
    ++counts[c.task == Task::kClassification ? s.label : std::string("all")];
  }
  const auto smallest = std::min_element(
      counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  const std::size_t fewest = smallest == counts.end() ? 0 : smallest->second;
  const std::string where =
      c.task == Task::kClassification ? "label " + smallest->first : std::string("the training set");
  // Defaults bend to a small training set; what the user wrote does not.
  if (fewest < 2) {
    if (d.weakness_given) {
      throw InputError(fmt::format(
          "distill.weakness: cv needs at least 2 training samples {}; {} has {} (use in_sample)",
          c.task == Task::kClassification ? "of every label" : "in all", where, fewest));
    }
    spdlog::info("weakness in sample: cross-validation needs at least 2 training samples {}",
                 c.task == Task::kClassification ? "of every label" : "in all");
    return {"in_sample", 0};
  }
  if (!d.cv_folds_given && static_cast<std::size_t>(d.cv_folds) > fewest) {
    plan.folds = static_cast<int>(fewest);
    spdlog::info("weakness cross-validated over {} folds (the fewest training samples {})",
                 plan.folds, c.task == Task::kClassification ? "of a label" : "in all");
    return plan;
  }
  if (static_cast<std::size_t>(d.cv_folds) > fewest) {
    throw InputError(fmt::format(
        "distill.cv_folds: {} folds need at least {} training samples {}; {} has {}",
        d.cv_folds, d.cv_folds,
        c.task == Task::kClassification ? "of every label" : "in all",
        c.task == Task::kClassification ? "label " + smallest->first : std::string("the training set"),
        smallest->second));
  }
  return plan;
}

Weakness analyse_round_weakness(RunState& s, RoundWork& w) {
  const RunConfig& c = s.c;
  std::vector<Prediction> preds = s.student->predict(s.data.labeled);
  const std::size_t n_train = s.data.train.samples.size();
  const bool cv = s.weakness.method == "cv";
  if (cv) {
    auto held_out = cross_validated_predictions(s, w);
    for (std::size_t i = 0; i < n_train; ++i) preds[i] = std::move(held_out[i]);
  }
  WeaknessOptions wopt;
  wopt.tau = c.distill.tau;
  wopt.soft_classification = c.distill.soft_h;
  wopt.uniform = c.distill.seeds == "uniform";
  Weakness weak = analyse_weakness(c.task, s.data.labeled, preds, wopt);
  if (c.distill.seed_from == "train") {
    // dev is analysed and reported, never imitated; train's p renormalised so that
    // weakness.jsonl's p is the draw's probability.
    double train_total = 0;
    for (std::size_t i = 0; i < n_train; ++i) train_total += weak.p[i];
    for (std::size_t i = 0; i < weak.p.size(); ++i) {
      weak.p[i] = i < n_train && train_total > 0 ? weak.p[i] / train_total : 0.0;
    }
  }
  std::vector<nlohmann::ordered_json> lines;
  for (std::size_t i = 0; i < s.data.labeled.size(); ++i) {
    nlohmann::ordered_json line = {{"index", i},
                                   {"set", i < n_train ? "train" : "dev"},
                                   {"text", s.data.labeled[i].text},
                                   {"h", weak.h[i]},
                                   {"error_value", weak.error_value[i]},
                                   {"p", weak.p[i]}};
    if (cv && i < n_train) line["fold"] = s.cv_folds[i];
    lines.push_back(std::move(line));
  }
  write_lines(w.dir / "weakness.jsonl", lines);
  return weak;
}

void draw_round_seeds(const RunState& s, RoundWork& w, const Weakness& weakness) {
  const DistillConfig& d = s.c.distill;
  Rng rng(stream_seed(d.seed, static_cast<std::uint64_t>(w.round)));
  // oversample × what the round still needs (per_round, or what distill.max_train still lets
  // in, less what the reservoir gave).
  // A request asks for teacher.samples_per_request samples: as many requests as that needs.
  const auto samples =
      static_cast<std::size_t>(std::llround(d.oversample * static_cast<double>(w.need)));
  const auto k = static_cast<std::size_t>(std::max(1, s.teacher->samples_per_request()));
  const std::size_t n = (samples + k - 1) / k;
  if (d.allocation == "per_label" && n > 0) {
    // Error mass of each group over the samples that may be seeds; seeds then drawn within it.
    std::vector<std::vector<std::string>> groups_of(weakness.p.size());
    std::map<std::string, double> mass;
    for (std::size_t i = 0; i < weakness.p.size(); ++i) {
      groups_of[i] = allocation_groups(s.c.task, s.data.labeled[i]);
      if (weakness.p[i] <= 0) continue;
      for (const auto& g : groups_of[i]) mass[g] += weakness.p[i];
    }
    std::vector<std::string> groups;
    std::vector<double> masses;
    for (const auto& [g, m] : mass) {
      groups.push_back(g);
      masses.push_back(m);
    }
    w.allocation = allocate_per_label(groups, masses, n);
    w.seeds.clear();
    for (const auto& [group, count] : w.allocation) {
      if (count == 0) continue;
      std::vector<double> p(weakness.p.size(), 0.0);
      for (std::size_t i = 0; i < p.size(); ++i) {
        const auto& gs = groups_of[i];
        if (std::find(gs.begin(), gs.end(), group) != gs.end()) p[i] = weakness.p[i];
      }
      for (std::size_t i : draw_seeds(p, count, rng)) w.seeds.push_back(i);
    }
  } else {
    w.seeds = draw_seeds(weakness.p, n, rng);
  }
  w.requests.clear();
  for (std::size_t i = 0; i < w.seeds.size(); ++i) {
    w.requests.push_back({&s.data.labeled[w.seeds[i]], ordinal_of(w.round, i)});
  }
}

}  // namespace weakdistill::distill_internal
