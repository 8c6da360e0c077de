#include "weakdistill/teacher/response_cache.h"

#include <openssl/evp.h>

#include <stdexcept>

#include "weakdistill/core/sqlite.h"

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

ResponseCache::ResponseCache(const std::string& path)
    : path_(path),
      db_(std::make_unique<sqlite::Database>(
          path, "response cache",
          "CREATE TABLE IF NOT EXISTS teacher_cache ("
          "  key TEXT PRIMARY KEY,"
          "  reply TEXT NOT NULL,"
          "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));")) {}

ResponseCache::~ResponseCache() = default;

std::optional<nlohmann::json> ResponseCache::get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "SELECT reply FROM teacher_cache WHERE key = ?1");
  s.bind(1, key);
  if (!s.step()) return std::nullopt;
  auto j = nlohmann::json::parse(s.text(0), nullptr, false);
  if (j.is_discarded()) return std::nullopt;  // a damaged entry is asked again
  return j;
}

void ResponseCache::put(const std::string& key, const nlohmann::json& reply) {
  std::lock_guard lock(mutex_);
  sqlite::Statement(*db_, "INSERT OR REPLACE INTO teacher_cache (key, reply) VALUES (?1, ?2)")
      .bind(1, key)
      .bind(2, reply.dump())
      .run();
}

std::size_t ResponseCache::size() const {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_, "SELECT COUNT(*) FROM teacher_cache");
  s.step();
  return static_cast<std::size_t>(s.integer(0));
}

}  // namespace weakdistill
