// weakdistill train: trains a student from scratch and saves its model folder.
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/options.h"
#include "weakdistill/student/student.h"

namespace weakdistill::cli {
namespace {

struct TrainArgs {
  std::string task;
  std::string kind;
  std::string train;
  std::string dev;
  std::string out;
  std::vector<std::string> set;
};

void run_train(const TrainArgs& a) {
  const Task task = parse_task(a.task);
  const std::string kind = a.kind.empty() ? student_kinds(task).at(0) : a.kind;
  auto student = make_student(task, kind, parse_assignments(a.set));
  const Dataset train = read_jsonl(a.train, task);
  Dataset dev;
  if (!a.dev.empty()) dev = read_jsonl(a.dev, task);
  spdlog::info("training a {} {} student on {} samples{}", kind, task_name(task),
               train.samples.size(),
               a.dev.empty() ? "" : fmt::format(" (dev: {})", dev.samples.size()));
  student->on_epoch = [](const EpochReport& r) {
    std::string dev_part;
    if (r.dev_metric >= 0)
      dev_part = fmt::format("  dev {} {:.4f}", r.dev_metric_name, r.dev_metric);
    spdlog::info("epoch {}/{}  loss {:.4f}{}  ({:.1f}s)", r.epoch, r.epochs, r.train_loss, dev_part,
                 r.seconds);
  };
  student->train(train.samples, dev.samples);
  save_student(*student, a.out);
  spdlog::info("saved the model to {}", a.out);
}

}  // namespace

void add_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a student from scratch and save it");
  cmd->add_option("--task", args->task, "classification, ner or summarization")
      ->required()
      ->check(CLI::IsMember({"classification", "ner", "summarization", "cls", "sum"}));
  cmd->add_option("--student", args->kind,
                  "Student kind (classification: fasttext, textcnn, bert-cls; ner: bigru-crf, "
                  "bert-ner, uie; summarization: pointer-generator, lead, seq2seq; any task: "
                  "command); the first of a task is its default");
  cmd->add_option("--train", args->train, "Training JSONL file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--dev", args->dev, "Dev JSONL file, evaluated after each epoch")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out, "Model folder to write (replaced if it exists)")->required();
  cmd->add_option("--set", args->set,
                  "A student option, key=value (repeatable); see docs/STUDENTS.md")
      ->allow_extra_args(false);
  cmd->footer(
      "Example:\n"
      "  weakdistill train --task classification --student fasttext \\\n"
      "      --train data/cls/train.jsonl --dev data/cls/dev.jsonl --out models/cls \\\n"
      "      --set epochs=30 --set lr=0.5\n");
  cmd->callback([args] { run_train(*args); });
}

}  // namespace weakdistill::cli
