#include "weakdistill/distill/run_store.h"

#include <sqlite3.h>

#include <stdexcept>

namespace weakdistill {
namespace {

struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql, const std::string& path) {
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error("run store " + path + ": " + sqlite3_errmsg(db));
    }
  }
  ~Stmt() { sqlite3_finalize(s); }
  void text(int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
};

void exec(sqlite3* db, const char* sql, const std::string& path) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error("run store " + path + ": " + message);
  }
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return t ? std::string(t, static_cast<std::size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

}  // namespace

RunStore::RunStore(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("run store " + path + ": cannot open: " + message);
  }
  sqlite3_busy_timeout(db_, 10000);
  exec(db_,
       "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
       "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
       "CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, metrics TEXT NOT NULL,"
       "  completed TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));"
       "CREATE TABLE IF NOT EXISTS candidates (round INTEGER NOT NULL, ordinal INTEGER NOT NULL,"
       "  seed_index INTEGER NOT NULL, reply TEXT NOT NULL, outcome TEXT NOT NULL,"
       "  detail TEXT NOT NULL, sample TEXT, diversity REAL, accepted INTEGER NOT NULL,"
       "  rank INTEGER NOT NULL,"
       "  PRIMARY KEY (round, ordinal));",
       path_);
}

RunStore::~RunStore() { sqlite3_close(db_); }

void RunStore::commit_round(int round, const nlohmann::json& metrics,
                            const std::vector<CandidateRecord>& candidates) {
  exec(db_, "BEGIN IMMEDIATE", path_);
  try {
    {
      Stmt del(db_, "DELETE FROM candidates WHERE round = ?1", path_);
      sqlite3_bind_int(del.s, 1, round);
      sqlite3_step(del.s);
    }
    Stmt ins(db_,
             "INSERT INTO candidates (round, ordinal, seed_index, reply, outcome, detail, sample,"
             " diversity, accepted, rank) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
             path_);
    for (const auto& c : candidates) {
      sqlite3_reset(ins.s);
      sqlite3_bind_int(ins.s, 1, c.round);
      sqlite3_bind_int64(ins.s, 2, static_cast<sqlite3_int64>(c.ordinal));
      sqlite3_bind_int64(ins.s, 3, static_cast<sqlite3_int64>(c.seed_index));
      ins.text(4, c.reply);
      ins.text(5, c.outcome);
      ins.text(6, c.detail);
      if (c.sample.is_null()) {
        sqlite3_bind_null(ins.s, 7);
      } else {
        ins.text(7, c.sample.dump());
      }
      if (c.diversity < 0) {
        sqlite3_bind_null(ins.s, 8);
      } else {
        sqlite3_bind_double(ins.s, 8, c.diversity);
      }
      sqlite3_bind_int(ins.s, 9, c.accepted ? 1 : 0);
      sqlite3_bind_int(ins.s, 10, c.rank);
      if (sqlite3_step(ins.s) != SQLITE_DONE) {
        throw std::runtime_error("run store " + path_ + ": " + sqlite3_errmsg(db_));
      }
    }
    Stmt r(db_, "INSERT OR REPLACE INTO rounds (round, metrics) VALUES (?1, ?2)", path_);
    sqlite3_bind_int(r.s, 1, round);
    r.text(2, metrics.dump());
    if (sqlite3_step(r.s) != SQLITE_DONE) {
      throw std::runtime_error("run store " + path_ + ": " + sqlite3_errmsg(db_));
    }
    exec(db_, "COMMIT", path_);
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::vector<nlohmann::json> RunStore::rounds() const {
  Stmt s(db_, "SELECT metrics FROM rounds ORDER BY round", path_);
  std::vector<nlohmann::json> out;
  while (sqlite3_step(s.s) == SQLITE_ROW) out.push_back(nlohmann::json::parse(column_text(s.s, 0)));
  return out;
}

std::vector<CandidateRecord> RunStore::candidates(int last_round) const {
  Stmt s(db_,
         "SELECT round, ordinal, seed_index, reply, outcome, detail, sample, diversity, accepted, "
         "rank "
         "FROM candidates WHERE round <= ?1 ORDER BY round, ordinal",
         path_);
  sqlite3_bind_int(s.s, 1, last_round);
  std::vector<CandidateRecord> out;
  while (sqlite3_step(s.s) == SQLITE_ROW) {
    CandidateRecord c;
    c.round = sqlite3_column_int(s.s, 0);
    c.ordinal = static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 1));
    c.seed_index = static_cast<std::size_t>(sqlite3_column_int64(s.s, 2));
    c.reply = column_text(s.s, 3);
    c.outcome = column_text(s.s, 4);
    c.detail = column_text(s.s, 5);
    if (sqlite3_column_type(s.s, 6) != SQLITE_NULL) {
      c.sample = nlohmann::json::parse(column_text(s.s, 6));
    }
    c.diversity = sqlite3_column_type(s.s, 7) == SQLITE_NULL ? -1 : sqlite3_column_double(s.s, 7);
    c.accepted = sqlite3_column_int(s.s, 8) != 0;
    c.rank = sqlite3_column_int(s.s, 9);
    out.push_back(std::move(c));
  }
  return out;
}

void RunStore::put_meta(const std::string& key, const std::string& value) {
  Stmt s(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", path_);
  s.text(1, key);
  s.text(2, value);
  if (sqlite3_step(s.s) != SQLITE_DONE) {
    throw std::runtime_error("run store " + path_ + ": " + sqlite3_errmsg(db_));
  }
}

std::optional<std::string> RunStore::meta(const std::string& key) const {
  Stmt s(db_, "SELECT value FROM meta WHERE key = ?1", path_);
  s.text(1, key);
  if (sqlite3_step(s.s) != SQLITE_ROW) return std::nullopt;
  return column_text(s.s, 0);
}

std::string RunStore::integrity_check() const {
  Stmt s(db_, "PRAGMA integrity_check", path_);
  if (sqlite3_step(s.s) != SQLITE_ROW) return "no answer";
  return column_text(s.s, 0);
}

}  // namespace weakdistill
