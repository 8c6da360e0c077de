// What a run will ask of its teacher, before it asks anything (`weakdistill run --estimate`):
// the rounds left, the requests, the prompt and completion sizes and, with teacher.price, the
// cost, as low / expected / high. Nothing is sent and no run folder is made.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "weakdistill/distill/config.h"
#include "weakdistill/distill/run.h"

namespace weakdistill {

// The estimate for `config` (a new run), or for the run in options.run_dir when
// options.resume (its committed rounds count as done, and their mean completion per paid
// request becomes the expected one). Sizes are in tokens of teacher.tokenizer when the config
// names one (text/token_counter.h), else in characters (Unicode code points) of the rendered
// prompts and replies. The model:
//   rounds      from max_rounds, patience aside, cut by max_train;
//   requests    low: every sample usable (with the reservoir on, each round's over-quota
//               samples fill the next one: per_round / k a round); expected: what the loop
//               sends with no re-ask, ceil(oversample × per_round / k) a round; high: that
//               × (1 + format_retries), every reply asked again to the limit;
//   prompt      per request: the mean of the first round's real prompts over every seed the
//               loop may draw (low: the 10th percentile, high: the 90th);
//   completion  per request: expected teacher.max_tokens, or the run's own mean when
//               resuming; low: the seeds' own answer objects × k; high: max_tokens.
// Offline teachers cost nothing: the estimate says so. Throws InputError for a bad config.
nlohmann::ordered_json estimate_teacher_spend(const RunConfig& config, const RunOptions& options);

// The estimate as a table for a terminal.
std::string format_estimate(const nlohmann::ordered_json& estimate);

}  // namespace weakdistill
