// Each subcommand lives in its own file and registers itself on the app; its
// callback throws library exceptions, which main() turns into exit codes.
#pragma once

#include <CLI/CLI.hpp>

namespace weakdistill::cli {

void add_eval(CLI::App& app);
void add_train(CLI::App& app);
void add_predict(CLI::App& app);
void add_export(CLI::App& app);
void add_serve(CLI::App& app);
void add_teacher(CLI::App& app);
void add_run(CLI::App& app);
void add_compare(CLI::App& app);
void add_plot(CLI::App& app);
void add_report(CLI::App& app);
void add_embed(CLI::App& app);
void add_diversity(CLI::App& app);
void add_data_convert(CLI::App& data);
void add_data_stats(CLI::App& data);
void add_data_sample(CLI::App& data);

}  // namespace weakdistill::cli
