// One thin layer over SQLite for the run's files (run.sqlite: the run store, the teacher's
// response cache, the embedding cache): open with the settings they all need, prepared
// statements that finalize themselves, transactions that roll back on an exception, and errors
// that name the file and its role.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

struct sqlite3;
struct sqlite3_stmt;

namespace weakdistill::sqlite {

class Database {
 public:
  // Opens or creates `path` with a WAL journal (readers never block the writer, and a
  // killed process loses at most the transaction in flight), synchronous=NORMAL (durable at
  // each checkpoint; WAL keeps it consistent), a 10 s busy timeout (several connections of
  // one run share the file), then runs `schema`. `role` names the file in errors ("run
  // store"). Throws std::runtime_error "<role> <path>: ...".
  Database(std::string path, std::string role, const std::string& schema = "");
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const std::string& sql);
  // Runs `body` between BEGIN IMMEDIATE and COMMIT; rolls back and rethrows if it throws.
  template <typename F>
  void transaction(F&& body) {
    exec("BEGIN IMMEDIATE");
    try {
      std::forward<F>(body)();
      exec("COMMIT");
    } catch (...) {
      rollback();
      throw;
    }
  }
  // PRAGMA integrity_check's first answer ("ok" when the file is sound).
  std::string integrity_check();

  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }
  // Throws std::runtime_error "<role> <path>: <doing>: <SQLite's message>".
  [[noreturn]] void fail(const std::string& doing) const;

 private:
  void rollback() noexcept;
  std::string path_;
  std::string role_;
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(const Database& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in the SQL (?1, ?2, ...). Texts and blobs are copied.
  Statement& bind(int i, const std::string& text);
  Statement& bind(int i, std::int64_t value);
  Statement& bind(int i, double value);
  Statement& bind_null(int i);
  Statement& bind_blob(int i, const void* data, std::size_t bytes);
  // Advances: true when a row is ready, false when done. Throws on an error.
  bool step();
  // Runs the statement to its end (an INSERT, UPDATE, DELETE). Throws on an error.
  void run();
  // Ready for new bindings and another run.
  void reset();

  // Columns are 0-based.
  bool is_null(int col) const;
  std::string text(int col) const;
  std::int64_t integer(int col) const;
  double real(int col) const;
  std::pair<const void*, std::size_t> blob(int col) const;

 private:
  const Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace weakdistill::sqlite
