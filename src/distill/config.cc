#include "weakdistill/distill/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <system_error>

#include "weakdistill/core/error.h"
#include "weakdistill/core/options.h"
#include "weakdistill/core/yaml.h"

namespace weakdistill {
namespace {

nlohmann::json section(const nlohmann::json& config, const char* key) {
  if (!config.contains(key) || config[key].is_null()) return nlohmann::json::object();
  if (!config[key].is_object()) {
    throw InputError(std::string(key) + ": expected a mapping, got " + config[key].dump());
  }
  return config[key];
}

void check_path(const std::string& key, const std::string& path) {
  // The error_code overload: the other throws filesystem_error (not InputError) when
  // stat() fails otherwise than "not found": a name too long, a loop of links, a
  // folder it may not search (found by fuzzing).
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(key + ": no such file: " + path);
}

}  // namespace

RunConfig parse_run_config(const nlohmann::json& config, const std::string& name) {
  if (!config.is_object()) throw InputError(name + ": expected a mapping at the top level");
  RunConfig c;
  try {
    OptionReader top(config, "config");
    std::string task;
    top.get("task", task);
    if (task.empty()) throw InputError("task: required (classification, ner or summarization)");
    try {
      c.task = parse_task(task);
    } catch (const std::exception& e) {
      throw InputError(std::string("task: ") + e.what());
    }
    top.get("protocol", c.protocol);
    if (c.protocol != "clean" && c.protocol != "paper") {
      throw InputError("protocol: must be clean or paper, got \"" + c.protocol + "\"");
    }
    top.get("run_dir", c.run_dir);
    (void)top.has("data");
    (void)top.has("student");
    (void)top.has("teacher");
    (void)top.has("embedder");
    (void)top.has("distill");
    top.finish();

    // data
    const nlohmann::json data = section(config, "data");
    OptionReader d(data, "data");
    d.get("train", c.data.train);
    d.get("dev", c.data.dev);
    d.get("test", c.data.test);
    d.get("pool", c.data.pool);
    if (d.has("few_shot") && !data["few_shot"].is_null()) {
      if (!data["few_shot"].is_object()) {
        d.fail("few_shot", "expected {per_label: K, seed: S} or {n: K, seed: S}");
      }
      FewShotConfig f;
      OptionReader fr(data["few_shot"], "data.few_shot");
      fr.get("per_label", f.per_label);
      fr.get("n", f.n);
      fr.get("seed", f.seed);
      fr.finish();
      if ((f.per_label == 0) == (f.n == 0)) {
        fr.fail("per_label", "give exactly one of per_label and n (a positive count)");
      }
      if (f.per_label > 0 && c.task != Task::kClassification) {
        fr.fail("per_label", "only for classification; use n");
      }
      c.data.few_shot = f;
    }
    d.finish();
    if (c.data.train.empty()) d.fail("train", "required: the labeled training samples");
    check_path("data.train", c.data.train);
    if (!c.data.dev.empty()) check_path("data.dev", c.data.dev);
    if (!c.data.test.empty()) check_path("data.test", c.data.test);
    if (!c.data.pool.empty()) check_path("data.pool", c.data.pool);
    if (c.protocol == "paper" && c.data.test.empty()) {
      d.fail("test", "protocol paper evaluates on the test set: give data.test");
    }
    if (c.protocol == "clean" && c.data.dev.empty()) {
      d.fail("dev", "required with protocol clean (weakness analysis and stopping use it)");
    }

    // student
    nlohmann::json student = section(config, "student");
    if (!student.contains("kind") || !student["kind"].is_string()) {
      throw InputError("student.kind: required (e.g. fasttext, bigru-crf, pointer-generator)");
    }
    c.student_kind = student["kind"];
    student.erase("kind");
    c.student = student;

    c.teacher = section(config, "teacher");
    if (!c.teacher.contains("kind")) {
      throw InputError("teacher.kind: required (openai, pool or augment)");
    }
    c.embedder = section(config, "embedder");

    // distill
    const nlohmann::json distill = section(config, "distill");
    OptionReader r(distill, "distill");
    DistillConfig& t = c.distill;
    r.get("per_round", t.per_round);
    r.get("oversample", t.oversample);
    r.get("tau", t.tau);
    r.get("soft_h", t.soft_h);
    r.get("dist_min", t.dist_min);
    r.get("max_rounds", t.max_rounds);
    r.get("patience", t.patience);
    r.get("seed", t.seed);
    r.get("verify", t.verify);
    r.get("diversity", t.diversity);
    r.get("seeds", t.seeds);
    r.get("seed_from", t.seed_from);
    r.get("min_char_overlap", t.min_char_overlap);
    r.get("max_train", t.max_train);
    r.get("test_each_round", t.test_each_round);
    r.get("reservoir", t.reservoir);
    t.weakness_given = r.has("weakness");
    r.get("weakness", t.weakness);
    t.cv_folds_given = r.has("cv_folds");
    r.get("cv_folds", t.cv_folds);
    if (r.has("cv_student")) {
      if (!distill["cv_student"].is_object()) r.fail("cv_student", "expected a mapping of student options");
      t.cv_student = distill["cv_student"];
    }
    r.get("allocation", t.allocation);
    r.get("schedule", t.schedule);
    r.finish();
    // The defaults follow docs/RESULTS.md's weakness study (config.h says which won where).
    const bool clean = c.protocol == "clean";
    if (t.seeds.empty()) t.seeds = clean && c.task == Task::kSummarization ? "uniform" : "weakness";
    if (t.allocation.empty()) t.allocation = clean && c.task == Task::kNer ? "per_label" : "global";
    if (t.weakness.empty()) t.weakness = clean && t.seeds != "uniform" ? "cv" : "in_sample";
    if (t.weakness != "in_sample" && t.weakness != "cv") r.fail("weakness", "must be in_sample or cv");
    if (t.cv_folds < 2 || t.cv_folds > 100) r.fail("cv_folds", "must be in 2..100");
    if (t.allocation != "global" && t.allocation != "per_label") {
      r.fail("allocation", "must be global or per_label");
    }
    if (t.allocation == "per_label" && c.task == Task::kSummarization) {
      r.fail("allocation", "per_label needs labels: classification or ner");
    }
    if (t.schedule != "iterative" && t.schedule != "one_shot") {
      r.fail("schedule", "must be iterative or one_shot");
    }
    if (t.per_round < 1) r.fail("per_round", "must be at least 1");
    if (!(t.oversample >= 1 && t.oversample <= 100)) r.fail("oversample", "must be in [1, 100]");
    if (!(t.tau > 0 && std::isfinite(t.tau))) r.fail("tau", "must be a positive number");
    if (!(t.dist_min >= 0 && t.dist_min <= 2)) r.fail("dist_min", "must be in [0, 2]");
    if (t.max_rounds < 0 || t.max_rounds > 1000) r.fail("max_rounds", "must be in 0..1000");
    if (t.patience < 1) r.fail("patience", "must be at least 1");
    if (t.seeds != "weakness" && t.seeds != "uniform") {
      r.fail("seeds", "must be weakness or uniform");
    }
    if (t.seed_from.empty()) t.seed_from = c.protocol == "clean" ? "train" : "train_dev";
    if (t.seed_from != "train_dev" && t.seed_from != "train") {
      r.fail("seed_from", "must be train_dev or train");
    }
    if (t.test_each_round && c.data.test.empty()) {
      r.fail("test_each_round", "needs data.test");
    }
    if (!(t.min_char_overlap >= 0 && t.min_char_overlap <= 1)) {
      r.fail("min_char_overlap", "must be in [0, 1]");
    }
  } catch (const InputError& e) {
    throw InputError(name + ": " + e.what());
  }

  // The resolved config: what was given, with every default written out.
  nlohmann::ordered_json& o = c.resolved;
  o["task"] = std::string(task_name(c.task));
  o["protocol"] = c.protocol;
  nlohmann::ordered_json data;
  data["train"] = c.data.train;
  if (!c.data.dev.empty()) data["dev"] = c.data.dev;
  if (!c.data.test.empty()) data["test"] = c.data.test;
  if (!c.data.pool.empty()) data["pool"] = c.data.pool;
  if (c.data.few_shot) {
    const auto& f = *c.data.few_shot;
    data["few_shot"] = f.per_label
                           ? nlohmann::ordered_json{{"per_label", f.per_label}, {"seed", f.seed}}
                           : nlohmann::ordered_json{{"n", f.n}, {"seed", f.seed}};
  }
  o["data"] = data;
  nlohmann::ordered_json student = {{"kind", c.student_kind}};
  for (const auto& [k, v] : c.student.items()) student[k] = v;
  o["student"] = student;
  o["teacher"] = c.teacher;
  o["embedder"] = c.embedder.empty() ? nlohmann::json{{"kind", "hashing"}} : c.embedder;
  const DistillConfig& t = c.distill;
  o["distill"] = {{"per_round", t.per_round},
                  {"oversample", t.oversample},
                  {"tau", t.tau},
                  {"soft_h", t.soft_h},
                  {"dist_min", t.dist_min},
                  {"max_rounds", t.max_rounds},
                  {"patience", t.patience},
                  {"seed", t.seed},
                  {"verify", t.verify},
                  {"diversity", t.diversity},
                  {"seeds", t.seeds},
                  {"seed_from", t.seed_from},
                  {"min_char_overlap", t.min_char_overlap},
                  {"max_train", t.max_train},
                  {"test_each_round", t.test_each_round},
                  {"reservoir", t.reservoir},
                  {"cv_student", t.cv_student},
                  {"allocation", t.allocation},
                  {"schedule", t.schedule}};
  // weakness and cv_folds left to their defaults bend to the data (plan_weakness): written
  // only when given, so that a config re-read (compare's arms) still lets them bend. A run
  // writes what it used into its own config.yaml.
  if (t.weakness_given) o["distill"]["weakness"] = t.weakness;
  if (t.cv_folds_given) o["distill"]["cv_folds"] = t.cv_folds;
  if (!c.run_dir.empty()) o["run_dir"] = c.run_dir;
  return c;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& sets) {
  nlohmann::json config = read_yaml_file(path);
  if (!config.is_object()) throw InputError(path + ": expected a mapping at the top level");
  merge_into(config, parse_assignments(sets));
  return parse_run_config(config, path);
}

namespace {

void emit(YAML::Emitter& out, const nlohmann::ordered_json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      emit(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const auto& v : j) emit(out, v);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    // Quoted when a plain scalar would read back as another type ("on", "1", "").
    const std::string s = j.get<std::string>();
    nlohmann::json back;
    try {
      back = parse_yaml("x: " + s, "string").value("x", nlohmann::json());
    } catch (const InputError&) {
      back = nullptr;  // not a plain scalar: quote it
    }
    if (back.is_string() && back.get<std::string>() == s && s != "on" && s != "off") {
      out << s;
    } else {
      out << YAML::DoubleQuoted << s;
    }
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();
  }
}

}  // namespace

std::string to_yaml(const nlohmann::ordered_json& resolved) {
  YAML::Emitter out;
  emit(out, resolved);
  return std::string(out.c_str()) + "\n";
}

}  // namespace weakdistill
