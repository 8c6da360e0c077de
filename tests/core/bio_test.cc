#include "weakdistill/core/bio.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using weakdistill::testing::read_file;
using weakdistill::testing::TempDir;

TEST(Bio, ReadsSentencesAndEntities) {
  TempDir dir;
  const auto ds = read_bio(dir.write("in.bio",
                                     "李 B-PER\n明 I-PER\n在 O\n北 B-LOC\n京 I-LOC\n\n"
                                     "新 B-ORG\n华 I-ORG\n社 I-ORG\n  O\n好 O\n"));
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(ds.samples[0].text, "李明在北京");
  EXPECT_EQ(ds.samples[0].entities,
            (std::vector<Entity>{{0, 2, "PER", "李明"}, {3, 5, "LOC", "北京"}}));
  EXPECT_EQ(ds.samples[1].text, "新华社 好");  // a space token is a character too
  EXPECT_EQ(ds.samples[1].entities, (std::vector<Entity>{{0, 3, "ORG", "新华社"}}));
  EXPECT_EQ(ds.lines, (std::vector<std::size_t>{1, 7}));
}

TEST(Bio, StrayInsideTagStartsAnEntityAndIsCounted) {
  TempDir dir;
  std::size_t repairs = 0;
  // I-LOC after O, and I-ORG after a PER entity: each starts a new entity.
  const auto ds = read_bio(dir.write("in.bio", "a O\nb I-LOC\nc B-PER\nd I-ORG\n"), &repairs);
  EXPECT_EQ(repairs, 2u);
  EXPECT_EQ(ds.samples[0].entities,
            (std::vector<Entity>{{1, 2, "LOC", "b"}, {2, 3, "PER", "c"}, {3, 4, "ORG", "d"}}));
}

TEST(Bio, ErrorsNameTheLine) {
  TempDir dir;
  auto error = [&](const std::string& content) -> std::string {
    try {
      read_bio(dir.write("bad.bio", content));
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(error("a O\nb X-PER\n"), HasSubstr("bad.bio:2: unknown tag \"X-PER\""));
  EXPECT_THAT(error("a O\nbc O\n"), HasSubstr("bad.bio:2: the token \"bc\" is not one character"));
  EXPECT_THAT(error("a O\nnotag\n"), HasSubstr("bad.bio:2: expected \"CHAR TAG\""));
  EXPECT_THAT(error("\xff O\n"), HasSubstr("bad.bio:1: invalid UTF-8"));
  EXPECT_THAT(error("\n\n"), HasSubstr("no sentences"));
}

TEST(Bio, WriteReadRoundTrip) {
  TempDir dir;
  Sample a;
  a.text = "李明在北京";
  a.entities = {{0, 2, "PER", "李明"}, {3, 5, "LOC", "北京"}};
  Sample b;
  b.text = "无实体";
  write_bio(dir.file("out.bio"), {a, b});
  EXPECT_EQ(read_file(dir.file("out.bio")),
            "李 B-PER\n明 I-PER\n在 O\n北 B-LOC\n京 I-LOC\n\n无 O\n实 O\n体 O\n\n");
  const auto back = read_bio(dir.file("out.bio"));
  ASSERT_EQ(back.samples.size(), 2u);
  EXPECT_EQ(back.samples[0].entities, a.entities);
  EXPECT_TRUE(back.samples[1].entities.empty());

  Sample broken;
  broken.text = "两\n行";
  EXPECT_THROW(write_bio(dir.file("x.bio"), {broken}), InputError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.bio")));  // nothing half-written
}

TEST(Bio, ShippedDataAgreesWithItsJsonl) {
  const std::string data = weakdistill::testing::data_dir();
  if (data.empty()) GTEST_SKIP() << "data/ is absent; run scripts/get-data.sh";
  for (const char* split : {"train", "dev", "test"}) {
    std::size_t repairs = 0;
    const auto bio = read_bio(data + "/ner/" + split + ".bio", &repairs);
    const auto jsonl = read_jsonl(data + "/ner/" + split + ".jsonl", Task::kNer);
    EXPECT_EQ(repairs, 0u);
    ASSERT_EQ(bio.samples.size(), jsonl.samples.size()) << split;
    for (std::size_t i = 0; i < bio.samples.size(); ++i) {
      ASSERT_EQ(bio.samples[i].text, jsonl.samples[i].text) << split << " " << i;
      ASSERT_EQ(bio.samples[i].entities, jsonl.samples[i].entities) << split << " " << i;
    }
  }
}

}  // namespace
}  // namespace weakdistill
