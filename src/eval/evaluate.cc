#include "weakdistill/eval/evaluate.h"

#include <fmt/format.h>

#include <unordered_map>

#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/eval/classification_metrics.h"
#include "weakdistill/eval/ner_metrics.h"
#include "weakdistill/eval/summarization_metrics.h"

namespace weakdistill::eval {
namespace {

using json = nlohmann::ordered_json;

std::string where(const Dataset& ds, std::size_t i) {
  return ds.path + ":" + std::to_string(i < ds.lines.size() ? ds.lines[i] : i + 1);
}

bool all_have_ids(const Dataset& ds) {
  for (const Sample& s : ds.samples) {
    if (!s.id) return false;
  }
  return true;
}

std::unordered_map<std::string, std::size_t> index_ids(const Dataset& ds) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < ds.samples.size(); ++i) {
    const auto [it, inserted] = index.emplace(*ds.samples[i].id, i);
    if (!inserted) {
      throw InputError(where(ds, i) + ": id \"" + *ds.samples[i].id + "\" also appears on line " +
                       std::to_string(ds.lines[it->second]));
    }
  }
  return index;
}

json classification_json(const ClassificationMetrics& m) {
  json per_label = json::object();
  for (const auto& [label, s] : m.per_label) {
    json j = to_json(s.prf);
    j["support"] = s.support;
    per_label[label] = std::move(j);
  }
  return {{"accuracy", m.accuracy}, {"macro_f1", m.macro_f1}, {"per_label", per_label}};
}

json ner_json(const NerMetrics& m) {
  json per_type = json::object();
  for (const auto& [type, s] : m.per_type) {
    json j = to_json(s.prf);
    j["support"] = s.support;
    j["predicted"] = s.predicted;
    per_type[type] = std::move(j);
  }
  return {{"precision", m.micro.precision},
          {"recall", m.micro.recall},
          {"f1", m.micro.f1},
          {"per_type", per_type}};
}

json summarization_json(const SummarizationMetrics& m) {
  return {{"rouge1", to_json(m.rouge1)},
          {"rouge2", to_json(m.rouge2)},
          {"rougeL", to_json(m.rougeL)},
          {"bleu4", m.bleu4}};
}

}  // namespace

std::vector<std::size_t> align(const Dataset& gold, const Dataset& pred) {
  const std::size_t n = gold.samples.size();
  std::vector<std::size_t> order(n);
  if (all_have_ids(gold) && all_have_ids(pred)) {
    const auto gold_ids = index_ids(gold);
    const auto pred_ids = index_ids(pred);
    for (std::size_t i = 0; i < n; ++i) {
      const auto it = pred_ids.find(*gold.samples[i].id);
      if (it == pred_ids.end()) {
        throw InputError(where(gold, i) + ": id \"" + *gold.samples[i].id +
                         "\" has no prediction in " + pred.path);
      }
      order[i] = it->second;
    }
    for (std::size_t j = 0; j < pred.samples.size(); ++j) {
      if (!gold_ids.count(*pred.samples[j].id)) {
        throw InputError(where(pred, j) + ": id \"" + *pred.samples[j].id + "\" is not in " +
                         gold.path);
      }
    }
  } else {
    if (pred.samples.size() != n) {
      throw InputError(pred.path + ": " + std::to_string(pred.samples.size()) +
                       " predictions for " + std::to_string(n) + " gold samples in " + gold.path +
                       " (without ids on every line, samples are paired by position)");
    }
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const Sample& g = gold.samples[i];
    const Sample& p = pred.samples[order[i]];
    if (!p.text.empty() && p.text != g.text) {
      throw InputError(where(pred, order[i]) +
                       ": the prediction's text differs from the gold text at " + where(gold, i) +
                       " (are the files aligned?)");
    }
    if (gold.task == Task::kNer && p.text.empty()) {
      // Predictions without text were not checked on reading; check against gold.
      std::vector<Entity> entities = p.entities;
      check_entities(utf8::decode(g.text), entities, where(pred, order[i]));
    }
  }
  return order;
}

Evaluation evaluate(const Dataset& gold, const Dataset& pred) {
  if (gold.task != pred.task) throw UsageError("evaluate: the datasets are of different tasks");
  const std::vector<std::size_t> order = align(gold, pred);
  const std::size_t n = order.size();
  Evaluation ev;
  ev.metrics = json::object();
  ev.metrics["task"] = std::string(task_name(gold.task));
  ev.metrics["n"] = n;
  ev.per_sample.resize(n);
  json body;
  switch (gold.task) {
    case Task::kClassification: {
      std::vector<std::string> g(n), p(n);
      for (std::size_t i = 0; i < n; ++i) {
        g[i] = gold.samples[i].label;
        p[i] = pred.samples[order[i]].label;
        ev.per_sample[i] = classification_score(g[i], p[i]);
      }
      body = classification_json(classification_metrics(g, p));
      break;
    }
    case Task::kNer: {
      std::vector<std::vector<Entity>> g(n), p(n);
      for (std::size_t i = 0; i < n; ++i) {
        g[i] = gold.samples[i].entities;
        p[i] = pred.samples[order[i]].entities;
        ev.per_sample[i] = ner_score(g[i], p[i]);
      }
      body = ner_json(ner_metrics(g, p));
      break;
    }
    case Task::kSummarization: {
      std::vector<std::string> refs(n), cands(n);
      for (std::size_t i = 0; i < n; ++i) {
        refs[i] = gold.samples[i].summary;
        cands[i] = pred.samples[order[i]].summary;
      }
      std::vector<PairScores> pairs;
      body = summarization_json(summarization_metrics(cands, refs, &pairs));
      for (std::size_t i = 0; i < n; ++i) ev.per_sample[i] = pairs[i].rougeL.f1;
      break;
    }
  }
  for (auto& [key, value] : body.items()) ev.metrics[key] = value;
  return ev;
}

std::string format_table(const nlohmann::ordered_json& m) {
  std::string out;
  const std::string task = m.at("task").get<std::string>();
  out += fmt::format("task: {}   samples: {}\n\n", task, m.at("n").get<std::size_t>());
  const auto row = [&](const std::string& name, const json& j, std::size_t support,
                       bool with_support) {
    out += fmt::format("  {:<22} {:>9.4f} {:>9.4f} {:>9.4f}", name, j.at("precision").get<double>(),
                       j.at("recall").get<double>(), j.at("f1").get<double>());
    if (with_support) out += fmt::format(" {:>9}", support);
    out += '\n';
  };
  if (task == "classification") {
    out += fmt::format("  accuracy  {:.4f}\n  macro-F1  {:.4f}\n\n", m.at("accuracy").get<double>(),
                       m.at("macro_f1").get<double>());
    out += fmt::format("  {:<22} {:>9} {:>9} {:>9} {:>9}\n", "label", "precision", "recall", "f1",
                       "support");
    for (const auto& [label, j] : m.at("per_label").items()) {
      row(label, j, j.at("support").get<std::size_t>(), true);
    }
  } else if (task == "ner") {
    out += fmt::format("  {:<22} {:>9} {:>9} {:>9} {:>9}\n", "entities", "precision", "recall",
                       "f1", "support");
    std::size_t total = 0;
    for (const auto& [type, j] : m.at("per_type").items())
      total += j.at("support").get<std::size_t>();
    row("micro (all types)", m, total, true);
    for (const auto& [type, j] : m.at("per_type").items()) {
      row(type, j, j.at("support").get<std::size_t>(), true);
    }
  } else {
    out += fmt::format("  {:<22} {:>9} {:>9} {:>9}\n", "metric (characters)", "precision", "recall",
                       "f1");
    for (const char* key : {"rouge1", "rouge2", "rougeL"}) row(key, m.at(key), 0, false);
    out += fmt::format("\n  BLEU-4 (corpus)  {:.4f}\n", m.at("bleu4").get<double>());
  }
  return out;
}

}  // namespace weakdistill::eval
