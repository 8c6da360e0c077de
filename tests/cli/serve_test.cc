// `weakdistill serve`, run as a user runs it (the real binary on a free loopback port): it
// predicts what `weakdistill predict` predicts for every kind, answers every bad request with its
// status and an OpenAI-style error, serves 64 concurrent clients, and on SIGTERM answers the
// requests it holds before exiting 0.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "support/bert_model.h"
#include "support/run.h"
#include "support/seq2seq_model.h"
#include "support/serve_process.h"
#include "support/synthetic.h"
#include "support/temp_dir.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

using ::testing::HasSubstr;
using testing::run_cli;
using testing::ServeProcess;
using testing::shell_quote;
using testing::TempDir;

std::string ner_data(int n) {
  const std::vector<std::string> people = {"张伟", "李娜", "王芳", "刘洋", "陈静"};
  const std::vector<std::string> places = {"北京", "上海", "广州", "深圳", "杭州"};
  std::string out;
  for (int i = 0; i < n; ++i) {
    const std::string& per = people[i % 5];
    const std::string& loc = places[(i * 3 + 1) % 5];
    out += nlohmann::json({{"text", per + "在" + loc + "工作。"},
                           {"entities",
                            {{{"start", 0}, {"end", 2}, {"type", "PER"}, {"text", per}},
                             {{"start", 3}, {"end", 5}, {"type", "LOC"}, {"text", loc}}}}})
               .dump() +
           "\n";
  }
  return out;
}

std::string sum_data(int n) {
  const std::vector<std::string> topics = {"北京今天下雨", "上海股市上涨", "广州举办展会",
                                           "深圳发布新规", "杭州天气晴朗"};
  std::string out;
  for (int i = 0; i < n; ++i) {
    const std::string& t = topics[i % 5];
    out +=
        nlohmann::json({{"text", t + "。记者报道，" + t + "，市民关注。"}, {"summary", t}}).dump() +
        "\n";
  }
  return out;
}

// Every field equal, numbers within 1e-6 (a batch of other texts pads differently).
void expect_same(const nlohmann::json& a, const nlohmann::json& b, const std::string& where) {
  if (a.is_number() && b.is_number()) {
    EXPECT_NEAR(a.get<double>(), b.get<double>(), 1e-6 * std::max(1.0, std::abs(a.get<double>())))
        << where;
    return;
  }
  if (a.is_object() && b.is_object()) {
    EXPECT_EQ(a.size(), b.size()) << where << ": " << a << " vs " << b;
    for (const auto& [k, v] : a.items()) {
      if (!b.contains(k)) {
        ADD_FAILURE() << where << ": no " << k << " in " << b;
        continue;
      }
      expect_same(v, b.at(k), where + "." + k);
    }
    return;
  }
  if (a.is_array() && b.is_array() && a.size() == b.size()) {
    for (std::size_t i = 0; i < a.size(); ++i)
      expect_same(a[i], b[i], where + "[" + std::to_string(i) + "]");
    return;
  }
  EXPECT_EQ(a, b) << where;
}

// A WordPiece vocabulary of the synthetic labels' characters (support/synthetic.h).
std::string ab_vocab() {
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  for (const char* chars : {testing::kA, testing::kB}) {
    const std::string s(chars);
    for (std::size_t i = 0; i < s.size(); i += 3) vocab += s.substr(i, 3) + "\n";
  }
  return vocab;
}

struct Kind {
  const char* kind;
  const char* task;
  std::string (*train)(int);
  const char* sets;
};

std::string cls_data(int n) { return testing::dataset(0, n / 2); }

class ServeKinds : public ::testing::TestWithParam<Kind> {};

TEST_P(ServeKinds, PredictionsEqualWeakdistillPredict) {
  const Kind& k = GetParam();
  TempDir dir;
  const std::string data = k.train(20);
  const std::string train = dir.write("train.jsonl", data);
  std::string sets = k.sets;
  if (std::string(k.kind) == "bert-cls") {
    dir.write("vocab.txt", ab_vocab());
    testing::bert_reference("make " + shell_quote(dir.file("bert")) + " --vocab " +
                            shell_quote(dir.file("vocab.txt")) +
                            " --hidden 32 --layers 2 --heads 4 --intermediate 64 --max-position 32 "
                            "--prefix bert.");
    sets += " --set path=" + shell_quote(dir.file("bert"));
  }
  if (std::string(k.kind) == "uie") {
    std::set<std::string> chars;
    for (char32_t c : utf8::decode(data + "人物地点机构今天")) {
      if (c > 0x7f) chars.insert(utf8::encode(std::u32string(1, c)));
    }
    std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
    for (const std::string& c : chars) vocab += c + "\n";
    dir.write("uie-vocab.txt", vocab);
    const testing::ReferenceRun made = testing::run_reference(
        "uie_reference.py", "make " + shell_quote(dir.file("uie")) + " --vocab " +
                                shell_quote(dir.file("uie-vocab.txt")) +
                                " --hidden 32 --layers 1 --heads 4 --intermediate 64 "
                                "--max-position 64 --seed 1");
    ASSERT_EQ(made.status, 0) << made.output;
    sets += " --set path=" + shell_quote(dir.file("uie"));
  }
  if (std::string(k.kind) == "seq2seq") {
    std::vector<std::string> texts;
    std::istringstream lines(data);
    for (std::string line; std::getline(lines, line);)
      texts.push_back(nlohmann::json::parse(line).at("text"));
    testing::make_seq2seq_model(dir.file("bart"), "--arch bart --vocab-size 60 --std 0.05", texts);
    sets += " --set path=" + shell_quote(dir.file("bart"));
  }
  const auto t =
      run_cli(std::string("train --task ") + k.task + " --student " + k.kind + " --train " +
              shell_quote(train) + " --out " + shell_quote(dir.file("model")) + " " + sets);
  ASSERT_EQ(t.code, 0) << t.err;

  // Inputs of several lengths, with ids, and texts the model never saw.
  std::string input;
  nlohmann::json inputs = nlohmann::json::array();
  std::istringstream lines(data);
  int n = 0;
  for (std::string line; std::getline(lines, line) && n < 12; ++n) {
    std::string text = nlohmann::json::parse(line).at("text");
    if (n % 3 == 1) text += text;
    if (n % 4 == 3) text = "今天" + text.substr(0, 6);
    const nlohmann::json item = {{"id", "t" + std::to_string(n)}, {"text", text}};
    inputs.push_back(item);
    input += item.dump() + "\n";
  }
  dir.write("input.jsonl", input);
  const auto p = run_cli("predict --model " + shell_quote(dir.file("model")) + " --input " +
                         shell_quote(dir.file("input.jsonl")) + " --output " +
                         shell_quote(dir.file("pred.jsonl")));
  ASSERT_EQ(p.code, 0) << p.err;
  std::vector<nlohmann::json> expected;
  std::istringstream pred(testing::read_file(dir.file("pred.jsonl")));
  for (std::string line; std::getline(pred, line);) expected.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(expected.size(), inputs.size());

  ServeProcess server(shell_quote(dir.file("model")) + " --threads 1");
  httplib::Client client("127.0.0.1", server.port());
  // All at once, as {"inputs"}.
  auto r =
      client.Post("/v1/predict", nlohmann::json({{"inputs", inputs}}).dump(), "application/json");
  ASSERT_TRUE(r) << server.log();
  ASSERT_EQ(r->status, 200) << r->body;
  const auto all = nlohmann::json::parse(r->body).at("predictions");
  ASSERT_EQ(all.size(), expected.size());
  for (std::size_t i = 0; i < all.size(); ++i)
    expect_same(expected[i], all[i], "inputs " + std::to_string(i));
  // One at a time, as {"texts"}: no id in the answer.
  for (std::size_t i = 0; i < inputs.size(); i += 5) {
    r = client.Post("/v1/predict", nlohmann::json({{"texts", {inputs[i].at("text")}}}).dump(),
                    "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    nlohmann::json want = expected[i];
    want.erase("id");
    expect_same(want, nlohmann::json::parse(r->body).at("predictions").at(0),
                "texts " + std::to_string(i));
  }
  r = client.Get("/v1/model");
  ASSERT_TRUE(r);
  const auto model = nlohmann::json::parse(r->body);
  EXPECT_EQ(model.at("kind"), k.kind);
  EXPECT_EQ(model.at("task"), k.task);
  if (std::string(k.task) == "classification") {
    EXPECT_EQ(model.at("labels"), nlohmann::json({"A", "B"}));
  }
  if (std::string(k.task) == "ner") {
    EXPECT_EQ(model.at("labels"), nlohmann::json({"LOC", "PER"}));
  }
  EXPECT_EQ(server.stop(SIGTERM), 0) << server.log();
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, ServeKinds,
    ::testing::Values(
        Kind{"fasttext", "classification", cls_data, "--set epochs=5 --set threads=1"},
        Kind{"textcnn", "classification", cls_data,
             "--set epochs=2 --set threads=1 --set filters=8"},
        Kind{"bert-cls", "classification", cls_data,
             "--set epochs=2 --set threads=1 --set lr=0.001"},
        Kind{"bigru-crf", "ner", ner_data, "--set epochs=2 --set threads=1 --set hidden=16"},
        Kind{"lead", "summarization", sum_data, ""},
        Kind{"pointer-generator", "summarization", sum_data,
             "--set epochs=1 --set threads=1 --set hidden=16 --set embedding_dim=16 "
             "--set beam=2 --set max_length=8"},
        Kind{"uie", "ner", ner_data, "--set epochs=2 --set threads=1 --set lr=0.001"},
        Kind{"seq2seq", "summarization", sum_data,
             "--set epochs=3 --set threads=1 --set lr=0.003 --set beam=2 --set max_length=8"}),
    [](const auto& info) {
      std::string name = info.param.kind;
      name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
      return name;
    });

// One fasttext server for the request checks.
class ServeRequests : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    dir_->write("train.jsonl", testing::dataset(0, 10));
    const auto t = run_cli("train --task classification --student fasttext --train " +
                           shell_quote(dir_->file("train.jsonl")) + " --out " +
                           shell_quote(dir_->file("model")) + " --set epochs=2 --set threads=1");
    ASSERT_EQ(t.code, 0) << t.err;
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
};
TempDir* ServeRequests::dir_ = nullptr;

struct Bad {
  const char* method;
  const char* path;
  std::string body;
  int status;
  const char* code;
  const char* param;    // "" for null
  const char* message;  // a part of it
};

TEST_F(ServeRequests, EveryBadRequestGetsItsStatusAndAnOpenAIStyleError) {
  ServeProcess server(shell_quote(dir_->file("model")) +
                      " --max-texts 4 --max-text-chars 10 --max-body-bytes 2000");
  const std::vector<Bad> cases = {
      {"POST", "/v1/predict", "{\"texts\": [\"a\"", 400, "invalid_json", "", "not valid JSON"},
      {"POST", "/v1/predict", "[1]", 400, "invalid_type", "",
       "must be a JSON object, not an array"},
      {"POST", "/v1/predict", "{\"texts\": \"甲乙\"}", 400, "invalid_type", "texts",
       "texts must be an array, not a string"},
      {"POST", "/v1/predict", "{\"texts\": [\"甲\", 3]}", 400, "invalid_type", "texts[1]",
       "texts[1] must be a string, not a number"},
      {"POST", "/v1/predict", "{\"inputs\": [\"甲\"]}", 400, "invalid_type", "inputs[0]",
       "must be an object"},
      {"POST", "/v1/predict", "{\"inputs\": [{\"txt\": \"甲\"}]}", 400, "unknown_field",
       "inputs[0].txt", "unknown field \"txt\""},
      {"POST", "/v1/predict", "{\"inputs\": [{\"id\": 1}]}", 400, "missing_field", "inputs[0].text",
       "has no \"text\""},
      {"POST", "/v1/predict", "{\"inputs\": [{\"text\": \"甲\", \"id\": 1.5}]}", 400,
       "invalid_type", "inputs[0].id", "a string or an integer"},
      {"POST", "/v1/predict", "{}", 400, "missing_field", "", "needs \"texts\""},
      {"POST", "/v1/predict", "{\"texts\": [], \"inputs\": []}", 400, "unknown_field", "",
       "not both"},
      {"POST", "/v1/predict", "{\"texts\": [\"甲\"], \"top_k\": 2}", 400, "unknown_field", "top_k",
       "unknown field \"top_k\""},
      {"POST", "/v1/predict", "{\"texts\": [\"\xe7\x94\"]}", 400, "invalid_utf8", "",
       "not valid UTF-8 (byte 12)"},
      {"POST", "/v1/predict", "{\"texts\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", 400,
       "too_many_texts", "texts", "texts has 5 items; this server takes at most 4"},
      {"POST", "/v1/predict", "{\"texts\": [\"甲乙丙丁戊己庚辛壬癸子\"]}", 400, "text_too_long",
       "texts[0]", "texts[0] has 11 characters; this server takes at most 10"},
      {"POST", "/v1/predict", "{\"texts\": [\"" + std::string(3000, 'a') + "\"]}", 413,
       "body_too_large", "", "over 2000 bytes"},
      {"GET", "/v1/predict", "", 405, "method_not_allowed", "", "this endpoint takes POST"},
      {"POST", "/health", "{}", 405, "method_not_allowed", "", "takes GET"},
      {"GET", "/v1/nothing", "", 404, "not_found", "", "no endpoint /v1/nothing"},
  };
  for (const Bad& c : cases) {
    // A client per case: a 405 or 413 closes its connection.
    httplib::Client client("127.0.0.1", server.port());
    const auto r = std::string(c.method) == "GET" ? client.Get(c.path)
                                                  : client.Post(c.path, c.body, "application/json");
    const std::string what = std::string(c.method) + " " + c.path + " " + c.body.substr(0, 60);
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, c.status) << what << " -> " << r->body;
    const auto j = nlohmann::json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << what << " -> " << r->body;
    const auto& e = j.at("error");
    EXPECT_EQ(e.at("code"), c.code) << what;
    EXPECT_EQ(e.at("type"), "invalid_request_error") << what;
    if (*c.param) {
      EXPECT_EQ(e.at("param"), c.param) << what;
    } else {
      EXPECT_TRUE(e.at("param").is_null()) << what << " -> " << e;
    }
    EXPECT_THAT(e.at("message").get<std::string>(), HasSubstr(c.message)) << what;
    if (c.status == 405) {
      EXPECT_FALSE(r->get_header_value("Allow").empty());
    }
  }
  // Still serving, and the metrics counted each answer.
  httplib::Client client("127.0.0.1", server.port());
  auto ok = client.Post("/v1/predict", "{\"texts\": [\"甲乙\"]}", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  const auto m = client.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_THAT(m->body,
              HasSubstr("weakdistill_http_requests_total{path=\"/v1/predict\",status=\"400\"} 14"));
  EXPECT_THAT(m->body,
              HasSubstr("weakdistill_http_requests_total{path=\"/v1/predict\",status=\"413\"} 1"));
  EXPECT_THAT(m->body,
              HasSubstr("weakdistill_http_requests_total{path=\"other\",status=\"404\"} 1"));
  EXPECT_THAT(m->body, HasSubstr("weakdistill_http_request_errors_total 18"));
  EXPECT_THAT(m->body, HasSubstr("weakdistill_predicted_texts_total 1"));
  EXPECT_EQ(server.stop(SIGINT), 0) << server.log();
}

TEST_F(ServeRequests, AnApiKeyGuardsEverythingButHealthAndIsNeverLogged) {
  const std::string key = "sk-serve-test-5f3a9c";
  ServeProcess server(shell_quote(dir_->file("model")) + " --api-key-env SERVE_TEST_KEY",
                      "SERVE_TEST_KEY=" + key, "-v");
  httplib::Client client("127.0.0.1", server.port());
  auto r = client.Post("/v1/predict", "{\"texts\": [\"甲\"]}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(nlohmann::json::parse(r->body).at("error").at("type"), "authentication_error");
  r = client.Post("/v1/predict", {{"Authorization", "Bearer sk-wrong"}}, "{\"texts\": [\"甲\"]}",
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(nlohmann::json::parse(r->body).at("error").at("message").get<std::string>().find(key),
            std::string::npos);
  r = client.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client.Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = client.Post("/v1/predict", {{"Authorization", "Bearer " + key}}, "{\"texts\": [\"甲\"]}",
                  "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(server.stop(), 0);
  EXPECT_EQ(server.log().find(key), std::string::npos) << server.log();

  // An unset variable is a usage error, before anything listens.
  const auto bad = run_cli("serve " + shell_quote(dir_->file("model")) +
                           " --port 0 --api-key-env SERVE_TEST_UNSET_KEY");
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("SERVE_TEST_UNSET_KEY: that environment variable is not set"));
}

// A tiny random bert-cls for the concurrency checks: neural, so the batcher matters.
class ServeBert : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    dir_->write("train.jsonl", testing::dataset(0, 8));
    dir_->write("vocab.txt", ab_vocab());
    testing::bert_reference("make " + shell_quote(dir_->file("bert")) + " --vocab " +
                            shell_quote(dir_->file("vocab.txt")) +
                            " --hidden 32 --layers 2 --heads 4 --intermediate 64 "
                            "--max-position 32 --prefix bert.");
    const auto t = run_cli("train --task classification --student bert-cls --train " +
                           shell_quote(dir_->file("train.jsonl")) + " --out " +
                           shell_quote(dir_->file("model")) +
                           " --set path=" + shell_quote(dir_->file("bert")) +
                           " --set epochs=2 --set lr=0.001 --set threads=1");
    ASSERT_EQ(t.code, 0) << t.err;
    // The expected answer of every text the clients send, from `predict`.
    std::string input;
    for (int i = 0; i < 64; ++i) {
      input +=
          nlohmann::json(
              {{"text", testing::text_of(i % 2 ? testing::kA : testing::kB, 300 + i, 3 + i % 7)}})
              .dump() +
          "\n";
    }
    dir_->write("input.jsonl", input);
    const auto p = run_cli("predict --model " + shell_quote(dir_->file("model")) + " --input " +
                           shell_quote(dir_->file("input.jsonl")) + " --output " +
                           shell_quote(dir_->file("pred.jsonl")));
    ASSERT_EQ(p.code, 0) << p.err;
    expected_ = new std::vector<nlohmann::json>();
    std::istringstream pred(testing::read_file(dir_->file("pred.jsonl")));
    for (std::string line; std::getline(pred, line);)
      expected_->push_back(nlohmann::json::parse(line));
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete expected_;
  }
  static TempDir* dir_;
  static std::vector<nlohmann::json>* expected_;
};
TempDir* ServeBert::dir_ = nullptr;
std::vector<nlohmann::json>* ServeBert::expected_ = nullptr;

std::int64_t metric(const std::string& body, const std::string& name) {
  const auto at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(body.substr(at + name.size() + 2));
}

TEST_F(ServeBert, SixtyFourConcurrentClientsGetTheirOwnAnswers) {
  // A wait far above one request's cost: 64 clients starting together surely share batches.
  ServeProcess server(
      shell_quote(dir_->file("model")) + " --threads 1 --max-batch 16 --max-wait-ms 50", "", "-v");
  constexpr int kClients = 64, kRequests = 4;
  std::atomic<int> failures{0};
  std::vector<std::string> errors(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_read_timeout(300);
      client.set_keep_alive(c % 2 == 0);  // pooled connections and one per request
      for (int k = 0; k < kRequests; ++k) {
        // 1 to 3 texts, a different mix for each client and request.
        nlohmann::json texts = nlohmann::json::array();
        std::vector<int> which;
        for (int j = 0; j <= (c + k) % 3; ++j) {
          which.push_back((c * 7 + k * 3 + j) % 64);
          texts.push_back((*expected_)[which.back()].at("text"));
        }
        const auto r = client.Post("/v1/predict", nlohmann::json({{"texts", texts}}).dump(),
                                   "application/json");
        if (!r || r->status != 200) {
          ++failures;
          errors[c] = r ? r->body : "client error " + httplib::to_string(r.error());
          continue;
        }
        const auto got = nlohmann::json::parse(r->body).at("predictions");
        for (std::size_t j = 0; j < which.size(); ++j) {
          const auto& want = (*expected_)[which[j]];
          if (got.at(j).at("label") != want.at("label") ||
              std::abs(got.at(j).at("scores").at("A").get<double>() -
                       want.at("scores").at("A").get<double>()) > 1e-6) {
            ++failures;
            errors[c] = got.at(j).dump() + " vs " + want.dump();
          }
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0) << [&] {
    std::string all;
    for (const auto& e : errors) all += e.empty() ? "" : e + "\n";
    return all + server.log();
  }();
  httplib::Client client("127.0.0.1", server.port());
  const auto m = client.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(metric(m->body, "weakdistill_batched_requests_total"), kClients * kRequests) << m->body;
  EXPECT_EQ(metric(m->body, "weakdistill_requests_in_flight"), 1);  // this one
  // Batches were made: fewer model calls than requests.
  EXPECT_LT(metric(m->body, "weakdistill_batch_size_texts_count"), kClients * kRequests) << m->body;
  EXPECT_EQ(server.stop(), 0) << server.log();
}

// Requests held in the batcher (a batch that would take a minute to fill) when SIGTERM comes are
// all answered, with the right predictions, and the server exits 0; then nothing listens.
TEST_F(ServeBert, SigtermWhileBusyAnswersEveryHeldRequestThenExits0) {
  ServeProcess server(shell_quote(dir_->file("model")) +
                      " --threads 1 --max-batch 1000 --max-wait-ms 60000");
  constexpr int kClients = 16;
  std::vector<int> status(kClients, -1);
  std::vector<std::string> bodies(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_read_timeout(300);
      const auto r = client.Post("/v1/predict",
                                 nlohmann::json({{"texts", {(*expected_)[c].at("text")}}}).dump(),
                                 "application/json");
      if (r) {
        status[c] = r->status;
        bodies[c] = r->body;
      }
    });
  }
  // SIGTERM once all 16 are held (an event the server reports), whatever the machine's speed.
  httplib::Client probe("127.0.0.1", server.port());
  int polls = 0;
  for (;;) {
    const auto m = probe.Get("/metrics");
    ASSERT_TRUE(m);
    ++polls;
    if (metric(m->body, "weakdistill_requests_in_flight") == kClients + 1) break;
    // A client answered already (it should wait a minute) would make this loop endless.
    ASSERT_EQ(metric(m->body, "weakdistill_batched_requests_total"), 0) << m->body;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server.signal(SIGTERM);
  for (auto& t : clients) t.join();
  for (int c = 0; c < kClients; ++c) {
    ASSERT_EQ(status[c], 200) << c << ": " << bodies[c] << "\n" << server.log();
    const auto got = nlohmann::json::parse(bodies[c]).at("predictions").at(0);
    EXPECT_EQ(got.at("label"), (*expected_)[c].at("label"));
  }
  EXPECT_EQ(server.wait(), 0) << server.log();
  EXPECT_THAT(server.log(), HasSubstr("SIGTERM: finishing the requests in flight"));
  EXPECT_THAT(server.log(),
              HasSubstr("stopped after " + std::to_string(kClients + polls) + " requests"));
}

}  // namespace
}  // namespace weakdistill
