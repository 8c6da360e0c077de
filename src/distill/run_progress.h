// Where a run stands, from its committed rounds alone: the best round so far, how long dev has
// not improved, and whether the loop has anything left to do. Private to src/distill/.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "weakdistill/distill/config.h"

namespace weakdistill::distill_internal {

struct BestSoFar {
  int best_round = 0;
  double best_e = -1;  // dev's headline metric of best_round; -1 before round 0
  int since_best = 0;  // rounds since best_round that did not improve on it
};

// The best round of `rounds` (the store's round records, in order; each has "round" and
// "dev_e"): the first that reached the highest dev_e.
BestSoFar best_so_far(const std::vector<nlohmann::ordered_json>& rounds);

// The metrics.json of a run in `run_dir` that has nothing left to do under `c` (its rounds
// reached distill.max_rounds, patience or max_train, or its pool teacher ran dry), read
// without loading data, teacher or student; nullopt when a round could still run, or when
// metrics.json is absent or does not cover every committed round (a run stopped before its
// end). A resume of a finished run is then a no-op that costs milliseconds.
std::optional<nlohmann::ordered_json> finished_metrics(const RunConfig& c,
                                                       const std::string& run_dir);

}  // namespace weakdistill::distill_internal
