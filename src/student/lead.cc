// The `lead` summarizer: the first N characters of the text, the floor any
// summarizer must beat.
#include <algorithm>
#include <fstream>

#include "kinds_internal.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

struct LeadOptions {
  // Characters to keep; 0 learns N on train as the median reference summary length.
  std::size_t chars = 0;
};

class LeadStudent : public Student {
 public:
  explicit LeadStudent(const nlohmann::json& options) {
    OptionReader r(options, "student");
    common_ = student_internal::read_common(r);
    r.get("chars", options_.chars);
    r.finish();
    length_ = options_.chars;
  }

  Task task() const override { return Task::kSummarization; }
  std::string_view kind() const override { return "lead"; }

  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override {
    if (options_.chars == 0) {
      if (train.empty()) throw InputError("lead: no training samples to learn the length from");
      std::vector<std::size_t> lengths;
      for (const Sample& s : train) lengths.push_back(utf8::length(s.summary));
      std::nth_element(lengths.begin(), lengths.begin() + lengths.size() / 2, lengths.end());
      length_ = std::max<std::size_t>(1, lengths[lengths.size() / 2]);
    }
    if (on_epoch) {
      EpochReport report;
      report.epoch = report.epochs = 1;
      if (!dev.empty()) {
        std::tie(report.dev_metric, report.dev_metric_name) =
            student_internal::dev_metric(task(), dev, predict(dev));
      }
      on_epoch(report);
    }
  }

  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    if (length_ == 0) throw std::logic_error("lead: predict() before train() or load");
    std::vector<Prediction> out(inputs.size());
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      // N characters not counting whitespace, which scoring ignores too.
      const std::u32string text = utf8::decode(inputs[i].text);
      std::size_t end = 0, kept = 0;
      while (end < text.size() && kept < length_) kept += !utf8::is_space(text[end++]);
      std::u32string lead = text.substr(0, end);
      while (!lead.empty() && utf8::is_space(lead.front())) lead.erase(0, 1);
      out[i].summary = utf8::encode(lead);
      out[i].log_prob = 0;  // deterministic: probability 1
    }
    return out;
  }

  nlohmann::json options() const override {
    return {{"chars", options_.chars}, {"seed", common_.seed}, {"threads", common_.threads}};
  }

  void save_files(const std::string& dir) const override {
    write_file_atomically(dir + "/lead.json", nlohmann::json{{"length", length_}}.dump() + "\n");
  }

  void load_files(const std::string& dir) override {
    std::ifstream in(dir + "/lead.json");
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.contains("length") || !j["length"].is_number_unsigned()) {
      throw InputError(dir + "/lead.json: missing or malformed");
    }
    length_ = j["length"].get<std::size_t>();
  }

 private:
  LeadOptions options_;
  CommonOptions common_;
  std::size_t length_ = 0;
};

}  // namespace

std::unique_ptr<Student> student_internal::make_lead(const nlohmann::json& options) {
  return std::make_unique<LeadStudent>(options);
}

}  // namespace weakdistill
