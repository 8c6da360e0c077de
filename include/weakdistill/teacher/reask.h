// Asking the teacher, and asking again when a reply is unusable for its form
// (teacher.format_retries): shared by the run's teacher stage and `teacher try`, so that a
// user who tries a teacher sees what a run will get from it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "weakdistill/core/sample.h"
#include "weakdistill/teacher/rejection.h"
#include "weakdistill/teacher/teacher.h"

namespace weakdistill {

// What became of one sample of a reply: the sample, or why there is none (and then, for a
// verifier's rejection, the parsed sample it judged, in `sample`).
struct Verdict {
  std::optional<Sample> sample;
  std::optional<Rejection> rejection;
  bool parsed = false;  // the parser found a sample (a rejection, if any, is the verifier's)
  bool usable() const { return sample && !rejection; }
};

// True for a reason that a new attempt may cure: the reply's form, not the sample's novelty
// (truncated, truncated_in_reasoning, unparseable, empty_text, label_not_in_set,
// entity_not_in_text). A failed request is not: the HTTP client has retried it already.
bool is_format_problem(RejectReason reason);

// One request sent (first ask or re-ask) and what came of it.
struct Attempt {
  GenerationRequest request;  // this attempt's own ordinal (and so its own request seed)
  Generation generation;
  std::vector<Verdict> verdicts;  // one per sample of the reply; one for a failed request
  int attempt = 0;                // 0: the first ask; k: the k-th re-ask
  std::size_t origin = 0;         // index of the original request
  std::uint64_t first_ordinal = 0;  // the original request's ordinal
};

// The verdicts of one generation: a failed request is one request_failed; otherwise every sample
// parse_generation finds (`samples` asked for), each parsed one handed to `check` (with
// `parsed` true and its sample set), which may set a rejection and change or drop the sample
// (verification: ner offsets). Never empty.
std::vector<Verdict> judge_generation(Task task, const Generation& g, int samples,
                                      const std::function<void(Verdict&)>& check);

// Parses and judges one generation (never returns an empty list).
using Judge = std::function<std::vector<Verdict>(const GenerationRequest&, const Generation&)>;

struct ReaskOptions {
  // Re-asks per request at most (teacher.format_retries).
  int retries = 2;
  // The ordinal of the k-th re-ask of the whole call (k = 0, 1, ...): a new number, so that
  // the request has its own seed and cache entry.
  std::function<std::uint64_t(std::size_t)> reask_ordinal;
  // Called before each wave of requests (wave 0: the first asks; the number of requests).
  std::function<void(int wave, std::size_t requests)> on_wave;
  // Called as each generation completes (serialised).
  std::function<void(const Generation&)> on_done;
  const std::atomic<bool>* cancel = nullptr;
};

// Asks for every request, judges each reply, and asks again, with the same seed, for each
// request whose latest reply gave no usable sample and failed for its form, until it gives one
// or `retries` re-asks are spent. Returns every attempt: first the first asks in input order,
// then the re-asks wave by wave. Stops early (without more waves) once `cancel` is set.
std::vector<Attempt> ask_with_reasks(Teacher& teacher, const std::vector<GenerationRequest>& requests,
                                     const Judge& judge, const ReaskOptions& options);

// Yield figures of a set of attempts: requests asked first, the samples usable from first
// asks, re-asks sent, and the samples usable in all.
struct ReaskYield {
  std::size_t requests = 0;
  std::size_t reasks = 0;
  std::size_t usable_first_try = 0;
  std::size_t usable = 0;
};
ReaskYield reask_yield(const std::vector<Attempt>& attempts);

}  // namespace weakdistill
