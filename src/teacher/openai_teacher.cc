#include "weakdistill/teacher/openai_teacher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "weakdistill/core/error.h"
#include "weakdistill/core/failpoint.h"
#include "weakdistill/core/options.h"
#include "weakdistill/teacher/chat_reply.h"

namespace weakdistill {

OpenAITeacherOptions read_openai_teacher_options(const nlohmann::json& section,
                                                 const std::string& base_dir) {
  OpenAITeacherOptions o;
  OptionReader r(section, "teacher");
  std::string kind;
  r.get("kind", kind);
  read_http_options(r, o.http);
  r.get("model", o.model);
  r.get("temperature", o.temperature);
  r.get("top_p", o.top_p);
  r.get("max_tokens", o.max_tokens);
  if (r.has("seed") && !section.at("seed").is_null()) {
    std::int64_t seed = 0;
    r.get("seed", seed);
    o.seed = seed;
  }
  r.get("response_format", o.response_format);
  r.get("language", o.language);
  r.get("prompt_file", o.prompt_file);
  r.get("system_prompt", o.system_prompt);
  r.get("cache", o.cache);
  r.finish();
  if (o.http.base_urls.empty()) r.fail("base_url", "required (e.g. http://127.0.0.1:8000/v1)");
  if (o.model.empty()) r.fail("model", "required: the model name the server serves");
  if (!(o.temperature >= 0 && o.temperature <= 2)) r.fail("temperature", "must be in [0, 2]");
  if (!(o.top_p > 0 && o.top_p <= 1)) r.fail("top_p", "must be in (0, 1]");
  if (o.max_tokens < 1) r.fail("max_tokens", "must be at least 1");
  if (o.http.concurrency < 1 || o.http.concurrency > 4096) {
    r.fail("concurrency", "must be in 1..4096");
  }
  if (!o.response_format.empty() && o.response_format != "json_object" &&
      o.response_format != "text") {
    r.fail("response_format", "must be json_object or text (or absent)");
  }
  if (o.language != "zh" && o.language != "en") r.fail("language", "must be zh or en");
  if (!o.prompt_file.empty()) {
    std::filesystem::path p(o.prompt_file);
    if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
    if (!std::filesystem::is_regular_file(p)) {
      r.fail("prompt_file", "no such file: " + p.string());
    }
    o.prompt_file = p.string();
  }
  o.http.context = "teacher";
  return o;
}

namespace {

PromptTemplate make_prompt(Task task, const OpenAITeacherOptions& o) {
  const PromptLanguage language = parse_prompt_language(o.language);
  return o.prompt_file.empty() ? PromptTemplate::builtin(task, language)
                               : PromptTemplate::from_file(o.prompt_file, task, language);
}

}  // namespace

OpenAITeacher::OpenAITeacher(Task task, OpenAITeacherOptions options, const std::string& cache_path)
    : task_(task), options_(std::move(options)), prompt_(make_prompt(task, options_)) {
  client_ = std::make_unique<HttpClient>(options_.http);
  if (options_.cache && !cache_path.empty()) cache_ = std::make_unique<ResponseCache>(cache_path);
}

nlohmann::json OpenAITeacher::request_body(const std::vector<ChatMessage>& messages,
                                           std::uint64_t ordinal) const {
  nlohmann::json body;
  body["model"] = options_.model;
  nlohmann::json m = nlohmann::json::array();
  if (!options_.system_prompt.empty()) {
    m.push_back({{"role", "system"}, {"content", options_.system_prompt}});
  }
  for (const auto& message : messages) {
    m.push_back({{"role", message.role}, {"content", message.content}});
  }
  body["messages"] = std::move(m);
  body["temperature"] = options_.temperature;
  body["top_p"] = options_.top_p;
  body["max_tokens"] = options_.max_tokens;
  body["n"] = 1;
  if (options_.seed) body["seed"] = *options_.seed + static_cast<std::int64_t>(ordinal);
  if (!options_.response_format.empty()) {
    body["response_format"] = {{"type", options_.response_format}};
  }
  return body;
}

namespace {

nlohmann::json cache_entry(const Generation& g) {
  return {{"content", g.reply},
          {"finish_reason", g.finish_reason},
          {"prompt_tokens", g.prompt_tokens},
          {"completion_tokens", g.completion_tokens}};
}

}  // namespace

std::vector<Generation> OpenAITeacher::generate(
    const std::vector<GenerationRequest>& requests,
    const std::function<void(std::size_t, const Generation&)>& on_done,
    const std::atomic<bool>* cancel) {
  std::vector<Generation> out(requests.size());
  std::vector<std::string> keys(requests.size());
  std::vector<nlohmann::json> bodies;
  std::vector<std::size_t> pending;  // indices sent to the server
  TeacherUsage cached_usage;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    Generation& g = out[i];
    g.prompt = prompt_.render(*requests[i].seed);
    nlohmann::json body = request_body(g.prompt, requests[i].ordinal);
    if (cache_) {
      keys[i] = cache_key(body, requests[i].ordinal);
      if (auto hit = cache_->get(keys[i])) {
        g.ok = true;
        g.cached = true;
        g.reply = hit->value("content", "");
        g.finish_reason = hit->value("finish_reason", "");
        g.prompt_tokens = hit->value("prompt_tokens", 0);
        g.completion_tokens = hit->value("completion_tokens", 0);
        ++cached_usage.cache_hits;
        ++cached_usage.requests;
        if (on_done) on_done(i, g);
        continue;
      }
    }
    pending.push_back(i);
    bodies.push_back(std::move(body));
  }
  {
    std::lock_guard lock(usage_mutex_);
    usage_ += cached_usage;
  }
  if (pending.empty()) return out;
  client_->post_many(
      "/chat/completions", bodies,
      [&](std::size_t k, const HttpOutcome& outcome) {
        const std::size_t i = pending[k];
        Generation& g = out[i];
        g.attempts = outcome.attempts;
        TeacherUsage u;
        u.requests = 1;
        u.http_requests = outcome.attempts;
        u.retries = outcome.attempts > 0 ? outcome.attempts - 1 : 0;
        if (!outcome.ok) {
          g.error = outcome.error;
          if (outcome.error != "cancelled") u.failures = 1;
        } else {
          std::string why;
          if (const auto reply = read_chat_reply(outcome.body, why)) {
            g.ok = true;
            g.reply = reply->content;
            g.finish_reason = reply->finish_reason;
            g.prompt_tokens = reply->prompt_tokens;
            g.completion_tokens = reply->completion_tokens;
            if (!reply->usage_note.empty() && !usage_note_logged_.exchange(true)) {
              spdlog::warn("teacher at {}: {}; its tokens are not counted", outcome.replica,
                           reply->usage_note);
            }
            u.prompt_tokens = g.prompt_tokens;
            u.completion_tokens = g.completion_tokens;
            if (cache_) {
              cache_->put(keys[i], cache_entry(g));
              failpoint("teacher_reply_stored");
            }
          } else {
            g.error = fmt::format("teacher at {}: {}", outcome.replica, why);
            u.failures = 1;
          }
        }
        {
          std::lock_guard lock(usage_mutex_);
          usage_ += u;
        }
        if (on_done) on_done(i, g);
      },
      cancel);
  return out;
}

void OpenAITeacher::attach_cache(const std::string& path) {
  if (options_.cache && !path.empty()) cache_ = std::make_unique<ResponseCache>(path);
}

TeacherUsage OpenAITeacher::usage() const {
  std::lock_guard lock(usage_mutex_);
  return usage_;
}

}  // namespace weakdistill
