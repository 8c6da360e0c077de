#include "weakdistill/distill/run_store.h"

#include <gtest/gtest.h>

#include <tuple>

#include "support/temp_dir.h"
#include "weakdistill/core/sqlite.h"

namespace weakdistill {
namespace {

CandidateRecord record(int round, std::uint64_t ordinal, int slot, const std::string& text) {
  CandidateRecord c;
  c.round = round;
  c.ordinal = ordinal;
  c.first_ordinal = ordinal;
  c.slot = slot;
  c.seed_index = 3;
  c.reply = "{\"samples\": [...]}";
  c.reasoning = "想一想";
  c.outcome = "over_quota";
  c.sample = {{"text", text}, {"label", "A"}};
  c.diversity = 0.5;
  return c;
}

TEST(RunStore, CandidatesKeepSlotsAttemptsReasoningAndSourceRound) {
  testing::TempDir dir;
  RunStore store(dir.file("run.sqlite"));
  CandidateRecord a = record(1, 7, 0, "甲");
  CandidateRecord b = record(1, 7, 1, "乙");  // the same reply's second sample
  b.attempt = 2;
  b.first_ordinal = 3;
  b.source_round = 0;
  b.accepted = true;
  b.rank = 0;
  store.commit_round(1, {{"round", 1}}, {a, b});
  const auto back = store.candidates(1);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].slot, 0);
  EXPECT_EQ(back[1].slot, 1);
  EXPECT_EQ(back[1].attempt, 2);
  EXPECT_EQ(back[1].first_ordinal, 3u);
  EXPECT_EQ(back[1].source_round, 0);
  EXPECT_EQ(back[0].source_round, -1);
  EXPECT_EQ(back[0].reasoning, "想一想");
  EXPECT_TRUE(back[1].accepted);
}

TEST(RunStore, TheReservoirChangesWithItsRoundAndKeepsVectorsExactly) {
  testing::TempDir dir;
  RunStore store(dir.file("run.sqlite"));
  ReservoirChange round1;
  round1.added.push_back({record(1, 1, 0, "甲"), {0.25f, -1.0f, 3.5f}});
  round1.added.push_back({record(1, 2, 0, "乙"), {1.0f, 0.0f, 0.0f}});
  store.commit_round(1, {{"round", 1}}, {}, round1);
  auto held = store.reservoir();
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].vector, (std::vector<float>{0.25f, -1.0f, 3.5f}));
  EXPECT_EQ(held[0].record.sample["text"], "甲");
  EXPECT_EQ(held[0].record.reasoning, "想一想");
  EXPECT_EQ(held[0].record.outcome, "over_quota");
  ReservoirChange round2;
  round2.removed.emplace_back(1, 1, 0);
  round2.added.push_back({record(2, (2ull << 32) | 4, 1, "丙"), {0.0f, 1.0f, 0.0f}});
  store.commit_round(2, {{"round", 2}}, {}, round2);
  held = store.reservoir();
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].record.sample["text"], "乙");
  EXPECT_EQ(held[1].record.round, 2);
  EXPECT_EQ(held[1].record.slot, 1);
}

// A store written before replies could hold several samples keys candidates by (round,
// ordinal): opening it moves them to the new table, nothing lost.
TEST(RunStore, AnOlderStoreIsMigratedWithItsCandidates) {
  testing::TempDir dir;
  const std::string path = dir.file("old.sqlite");
  {
    sqlite::Database db(path, "old store",
                        "CREATE TABLE candidates (round INTEGER NOT NULL, ordinal INTEGER NOT "
                        "NULL, seed_index INTEGER NOT NULL, reply TEXT NOT NULL, outcome TEXT NOT "
                        "NULL, detail TEXT NOT NULL, sample TEXT, diversity REAL, accepted "
                        "INTEGER NOT NULL, rank INTEGER NOT NULL, PRIMARY KEY (round, ordinal));"
                        "INSERT INTO candidates VALUES (1, 4294967296, 2, 'r', 'accepted', '', "
                        "'{\"text\":\"甲\",\"label\":\"A\"}', 0.7, 1, 0);"
                        "INSERT INTO candidates VALUES (1, 4294967297, 5, 'r2', 'not_diverse', "
                        "'d', NULL, 0.01, 0, -1);");
  }
  RunStore store(path);
  const auto back = store.candidates(1);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].ordinal, 4294967296u);
  EXPECT_EQ(back[0].first_ordinal, 4294967296u);
  EXPECT_EQ(back[0].slot, 0);
  EXPECT_EQ(back[0].attempt, 0);
  EXPECT_TRUE(back[0].accepted);
  EXPECT_EQ(back[0].sample["text"], "甲");
  EXPECT_EQ(back[1].outcome, "not_diverse");
  EXPECT_TRUE(back[1].sample.is_null());
  // And it takes new rows of several samples a reply.
  store.commit_round(2, {{"round", 2}}, {record(2, 9, 0, "乙"), record(2, 9, 1, "丙")});
  EXPECT_EQ(store.candidates(2).size(), 4u);
  EXPECT_EQ(store.integrity_check(), "ok");
}

}  // namespace
}  // namespace weakdistill
