// `weakdistill embed` and `weakdistill diversity` as a user runs them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/run.h"
#include "support/temp_dir.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using testing::run_cli;
using testing::TempDir;

const char* kConfig = "task: classification\nembedder: {kind: hashing, dim: 256}\n";

std::vector<nlohmann::json> read_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(EmbedCli, WritesANpyThatNumpyLoads) {
  TempDir dir;
  const auto c = dir.write("c.yaml", kConfig);
  const auto in = dir.write("in.jsonl",
                            "{\"text\": \"国足客场输球\", \"label\": \"体育\"}\n"
                            "{\"text\": \"股市今日大涨\"}\n"
                            "{\"text\": \"篮球联赛开幕\", \"label\": \"体育\"}\n");
  const auto r = run_cli("embed --config '" + c + "' --input '" + in + "' --output '" +
                         dir.file("v.npy") + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
    GTEST_SKIP() << "numpy is not installed for /usr/bin/python3 (scripts/setup.sh installs it)";
  }
  // numpy reads it: 3 rows of 256, unit norms, distinct rows.
  const std::string check =
      "/usr/bin/python3 -c \"import numpy as np, sys; a = np.load(sys.argv[1]); "
      "assert a.dtype == np.float32 and a.shape == (3, 256), a.shape; "
      "assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5); "
      "assert not np.allclose(a[0], a[1])\" '" +
      dir.file("v.npy") + "'";
  EXPECT_EQ(std::system(check.c_str()), 0);
}

TEST(DiversityCli, KeepsFarCandidatesOnceAndMarksEveryLine) {
  TempDir dir;
  // 2^20 hash buckets: the few n-grams below collide with probability ~1e-4.
  const auto c =
      dir.write("c.yaml", "task: classification\nembedder: {kind: hashing, dim: 1048576}\n");
  const auto labeled = dir.write("l.jsonl", "{\"text\": \"国足客场输球\", \"label\": \"体育\"}\n");
  // A copy of the labeled text (distance 0), two identical candidates (the
  // second is at distance 0 from the first once that is accepted), and an
  // unrelated one. No two of these texts share a character except the copies,
  // so every other distance is 1.
  const auto cands = dir.write("c.jsonl",
                               "{\"text\": \"国足客场输球\", \"label\": \"体育\"}\n"
                               "{\"text\": \"股市今日大涨\", \"label\": \"财经\"}\n"
                               "{\"text\": \"股市今日大涨\", \"label\": \"财经\"}\n"
                               "{\"text\": \"篮坛新秀\", \"label\": \"体育\", \"src\": 7}\n");
  const auto r =
      run_cli("diversity --config '" + c + "' --labeled '" + labeled + "' --candidates '" + cands +
              "' --keep 10 --output '" + dir.file("o.jsonl") + "' --set distill.dist_min=0.5");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto lines = read_lines(testing::read_file(dir.file("o.jsonl")));
  ASSERT_EQ(lines.size(), 4u);
  const std::vector<bool> kept = {false, true, false, true};
  const std::vector<double> diversity = {0, 1, 0, 1};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(lines[i]["kept"], kept[i]) << i;
    EXPECT_NEAR(lines[i]["diversity"].get<double>(), diversity[i], 1e-5) << i;
  }
  EXPECT_EQ(lines[3]["src"], 7);  // the input object is kept whole
  EXPECT_EQ(lines[1]["label"], "财经");

  // --keep 1: only the first of the two farthest (ties: earlier in input order).
  const auto one =
      run_cli("diversity --config '" + c + "' --labeled '" + labeled + "' --candidates '" + cands +
              "' --keep 1 --output '" + dir.file("o1.jsonl") + "' --set distill.dist_min=0.5");
  ASSERT_EQ(one.code, 0) << one.err;
  const auto l1 = read_lines(testing::read_file(dir.file("o1.jsonl")));
  EXPECT_EQ(l1[1]["kept"], true);
  EXPECT_EQ(l1[3]["kept"], false);
}

TEST(DiversityCli, BadDistMinIsExitTwo) {
  TempDir dir;
  const auto c = dir.write("c.yaml", kConfig);
  const auto l = dir.write("l.jsonl", "{\"text\": \"甲\", \"label\": \"x\"}\n");
  const auto r =
      run_cli("diversity --config '" + c + "' --labeled '" + l + "' --candidates '" + l +
              "' --keep 1 --output '" + dir.file("o.jsonl") + "' --set distill.dist_min=abc");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("distill.dist_min"));
}

}  // namespace
}  // namespace weakdistill
