#include "weakdistill/distill/estimate.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "run_state.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/distill/run_store.h"
#include "weakdistill/teacher/openai_teacher.h"
#include "weakdistill/text/token_counter.h"

namespace weakdistill {
namespace {

using distill_internal::Data;
using ojson = nlohmann::ordered_json;

std::size_t code_points(const std::string& s) { return utf8::decode(s).size(); }

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

ojson triple(double low, double expected, double high) {
  return {{"low", low}, {"expected", expected}, {"high", high}};
}

}  // namespace

ojson estimate_teacher_spend(const RunConfig& c, const RunOptions& o) {
  const Data data = distill_internal::load_data(c);
  TeacherContext ctx;
  ctx.task = c.task;
  ctx.labeled = &data.labeled;
  ojson out;
  out["task"] = std::string(task_name(c.task));
  out["teacher_kind"] = c.teacher.value("kind", "");
  if (out["teacher_kind"] != "openai") {
    out["offline"] = true;  // pool and augment ask no server: nothing to pay
    return out;
  }
  const auto teacher = make_teacher(c.teacher, ctx);
  const auto& openai = dynamic_cast<const OpenAITeacher&>(*teacher);
  const DistillConfig& d = c.distill;

  // Where the run stands: a resume starts after its committed rounds.
  int done_rounds = 0;
  std::size_t size = data.train.samples.size();
  double history_completion = -1;  // mean completion per paid request so far
  if (o.resume) {
    const std::string store = (std::filesystem::path(o.run_dir) / "run.sqlite").string();
    if (std::filesystem::is_regular_file(store)) {
      std::int64_t paid = 0, completion = 0;
      for (const auto& r : RunStore(store).rounds()) {
        ++done_rounds;
        size = r.value("train_size", size);
        const auto& t = r.value("teacher", nlohmann::json::object());
        paid += t.value("requests", std::int64_t{0}) - t.value("cache_hits", std::int64_t{0});
        completion += t.value("completion_tokens", std::int64_t{0});
      }
      if (paid > 0) history_completion = static_cast<double>(completion) / static_cast<double>(paid);
    }
  }
  const int first_round = std::max(1, done_rounds);
  // Each round's quota: per_round, or what max_train still lets in.
  std::vector<std::size_t> quotas;
  for (int r = first_round; r <= d.rounds_limit(); ++r) {
    std::size_t q = d.round_quota();
    if (d.max_train != 0) q = size >= d.max_train ? 0 : std::min(q, d.max_train - size);
    if (q == 0) break;
    quotas.push_back(q);
    size += q;
  }
  const auto k = static_cast<double>(openai.samples_per_request());
  double low = 0, expected = 0;
  for (std::size_t q : quotas) {
    expected += std::ceil(std::llround(d.oversample * static_cast<double>(q)) / k);
    low += d.reservoir ? static_cast<double>(q) / k
                       : std::ceil(std::llround(d.oversample * static_cast<double>(q)) / k);
  }
  low = std::ceil(low);
  const double high = expected * (1 + openai.format_retries());

  // The first round's real prompts, over every seed the loop may draw, in tokens when the
  // config names the teacher's tokenizer.
  std::unique_ptr<TokenCounter> tokens;
  if (!openai.tokenizer().empty()) tokens = TokenCounter::open(openai.tokenizer());
  const auto size_of = [&](const std::string& text) {
    return tokens ? tokens->count(text) : code_points(text);
  };
  const std::size_t seeds =
      d.seed_from == "train" ? data.train.samples.size() : data.labeled.size();
  std::vector<double> prompt, answer;
  for (std::size_t i = 0; i < seeds; ++i) {
    std::size_t n = 0;
    for (const auto& m : openai.request_messages(data.labeled[i])) n += size_of(m.content);
    prompt.push_back(static_cast<double>(n));
    answer.push_back(static_cast<double>(size_of(reply_json(c.task, data.labeled[i]))));
  }
  double prompt_mean = 0, answer_mean = 0;
  for (double p : prompt) prompt_mean += p;
  for (double a : answer) answer_mean += a;
  prompt_mean /= std::max<std::size_t>(1, prompt.size());
  answer_mean /= std::max<std::size_t>(1, answer.size());
  const auto max_tokens = static_cast<double>(c.teacher.value("max_tokens", 1024));
  const double completion_expected = history_completion >= 0 ? history_completion : max_tokens;

  out["rounds"] = quotas.size();
  out["first_round"] = first_round;
  out["samples_per_request"] = openai.samples_per_request();
  out["response_format"] = openai.response_format();
  out["unit"] = tokens ? "tokens" : "characters";
  if (tokens) out["tokenizer"] = tokens->description();
  out["requests"] = triple(low, expected, high);
  out["prompt_per_request"] =
      triple(percentile(prompt, 0.1), prompt_mean, percentile(prompt, 0.9));
  out["completion_per_request"] =
      triple(std::min(answer_mean * k, max_tokens), completion_expected, max_tokens);
  out["completion_from"] = history_completion >= 0 ? "the run's history" : "teacher.max_tokens";
  const auto total = [&](const char* what) {
    const auto& per = out["completion_per_request"];
    const auto& p = out["prompt_per_request"];
    const auto& n = out["requests"];
    return n[what].get<double>() * (p[what].get<double>() + per[what].get<double>());
  };
  out["prompt"] = triple(low * out["prompt_per_request"]["low"].get<double>(),
                         expected * prompt_mean,
                         high * out["prompt_per_request"]["high"].get<double>());
  out["completion"] = triple(low * out["completion_per_request"]["low"].get<double>(),
                             expected * completion_expected, high * max_tokens);
  out["total"] = triple(total("low"), total("expected"), total("high"));
  if (const auto price = teacher->price()) {
    const auto cost = [&](const char* what) {
      return price->cost(static_cast<std::int64_t>(out["prompt"][what].get<double>()),
                         static_cast<std::int64_t>(out["completion"][what].get<double>()));
    };
    out["cost"] = triple(cost("low"), cost("expected"), cost("high"));
    out["currency"] = price->currency;
  }
  return out;
}

std::string format_estimate(const ojson& e) {
  if (e.value("offline", false)) {
    return fmt::format("the {} teacher is offline: it sends no request and costs nothing\n",
                       e.value("teacher_kind", ""));
  }
  std::string out = fmt::format(
      "teacher estimate: {} round(s) from round {}, {} sample(s) a request, response_format {}; "
      "{}; completion per request from {}\n",
      e["rounds"].get<int>(), e["first_round"].get<int>(), e["samples_per_request"].get<int>(),
      e["response_format"].get<std::string>(),
      e.contains("tokenizer")
          ? "sizes in tokens of " + e["tokenizer"].get<std::string>() +
                " (the chat template's few tokens a message are not counted)"
          : std::string("sizes in characters (set teacher.tokenizer to count tokens)"),
      e["completion_from"].get<std::string>());
  out += fmt::format("{:<26}{:>14}{:>14}{:>14}\n", "", "low", "expected", "high");
  const auto row = [&](const std::string& name, const ojson& t, const char* format) {
    out += fmt::format("{:<26}", name);
    for (const char* k : {"low", "expected", "high"}) {
      out += fmt::format("{:>14}", fmt::format(fmt::runtime(format), t[k].get<double>()));
    }
    out += "\n";
  };
  row("requests", e["requests"], "{:.0f}");
  row("prompt / request", e["prompt_per_request"], "{:.0f}");
  row("completion / request", e["completion_per_request"], "{:.0f}");
  row("prompt", e["prompt"], "{:.0f}");
  row("completion", e["completion"], "{:.0f}");
  row("total", e["total"], "{:.0f}");
  if (e.contains("cost")) row("cost (" + e["currency"].get<std::string>() + ")", e["cost"], "{:.4g}");
  return out;
}

}  // namespace weakdistill
