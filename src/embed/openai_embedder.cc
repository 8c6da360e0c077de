#include "weakdistill/embed/openai_embedder.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "weakdistill/core/error.h"
#include "weakdistill/core/options.h"
#include "weakdistill/core/sqlite.h"
#include "weakdistill/embed/embeddings_reply.h"
#include "weakdistill/teacher/response_cache.h"

namespace weakdistill {

OpenAIEmbedderOptions read_openai_embedder_options(const nlohmann::json& section) {
  OpenAIEmbedderOptions o;
  o.http.concurrency = 4;
  o.http.timeout_s = 60;
  o.http.context = "embedder";
  OptionReader r(section, "embedder");
  std::string kind;
  r.get("kind", kind);
  read_http_options(r, o.http);
  r.get("model", o.model);
  r.get("batch_size", o.batch_size);
  r.get("dim", o.dim);
  r.get("cache", o.cache);
  r.finish();
  if (o.http.base_urls.empty()) r.fail("base_url", "required (e.g. http://127.0.0.1:8080/v1)");
  if (o.model.empty()) r.fail("model", "required: the embedding model the server serves");
  if (o.batch_size < 1 || o.batch_size > 4096) r.fail("batch_size", "must be in 1..4096");
  if (o.http.concurrency < 1 || o.http.concurrency > 1024) {
    r.fail("concurrency", "must be in 1..1024");
  }
  return o;
}


OpenAIEmbedder::OpenAIEmbedder(OpenAIEmbedderOptions options, const std::string& cache_path)
    : options_(std::move(options)), dim_(options_.dim) {
  client_ = std::make_unique<HttpClient>(options_.http);
  attach_cache(cache_path);
}

void OpenAIEmbedder::attach_cache(const std::string& cache_path) {
  std::lock_guard lock(mutex_);
  cache_.reset();
  if (options_.cache && !cache_path.empty()) {
    cache_ = std::make_unique<sqlite::Database>(
        cache_path, "embedding cache",
        "CREATE TABLE IF NOT EXISTS embedding_cache (key TEXT PRIMARY KEY, vector BLOB NOT NULL)");
  }
}

OpenAIEmbedder::~OpenAIEmbedder() = default;

std::size_t OpenAIEmbedder::dim() const {
  std::lock_guard lock(mutex_);
  return dim_;
}

EmbeddingMatrix OpenAIEmbedder::embed(const std::vector<std::string>& texts) const {
  // Vectors by text: the cache's, then the server's; each distinct text asked once.
  std::unordered_map<std::string, std::vector<float>> vectors;
  auto key_of = [&](const std::string& text) {
    return sha256_hex(nlohmann::json({{"model", options_.model}, {"text", text}}).dump());
  };
  std::vector<std::string> missing;
  {
    std::lock_guard lock(mutex_);
    for (const auto& t : texts) {
      if (t.empty() || vectors.count(t)) continue;
      if (cache_ != nullptr) {
        sqlite::Statement st(*cache_, "SELECT vector FROM embedding_cache WHERE key = ?1");
        st.bind(1, key_of(t));
        if (st.step()) {
          const auto [data, bytes] = st.blob(0);
          const auto* floats = static_cast<const float*>(data);
          vectors[t].assign(floats, floats + bytes / sizeof(float));
        }
        if (vectors.count(t)) continue;
      }
      vectors[t];  // reserve the slot: asked once
      missing.push_back(t);
    }
  }
  std::vector<nlohmann::json> bodies;
  const std::size_t batch = static_cast<std::size_t>(options_.batch_size);
  for (std::size_t b = 0; b < missing.size(); b += batch) {
    nlohmann::json input = nlohmann::json::array();
    for (std::size_t i = b; i < std::min(missing.size(), b + batch); ++i)
      input.push_back(missing[i]);
    bodies.push_back({{"model", options_.model}, {"input", std::move(input)}});
  }
  std::string failure;
  client_->post_many("/embeddings", bodies, [&](std::size_t k, const HttpOutcome& out) {
    const std::size_t first = k * batch;
    const std::size_t n = std::min(missing.size(), first + batch) - first;
    if (!out.ok) {
      if (failure.empty()) failure = out.error;
      return;
    }
    std::string why;
    auto got = read_embeddings_reply(out.body, n, options_.dim, why);
    if (!got) {
      if (failure.empty()) failure = fmt::format("embedder at {}: {}", out.replica, why);
      return;
    }
    for (std::size_t j = 0; j < n; ++j) vectors[missing[first + j]] = std::move((*got)[j]);
  });
  if (!failure.empty()) throw std::runtime_error(failure);

  std::lock_guard lock(mutex_);
  for (const auto& [t, v] : vectors) {
    if (dim_ == 0 && !v.empty()) dim_ = v.size();
  }
  for (const auto& t : missing) {
    const auto& v = vectors[t];
    if (dim_ == 0) dim_ = v.size();
    if (v.size() != dim_) {
      throw std::runtime_error(
          fmt::format("embedder: the server returned a vector of length {} where {} was expected{}",
                      v.size(), dim_, options_.dim ? " (embedder.dim)" : ""));
    }
    if (cache_ != nullptr) {
      sqlite::Statement(*cache_,
                        "INSERT OR REPLACE INTO embedding_cache (key, vector) VALUES (?1, ?2)")
          .bind(1, key_of(t))
          .bind_blob(2, v.data(), v.size() * sizeof(float))
          .run();
    }
  }
  EmbeddingMatrix out(texts.size(), dim_);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) continue;  // zero row
    const auto& v = vectors[texts[i]];
    if (v.size() != dim_) {
      throw std::runtime_error(
          fmt::format("embedder: a cached vector has length {}, not {}", v.size(), dim_));
    }
    std::memcpy(out.row(i), v.data(), dim_ * sizeof(float));
  }
  return out;
}

}  // namespace weakdistill
