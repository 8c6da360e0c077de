// The `bge` embedder: any BERT-shaped Hugging Face folder (BGE small/base/large
// zh, bert-base-chinese, ERNIE) run natively by the libtorch encoder of bert.h.
// A text is tokenized (WordPiece, at most max_length tokens), encoded, pooled
// (BGE: the [CLS] state; `pooling: mean`: the tokens' mean) and L2-normalised.
// Texts are sorted by token count and batched in that order, so a batch holds
// texts of similar length and little padding; rows come back in input order.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <numeric>
#include <optional>

#include "bert.h"
#include "neural_kinds.h"
#include "torch_util.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/options.h"
#include "weakdistill/core/progress.h"

namespace weakdistill::neural {
namespace {

struct BgeOptions {
  // The Hugging Face folder (config.json, vocab.txt, model.safetensors). Required.
  std::string path;
  // Texts per forward pass.
  int batch_size = 32;
  // Tokens per text, [CLS] and [SEP] included; the rest is cut. Capped at the
  // model's max_position_embeddings.
  int max_length = 512;
  // cls (BGE's pooling) or mean (over the tokens, padding excluded).
  std::string pooling = "cls";
  // Prepended to every text (BGE's retrieval instruction for queries, e.g.
  // "为这个句子生成表示以用于检索相关文章："); empty for symmetric similarity.
  std::string instruction;
  // Threads; 0 means all cores.
  int threads = 0;
};

class BgeEmbedder : public Embedder {
 public:
  explicit BgeEmbedder(const nlohmann::json& config) {
    OptionReader r(config, "embedder");
    std::string kind;
    r.get("kind", kind);
    r.get("path", options_.path);
    r.get("batch_size", options_.batch_size);
    r.get("max_length", options_.max_length);
    r.get("pooling", options_.pooling);
    r.get("instruction", options_.instruction);
    r.get("threads", options_.threads);
    r.finish();
    if (options_.path.empty()) {
      r.fail("path",
             "required: a Hugging Face BERT folder (config.json, vocab.txt, model.safetensors)");
    }
    if (options_.batch_size < 1 || options_.batch_size > 4096)
      r.fail("batch_size", "must be in 1..4096");
    if (options_.max_length < 3) r.fail("max_length", "must be 3 or more");
    if (options_.pooling != "cls" && options_.pooling != "mean") {
      r.fail("pooling", "must be cls or mean, not \"" + options_.pooling + "\"");
    }
    if (options_.threads < 0) r.fail("threads", "must be 0 (all cores) or more");
    bert_ = student_internal::load_pretrained_bert_option("embedder.path", options_.path);
    bert_.encoder->eval();
    max_length_ = static_cast<std::size_t>(
        std::min<std::int64_t>(options_.max_length, bert_.config.max_position_embeddings));
    if (!bert_.report.ignored.empty()) {
      spdlog::debug("embedder: {} tensors outside the encoder ignored (a task head)",
                    bert_.report.ignored.size());
    }
  }

  std::string kind() const override { return "bge"; }
  std::size_t dim() const override { return static_cast<std::size_t>(bert_.config.hidden_size); }
  void fit(const std::vector<std::string>&) override {}

  EmbeddingMatrix embed(const std::vector<std::string>& texts) const override {
    std::lock_guard lock(mutex_);
    student_internal::set_torch_threads(CommonOptions{1, options_.threads});
    torch::InferenceMode inference;
    std::vector<std::vector<std::int64_t>> ids(texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      ids[i] = bert_.tokenizer->encode_ids(options_.instruction + texts[i], max_length_);
    }
    std::vector<std::size_t> order(texts.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return ids[a].size() < ids[b].size(); });
    EmbeddingMatrix out(texts.size(), dim());
    const auto batch = static_cast<std::size_t>(options_.batch_size);
    // Only for work that takes a while: the loop also embeds a handful of texts at a time.
    std::optional<Progress> progress;
    if (texts.size() >= 512) progress.emplace("embed", texts.size(), "texts");
    for (std::size_t start = 0; start < order.size(); start += batch) {
      const std::size_t end = std::min(order.size(), start + batch);
      std::vector<std::vector<std::int64_t>> rows;
      for (std::size_t k = start; k < end; ++k) rows.push_back(ids[order[k]]);
      const auto [x, mask] = student_internal::pad_ids(rows, bert_.tokenizer->pad_id());
      torch::Tensor pooled;
      if (options_.pooling == "cls") {
        pooled = bert_.encoder->forward_cls(x, mask);
      } else {
        const torch::Tensor hidden = bert_.encoder->forward(x, mask);
        const torch::Tensor m = mask.unsqueeze(2).to(hidden.dtype());
        pooled = (hidden * m).sum(1) / m.sum(1);
      }
      pooled = torch::nn::functional::normalize(
                   pooled, torch::nn::functional::NormalizeFuncOptions().p(2).dim(1).eps(1e-12))
                   .contiguous();
      const float* p = pooled.data_ptr<float>();
      for (std::size_t k = start; k < end; ++k) {
        std::copy_n(p + (k - start) * dim(), dim(), out.row(order[k]));
      }
      if (progress) progress->advance(end - start);
    }
    if (progress) progress->finish();
    return out;
  }

 private:
  BgeOptions options_;
  mutable student_internal::PretrainedBert bert_;
  std::size_t max_length_ = 512;
  mutable std::mutex mutex_;
};

}  // namespace

std::unique_ptr<Embedder> make_bge_embedder(const nlohmann::json& config) {
  return std::make_unique<BgeEmbedder>(config);
}

}  // namespace weakdistill::neural
