// The reply_parser fuzz target's checks (tests/fuzz/) on its corpus and on every
// input a fuzzer found, with the ordinary build; and the findings one by one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "fuzz/reply_parser_target.h"
#include "fuzz/target_support.h"
#include "weakdistill/teacher/reply_parser.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;

TEST(ReplyParserFuzzRegressions, InputsReplay) {
  const auto inputs = fuzz::replay_inputs(WEAKDISTILL_SOURCE_DIR, "reply_parser");
  EXPECT_GE(inputs.size(), 5u);
  for (const auto& path : inputs) {
    EXPECT_NO_THROW(fuzz::reply_parser_target(fuzz::read_input(path))) << path;
  }
}

// Finding: an entity nested a million deep overflowed the stack (dump() for the message).
TEST(ReplyParserFuzzRegressions, DeepNestingIsRejectedAndSkipped) {
  const std::string deep = "{\"text\": \"张伟在北京\", \"entities\": [" +
                           std::string(1'000'000, '[') + std::string(1'000'000, ']') + "]}";
  const ParsedReply r = parse_reply(Task::kNer, deep, "stop");
  ASSERT_TRUE(r.rejection);
  EXPECT_EQ(r.rejection->reason, RejectReason::kUnparseable);
  EXPECT_THAT(r.rejection->detail, HasSubstr("it nests deeper than 64 levels"));

  const ParsedReply later =
      parse_reply(Task::kNer,
                  deep +
                      "\n{\"text\": \"张伟在北京\", \"entities\": [{\"text\": \"北京\", "
                      "\"type\": \"LOC\"}]}",
                  "stop");
  ASSERT_TRUE(later.sample);
  ASSERT_EQ(later.sample->entities.size(), 1u);
  EXPECT_EQ(later.sample->entities[0].text, "北京");
}

}  // namespace
}  // namespace weakdistill
