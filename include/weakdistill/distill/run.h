// The weakness-enhanced distillation loop (SPEC.md; docs/RUN.md): round 0
// trains the student on the few labels; each later round analyses its
// weakness, asks the teacher for samples seeded where it is weak, parses,
// verifies, embeds and keeps the diverse ones, retrains from scratch and
// evaluates, until dev stops improving. The run folder holds everything.
#pragma once

#include <atomic>
#include <nlohmann/json.hpp>
#include <string>

#include "weakdistill/core/dataset.h"
#include "weakdistill/distill/config.h"
#include "weakdistill/student/student.h"

namespace weakdistill {

struct RunOptions {
  // The run folder. A new run refuses a folder that exists and is not empty.
  std::string run_dir;
  // Continue the run in run_dir from its last completed round.
  bool resume = false;
  // Set from elsewhere (SIGINT) to stop at the next safe point; run() then
  // throws RunInterrupted.
  const std::atomic<bool>* cancel = nullptr;
};

// Thrown when `cancel` stopped the run; what was completed is in the store.
class RunInterrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~RunInterrupted() override;
};

// Runs (or resumes) the loop. Returns the run's metrics.json object. Throws
// InputError for bad data or config (before the folder is created on a new
// run), HttpFatalError when the teacher refuses, RunInterrupted on cancel.
nlohmann::ordered_json run_distillation(const RunConfig& config, const RunOptions& options);

// Scores `student` on `gold`: exactly what `weakdistill predict` then `weakdistill eval --json`
// print (both predict in batches of kPredictBatch). The predictions are handed back when
// `predictions` is given. Progress, when scoring is slow, is labelled `label`.
nlohmann::ordered_json evaluate_student(Student& student, const Dataset& gold,
                                        std::vector<Prediction>* predictions = nullptr,
                                        const std::string& label = "scoring");

// The few labels that data.few_shot draws from `train` (chosen) and the rest.
Split draw_few_shot(const std::vector<Sample>& train, const FewShotConfig& few_shot);

}  // namespace weakdistill
