// The stages of one round of the loop, in order (run_state.h has the state they share).
// Each reads what the earlier stages put in the RoundWork and adds its own part.
#pragma once

#include <map>

#include "run_state.h"
#include "weakdistill/distill/weakness.h"

namespace weakdistill::distill_internal {

// 1. Weakness (round_weakness.cc): the last round's student on train ∪ dev, or under
// distill.weakness cv the fold students on the training samples (each trained on the other
// folds plus every accepted sample); h(x), error values and seed probabilities (dev's set to 0
// under seed_from: train); writes rounds/NN/weakness.jsonl.
Weakness analyse_round_weakness(RunState& s, RoundWork& w);
// distill.weakness against the data: cv_folds at most the smallest label's (or, for ner and
// summarization, the training set's) count. A cv_folds the user gave that is too large throws
// InputError naming distill.cv_folds with the count; the defaults bend instead (fewer folds,
// or in-sample weakness when there are not 2 samples to split), said in the log.
WeaknessPlan plan_weakness(const RunConfig& c, const std::vector<Sample>& train);


// 2. Reservoir (round_reservoir.cc): the candidates earlier rounds had no room for are
// checked again (copies, then diversity against the grown labeled set, with the vectors they
// were stored with); what still qualifies is taken first, up to the quota, and what no longer
// does is dropped. Sets `need`, the rest of the quota. A no-op under distill.reservoir off.
void take_from_reservoir(RunState& s, RoundWork& w);

// 3. Seeds (round_weakness.cc): oversample × need samples asked for, in requests of
// teacher.samples_per_request samples each; each request's seed drawn by its probability, over
// every eligible sample (allocation global) or within the label the request was allotted to
// (per_label: w.allocation).
void draw_round_seeds(const RunState& s, RoundWork& w, const Weakness& weakness);

// 4. Teacher (round_teacher.cc): asks for every request (the cache answers what it holds),
// with a progress bar, judging each reply as it comes back (parse_and_verify's judge) and
// asking again those unusable for their form (teacher.format_retries). Returns false when the
// pool teacher has nothing left for any seed (the run stops there); throws when any other
// teacher answered none, and RunInterrupted on cancel.
bool ask_teacher(RunState& s, RoundWork& w);

// 5. Parse and verify (round_teacher.cc): the verdicts of every attempt become records,
// candidates, verified, parsed.
std::vector<Verdict> judge_reply(const RunState& s, const GenerationRequest& request,
                                 const Generation& g);
void parse_and_verify(RunState& s, RoundWork& w);

// 6. Diversity: embeds the verified candidates and chooses, farthest first, at most `need`
// at least dist_min from the labeled, accepted and reservoir-taken samples (or the first
// `need` with distill.diversity off): kept, diverse, each record's diversity and outcome;
// over_quota ones are marked for the reservoir.
void select_diverse_candidates(RunState& s, RoundWork& w);

// 7. Accept: the kept candidates join the accepted samples, their vectors, the verifier's
// copy checks and augmented.jsonl.
void accept_candidates(RunState& s, RoundWork& w);

// 8. Train and evaluate: a fresh student on train ∪ all accepted, scored on dev.
void train_and_evaluate(RunState& s, RoundWork& w);

// 9. Commit: the round's files, its student, then its row, candidates and reservoir change in
// one transaction;
// then best/ and the bookkeeping of the best round. Logs the round's line.
void commit_round(RunState& s, RoundWork& w);

}  // namespace weakdistill::distill_internal
