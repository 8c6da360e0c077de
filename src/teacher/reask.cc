#include "weakdistill/teacher/reask.h"

#include <algorithm>

#include "weakdistill/teacher/reply_parser.h"

namespace weakdistill {

bool is_format_problem(RejectReason reason) {
  switch (reason) {
    case RejectReason::kTruncated:
    case RejectReason::kTruncatedInReasoning:
    case RejectReason::kUnparseable:
    case RejectReason::kEmptyText:
    case RejectReason::kLabelNotInSet:
    case RejectReason::kEntityNotInText:
      return true;
    default:
      return false;
  }
}

std::vector<Verdict> judge_generation(Task task, const Generation& g, int samples,
                                      const std::function<void(Verdict&)>& check) {
  if (!g.ok) {
    Verdict v;
    v.rejection = Rejection{RejectReason::kRequestFailed, g.error};
    return {v};
  }
  std::vector<Verdict> out;
  for (ParsedReply& p : parse_generation(task, g, samples)) {
    Verdict v;
    if (p.rejection) {
      v.rejection = std::move(p.rejection);
    } else {
      v.parsed = true;
      v.sample = std::move(p.sample);
      check(v);
    }
    out.push_back(std::move(v));
  }
  return out;
}

namespace {

// A reply worth asking again: nothing usable in it, and a form problem among its verdicts.
bool needs_reask(const Attempt& a) {
  if (!a.generation.ok) return false;
  bool form = false;
  for (const Verdict& v : a.verdicts) {
    if (v.usable()) return false;
    form = form || (v.rejection && is_format_problem(v.rejection->reason));
  }
  return form;
}

}  // namespace

std::vector<Attempt> ask_with_reasks(Teacher& teacher, const std::vector<GenerationRequest>& requests,
                                     const Judge& judge, const ReaskOptions& o) {
  std::vector<Attempt> out;
  std::vector<Attempt> wave;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    Attempt a;
    a.request = requests[i];
    a.origin = i;
    a.first_ordinal = requests[i].ordinal;
    wave.push_back(std::move(a));
  }
  std::size_t reasks = 0;
  for (int k = 0; !wave.empty(); ++k) {
    if (o.on_wave) o.on_wave(k, wave.size());
    std::vector<GenerationRequest> asked;
    for (const Attempt& a : wave) asked.push_back(a.request);
    std::vector<Generation> generations = teacher.generate(
        asked, [&](std::size_t, const Generation& g) { if (o.on_done) o.on_done(g); }, o.cancel);
    std::vector<Attempt> next;
    const bool cancelled = o.cancel != nullptr && o.cancel->load();
    for (std::size_t j = 0; j < wave.size(); ++j) {
      Attempt& a = wave[j];
      a.generation = std::move(generations[j]);
      a.verdicts = judge(a.request, a.generation);
      if (!cancelled && a.attempt < o.retries && needs_reask(a)) {
        Attempt again;
        again.request = {a.request.seed, o.reask_ordinal(reasks++)};
        again.attempt = a.attempt + 1;
        again.origin = a.origin;
        again.first_ordinal = a.first_ordinal;
        next.push_back(std::move(again));
      }
      out.push_back(std::move(a));
    }
    wave = std::move(next);
  }
  return out;
}

ReaskYield reask_yield(const std::vector<Attempt>& attempts) {
  ReaskYield y;
  for (const Attempt& a : attempts) {
    (a.attempt == 0 ? y.requests : y.reasks) += 1;
    const auto usable = static_cast<std::size_t>(std::count_if(
        a.verdicts.begin(), a.verdicts.end(), [](const Verdict& v) { return v.usable(); }));
    if (a.attempt == 0) y.usable_first_try += usable;
    y.usable += usable;
  }
  return y;
}

}  // namespace weakdistill
