// The `openai` teacher: POST {base_url}/chat/completions on any
// OpenAI-compatible endpoint, with the response cache and usage accounting.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "weakdistill/net/http_client.h"
#include "weakdistill/teacher/batch_api.h"
#include "weakdistill/teacher/output_schema.h"
#include "weakdistill/teacher/prompt.h"
#include "weakdistill/teacher/response_cache.h"
#include "weakdistill/teacher/teacher.h"

namespace weakdistill {

struct OpenAITeacherOptions {
  // Endpoint(s) and transport: base_urls, api_key_env, concurrency (default 16),
  // connect_timeout_s, timeout_s (120), max_retries (6), backoff, ca_file, verify_tls.
  HttpOptions http;
  // The server's model name (required), e.g. "qwen2-72b-instruct".
  std::string model;
  // Sampling: temperature 0.9 favours varied samples; top_p 1 leaves it to temperature.
  double temperature = 0.9;
  double top_p = 1.0;
  // Room for the reasoning and the final JSON object.
  int max_tokens = 1024;
  // When set, request i sends seed + ordinal, so that a server that honours
  // seeds (vLLM, llama.cpp) gives the same reply to the same request.
  std::optional<std::int64_t> seed;
  // The reply's form: "json_schema" (the task's schema, output_schema.h, enforced by servers
  // that support structured output), "json_object" (any JSON object) or "text" (no
  // response_format sent). A server that answers 400 to it is asked with the next one, once
  // for the run (fallback, see OpenAITeacher).
  std::string response_format = "json_schema";
  // A reply unusable for its form (no JSON, wrong shape, cut, a label outside the label set,
  // an entity not in its text) is asked again with a new request seed, up to this many times.
  int format_retries = 2;
  // New samples asked for in one request (1..32): the prompt's fixed part is paid once for k.
  int samples_per_request = 1;
  // Prompt language of the built-in template ("zh" or "en"), or a template file.
  std::string language = "zh";
  std::string prompt_file;
  // An optional system message put before the prompt.
  std::string system_prompt;
  // The response cache (in TeacherContext::cache_path); false = `cache: off`.
  bool cache = true;
  // teacher.price {input_per_1m, output_per_1m, currency}; absent = tokens only.
  std::optional<TeacherPrice> price;
  // teacher.budget {max_requests, max_tokens, max_cost}; max_cost needs a price.
  TeacherBudget budget;
  // How requests travel: "online" (one HTTP request each), "batch" (OpenAI's Batch API:
  // one file of requests, polled until done; usually half the price, answered within
  // completion_window) or "files" (the round writes teacher_requests.jsonl for an offline
  // runner such as `vllm run-batch` and stops; the run resumes from teacher_results.jsonl).
  std::string mode = "online";
  // batch: the Batch API's options (completion_window, polling, file limits).
  BatchApiOptions batch;
  // batch: lines that failed or never came back are asked again "online" or in a follow-up
  // "batch" (at most 2 follow-ups; what still fails is a failed request).
  std::string batch_retry = "online";
  // A tokenizer folder (tokenizer.json or vocab.txt) of the teacher's model: `run --estimate`
  // then counts tokens, not characters (text/token_counter.h). Not used to send.
  std::string tokenizer;
};

// Reads the `teacher` section of kind openai (keys: kind, base_url (string or
// list), model, api_key_env, concurrency, temperature, top_p, max_tokens, seed,
// response_format, format_retries, samples_per_request, price, budget, mode,
// completion_window, batch_retry, batch_poll_s, batch_poll_max_s, batch_max_lines,
// batch_max_mb, batch_delete_files, tokenizer, timeout_s, connect_timeout_s, max_retries, backoff_initial_s, backoff_max_s,
// ca_file, verify_tls, language, prompt_file, system_prompt, cache). Throws InputError
// naming "teacher.<key>".
OpenAITeacherOptions read_openai_teacher_options(const nlohmann::json& section,
                                                 const std::string& base_dir);

// Structured output and its fallback: until a reply in the configured response_format has
// come back, a batch of requests starts with one request alone. A 400 to it (or, when that
// probe failed for another reason, to any request of the batch) moves the whole teacher to the
// next form (json_schema -> json_object -> text), logged and kept in format_state(), and what
// is unanswered is sent again in it; only when even text is refused, or once a reply has
// confirmed the form, does a 400 stop the run (with the first refusal's message). The form
// never moves back, so a run falls back at most twice.
class OpenAITeacher : public Teacher {
 public:
  // `cache_path` "" means no cache (as does options.cache = false). `labels`: the label set
  // (classification) or entity types (ner) that the schema's enums allow.
  OpenAITeacher(Task task, OpenAITeacherOptions options, const std::string& cache_path,
                std::set<std::string> labels = {});
  std::string kind() const override { return "openai"; }
  bool simulated() const override { return false; }
  std::vector<Generation> generate(
      const std::vector<GenerationRequest>& requests,
      const std::function<void(std::size_t, const Generation&)>& on_done,
      const std::atomic<bool>* cancel) override;
  TeacherUsage usage() const override;
  void attach_cache(const std::string& path) override;
  int format_retries() const override { return options_.format_retries; }
  int samples_per_request() const override { return options_.samples_per_request; }
  nlohmann::ordered_json format_state() const override;
  std::optional<TeacherPrice> price() const override { return options_.price; }
  TeacherBudget budget() const override { return options_.budget; }
  void restore_format_state(const nlohmann::ordered_json& state) override;
  void set_work_dir(const std::string& dir) override { work_dir_ = dir; }
  std::string mode() const override { return options_.mode; }
  std::vector<std::string> batches() const override;

  // The request body (property order kept: the schema's order guides a grammar) for
  // `messages` in the current response_format; seed + ordinal when a seed is set.
  nlohmann::ordered_json request_body(const std::vector<ChatMessage>& messages,
                                      std::uint64_t ordinal) const;
  // The messages a request for `seed` sends (the system prompt, then the rendered prompt).
  std::vector<ChatMessage> request_messages(const Sample& seed) const;
  // The current response_format ("json_schema", "json_object" or "text").
  std::string response_format() const;
  const PromptTemplate& prompt() const { return prompt_; }
  // teacher.tokenizer, resolved ("" when not set).
  const std::string& tokenizer() const { return options_.tokenizer; }

 private:
  AnswerForm answer_form() const;
  // Moves to the form after `from` (if still current) after `error`; false when none is left.
  bool fall_back(std::size_t from, const HttpFatalError& error);
  using Handle = std::function<void(std::size_t, const HttpOutcome&)>;
  // teacher.mode batch: sends requests[pending[k]] (bodies[k], custom_id keys[pending[k]])
  // as batches and hands each outcome to `handle`; false when a refusal of the response_format
  // moved the teacher to the next form (what is not handled is to be rendered and sent again).
  bool send_batch(const std::vector<std::size_t>& pending, const std::vector<std::string>& bodies,
                  const std::vector<std::string>& keys, const Handle& handle,
                  std::size_t format_sent, const std::atomic<bool>* cancel);
  // teacher.mode files: writes the requests file, or reads the results file when it is there
  // (throws TeacherResultsPending while it is not).
  void send_files(const std::vector<std::size_t>& pending, const std::vector<std::string>& bodies,
                  const std::vector<std::string>& keys, const Handle& handle);

  Task task_;
  OpenAITeacherOptions options_;
  PromptTemplate prompt_;
  OutputSchemaOptions schema_;
  mutable std::mutex format_mutex_;
  std::size_t format_ = 0;         // index into kResponseFormats
  bool format_confirmed_ = false;  // a reply in format_ came back (no probe needed)
  nlohmann::ordered_json fallbacks_ = nlohmann::ordered_json::array();
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<ResponseCache> cache_;
  std::unique_ptr<BatchJournal> journal_;  // batch mode: the open batches, in the run store
  std::string work_dir_;                   // files mode: the round's folder
  mutable std::mutex batches_mutex_;
  std::vector<std::string> batches_;  // batch ids / result files read, in order
  mutable std::mutex usage_mutex_;
  std::atomic<bool> usage_note_logged_{false};  // an unreadable usage is reported once a run
  TeacherUsage usage_;
};

}  // namespace weakdistill
