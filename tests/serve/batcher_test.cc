// The batcher on a student that records its calls: requests are batched up to max_batch texts
// and never split, a batch waits for the oldest request's deadline at most, drain() stops the
// waiting, and a failing predict() fails exactly the requests of its batch.
#include "weakdistill/serve/batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "support/recording_student.h"

namespace weakdistill::serve {
namespace {

using Recorder = testing::RecordingStudent;

std::vector<Sample> texts(std::initializer_list<const char*> t) {
  std::vector<Sample> out;
  for (const char* s : t) {
    Sample sample;
    sample.text = s;
    out.push_back(std::move(sample));
  }
  return out;
}

TEST(Batcher, ConcurrentRequestsShareOneCallAndGetTheirOwnAnswers) {
  Recorder student;
  // A wait far longer than any test: the batch is made by filling, not by the clock.
  PredictBatcher batcher(student, {.max_batch = 6, .max_wait_ms = 600000});
  std::vector<std::thread> clients;
  std::vector<std::vector<Prediction>> got(3);
  for (int c = 0; c < 3; ++c) {
    clients.emplace_back([&, c] {
      const std::string a = "a" + std::to_string(c), b = "b" + std::to_string(c);
      got[c] = batcher.predict(texts({a.c_str(), b.c_str()}));
    });
  }
  for (auto& t : clients) t.join();
  ASSERT_EQ(student.calls, std::vector<std::size_t>({6}));
  for (int c = 0; c < 3; ++c) {
    ASSERT_EQ(got[c].size(), 2u);
    EXPECT_EQ(got[c][0].label, "label of a" + std::to_string(c));
    EXPECT_EQ(got[c][1].label, "label of b" + std::to_string(c));
  }
}

TEST(Batcher, ARequestLargerThanABatchIsPredictedWholeAndAloneAndZeroWaitDoesNotWait) {
  Recorder student;
  PredictBatcher batcher(student, {.max_batch = 2, .max_wait_ms = 0});
  const auto out = batcher.predict(texts({"x", "y", "z"}));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].label, "label of z");
  EXPECT_EQ(student.calls, std::vector<std::size_t>({3}));
  EXPECT_TRUE(batcher.predict({}).empty());
  EXPECT_EQ(student.calls.size(), 1u);
}

TEST(Batcher, DrainAnswersAHeldRequestAtOnce) {
  Recorder student;
  PredictBatcher batcher(student, {.max_batch = 100, .max_wait_ms = 600000});
  std::atomic<bool> answered{false};
  std::thread client([&] {
    batcher.predict(texts({"held"}));
    answered = true;
  });
  // drain() may come before or after the request queues: either way it is answered.
  batcher.drain();
  client.join();
  EXPECT_TRUE(answered);
  EXPECT_EQ(student.calls, std::vector<std::size_t>({1}));
}

TEST(Batcher, AFailingBatchFailsItsOwnRequestsOnly) {
  Recorder student;
  PredictBatcher batcher(student, {.max_batch = 2, .max_wait_ms = 600000});
  std::vector<std::string> result(2);
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      try {
        batcher.predict(texts({c == 0 ? "fail" : "fine"}));
        result[c] = "ok";
      } catch (const std::exception& e) {
        result[c] = e.what();
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(result[0], "the model failed");
  EXPECT_EQ(result[1], "the model failed");  // same batch
  batcher.drain();                           // the next request alone need not wait for a partner
  EXPECT_EQ(batcher.predict(texts({"later"}))[0].label, "label of later");  // and not the next
}

}  // namespace
}  // namespace weakdistill::serve
