// OpenAITeacher's structured output: the schema it asks for, the fallback when a server refuses
// a response_format, reasoning kept apart from the reply, and several samples per request.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fake/fake_openai_server.h"
#include "support/temp_dir.h"
#include "teacher/openai_teacher_fixtures.h"
#include "weakdistill/net/http_client.h"
#include "weakdistill/teacher/openai_teacher.h"
#include "weakdistill/teacher/reply_parser.h"

namespace weakdistill {
namespace {

using testing::cls_seeds;
using testing::FakeOpenAIServer;
using testing::FakeServerOptions;
using testing::Fault;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::requests_for;
using testing::section;

const std::set<std::string> kClsLabels = {"体育", "财经", "科技"};

// A reply in the json_schema form for classification, for any request.
testing::ChatChoice schema_reply(const nlohmann::json& request, int) {
  testing::ChatChoice c;
  const std::int64_t n = request.value("seed", std::int64_t{0});
  c.content = nlohmann::json{
      {"reasoning", "先想一想"},
      {"text", "新样本" + std::to_string(n)},
      {"label",
       "体育"}}.dump();
  return c;
}

// A server that accepts only `formats`, holds every reply to the request's schema, and
// answers with schema_reply.
FakeServerOptions strict_server(std::vector<std::string> formats = {"text", "json_object",
                                                                    "json_schema"}) {
  FakeServerOptions so;
  so.response_formats = std::move(formats);
  so.check_schema = true;
  so.enforce_schema = true;
  return so;
}

// The response_format type of a recorded body ("text" when it sends none).
std::string format_type(const nlohmann::json& body) {
  if (!body.contains("response_format")) return "text";
  return body["response_format"].value("type", "?");
}

std::vector<std::string> format_types(const FakeOpenAIServer& server) {
  std::vector<std::string> out;
  for (const auto& b : server.bodies()) out.push_back(format_type(b));
  return out;
}

std::vector<Sample> more_seeds(std::size_t n) {
  std::vector<Sample> s(n);
  for (std::size_t i = 0; i < n; ++i) {
    s[i].text = "第" + std::to_string(i) + "条种子新闻";
    s[i].label = "财经";
  }
  return s;
}

std::int64_t counter(const FakeOpenAIServer& server, const char* name) {
  return server.summary()[name].get<std::int64_t>();
}

TEST(OpenAITeacherFormat, ByDefaultAsksForTheTasksSchemaWithTheLabelSet) {
  FakeOpenAIServer server(strict_server());
  server.set_choice_responder(schema_reply);
  auto j = section(server);
  j["seed"] = 7;
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), "", kClsLabels);
  EXPECT_EQ(teacher.response_format(), "json_schema");
  const auto seeds = cls_seeds();
  const auto gens = teacher.generate(requests_for(seeds), {}, nullptr);
  ASSERT_EQ(server.requests(), 3u);
  EXPECT_EQ(counter(server, "bad_requests"), 0);
  EXPECT_EQ(counter(server, "schema_mismatches"), 0);
  for (const auto& body : server.bodies()) {
    const auto& format = body["response_format"];
    EXPECT_EQ(format["type"], "json_schema");
    EXPECT_EQ(format["json_schema"]["strict"], true);
    const auto& schema = format["json_schema"]["schema"];
    EXPECT_EQ(schema["properties"]["label"]["enum"],
              nlohmann::json(std::vector<std::string>(kClsLabels.begin(), kClsLabels.end())));
    EXPECT_EQ(schema["required"], (nlohmann::json{"reasoning", "text", "label"}));
    EXPECT_EQ(testing::schema_problem(schema, true), std::nullopt);
  }
  for (const auto& g : gens) {
    ASSERT_TRUE(g.ok) << g.error;
    // The prompt asks for the reasoning inside the JSON, as the schema does.
    EXPECT_THAT(g.prompt.back().content, HasSubstr(R"({"reasoning": )"));
    const auto parsed = parse_generation(Task::kClassification, g, 1);
    ASSERT_EQ(parsed.size(), 1u);
    ASSERT_TRUE(parsed[0].sample);
    EXPECT_EQ(parsed[0].sample->label, "体育");
  }
  EXPECT_EQ(teacher.format_state(),
            (nlohmann::ordered_json{{"response_format", "json_schema"},
                                    {"configured", "json_schema"},
                                    {"fallbacks", nlohmann::ordered_json::array()}}));

  // ner: the entity types are the enum of each entity's "type".
  OpenAITeacher ner(Task::kNer, read_openai_teacher_options(section(server), "."), "",
                    {"PER", "LOC"});
  const auto body = ner.request_body({{"user", "x"}}, 0);
  EXPECT_EQ(body["response_format"]["json_schema"]["schema"]["properties"]["entities"]["items"]
                ["properties"]["type"]["enum"],
            (nlohmann::ordered_json{"LOC", "PER"}));
}

TEST(OpenAITeacherFormat, ARefusedSchemaFallsBackOnceToJsonObject) {
  FakeOpenAIServer server(strict_server({"text", "json_object"}));
  server.set_choice_responder(schema_reply);
  auto j = section(server);
  j["seed"] = 0;
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), "", kClsLabels);
  const auto seeds = more_seeds(6);
  std::vector<GenerationRequest> first, second;
  for (std::size_t i = 0; i < 3; ++i) first.push_back({&seeds[i], i});
  for (std::size_t i = 3; i < 6; ++i) second.push_back({&seeds[i], i});
  for (const auto& g : teacher.generate(first, {}, nullptr)) EXPECT_TRUE(g.ok) << g.error;
  for (const auto& g : teacher.generate(second, {}, nullptr)) EXPECT_TRUE(g.ok) << g.error;

  // One 400 (the probe), then json_object for every request, in both calls.
  EXPECT_EQ(counter(server, "bad_requests"), 1);
  EXPECT_EQ(counter(server, "unsupported_format"), 1);
  EXPECT_EQ(format_types(server),
            (std::vector<std::string>{"json_schema", "json_object", "json_object", "json_object",
                                      "json_object", "json_object", "json_object"}));
  EXPECT_EQ(teacher.response_format(), "json_object");
  const auto state = teacher.format_state();
  EXPECT_EQ(state["response_format"], "json_object");
  EXPECT_EQ(state["configured"], "json_schema");
  ASSERT_EQ(state["fallbacks"].size(), 1u);
  EXPECT_EQ(state["fallbacks"][0]["from"], "json_schema");
  EXPECT_EQ(state["fallbacks"][0]["to"], "json_object");
  EXPECT_EQ(state["fallbacks"][0]["status"], 400);
  EXPECT_THAT(state["fallbacks"][0]["message"].get<std::string>(), HasSubstr("json_schema"));
  // Under json_object the reply is still JSON from its first character: reasoning in a field.
  EXPECT_THAT(server.bodies().back()["messages"].back()["content"].get<std::string>(),
              HasSubstr(R"({"reasoning": )"));
}

TEST(OpenAITeacherFormat, AServerThatTakesOnlyTextIsAskedWithoutAResponseFormat) {
  FakeOpenAIServer server(strict_server({"text"}));
  server.set_choice_responder([](const nlohmann::json&, int) {
    return testing::ChatChoice{
        "想一想。\n" + nlohmann::json{{"text", "纯文本回复"}, {"label", "体育"}}.dump(), "", ""};
  });
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(section(server), "."),
                        "", kClsLabels);
  const auto seeds = cls_seeds();
  const auto gens = teacher.generate(requests_for(seeds), {}, nullptr);
  for (const auto& g : gens) {
    ASSERT_TRUE(g.ok) << g.error;
    EXPECT_EQ(parse_generation(Task::kClassification, g, 1)[0].sample->text, "纯文本回复");
  }
  EXPECT_EQ(counter(server, "bad_requests"), 2);
  EXPECT_EQ(format_types(server),
            (std::vector<std::string>{"json_schema", "json_object", "text", "text", "text"}));
  const auto bodies = server.bodies();
  for (std::size_t i = 2; i < bodies.size(); ++i) {
    const auto& body = bodies[i];
    EXPECT_FALSE(body.contains("response_format")) << body.dump();
    // Plain text: the reasoning as prose, then the object, as the default prompt asks.
    EXPECT_EQ(body["messages"].back()["content"].get<std::string>().find(R"("reasoning")"),
              std::string::npos);
  }
  const auto state = teacher.format_state();
  EXPECT_EQ(state["response_format"], "text");
  ASSERT_EQ(state["fallbacks"].size(), 2u);
  EXPECT_EQ(state["fallbacks"][1]["from"], "json_object");
  EXPECT_EQ(state["fallbacks"][1]["to"], "text");

  // Configured text: no response_format and no probe from the start.
  auto j = section(server);
  j["response_format"] = "text";
  OpenAITeacher plain(Task::kClassification, read_openai_teacher_options(j, "."), "", kClsLabels);
  const std::size_t before = server.requests();
  plain.generate(requests_for(seeds), {}, nullptr);
  for (std::size_t i = before; i < server.requests(); ++i) {
    EXPECT_FALSE(server.bodies()[i].contains("response_format"));
  }
  EXPECT_EQ(counter(server, "bad_requests"), 2);
}

TEST(OpenAITeacherFormat, WhenEvenTextIsRefusedTheRunStops) {
  FakeOpenAIServer server;
  server.push_faults(10, Fault::status_code(400));
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(section(server), "."),
                        "", kClsLabels);
  const auto seeds = cls_seeds();
  const std::vector<GenerationRequest> one = {{&seeds[0], 0}};
  try {
    teacher.generate(one, {}, nullptr);
    ADD_FAILURE() << "a server that refuses every form was accepted";
  } catch (const HttpFatalError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_THAT(e.what(), HasSubstr("Injected error."));
  }
  // json_schema, json_object, then text.
  EXPECT_EQ(format_types(server), (std::vector<std::string>{"json_schema", "json_object", "text"}));
}

// A server that refuses every chat request with 400 and numbers its refusals, so that a test
// can tell which refusal an error quotes.
class RefusingServer {
 public:
  RefusingServer() {
    server_.Post(
        "/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
          std::size_t n;
          {
            std::lock_guard lock(mu_);
            bodies_.push_back(nlohmann::json::parse(req.body, nullptr, false));
            n = bodies_.size();
          }
          res.status = 400;
          res.set_content(nlohmann::json{{"error",
                                          {{"message", "refusal number " + std::to_string(n)},
                                           {"type", "invalid_request_error"}}}}
                              .dump(),
                          "application/json");
        });
    // Bound and listening before the thread starts: connections queue until it accepts.
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~RefusingServer() {
    while (!server_.is_running()) std::this_thread::yield();  // stop() needs a running server
    server_.stop();
    thread_.join();
  }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  std::vector<nlohmann::json> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> bodies_;
};

TEST(OpenAITeacherFormat, WhenEvenTextIsRefusedTheFirstRefusalIsThrown) {
  RefusingServer server;
  nlohmann::json j = {
      {"kind", "openai"}, {"base_url", server.base_url()}, {"model", "m"}, {"concurrency", 4}};
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), "", kClsLabels);
  const auto seeds = cls_seeds();
  try {
    teacher.generate(requests_for(seeds), {}, nullptr);
    ADD_FAILURE() << "no error";
  } catch (const HttpFatalError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_THAT(e.what(), HasSubstr("refusal number 1"));
    EXPECT_THAT(e.what(), Not(HasSubstr("refusal number 3")));
  }
  const auto bodies = server.bodies();
  ASSERT_GE(bodies.size(), 3u);
  EXPECT_EQ(format_type(bodies[0]), "json_schema");
  EXPECT_EQ(format_type(bodies[1]), "json_object");
  EXPECT_EQ(format_type(bodies[2]), "text");
}

TEST(OpenAITeacherFormat, ARestoredStateSkipsTheFallback) {
  FakeOpenAIServer server(strict_server({"text", "json_object"}));
  server.set_choice_responder(schema_reply);
  const auto seeds = cls_seeds();
  nlohmann::ordered_json state;
  {
    OpenAITeacher first(Task::kClassification, read_openai_teacher_options(section(server), "."),
                        "", kClsLabels);
    first.generate(requests_for(seeds), {}, nullptr);
    state = first.format_state();
  }
  ASSERT_EQ(counter(server, "bad_requests"), 1);
  ASSERT_EQ(state["response_format"], "json_object");

  // As a resumed run does: the state comes back through JSON.
  OpenAITeacher resumed(Task::kClassification, read_openai_teacher_options(section(server), "."),
                        "", kClsLabels);
  resumed.restore_format_state(nlohmann::json::parse(state.dump()));
  EXPECT_EQ(resumed.response_format(), "json_object");
  const std::size_t before = server.requests();
  for (const auto& g : resumed.generate(requests_for(seeds), {}, nullptr)) {
    EXPECT_TRUE(g.ok) << g.error;
  }
  EXPECT_EQ(counter(server, "bad_requests"), 1) << "the resumed teacher probed json_schema again";
  for (std::size_t i = before; i < server.requests(); ++i) {
    EXPECT_EQ(format_type(server.bodies()[i]), "json_object");
  }
  // The fallback is kept, not made again (compared as JSON: the key order inside a fallback
  // may change on the way through the run store).
  EXPECT_EQ(nlohmann::json::parse(resumed.format_state().dump()),
            nlohmann::json::parse(state.dump()));

  // A state for another configured form is not this run's: ignored.
  auto j = section(server);
  j["response_format"] = "json_object";
  OpenAITeacher other(Task::kClassification, read_openai_teacher_options(j, "."), "", kClsLabels);
  nlohmann::json text_state = {{"response_format", "text"},
                               {"configured", "json_schema"},
                               {"fallbacks", nlohmann::json::array()}};
  other.restore_format_state(text_state);
  EXPECT_EQ(other.response_format(), "json_object");
  // Garbage is ignored too.
  resumed.restore_format_state(
      nlohmann::json{{"response_format", "xml"}, {"configured", "json_schema"}});
  resumed.restore_format_state(nlohmann::json("json_schema"));
  EXPECT_EQ(resumed.response_format(), "json_object");
}

TEST(OpenAITeacherFormat, ReasoningIsKeptApartAndCached) {
  testing::TempDir dir;
  const std::string db = dir.file("run.sqlite");
  for (const std::string field : {"reasoning_content", "reasoning"}) {
    SCOPED_TRACE(field);
    FakeServerOptions so = strict_server();
    so.reasoning_field = field;
    FakeOpenAIServer server(so);
    server.set_choice_responder([](const nlohmann::json& request, int) {
      testing::ChatChoice c = schema_reply(request, 0);
      c.reasoning = "推理" + std::to_string(request.value("seed", 0)) +
                    " {\"text\": \"诱饵\", "
                    "\"label\": \"财经\"}";
      return c;
    });
    auto j = section(server);
    j["seed"] = field == "reasoning" ? 100 : 0;  // other requests, other cache entries
    const auto seeds = cls_seeds();
    std::vector<Generation> first;
    {
      OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), db,
                            kClsLabels);
      first = teacher.generate(requests_for(seeds), {}, nullptr);
    }
    ASSERT_EQ(server.requests(), 3u);
    for (std::size_t i = 0; i < first.size(); ++i) {
      const Generation& g = first[i];
      ASSERT_TRUE(g.ok) << g.error;
      EXPECT_EQ(g.reasoning, "推理" + std::to_string(j["seed"].get<int>() + static_cast<int>(i)) +
                                 " {\"text\": \"诱饵\", \"label\": \"财经\"}");
      EXPECT_EQ(g.reply.find("诱饵"), std::string::npos);
      EXPECT_EQ(parse_generation(Task::kClassification, g, 1)[0].sample->label, "体育");
    }
    OpenAITeacher again(Task::kClassification, read_openai_teacher_options(j, "."), db, kClsLabels);
    const auto cached = again.generate(requests_for(seeds), {}, nullptr);
    EXPECT_EQ(server.requests(), 3u);
    for (std::size_t i = 0; i < cached.size(); ++i) {
      EXPECT_TRUE(cached[i].cached);
      EXPECT_EQ(cached[i].reply, first[i].reply);
      EXPECT_EQ(cached[i].reasoning, first[i].reasoning);
    }
  }
}

TEST(OpenAITeacherFormat, AThinkBlockAndAnOpenOneAreReasoningAndCached) {
  testing::TempDir dir;
  const std::string db = dir.file("run.sqlite");
  FakeOpenAIServer server(strict_server());
  server.set_choice_responder([](const nlohmann::json& request, int) {
    testing::ChatChoice c = schema_reply(request, 0);
    if (request.value("seed", 0) == 1) {
      c.content = "<think>\n还没想完";
      c.finish_reason = "length";
    } else {
      c.content = "<think>\n想好了\n</think>\n" + c.content;
    }
    return c;
  });
  auto j = section(server);
  j["seed"] = 0;
  const auto seeds = cls_seeds();
  const std::vector<Sample> two(seeds.begin(), seeds.begin() + 2);
  std::vector<Generation> first;
  {
    OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), db,
                          kClsLabels);
    first = teacher.generate(requests_for(two), {}, nullptr);
  }
  ASSERT_TRUE(first[0].ok) << first[0].error;
  EXPECT_EQ(first[0].reasoning, "想好了");
  EXPECT_FALSE(first[0].reasoning_open);
  EXPECT_EQ(first[0].reply.find("think>"), std::string::npos);
  ASSERT_TRUE(first[1].ok) << first[1].error;
  EXPECT_TRUE(first[1].reasoning_open);
  EXPECT_EQ(first[1].reasoning, "还没想完");
  EXPECT_EQ(first[1].reply, "");
  EXPECT_EQ(parse_generation(Task::kClassification, first[1], 1)[0].rejection->reason,
            RejectReason::kTruncatedInReasoning);

  OpenAITeacher again(Task::kClassification, read_openai_teacher_options(j, "."), db, kClsLabels);
  const auto cached = again.generate(requests_for(two), {}, nullptr);
  EXPECT_EQ(server.requests(), 2u);
  ASSERT_TRUE(cached[1].cached);
  EXPECT_EQ(cached[0].reasoning, "想好了");
  EXPECT_TRUE(cached[1].reasoning_open);
  EXPECT_EQ(cached[1].reasoning, "还没想完");
  EXPECT_EQ(cached[1].finish_reason, "length");
}

TEST(OpenAITeacherFormat, SeveralSamplesPerRequest) {
  FakeOpenAIServer server(strict_server());
  std::vector<nlohmann::ordered_json> fixture;
  for (int i = 0; i < 8; ++i) {
    fixture.push_back(
        {{"text", "样本" + std::to_string(i)}, {"label", i % 2 ? "财经" : "科技"}, {"id", "x"}});
  }
  server.set_choice_responder(testing::samples_responder(fixture, {0, 20, false}));
  auto j = section(server);
  j["samples_per_request"] = 4;
  j["concurrency"] = 1;  // the responder hands out the fixture in arrival order
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), "", kClsLabels);
  EXPECT_EQ(teacher.samples_per_request(), 4);
  const auto seeds = cls_seeds();
  const std::vector<Sample> two(seeds.begin(), seeds.begin() + 2);
  const auto gens = teacher.generate(requests_for(two), {}, nullptr);
  EXPECT_EQ(counter(server, "bad_requests"), 0);
  EXPECT_EQ(counter(server, "schema_mismatches"), 0);
  for (const auto& body : server.bodies()) {
    const auto& samples = body["response_format"]["json_schema"]["schema"]["properties"]["samples"];
    EXPECT_EQ(samples["maxItems"], 4);
    EXPECT_EQ(samples["minItems"], 4);
    const std::string prompt = body["messages"].back()["content"];
    EXPECT_THAT(prompt, HasSubstr(" 4 "));
    EXPECT_THAT(prompt, HasSubstr("\"samples\""));
  }
  ASSERT_EQ(gens.size(), 2u);
  for (std::size_t r = 0; r < gens.size(); ++r) {
    ASSERT_TRUE(gens[r].ok) << gens[r].error;
    const auto parsed = parse_generation(Task::kClassification, gens[r], 4);
    ASSERT_EQ(parsed.size(), 4u) << gens[r].reply;
    for (std::size_t k = 0; k < 4; ++k) {
      ASSERT_TRUE(parsed[k].sample) << parsed[k].rejection->detail;
      EXPECT_EQ(parsed[k].sample->text, fixture[r * 4 + k]["text"]);
      EXPECT_EQ(parsed[k].sample->label, fixture[r * 4 + k]["label"]);
    }
  }
}

TEST(OpenAITeacherFormat, OneProbeUnderConcurrency) {
  FakeOpenAIServer server(strict_server({"text", "json_object"}));
  server.set_choice_responder(schema_reply);
  auto j = section(server);
  j["concurrency"] = 8;
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), "", kClsLabels);
  const auto seeds = more_seeds(20);
  std::vector<GenerationRequest> requests;
  for (std::size_t i = 0; i < seeds.size(); ++i) requests.push_back({&seeds[i], i});
  std::size_t done = 0;
  const auto gens = teacher.generate(
      requests, [&](std::size_t, const Generation&) { ++done; }, nullptr);
  EXPECT_EQ(done, 20u);
  for (const auto& g : gens) EXPECT_TRUE(g.ok) << g.error;
  EXPECT_EQ(counter(server, "bad_requests"), 1);
  EXPECT_EQ(server.requests(), 21u);
  const auto types = format_types(server);
  EXPECT_EQ(std::count(types.begin(), types.end(), "json_object"), 20);
  EXPECT_EQ(teacher.usage().requests, 20);
  EXPECT_EQ(teacher.usage().failures, 0);
}

// The probe itself fails for a reason of its own (a 503 with no retries left): the form is still
// unknown, so the next request probes alone, and the server's 400 still moves the teacher on
// instead of stopping the run.
TEST(OpenAITeacherFormat, AProbeThatFailsForAnotherReasonStillEndsInOneFallback) {
  FakeOpenAIServer server(strict_server({"text", "json_object"}));
  server.set_choice_responder(schema_reply);
  server.push_fault(Fault::status_code(503));
  auto j = section(server);
  j["max_retries"] = 0;
  OpenAITeacher teacher(Task::kClassification, read_openai_teacher_options(j, "."), "", kClsLabels);
  const auto seeds = cls_seeds();
  std::vector<Generation> gens;
  EXPECT_NO_THROW(gens = teacher.generate(requests_for(seeds), {}, nullptr));
  ASSERT_EQ(gens.size(), 3u);
  EXPECT_FALSE(gens[0].ok);
  EXPECT_TRUE(gens[1].ok) << gens[1].error;
  EXPECT_TRUE(gens[2].ok) << gens[2].error;
  // The probe failed for another reason, so the rest went out together, unprobed (probing one
  // by one would serialise a whole batch against a server that is down): each may be refused
  // once, and the fallback still happens once and sends them again.
  EXPECT_GE(counter(server, "bad_requests"), 1);
  EXPECT_LE(counter(server, "bad_requests"), 2);
  EXPECT_EQ(teacher.response_format(), "json_object");
  EXPECT_EQ(teacher.format_state()["fallbacks"].size(), 1u);
}

TEST(OpenAITeacherFormat, RetriesAndSamplesOptionsAreRead) {
  const nlohmann::json base = {
      {"kind", "openai"}, {"base_url", "http://127.0.0.1:8000/v1"}, {"model", "m"}};
  const auto defaults = read_openai_teacher_options(base, ".");
  EXPECT_EQ(defaults.response_format, "json_schema");
  EXPECT_EQ(defaults.format_retries, 2);
  EXPECT_EQ(defaults.samples_per_request, 1);
  for (const int retries : {0, 10}) {
    nlohmann::json j = base;
    j["format_retries"] = retries;
    EXPECT_EQ(read_openai_teacher_options(j, ".").format_retries, retries);
  }
  for (const int samples : {1, kMaxSamplesPerReply}) {
    nlohmann::json j = base;
    j["samples_per_request"] = samples;
    const auto o = read_openai_teacher_options(j, ".");
    EXPECT_EQ(o.samples_per_request, samples);
    OpenAITeacher t(Task::kSummarization, o, "");
    EXPECT_EQ(t.samples_per_request(), samples);
    const auto body = t.request_body({{"user", "x"}}, 0);
    const auto& props = body["response_format"]["json_schema"]["schema"]["properties"];
    EXPECT_EQ(props.contains("samples"), samples > 1);
  }
  for (const char* format : {"json_schema", "json_object", "text"}) {
    nlohmann::json j = base;
    j["response_format"] = format;
    EXPECT_EQ(OpenAITeacher(Task::kNer, read_openai_teacher_options(j, "."), "").response_format(),
              format);
  }
}

}  // namespace
}  // namespace weakdistill
