// The pool and augment teachers behind the Teacher interface, and the factory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include <cmath>

#include "support/temp_dir.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/embed/embedder.h"
#include "weakdistill/teacher/reply_parser.h"
#include "weakdistill/teacher/teacher.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;

Sample cls(const std::string& text, const std::string& label) {
  Sample s;
  s.text = text;
  s.label = label;
  return s;
}

std::vector<GenerationRequest> requests_for(const std::vector<Sample>& seeds,
                                            std::uint64_t first_ordinal = 0) {
  std::vector<GenerationRequest> r;
  for (std::size_t i = 0; i < seeds.size(); ++i) r.push_back({&seeds[i], first_ordinal + i});
  return r;
}

std::vector<float> vec(const Embedder& e, const std::string& text) {
  const auto m = e.embed({text});
  return std::vector<float>(m.row(0), m.row(0) + m.dim());
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

TEST(PoolTeacher, ReturnsTheNearestUnusedSampleOfTheSameLabel) {
  const std::vector<Sample> labeled = {cls("国足客场输球", "体育"), cls("股市今日大涨", "财经")};
  const std::vector<Sample> pool = {
      cls("国足主场赢球", "体育"), cls("女排客场输球", "体育"),   cls("股市今日大跌", "财经"),
      cls("国足客场输球", "体育"),  // a copy of a labeled text: never returned
      cls("篮球联赛开幕", "体育"), cls("国足客场输球了", "财经"),  // near, wrong label
  };
  auto embedder = make_embedder(nlohmann::json::object());
  std::vector<std::string> texts;
  for (const auto& s : labeled) texts.push_back(s.text);
  embedder->fit(texts);
  TeacherContext ctx;
  ctx.task = Task::kClassification;
  ctx.labeled = &labeled;
  ctx.pool = &pool;
  ctx.embedder = embedder.get();
  auto teacher = make_teacher({{"kind", "pool"}}, ctx);
  EXPECT_TRUE(teacher->simulated());

  // The expected order, by brute force over the same vectors: the体育 pool
  // samples other than the labeled copy, nearest first.
  const auto seed_vec = vec(*embedder, labeled[0].text);
  std::vector<std::pair<double, std::size_t>> ranked;
  for (std::size_t j : {0u, 1u, 4u})
    ranked.push_back({-cosine(seed_vec, vec(*embedder, pool[j].text)), j});
  std::sort(ranked.begin(), ranked.end());

  const std::vector<Sample> seeds(4, labeled[0]);
  const auto gens = teacher->generate(requests_for(seeds), {}, nullptr);
  for (std::size_t k = 0; k < 3; ++k) {
    ASSERT_TRUE(gens[k].ok) << gens[k].error;
    const ParsedReply p = parse_reply(Task::kClassification, gens[k].reply, gens[k].finish_reason);
    ASSERT_TRUE(p.sample);
    EXPECT_EQ(p.sample->text, pool[ranked[k].second].text) << k;
    EXPECT_EQ(p.sample->label, "体育");
  }
  // Three体育 samples, all used: the fourth request fails and says why.
  EXPECT_FALSE(gens[3].ok);
  EXPECT_THAT(gens[3].error, HasSubstr("体育"));
  EXPECT_EQ(teacher->usage().failures, 1);
}

TEST(PoolTeacher, RandomDrawIgnoresTheSeedAndRepeatsByOrdinal) {
  const std::vector<Sample> labeled = {cls("国足客场输球", "体育")};
  const std::vector<Sample> pool = {cls("股市今日大跌", "财经"), cls("女排客场输球", "体育"),
                                    cls("新机发布", "科技"), cls("央行降准", "财经")};
  TeacherContext ctx;
  ctx.task = Task::kClassification;
  ctx.labeled = &labeled;
  ctx.pool = &pool;
  const auto texts = [&](const std::vector<GenerationRequest>& requests) {
    auto teacher = make_teacher({{"kind", "pool"}, {"draw", "random"}}, ctx);
    std::vector<std::string> out;
    for (const auto& g : teacher->generate(requests, {}, nullptr)) {
      out.push_back(g.ok ? parse_reply(Task::kClassification, g.reply, g.finish_reason).sample->text
                         : "!" + g.error);
    }
    return out;
  };
  const std::vector<Sample> seeds(5, labeled[0]);
  const auto first = texts(requests_for(seeds));
  // Every pool sample once, whatever its label (the seed is 体育), then the pool is spent.
  EXPECT_EQ(std::set<std::string>(first.begin(), first.begin() + 4),
            (std::set<std::string>{"股市今日大跌", "女排客场输球", "新机发布", "央行降准"}));
  EXPECT_THAT(first[4], HasSubstr("every pool sample has been returned"));
  // The same requests again (a resumed run's replay): the same draws.
  EXPECT_EQ(texts(requests_for(seeds)), first);
  EXPECT_THROW(make_teacher({{"kind", "pool"}, {"draw", "closest"}}, ctx), InputError);
}

TEST(PoolTeacher, NerSeedsGetPoolSamplesSharingAType) {
  const auto ner = [](const std::string& text, std::vector<Entity> ents) {
    Sample s;
    s.text = text;
    s.entities = std::move(ents);
    return s;
  };
  const std::vector<Sample> labeled = {
      ner("张三去了北京", {{0, 2, "PER", "张三"}, {4, 6, "LOC", "北京"}})};
  const std::vector<Sample> pool = {
      ner("联合国开会", {{0, 3, "ORG", "联合国"}}),
      ner("李四在上海", {{0, 2, "PER", "李四"}, {3, 5, "LOC", "上海"}}), ner("今天下雨", {})};
  TeacherContext ctx;
  ctx.task = Task::kNer;
  ctx.labeled = &labeled;
  ctx.pool = &pool;
  auto teacher = make_teacher({{"kind", "pool"}}, ctx);  // builds and fits its own embedder
  const std::vector<Sample> seeds(2, labeled[0]);
  const auto gens = teacher->generate(requests_for(seeds), {}, nullptr);
  ASSERT_TRUE(gens[0].ok);
  EXPECT_THAT(gens[0].reply, HasSubstr("李四在上海"));
  EXPECT_FALSE(gens[1].ok);  // the ORG-only and entity-free samples share no type
}

TEST(PoolTeacher, NeedsAPool) {
  const std::vector<Sample> labeled = {cls("a", "x")};
  TeacherContext ctx;
  ctx.labeled = &labeled;
  try {
    make_teacher({{"kind", "pool"}}, ctx);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("teacher.pool"));
  }
  try {
    make_teacher({{"kind", "pool"}, {"pool", "/no/such/pool.jsonl"}}, ctx);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/no/such/pool.jsonl"));
  }
}

TEST(AugmentTeacher, SameOrdinalSameSampleWhateverCameBefore) {
  const std::vector<Sample> labeled = {cls("国足世预赛客场告负", "体育"),
                                       cls("央行宣布降准零点五个百分点", "财经")};
  TeacherContext ctx;
  ctx.labeled = &labeled;
  auto a = make_teacher({{"kind", "augment"}, {"seed", 7}}, ctx);
  auto b = make_teacher({{"kind", "augment"}, {"seed", 7}}, ctx);
  const auto all = a->generate(requests_for(labeled), {}, nullptr);
  const std::vector<Sample> second_only(labeled.begin() + 1, labeled.end());
  const auto one = b->generate(requests_for(second_only, 1), {}, nullptr);
  EXPECT_EQ(all[1].reply, one[0].reply);
  const ParsedReply p = parse_reply(Task::kClassification, all[0].reply, all[0].finish_reason);
  ASSERT_TRUE(p.sample) << all[0].reply;
  EXPECT_EQ(p.sample->label, "体育");
  EXPECT_NE(p.sample->text, labeled[0].text);
  EXPECT_FALSE(a->simulated());
}

TEST(MakeTeacher, UnknownKindsAndKeysNameTheKey) {
  const std::vector<Sample> labeled = {cls("a", "x")};
  TeacherContext ctx;
  ctx.labeled = &labeled;
  try {
    make_teacher({{"kind", "gpt"}}, ctx);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("teacher.kind"));
    EXPECT_THAT(e.what(), HasSubstr("openai, pool, augment"));
  }
  try {
    make_teacher({{"kind", "augment"}, {"edit_rat", 0.1}}, ctx);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("edit_rat"));
  }
  EXPECT_THROW(make_teacher(nlohmann::json::object(), ctx), InputError);
}

TEST(ReplyJson, WritesWhatTheParserReads) {
  Sample s;
  s.text = "李四在上海说\"你好\"";
  s.entities = {{0, 2, "PER", "李四"}, {3, 5, "LOC", "上海"}};
  const ParsedReply p = parse_reply(Task::kNer, "思考……\n" + reply_json(Task::kNer, s), "stop");
  ASSERT_TRUE(p.sample);
  EXPECT_EQ(p.sample->text, s.text);
  ASSERT_EQ(p.sample->entities.size(), 2u);
  EXPECT_EQ(p.sample->entities[1].text, "上海");
  EXPECT_EQ(p.sample->entities[1].type, "LOC");
}

}  // namespace
}  // namespace weakdistill
