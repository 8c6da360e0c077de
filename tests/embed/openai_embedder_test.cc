#include "weakdistill/embed/openai_embedder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "fake/fake_openai_server.h"
#include "support/temp_dir.h"
#include "weakdistill/core/error.h"

namespace weakdistill {
namespace {

using testing::FakeOpenAIServer;
using testing::FakeServerOptions;
using testing::Fault;
using ::testing::HasSubstr;

nlohmann::json section(const FakeOpenAIServer& server) {
  return {{"kind", "openai"},        {"base_url", server.base_url()},
          {"model", "bge-small-zh"}, {"batch_size", 3},
          {"concurrency", 2},        {"backoff_initial_s", 0.01},
          {"backoff_max_s", 0.02},   {"timeout_s", 60}};
}

std::vector<float> row(const EmbeddingMatrix& m, std::size_t i) {
  return std::vector<float>(m.row(i), m.row(i) + m.dim());
}

TEST(OpenAIEmbedder, BatchesKeepInputOrderAndNormalise) {
  FakeServerOptions so;
  so.embedding_dim = 16;
  FakeOpenAIServer server(so);
  auto e = make_embedder(section(server));
  EXPECT_EQ(e->kind(), "openai");
  const std::vector<std::string> texts = {"一", "二", "三", "四", "五", "六", "七"};
  const EmbeddingMatrix m = e->embed(texts);
  ASSERT_EQ(m.rows(), 7u);
  ASSERT_EQ(m.dim(), 16u);
  EXPECT_EQ(e->dim(), 16u);
  // 7 texts in batches of 3: 3 requests, each with at most 3 inputs.
  EXPECT_EQ(server.requests(), 3u);
  for (const auto& body : server.bodies()) {
    EXPECT_EQ(body["model"], "bge-small-zh");
    EXPECT_LE(body["input"].size(), 3u);
  }
  // The fake server returns each batch's items in reverse order; every row must
  // still be its own text's vector: embedding one text alone gives the same row.
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const EmbeddingMatrix one = e->embed({texts[i]});
    EXPECT_EQ(row(one, 0), row(m, i)) << i;
    double norm = 0;
    for (float x : row(m, i)) norm += static_cast<double>(x) * x;
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
}

TEST(OpenAIEmbedder, EmptyTextsAreZeroRowsAndDuplicatesAskedOnce) {
  FakeOpenAIServer server;
  auto e = make_embedder(section(server));
  const EmbeddingMatrix m = e->embed({"甲", "", "甲", "乙"});
  EXPECT_EQ(server.requests(), 1u);
  EXPECT_EQ(server.bodies()[0]["input"].size(), 2u);
  EXPECT_EQ(row(m, 0), row(m, 2));
  for (float x : row(m, 1)) EXPECT_EQ(x, 0.0f);
}

TEST(OpenAIEmbedder, CachedVectorsAreNotAskedAgain) {
  FakeOpenAIServer server;
  testing::TempDir dir;
  const std::string db = dir.file("run.sqlite");
  std::vector<float> first;
  {
    auto e = make_embedder(section(server), db);
    first = row(e->embed({"甲", "乙"}), 1);
  }
  const std::size_t asked = server.requests();
  auto again = make_embedder(section(server), db);
  const EmbeddingMatrix m = again->embed({"乙", "甲"});
  EXPECT_EQ(server.requests(), asked);
  EXPECT_EQ(row(m, 0), first);
  EXPECT_EQ(again->dim(), m.dim());
}

TEST(OpenAIEmbedder, RetriesThenFailsClearly) {
  FakeOpenAIServer server;
  server.push_fault(Fault::status_code(503));
  server.push_fault(Fault::reset());
  auto e = make_embedder(section(server));
  EXPECT_EQ(e->embed({"甲"}).rows(), 1u);
  EXPECT_EQ(server.requests(), 3u);

  server.push_faults(20, Fault::status_code(500));
  auto j = section(server);
  j["max_retries"] = 1;
  auto flaky = make_embedder(j);
  try {
    flaky->embed({"丙"});
    ADD_FAILURE();
  } catch (const std::runtime_error& err) {
    EXPECT_THAT(err.what(), HasSubstr("HTTP 500"));
  }
  FakeOpenAIServer other;
  other.push_fault(Fault::status_code(404));
  EXPECT_THROW(make_embedder(section(other))->embed({"丁"}), HttpFatalError);
}

// Replies of unexpected shapes stop the embedding with a message naming the field, never with
// an exception from the JSON library.
TEST(OpenAIEmbedder, RepliesOfUnexpectedShapesFailNamingTheField) {
  const std::pair<std::string, std::string> cases[] = {
      {R"({"data": [{"index": 0, "embedding": null}, {"index": 1, "embedding": [1]}]})",
       "data[0].embedding is null"},
      {R"({"data": [{"embedding": [1, 2]}, {"index": 1, "embedding": [1, 2]}]})",
       "data[0].index is missing"},
      {R"({"data": [{"index": 0, "embedding": [1, 2, 3]}, {"index": 1, "embedding": [1]}]})",
       "has 1 numbers where 3 were expected"},
      {R"({"data": {"index": 0}})", "\"data\" is an object, not an array"},
      {R"({"error": {"message": {"reason": "overloaded"}}})", "the reply is an error"},
  };
  for (const auto& [body, expect] : cases) {
    FakeOpenAIServer server;
    server.push_fault(Fault::reply_body(body));
    auto e = make_embedder(section(server));
    try {
      e->embed({"甲", "乙"});
      ADD_FAILURE() << body;
    } catch (const std::runtime_error& err) {
      EXPECT_THAT(err.what(), HasSubstr(expect)) << body;
      EXPECT_THAT(err.what(), HasSubstr("embedder at " + server.base_url())) << body;
    }
  }
  // A server that does not say which input each vector is: the order of the inputs.
  FakeOpenAIServer plain;
  plain.push_fault(Fault::reply_body(R"({"data": [{"embedding": [0, 3]}, {"embedding": [4, 0]}]})"));
  const EmbeddingMatrix m = make_embedder(section(plain))->embed({"甲", "乙"});
  EXPECT_EQ(row(m, 0), (std::vector<float>{0, 1}));
  EXPECT_EQ(row(m, 1), (std::vector<float>{1, 0}));
}

TEST(OpenAIEmbedder, OptionErrorsNameTheKey) {
  const nlohmann::json base = {
      {"kind", "openai"}, {"base_url", "http://127.0.0.1:8080/v1"}, {"model", "bge"}};
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"batch_size", 0}, {"concurrency", 0}, {"base_url", "tcp://x"}, {"batchsize", 3}}) {
    nlohmann::json j = base;
    j[key] = value;
    try {
      make_embedder(j);
      ADD_FAILURE() << key;
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr("embedder")) << key;
      EXPECT_THAT(e.what(), HasSubstr(key)) << e.what();
    }
  }
  nlohmann::json no_model = base;
  no_model.erase("model");
  EXPECT_THROW(make_embedder(no_model), InputError);
}

}  // namespace
}  // namespace weakdistill
