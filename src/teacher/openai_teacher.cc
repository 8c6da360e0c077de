#include "weakdistill/teacher/openai_teacher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "weakdistill/core/error.h"
#include "weakdistill/core/failpoint.h"
#include "weakdistill/core/options.h"
#include "weakdistill/teacher/chat_reply.h"
#include "weakdistill/teacher/reply_parser.h"

namespace weakdistill {

namespace {

TeacherPrice read_price(const nlohmann::json& section) {
  if (!section.is_object()) {
    throw InputError("teacher.price: expected a mapping {input_per_1m, output_per_1m, currency}");
  }
  TeacherPrice p;
  OptionReader r(section, "teacher.price");
  if (!r.has("input_per_1m") || !r.has("output_per_1m")) {
    r.fail(r.has("input_per_1m") ? "output_per_1m" : "input_per_1m",
           "required: the price per million tokens");
  }
  r.get("input_per_1m", p.input_per_1m);
  r.get("output_per_1m", p.output_per_1m);
  r.get("currency", p.currency);
  r.finish();
  for (const auto& [key, value] :
       {std::pair{"input_per_1m", p.input_per_1m}, std::pair{"output_per_1m", p.output_per_1m}}) {
    if (!(value >= 0 && value < 1e9)) r.fail(key, "must be a number >= 0");
  }
  if (p.currency.empty() || p.currency.size() > 16) r.fail("currency", "must be 1-16 characters");
  return p;
}

TeacherBudget read_budget(const nlohmann::json& section, bool priced) {
  if (!section.is_object()) {
    throw InputError("teacher.budget: expected a mapping with max_requests, max_tokens or max_cost");
  }
  TeacherBudget b;
  OptionReader r(section, "teacher.budget");
  for (const auto& [key, field] : {std::pair{"max_requests", &b.max_requests},
                                   std::pair{"max_tokens", &b.max_tokens}}) {
    if (r.has(key) && !section.at(key).is_null()) {
      std::int64_t v = 0;
      r.get(key, v);
      if (v < 0) r.fail(key, "must be a whole number >= 0");
      *field = v;
    }
  }
  if (r.has("max_cost") && !section.at("max_cost").is_null()) {
    double v = 0;
    r.get("max_cost", v);
    if (!(v >= 0 && v < 1e15)) r.fail("max_cost", "must be a number >= 0");
    if (!priced) r.fail("max_cost", "needs teacher.price, to know what a token costs");
    b.max_cost = v;
  }
  r.finish();
  return b;
}

}  // namespace

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
  r.get("format_retries", o.format_retries);
  r.get("samples_per_request", o.samples_per_request);
  r.get("language", o.language);
  r.get("prompt_file", o.prompt_file);
  r.get("system_prompt", o.system_prompt);
  r.get("cache", o.cache);
  if (r.has("price")) o.price = read_price(section.at("price"));
  if (r.has("budget")) o.budget = read_budget(section.at("budget"), o.price.has_value());
  r.get("mode", o.mode);
  r.get("completion_window", o.batch.completion_window);
  r.get("batch_retry", o.batch_retry);
  r.get("batch_poll_s", o.batch.poll_initial_s);
  r.get("batch_poll_max_s", o.batch.poll_max_s);
  std::int64_t max_lines = static_cast<std::int64_t>(o.batch.max_lines);
  r.get("batch_max_lines", max_lines);
  double max_mb = static_cast<double>(o.batch.max_bytes) / (1024.0 * 1024.0);
  r.get("batch_max_mb", max_mb);
  r.get("batch_delete_files", o.batch.delete_files);
  r.get("tokenizer", o.tokenizer);
  r.finish();
  if (!o.tokenizer.empty()) {
    std::filesystem::path p(o.tokenizer);
    if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
    if (!std::filesystem::exists(p)) {
      r.fail("tokenizer", "no such folder or file: " + p.string());
    }
    o.tokenizer = p.string();
  }
  if (o.mode != "online" && o.mode != "batch" && o.mode != "files") {
    r.fail("mode", "must be online, batch or files");
  }
  if (o.batch_retry != "online" && o.batch_retry != "batch") {
    r.fail("batch_retry", "must be online or batch");
  }
  if (o.batch.completion_window.empty()) r.fail("completion_window", "must not be empty");
  if (!(o.batch.poll_initial_s > 0 && o.batch.poll_initial_s <= 3600)) {
    r.fail("batch_poll_s", "must be in (0, 3600] seconds");
  }
  if (!(o.batch.poll_max_s >= o.batch.poll_initial_s && o.batch.poll_max_s <= 3600)) {
    r.fail("batch_poll_max_s", "must be in [batch_poll_s, 3600] seconds");
  }
  if (max_lines < 1 || max_lines > 50000) r.fail("batch_max_lines", "must be in 1..50000");
  if (!(max_mb > 0 && max_mb <= 200)) r.fail("batch_max_mb", "must be in (0, 200]");
  o.batch.max_lines = static_cast<std::size_t>(max_lines);
  o.batch.max_bytes = static_cast<std::size_t>(max_mb * 1024 * 1024);
  if (o.http.base_urls.empty()) r.fail("base_url", "required (e.g. http://127.0.0.1:8000/v1)");
  if (o.model.empty()) r.fail("model", "required: the model name the server serves");
  if (!(o.temperature >= 0 && o.temperature <= 2)) r.fail("temperature", "must be in [0, 2]");
  if (!(o.top_p > 0 && o.top_p <= 1)) r.fail("top_p", "must be in (0, 1]");
  if (o.max_tokens < 1) r.fail("max_tokens", "must be at least 1");
  if (o.http.concurrency < 1 || o.http.concurrency > 4096) {
    r.fail("concurrency", "must be in 1..4096");
  }
  if (std::find(kResponseFormats.begin(), kResponseFormats.end(), o.response_format) ==
      kResponseFormats.end()) {
    r.fail("response_format", "must be json_schema, json_object or text");
  }
  if (o.format_retries < 0 || o.format_retries > 10) r.fail("format_retries", "must be in 0..10");
  if (o.samples_per_request < 1 || o.samples_per_request > kMaxSamplesPerReply) {
    r.fail("samples_per_request", "must be in 1.." + std::to_string(kMaxSamplesPerReply));
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

OpenAITeacher::OpenAITeacher(Task task, OpenAITeacherOptions options, const std::string& cache_path,
                             std::set<std::string> labels)
    : task_(task), options_(std::move(options)), prompt_(make_prompt(task, options_)) {
  schema_.labels = std::move(labels);
  schema_.samples = options_.samples_per_request;
  schema_.reasoning = true;
  format_ = static_cast<std::size_t>(
      std::find(kResponseFormats.begin(), kResponseFormats.end(), options_.response_format) -
      kResponseFormats.begin());
  client_ = std::make_unique<HttpClient>(options_.http);
  attach_cache(cache_path);
}

std::string OpenAITeacher::response_format() const {
  std::lock_guard lock(format_mutex_);
  return kResponseFormats[format_];
}

AnswerForm OpenAITeacher::answer_form() const {
  AnswerForm form;
  // Under json_schema or json_object the reply is JSON from its first character: the
  // reasoning must be a field of it.
  form.reasoning_field = response_format() != "text";
  form.samples = options_.samples_per_request;
  return form;
}

std::vector<ChatMessage> OpenAITeacher::request_messages(const Sample& seed) const {
  std::vector<ChatMessage> out;
  if (!options_.system_prompt.empty()) out.push_back({"system", options_.system_prompt});
  for (auto& m : prompt_.render(seed, answer_form())) out.push_back(std::move(m));
  return out;
}

nlohmann::ordered_json OpenAITeacher::request_body(const std::vector<ChatMessage>& messages,
                                                   std::uint64_t ordinal) const {
  nlohmann::ordered_json body;
  body["model"] = options_.model;
  nlohmann::ordered_json m = nlohmann::ordered_json::array();
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
  auto format = response_format_value(response_format(), task_, schema_);
  if (!format.is_null()) body["response_format"] = std::move(format);
  return body;
}

bool OpenAITeacher::fall_back(std::size_t from, const HttpFatalError& error) {
  std::lock_guard lock(format_mutex_);
  if (format_ != from) return true;  // another request moved on already
  if (format_ + 1 >= kResponseFormats.size()) return false;
  const std::string& to = kResponseFormats[format_ + 1];
  spdlog::warn("teacher: the server refused response_format {} (HTTP {}: {}); asking with {} "
               "from now on, for the rest of the run",
               kResponseFormats[format_], error.status(), error.what(), to);
  fallbacks_.push_back({{"from", kResponseFormats[format_]},
                        {"to", to},
                        {"status", error.status()},
                        {"message", error.what()}});
  ++format_;
  return true;
}

nlohmann::ordered_json OpenAITeacher::format_state() const {
  std::lock_guard lock(format_mutex_);
  return {{"response_format", kResponseFormats[format_]},
          {"configured", options_.response_format},
          {"fallbacks", fallbacks_}};
}

void OpenAITeacher::restore_format_state(const nlohmann::ordered_json& state) {
  if (!state.is_object() || state.value("configured", "") != options_.response_format) return;
  const auto it = std::find(kResponseFormats.begin(), kResponseFormats.end(),
                            state.value("response_format", ""));
  if (it == kResponseFormats.end()) return;
  std::lock_guard lock(format_mutex_);
  format_ = static_cast<std::size_t>(it - kResponseFormats.begin());
  if (state.contains("fallbacks") && state["fallbacks"].is_array()) {
    fallbacks_ = nlohmann::ordered_json::array();
    for (const auto& f : state["fallbacks"]) fallbacks_.push_back(f);
  }
}

namespace {

nlohmann::json cache_entry(const Generation& g) {
  nlohmann::json e = {{"content", g.reply},
                      {"finish_reason", g.finish_reason},
                      {"prompt_tokens", g.prompt_tokens},
                      {"completion_tokens", g.completion_tokens}};
  if (!g.reasoning.empty()) e["reasoning"] = g.reasoning;
  if (g.reasoning_open) e["reasoning_open"] = true;
  return e;
}

}  // namespace

std::vector<Generation> OpenAITeacher::generate(
    const std::vector<GenerationRequest>& requests,
    const std::function<void(std::size_t, const Generation&)>& on_done,
    const std::atomic<bool>* cancel) {
  std::vector<Generation> out(requests.size());
  std::vector<bool> done(requests.size(), false);
  std::vector<std::string> keys(requests.size());
  std::vector<std::string> bodies;
  std::vector<std::size_t> pending;  // indices sent to the server

  // The outcome of one request sent: its generation, usage, the cache.
  const auto handle = [&](std::size_t i, const HttpOutcome& outcome) {
    Generation& g = out[i];
    done[i] = true;
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
        {
          std::lock_guard lock(format_mutex_);
          format_confirmed_ = true;  // a reply in the form came back
        }
        g.ok = true;
        g.reply = reply->content;
        g.reasoning = reply->reasoning;
        g.reasoning_open = reply->reasoning_open;
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
  };

  // A refusal while the form is unconfirmed moves to the next form (once each) and sends again
  // what is still unanswered; under text, or once a reply confirmed the form, it stops the run.
  std::optional<HttpFatalError> first_refusal;
  const auto refused = [&](const HttpFatalError& e, std::size_t format_sent) {
    bool confirmed;
    {
      std::lock_guard lock(format_mutex_);
      confirmed = format_confirmed_;
    }
    if (e.status() != 400 || confirmed) {
      if (first_refusal && e.status() == 400) throw *first_refusal;
      throw;
    }
    if (!first_refusal) first_refusal.emplace(e);
    if (!fall_back(format_sent, e)) throw *first_refusal;
  };
  for (;;) {
    // Bodies, cache keys and cache hits in the current form; a fallback starts this again.
    const AnswerForm form = answer_form();
    std::size_t format_sent;
    bool confirmed;
    {
      std::lock_guard lock(format_mutex_);
      format_sent = format_;
      confirmed = format_confirmed_;
    }
    bodies.clear();
    pending.clear();
    TeacherUsage cached_usage;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      Generation& g = out[i];
      if (done[i]) continue;  // answered (or failed) before a fallback
      g.prompt = prompt_.render(*requests[i].seed, form);
      const nlohmann::ordered_json body = request_body(g.prompt, requests[i].ordinal);
      // A batch line's custom_id is the cache key, with or without the cache.
      if (cache_ || options_.mode != "online") {
        keys[i] = cache_key(nlohmann::json(body), requests[i].ordinal);
      }
      if (cache_) {
        if (auto hit = cache_->get(keys[i])) {
          g.ok = true;
          g.cached = true;
          g.reply = hit->value("content", "");
          g.reasoning = hit->value("reasoning", "");
          g.reasoning_open = hit->value("reasoning_open", false);
          g.finish_reason = hit->value("finish_reason", "");
          g.prompt_tokens = hit->value("prompt_tokens", 0);
          g.completion_tokens = hit->value("completion_tokens", 0);
          done[i] = true;
          ++cached_usage.cache_hits;
          ++cached_usage.requests;
          if (on_done) on_done(i, g);
          continue;
        }
      }
      pending.push_back(i);
      bodies.push_back(body.dump());
    }
    {
      std::lock_guard lock(usage_mutex_);
      usage_ += cached_usage;
    }
    if (pending.empty()) return out;
    if (options_.mode == "files") {
      send_files(pending, bodies, keys, handle);
      return out;
    }
    if (options_.mode == "batch") {
      if (send_batch(pending, bodies, keys, handle, format_sent, cancel)) return out;
      continue;  // the form fell back: render and send again what is unanswered
    }
    // The form is not known to work with this server: one request alone first, so that a
    // refusal costs one request, not a batch.
    if (!confirmed && kResponseFormats[format_sent] != "text" &&
        !(cancel != nullptr && cancel->load())) {
      try {
        handle(pending.front(), client_->post_serialized("/chat/completions", bodies.front()));
        pending.erase(pending.begin());
        bodies.erase(bodies.begin());
      } catch (const HttpFatalError& e) {
        refused(e, format_sent);
        continue;
      }
    }
    try {
      client_->post_many_serialized(
          "/chat/completions", bodies,
          [&](std::size_t k, const HttpOutcome& outcome) { handle(pending[k], outcome); }, cancel);
      return out;
    } catch (const HttpFatalError& e) {
      // A probe that failed for another reason (a timeout, a 5xx past its retries) left the form
      // unconfirmed: a 400 now is still the form's.
      refused(e, format_sent);
    }
  }
}

void OpenAITeacher::attach_cache(const std::string& path) {
  if (options_.cache && !path.empty()) cache_ = std::make_unique<ResponseCache>(path);
  // The batch journal lives beside the cache even with `cache: off`: a batch paid for must be
  // found again on resume.
  if (options_.mode == "batch" && !path.empty()) journal_ = std::make_unique<BatchJournal>(path);
}

TeacherUsage OpenAITeacher::usage() const {
  std::lock_guard lock(usage_mutex_);
  return usage_;
}

}  // namespace weakdistill
