#include "weakdistill/net/http_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "fake/fake_openai_server.h"
#include "weakdistill/core/error.h"

namespace weakdistill {
namespace {

using testing::FakeOpenAIServer;
using testing::FakeServerOptions;
using testing::Fault;
using ::testing::HasSubstr;
using ::testing::Not;

nlohmann::json chat_body(const std::string& text = "hi") {
  return {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", text}}}}};
}

HttpOptions fast_options(const std::string& url) {
  HttpOptions o;
  o.base_urls = {url};
  o.backoff_initial_s = 0.01;
  o.backoff_max_s = 0.05;
  // Generous: no test but the timeout's own may depend on how fast this machine answers.
  o.timeout_s = 60;
  o.connect_timeout_s = 30;
  o.max_retries = 4;
  return o;
}

TEST(HttpClient, PostsAndReadsAChatReply) {
  FakeOpenAIServer server;
  HttpClient client(fast_options(server.base_url()));
  const HttpOutcome out = client.post("/chat/completions", chat_body());
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.attempts, 1);
  EXPECT_TRUE(out.body["choices"][0]["message"]["content"].is_string());
  EXPECT_EQ(server.requests(), 1u);
  EXPECT_EQ(server.bodies()[0]["messages"][0]["content"], "hi");
}

TEST(HttpClient, RejectsUnusableUrls) {
  for (const std::string url : {"ftp://x/v1", "http://", "http://host:port/v1", "http://h:70000",
                                "localhost:8000/v1", "http://u:p@host/v1"}) {
    HttpOptions o;
    o.base_urls = {url};
    try {
      HttpClient client(o);
      ADD_FAILURE() << url << " was accepted";
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr("teacher.base_url")) << url;
      EXPECT_THAT(e.what(), HasSubstr(url)) << url;
    }
  }
  HttpOptions o;
  o.base_urls = {"https://api.example.com/v1/", "http://[::1]:8000/v1", "http://10.0.0.2:8000"};
  EXPECT_NO_THROW(HttpClient{o});
}

TEST(HttpClient, RetriesOn429HonouringRetryAfter) {
  FakeOpenAIServer server;
  server.push_faults(2, Fault::status_code(429, 0.3));
  auto o = fast_options(server.base_url());
  o.backoff_max_s = 1;  // room for the 0.3 s Retry-After
  HttpClient client(o);
  const auto start = std::chrono::steady_clock::now();
  const HttpOutcome out = client.post("/chat/completions", chat_body());
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.attempts, 3);
  EXPECT_EQ(server.requests(), 3u);
  // Two Retry-After waits of 0.3 s: a lower bound only (never flaky on a slow machine).
  EXPECT_GE(waited, 0.55);
}

TEST(HttpClient, RetriesServerErrorsMalformedAndTruncatedBodies) {
  FakeOpenAIServer server;
  server.push_fault(Fault::status_code(500));
  server.push_fault(Fault::status_code(503));
  server.push_fault(Fault::malformed_json());
  server.push_fault(Fault::truncated_body());
  HttpClient client(fast_options(server.base_url()));
  const HttpOutcome out = client.post("/chat/completions", chat_body());
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.attempts, 5);
}

// The slowest of a few plain round trips to `server`, in seconds: a scale for timeouts that
// this machine, however loaded, meets.
double slowest_round_trip(FakeOpenAIServer& server) {
  HttpClient client(fast_options(server.base_url()));
  double slowest = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(client.post("/chat/completions", chat_body()).ok);
    slowest = std::max(
        slowest,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return slowest;
}

TEST(HttpClient, RetriesResetConnectionsAndTimeouts) {
  FakeOpenAIServer server;
  // The timeout comes from this machine's own round trips, and the hang outlasts any timeout
  // (the server's destruction ends it), so only the hanging request can time out.
  const double timeout = std::max(0.5, 50 * slowest_round_trip(server));
  const std::size_t before = server.requests();
  server.push_fault(Fault::reset());
  server.push_fault(Fault::hang(600'000));
  auto o = fast_options(server.base_url());
  o.timeout_s = timeout;
  HttpClient client(o);
  const HttpOutcome out = client.post("/chat/completions", chat_body());
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.attempts, 3);
  EXPECT_EQ(server.requests() - before, 3u);
}

// Found by reading the reply path for recursion (issue [1/6]): a 200 body nested a million deep
// parsed fine (nlohmann parses without recursion) but the outcome's copy recursed once a level
// and overflowed the stack, ending the whole run. Such a body is now a bad reply, retried.
TEST(HttpClient, ABodyNestedTooDeepIsABadReplyNotACrash) {
  FakeOpenAIServer server;
  const std::string deep =
      "{\"choices\": " + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}";
  server.push_faults(3, Fault::reply_body(deep));
  auto o = fast_options(server.base_url());
  o.max_retries = 3;
  HttpClient client(o);
  const auto outs = client.post_many("/chat/completions", {chat_body()});
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_TRUE(outs[0].ok) << outs[0].error;  // the fourth attempt got a normal reply
  EXPECT_EQ(outs[0].attempts, 4);
  server.push_faults(3, Fault::reply_body(deep));
  o.max_retries = 2;
  HttpClient impatient(o);
  const auto failed = impatient.post_many("/chat/completions", {chat_body()});
  EXPECT_FALSE(failed[0].ok);
  EXPECT_THAT(failed[0].error, HasSubstr("nested deeper than 64 levels"));
}

TEST(HttpClient, GivesUpAfterMaxRetries) {
  FakeOpenAIServer server;
  server.push_faults(10, Fault::status_code(502));
  auto o = fast_options(server.base_url());
  o.max_retries = 2;
  HttpClient client(o);
  const HttpOutcome out = client.post("/chat/completions", chat_body());
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(out.attempts, 3);
  EXPECT_EQ(out.status, 502);
  EXPECT_THAT(out.error, HasSubstr("HTTP 502"));
  EXPECT_THAT(out.error, HasSubstr("gave up after 3 attempts"));
  EXPECT_EQ(server.requests(), 3u);
}

TEST(HttpClient, DoesNotRetryClientErrorsAndSaysWhatToFix) {
  struct Case {
    int status;
    const char* advice;
  };
  for (const Case c : {Case{400, "check the teacher options"}, Case{403, "teacher.model"},
                       Case{404, "teacher.base_url"}}) {
    FakeOpenAIServer server;
    server.push_fault(Fault::status_code(c.status));
    HttpClient client(fast_options(server.base_url()));
    try {
      client.post("/chat/completions", chat_body());
      ADD_FAILURE() << c.status << " did not throw";
    } catch (const HttpFatalError& e) {
      EXPECT_EQ(e.status(), c.status);
      EXPECT_THAT(e.what(), HasSubstr("HTTP " + std::to_string(c.status)));
      EXPECT_THAT(e.what(), HasSubstr(c.advice));
    }
    EXPECT_EQ(server.requests(), 1u) << c.status;
  }
}

TEST(HttpClient, SendsTheKeyOnlyInTheHeaderAndNeverInMessages) {
  const std::string key = "sk-test-SECRET-0123456789";
  setenv("WEAKDISTILL_TEST_KEY", key.c_str(), 1);
  FakeServerOptions so;
  so.api_key = key;
  FakeOpenAIServer server(so);
  auto o = fast_options(server.base_url());
  o.api_key_env = "WEAKDISTILL_TEST_KEY";
  HttpClient client(o);
  ASSERT_TRUE(client.post("/chat/completions", chat_body()).ok);
  EXPECT_EQ(server.authorization_headers().back(), "Bearer " + key);
  EXPECT_THAT(server.bodies().back().dump(), Not(HasSubstr(key)));
  EXPECT_EQ(client.redact("echo " + key + " and " + key), "echo *** and ***");

  // A wrong key: 401, not retried, and the message names the variable, not the key.
  setenv("WEAKDISTILL_TEST_KEY", "sk-wrong-key-987654321", 1);
  HttpClient wrong(o);
  try {
    wrong.post("/chat/completions", chat_body());
    ADD_FAILURE() << "401 did not throw";
  } catch (const HttpFatalError& e) {
    EXPECT_EQ(e.status(), 401);
    EXPECT_THAT(e.what(), HasSubstr("WEAKDISTILL_TEST_KEY"));
    EXPECT_THAT(e.what(), Not(HasSubstr("sk-wrong-key-987654321")));
    EXPECT_THAT(e.what(), Not(HasSubstr(key)));
  }
  unsetenv("WEAKDISTILL_TEST_KEY");
}

TEST(HttpClient, UnsetKeyVariableIsAnInputError) {
  unsetenv("WEAKDISTILL_NO_SUCH_KEY");
  HttpOptions o;
  o.base_urls = {"http://127.0.0.1:9/v1"};
  o.api_key_env = "WEAKDISTILL_NO_SUCH_KEY";
  try {
    HttpClient client(o);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("teacher.api_key_env"));
    EXPECT_THAT(e.what(), HasSubstr("WEAKDISTILL_NO_SUCH_KEY"));
  }
}

TEST(HttpClient, ManyInFlightAllAnsweredInOrder) {
  FakeServerOptions so;
  so.latency_ms = 50;
  FakeOpenAIServer server(so);
  auto o = fast_options(server.base_url());
  o.concurrency = 16;
  HttpClient client(o);
  std::vector<nlohmann::json> bodies;
  for (int i = 0; i < 64; ++i) bodies.push_back(chat_body("q" + std::to_string(i)));
  std::atomic<int> calls{0};
  std::atomic<int> concurrent{0};
  bool overlapped = false;
  const auto outs =
      client.post_many("/chat/completions", bodies, [&](std::size_t, const HttpOutcome& out) {
        // Serialised: never two callbacks at once.
        overlapped |= concurrent.fetch_add(1) != 0;
        EXPECT_TRUE(out.ok);
        ++calls;
        concurrent.fetch_sub(1);
      });
  EXPECT_FALSE(overlapped);
  EXPECT_EQ(calls.load(), 64);
  ASSERT_EQ(outs.size(), 64u);
  EXPECT_EQ(server.requests(), 64u);
  // Each outcome belongs to its own request: the fake server's default reply
  // digests the messages, so equal digests would mean a mix-up.
  std::set<std::string> contents;
  for (const auto& out : outs) contents.insert(out.body["choices"][0]["message"]["content"]);
  EXPECT_EQ(contents.size(), 64u);
}

TEST(HttpClient, ReplicaDownTheOtherTakesTheLoad) {
  FakeOpenAIServer up, down;
  down.go_down();
  auto o = fast_options(up.base_url());
  o.base_urls = {down.base_url(), up.base_url()};
  o.concurrency = 4;
  HttpClient client(o);
  std::vector<nlohmann::json> bodies(20, chat_body());
  const auto outs = client.post_many("/chat/completions", bodies);
  for (const auto& out : outs) EXPECT_TRUE(out.ok) << out.error;
  EXPECT_EQ(up.requests(), 20u);
}

TEST(HttpClient, ReplicaUnreachableTheOtherTakesTheLoad) {
  FakeOpenAIServer up;
  int closed_port = 0;
  {
    FakeOpenAIServer gone;
    closed_port = gone.port();
  }  // nothing listens there any more: connection refused
  auto o = fast_options(up.base_url());
  o.base_urls = {"http://127.0.0.1:" + std::to_string(closed_port) + "/v1", up.base_url()};
  HttpClient client(o);
  std::vector<nlohmann::json> bodies(10, chat_body());
  for (const auto& out : client.post_many("/chat/completions", bodies)) {
    EXPECT_TRUE(out.ok) << out.error;
  }
  EXPECT_EQ(up.requests(), 10u);
}

TEST(HttpClient, FatalErrorStopsTheBatch) {
  FakeOpenAIServer server;
  server.push_fault(Fault::status_code(401));
  auto o = fast_options(server.base_url());
  o.concurrency = 1;
  HttpClient client(o);
  std::vector<nlohmann::json> bodies(50, chat_body());
  EXPECT_THROW(client.post_many("/chat/completions", bodies), HttpFatalError);
  EXPECT_LT(server.requests(), 50u);
}

TEST(HttpClient, CancelStopsUnstartedRequests) {
  FakeServerOptions so;
  so.latency_ms = 20;
  FakeOpenAIServer server(so);
  auto o = fast_options(server.base_url());
  o.concurrency = 1;
  HttpClient client(o);
  std::vector<nlohmann::json> bodies(100, chat_body());
  std::atomic<bool> cancel{false};
  int done = 0;
  const auto outs = client.post_many(
      "/chat/completions", bodies,
      [&](std::size_t, const HttpOutcome& out) {
        if (out.ok && ++done == 3) cancel.store(true);
      },
      &cancel);
  std::size_t cancelled = 0;
  for (const auto& out : outs) cancelled += out.error == "cancelled";
  EXPECT_GE(cancelled, 90u);
  EXPECT_LE(server.requests(), 10u);
}

TEST(HttpClient, ServerErrorMessageIsQuoted) {
  FakeOpenAIServer server;
  server.push_fault(Fault::status_code(400));
  HttpClient client(fast_options(server.base_url()));
  try {
    client.post("/chat/completions", chat_body());
  } catch (const HttpFatalError& e) {
    // The fake server's error body carries a message; it must reach the user.
    EXPECT_THAT(e.what(), HasSubstr("HTTP 400: "));
    EXPECT_THAT(std::string(e.what()), Not(HasSubstr("HTTP 400: ;")));
  }
}

}  // namespace
}  // namespace weakdistill
