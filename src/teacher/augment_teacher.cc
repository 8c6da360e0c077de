// The `augment` offline teacher: Augmenter behind the Teacher interface.
#include <mutex>

#include "kinds_internal.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/options.h"
#include "weakdistill/teacher/augmenter.h"

namespace weakdistill::teacher_internal {
namespace {

class AugmentTeacher : public Teacher {
 public:
  AugmentTeacher(Task task, const std::vector<Sample>& labeled, AugmentOptions options,
                 std::uint64_t seed)
      : task_(task), augmenter_(task, labeled, options), seed_(seed) {}
  std::string kind() const override { return "augment"; }
  bool simulated() const override { return false; }

  std::vector<Generation> generate(
      const std::vector<GenerationRequest>& requests,
      const std::function<void(std::size_t, const Generation&)>& on_done,
      const std::atomic<bool>* cancel) override {
    std::vector<Generation> out(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      Generation& g = out[i];
      if (cancel != nullptr && cancel->load()) {
        g.error = "cancelled";
      } else {
        // Each request its own stream: the same (seed, ordinal) gives the same
        // sample whatever was asked before, as a cached LLM reply would.
        Rng rng(stream_seed(seed_, requests[i].ordinal));
        g.reply = reply_json(task_, augmenter_.augment(*requests[i].seed, rng));
        g.finish_reason = "stop";
        g.ok = true;
        std::lock_guard lock(mutex_);
        ++usage_.requests;
      }
      if (on_done) on_done(i, g);
    }
    return out;
  }

  TeacherUsage usage() const override {
    std::lock_guard lock(mutex_);
    return usage_;
  }

 private:
  Task task_;
  Augmenter augmenter_;
  std::uint64_t seed_;
  mutable std::mutex mutex_;
  TeacherUsage usage_;
};

}  // namespace

std::unique_ptr<Teacher> make_augment(const nlohmann::json& section,
                                      const TeacherContext& context) {
  AugmentOptions o;
  std::uint64_t seed = 1;
  std::string kind;
  OptionReader r(section, "teacher");
  r.get("kind", kind);
  r.get("seed", seed);
  r.get("edit_rate", o.edit_rate);
  r.get("replace_prob", o.replace_prob);
  r.get("keep_sentences", o.keep_sentences);
  r.get("delete_prob", o.delete_prob);
  r.get("max_attempts", o.max_attempts);
  r.finish();
  if (context.labeled == nullptr || context.labeled->empty()) {
    throw InputError("teacher: kind augment needs labeled samples to draw from");
  }
  return std::make_unique<AugmentTeacher>(context.task, *context.labeled, o, seed);
}

}  // namespace weakdistill::teacher_internal
