// weakdistill compare: the paper's Figure 4. At one training-set size N, the student trained on
// N human-labeled samples against the same student trained on N distilled samples (the few
// labels plus what the loop accepted), on the same test set, over several seeds.
#pragma once

#include <atomic>
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

#include "weakdistill/distill/config.h"

namespace weakdistill {

struct CompareOptions {
  // N: the training-set size of both students. Must exceed the few labels' count.
  std::size_t size = 0;
  // Seeds 1..seeds. Seed s sets data.few_shot.seed, distill.seed (and an augment teacher's
  // seed) of the loop, and draws the human-labeled sample.
  int seeds = 3;
  // The comparison folder: distilled-sS/ (a run folder), labeled-sS/, compare.json, .csv, .md.
  // Running the same comparison again continues it: finished parts are kept, an interrupted
  // loop is resumed.
  std::string out_dir;
  // Set from elsewhere (SIGINT) to stop at the next safe point (throws RunInterrupted).
  const std::atomic<bool>* cancel = nullptr;
};

// Runs what is not done yet and writes compare.json, compare.csv and compare.md into out_dir;
// returns compare.json's object. The labeled student trains on the same few labels as the loop
// plus N − k samples drawn at random from the human pool (data.pool, else the rest of
// data.train); the distilled one is the loop's final round, stopped at N by distill.max_train.
// Throws InputError before anything is written when the config cannot make the comparison (no
// test set, N too small or larger than the pool allows, a folder holding another comparison).
nlohmann::ordered_json run_comparison(const RunConfig& config, const CompareOptions& options);

// compare.md's text from compare.json's object.
std::string comparison_markdown(const nlohmann::ordered_json& comparison);

}  // namespace weakdistill
