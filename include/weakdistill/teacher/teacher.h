// The teacher: writes a new training sample for each seed (SPEC.md "The
// teacher prompt"). A family keyed by the config's `teacher.kind`:
//   openai   an OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp's
//            llama-server, Ollama, a cloud API); see openai_teacher.h
//   pool     a simulated ideal teacher: the nearest unused sample of a held-out pool
//   augment  classic label-preserving augmentation, no LLM (augmenter.h)
// Every teacher returns replies as text; offline teachers write the JSON object
// an LLM would end with, so that one parser and one verifier serve every kind.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "weakdistill/core/sample.h"
#include "weakdistill/teacher/prompt.h"

namespace weakdistill {

class Embedder;

// One generation request: a seed and the request's ordinal, a number that
// tells apart repeated requests for the same seed (the run numbers its requests
// 0, 1, 2, ... across rounds). Same (seed, ordinal), same cache entry.
struct GenerationRequest {
  const Sample* seed = nullptr;
  std::uint64_t ordinal = 0;
};

struct Generation {
  std::vector<ChatMessage> prompt;  // what was sent (empty for offline teachers)
  bool ok = false;                  // the teacher answered
  std::string error;                // why not, when !ok (never holds a key)
  std::string reply;                // the reply's content, without the model's reasoning
  std::string reasoning;            // the model's reasoning (chat_reply.h), kept, never parsed
  bool reasoning_open = false;      // the reply stopped inside a <think> block
  std::string finish_reason;        // "stop", "length", ... ("stop" for offline teachers)
  bool cached = false;              // answered from the response cache
  int attempts = 0;                 // HTTP attempts made (0 when cached or offline)
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
};

// Counters of teacher use; per round and in total (operator+=).
struct TeacherUsage {
  std::int64_t requests = 0;       // generations asked for
  std::int64_t http_requests = 0;  // HTTP attempts sent (retries included)
  std::int64_t retries = 0;
  std::int64_t failures = 0;  // requests that got no answer after retries
  std::int64_t cache_hits = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  TeacherUsage& operator+=(const TeacherUsage& o);
  nlohmann::ordered_json to_json() const;
};

// What the teacher's tokens cost (teacher.price). Absent, a run counts tokens only.
struct TeacherPrice {
  double input_per_1m = 0;   // per million prompt tokens
  double output_per_1m = 0;  // per million completion tokens
  std::string currency = "USD";
  double cost(std::int64_t prompt_tokens, std::int64_t completion_tokens) const {
    return (static_cast<double>(prompt_tokens) * input_per_1m +
            static_cast<double>(completion_tokens) * output_per_1m) /
           1e6;
  }
};

// What a run may spend on the teacher (teacher.budget); any subset, absent = no limit.
struct TeacherBudget {
  std::optional<std::int64_t> max_requests;  // requests sent and paid (cache hits are free)
  std::optional<std::int64_t> max_tokens;    // prompt + completion tokens
  std::optional<double> max_cost;            // in teacher.price's currency
  bool empty() const { return !max_requests && !max_tokens && !max_cost; }
};

class Teacher {
 public:
  virtual ~Teacher() = default;
  virtual std::string kind() const = 0;
  // True for offline teachers that stand in for an LLM (pool): their outputs
  // must be marked simulated wherever they appear.
  virtual bool simulated() const = 0;
  // One generation per request, in input order. `on_done(i, g)` is called as
  // each completes (serialised), e.g. to store it at once. `cancel`, when it
  // becomes true, stops new requests (their generations come back !ok,
  // error "cancelled"). Throws HttpFatalError when the endpoint refuses in a
  // way that no retry can fix.
  virtual std::vector<Generation> generate(
      const std::vector<GenerationRequest>& requests,
      const std::function<void(std::size_t, const Generation&)>& on_done = {},
      const std::atomic<bool>* cancel = nullptr) = 0;
  // Usage since construction.
  virtual TeacherUsage usage() const = 0;
  // Starts using the response cache in the SQLite file `path` (teachers that ask
  // a server; a no-op for the others). Lets a run validate its teacher before it
  // creates the run folder that holds the cache.
  virtual void attach_cache(const std::string& path) { (void)path; }
  // True when replies depend on what was asked before (the pool teacher never
  // returns a sample twice): a resumed run then replays the completed rounds'
  // requests to restore that state.
  virtual bool stateful() const { return false; }
  // Times a reply unusable for its form is asked again (teacher.format_retries); 0 for
  // offline teachers, whose replies are always well formed.
  virtual int format_retries() const { return 0; }
  // New samples one reply holds (teacher.samples_per_request).
  virtual int samples_per_request() const { return 1; }
  // The reply form in use and how it came to be ({"response_format", "configured",
  // "fallbacks": [...]}); null for teachers without one. A run stores it, and gives it back
  // on resume through restore_format_state, so that a fallback is made once per run.
  virtual nlohmann::ordered_json format_state() const { return nullptr; }
  virtual void restore_format_state(const nlohmann::ordered_json& state) { (void)state; }
  // The price of its tokens, when the config gives one.
  virtual std::optional<TeacherPrice> price() const { return std::nullopt; }
  // The run's spending limits (teacher.budget).
  virtual TeacherBudget budget() const { return {}; }
  // How requests travel (teacher.mode): "online", "batch" or "files".
  virtual std::string mode() const { return "online"; }
  // The folder of the round being asked for: where teacher.mode files writes its requests
  // and reads its results.
  virtual void set_work_dir(const std::string& dir) { (void)dir; }
  // The batches (teacher.mode batch) and result files (files) it has read from, in order.
  virtual std::vector<std::string> batches() const { return {}; }
};

// teacher.mode files: the round's requests are written and wait for an offline runner; the
// message says where they are, how to run them and where the results go. `run` stops with
// exit code 4 and continues on --resume once the results are there.
class TeacherResultsPending : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~TeacherResultsPending() override;
};

// What a teacher may need besides its options.
struct TeacherContext {
  Task task = Task::kClassification;
  // The labeled samples (train ∪ dev): the augment teacher's material, the pool
  // teacher's exclusions.
  const std::vector<Sample>* labeled = nullptr;
  // The pool teacher's pool when the config gives none (`data.pool` or the
  // few-shot remainder); may be null.
  const std::vector<Sample>* pool = nullptr;
  // The configured embedder, fitted (pool teacher); may be null for other kinds.
  const Embedder* embedder = nullptr;
  // SQLite file for the response cache ("" = no cache).
  std::string cache_path;
  // Relative paths in the teacher section (prompt_file, pool) resolve against this.
  std::string base_dir = ".";
};

// Makes the teacher that the config's `teacher` section describes. Throws
// InputError naming "teacher.<key>" for an unknown kind or key, a bad value, a
// missing file or an unset API key variable.
std::unique_ptr<Teacher> make_teacher(const nlohmann::json& config, const TeacherContext& context);

// The JSON object a reply ends with for `sample` (the task's output format),
// as offline teachers and the fake server's scripted replies write it.
std::string reply_json(Task task, const Sample& sample);

}  // namespace weakdistill
