// Format re-asks (teacher.format_retries): with a scripted in-process teacher whose reply to
// each ordinal the test chooses, and through a real OpenAITeacher against the fake server.
#include "weakdistill/teacher/reask.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fake/fake_openai_server.h"
#include "weakdistill/teacher/openai_teacher.h"
#include "weakdistill/teacher/reply_parser.h"

namespace weakdistill {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

const std::set<std::string> kLabels = {"体育", "财经", "科技"};

std::string answer(const std::string& text, const std::string& label = "体育") {
  return nlohmann::json{{"text", text}, {"label", label}}.dump();
}

// A reply of the form {"samples": [...]} with these (text, label) pairs.
std::string samples_reply(const std::vector<std::pair<std::string, std::string>>& items) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [text, label] : items) list.push_back({{"text", text}, {"label", label}});
  return nlohmann::json{{"reasoning", "r"}, {"samples", list}}.dump();
}

// A teacher that answers each ordinal as the test scripted it (a good answer when not
// scripted) and records the ordinals of each generate() call: one call is one wave.
class ScriptedTeacher : public Teacher {
 public:
  // Replies by ordinal; kFail makes the request fail (ok false) instead.
  static constexpr const char* kFail = "<fail>";
  std::map<std::uint64_t, std::string> replies;
  std::vector<std::vector<std::uint64_t>> waves;
  // Called after each generation of a call, with the call's number (0 for the first).
  std::function<void(std::size_t call)> after_each;

  std::string kind() const override { return "scripted"; }
  bool simulated() const override { return true; }
  TeacherUsage usage() const override { return {}; }
  std::vector<Generation> generate(
      const std::vector<GenerationRequest>& requests,
      const std::function<void(std::size_t, const Generation&)>& on_done,
      const std::atomic<bool>* cancel) override {
    const std::size_t call = waves.size();
    waves.emplace_back();
    std::vector<Generation> out(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      Generation& g = out[i];
      if (cancel != nullptr && cancel->load()) {
        g.error = "cancelled";
      } else {
        waves.back().push_back(requests[i].ordinal);
        const auto it = replies.find(requests[i].ordinal);
        const std::string reply = it != replies.end()
                                      ? it->second
                                      : answer("新样本" + std::to_string(requests[i].ordinal));
        if (reply == kFail) {
          g.error = "HTTP 503 after retries";
        } else {
          g.ok = true;
          g.reply = reply;
          g.finish_reason = "stop";
        }
      }
      if (on_done) on_done(i, g);
      if (after_each) after_each(call);
    }
    return out;
  }
};

// The judge a run would use, reduced: the parser's verdicts, then a copy of the seed
// (copy_of_seed) and a label outside the set (label_not_in_set).
Judge make_judge(int samples) {
  return [samples](const GenerationRequest& request, const Generation& g) {
    std::vector<Verdict> out;
    if (!g.ok) {
      Verdict v;
      v.rejection = Rejection{RejectReason::kRequestFailed, g.error};
      return std::vector<Verdict>{v};
    }
    for (ParsedReply& p : parse_generation(Task::kClassification, g, samples)) {
      Verdict v;
      v.rejection = std::move(p.rejection);
      if (p.sample) {
        v.parsed = true;
        if (p.sample->text == request.seed->text) {
          v.rejection = Rejection{RejectReason::kCopyOfSeed, "the seed's text"};
        } else if (!kLabels.contains(p.sample->label)) {
          v.rejection = Rejection{RejectReason::kLabelNotInSet, p.sample->label};
        }
        v.sample = std::move(p.sample);
      }
      out.push_back(std::move(v));
    }
    return out;
  };
}

std::vector<Sample> seeds(std::size_t n) {
  std::vector<Sample> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i].text = "种子" + std::to_string(i);
    out[i].label = "体育";
  }
  return out;
}

std::vector<GenerationRequest> requests_for(const std::vector<Sample>& s) {
  std::vector<GenerationRequest> out;
  for (std::size_t i = 0; i < s.size(); ++i) out.push_back({&s[i], i});
  return out;
}

ReaskOptions options(int retries) {
  ReaskOptions o;
  o.retries = retries;
  o.reask_ordinal = [](std::size_t k) { return 1000 + static_cast<std::uint64_t>(k); };
  return o;
}

TEST(Reask, FormatProblemsAreReasks) {
  const std::set<RejectReason> form = {
      RejectReason::kTruncated,     RejectReason::kTruncatedInReasoning,
      RejectReason::kUnparseable,   RejectReason::kEmptyText,
      RejectReason::kLabelNotInSet, RejectReason::kEntityNotInText};
  for (const RejectReason r :
       {RejectReason::kRequestFailed, RejectReason::kTruncated, RejectReason::kTruncatedInReasoning,
        RejectReason::kUnparseable, RejectReason::kEmptyText, RejectReason::kLabelNotInSet,
        RejectReason::kEntityNotInText, RejectReason::kSummaryInvalid,
        RejectReason::kSummaryOverlapLow, RejectReason::kCopyOfSeed, RejectReason::kCopyOfLabeled,
        RejectReason::kCopyOfAccepted}) {
    EXPECT_EQ(is_format_problem(r), form.contains(r)) << reason_name(r);
  }
}

TEST(Reask, AsksAgainWithNewOrdinalsUntilUsableOrRetriesSpent) {
  const auto s = seeds(3);
  ScriptedTeacher teacher;
  teacher.replies = {
      {1, "没有 JSON"},                 // request 1: unusable three times
      {2, answer("标签不对", "娱乐")},  // request 2: a label outside the set, then fine
      {1000, R"({"text": "", "label": "体育"})"},
      {1002, answer("还是没有", "")},
  };
  std::vector<std::pair<int, std::size_t>> waves;
  std::size_t done = 0;
  ReaskOptions o = options(2);
  o.on_wave = [&](int wave, std::size_t n) { waves.emplace_back(wave, n); };
  o.on_done = [&](const Generation&) { ++done; };
  const auto attempts = ask_with_reasks(teacher, requests_for(s), make_judge(1), o);

  // Request 1 gets ordinals 1000 and 1002, request 2 gets 1001 (and is then usable).
  EXPECT_EQ(teacher.waves,
            (std::vector<std::vector<std::uint64_t>>{{0, 1, 2}, {1000, 1001}, {1002}}));
  EXPECT_THAT(waves, ElementsAre(Pair(0, 3u), Pair(1, 2u), Pair(2, 1u)));
  EXPECT_EQ(done, 6u);
  ASSERT_EQ(attempts.size(), 6u);
  struct Want {
    std::uint64_t ordinal;
    int attempt;
    std::size_t origin;
    std::uint64_t first_ordinal;
    bool usable;
  };
  const Want want[] = {{0, 0, 0, 0, true},     {1, 0, 1, 1, false},   {2, 0, 2, 2, false},
                       {1000, 1, 1, 1, false}, {1001, 1, 2, 2, true}, {1002, 2, 1, 1, false}};
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    SCOPED_TRACE(i);
    const Attempt& a = attempts[i];
    EXPECT_EQ(a.request.ordinal, want[i].ordinal);
    EXPECT_EQ(a.attempt, want[i].attempt);
    EXPECT_EQ(a.origin, want[i].origin);
    EXPECT_EQ(a.first_ordinal, want[i].first_ordinal);
    EXPECT_EQ(a.request.seed, &s[want[i].origin]) << "a re-ask keeps its seed";
    ASSERT_EQ(a.verdicts.size(), 1u);
    EXPECT_EQ(a.verdicts[0].usable(), want[i].usable);
  }
  EXPECT_EQ(attempts[2].verdicts[0].rejection->reason, RejectReason::kLabelNotInSet);
  EXPECT_EQ(attempts[3].verdicts[0].rejection->reason, RejectReason::kEmptyText);

  const ReaskYield y = reask_yield(attempts);
  EXPECT_EQ(y.requests, 3u);
  EXPECT_EQ(y.reasks, 3u);
  EXPECT_EQ(y.usable_first_try, 1u);
  EXPECT_EQ(y.usable, 2u);
}

TEST(Reask, NoRetriesMeansOneWave) {
  const auto s = seeds(2);
  ScriptedTeacher teacher;
  teacher.replies = {{0, "没有 JSON"}, {1, "也没有"}};
  const auto attempts = ask_with_reasks(teacher, requests_for(s), make_judge(1), options(0));
  EXPECT_EQ(teacher.waves.size(), 1u);
  EXPECT_EQ(attempts.size(), 2u);
  const ReaskYield y = reask_yield(attempts);
  EXPECT_EQ(y.requests, 2u);
  EXPECT_EQ(y.reasks, 0u);
  EXPECT_EQ(y.usable, 0u);
}

TEST(Reask, FailedRequestsAndNoveltyProblemsAreNotReasked) {
  const auto s = seeds(3);
  ScriptedTeacher teacher;
  teacher.replies = {
      {0, ScriptedTeacher::kFail},  // the HTTP client has retried it already
      {1, answer("种子1")},         // a copy of its seed: another try would not be a format fix
      {2, samples_reply({{"种子2", "体育"}})},
  };
  const auto attempts = ask_with_reasks(teacher, requests_for(s), make_judge(1), options(3));
  EXPECT_EQ(teacher.waves.size(), 1u);
  ASSERT_EQ(attempts.size(), 3u);
  EXPECT_EQ(attempts[0].verdicts[0].rejection->reason, RejectReason::kRequestFailed);
  EXPECT_EQ(attempts[1].verdicts[0].rejection->reason, RejectReason::kCopyOfSeed);
  EXPECT_TRUE(attempts[1].verdicts[0].parsed);
  EXPECT_EQ(attempts[2].verdicts[0].rejection->reason, RejectReason::kCopyOfSeed);
  const ReaskYield y = reask_yield(attempts);
  EXPECT_EQ(y.reasks, 0u);
  EXPECT_EQ(y.usable, 0u);
}

TEST(Reask, CancelStopsTheNextWave) {
  const auto s = seeds(3);
  ScriptedTeacher teacher;
  teacher.replies = {{0, "坏"}, {1, "坏"}, {2, "坏"}};
  std::atomic<bool> cancel{false};
  // Set while the first wave is under way: its replies are judged, no re-ask is sent.
  teacher.after_each = [&](std::size_t call) {
    if (call == 0) cancel = true;
  };
  ReaskOptions o = options(2);
  o.cancel = &cancel;
  std::vector<int> waves;
  o.on_wave = [&](int wave, std::size_t) { waves.push_back(wave); };
  const auto attempts = ask_with_reasks(teacher, requests_for(s), make_judge(1), o);
  EXPECT_EQ(teacher.waves.size(), 1u);
  EXPECT_EQ(waves, std::vector<int>{0});
  ASSERT_EQ(attempts.size(), 3u);
  // The first reply came before the cancel; the others came back cancelled.
  EXPECT_TRUE(attempts[0].generation.ok);
  EXPECT_EQ(attempts[1].generation.error, "cancelled");
  EXPECT_EQ(reask_yield(attempts).reasks, 0u);

  // Cancelled before the start: one wave of cancelled requests, nothing more.
  ScriptedTeacher idle;
  std::atomic<bool> stopped{true};
  o.cancel = &stopped;
  const auto none = ask_with_reasks(idle, requests_for(s), make_judge(1), o);
  EXPECT_LE(idle.waves.size(), 1u);
  for (const auto& w : idle.waves) EXPECT_TRUE(w.empty());
  for (const Attempt& a : none) EXPECT_EQ(a.attempt, 0);
}

TEST(Reask, WithSeveralSamplesOneUsableSampleIsEnough) {
  const auto s = seeds(4);
  ScriptedTeacher teacher;
  teacher.replies = {
      // One usable sample among rejected ones: kept, not asked again.
      {0, samples_reply({{"好的", "体育"}, {"坏的", "娱乐"}, {"", "体育"}})},
      // Nothing usable, a form problem among them: asked again.
      {1, samples_reply({{"种子1", "体育"}, {"坏的", "娱乐"}, {"也坏", "娱乐"}})},
      // Nothing usable, only novelty problems: not asked again.
      {2, samples_reply({{"种子2", "体育"}, {"种子2", "财经"}})},
      // Cut after one complete sample: usable, not asked again.
      {3, R"({"samples": [{"text": "完整的", "label": "科技"}, {"text": "被截)"},
      {1000, samples_reply({{"重问一", "体育"}, {"重问二", "财经"}, {"重问三", "科技"}})},
  };
  // The cut reply needs its finish_reason: a judge over a teacher reply "length" for ordinal 3.
  const Judge base = make_judge(3);
  const Judge judge = [&](const GenerationRequest& r, const Generation& g) {
    if (r.ordinal != 3) return base(r, g);
    Generation cut = g;
    cut.finish_reason = "length";
    return base(r, cut);
  };
  const auto attempts = ask_with_reasks(teacher, requests_for(s), judge, options(2));
  EXPECT_EQ(teacher.waves, (std::vector<std::vector<std::uint64_t>>{{0, 1, 2, 3}, {1000}}));
  ASSERT_EQ(attempts.size(), 5u);
  EXPECT_EQ(attempts[0].verdicts.size(), 3u);
  EXPECT_EQ(attempts[3].verdicts.size(), 2u) << "one sample and one truncated";
  EXPECT_EQ(attempts[4].origin, 1u);
  const ReaskYield y = reask_yield(attempts);
  EXPECT_EQ(y.requests, 4u);
  EXPECT_EQ(y.reasks, 1u);
  EXPECT_EQ(y.usable_first_try, 2u);
  EXPECT_EQ(y.usable, 5u);
}

// The same through the openai teacher: the fake server answers badly to the first asks of odd
// seeds, and well to everything else. The request's seed tells the fake which ordinal it is.
TEST(Reask, ThroughTheOpenAITeacherAndTheFakeServer) {
  testing::FakeServerOptions so;
  so.enforce_schema = false;  // the bad replies are the point
  testing::FakeOpenAIServer server(so);
  std::mutex mu;
  std::vector<std::int64_t> seen;
  server.set_choice_responder([&](const nlohmann::json& request, int) {
    const std::int64_t ordinal = request["seed"].get<std::int64_t>() - 5000;
    {
      std::lock_guard lock(mu);
      seen.push_back(ordinal);
    }
    testing::ChatChoice c;
    if (ordinal < 100 && ordinal % 2 == 1) {
      c.content = R"({"reasoning": "想了想", "text": "新闻", "label": "不存在的类别"})";
    } else {
      c.content = nlohmann::json{
          {"reasoning", "想了想"},
          {"text", "第" + std::to_string(ordinal) + "个样本"},
          {"label",
           "财经"}}.dump();
    }
    return c;
  });
  const nlohmann::json section = {{"kind", "openai"},
                                  {"base_url", server.base_url()},
                                  {"model", "m"},
                                  {"concurrency", 2},
                                  {"seed", 5000},
                                  {"format_retries", 1},
                                  {"backoff_initial_s", 0.01},
                                  {"backoff_max_s", 0.05}};
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(section, "."), "",
                        kLabels);
  ASSERT_EQ(teacher.format_retries(), 1);
  const auto s = seeds(4);
  ReaskOptions o = options(teacher.format_retries());
  o.reask_ordinal = [](std::size_t k) { return 100 + static_cast<std::uint64_t>(k); };
  const auto attempts = ask_with_reasks(teacher, requests_for(s), make_judge(1), o);
  ASSERT_EQ(attempts.size(), 6u);
  // The two re-asks carry their own ordinals, hence their own request seeds.
  EXPECT_EQ(attempts[4].request.ordinal, 100u);
  EXPECT_EQ(attempts[5].request.ordinal, 101u);
  EXPECT_EQ(attempts[4].origin, 1u);
  EXPECT_EQ(attempts[5].origin, 3u);
  std::multiset<std::int64_t> asked(seen.begin(), seen.end());
  EXPECT_EQ(asked, (std::multiset<std::int64_t>{0, 1, 2, 3, 100, 101}));
  for (const Attempt& a : attempts) {
    ASSERT_EQ(a.verdicts.size(), 1u);
    if (a.attempt == 0 && a.origin % 2 == 1) {
      EXPECT_EQ(a.verdicts[0].rejection->reason, RejectReason::kLabelNotInSet);
    } else {
      EXPECT_TRUE(a.verdicts[0].usable()) << a.generation.reply;
    }
  }
  const ReaskYield y = reask_yield(attempts);
  EXPECT_EQ(y.usable_first_try, 2u);
  EXPECT_EQ(y.usable, 4u);
  EXPECT_EQ(teacher.usage().requests, 6);
}

}  // namespace
}  // namespace weakdistill
