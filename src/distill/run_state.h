// What the stages of the distillation loop share (private to src/distill/). A round is a
// sequence of named stages (round_stages.cc), in this order:
//   weakness -> seeds -> teacher -> parse/verify -> diversity -> accept -> train/evaluate ->
//   commit
// each a function taking the run's state (RunState) and the round's work so far (RoundWork).
// A feature joins the stage it belongs to; run.cc only sequences them.
#pragma once

#include <map>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "run_progress.h"
#include "weakdistill/core/dataset.h"
#include "weakdistill/distill/config.h"
#include "weakdistill/distill/run.h"
#include "weakdistill/distill/run_store.h"
#include "weakdistill/embed/embedder.h"
#include "weakdistill/student/student.h"
#include "weakdistill/teacher/reask.h"
#include "weakdistill/teacher/teacher.h"
#include "weakdistill/teacher/verifier.h"

namespace weakdistill::distill_internal {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The run's data, read and checked before the run folder is made.
struct Data {
  Dataset train, dev, test;
  std::vector<Sample> pool;
  bool has_pool = false;
  std::vector<Sample> labeled;  // train ∪ dev: seeds, label set, copy checks
};

// Reads and checks the config's data: few-shot draw, pool, dev (= test under protocol paper),
// dev/test labels known to train. Throws InputError naming file:line.
Data load_data(const RunConfig& c);

// How the run measures weakness: distill.weakness and cv_folds as the data allows.
struct WeaknessPlan {
  std::string method = "in_sample";  // "in_sample" or "cv"
  int folds = 0;                     // cv: the folds
};

// The loop's state across rounds. Not movable: the verifier and the teacher hold references
// into `data`.
struct RunState {
  RunState(const RunConfig& config, const RunOptions& options) : c(config), o(options) {}
  RunState(const RunState&) = delete;
  RunState& operator=(const RunState&) = delete;

  const RunConfig& c;
  const RunOptions& o;
  fs::path dir;
  std::string store_path;
  Data data;
  std::unique_ptr<Student> student;  // the last round's
  std::unique_ptr<Embedder> embedder;
  std::unique_ptr<Teacher> teacher;
  std::unique_ptr<RunStore> store;
  std::unique_ptr<Verifier> verifier;
  EmbeddingMatrix labeled_vectors;                  // data.labeled.size() × dim
  std::vector<Sample> accepted;                     // all accepted so far, in acceptance order
  std::vector<float> accepted_vectors;              // accepted.size() × dim, row-major
  std::vector<nlohmann::ordered_json> augmented;    // augmented.jsonl's lines
  std::vector<nlohmann::ordered_json> rounds;       // metrics.json's "rounds"
  std::vector<ReservoirEntry> reservoir;            // over_quota candidates kept, oldest first
  BestSoFar best;
  nlohmann::ordered_json test_round0;
  bool teacher_exhausted = false;
  // The teacher.budget limit that stopped the run ("max_cost 5 USD (spent 5.01 USD)"), or "".
  std::string budget_stop;
  WeaknessPlan weakness;      // the weakness method and folds this run uses (plan_weakness)
  std::vector<int> cv_folds;  // weakness cv: each training sample's fold

  // rounds/NN, and the round's saved student (kept until the next round commits, or while best).
  fs::path round_dir(int round) const;
  fs::path round_student(int round) const;
  // Throws RunInterrupted naming `where` once options.cancel is set.
  void check_cancel(const std::string& where) const;
  // Accepted samples a round may still add (distill.max_train), at most distill.per_round.
  std::size_t quota() const;
  // Trains a fresh student on `train_set` (per-epoch bars off: one line a round instead).
  void train_student(int round, const std::vector<Sample>& train_set);
};

// Makes the student, embedder and teacher, creates or opens the run folder and its store
// (writing config.yaml on a new run), embeds the labeled set; on a resume, brings back the
// committed rounds, the accepted samples and their vectors, the best round and the last
// round's student.
void open_run(RunState& s);

// Round 0, the few-shot baseline: trains on train, evaluates dev (and test once), commits.
void run_round_zero(RunState& s);

// One round's work, filled in stage by stage.
struct RoundWork {
  int round = 0;
  fs::path dir;  // rounds/NN
  Clock::time_point start = Clock::now();
  std::size_t quota = 0;  // accepted samples this round may add
  std::size_t need = 0;   // quota minus what the reservoir gave: what the teacher is asked for
  TeacherUsage usage_start;
  std::size_t batches_start = 0;  // teacher->batches() before the round

  // seeds: the labeled index of each first request's seed; requests: one per seed.
  std::vector<std::size_t> seeds;
  std::vector<GenerationRequest> requests;
  std::map<std::string, std::size_t> allocation;  // per_label: requests allotted to each label
  double cv_seconds = 0;  // weakness cv: the fold students' training and prediction
  std::vector<Attempt> attempts;  // first asks, then re-asks (teacher.format_retries)
  // One record per sample of each reply (one for a reply without any), then one per
  // reservoir entry taken or dropped this round. `candidates` and `vectors` run parallel:
  // the record's sample when it passed verification, its embedding once embedded.
  std::vector<CandidateRecord> records;
  std::vector<Sample> candidates;
  std::vector<std::vector<float>> vectors;
  std::vector<std::size_t> verified;  // records of this round's replies that passed verification
  std::size_t parsed = 0;
  std::size_t diverse = 0;
  std::vector<std::size_t> kept;  // records accepted, in acceptance order (the reservoir's first)
  std::size_t from_reservoir = 0;  // of kept, those the reservoir gave
  ReservoirChange reservoir_change;
  std::vector<std::size_t> reservoir_added;  // records that go to the reservoir
  std::vector<Sample> train_set;  // train ∪ every accepted sample
  nlohmann::ordered_json dev;     // the trained student on dev
  double dev_e = 0;
};

// Helpers the stages share.
// seed_from train_dev under protocol clean: generated samples imitate dev samples, so dev
// (which picks the best round and stops the run) reads high. Said in the log, metrics.json and
// the report. (Under protocol paper the LEAKS banner says more.)
inline bool dev_is_optimistic(const RunConfig& c) {
  return c.protocol == "clean" && c.distill.seed_from == "train_dev";
}
inline constexpr const char* kDevOptimistic =
    "seeds may be dev samples (distill.seed_from train_dev): generated samples imitate them, so "
    "dev figures and the best round chosen on dev are optimistic; test stays held out "
    "(distill.seed_from train keeps dev out)";
// An augmented.jsonl line: the sample, its seed (id, else index in train ∪ dev), the round that
// accepted it, its diversity (null when not judged) and, for a reservoir sample, the round
// that generated it.
nlohmann::ordered_json augmented_line(const RunState& s, const Sample& sample,
                                      const CandidateRecord& record);
// What the teacher used between two readings of its counters.
TeacherUsage usage_since(const TeacherUsage& now, const TeacherUsage& start);
// Adds tokens (and, with a price, cost and currency) per accepted sample to a metrics.json
// "teacher" object holding prompt_tokens and completion_tokens.
void add_cost(nlohmann::ordered_json& teacher, std::int64_t prompt_tokens,
              std::int64_t completion_tokens, std::size_t accepted,
              const std::optional<TeacherPrice>& price);
// " · 12.3k tokens, 0.0421 USD" for a log line ("" when no token was counted).
std::string spend_note(const nlohmann::ordered_json& teacher);
// The rows a candidate's diversity is measured against: the labeled samples, every accepted
// one, then `extra` (vectors taken this round but not yet accepted).
EmbeddingMatrix comparison_set(const RunState& s, const std::vector<const std::vector<float>*>& extra);
std::uint64_t ordinal_of(int round, std::size_t i);
double headline(Task task, const nlohmann::ordered_json& metrics);
std::string headline_name(Task task);
nlohmann::ordered_json per_label(Task task, const nlohmann::ordered_json& metrics);
void write_json(const fs::path& path, const nlohmann::ordered_json& j);
void write_lines(const fs::path& path, const std::vector<nlohmann::ordered_json>& lines);

}  // namespace weakdistill::distill_internal
