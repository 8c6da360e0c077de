// The teacher's response cache: a SQLite table (WAL journal) of replies keyed
// by a hash of the request, so that a rerun or resumed run asks the teacher
// nothing it already asked. It lives in the run store (run.sqlite) beside the
// run's other tables, or in any file a user names.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace weakdistill {

namespace sqlite {
class Database;
}

// The cache key: SHA-256 (hex) of the canonical JSON (sorted keys, no spaces)
// of `request` (the request body without volatile fields) and `ordinal`.
// The API key is never part of a request body, so never part of a key.
std::string cache_key(const nlohmann::json& request, std::uint64_t ordinal);

// Hex SHA-256 of `bytes` (OpenSSL).
std::string sha256_hex(const std::string& bytes);

class ResponseCache {
 public:
  // Opens or creates the table `teacher_cache` in the SQLite file at `path` (WAL
  // journal, busy timeout 10 s, so other connections of the run may share the
  // file). Throws std::runtime_error naming the path on failure.
  explicit ResponseCache(const std::string& path);
  ~ResponseCache();
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  // The stored reply for `key`. Thread-safe.
  std::optional<nlohmann::json> get(const std::string& key) const;
  // Stores (or replaces) the reply for `key`, durably before returning (its own
  // transaction). Thread-safe.
  void put(const std::string& key, const nlohmann::json& reply);
  // Entries stored.
  std::size_t size() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<sqlite::Database> db_;
  mutable std::mutex mutex_;
};

}  // namespace weakdistill
