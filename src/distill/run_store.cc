#include "weakdistill/distill/run_store.h"

#include <cstring>

#include "weakdistill/core/sqlite.h"

namespace weakdistill {
namespace {

constexpr const char* kCandidateColumns =
    "round INTEGER NOT NULL, ordinal INTEGER NOT NULL, slot INTEGER NOT NULL DEFAULT 0,"
    "  attempt INTEGER NOT NULL DEFAULT 0, first_ordinal INTEGER, source_round INTEGER,"
    "  seed_index INTEGER NOT NULL, reply TEXT NOT NULL, reasoning TEXT NOT NULL DEFAULT '',"
    "  outcome TEXT NOT NULL, detail TEXT NOT NULL, sample TEXT, diversity REAL,"
    "  accepted INTEGER NOT NULL, rank INTEGER NOT NULL, PRIMARY KEY (round, ordinal, slot)";

bool has_column(sqlite::Database& db, const std::string& table, const std::string& column) {
  sqlite::Statement s(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2");
  s.bind(1, table).bind(2, column);
  return s.step();
}

// Stores made before a reply could hold several samples key candidates by (round, ordinal):
// rebuilt with the new columns, their rows kept (slot 0, first attempts).
void migrate(sqlite::Database& db) {
  if (has_column(db, "candidates", "slot")) return;
  db.transaction([&] {
    db.exec(std::string("CREATE TABLE candidates_new (") + kCandidateColumns + ");");
    db.exec(
        "INSERT INTO candidates_new (round, ordinal, seed_index, reply, outcome, detail, sample,"
        " diversity, accepted, rank) SELECT round, ordinal, seed_index, reply, outcome, detail,"
        " sample, diversity, accepted, rank FROM candidates;"
        "DROP TABLE candidates; ALTER TABLE candidates_new RENAME TO candidates;");
  });
}

void bind_sample(sqlite::Statement& s, int i, const nlohmann::json& sample) {
  if (sample.is_null()) {
    s.bind_null(i);
  } else {
    s.bind(i, sample.dump());
  }
}

}  // namespace

RunStore::RunStore(const std::string& path)
    : path_(path),
      db_(std::make_unique<sqlite::Database>(
          path, "run store",
          std::string(
              "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
              "CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, metrics TEXT NOT NULL,"
              "  completed TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));"
              "CREATE TABLE IF NOT EXISTS reservoir (round INTEGER NOT NULL, ordinal INTEGER NOT NULL,"
              "  slot INTEGER NOT NULL, record TEXT NOT NULL, vector BLOB NOT NULL,"
              "  PRIMARY KEY (round, ordinal, slot));"
              "CREATE TABLE IF NOT EXISTS candidates (") +
              kCandidateColumns + ");")) {
  migrate(*db_);
}

RunStore::~RunStore() = default;

void RunStore::commit_round(int round, const nlohmann::json& metrics,
                            const std::vector<CandidateRecord>& candidates,
                            const ReservoirChange& reservoir) {
  db_->transaction([&] {
    sqlite::Statement(*db_, "DELETE FROM candidates WHERE round = ?1").bind(1, std::int64_t{round}).run();
    sqlite::Statement ins(*db_,
                          "INSERT INTO candidates (round, ordinal, slot, attempt, first_ordinal, "
                          "source_round, seed_index, reply, reasoning, outcome, detail, sample, "
                          "diversity, accepted, rank) "
                          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)");
    for (const auto& c : candidates) {
      ins.reset();
      ins.bind(1, std::int64_t{c.round})
          .bind(2, static_cast<std::int64_t>(c.ordinal))
          .bind(3, std::int64_t{c.slot})
          .bind(4, std::int64_t{c.attempt})
          .bind(5, static_cast<std::int64_t>(c.first_ordinal));
      if (c.source_round < 0) {
        ins.bind_null(6);
      } else {
        ins.bind(6, std::int64_t{c.source_round});
      }
      ins.bind(7, static_cast<std::int64_t>(c.seed_index))
          .bind(8, c.reply)
          .bind(9, c.reasoning)
          .bind(10, c.outcome)
          .bind(11, c.detail);
      bind_sample(ins, 12, c.sample);
      if (c.diversity < 0) {
        ins.bind_null(13);
      } else {
        ins.bind(13, c.diversity);
      }
      ins.bind(14, std::int64_t{c.accepted ? 1 : 0}).bind(15, std::int64_t{c.rank});
      ins.run();
    }
    sqlite::Statement del(*db_,
                          "DELETE FROM reservoir WHERE round = ?1 AND ordinal = ?2 AND slot = ?3");
    for (const auto& [r, ordinal, slot] : reservoir.removed) {
      del.reset();
      del.bind(1, std::int64_t{r}).bind(2, static_cast<std::int64_t>(ordinal)).bind(3, std::int64_t{slot});
      del.run();
    }
    sqlite::Statement add(*db_,
                          "INSERT OR REPLACE INTO reservoir (round, ordinal, slot, record, vector) "
                          "VALUES (?1, ?2, ?3, ?4, ?5)");
    for (const auto& e : reservoir.added) {
      const CandidateRecord& c = e.record;
      const nlohmann::json record = {{"seed_index", c.seed_index}, {"attempt", c.attempt},
                                     {"first_ordinal", c.first_ordinal}, {"reply", c.reply},
                                     {"reasoning", c.reasoning}, {"sample", c.sample},
                                     {"diversity", c.diversity}};
      add.reset();
      add.bind(1, std::int64_t{c.round})
          .bind(2, static_cast<std::int64_t>(c.ordinal))
          .bind(3, std::int64_t{c.slot})
          .bind(4, record.dump())
          .bind_blob(5, e.vector.data(), e.vector.size() * sizeof(float));
      add.run();
    }
    sqlite::Statement(*db_, "INSERT OR REPLACE INTO rounds (round, metrics) VALUES (?1, ?2)")
        .bind(1, std::int64_t{round})
        .bind(2, metrics.dump())
        .run();
  });
}

std::vector<ReservoirEntry> RunStore::reservoir() const {
  sqlite::Statement s(*db_,
                      "SELECT round, ordinal, slot, record, vector FROM reservoir "
                      "ORDER BY round, ordinal, slot");
  std::vector<ReservoirEntry> out;
  while (s.step()) {
    ReservoirEntry e;
    CandidateRecord& c = e.record;
    c.round = static_cast<int>(s.integer(0));
    c.ordinal = static_cast<std::uint64_t>(s.integer(1));
    c.slot = static_cast<int>(s.integer(2));
    const auto r = nlohmann::json::parse(s.text(3));
    c.seed_index = r.at("seed_index").get<std::size_t>();
    c.attempt = r.at("attempt").get<int>();
    c.first_ordinal = r.at("first_ordinal").get<std::uint64_t>();
    c.reply = r.at("reply").get<std::string>();
    c.reasoning = r.at("reasoning").get<std::string>();
    c.sample = r.at("sample");
    c.diversity = r.at("diversity").get<double>();
    c.outcome = "over_quota";
    const auto [data, bytes] = s.blob(4);
    e.vector.resize(bytes / sizeof(float));
    if (bytes > 0) std::memcpy(e.vector.data(), data, e.vector.size() * sizeof(float));
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<nlohmann::json> RunStore::rounds() const {
  sqlite::Statement s(*db_, "SELECT metrics FROM rounds ORDER BY round");
  std::vector<nlohmann::json> out;
  while (s.step()) out.push_back(nlohmann::json::parse(s.text(0)));
  return out;
}

std::vector<CandidateRecord> RunStore::candidates(int last_round) const {
  sqlite::Statement s(*db_,
                      "SELECT round, ordinal, slot, attempt, first_ordinal, source_round, "
                      "seed_index, reply, reasoning, outcome, detail, sample, diversity, "
                      "accepted, rank "
                      "FROM candidates WHERE round <= ?1 ORDER BY round, ordinal, slot");
  s.bind(1, std::int64_t{last_round});
  std::vector<CandidateRecord> out;
  while (s.step()) {
    CandidateRecord c;
    c.round = static_cast<int>(s.integer(0));
    c.ordinal = static_cast<std::uint64_t>(s.integer(1));
    c.slot = static_cast<int>(s.integer(2));
    c.attempt = static_cast<int>(s.integer(3));
    c.first_ordinal = s.is_null(4) ? c.ordinal : static_cast<std::uint64_t>(s.integer(4));
    c.source_round = s.is_null(5) ? -1 : static_cast<int>(s.integer(5));
    c.seed_index = static_cast<std::size_t>(s.integer(6));
    c.reply = s.text(7);
    c.reasoning = s.text(8);
    c.outcome = s.text(9);
    c.detail = s.text(10);
    if (!s.is_null(11)) c.sample = nlohmann::json::parse(s.text(11));
    c.diversity = s.is_null(12) ? -1 : s.real(12);
    c.accepted = s.integer(13) != 0;
    c.rank = static_cast<int>(s.integer(14));
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
