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
  spdlog::info("asking the {} teacher for {} sample(s): {} seed(s) × {}", teacher->kind(),
               requests.size(), seeds.samples.size(), a.n);
  Progress progress("teacher", requests.size(), "requests");
  const std::atomic<bool>* cancel = install_interrupt_handler();
  const auto generations = teacher->generate(
      requests, [&](std::size_t, const Generation&) { progress.advance(); }, cancel);
  progress.finish();
  remove_interrupt_handler();

  Verifier verifier(task, labeled, VerifyOptions{});
  std::map<std::string, int> outcomes;
  int failed = 0;
  for (std::size_t r = 0; r < requests.size(); ++r) {
    const Generation& g = generations[r];
    const Sample& seed = *requests[r].seed;
    const std::size_t si = r / a.n;
    std::string verdict;
    std::optional<Rejection> rejection;
    std::optional<Sample> accepted;
    if (!g.ok) {
      ++failed;
      rejection = Rejection{RejectReason::kRequestFailed, g.error};
    } else {
      ParsedReply parsed = parse_reply(task, g.reply, g.finish_reason);
      if (parsed.rejection) {
        rejection = parsed.rejection;
      } else if (auto bad = verifier.verify(*parsed.sample, seed)) {
        rejection = bad;
      } else {
        accepted = *parsed.sample;
      }
    }
    const std::string outcome =
        rejection ? std::string(reason_name(rejection->reason)) : std::string("accepted");
    ++outcomes[outcome];
    if (a.json) {
      nlohmann::ordered_json j;
      j["seed_line"] = seeds.lines[si];
      j["ordinal"] = requests[r].ordinal;
      nlohmann::ordered_json prompt = nlohmann::ordered_json::array();
      for (const auto& m : g.prompt) prompt.push_back({{"role", m.role}, {"content", m.content}});
      j["prompt"] = prompt;
      j["ok"] = g.ok;
      if (!g.ok) j["error"] = g.error;
      j["reply"] = g.reply;
      j["finish_reason"] = g.finish_reason;
      j["cached"] = g.cached;
      j["attempts"] = g.attempts;
      j["outcome"] = outcome;
      if (rejection) j["reason"] = rejection->detail;
      if (accepted) j["sample"] = to_json(*accepted, task);
      std::cout << j.dump() << "\n";
      continue;
    }
    std::cout << fmt::format("━━ seed {}/{} ({}:{}), generation {}/{} ━━\n", si + 1,
                             seeds.samples.size(), a.seeds, seeds.lines[si], r % a.n + 1, a.n);
    if (!g.prompt.empty()) {
      for (const auto& m : g.prompt) print_text("PROMPT (" + m.role + "):", m.content);
    } else {
      std::cout << "PROMPT: none (the " << teacher->kind() << " teacher is offline)\n";
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
    if (accepted) {
      std::cout << "RESULT: accepted: " << to_json(*accepted, task).dump() << "\n\n";
    } else {
      std::cout << "RESULT: rejected (" << outcome << "): " << rejection->detail << "\n\n";
    }
  }
  const TeacherUsage u = teacher->usage();
  std::string summary;
  for (const auto& [k, v] : outcomes)
    summary += fmt::format("{}{} {}", summary.empty() ? "" : ", ", k, v);
  spdlog::info(
      "{} request(s): {}; {} HTTP request(s), {} retries, {} cache hit(s), {} prompt + {} "
      "completion tokens{}",
      requests.size(), summary, u.http_requests, u.retries, u.cache_hits, u.prompt_tokens,
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
