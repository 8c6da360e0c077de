#include "weakdistill/distill/compare.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/dataset.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"
#include "weakdistill/distill/run.h"
#include "weakdistill/embed/embedder.h"
#include "weakdistill/eval/metric_fields.h"
#include "weakdistill/student/student.h"

namespace weakdistill {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// The labeled draw's random stream, apart from every stream the loop uses.
constexpr std::uint64_t kLabeledStream = 0x1abe1edULL;

ojson read_json_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot read");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return ojson::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string() + ": not JSON (" + e.what() + ")");
  }
}

void write_json(const fs::path& path, const ojson& j) {
  write_file_atomically(path.string(), j.dump(2) + "\n");
}

// What the comparison is of: a folder holding another comparison is refused, so that a
// re-run can only continue the same one.
ojson settings_of(const RunConfig& c, std::size_t size) {
  ojson config = c.resolved;
  config.erase("run_dir");
  return {{"size", size}, {"config", config}};
}

// The config of seed s's loop: the few-shot draw, the seed sampling (and an augment teacher)
// follow s; the loop runs until the training set holds N, scoring every round on test.
RunConfig seed_config(const RunConfig& c, std::size_t size, int seed) {
  nlohmann::json j = c.resolved;
  if (j["data"].contains("few_shot")) j["data"]["few_shot"]["seed"] = seed;
  j["distill"]["seed"] = seed;
  j["distill"]["max_train"] = size;
  j["distill"]["test_each_round"] = true;
  // Enough rounds to reach N at a quarter of the quota a round, and a bound where a teacher
  // runs dry (an augmenter's near-copies stop passing diversity): then the size falls short,
  // and the table says so.
  const std::size_t few = c.data.few_shot ? (c.data.few_shot->per_label ? 0 : c.data.few_shot->n) : 0;
  const std::size_t needed = (size - std::min(size, few) + c.distill.per_round - 1) / c.distill.per_round;
  j["distill"]["max_rounds"] = static_cast<int>(std::min<std::size_t>(1000, 4 * needed + 2));
  j["distill"]["patience"] = 1000000;  // equal size, not the best dev round, is compared
  if (j["teacher"].value("kind", "") == "augment") j["teacher"]["seed"] = seed;
  j.erase("run_dir");
  return parse_run_config(j, "compare (seed " + std::to_string(seed) + ")");
}

struct HumanData {
  std::vector<Sample> few;   // the loop's round-0 training set for this seed
  std::vector<Sample> pool;  // the human-labeled samples the labeled arm draws from
};

HumanData human_data(const RunConfig& c, int seed) {
  HumanData h;
  std::vector<Sample> train = read_jsonl(c.data.train, c.task).samples;
  if (c.data.few_shot) {
    FewShotConfig f = *c.data.few_shot;
    f.seed = static_cast<std::uint64_t>(seed);
    const Split split = draw_few_shot(train, f);
    h.few = select(train, split.chosen);
    h.pool = select(train, split.rest);
  } else {
    h.few = std::move(train);
  }
  if (!c.data.pool.empty()) h.pool = read_jsonl(c.data.pool, c.task).samples;
  return h;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}

// Sample standard deviation; null with one value.
ojson sd_of(const std::vector<double>& v) {
  if (v.size() < 2) return nullptr;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

ojson labeled_arm(const RunConfig& c, const HumanData& h, std::size_t size, int seed,
                  const fs::path& dir) {
  if (fs::is_regular_file(dir / "metrics.json")) {
    spdlog::info("seed {}: labeled student already done ({})", seed, dir.string());
    return read_json_file(dir / "metrics.json");
  }
  const auto start = Clock::now();
  const std::size_t extra = size - h.few.size();
  const Split draw = sample_n(h.pool.size(), extra,
                              stream_seed(static_cast<std::uint64_t>(seed), kLabeledStream));
  std::vector<Sample> train = h.few;
  const std::vector<Sample> drawn = select(h.pool, draw.chosen);
  train.insert(train.end(), drawn.begin(), drawn.end());
  const Dataset dev = c.data.dev.empty() ? Dataset{} : read_jsonl(c.data.dev, c.task);
  const Dataset test = read_jsonl(c.data.test, c.task);

  spdlog::info("seed {}: training {} on {} human-labeled samples ({} few + {} drawn)", seed,
               c.student_kind, train.size(), h.few.size(), drawn.size());
  auto student = make_student(c.task, c.student_kind, c.student);
  const bool was_enabled = Progress::enabled();
  Progress::set_enabled(false);  // one line per arm, as the loop logs one per round
  try {
    student->train(train, c.protocol == "paper" ? test.samples : dev.samples);
  } catch (...) {
    Progress::set_enabled(was_enabled);
    throw;
  }
  Progress::set_enabled(was_enabled);

  fs::create_directories(dir);
  write_jsonl((dir / "train.jsonl").string(), train, c.task);
  save_student(*student, (dir / "student").string());
  ojson m;
  m["seed"] = seed;
  m["size"] = train.size();
  m["few"] = h.few.size();
  m["drawn"] = drawn.size();
  if (!dev.samples.empty()) {
    m["dev"] = evaluate_student(*student, dev, nullptr, fmt::format("seed {} dev", seed));
  }
  m["test"] = evaluate_student(*student, test, nullptr, fmt::format("seed {} test", seed));
  m["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
  write_json(dir / "metrics.json", m);  // last: the arm counts as done once it exists
  return m;
}

ojson distilled_arm(const RunConfig& c, std::size_t size, int seed, const fs::path& dir,
                    const std::atomic<bool>* cancel) {
  if (fs::is_regular_file(dir / "metrics.json")) {
    spdlog::info("seed {}: distilled run already done ({})", seed, dir.string());
    return read_json_file(dir / "metrics.json");
  }
  RunOptions o;
  o.run_dir = dir.string();
  o.cancel = cancel;
  RunConfig rc;
  if (fs::is_regular_file(dir / "config.yaml")) {
    spdlog::info("seed {}: resuming the distilled run in {}", seed, dir.string());
    rc = load_run_config((dir / "config.yaml").string());
    o.resume = true;
  } else {
    rc = seed_config(c, size, seed);
    if (fs::exists(dir)) fs::remove_all(dir);  // made but never started: nothing to keep
  }
  rc.resolved["run_dir"] = o.run_dir;
  spdlog::info("seed {}: the loop, until the training set holds {}", seed, size);
  return run_distillation(rc, o);
}

}  // namespace

nlohmann::ordered_json run_comparison(const RunConfig& c, const CompareOptions& o) {
  if (o.seeds < 1) throw UsageError("--seeds must be at least 1");
  if (c.data.test.empty()) throw InputError("compare scores both students on test: give data.test");
  if (!c.data.few_shot && c.data.pool.empty()) {
    throw InputError(
        "compare needs human-labeled samples beyond the few labels: give data.few_shot (the rest "
        "of data.train is the pool) or data.pool");
  }
  // Everything that can be wrong is found before anything is written.
  for (int s = 1; s <= o.seeds; ++s) {
    const HumanData h = human_data(c, s);
    if (o.size <= h.few.size()) {
      throw InputError(fmt::format("--size {} must exceed the {} few labels the loop starts from",
                                   o.size, h.few.size()));
    }
    if (o.size - h.few.size() > h.pool.size()) {
      throw InputError(fmt::format(
          "--size {}: the human pool holds {} samples besides the {} few labels, so the largest "
          "size is {}",
          o.size, h.pool.size(), h.few.size(), h.few.size() + h.pool.size()));
    }
    (void)seed_config(c, o.size, s);
  }
  (void)make_student(c.task, c.student_kind, c.student);  // bad student options, before any file
  (void)make_embedder(c.embedder);
  const fs::path dir(o.out_dir);
  const ojson settings = settings_of(c, o.size);
  // A folder whose settings were written but where no arm started (the teacher's config was
  // refused, say) is taken over by the corrected command.
  const auto started = [&] {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().filename() != "compare-settings.json") return true;
    }
    return false;
  };
  if (fs::exists(dir / "compare-settings.json") && started()) {
    const ojson before = read_json_file(dir / "compare-settings.json");
    if (before != settings) {
      throw InputError(fmt::format(
          "{} holds a comparison of another config or size (size {} there, {} here); choose "
          "another --out",
          o.out_dir, before.value("size", 0), o.size));
    }
    spdlog::info("continuing the comparison in {}", o.out_dir);
  } else if (fs::exists(dir) && !fs::is_empty(dir) && !fs::exists(dir / "compare-settings.json")) {
    throw InputError(o.out_dir + " exists and holds no comparison; choose another --out");
  } else {
    fs::create_directories(dir);
    write_json(dir / "compare-settings.json", settings);
  }

  const auto& fields = eval::metric_fields(c.task);
  ojson results = ojson::array();
  std::map<std::string, std::vector<double>> labeled_values, distilled_values;
  bool simulated = false;
  std::string teacher_kind;
  for (int s = 1; s <= o.seeds; ++s) {
    if (o.cancel != nullptr && o.cancel->load()) {
      throw RunInterrupted("interrupted; run the same compare command again to continue");
    }
    const ojson distilled = distilled_arm(c, o.size, s, dir / fmt::format("distilled-s{}", s),
                                          o.cancel);
    const HumanData h = human_data(c, s);
    const ojson labeled = labeled_arm(c, h, o.size, s, dir / fmt::format("labeled-s{}", s));
    const ojson& last = distilled.at("rounds").back();
    simulated = simulated || distilled.value("simulated", false);
    teacher_kind = distilled.value("teacher_kind", "");
    ojson d;
    d["size"] = last.at("train_size");
    d["rounds"] = last.at("round");
    d["accepted"] = last.at("train_size").get<std::size_t>() - distilled.at("rounds")[0].at("train_size").get<std::size_t>();
    d["stop_reason"] = distilled.value("stop_reason", "");
    d["test"] = last.at("test");
    d["best_round"] = distilled.at("best_round");
    d["best_round_test"] = distilled.value("test", ojson());
    d["round0_test"] = distilled.at("rounds")[0].value("test", ojson());
    if (d["size"].get<std::size_t>() < o.size) {
      spdlog::warn("seed {}: the loop stopped at {} samples ({}), short of {}", s,
                   d["size"].get<std::size_t>(), d["stop_reason"].get<std::string>(), o.size);
    }
    ojson l;
    l["size"] = labeled.at("size");
    l["test"] = labeled.at("test");
    results.push_back({{"seed", s}, {"labeled", l}, {"distilled", d}});
    for (const auto& f : fields) {
      labeled_values[f.column].push_back(eval::metric_value(l["test"], f));
      distilled_values[f.column].push_back(eval::metric_value(d["test"], f));
    }
    const auto& head = eval::headline_field(c.task);
    spdlog::info("seed {}: test {} labeled {:.4f} · distilled {:.4f} (size {} each)", s, head.label,
                 eval::metric_value(l["test"], head), eval::metric_value(d["test"], head),
                 o.size);
  }

  ojson summary = ojson::object();
  for (const auto& f : fields) {
    const auto& lv = labeled_values[f.column];
    const auto& dv = distilled_values[f.column];
    std::vector<double> diff;
    int distilled_better = 0;
    for (std::size_t i = 0; i < lv.size(); ++i) {
      diff.push_back(dv[i] - lv[i]);
      distilled_better += dv[i] > lv[i];
    }
    summary[f.column] = {{"labeled", {{"mean", mean_of(lv)}, {"sd", sd_of(lv)}}},
                         {"distilled", {{"mean", mean_of(dv)}, {"sd", sd_of(dv)}}},
                         {"difference", {{"mean", mean_of(diff)}, {"sd", sd_of(diff)}}},
                         {"distilled_better", distilled_better}};
  }
  ojson out;
  out["task"] = std::string(task_name(c.task));
  out["size"] = o.size;
  out["seeds"] = o.seeds;
  out["student_kind"] = c.student_kind;
  out["teacher_kind"] = teacher_kind;
  out["simulated"] = simulated;
  out["headline"] = eval::headline_field(c.task).column;
  out["results"] = results;
  out["summary"] = summary;
  out["config"] = c.resolved;

  std::string csv = "seed,arm,size";
  for (const auto& f : fields) csv += std::string(",") + f.column;
  csv += "\n";
  for (const auto& r : results) {
    for (const char* arm : {"labeled", "distilled"}) {
      csv += fmt::format("{},{},{}", r["seed"].get<int>(), arm, r[arm]["size"].get<std::size_t>());
      for (const auto& f : fields) csv += fmt::format(",{}", eval::metric_value(r[arm]["test"], f));
      csv += "\n";
    }
  }
  write_json(dir / "compare.json", out);
  write_file_atomically((dir / "compare.csv").string(), csv);
  write_file_atomically((dir / "compare.md").string(), comparison_markdown(out));
  return out;
}

std::string comparison_markdown(const nlohmann::ordered_json& m) {
  const Task task = parse_task(m.at("task").get<std::string>());
  const auto& fields = eval::metric_fields(task);
  const std::size_t size = m.at("size").get<std::size_t>();
  std::string md = fmt::format(
      "{} at {} training samples: {} on human labels against {} on distilled samples ({} teacher{}), "
      "test set, {} seed{}.\n\n",
      m.at("task").get<std::string>(), size, m.at("student_kind").get<std::string>(),
      m.at("student_kind").get<std::string>(), m.value("teacher_kind", ""),
      m.value("simulated", false) ? ", SIMULATED: it returns held-out human-labeled samples" : "",
      m.at("seeds").get<int>(), m.at("seeds").get<int>() == 1 ? "" : "s");
  md += "| metric | labeled | distilled | distilled − labeled | seeds distilled better |\n";
  md += "|---|---:|---:|---:|---:|\n";
  const auto pm = [](const ojson& x) {
    const double mean = x.at("mean").get<double>();
    return x.at("sd").is_null() ? fmt::format("{:.4f}", mean)
                                : fmt::format("{:.4f} ± {:.4f}", mean, x.at("sd").get<double>());
  };
  for (const auto& f : fields) {
    const ojson& s = m.at("summary").at(f.column);
    md += fmt::format("| {} | {} | {} | {} | {} of {} |\n", f.label, pm(s.at("labeled")),
                      pm(s.at("distilled")), pm(s.at("difference")),
                      s.at("distilled_better").get<int>(), m.at("seeds").get<int>());
  }
  md += "\n| seed | arm | size |";
  for (const auto& f : fields) md += std::string(" ") + f.label + " |";
  md += " rounds | stop |\n|---:|---|---:|";
  for (std::size_t i = 0; i < fields.size(); ++i) md += "---:|";
  md += "---:|---|\n";
  for (const auto& r : m.at("results")) {
    for (const char* arm : {"labeled", "distilled"}) {
      const ojson& a = r.at(arm);
      md += fmt::format("| {} | {} | {} |", r.at("seed").get<int>(), arm,
                        a.at("size").get<std::size_t>());
      for (const auto& f : fields) md += fmt::format(" {:.4f} |", eval::metric_value(a.at("test"), f));
      md += std::string(arm) == "distilled"
                ? fmt::format(" {} | {} |\n", a.at("rounds").get<int>(),
                              a.at("stop_reason").get<std::string>())
                : " | |\n";
    }
  }
  return md;
}

}  // namespace weakdistill
