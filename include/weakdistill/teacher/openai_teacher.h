// The `openai` teacher: POST {base_url}/chat/completions on any
// OpenAI-compatible endpoint, with the response cache and usage accounting.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "weakdistill/net/http_client.h"
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
  // "" (send none), "json_object" or "text": the request's response_format type.
  std::string response_format;
  // Prompt language of the built-in template ("zh" or "en"), or a template file.
  std::string language = "zh";
  std::string prompt_file;
  // An optional system message put before the prompt.
  std::string system_prompt;
  // The response cache (in TeacherContext::cache_path); false = `cache: off`.
  bool cache = true;
};

// Reads the `teacher` section of kind openai (keys: kind, base_url (string or
// list), model, api_key_env, concurrency, temperature, top_p, max_tokens, seed,
// response_format, timeout_s, connect_timeout_s, max_retries, backoff_initial_s,
// backoff_max_s, ca_file, verify_tls, language, prompt_file, system_prompt,
// cache). Throws InputError naming "teacher.<key>".
OpenAITeacherOptions read_openai_teacher_options(const nlohmann::json& section,
                                                 const std::string& base_dir);

class OpenAITeacher : public Teacher {
 public:
  // `cache_path` "" means no cache (as does options.cache = false).
  OpenAITeacher(Task task, OpenAITeacherOptions options, const std::string& cache_path);
  std::string kind() const override { return "openai"; }
  bool simulated() const override { return false; }
  std::vector<Generation> generate(
      const std::vector<GenerationRequest>& requests,
      const std::function<void(std::size_t, const Generation&)>& on_done,
      const std::atomic<bool>* cancel) override;
  TeacherUsage usage() const override;
  void attach_cache(const std::string& path) override;

  // The request body for `seed` (without the ordinal's seed offset when no seed is set).
  nlohmann::json request_body(const std::vector<ChatMessage>& messages,
                              std::uint64_t ordinal) const;
  const PromptTemplate& prompt() const { return prompt_; }

 private:
  Task task_;
  OpenAITeacherOptions options_;
  PromptTemplate prompt_;
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<ResponseCache> cache_;
  mutable std::mutex usage_mutex_;
  std::atomic<bool> usage_note_logged_{false};  // an unreadable usage is reported once a run
  TeacherUsage usage_;
};

}  // namespace weakdistill
