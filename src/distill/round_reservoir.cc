// Stage 2 of a round: the reservoir of candidates that earlier rounds verified and found
// diverse but had no room for (over_quota). They were paid for; a round takes them before it
// asks the teacher for more.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "round_stages.h"
#include "weakdistill/embed/diversity.h"

namespace weakdistill::distill_internal {

void take_from_reservoir(RunState& s, RoundWork& w) {
  w.need = w.quota;
  const DistillConfig& d = s.c.distill;
  if (!d.reservoir || s.reservoir.empty() || w.quota == 0) return;
  // Copies first: an entry may repeat a text accepted since it was stored.
  std::vector<std::size_t> alive;   // entries still valid
  std::vector<Sample> samples(s.reservoir.size());
  std::vector<std::string> dropped_why(s.reservoir.size());
  for (std::size_t k = 0; k < s.reservoir.size(); ++k) {
    const CandidateRecord& r = s.reservoir[k].record;
    samples[k] = parse_sample(r.sample.dump(), s.c.task, ReadOptions{}, s.store_path);
    if (d.verify && r.seed_index < s.data.labeled.size()) {
      if (auto bad = s.verifier->verify(samples[k], s.data.labeled[r.seed_index])) {
        dropped_why[k] = std::string(reason_name(bad->reason)) + ": " + bad->detail;
        continue;
      }
    }
    alive.push_back(k);
  }
  std::vector<float> diversity(s.reservoir.size(), -1.0f);
  std::vector<std::size_t> taken;  // entries, in acceptance order
  if (d.diversity && !alive.empty()) {
    const std::size_t dim = s.reservoir[alive.front()].vector.size();
    EmbeddingMatrix cands(alive.size(), dim);
    for (std::size_t j = 0; j < alive.size(); ++j) {
      std::copy(s.reservoir[alive[j]].vector.begin(), s.reservoir[alive[j]].vector.end(),
                cands.row(j));
    }
    DiversityOptions dopt;
    dopt.dist_min = d.dist_min;
    dopt.keep = w.quota;
    const DiversityResult r = select_diverse(comparison_set(s, {}), cands, dopt);
    for (std::size_t j = 0; j < alive.size(); ++j) {
      diversity[alive[j]] = r.diversity[j];
      if (!r.kept[j] && r.diversity[j] < d.dist_min) {
        dropped_why[alive[j]] =
            fmt::format("not_diverse: diversity {:.4f} now (dist_min {})", r.diversity[j], d.dist_min);
      }
    }
    for (std::size_t j : r.order) taken.push_back(alive[j]);
  } else {
    for (std::size_t k : alive) {
      if (taken.size() < w.quota) taken.push_back(k);
    }
  }
  // The round's records: taken entries (accepted later, in this order), then dropped ones.
  const auto add_record = [&](std::size_t k, const std::string& outcome, const std::string& detail) {
    CandidateRecord rec = s.reservoir[k].record;
    rec.source_round = rec.round;
    rec.round = w.round;
    rec.outcome = outcome;
    rec.detail = detail;
    if (diversity[k] >= 0) rec.diversity = diversity[k];
    rec.accepted = false;
    w.reservoir_change.removed.emplace_back(s.reservoir[k].record.round, rec.ordinal, rec.slot);
    w.records.push_back(std::move(rec));
    w.candidates.push_back(outcome.empty() ? samples[k] : Sample{});
    w.vectors.push_back(outcome.empty() ? s.reservoir[k].vector : std::vector<float>{});
    return w.records.size() - 1;
  };
  for (std::size_t k : taken) w.kept.push_back(add_record(k, "", ""));
  std::size_t dropped = 0;
  for (std::size_t k = 0; k < s.reservoir.size(); ++k) {
    if (dropped_why[k].empty()) continue;
    const std::string outcome = dropped_why[k].substr(0, dropped_why[k].find(':'));
    add_record(k, outcome,
               fmt::format("from the reservoir (round {}): {}", s.reservoir[k].record.round,
                           dropped_why[k].substr(dropped_why[k].find(':') + 2)));
    ++dropped;
  }
  w.from_reservoir = taken.size();
  w.need = w.quota - std::min(w.quota, taken.size());
  spdlog::info("round {}: the reservoir held {}: took {}, dropped {} no longer fit; asking the "
               "teacher for {}",
               w.round, s.reservoir.size(), taken.size(), dropped, w.need);
}

}  // namespace weakdistill::distill_internal
