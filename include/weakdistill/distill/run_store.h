// The run store: run.sqlite in the run folder. It holds the teacher's
// response cache (teacher_cache, see response_cache.h), remote embedders'
// vectors (embedding_cache), every candidate with its verdict, diversity and
// provenance, and every completed round. A round is complete when its row is
// in `rounds`: that row and the round's candidates are written in one
// transaction, after the round's files, so a crash leaves either the whole
// round or none of it.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace weakdistill {

namespace sqlite {
class Database;
}

// One sample of one teacher reply (a reply may hold several: teacher.samples_per_request),
// or the one record of a reply that gave none.
struct CandidateRecord {
  int round = 0;               // the round that judged it (took it from the reservoir, for those)
  std::uint64_t ordinal = 0;   // the teacher request's ordinal
  int slot = 0;                // the sample's place in its reply
  int attempt = 0;             // 0: the first ask; k: the k-th re-ask (teacher.format_retries)
  std::uint64_t first_ordinal = 0;  // the original request's ordinal (= ordinal when attempt 0)
  int source_round = -1;       // the round whose reply it came from, when not `round` (reservoir)
  std::size_t seed_index = 0;  // index of the seed in the labeled set (train ∪ dev)
  std::string reply;           // the teacher's reply ("" when it failed)
  std::string reasoning;       // the model's reasoning, apart from the reply
  std::string outcome;         // "accepted" or a rejection reason name
  std::string detail;          // the rejection's detail
  nlohmann::json sample;       // the candidate sample (null when unparsed)
  double diversity = -1;       // -1 when not judged
  bool accepted = false;
  int rank = -1;  // order of acceptance within the round (-1: not accepted)
};

// A verified, diverse candidate that its round had no room for (over_quota), kept for the
// next rounds (distill.reservoir).
struct ReservoirEntry {
  CandidateRecord record;      // as its round judged it (round = the round it came from)
  std::vector<float> vector;   // its embedding
};

// What a round changed in the reservoir, committed with the round.
struct ReservoirChange {
  std::vector<ReservoirEntry> added;
  // (round, ordinal, slot) of entries taken or dropped this round.
  std::vector<std::tuple<int, std::uint64_t, int>> removed;
};

class RunStore {
 public:
  // Opens or creates `path` (WAL). Throws std::runtime_error naming the path.
  explicit RunStore(const std::string& path);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  // Records a completed round (its metrics JSON) and its candidates atomically.
  void commit_round(int round, const nlohmann::json& metrics,
                    const std::vector<CandidateRecord>& candidates,
                    const ReservoirChange& reservoir = {});
  // The reservoir after the completed rounds, oldest first.
  std::vector<ReservoirEntry> reservoir() const;
  // Metrics of the completed rounds, in round order.
  std::vector<nlohmann::json> rounds() const;
  // Candidates of completed rounds up to `last_round`, in (round, ordinal, slot) order.
  // Accepted ones carry their rank: the order of acceptance, which training uses.
  std::vector<CandidateRecord> candidates(int last_round) const;
  // A free-form value (run state such as the config text).
  void put_meta(const std::string& key, const std::string& value);
  std::optional<std::string> meta(const std::string& key) const;
  // "ok" when SQLite's integrity check passes.
  std::string integrity_check() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<sqlite::Database> db_;
};

}  // namespace weakdistill
