// Text embedders: unit vectors whose cosine says how alike two texts are
// (SPEC.md "Diversity"). A family keyed by the config's `embedder.kind`:
// `hashing` (offline, the default), `openai` (an /embeddings endpoint), later
// `bge` (native BERT).
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace weakdistill {

// Row-major float32 vectors, one row per text: rows() × dim().
class EmbeddingMatrix {
 public:
  EmbeddingMatrix() = default;
  EmbeddingMatrix(std::size_t rows, std::size_t dim) : rows_(rows), dim_(dim), data_(rows * dim) {}
  std::size_t rows() const { return rows_; }
  std::size_t dim() const { return dim_; }
  float* row(std::size_t i) { return data_.data() + i * dim_; }
  const float* row(std::size_t i) const { return data_.data() + i * dim_; }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }

 private:
  std::size_t rows_ = 0, dim_ = 0;
  std::vector<float> data_;
};

class Embedder {
 public:
  virtual ~Embedder() = default;
  virtual std::string kind() const = 0;
  // Vector length.
  virtual std::size_t dim() const = 0;
  // Fits whatever the embedder learns from the labeled texts (the hashing
  // embedder's IDF); a no-op for pretrained embedders. Call before embed().
  virtual void fit(const std::vector<std::string>& labeled_texts) = 0;
  // One L2-normalised row per text, in order (a text with no features gets a
  // zero row). Thread-safe after fit().
  virtual EmbeddingMatrix embed(const std::vector<std::string>& texts) const = 0;
  // Starts caching vectors in the SQLite file `path` (embedders that ask a
  // server; a no-op for the others).
  virtual void attach_cache(const std::string& path) { (void)path; }
};

// Makes the embedder the config's `embedder` section describes (an object with
// `kind` and that kind's options; an empty object means hashing with defaults).
// `cache_path` is a SQLite file where embedders that ask a server keep their
// vectors ("" = none). Throws InputError naming "embedder.<key>" for an unknown
// kind or key or a bad value.
std::unique_ptr<Embedder> make_embedder(const nlohmann::json& config,
                                        const std::string& cache_path = "");

}  // namespace weakdistill
