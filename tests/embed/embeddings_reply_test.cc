// The embeddings reply reader on the shapes real servers send; the vectors are worked out by
// hand (3-4-5 triangles).
#include "weakdistill/embed/embeddings_reply.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace weakdistill {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using nlohmann::json;

std::string refused(const json& body, std::size_t n, std::size_t dim = 0) {
  std::string why;
  EXPECT_FALSE(read_embeddings_reply(body, n, dim, why)) << body.dump();
  return why;
}

TEST(EmbeddingsReply, PlacesItemsByIndexAndNormalises) {
  const json body = {{"object", "list"},
                     {"data",
                      {{{"object", "embedding"}, {"index", 1}, {"embedding", {3, 4}}},
                       {{"object", "embedding"}, {"index", 0}, {"embedding", {0, -2}}}}}};
  std::string why;
  const auto v = read_embeddings_reply(body, 2, 0, why);
  ASSERT_TRUE(v) << why;
  EXPECT_THAT((*v)[0], ElementsAre(FloatNear(0, 1e-7), FloatNear(-1, 1e-7)));
  EXPECT_THAT((*v)[1], ElementsAre(FloatNear(0.6, 1e-7), FloatNear(0.8, 1e-7)));
}

TEST(EmbeddingsReply, WithoutIndexesTakesTheOrderAndKeepsZeroVectors) {
  std::string why;
  const auto v =
      read_embeddings_reply({{"data", {{{"embedding", {0, 0}}}, {{"embedding", {4e30, 3e30}}}}}},
                            2, 2, why);
  ASSERT_TRUE(v) << why;
  EXPECT_THAT((*v)[0], ElementsAre(0.0f, 0.0f));
  // Squares past a float's range are summed in double.
  EXPECT_THAT((*v)[1], ElementsAre(FloatNear(0.8, 1e-6), FloatNear(0.6, 1e-6)));
}

TEST(EmbeddingsReply, RefusalsNameTheField) {
  EXPECT_EQ(refused(json::array(), 1), "the reply is an array, not an object");
  EXPECT_EQ(refused(json::object(), 1), "the reply has no \"data\"");
  EXPECT_EQ(refused({{"error", {{"message", "too long"}}}}, 1),
            "the reply is an error: too long");
  EXPECT_EQ(refused({{"data", nullptr}}, 1), "\"data\" is null, not an array");
  EXPECT_EQ(refused({{"data", json::array()}}, 2), "\"data\" holds 0 items for 2 inputs");
  EXPECT_EQ(refused({{"data", {3}}}, 1), "data[0] is a number, not an object");
  EXPECT_EQ(refused({{"data", {{{"index", 0}, {"embedding", nullptr}}}}}, 1),
            "data[0].embedding is null, not an array of numbers");
  EXPECT_EQ(refused({{"data", {{{"index", 0}}}}}, 1), "data[0].embedding is missing");
  EXPECT_EQ(refused({{"data", {{{"index", 0}, {"embedding", json::array()}}}}}, 1),
            "data[0].embedding is empty, not an array of numbers");
  EXPECT_EQ(refused({{"data", {{{"index", 0}, {"embedding", "AAAA"}}}}}, 1),
            "data[0].embedding is a string (base64?); the embedder asks for float arrays");
  EXPECT_EQ(refused({{"data", {{{"index", 0}, {"embedding", {1, "2"}}}}}}, 1),
            "data[0].embedding[1] is a string, not a number");
  EXPECT_EQ(refused({{"data", {{{"index", 0}, {"embedding", {1, 1e300}}}}}}, 1),
            "data[0].embedding[1] is out of a float's range, not a number");
  const json two_items = {{"data",
                           {{{"index", 0}, {"embedding", {1, 0}}},
                            {{"embedding", {0, 1}}}}}};
  EXPECT_EQ(refused(two_items, 2), "data[1].index is missing (other items have one)");
  EXPECT_EQ(refused({{"data", {{{"index", 0}, {"embedding", {1}}}, {{"index", 0}, {"embedding", {1}}}}}},
                    2),
            "data[1].index repeats 0");
  EXPECT_EQ(refused({{"data", {{{"index", 5}, {"embedding", {1}}}}}}, 1),
            "data[0].index is 5, outside 0..0");
  EXPECT_EQ(refused({{"data", {{{"index", "0"}, {"embedding", {1}}}}}}, 1),
            "data[0].index is a string, not an integer");
  EXPECT_EQ(refused({{"data", {{{"embedding", {1, 0}}}, {{"embedding", {1, 0, 0}}}}}}, 2),
            "the vector of input 1 has 3 numbers where 2 were expected");
  EXPECT_EQ(refused({{"data", {{{"embedding", {1, 0}}}}}}, 1, 8),
            "the vector of input 0 has 2 numbers where 8 were expected (embedder.dim)");
}

}  // namespace
}  // namespace weakdistill
