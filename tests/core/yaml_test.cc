#include "weakdistill/core/yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "weakdistill/core/error.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;

TEST(Yaml, TypesPlainScalarsAndKeepsQuotedOnesStrings) {
  const auto j = parse_yaml(R"(
task: classification
teacher:
  kind: openai
  base_url: [http://a:1/v1, http://b:2/v1]
  temperature: 0.9
  max_tokens: 1024
  seed: ~
  cache: off
  verify: true
  model: "123"
distill: {per_round: 100, tau: .5}
)",
                            "c.yaml");
  EXPECT_EQ(j["task"], "classification");
  EXPECT_EQ(j["teacher"]["base_url"][1], "http://b:2/v1");
  EXPECT_DOUBLE_EQ(j["teacher"]["temperature"].get<double>(), 0.9);
  EXPECT_TRUE(j["teacher"]["max_tokens"].is_number_integer());
  EXPECT_TRUE(j["teacher"]["seed"].is_null());
  EXPECT_EQ(j["teacher"]["cache"], "off");  // read as a boolean where one is expected
  EXPECT_EQ(j["teacher"]["verify"], true);
  EXPECT_EQ(j["teacher"]["model"], "123");
  EXPECT_EQ(j["distill"]["per_round"], 100);
  EXPECT_DOUBLE_EQ(j["distill"]["tau"].get<double>(), 0.5);
}

TEST(Yaml, ErrorsNameFileAndLine) {
  try {
    parse_yaml("task: ner\nteacher:\n  kind: [unclosed\n", "bad.yaml");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.yaml:"));
  }
  try {
    parse_yaml("task: ner\ntask: classification\n", "dup.yaml");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("dup.yaml:2: duplicate key \"task\""));
  }
  EXPECT_THROW(read_yaml_file("/no/such/config.yaml"), InputError);
  EXPECT_TRUE(parse_yaml("", "empty.yaml").is_object());
}

TEST(Yaml, NanAndInfStayText) {
  const auto j = parse_yaml("a: nan\nb: inf\nc: 1e3\nd: -4\n", "x.yaml");
  EXPECT_EQ(j["a"], "nan");
  EXPECT_EQ(j["b"], "inf");
  EXPECT_DOUBLE_EQ(j["c"].get<double>(), 1000.0);
  EXPECT_EQ(j["d"], -4);
}

}  // namespace
}  // namespace weakdistill
