#include "weakdistill/core/stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

using json = nlohmann::ordered_json;

json summarize(std::vector<std::size_t> v) {
  if (v.empty()) return {{"min", 0}, {"mean", 0.0}, {"median", 0.0}, {"max", 0}};
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (std::size_t x : v) sum += static_cast<double>(x);
  const std::size_t h = v.size() / 2;
  const double median = v.size() % 2
                            ? static_cast<double>(v[h])
                            : (static_cast<double>(v[h - 1]) + static_cast<double>(v[h])) / 2;
  return {{"min", v.front()},
          {"mean", sum / static_cast<double>(v.size())},
          {"median", median},
          {"max", v.back()}};
}

json counts_by_frequency(const std::map<std::string, std::size_t>& counts) {
  std::vector<std::pair<std::string, std::size_t>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  json j = json::object();
  for (const auto& [k, c] : v) j[k] = c;
  return j;
}

std::string length_line(const std::string& name, const json& j) {
  return fmt::format("  {:<18} min {}  mean {:.1f}  median {:.1f}  max {}\n", name,
                     j.at("min").get<std::size_t>(), j.at("mean").get<double>(),
                     j.at("median").get<double>(), j.at("max").get<std::size_t>());
}

}  // namespace

json dataset_stats(const Dataset& ds) {
  json j = json::object();
  j["task"] = std::string(task_name(ds.task));
  j["n"] = ds.samples.size();
  std::vector<std::size_t> text_lengths;
  for (const Sample& s : ds.samples) text_lengths.push_back(utf8::length(s.text));
  j["text_length"] = summarize(text_lengths);
  switch (ds.task) {
    case Task::kClassification: {
      std::map<std::string, std::size_t> labels;
      for (const Sample& s : ds.samples) labels[s.label]++;
      j["labels"] = counts_by_frequency(labels);
      break;
    }
    case Task::kNer: {
      std::map<std::string, std::size_t> types;
      std::vector<std::size_t> lengths;
      std::size_t empty = 0, total = 0;
      for (const Sample& s : ds.samples) {
        empty += s.entities.empty();
        total += s.entities.size();
        for (const Entity& e : s.entities) {
          types[e.type]++;
          lengths.push_back(e.end - e.start);
        }
      }
      j["entities"] = total;
      j["sentences_without_entities"] = empty;
      j["types"] = counts_by_frequency(types);
      j["entity_length"] = summarize(lengths);
      break;
    }
    case Task::kSummarization: {
      std::vector<std::size_t> lengths;
      double ratio = 0;
      for (std::size_t i = 0; i < ds.samples.size(); ++i) {
        lengths.push_back(utf8::length(ds.samples[i].summary));
        ratio += static_cast<double>(lengths.back()) /
                 static_cast<double>(std::max<std::size_t>(1, text_lengths[i]));
      }
      j["summary_length"] = summarize(lengths);
      j["compression"] = ds.samples.empty() ? 0.0 : ratio / static_cast<double>(ds.samples.size());
      break;
    }
  }
  return j;
}

std::string format_stats(const json& j) {
  std::string out = fmt::format("task: {}   samples: {}\n", j.at("task").get<std::string>(),
                                j.at("n").get<std::size_t>());
  out += length_line("text length", j.at("text_length"));
  const double n = std::max<double>(1.0, j.at("n").get<double>());
  if (j.contains("labels")) {
    out += fmt::format("  labels ({}):\n", j.at("labels").size());
    for (const auto& [label, c] : j.at("labels").items()) {
      out += fmt::format("    {:<20} {:>8}  {:5.1f}%\n", label, c.get<std::size_t>(),
                         100.0 * c.get<double>() / n);
    }
  }
  if (j.contains("types")) {
    out += fmt::format("  entities           {}  ({} sentences without any)\n",
                       j.at("entities").get<std::size_t>(),
                       j.at("sentences_without_entities").get<std::size_t>());
    out += length_line("entity length", j.at("entity_length"));
    const double total = std::max<double>(1.0, j.at("entities").get<double>());
    for (const auto& [type, c] : j.at("types").items()) {
      out += fmt::format("    {:<20} {:>8}  {:5.1f}%\n", type, c.get<std::size_t>(),
                         100.0 * c.get<double>() / total);
    }
  }
  if (j.contains("summary_length")) {
    out += length_line("summary length", j.at("summary_length"));
    out += fmt::format("  {:<18} {:.3f} (mean summary/text length)\n", "compression",
                       j.at("compression").get<double>());
  }
  return out;
}

}  // namespace weakdistill
