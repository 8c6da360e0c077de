// A classification student that records the batch sizes predict() is called with and predicts
// "label of <text>": for code that hands a student its inputs (the serve batcher,
// predict_in_batches). Thread-safe.
#pragma once

#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "weakdistill/student/student.h"

namespace weakdistill::testing {

class RecordingStudent : public Student {
 public:
  Task task() const override { return Task::kClassification; }
  std::string_view kind() const override { return "recorder"; }
  void train(const std::vector<Sample>&, const std::vector<Sample>&) override {}
  // Throws std::runtime_error("the model failed") when an input's text is "fail".
  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    std::lock_guard lock(mutex);
    calls.push_back(inputs.size());
    for (const Sample& s : inputs) {
      if (s.text == "fail") throw std::runtime_error("the model failed");
    }
    std::vector<Prediction> out(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) out[i].label = "label of " + inputs[i].text;
    if (drop_one && !out.empty()) out.pop_back();
    return out;
  }
  nlohmann::json options() const override { return nlohmann::json::object(); }
  void save_files(const std::string&) const override {}
  void load_files(const std::string&) override {}

  std::mutex mutex;
  std::vector<std::size_t> calls;
  bool drop_one = false;  // return one prediction too few (a broken student)
};

}  // namespace weakdistill::testing
