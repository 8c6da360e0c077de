#include "weakdistill/distill/run_store.h"

#include "weakdistill/core/sqlite.h"

namespace weakdistill {

RunStore::RunStore(const std::string& path)
    : path_(path),
      db_(std::make_unique<sqlite::Database>(
          path, "run store",
          "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
          "CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, metrics TEXT NOT NULL,"
          "  completed TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));"
          "CREATE TABLE IF NOT EXISTS candidates (round INTEGER NOT NULL, ordinal INTEGER NOT NULL,"
          "  seed_index INTEGER NOT NULL, reply TEXT NOT NULL, outcome TEXT NOT NULL,"
          "  detail TEXT NOT NULL, sample TEXT, diversity REAL, accepted INTEGER NOT NULL,"
          "  rank INTEGER NOT NULL,"
          "  PRIMARY KEY (round, ordinal));")) {}

RunStore::~RunStore() = default;

void RunStore::commit_round(int round, const nlohmann::json& metrics,
                            const std::vector<CandidateRecord>& candidates) {
  db_->transaction([&] {
    sqlite::Statement(*db_, "DELETE FROM candidates WHERE round = ?1").bind(1, std::int64_t{round}).run();
    sqlite::Statement ins(*db_,
                          "INSERT INTO candidates (round, ordinal, seed_index, reply, outcome, "
                          "detail, sample, diversity, accepted, rank) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    for (const auto& c : candidates) {
      ins.reset();
      ins.bind(1, std::int64_t{c.round})
          .bind(2, static_cast<std::int64_t>(c.ordinal))
          .bind(3, static_cast<std::int64_t>(c.seed_index))
          .bind(4, c.reply)
          .bind(5, c.outcome)
          .bind(6, c.detail);
      if (c.sample.is_null()) {
        ins.bind_null(7);
      } else {
        ins.bind(7, c.sample.dump());
      }
      if (c.diversity < 0) {
        ins.bind_null(8);
      } else {
        ins.bind(8, c.diversity);
      }
      ins.bind(9, std::int64_t{c.accepted ? 1 : 0}).bind(10, std::int64_t{c.rank});
      ins.run();
    }
    sqlite::Statement(*db_, "INSERT OR REPLACE INTO rounds (round, metrics) VALUES (?1, ?2)")
        .bind(1, std::int64_t{round})
        .bind(2, metrics.dump())
        .run();
  });
}

std::vector<nlohmann::json> RunStore::rounds() const {
  sqlite::Statement s(*db_, "SELECT metrics FROM rounds ORDER BY round");
  std::vector<nlohmann::json> out;
  while (s.step()) out.push_back(nlohmann::json::parse(s.text(0)));
  return out;
}

std::vector<CandidateRecord> RunStore::candidates(int last_round) const {
  sqlite::Statement s(*db_,
                      "SELECT round, ordinal, seed_index, reply, outcome, detail, sample, "
                      "diversity, accepted, rank "
                      "FROM candidates WHERE round <= ?1 ORDER BY round, ordinal");
  s.bind(1, std::int64_t{last_round});
  std::vector<CandidateRecord> out;
  while (s.step()) {
    CandidateRecord c;
    c.round = static_cast<int>(s.integer(0));
    c.ordinal = static_cast<std::uint64_t>(s.integer(1));
    c.seed_index = static_cast<std::size_t>(s.integer(2));
    c.reply = s.text(3);
    c.outcome = s.text(4);
    c.detail = s.text(5);
    if (!s.is_null(6)) c.sample = nlohmann::json::parse(s.text(6));
    c.diversity = s.is_null(7) ? -1 : s.real(7);
    c.accepted = s.integer(8) != 0;
    c.rank = static_cast<int>(s.integer(9));
    out.push_back(std::move(c));
  }
  return out;
}

void RunStore::put_meta(const std::string& key, const std::string& value) {
  sqlite::Statement(*db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")
      .bind(1, key)
      .bind(2, value)
      .run();
}

std::optional<std::string> RunStore::meta(const std::string& key) const {
  sqlite::Statement s(*db_, "SELECT value FROM meta WHERE key = ?1");
  s.bind(1, key);
  if (!s.step()) return std::nullopt;
  return s.text(0);
}

std::string RunStore::integrity_check() const { return db_->integrity_check(); }

}  // namespace weakdistill
