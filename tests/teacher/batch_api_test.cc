#include "weakdistill/teacher/batch_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using State = BatchLineResult::State;

TEST(BatchApi, RequestLineKeepsTheBodysKeyOrder) {
  const std::string line = batch_request_line({"k1", R"({"model":"m","messages":[],"b":1,"a":2})"});
  EXPECT_EQ(line,
            R"({"custom_id":"k1","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[],"b":1,"a":2}})");
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["body"]["a"], 2);
}

TEST(BatchApi, ReadsResultsByCustomIdInAnyOrder) {
  const std::string text =
      R"({"id":"r2","custom_id":"b","response":{"status_code":200,"body":{"choices":[]}},"error":null})"
      "\n\n"
      R"({"id":"r9","custom_id":"zz","response":{"status_code":200,"body":{}},"error":null})"
      "\n"
      R"({"id":"r1","custom_id":"a","response":{"status_code":429,"body":{"error":{"message":"slow down"}}},"error":null})"
      "\n"
      R"({"id":"r3","custom_id":"c","response":null,"error":{"code":"batch_expired","message":"not done"}})"
      "\n"
      R"({"id":"r4","custom_id":"d","response":{"status_code":400,"body":{"error":{"message":"bad"}}},"error":null})"
      "\n"
      R"({"id":"r5","custom_id":"e","response":{"status_code":400,"request_id":"x","body":null},"error":"prompt too long"})"
      "\n";
  BatchResultsRead read;
  read_batch_results(text, "out.jsonl", {"a", "b", "c", "d", "e", "f"}, true, read);
  ASSERT_EQ(read.results.size(), 6u);
  EXPECT_EQ(read.results[0].state, State::kFailed);
  EXPECT_EQ(read.results[0].status, 429);
  EXPECT_TRUE(read.results[0].retryable);
  EXPECT_THAT(read.results[0].error, HasSubstr("slow down"));
  EXPECT_EQ(read.results[1].state, State::kAnswered);
  EXPECT_TRUE(read.results[1].body.contains("choices"));
  EXPECT_EQ(read.results[2].state, State::kFailed);
  EXPECT_THAT(read.results[2].error, HasSubstr("batch_expired"));
  EXPECT_TRUE(read.results[2].retryable);
  EXPECT_EQ(read.results[3].state, State::kFailed);
  EXPECT_FALSE(read.results[3].retryable);
  EXPECT_EQ(read.results[4].state, State::kFailed);
  EXPECT_EQ(read.results[4].error, "HTTP 400: prompt too long");
  EXPECT_EQ(read.results[5].state, State::kMissing);
  EXPECT_EQ(read.unknown, std::vector<std::string>{"zz"});
}

TEST(BatchApi, AMalformedResultLineNamesFileAndLineWhenStrict) {
  const std::string text =
      R"({"custom_id":"a","response":{"status_code":200,"body":{}},"error":null})"
      "\n{not json\n";
  BatchResultsRead read;
  try {
    read_batch_results(text, "results.jsonl", {"a"}, true, read);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("results.jsonl:2: not a JSON object"));
  }
  BatchResultsRead lenient;
  read_batch_results(text + R"({"response":{}})" "\n", "x", {"a"}, false, lenient);
  EXPECT_EQ(lenient.bad_lines, 2u);
  EXPECT_EQ(lenient.results[0].state, State::kAnswered);
}

TEST(BatchApi, SplitsWithinLineAndByteLimits) {
  using Parts = std::vector<std::pair<std::size_t, std::size_t>>;
  EXPECT_EQ(split_batch({10, 10, 10, 10, 10}, 2, 1000), (Parts{{0, 2}, {2, 4}, {4, 5}}));
  // 11 bytes a line with its newline: 22 fit in 25, 33 do not.
  EXPECT_EQ(split_batch({10, 10, 10}, 100, 25), (Parts{{0, 2}, {2, 3}}));
  // A line over the byte limit goes alone.
  EXPECT_EQ(split_batch({5, 50, 5}, 100, 20), (Parts{{0, 1}, {1, 2}, {2, 3}}));
  EXPECT_TRUE(split_batch({}, 10, 10).empty());
}

TEST(BatchApi, JournalKeepsOpenBatchesAcrossConnections) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "run.sqlite").string();
  {
    BatchJournal j(path);
    j.opened({"batch_1", "file-1", {"a", "b"}});
    j.opened({"batch_2", "file-2", {"c"}});
    j.closed("batch_1", "completed");
  }
  BatchJournal j(path);
  const auto open = j.open_batches();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, "batch_2");
  EXPECT_EQ(open[0].input_file_id, "file-2");
  EXPECT_EQ(open[0].custom_ids, std::vector<std::string>{"c"});
  const auto all = j.all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]["status"], "completed");
  EXPECT_EQ(all[0]["lines"], 2);
}

}  // namespace
}  // namespace weakdistill
