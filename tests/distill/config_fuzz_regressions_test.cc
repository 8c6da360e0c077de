// The config fuzz target's checks (tests/fuzz/) on its corpus and on every input
// a fuzzer found, with the ordinary build; and the findings one by one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "fuzz/config_target.h"
#include "fuzz/target_support.h"
#include "weakdistill/core/error.h"
#include "weakdistill/distill/config.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;

TEST(ConfigFuzzRegressions, InputsReplay) {
  const auto inputs = fuzz::replay_inputs(WEAKDISTILL_SOURCE_DIR, "config");
  EXPECT_GE(inputs.size(), 3u);
  for (const auto& path : inputs) {
    EXPECT_NO_THROW(fuzz::config_target(fuzz::read_input(path))) << path;
  }
}

// Finding: is_regular_file() threw filesystem_error on a name too long for stat().
TEST(ConfigFuzzRegressions, DataPathTooLongIsInputError) {
  const nlohmann::json config = {{"task", "classification"},
                                 {"data", {{"train", std::string(5000, 'a')}}},
                                 {"student", {{"kind", "fasttext"}}},
                                 {"teacher", {{"kind", "pool"}}}};
  try {
    parse_run_config(config, "c.yaml");
    ADD_FAILURE() << "parsed";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("c.yaml: data.train: no such file: aaaa"));
  }
}

}  // namespace
}  // namespace weakdistill
