#include "bert_head.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "weakdistill/core/error.h"
#include "weakdistill/core/safetensors.h"

namespace weakdistill::student_internal {
namespace {

namespace fs = std::filesystem;

nlohmann::json read_object(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

std::string shape_of(const SafetensorsTensor& t) {
  std::string s;
  for (std::size_t i = 0; i < t.shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(t.shape[i]);
  return "[" + s + "]";
}

}  // namespace

std::string hf_head_error(const std::string& dir, const std::string& what) {
  return dir +
         ": fine_tune=false needs a folder with a classification head, e.g. one written by "
         "`weakdistill export`; " +
         what;
}

HfHead read_hf_head(const std::string& dir, std::int64_t hidden_size) {
  auto fail = [&](const std::string& what) { throw InputError(hf_head_error(dir, what)); };
  HfHead head;
  const nlohmann::json config = read_object((fs::path(dir) / "config.json").string());
  if (const auto a = config.find("architectures");
      a != config.end() && a->is_array() && !a->empty() && a->front().is_string()) {
    head.architecture = a->front().get<std::string>();
  }
  const auto id2label = config.find("id2label");
  if (id2label == config.end() || !id2label->is_object() || id2label->empty()) {
    fail("config.json has no id2label (the label of each classifier output)");
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < id2label->size(); ++i) {
    const auto it = id2label->find(std::to_string(i));
    if (it == id2label->end() || !it->is_string()) {
      fail(
          fmt::format("config.json's id2label must map \"0\" .. \"{}\" to label names; \"{}\" is "
                      "missing or not a string",
                      id2label->size() - 1, i));
    }
    const std::string name = it->get<std::string>();
    if (name.empty() || !seen.insert(name).second) {
      fail("config.json's id2label names must be distinct and not empty (\"" + name + "\")");
    }
    head.labels.push_back(name);
  }
  if (const auto w = config.find("window_overlap"); w != config.end() && w->is_number_integer()) {
    head.window_overlap = std::max<std::int64_t>(-1, w->get<std::int64_t>());
  }
  const nlohmann::json tok = read_object((fs::path(dir) / "tokenizer_config.json").string());
  if (const auto m = tok.find("model_max_length"); m != tok.end() && m->is_number_integer()) {
    const auto v = m->get<std::int64_t>();
    if (v >= 3 && v <= 8192) head.model_max_length = v;
  }

  const SafetensorsFile file((fs::path(dir) / "model.safetensors").string());
  const auto c = static_cast<std::int64_t>(head.labels.size());
  auto read = [&](const std::string& name, std::vector<std::int64_t> shape, bool required) {
    const SafetensorsTensor* t = file.find(name);
    if (!t) {
      if (required) fail("model.safetensors has no " + name);
      return torch::Tensor();
    }
    if (t->shape != shape) {
      fail(
          fmt::format("model.safetensors: {} is {}, but {} labels (id2label) and hidden size {} "
                      "need [{}]",
                      name, shape_of(*t), c, hidden_size, fmt::join(shape, ", ")));
    }
    torch::Tensor out = torch::empty(shape, torch::kFloat32);
    file.to_f32(*t, out.data_ptr<float>());
    return out;
  };
  head.weight = read("classifier.weight", {c, hidden_size}, true);
  head.bias = read("classifier.bias", {c}, true);
  head.transitions = read("crf.transitions", {c, c}, false);
  head.start = read("crf.start_transitions", {c}, false);
  head.end = read("crf.end_transitions", {c}, false);
  const int crf = head.transitions.defined() + head.start.defined() + head.end.defined();
  if (crf != 0 && crf != 3) {
    fail(
        "model.safetensors has only some of crf.transitions, crf.start_transitions and "
        "crf.end_transitions (all three, or none)");
  }
  return head;
}

HfHead read_hf_head_option(const std::string& dir, std::int64_t hidden_size, bool tagger) {
  HfHead head;
  try {
    head = read_hf_head(dir, hidden_size);
  } catch (const InputError& e) {
    throw InputError(std::string("student.path: ") + e.what());
  }
  const char* other = tagger ? "ForSequenceClassification" : "ForTokenClassification";
  if (head.architecture.ends_with(other)) {
    throw InputError(hf_head_error(
        "student.path: " + dir,
        "this one is a " + head.architecture +
            (tagger ? " (a classifier: use bert-cls)" : " (a tagger: use bert-ner)")));
  }
  return head;
}

}  // namespace weakdistill::student_internal
