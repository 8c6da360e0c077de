// The command-line program, run as a user runs it: exit codes, output, files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/run.h"
#include "support/temp_dir.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using weakdistill::testing::data_dir;
using weakdistill::testing::read_file;
using weakdistill::testing::run_cli;
using weakdistill::testing::TempDir;

std::string q(const std::string& path) { return "'" + path + "'"; }

TEST(Cli, HelpAndVersion) {
  const auto help = run_cli("--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("eval"));
  EXPECT_THAT(help.out, HasSubstr("data"));
  const auto version = run_cli("--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_THAT(version.out, HasSubstr("weakdistill " WEAKDISTILL_VERSION));
  const auto none = run_cli("");
  EXPECT_EQ(none.code, 2);
}

TEST(Cli, EverySubcommandHasHelpWithAnExample) {
  for (const char* cmd : {"eval", "data", "data convert", "data stats", "data sample", "teacher try"}) {
    const auto r = run_cli(std::string(cmd) + " --help");
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_THAT(r.out, HasSubstr("Example")) << cmd;
  }
}

TEST(Cli, UnknownOptionsAndValuesAreUsageErrors) {
  EXPECT_EQ(run_cli("eval --bogus").code, 2);
  EXPECT_EQ(run_cli("nonsense").code, 2);
  TempDir dir;
  const auto g = dir.write("g.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n");
  EXPECT_EQ(run_cli("eval --task poetry --gold " + q(g) + " --pred " + q(g)).code, 2);
  const auto missing =
      run_cli("eval --task classification --gold " + q(g) + " --pred /no/such.jsonl");
  EXPECT_EQ(missing.code, 2);
  EXPECT_THAT(missing.err, HasSubstr("/no/such.jsonl"));
}

class EvalCli : public ::testing::Test {
 protected:
  TempDir dir_;
  std::string gold_ = dir_.write("gold.jsonl",
                                 "{\"id\": \"1\", \"text\": \"股市\", \"label\": \"stocks\"}\n"
                                 "{\"id\": \"2\", \"text\": \"球赛\", \"label\": \"sports\"}\n"
                                 "{\"id\": \"3\", \"text\": \"房价\", \"label\": \"realty\"}\n"
                                 "{\"id\": \"4\", \"text\": \"基金\", \"label\": \"stocks\"}\n");
  // Reordered, and wrong on id 3.
  std::string pred_ = dir_.write("pred.jsonl",
                                 "{\"id\": \"4\", \"label\": \"stocks\"}\n"
                                 "{\"id\": \"3\", \"label\": \"stocks\"}\n"
                                 "{\"id\": \"1\", \"label\": \"stocks\"}\n"
                                 "{\"id\": \"2\", \"label\": \"sports\"}\n");
};

TEST_F(EvalCli, JsonIsExactlyOneObject) {
  const auto r =
      run_cli("eval --task classification --gold " + q(gold_) + " --pred " + q(pred_) + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["task"], "classification");
  EXPECT_EQ(j["n"], 4);
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.75);
  // realty F1 0, sports 1, stocks P 2/3 R 1 F1 0.8.
  EXPECT_DOUBLE_EQ(j["macro_f1"].get<double>(), 1.8 / 3);
  EXPECT_EQ(j["per_label"]["stocks"]["support"], 2);
}

TEST_F(EvalCli, TableAndPerSample) {
  const std::string per = dir_.file("per.jsonl");
  const auto r = run_cli("eval --task classification --gold " + q(gold_) + " --pred " + q(pred_) +
                         " --per-sample " + q(per));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("accuracy  0.7500"));
  EXPECT_THAT(r.out, HasSubstr("realty"));
  EXPECT_EQ(read_file(per),
            "{\"index\":0,\"score\":1.0}\n{\"index\":1,\"score\":1.0}\n"
            "{\"index\":2,\"score\":0.0}\n{\"index\":3,\"score\":1.0}\n");
}

TEST_F(EvalCli, MismatchesAreInputErrors) {
  const auto short_pred = dir_.write("short.jsonl", "{\"label\": \"stocks\"}\n");
  const auto count =
      run_cli("eval --task classification --gold " + q(gold_) + " --pred " + q(short_pred));
  EXPECT_EQ(count.code, 2);
  EXPECT_THAT(count.err, HasSubstr("1 predictions for 4 gold samples"));

  const auto other_id =
      dir_.write("other.jsonl",
                 "{\"id\": \"1\", \"label\": \"a\"}\n{\"id\": \"2\", \"label\": \"a\"}\n"
                 "{\"id\": \"3\", \"label\": \"a\"}\n{\"id\": \"9\", \"label\": \"a\"}\n");
  const auto ids =
      run_cli("eval --task classification --gold " + q(gold_) + " --pred " + q(other_id));
  EXPECT_EQ(ids.code, 2);
  EXPECT_THAT(ids.err, HasSubstr("gold.jsonl:4: id \"4\" has no prediction"));

  const auto malformed = dir_.write("bad.jsonl", "{\"label\": \"a\"}\n{\"label\": \n");
  const std::string per = dir_.file("per.jsonl");
  const auto bad = run_cli("eval --task classification --gold " + q(gold_) + " --pred " +
                           q(malformed) + " --per-sample " + q(per));
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("bad.jsonl:2: not valid JSON"));
  EXPECT_FALSE(std::filesystem::exists(per));
  EXPECT_TRUE(bad.out.empty());

  const auto moved = dir_.write(
      "moved.jsonl",
      "{\"text\": \"球赛\", \"label\": \"a\"}\n{\"text\": \"股市\", \"label\": \"a\"}\n"
      "{\"text\": \"房价\", \"label\": \"a\"}\n{\"text\": \"基金\", \"label\": \"a\"}\n");
  const auto gold_no_ids = dir_.write(
      "g2.jsonl",
      "{\"text\": \"股市\", \"label\": \"a\"}\n{\"text\": \"球赛\", \"label\": \"a\"}\n"
      "{\"text\": \"房价\", \"label\": \"a\"}\n{\"text\": \"基金\", \"label\": \"a\"}\n");
  const auto misaligned =
      run_cli("eval --task classification --gold " + q(gold_no_ids) + " --pred " + q(moved));
  EXPECT_EQ(misaligned.code, 2);
  EXPECT_THAT(misaligned.err, HasSubstr("moved.jsonl:1: the prediction's text differs"));
}

TEST(EvalCliNer, EntitiesWithoutTextAreCheckedAgainstGold) {
  TempDir dir;
  const auto gold =
      dir.write("g.jsonl",
                "{\"text\": \"李明在北京\", \"entities\": [{\"start\": 0, \"end\": 2, "
                "\"type\": \"PER\"}, {\"start\": 3, \"end\": 5, \"type\": \"LOC\"}]}\n"
                "{\"text\": \"无\", \"entities\": []}\n");
  const auto pred = dir.write("p.jsonl",
                              "{\"entities\": [{\"start\": 0, \"end\": 2, \"type\": \"PER\"}]}\n"
                              "{\"entities\": []}\n");
  const std::string per = dir.file("per.jsonl");
  const auto r = run_cli("eval --task ner --json --gold " + q(gold) + " --pred " + q(pred) +
                         " --per-sample " + q(per));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["precision"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["recall"].get<double>(), 0.5);
  EXPECT_EQ(read_file(per),
            "{\"index\":0,\"score\":0.6666666666666666}\n{\"index\":1,\"score\":1.0}\n");

  const auto outside = dir.write("o.jsonl",
                                 "{\"entities\": [{\"start\": 4, \"end\": 9, \"type\": \"PER\"}]}\n"
                                 "{\"entities\": []}\n");
  const auto bad = run_cli("eval --task ner --gold " + q(gold) + " --pred " + q(outside));
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("o.jsonl:1: entity 0: span [4, 9) is outside the text"));
}

TEST(EvalCliSum, ScoresCharactersNotWords) {
  TempDir dir;
  const auto gold =
      dir.write("g.jsonl", "{\"text\": \"今天北京天气很好\", \"summary\": \"北京天气好\"}\n");
  const auto pred = dir.write("p.jsonl", "{\"summary\": \"北京 天气 好\"}\n");
  const auto r =
      run_cli("eval --task summarization --json --gold " + q(gold) + " --pred " + q(pred));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(j["rougeL"]["f1"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["rouge2"]["f1"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j["bleu4"].get<double>(), 1.0);
}

TEST(DataCli, ConvertRoundTrip) {
  TempDir dir;
  const std::string bio = "李 B-PER\n明 I-PER\n在 O\n北 B-LOC\n京 I-LOC\n\n好 O\n\n";
  const auto in = dir.write("in.bio", bio);
  const auto r1 =
      run_cli("data convert --from bio --to jsonl " + q(in) + " " + q(dir.file("a.jsonl")));
  ASSERT_EQ(r1.code, 0) << r1.err;
  EXPECT_THAT(read_file(dir.file("a.jsonl")),
              HasSubstr("{\"start\":0,\"end\":2,\"type\":\"PER\",\"text\":\"李明\"}"));
  const auto r2 = run_cli("data convert --from jsonl --to bio " + q(dir.file("a.jsonl")) + " " +
                          q(dir.file("b.bio")));
  ASSERT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(read_file(dir.file("b.bio")), bio);
  EXPECT_EQ(run_cli("data convert --from bio --to bio " + q(in) + " " + q(dir.file("c.bio"))).code,
            2);
  const auto bad = dir.write("bad.bio", "李 B-PER\n明 Q\n");
  const auto r3 =
      run_cli("data convert --from bio --to jsonl " + q(bad) + " " + q(dir.file("d.jsonl")));
  EXPECT_EQ(r3.code, 2);
  EXPECT_THAT(r3.err, HasSubstr("bad.bio:2: unknown tag \"Q\""));
  EXPECT_FALSE(std::filesystem::exists(dir.file("d.jsonl")));
}

TEST(DataCli, ConvertReproducesTheShippedBio) {
  const std::string data = data_dir();
  if (data.empty()) GTEST_SKIP() << "data/ is absent; run scripts/get-data.sh";
  TempDir dir;
  const auto r = run_cli("data convert --from jsonl --to bio " + q(data + "/ner/dev.jsonl") + " " +
                         q(dir.file("dev.bio")));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(dir.file("dev.bio")), read_file(data + "/ner/dev.bio"));
}

TEST(DataCli, Stats) {
  TempDir dir;
  const auto f =
      dir.write("c.jsonl",
                "{\"text\": \"一二三\", \"label\": \"a\"}\n{\"text\": \"一\", \"label\": \"b\"}\n"
                "{\"text\": \"一二\", \"label\": \"a\"}\n");
  const auto r = run_cli("data stats --json " + q(f));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n"], 3);
  EXPECT_EQ(j["labels"]["a"], 2);
  EXPECT_EQ(j["text_length"]["max"], 3);
  EXPECT_DOUBLE_EQ(j["text_length"]["mean"].get<double>(), 2.0);
  const auto text = run_cli("data stats " + q(f));
  EXPECT_THAT(text.out, HasSubstr("labels (2)"));
}

TEST(DataCli, SampleStratifiedWithRest) {
  TempDir dir;
  std::string content;
  for (int i = 0; i < 30; ++i) {
    content += "{\"id\": \"" + std::to_string(i) + "\", \"text\": \"t" + std::to_string(i) +
               "\", \"label\": \"" + (i % 3 == 0 ? "a" : "b") + "\"}\n";
  }
  const auto in = dir.write("in.jsonl", content);
  const auto r = run_cli("data sample --task classification --per-label 4 --seed 3 " + q(in) + " " +
                         q(dir.file("few.jsonl")) + " --rest " + q(dir.file("rest.jsonl")));
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string few = read_file(dir.file("few.jsonl"));
  const std::string rest = read_file(dir.file("rest.jsonl"));
  EXPECT_EQ(std::count(few.begin(), few.end(), '\n'), 8);
  EXPECT_EQ(std::count(rest.begin(), rest.end(), '\n'), 22);
  // Same seed, same file.
  run_cli("data sample --task classification --per-label 4 --seed 3 " + q(in) + " " +
          q(dir.file("again.jsonl")));
  EXPECT_EQ(read_file(dir.file("again.jsonl")), few);

  EXPECT_EQ(
      run_cli("data sample --task ner --per-label 4 " + q(in) + " " + q(dir.file("x.jsonl"))).code,
      2);
  EXPECT_EQ(
      run_cli("data sample --task classification " + q(in) + " " + q(dir.file("x.jsonl"))).code, 2);
  const auto too_many = run_cli("data sample --task classification --per-label 11 " + q(in) + " " +
                                q(dir.file("x.jsonl")));
  EXPECT_EQ(too_many.code, 2);
  EXPECT_THAT(too_many.err, HasSubstr("label \"a\" has 10 samples, fewer than the 11 asked for"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.jsonl")));
}

}  // namespace
}  // namespace weakdistill
