// The `command` student: a model trained and run by the user's own programs
// (ERNIE, UIE, Pegasus in a Python stack), driven through files. The protocol
// is in docs/STUDENTS.md.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>

#include "kinds_internal.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/subprocess.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {
namespace fs = std::filesystem;

struct CommandOptions {
  // Shell command that trains: reads {train} and {dev}, writes the model into {model}.
  std::string train;
  // Shell command that predicts: reads {model} and {input}, writes {output}.
  std::string predict;
};

// A temporary folder that lives as long as its owner.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "weakdistill-command-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("cannot create a temporary folder");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

class CommandStudent : public Student {
 public:
  CommandStudent(Task task, const nlohmann::json& options) : task_(task) {
    OptionReader r(options, "student");
    common_ = student_internal::read_common(r);
    r.get("train", options_.train);
    r.get("predict", options_.predict);
    r.finish();
    if (options_.train.empty())
      throw InputError("student.train: the command student needs a train command");
    if (options_.predict.empty()) {
      throw InputError("student.predict: the command student needs a predict command");
    }
    // Check the placeholders now rather than after a long training.
    expand_command(options_.train, placeholders("", "", "", "", ""), "student.train");
    expand_command(options_.predict, placeholders("", "", "", "", ""), "student.predict");
  }

  Task task() const override { return task_; }
  std::string_view kind() const override { return "command"; }

  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override {
    if (train.empty()) throw InputError("command student: no training samples");
    work_ = std::make_unique<ScratchDir>();
    model_dir_ = work_->file("model");
    fs::create_directories(model_dir_);
    write_jsonl(work_->file("train.jsonl"), train, task_);
    write_jsonl(work_->file("dev.jsonl"), dev, task_);  // empty file when there is no dev set
    const std::string cmd = expand_command(
        options_.train,
        placeholders(work_->file("train.jsonl"), work_->file("dev.jsonl"), model_dir_, "", ""),
        "student.train");
    run("train", cmd);
    if (on_epoch) {
      EpochReport report;
      report.epoch = report.epochs = 1;
      if (!dev.empty()) {
        std::tie(report.dev_metric, report.dev_metric_name) =
            student_internal::dev_metric(task_, dev, predict(dev));
      }
      on_epoch(report);
    }
  }

  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    if (model_dir_.empty())
      throw std::logic_error("command student: predict() before train() or load");
    if (inputs.empty()) return {};
    ScratchDir io;
    {
      // Inputs carry only an id (their index) and the text, whatever the task.
      AtomicFile file(io.file("input.jsonl"));
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        file.stream()
            << nlohmann::ordered_json{{"id", std::to_string(i)}, {"text", inputs[i].text}}.dump()
            << '\n';
      }
      file.commit();
    }
    const std::string cmd = expand_command(
        options_.predict,
        placeholders("", "", model_dir_, io.file("input.jsonl"), io.file("output.jsonl")),
        "student.predict");
    run("predict", cmd);
    if (!fs::exists(io.file("output.jsonl"))) {
      throw std::runtime_error("command student: the predict command wrote no output file");
    }
    ReadOptions ro;
    ro.prediction = true;
    ro.allow_empty = false;
    Dataset out;
    try {
      out = read_jsonl(io.file("output.jsonl"), task_, ro);
    } catch (const InputError& e) {
      throw std::runtime_error(
          std::string("command student: the predict command's output is invalid: ") + e.what());
    }
    if (out.samples.size() != inputs.size()) {
      throw std::runtime_error("command student: the predict command wrote " +
                               std::to_string(out.samples.size()) + " predictions for " +
                               std::to_string(inputs.size()) + " inputs");
    }
    std::vector<Prediction> result(inputs.size());
    for (std::size_t k = 0; k < out.samples.size(); ++k) {
      const Sample& s = out.samples[k];
      std::size_t i = k;
      if (s.id) {
        // The output may be reordered when it keeps the ids it was given.
        const auto parsed = parse_index(*s.id);
        if (!parsed || *parsed >= inputs.size()) {
          throw std::runtime_error(
              "command student: the predict command's output has an unknown id \"" + *s.id + "\"");
        }
        i = *parsed;
      }
      Prediction& p = result[i];
      p.label = s.label;
      p.entities = s.entities;
      if (task_ == Task::kNer) {
        try {
          check_entities(utf8::decode(inputs[i].text), p.entities,
                         "prediction " + std::to_string(i));
        } catch (const InputError& e) {
          throw std::runtime_error(
              std::string("command student: the predict command's output is invalid: ") + e.what());
        }
      }
      p.summary = s.summary;
      const auto scores = s.extra.find("scores");
      if (task_ == Task::kClassification) {
        if (scores != s.extra.end() && scores->is_object()) {
          for (const auto& [label, v] : scores->items()) {
            if (v.is_number()) p.label_probs[label] = v.get<double>();
          }
        }
        if (p.label_probs.empty()) p.label_probs[p.label] = 1.0;
      } else if (scores != s.extra.end() && scores->is_object() && scores->contains("log_prob") &&
                 (*scores)["log_prob"].is_number()) {
        p.log_prob = (*scores)["log_prob"].get<double>();
      }
    }
    return result;
  }

  nlohmann::json options() const override {
    return {{"train", options_.train},
            {"predict", options_.predict},
            {"seed", common_.seed},
            {"threads", common_.threads}};
  }

  void save_files(const std::string& dir) const override {
    if (model_dir_.empty()) throw std::logic_error("command student: save before train");
    fs::copy(model_dir_, fs::path(dir) / "external", fs::copy_options::recursive);
  }

  void load_files(const std::string& dir) override {
    const fs::path external = fs::absolute(fs::path(dir) / "external");
    if (!fs::is_directory(external))
      throw InputError(dir + ": no external/ folder (incomplete model)");
    model_dir_ = external.string();
  }

 private:
  std::map<std::string, std::string> placeholders(const std::string& train, const std::string& dev,
                                                  const std::string& model,
                                                  const std::string& input,
                                                  const std::string& output) const {
    return {{"task", std::string(task_name(task_))},
            {"train", train},
            {"dev", dev},
            {"model", model},
            {"input", input},
            {"output", output},
            {"seed", std::to_string(common_.seed)},
            {"threads", std::to_string(common_.threads)}};
  }

  static std::optional<std::size_t> parse_index(const std::string& id) {
    if (id.empty() || id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    return std::stoul(id);
  }

  void run(const char* what, const std::string& cmd) const {
    spdlog::debug("command student: {}: {}", what, cmd);
    const int status = run_shell(cmd);
    if (status != 0) {
      throw std::runtime_error(std::string("command student: the ") + what +
                               " command exited with status " + std::to_string(status) + ": " +
                               cmd);
    }
  }

  Task task_;
  CommandOptions options_;
  CommonOptions common_;
  std::unique_ptr<ScratchDir> work_;
  std::string model_dir_;
};

}  // namespace

std::unique_ptr<Student> student_internal::make_command(Task task, std::string_view,
                                                        const nlohmann::json& options) {
  return std::make_unique<CommandStudent>(task, options);
}

}  // namespace weakdistill
