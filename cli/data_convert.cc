// weakdistill data convert: NER data between character BIO and JSON Lines.
#include <spdlog/spdlog.h>

#include <memory>

#include "commands.h"
#include "weakdistill/core/bio.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"

namespace weakdistill::cli {
namespace {

struct ConvertArgs {
  std::string from;
  std::string to;
  std::string input;
  std::string output;
};

void run_convert(const ConvertArgs& a) {
  if (a.from == a.to) throw UsageError("--from and --to are both " + a.from + "; nothing to do");
  Dataset ds;
  if (a.from == "bio") {
    std::size_t repairs = 0;
    ds = read_bio(a.input, &repairs);
    if (repairs > 0) {
      spdlog::warn("{}: {} I- tags did not continue an entity of their type and started one",
                   a.input, repairs);
    }
  } else {
    ds = read_jsonl(a.input, Task::kNer);
  }
  if (a.to == "bio") {
    write_bio(a.output, ds.samples);
  } else {
    write_jsonl(a.output, ds.samples, Task::kNer);
  }
  std::size_t entities = 0;
  for (const Sample& s : ds.samples) entities += s.entities.size();
  spdlog::info("wrote {} sentences, {} entities to {}", ds.samples.size(), entities, a.output);
}

}  // namespace

void add_data_convert(CLI::App& data) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = data.add_subcommand("convert", "Convert NER data between BIO and JSON Lines");
  cmd->add_option("--from", args->from, "Input format")
      ->required()
      ->check(CLI::IsMember({"bio", "jsonl"}));
  cmd->add_option("--to", args->to, "Output format")
      ->required()
      ->check(CLI::IsMember({"bio", "jsonl"}));
  cmd->add_option("IN", args->input, "Input file")->required()->check(CLI::ExistingFile);
  cmd->add_option("OUT", args->output, "Output file (written atomically)")->required();
  cmd->footer(
      "BIO: one \"CHAR TAG\" pair a line (tags O, B-TYPE, I-TYPE), a blank line after each\n"
      "sentence. JSONL: {\"text\", \"entities\": [{\"start\", \"end\", \"type\", \"text\"}]}.\n\n"
      "Example:\n"
      "  weakdistill data convert --from bio --to jsonl data/ner/train.bio train.jsonl\n");
  cmd->callback([args] { run_convert(*args); });
}

}  // namespace weakdistill::cli
