// weakdistill teacher try: asks the configured teacher for a few samples and
// shows the prompt, the reply and what parsing and verification made of it,
// so that a teacher and a prompt can be checked in a minute before a long run.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include "commands.h"
#include "config_sections.h"
#include "interrupt.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/options.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/embed/embedder.h"
#include "weakdistill/net/http_client.h"
#include "weakdistill/teacher/reask.h"
#include "weakdistill/teacher/reply_parser.h"
#include "weakdistill/teacher/teacher.h"
#include "weakdistill/teacher/verifier.h"

namespace weakdistill::cli {
namespace {

struct TryArgs {
  std::string config;
  std::string seeds;
  int n = 1;
  std::vector<std::string> sets;
  std::string cache;
  bool json = false;
};

// Labeled samples of the config's data section (train, dev), when given: the
// label set and copy checks of verification, the augment teacher's material.
std::vector<Sample> read_labeled(const nlohmann::json& data, Task task) {
  std::vector<Sample> out;
  for (const char* key : {"train", "dev"}) {
    if (!data.contains(key)) continue;
    if (!data[key].is_string()) throw InputError(std::string("data.") + key + ": expected a path");
    const std::string path = data[key];
    if (!std::filesystem::is_regular_file(path)) {
      throw InputError(std::string("data.") + key + ": no such file: " + path);
    }
    auto d = read_jsonl(path, task);
    out.insert(out.end(), d.samples.begin(), d.samples.end());
  }
  return out;
}

void print_text(const std::string& heading, const std::string& body) {
  std::cout << heading << "\n";
  std::string line;
  for (char c : body) {
    line += c;
    if (c == '\n') {
      std::cout << "  │ " << line;
      line.clear();
    }
  }
  if (!line.empty() || body.empty()) std::cout << "  │ " << line << "\n";
}

int run_try(const TryArgs& a) {
  const nlohmann::json config = load_config(a.config, a.sets);
  const Task task = config_task(config, a.config);
  if (!config.contains("teacher")) throw InputError(a.config + ": teacher: required");
  const nlohmann::json data = config_section(config, "data");

  const Dataset seeds = read_jsonl(a.seeds, task);
  std::vector<Sample> labeled = read_labeled(data, task);
  labeled.insert(labeled.end(), seeds.samples.begin(), seeds.samples.end());

  std::unique_ptr<Embedder> embedder;
  std::vector<Sample> pool;
  TeacherContext context;
  context.task = task;
  context.labeled = &labeled;
  context.cache_path = a.cache;
  if (config["teacher"].value("kind", "") == "pool") {
    embedder = make_embedder(config_section(config, "embedder"), a.cache);
    std::vector<std::string> texts;
    for (const auto& s : labeled) texts.push_back(s.text);
    embedder->fit(texts);
    context.embedder = embedder.get();
    if (data.contains("pool") && data["pool"].is_string()) {
      pool = read_jsonl(data["pool"].get<std::string>(), task).samples;
      context.pool = &pool;
    }
  }
  auto teacher = make_teacher(config["teacher"], context);

  std::vector<GenerationRequest> requests;
  for (std::size_t i = 0; i < seeds.samples.size(); ++i) {
    for (int k = 0; k < a.n; ++k) {
      requests.push_back({&seeds.samples[i], static_cast<std::uint64_t>(i * a.n + k)});
    }
  }
  spdlog::info("asking the {} teacher for {} sample(s): {} seed(s) × {}{}", teacher->kind(),
               requests.size(), seeds.samples.size(), a.n,
               teacher->samples_per_request() > 1
                   ? fmt::format(" requests × {} samples each", teacher->samples_per_request())
                   : "");
  Verifier verifier(task, labeled, VerifyOptions{});
  // The run's judge: parse every sample of the reply, then verify it.
  const Judge judge = [&](const GenerationRequest& request, const Generation& g) {
    return judge_generation(task, g, teacher->samples_per_request(), [&](Verdict& v) {
      v.rejection = verifier.verify(*v.sample, *request.seed);
    });
  };
  std::unique_ptr<Progress> progress;
  const std::atomic<bool>* cancel = install_interrupt_handler();
  ReaskOptions ro;
  ro.retries = teacher->format_retries();
  // Re-asks are numbered after every first request, as a run numbers them after its round's.
  ro.reask_ordinal = [&](std::size_t k) { return requests.size() + k; };
  ro.on_wave = [&](int wave, std::size_t n) {
    progress.reset();
    progress = std::make_unique<Progress>(
        wave == 0 ? std::string("teacher") : fmt::format("re-asks ({})", wave), n, "requests");
  };
  ro.on_done = [&](const Generation&) { progress->advance(); };
  ro.cancel = cancel;
  const std::vector<Attempt> attempts = ask_with_reasks(*teacher, requests, judge, ro);
  if (progress) progress->finish();
  progress.reset();
  remove_interrupt_handler();

  std::map<std::string, int> outcomes;
  int failed = 0;
  for (const Attempt& at : attempts) {
    const Generation& g = at.generation;
    const std::size_t si = at.origin / static_cast<std::size_t>(a.n);
    if (!g.ok) ++failed;
    for (const Verdict& v : at.verdicts) {
      ++outcomes[v.rejection ? std::string(reason_name(v.rejection->reason)) : "accepted"];
    }
    if (a.json) {
      nlohmann::ordered_json j;
      j["seed_line"] = seeds.lines[si];
      j["ordinal"] = at.request.ordinal;
      j["attempt"] = at.attempt;
      if (at.attempt > 0) j["first_ordinal"] = at.first_ordinal;
      nlohmann::ordered_json prompt = nlohmann::ordered_json::array();
      for (const auto& m : g.prompt) prompt.push_back({{"role", m.role}, {"content", m.content}});
      j["prompt"] = prompt;
      j["ok"] = g.ok;
      if (!g.ok) j["error"] = g.error;
      j["reply"] = g.reply;
      if (!g.reasoning.empty()) j["reasoning"] = g.reasoning;
      j["finish_reason"] = g.finish_reason;
      j["cached"] = g.cached;
      j["attempts"] = g.attempts;
      nlohmann::ordered_json samples = nlohmann::ordered_json::array();
      for (const Verdict& v : at.verdicts) {
        nlohmann::ordered_json one;
        one["outcome"] = v.rejection ? std::string(reason_name(v.rejection->reason)) : "accepted";
        if (v.rejection) one["reason"] = v.rejection->detail;
        if (v.sample) one["sample"] = to_json(*v.sample, task);
        samples.push_back(std::move(one));
      }
      // One sample a reply (the default) keeps the flat form: outcome, reason, sample.
      if (samples.size() == 1) {
        for (const auto& item : samples[0].items()) j[item.key()] = item.value();
      } else {
        j["samples"] = samples;
      }
      std::cout << j.dump() << "\n";
      continue;
    }
    std::cout << fmt::format("━━ seed {}/{} ({}:{}), generation {}/{}{} ━━\n", si + 1,
                             seeds.samples.size(), a.seeds, seeds.lines[si],
                             at.origin % static_cast<std::size_t>(a.n) + 1, a.n,
                             at.attempt > 0 ? fmt::format(", re-ask {}", at.attempt) : "");
    if (at.attempt == 0 && !g.prompt.empty()) {
      for (const auto& m : g.prompt) print_text("PROMPT (" + m.role + "):", m.content);
    } else if (at.attempt == 0) {
      std::cout << "PROMPT: none (the " << teacher->kind() << " teacher is offline)\n";
    }
    if (!g.reasoning.empty()) {
      print_text(fmt::format("REASONING ({} characters, kept apart, never parsed{}):",
                             g.reasoning.size(), g.reasoning_open ? ", unfinished" : ""),
                 g.reasoning);
    }
    if (g.ok && g.prompt.empty()) {
      print_text(fmt::format("REPLY (offline {} teacher{}):", teacher->kind(),
                             teacher->simulated() ? ", SIMULATED" : ""),
                 g.reply);
    } else if (g.ok) {
      print_text(
          fmt::format("REPLY (finish_reason {}, {} prompt + {} completion tokens, {}):",
                      g.finish_reason.empty() ? "none" : g.finish_reason, g.prompt_tokens,
                      g.completion_tokens,
                      g.cached ? "from the cache" : fmt::format("{} attempt(s)", g.attempts)),
          g.reply);
    } else {
      std::cout << "REPLY: none: " << g.error << "\n";
    }
    for (std::size_t k = 0; k < at.verdicts.size(); ++k) {
      const Verdict& v = at.verdicts[k];
      const std::string which =
          at.verdicts.size() > 1 ? fmt::format("RESULT {}/{}", k + 1, at.verdicts.size()) : "RESULT";
      if (v.usable()) {
        std::cout << which << ": accepted: " << to_json(*v.sample, task).dump() << "\n";
      } else {
        std::cout << which << ": rejected (" << reason_name(v.rejection->reason)
                  << "): " << v.rejection->detail << "\n";
      }
    }
    std::cout << "\n";
  }
  const ReaskYield y = reask_yield(attempts);
  const std::string format =
      teacher->format_state().is_null()
          ? ""
          : fmt::format("; response_format {}",
                        teacher->format_state()["response_format"].get<std::string>());
  spdlog::info("usable samples: {} from {} request(s) at the first try, {} after {} re-ask(s){}",
               y.usable_first_try, y.requests, y.usable, y.reasks, format);
  const TeacherUsage u = teacher->usage();
  std::string summary;
  for (const auto& [k, v] : outcomes)
    summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", k, v);
  spdlog::info(
      "{} request(s): {}; {} HTTP request(s), {} retries, {} cache hit(s), {} prompt + {} "
      "completion tokens{}",
      attempts.size(), summary, u.http_requests, u.retries, u.cache_hits, u.prompt_tokens,
      u.completion_tokens, teacher->simulated() ? " (simulated teacher)" : "");
  if (cancel->load()) {
    spdlog::warn("interrupted ({})", interrupting_signal_name());
    return interrupted_exit_code();
  }
  if (failed > 0) {
    spdlog::error("the teacher did not answer {} of {} request(s)", failed, requests.size());
    return 1;
  }
  return 0;
}

}  // namespace

void add_teacher(CLI::App& app) {
  CLI::App* teacher = app.add_subcommand("teacher", "Check a teacher before a run");
  teacher->require_subcommand(1);
  auto args = std::make_shared<TryArgs>();
  CLI::App* cmd = teacher->add_subcommand(
      "try", "Ask the configured teacher for samples from some seeds; show prompt, reply, verdict");
  cmd->add_option("--config", args->config, "Run config (YAML): task, teacher, data, embedder")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--seeds", args->seeds, "JSONL file of labeled seed samples")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--n", args->n, "Generations per seed")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--set", args->sets, "Override a config key: key=value (repeatable)");
  cmd->add_option("--cache", args->cache,
                  "SQLite file for the response cache (default: none; a rerun then asks again)");
  cmd->add_flag("--json", args->json, "One JSON object per generation on stdout");
  cmd->footer(
      "Exit status: 0 when the teacher answered every request (after retries), 1 otherwise,\n"
      "2 for a bad config or seeds file.\n"
      "Example:\n"
      "  export OPENAI_API_KEY=...\n"
      "  weakdistill data sample --task classification --n 3 --seed 1 data/cls/train.jsonl "
      "seeds.jsonl\n"
      "  weakdistill teacher try --config examples/cls-openai.yaml --seeds seeds.jsonl --n 2\n");
  cmd->callback([args] {
    const int code = run_try(*args);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace weakdistill::cli
