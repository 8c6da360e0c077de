// The `openai` embedder: POST {base_url}/embeddings on OpenAI, vLLM, Ollama or
// Hugging Face TEI (serving BAAI/bge-*-zh), through the teacher's HTTP client
// (same retries, timeouts and key rules), with vectors cached in SQLite.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "weakdistill/embed/embedder.h"
#include "weakdistill/core/sqlite.h"
#include "weakdistill/net/http_client.h"


namespace weakdistill {

struct OpenAIEmbedderOptions {
  // Endpoint(s) and transport, as for the teacher (context "embedder").
  // concurrency: batches in flight (default 4).
  HttpOptions http;
  // The server's model name (required), e.g. "BAAI/bge-large-zh-v1.5".
  std::string model;
  // Texts per request; 32 is TEI's default limit (--max-client-batch-size).
  int batch_size = 32;
  // Vector length when known; 0 = learned from the first reply (dim() is 0 until then).
  std::size_t dim = 0;
  // Cache vectors in the SQLite file given to make_embedder (off: ask every time).
  bool cache = true;
};

// Reads the `embedder` section of kind openai (keys: kind, base_url, model,
// api_key_env, batch_size, concurrency, dim, timeout_s, connect_timeout_s,
// max_retries, backoff_initial_s, backoff_max_s, ca_file, verify_tls, cache).
// Throws InputError naming "embedder.<key>".
OpenAIEmbedderOptions read_openai_embedder_options(const nlohmann::json& section);

class OpenAIEmbedder : public Embedder {
 public:
  // `cache_path` "": no cache.
  OpenAIEmbedder(OpenAIEmbedderOptions options, const std::string& cache_path);
  ~OpenAIEmbedder() override;
  std::string kind() const override { return "openai"; }
  std::size_t dim() const override;
  // Pretrained: nothing to fit.
  void fit(const std::vector<std::string>&) override {}
  // Rows in input order, L2-normalised (whatever the server sends). An empty
  // text is not sent (servers refuse it) and gets a zero row. Throws
  // HttpFatalError on a refusal and std::runtime_error when a batch got no
  // answer after retries, or a reply has the wrong shape or length.
  EmbeddingMatrix embed(const std::vector<std::string>& texts) const override;
  void attach_cache(const std::string& path) override;

 private:
  OpenAIEmbedderOptions options_;
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<sqlite::Database> cache_;
  mutable std::mutex mutex_;  // guards cache_ and the learned dim
  mutable std::size_t dim_;
};

}  // namespace weakdistill
