#include "weakdistill/embed/embedder.h"

#include "weakdistill/core/error.h"
#include "weakdistill/core/neural_plugin.h"
#include "weakdistill/core/options.h"
#include "weakdistill/embed/hashing_embedder.h"
#include "weakdistill/embed/openai_embedder.h"

namespace weakdistill {
namespace {

// The bge embedder lives with the libtorch students in libweakdistill_neural.so; its entry
// point is defined in src/student/neural/plugin.cc.
std::unique_ptr<Embedder> make_bge_embedder(const nlohmann::json& config) {
  using MakeFn = Embedder* (*)(const nlohmann::json*);
  const auto make =
      reinterpret_cast<MakeFn>(neural_plugin_symbol("weakdistill_neural_make_embedder"));
  return std::unique_ptr<Embedder>(make(&config));
}

}  // namespace

std::unique_ptr<Embedder> make_embedder(const nlohmann::json& config,
                                        const std::string& cache_path) {
  OptionReader reader(config, "embedder");
  std::string kind = "hashing";
  reader.get("kind", kind);
  if (kind == "hashing") {
    HashingEmbedderOptions options;
    reader.get("dim", options.dim);
    reader.get("min_n", options.min_n);
    reader.get("max_n", options.max_n);
    reader.get("sublinear_tf", options.sublinear_tf);
    reader.get("threads", options.threads);
    // Unknown keys first: a misspelt key explains a surprising value better.
    reader.finish();
    return std::make_unique<HashingEmbedder>(options);
  }
  if (kind == "openai") {
    return std::make_unique<OpenAIEmbedder>(read_openai_embedder_options(config), cache_path);
  }
  if (kind == "bge") return make_bge_embedder(config);
  throw InputError("embedder.kind: unknown kind \"" + kind + "\" (known: hashing, openai, bge)");
}

}  // namespace weakdistill
