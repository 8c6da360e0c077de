#include "weakdistill/core/json_excerpt.h"

#include <gtest/gtest.h>

namespace weakdistill {
namespace {

using json = nlohmann::json;

TEST(JsonExcerpt, CutsWithoutSplittingACharacterAndNamesDeepValues) {
  EXPECT_EQ(json_excerpt(json{{"a", 1}}), "{\"a\":1}");
  const std::string cut = json_excerpt(json("一二三四五六"), 8);  // "\"一二 is 7 bytes
  EXPECT_EQ(cut, "\"一二...");
  json deep = json::array();
  for (int i = 0; i < 400; ++i) deep = json::array({deep});
  EXPECT_NE(json_excerpt(deep).find("nested"), std::string::npos) << json_excerpt(deep);
}

TEST(ErrorMessage, EveryShapeServersSend) {
  EXPECT_EQ(error_message(json("model not found")), "model not found");
  EXPECT_EQ(error_message(json{{"message", "too long"}, {"type", "invalid_request_error"}}),
            "too long");
  EXPECT_EQ(error_message(json{{"message", {{"detail", "x"}}}}), "{\"detail\":\"x\"}");
  EXPECT_EQ(error_message(json{{"code", 400}}), "{\"code\":400}");
  EXPECT_EQ(error_message(json{{"message", nullptr}, {"code", 1}}), "{\"code\":1,\"message\":null}");
  EXPECT_EQ(error_message(json(42)), "42");
  EXPECT_EQ(error_message(json::array({"a", "b"})), "[\"a\",\"b\"]");
  // Long values are cut to the limit.
  EXPECT_LE(error_message(json{{"message", json::array({std::string(500, 'x')})}}, 50).size(),
            53u);
}

}  // namespace
}  // namespace weakdistill
