// Fuzz target: the run-config loader (distill/config.h, core/yaml.h, core/options.h).
//
// Input: the YAML file; a line "#set" (a YAML comment, so seeds stay valid YAML)
// ends it, and every line after it is one `--set key=value` item. The data files
// a config names must exist: /tmp/weakdistill-fuzz/{train,dev,test,pool}.jsonl
// are made (empty) for the seeds to point at.
//
// Allowed: a RunConfig, InputError, or UsageError (a --set item without '=').
// A bug: any other exception (a YAML or JSON library exception, a filesystem
// error), a timeout or an out-of-memory, or a resolved config that does not
// survive to_yaml -> load_run_config unchanged (what `run --resume` relies on:
// the run folder's config.yaml is the resolved config).
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/target_support.h"
#include "weakdistill/core/error.h"
#include "weakdistill/distill/config.h"

namespace weakdistill::fuzz {

inline constexpr const char* kConfigDataDir = "/tmp/weakdistill-fuzz";

inline void make_config_data_files() {
  static const bool made = [] {
    std::filesystem::create_directories(kConfigDataDir);
    for (const char* name : {"train", "dev", "test", "pool"}) {
      std::ofstream(std::string(kConfigDataDir) + "/" + name + ".jsonl", std::ios::app);
    }
    return true;
  }();
  (void)made;
}

inline void config_target(std::string_view input) {
  static MemoryFile file("config-fuzz");
  make_config_data_files();
  std::string_view yaml = input;
  std::vector<std::string> sets;
  if (const auto marker = input.find("\n#set\n"); marker != std::string_view::npos) {
    yaml = input.substr(0, marker + 1);
    std::string_view rest = input.substr(marker + 6);
    while (!rest.empty()) {
      const auto eol = rest.find('\n');
      sets.emplace_back(rest.substr(0, eol));
      rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
    }
  }

  RunConfig config;
  try {
    config = load_run_config(file.write(yaml), sets);
  } catch (const InputError&) {
    return;
  } catch (const UsageError&) {
    return;
  } catch (const std::exception& e) {
    throw undocumented(e);
  }

  std::string written;
  RunConfig again;
  try {
    written = to_yaml(config.resolved);
    again = load_run_config(file.write(written));
  } catch (const std::exception& e) {
    throw Bug(std::string("the resolved config does not load again: ") + e.what() +
              "\n--- to_yaml wrote:\n" + written);
  }
  expect(again.resolved == config.resolved,
         "to_yaml -> load_run_config keeps the resolved config:\n" + written +
             "--- read back as: " +
             again.resolved.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
             "\n--- instead of:   " +
             config.resolved.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace weakdistill::fuzz
