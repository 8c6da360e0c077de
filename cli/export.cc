// weakdistill export: writes a saved student in a form other tools read (docs/EXPORT.md).
#include "weakdistill/student/export.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"

namespace weakdistill::cli {
namespace {

struct ExportArgs {
  std::string model;
  std::string out;
  ExportOptions options;
};

}  // namespace

void add_export(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  CLI::App* cmd =
      app.add_subcommand("export",
                         "Write a saved student as a Hugging Face folder (bert-cls, bert-ner) or a "
                         "fastText .bin (fasttext)");
  cmd->add_option("MODEL_DIR", args->model, "Model folder written by train or run")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("OUT_DIR", args->out, "Folder to write (made; must not hold files)")->required();
  cmd->add_option("--format", args->options.format,
                  "hf: transformers' BertForSequenceClassification / BertForTokenClassification "
                  "folder, or for fasttext the .bin the fasttext command reads")
      ->capture_default_str();
  cmd->add_flag("--force", args->options.force, "Replace OUT_DIR when it holds files");
  cmd->footer(
      "Example:\n"
      "  weakdistill export runs/cls-offline/best --format hf exported/\n"
      "  python3 -c 'from transformers import pipeline; "
      "print(pipeline(\"text-classification\", model=\"exported\")(\"...\"))'\n");
  cmd->callback([args] {
    const auto files = export_student(args->model, args->out, args->options);
    spdlog::info("exported {} as {} to {}: {}", args->model, args->options.format, args->out,
                 fmt::join(files, ", "));
  });
}

}  // namespace weakdistill::cli
