// The stages of one round of the loop, in order (run_state.h has the state they share).
// Each reads what the earlier stages put in the RoundWork and adds its own part.
#pragma once

#include "run_state.h"
#include "weakdistill/distill/weakness.h"

namespace weakdistill::distill_internal {

// 1. Weakness: the last round's student on train ∪ dev, h(x), error values and seed
// probabilities (dev's set to 0 under seed_from: train); writes rounds/NN/weakness.jsonl.
Weakness analyse_round_weakness(RunState& s, const RoundWork& w);

// 2. Seeds: oversample × quota requests, each seed drawn by its probability.
void draw_round_seeds(const RunState& s, RoundWork& w, const Weakness& weakness);

// 3. Teacher: asks for every request (the cache answers what it holds), with a progress bar.
// Returns false when the pool teacher has nothing left for any seed (the run stops there);
// throws when any other teacher answered none, and RunInterrupted on cancel.
bool ask_teacher(RunState& s, RoundWork& w);

// 4. Parse and verify each reply into records, candidates, verified, parsed.
void parse_and_verify(RunState& s, RoundWork& w);

// 5. Diversity: embeds the verified candidates and chooses, farthest first, at most `quota`
// at least dist_min from the labeled and accepted samples (or the first `quota` with
// distill.diversity off): kept, diverse, and each record's diversity and outcome.
void select_diverse_candidates(RunState& s, RoundWork& w);

// 6. Accept: the kept candidates join the accepted samples, their vectors, the verifier's
// copy checks and augmented.jsonl.
void accept_candidates(RunState& s, RoundWork& w);

// 7. Train and evaluate: a fresh student on train ∪ all accepted, scored on dev.
void train_and_evaluate(RunState& s, RoundWork& w);

// 8. Commit: the round's files, its student, then its row and candidates in one transaction;
// then best/ and the bookkeeping of the best round. Logs the round's line.
void commit_round(RunState& s, RoundWork& w);

}  // namespace weakdistill::distill_internal
