// The `pool` offline teacher: a simulated ideal teacher. For each seed it
// returns the nearest sample of a held-out pool (same label for
// classification, sharing an entity type for ner) that it has not returned
// before, by cosine of the configured embedder's vectors. With `draw: random` it
// returns an unused pool sample drawn at random instead, whatever the seed: human
// labels at random, the baseline a targeted teacher must beat.
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>
#include <unordered_set>

#include "kinds_internal.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/options.h"
#include "weakdistill/core/random.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/embed/embedder.h"

namespace weakdistill::teacher_internal {
namespace {

std::set<std::string> types_of(const Sample& s) {
  std::set<std::string> t;
  for (const auto& e : s.entities) t.insert(e.type);
  return t;
}

class PoolTeacher : public Teacher {
 public:
  PoolTeacher(Task task, std::vector<Sample> pool, const std::vector<Sample>& labeled,
              const Embedder* embedder, std::unique_ptr<Embedder> owned, bool random_draw)
      : task_(task),
        owned_(std::move(owned)),
        embedder_(embedder ? embedder : owned_.get()),
        random_draw_(random_draw) {
    // Pool samples that repeat a labeled text would be rejected as copies: drop them.
    std::unordered_set<std::string> labeled_texts;
    for (const auto& s : labeled) labeled_texts.insert(utf8::without_space(s.text));
    std::unordered_set<std::string> seen;
    for (auto& s : pool) {
      std::string key = utf8::without_space(s.text);
      if (labeled_texts.count(key) || !seen.insert(key).second) continue;
      pool_.push_back(std::move(s));
    }
    used_.assign(pool_.size(), false);
    std::vector<std::string> texts;
    texts.reserve(pool_.size());
    for (const auto& s : pool_) texts.push_back(s.text);
    vectors_ = embedder_->embed(texts);
    types_.reserve(pool_.size());
    for (const auto& s : pool_) types_.push_back(types_of(s));
  }

  std::string kind() const override { return "pool"; }
  bool simulated() const override { return true; }
  bool stateful() const override { return true; }

  std::vector<Generation> generate(
      const std::vector<GenerationRequest>& requests,
      const std::function<void(std::size_t, const Generation&)>& on_done,
      const std::atomic<bool>* cancel) override {
    std::vector<Generation> out(requests.size());
    const std::size_t n = pool_.size();
    const std::size_t dim = vectors_.dim();
    // Seeds are scored in blocks: scores = seed vectors (b × dim) · poolᵀ (dim × n),
    // so that memory stays at kBlock × n floats whatever the request count.
    constexpr std::size_t kBlock = 128;
    std::vector<float> scores;
    for (std::size_t begin = 0; begin < requests.size(); begin += kBlock) {
      const std::size_t end = std::min(requests.size(), begin + kBlock);
      std::vector<std::string> texts;
      for (std::size_t i = begin; i < end; ++i) texts.push_back(requests[i].seed->text);
      const EmbeddingMatrix seeds = embedder_->embed(texts);
      scores.assign((end - begin) * n, 0.0f);
      if (n > 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(end - begin),
                    static_cast<int>(n), static_cast<int>(dim), 1.0f, seeds.data(),
                    static_cast<int>(dim), vectors_.data(), static_cast<int>(dim), 0.0f,
                    scores.data(), static_cast<int>(n));
      }
      for (std::size_t i = begin; i < end; ++i) {
        Generation& g = out[i];
        if (cancel != nullptr && cancel->load()) {
          g.error = "cancelled";
        } else if (random_draw_) {
          pick_at_random(requests[i].ordinal, g);
        } else {
          pick(*requests[i].seed, scores.data() + (i - begin) * n, g);
        }
        if (on_done) on_done(i, g);
      }
    }
    return out;
  }

  TeacherUsage usage() const override {
    std::lock_guard lock(mutex_);
    return usage_;
  }

 private:
  bool eligible(const Sample& seed, const std::set<std::string>& seed_types, std::size_t j) const {
    if (used_[j]) return false;
    switch (task_) {
      case Task::kClassification:
        return pool_[j].label == seed.label;
      case Task::kNer:
        if (seed_types.empty()) return types_[j].empty();
        return std::any_of(seed_types.begin(), seed_types.end(),
                           [&](const std::string& t) { return types_[j].count(t) > 0; });
      case Task::kSummarization:
        return true;
    }
    return false;
  }

  // An unused pool sample chosen by the request's ordinal alone, so that a resumed run that
  // replays the same requests draws the same samples.
  void pick_at_random(std::uint64_t ordinal, Generation& g) {
    std::lock_guard lock(mutex_);
    ++usage_.requests;
    const auto unused = static_cast<std::size_t>(std::count(used_.begin(), used_.end(), false));
    if (unused == 0) {
      ++usage_.failures;
      g.error = "pool teacher: every pool sample has been returned";
      return;
    }
    Rng rng(stream_seed(0x9e3779b97f4a7c15ULL, ordinal));
    auto k = std::min(unused - 1, static_cast<std::size_t>(rng.uniform() * static_cast<double>(unused)));
    std::size_t j = 0;
    for (;; ++j) {
      if (!used_[j] && k-- == 0) break;
    }
    used_[j] = true;
    g.ok = true;
    g.finish_reason = "stop";
    g.reply = reply_json(task_, pool_[j]);
  }

  void pick(const Sample& seed, const float* score, Generation& g) {
    const auto seed_types = types_of(seed);
    std::size_t best = pool_.size();
    float best_score = -std::numeric_limits<float>::infinity();
    for (std::size_t j = 0; j < pool_.size(); ++j) {
      if (score[j] > best_score && eligible(seed, seed_types, j)) {  // ties: lowest index
        best = j;
        best_score = score[j];
      }
    }
    std::lock_guard lock(mutex_);
    ++usage_.requests;
    if (best == pool_.size()) {
      ++usage_.failures;
      g.error =
          task_ == Task::kClassification
              ? fmt::format("pool teacher: no unused pool sample has label \"{}\"", seed.label)
              : std::string("pool teacher: no unused pool sample fits this seed");
      return;
    }
    used_[best] = true;
    g.ok = true;
    g.finish_reason = "stop";
    g.reply = reply_json(task_, pool_[best]);
  }

  Task task_;
  std::unique_ptr<Embedder> owned_;
  const Embedder* embedder_;
  std::vector<Sample> pool_;
  std::vector<std::set<std::string>> types_;
  std::vector<bool> used_;
  EmbeddingMatrix vectors_;  // pool_.size() × dim, unit rows
  bool random_draw_ = false;
  mutable std::mutex mutex_;
  TeacherUsage usage_;
};

}  // namespace

std::unique_ptr<Teacher> make_pool(const nlohmann::json& section, const TeacherContext& context) {
  std::string kind, pool_path, draw = "nearest";
  OptionReader r(section, "teacher");
  r.get("kind", kind);
  r.get("pool", pool_path);
  r.get("draw", draw);
  r.finish();
  if (draw != "nearest" && draw != "random") r.fail("draw", "must be nearest or random");
  std::vector<Sample> pool;
  if (!pool_path.empty()) {
    std::filesystem::path p(pool_path);
    if (p.is_relative()) p = std::filesystem::path(context.base_dir) / p;
    if (!std::filesystem::is_regular_file(p)) r.fail("pool", "no such file: " + p.string());
    pool = read_jsonl(p.string(), context.task).samples;
  } else if (context.pool != nullptr) {
    pool = *context.pool;
  } else {
    throw InputError(
        "teacher.pool: kind pool needs a pool of held-out samples: set teacher.pool (or data.pool, "
        "or data.few_shot so that the rest of data.train becomes the pool)");
  }
  const std::vector<Sample> none;
  const std::vector<Sample>& labeled = context.labeled ? *context.labeled : none;
  std::unique_ptr<Embedder> owned;
  if (context.embedder == nullptr) {
    owned = make_embedder(nlohmann::json::object());
    std::vector<std::string> texts;
    for (const auto& s : labeled) texts.push_back(s.text);
    owned->fit(texts);
  }
  return std::make_unique<PoolTeacher>(context.task, std::move(pool), labeled, context.embedder,
                                       std::move(owned), draw == "random");
}

}  // namespace weakdistill::teacher_internal
