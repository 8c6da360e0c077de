#include "weakdistill/teacher/response_cache.h"

#include <openssl/evp.h>
#include <sqlite3.h>

#include <stdexcept>

namespace weakdistill {

std::string sha256_hex(const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed (OpenSSL)");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

std::string cache_key(const nlohmann::json& request, std::uint64_t ordinal) {
  // nlohmann::json (not ordered_json) keeps object keys sorted: one text per request.
  nlohmann::json keyed = {{"request", request}, {"ordinal", ordinal}};
  return sha256_hex(keyed.dump());
}

namespace {

void check(int rc, sqlite3* db, const std::string& path, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return;
  throw std::runtime_error("response cache " + path + ": " + what + ": " +
                           (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
}

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  Statement(sqlite3* db, const char* sql, const std::string& path) {
    check(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), db, path, "prepare");
  }
  ~Statement() { sqlite3_finalize(stmt); }
};

}  // namespace

ResponseCache::ResponseCache(const std::string& path) : path_(path) {
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("response cache " + path + ": cannot open: " + message);
  }
  sqlite3_busy_timeout(db_, 10000);
  const char* setup =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS teacher_cache ("
      "  key TEXT PRIMARY KEY,"
      "  reply TEXT NOT NULL,"
      "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));";
  char* error = nullptr;
  if (sqlite3_exec(db_, setup, nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("response cache " + path + ": " + message);
  }
}

ResponseCache::~ResponseCache() { sqlite3_close(db_); }

std::optional<nlohmann::json> ResponseCache::get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT reply FROM teacher_cache WHERE key = ?1", path_);
  sqlite3_bind_text(s.stmt, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(s.stmt);
  check(rc, db_, path_, "read");
  if (rc != SQLITE_ROW) return std::nullopt;
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s.stmt, 0));
  auto j = nlohmann::json::parse(text ? text : "", nullptr, false);
  if (j.is_discarded()) return std::nullopt;  // a damaged entry is asked again
  return j;
}

void ResponseCache::put(const std::string& key, const nlohmann::json& reply) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "INSERT OR REPLACE INTO teacher_cache (key, reply) VALUES (?1, ?2)", path_);
  const std::string text = reply.dump();
  sqlite3_bind_text(s.stmt, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(s.stmt, 2, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  check(sqlite3_step(s.stmt), db_, path_, "write");
}

std::size_t ResponseCache::size() const {
  std::lock_guard lock(mutex_);
  Statement s(db_, "SELECT COUNT(*) FROM teacher_cache", path_);
  check(sqlite3_step(s.stmt), db_, path_, "count");
  return static_cast<std::size_t>(sqlite3_column_int64(s.stmt, 0));
}

}  // namespace weakdistill
