// predict_in_batches(): the loop's scoring and `weakdistill predict` hand a student its inputs in
// batches of kPredictBatch; the predictions come back in input order, one per input, and a
// quick scoring writes no progress at all.
#include "weakdistill/student/student.h"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "support/recording_student.h"
#include "weakdistill/core/progress.h"

namespace weakdistill {
namespace {

using Recorder = testing::RecordingStudent;

std::vector<Sample> numbered(std::size_t n) {
  std::vector<Sample> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i].text = std::to_string(i);
  return out;
}

// Progress is on for the test's scope (the test main may turn it off), and restored after.
class PredictInBatches : public ::testing::Test {
 protected:
  void SetUp() override {
    was_enabled_ = Progress::enabled();
    Progress::set_enabled(true);
  }
  void TearDown() override { Progress::set_enabled(was_enabled_); }
  bool was_enabled_ = false;
};

TEST_F(PredictInBatches, HandsTheStudentBatchesAndKeepsInputOrder) {
  Recorder r;
  const std::vector<Prediction> p = predict_in_batches(r, numbered(8), "scoring", 3);
  EXPECT_EQ(r.calls, (std::vector<std::size_t>{3, 3, 2}));
  ASSERT_EQ(p.size(), 8u);
  for (std::size_t i = 0; i < p.size(); ++i) EXPECT_EQ(p[i].label, "label of " + std::to_string(i));
}

TEST_F(PredictInBatches, DefaultsToPredictsBatch) {
  Recorder r;
  predict_in_batches(r, numbered(kPredictBatch + 1), "scoring");
  EXPECT_EQ(r.calls, (std::vector<std::size_t>{kPredictBatch, 1}));
}

TEST_F(PredictInBatches, NothingToPredictCallsNothing) {
  Recorder r;
  EXPECT_TRUE(predict_in_batches(r, {}, "scoring").empty());
  EXPECT_TRUE(r.calls.empty());
}

TEST_F(PredictInBatches, RefusesBatchZeroAndAStudentThatLosesPredictions) {
  Recorder r;
  EXPECT_THROW(predict_in_batches(r, numbered(2), "scoring", 0), std::invalid_argument);
  r.drop_one = true;
  try {
    predict_in_batches(r, numbered(5), "scoring", 2);
    FAIL() << "no error";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "recorder student returned 1 predictions for 2 inputs");
  }
}

TEST_F(PredictInBatches, QuickScoringWritesNoProgress) {
  // stderr is not a terminal here: a plain line is due only after 10 s. When the call ends
  // before that (measured, not assumed) nothing is written, where a bar made without
  // quiet_when_quick() writes its final line.
  Recorder r;
  const auto start = std::chrono::steady_clock::now();
  ::testing::internal::CaptureStderr();
  predict_in_batches(r, numbered(5), "round 1 dev", 2);
  const std::string quiet = ::testing::internal::GetCapturedStderr();
  if (std::chrono::steady_clock::now() - start >= std::chrono::seconds(10)) {
    GTEST_SKIP() << "the call took 10 s or more: a progress line was due";
  }
  ::testing::internal::CaptureStderr();
  {
    Progress plain("round 1 dev", 5, "samples");
    plain.advance(5);
  }
  const std::string loud = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(quiet, "");
  EXPECT_NE(loud.find("round 1 dev: 5/5 samples"), std::string::npos) << loud;
}

}  // namespace
}  // namespace weakdistill
