// The run configuration of `weakdistill run` (docs/CONFIG.md): YAML validated
// up front, every error naming its key.
#pragma once

#include <algorithm>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "weakdistill/core/sample.h"

namespace weakdistill {

// The default of distill.dist_min. With the hashing embedder, 2,000 real THUCNews
// titles lie 0.72–0.95 from a 200-title labeled set (1st–50th percentile) while
// 10%-character-edit copies lie 0.08–0.20 from theirs: 0.1 drops only near-copies.
inline constexpr double kDefaultDistMin = 0.1;

struct FewShotConfig {
  std::size_t per_label = 0;  // classification: this many of each label, or
  std::size_t n = 0;          // this many samples in all
  std::uint64_t seed = 1;
};

struct DataConfig {
  std::string train, dev, test, pool;  // paths; dev, test and pool optional ("" = none)
  std::optional<FewShotConfig> few_shot;
};

struct DistillConfig {
  // Samples accepted at most per round.
  std::size_t per_round = 100;
  // Requests per round = oversample × per_round (the paper's NF).
  double oversample = 2.0;
  // Error value sharpness: exp((1 - h) / tau).
  double tau = 0.5;
  // Classification h: the student's probability of the gold label instead of 0/1.
  bool soft_h = false;
  // Least diversity (1 - cos) to the labeled and accepted samples.
  double dist_min = kDefaultDistMin;
  // Rounds after round 0 at most.
  int max_rounds = 10;
  // Stop when dev E has not improved for this many rounds.
  int patience = 1;
  // Seed of each round's seed draw (data.few_shot.seed and teacher.seed are separate).
  std::uint64_t seed = 1;
  // Character-matching verification (off: only parsing) and diversity selection
  // (off: the first per_round verified candidates in request order).
  bool verify = true;
  bool diversity = true;
  // "weakness" (by error value) or "uniform" seed sampling. Unset: "uniform" for summarization
  // under protocol clean (where weakness-drawn seeds lost to uniform ones on every seed, by 0.26
  // ROUGE-L points: docs/RESULTS.md, "Weakness without leaks"), "weakness" otherwise.
  std::string seeds;
  // Which labeled samples may be seeds: "train" or "train_dev" (SPEC.md: train ∪ dev, the
  // paper's C_label). Samples imitating dev samples carry dev's labels into training, which
  // makes dev optimistic (near-copies, augment, show it most), and dev also picks the best
  // round and stops the run. Unset: "train" under protocol clean (dev only picks and stops),
  // "train_dev" under protocol paper.
  std::string seed_from;
  // Summarization verification: least share of summary characters found in the text.
  double min_char_overlap = 0.5;
  // Stop once the training set (few labels + accepted) holds this many samples; the last
  // round accepts (and asks for) only what fills it. 0: no cap. `weakdistill compare` uses it
  // to compare labeled and distilled students at an equal size.
  std::size_t max_train = 0;
  // Also score every round's student on the test set (recorded as the round's "test"; the
  // loop never reads it), for metric-against-size curves. Costs one test evaluation a round.
  bool test_each_round = false;
  // Keep verified, diverse candidates that a round had no room for (over_quota) and offer
  // them first to the next rounds, which then ask the teacher only for what is missing.
  // off: the paper's behaviour, where they are thrown away.
  bool reservoir = true;
  // How each labeled sample's h(x) is measured: "in_sample" (by the round's student, which
  // trained on the training samples it scores) or "cv" (a training sample by a student trained
  // on the other cv_folds folds plus every accepted sample; dev by the round's student).
  // Unset: "cv" under protocol clean (seeds from train, where in-sample h is nearly always 1),
  // "in_sample" under protocol paper, and "in_sample" whenever seeds are uniform (h is then only
  // reported, so the k fold trainings would buy nothing).
  std::string weakness;
  bool weakness_given = false;  // set in the config (not defaulted): never bent to the data
  // cv: folds (>= 2, at most the smallest label's training count for classification),
  // stratified by label for classification.
  int cv_folds = 5;
  bool cv_folds_given = false;
  // cv: student options that override student.* for the fold students only (e.g. {epochs: 3}
  // to make them cheap); {} trains them as the round's student.
  nlohmann::json cv_student = nlohmann::json::object();
  // How a round's requests are spread: "global" (seeds drawn from every eligible sample by
  // error value) or "per_label" (requests split over labels, or ner entity types, by their
  // error mass with a floor, then seeds drawn within each label by error value).
  // Unset: "per_label" for ner under protocol clean (it beat global by 0.97 F1 points on every
  // seed, and kept dev within 1.5 points of test: docs/RESULTS.md), "global" otherwise.
  std::string allocation;
  // "iterative" (the loop) or "one_shot": every request of the run in round 1 (per_round ×
  // max_rounds samples), one training, then stop: a plain synthetic-data pipeline at equal
  // requests.
  std::string schedule = "iterative";
  // Rounds the schedule runs at most: max_rounds, or 1 for one_shot.
  int rounds_limit() const { return schedule == "one_shot" ? std::min(1, max_rounds) : max_rounds; }
  // Samples a round may accept (before max_train): per_round, or the whole run's for one_shot.
  std::size_t round_quota() const {
    return schedule == "one_shot" ? per_round * static_cast<std::size_t>(std::max(1, max_rounds))
                                  : per_round;
  }
};

struct RunConfig {
  Task task = Task::kClassification;
  // "clean" (dev and test apart) or "paper" (dev is the test set: the reported
  // figure leaks, and every output says so).
  std::string protocol = "clean";
  DataConfig data;
  std::string student_kind;
  nlohmann::json student = nlohmann::json::object();   // the kind's options (kind removed)
  nlohmann::json teacher = nlohmann::json::object();   // teacher section as given
  nlohmann::json embedder = nlohmann::json::object();  // embedder section as given
  DistillConfig distill;
  std::string run_dir;
  // The whole config as resolved (defaults filled), for config.yaml of the run.
  nlohmann::ordered_json resolved;
};

// Reads and validates a run config: `path` (YAML) with `sets` ("key=value",
// dotted keys) merged in. Unknown keys, wrong types and bad values throw
// InputError naming the key (and `path`); data paths must exist. The student
// and teacher sections are checked by their factories when the run starts.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& sets = {});

// The same from an already merged JSON object (`name` stands for the file in messages).
RunConfig parse_run_config(const nlohmann::json& config, const std::string& name);

// `resolved` as YAML text (for the run folder's config.yaml).
std::string to_yaml(const nlohmann::ordered_json& resolved);

}  // namespace weakdistill
