// weakdistill: distills an LLM into a small task model (see README.md).
// Exit codes: 0 success, 1 runtime failure, 2 bad input or usage, 130 interrupted by Ctrl-C
// (SIGINT), 143 by SIGTERM.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "weakdistill/core/error.h"

int main(int argc, char** argv) {
  // Logs go to stderr; stdout is for results.
  spdlog::set_default_logger(spdlog::stderr_color_mt("weakdistill"));
  spdlog::set_pattern("[%H:%M:%S] %^%l%$: %v");

  CLI::App app{
      "weakdistill: weakness-enhanced distillation of an LLM into a small task model\n"
      "(classification, named-entity recognition, summarization).",
      "weakdistill"};
  app.set_version_flag("--version", std::string("weakdistill ") + WEAKDISTILL_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  weakdistill eval --task ner --gold data/ner/test.jsonl --pred pred.jsonl\n"
      "  weakdistill data stats data/cls/train.jsonl --task classification\n"
      "Run 'weakdistill COMMAND --help' for a command's options. Docs: docs/ in the repository.");
  bool verbose = false;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbose, "Log debugging detail to stderr");
  app.add_flag("-q,--quiet", quiet, "Log only warnings and errors");
  app.parse_complete_callback([&] {
    spdlog::set_level(verbose ? spdlog::level::debug
                      : quiet ? spdlog::level::warn
                              : spdlog::level::info);
  });

  weakdistill::cli::add_run(app);
  weakdistill::cli::add_compare(app);
  weakdistill::cli::add_report(app);
  weakdistill::cli::add_plot(app);
  weakdistill::cli::add_train(app);
  weakdistill::cli::add_predict(app);
  weakdistill::cli::add_export(app);
  weakdistill::cli::add_serve(app);
  weakdistill::cli::add_eval(app);
  weakdistill::cli::add_teacher(app);
  weakdistill::cli::add_embed(app);
  weakdistill::cli::add_diversity(app);
  CLI::App* data = app.add_subcommand("data", "Convert, describe and split datasets");
  data->require_subcommand(1);
  weakdistill::cli::add_data_convert(*data);
  weakdistill::cli::add_data_stats(*data);
  weakdistill::cli::add_data_sample(*data);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a command's own exit status (teacher try: 1 when requests failed)
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const weakdistill::InputError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const weakdistill::UsageError& e) {
    spdlog::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
