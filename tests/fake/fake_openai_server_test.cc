#include "fake/fake_openai_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"

extern char** environ;

namespace weakdistill::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kChatPath = "/v1/chat/completions";
constexpr const char* kEmbeddingsPath = "/v1/embeddings";

json chat_request(const std::string& user_text, const std::string& model = "fake-model") {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", user_text}}}}};
}

httplib::Result post(httplib::Client& client, const std::string& path, const json& body,
                     const httplib::Headers& headers = {}) {
  return client.Post(path.c_str(), headers, body.dump(), "application/json");
}

// Asserts that `response` is an OpenAI-style error: {"error": {"message", "type", "code"}}.
void expect_error_body(const httplib::Response& response) {
  const json body = json::parse(response.body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << response.body;
  ASSERT_TRUE(body.contains("error")) << response.body;
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  EXPECT_TRUE(body["error"]["type"].is_string());
  EXPECT_TRUE(body["error"].contains("code"));
}

// What a raw connection received for one request: the bytes up to EOF, and the errno
// of the read that ended it (0 for a clean EOF).
struct RawExchange {
  std::string received;
  int read_errno = 0;
};

int connect_raw(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  // A guard against a broken server hanging the test, not a timing assertion.
  const timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string raw_post(const std::string& path, const std::string& body, bool close) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n" +
         (close ? "Connection: close\r\n" : "") + "\r\n" + body;
}

// Sends `request` on a fresh connection and reads until the server ends it.
RawExchange raw_exchange(int port, const std::string& request) {
  RawExchange exchange;
  const int fd = connect_raw(port);
  if (fd < 0) {
    exchange.read_errno = errno;
    return exchange;
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  char chunk[4096];
  while (true) {
    const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got > 0) {
      exchange.received.append(chunk, static_cast<std::size_t>(got));
      continue;
    }
    if (got < 0) exchange.read_errno = errno;
    break;
  }
  ::close(fd);
  return exchange;
}

// Reads one response with a Content-Length body from `fd` (keeping any excess in
// `buffer`); returns its body, or "<error>" when the connection ended first.
std::string read_one_response(int fd, std::string& buffer, int* status) {
  char chunk[4096];
  auto more = [&] {
    const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(got));
    return true;
  };
  std::size_t head_end;
  while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (!more()) return "<error>";
  }
  const std::string head = buffer.substr(0, head_end);
  *status = std::stoi(head.substr(9, 3));
  const std::size_t at = head.find("Content-Length: ");
  if (at == std::string::npos) return "<error>";
  const std::size_t length = std::stoul(head.substr(at + 16));
  while (buffer.size() < head_end + 4 + length) {
    if (!more()) return "<error>";
  }
  std::string body = buffer.substr(head_end + 4, length);
  buffer.erase(0, head_end + 4 + length);
  return body;
}

TEST(FakeOpenAIServer, ListensOnLoopbackBeforeTheConstructorReturns) {
  FakeOpenAIServer server;
  EXPECT_GT(server.port(), 0);
  EXPECT_EQ(server.base_url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/v1");
  const int fd = connect_raw(server.port());
  EXPECT_GE(fd, 0);
  if (fd >= 0) ::close(fd);
}

TEST(FakeOpenAIServer, ChatReplyHasTheOpenAIShape) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  json request = {
      {"model", "teacher-7b"},
      {"seed", 7},
      {"n", 2},
      {"messages",
       {{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", "héllo"}}}}};
  const auto response = post(client, kChatPath, request);
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);
  EXPECT_THAT(response->get_header_value("Content-Type"), HasSubstr("application/json"));
  const json reply = json::parse(response->body);
  EXPECT_THAT(reply["id"].get<std::string>(), StartsWith("chatcmpl-"));
  EXPECT_EQ(reply["object"], "chat.completion");
  EXPECT_TRUE(reply["created"].is_number_integer());
  EXPECT_EQ(reply["model"], "teacher-7b");
  ASSERT_EQ(reply["choices"].size(), 2u);
  std::size_t completion_points = 0;
  for (int i = 0; i < 2; ++i) {
    const json& choice = reply["choices"][i];
    EXPECT_EQ(choice["index"], i);
    EXPECT_EQ(choice["message"]["role"], "assistant");
    EXPECT_EQ(choice["finish_reason"], "stop");
    const std::string content = choice["message"]["content"];
    EXPECT_THAT(content, MatchesRegex("reply model=teacher-7b seed=7 choice=" + std::to_string(i) +
                                      " digest=[0-9a-f]{16}"));
    completion_points += content.size();  // ASCII only
  }
  // "be brief" + "héllo": 8 + 5 code points (é is two bytes but one code point).
  EXPECT_EQ(reply["usage"]["prompt_tokens"], 13);
  EXPECT_EQ(reply["usage"]["completion_tokens"], completion_points);
  EXPECT_EQ(reply["usage"]["total_tokens"], 13 + completion_points);
  EXPECT_EQ(server.requests(), 1u);
  ASSERT_EQ(server.bodies().size(), 1u);
  EXPECT_EQ(server.bodies()[0], request);
}

TEST(FakeOpenAIServer, DefaultContentIsDeterministicAndTellsRequestsApart) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  auto content_of = [&](const json& request) {
    const auto response = post(client, kChatPath, request);
    EXPECT_TRUE(response);
    if (!response) return std::string();
    return json::parse(response->body)["choices"][0]["message"]["content"].get<std::string>();
  };
  const std::string a = content_of(chat_request("a"));
  EXPECT_EQ(content_of(chat_request("a")), a);
  EXPECT_NE(content_of(chat_request("b")), a);
  EXPECT_THAT(a, HasSubstr("seed=none"));
  EXPECT_EQ(server.requests(), 3u);
}

TEST(FakeOpenAIServer, ResponderReplacesTheContent) {
  FakeOpenAIServer server;
  server.set_responder([](const json& request, int choice) {
    return "echo " + request["messages"][0]["content"].get<std::string>() + " #" +
           std::to_string(choice);
  });
  httplib::Client client("127.0.0.1", server.port());
  json request = chat_request("ping");
  request["n"] = 3;
  const auto response = post(client, kChatPath, request);
  ASSERT_TRUE(response);
  const json reply = json::parse(response->body);
  ASSERT_EQ(reply["choices"].size(), 3u);
  EXPECT_EQ(reply["choices"][2]["message"]["content"], "echo ping #2");
  EXPECT_EQ(reply["usage"]["completion_tokens"], 3 * std::string("echo ping #0").size());
}

TEST(FakeOpenAIServer, ThrowingResponderGivesServerError) {
  FakeOpenAIServer server;
  server.set_responder([](const json&, int) -> std::string { throw std::runtime_error("boom"); });
  httplib::Client client("127.0.0.1", server.port());
  const auto response = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  expect_error_body(*response);
}

TEST(FakeOpenAIServer, StatusFaultsSendStatusRetryAfterAndErrorBodyInOrder) {
  FakeOpenAIServer server;
  server.push_fault(Fault::status_code(429, 2));
  server.push_fault(Fault::status_code(500));
  server.push_faults(2, Fault::status_code(503, 0.5));
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);

  const auto first = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 429);
  EXPECT_EQ(first->get_header_value("Retry-After"), "2");
  expect_error_body(*first);
  EXPECT_EQ(json::parse(first->body)["error"]["code"], "rate_limit_exceeded");

  const auto second = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 500);
  EXPECT_FALSE(second->has_header("Retry-After"));
  expect_error_body(*second);

  for (int i = 0; i < 2; ++i) {
    const auto unavailable = post(client, kChatPath, chat_request("x"));
    ASSERT_TRUE(unavailable);
    EXPECT_EQ(unavailable->status, 503);
    EXPECT_EQ(unavailable->get_header_value("Retry-After"), "0.5");
  }

  const auto fine = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
  EXPECT_EQ(server.requests(), 5u);
  EXPECT_EQ(server.summary()["faults"], 4);
}

TEST(FakeOpenAIServer, FaultsApplyToEmbeddingsToo) {
  FakeOpenAIServer server;
  server.push_fault(Fault::status_code(429, 1));
  httplib::Client client("127.0.0.1", server.port());
  const json request = {{"model", "embed"}, {"input", "x"}};
  const auto limited = post(client, kEmbeddingsPath, request);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  const auto fine = post(client, kEmbeddingsPath, request);
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
}

TEST(FakeOpenAIServer, HangDelaysTheAnswer) {
  FakeOpenAIServer server;
  server.push_fault(Fault::hang(300));
  httplib::Client client("127.0.0.1", server.port());
  const auto start = Clock::now();
  const auto response = post(client, kChatPath, chat_request("x"));
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  // A lower bound only: a sleep never ends early, however loaded the machine.
  EXPECT_GE(elapsed, std::chrono::milliseconds(300));
}

TEST(FakeOpenAIServer, ResetGivesAConnectionErrorWithoutResponse) {
  FakeOpenAIServer server;
  server.push_fault(Fault::reset());
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  const auto reset = post(client, kChatPath, chat_request("x"));
  EXPECT_FALSE(reset);
  // The client reconnects and the server answers again.
  const auto fine = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
  EXPECT_EQ(server.requests(), 2u);
  EXPECT_EQ(server.summary()["resets"], 1);
}

TEST(FakeOpenAIServer, ResetIsARealConnectionReset) {
  FakeOpenAIServer server;
  server.push_fault(Fault::reset());
  const RawExchange exchange =
      raw_exchange(server.port(), raw_post(kChatPath, chat_request("x").dump(), false));
  EXPECT_EQ(exchange.received, "");
  EXPECT_EQ(exchange.read_errno, ECONNRESET);
}

TEST(FakeOpenAIServer, MalformedBodyIsNotJson) {
  FakeOpenAIServer server;
  server.push_fault(Fault::malformed_json());
  httplib::Client client("127.0.0.1", server.port());
  const auto response = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_FALSE(json::accept(response->body)) << response->body;
}

TEST(FakeOpenAIServer, TruncatedBodyFailsTheClient) {
  FakeOpenAIServer server;
  server.push_fault(Fault::truncated_body());
  httplib::Client client("127.0.0.1", server.port());
  const auto response = post(client, kChatPath, chat_request("x"));
  if (response) {
    // A lenient client may hand back what it got: then it must be short and not JSON.
    EXPECT_FALSE(json::accept(response->body));
  }
  const auto fine = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
}

TEST(FakeOpenAIServer, TruncatedBodyIsShorterThanItsContentLength) {
  FakeOpenAIServer server;
  server.push_fault(Fault::truncated_body());
  const RawExchange exchange =
      raw_exchange(server.port(), raw_post(kChatPath, chat_request("x").dump(), false));
  const std::size_t head_end = exchange.received.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << exchange.received;
  const std::string head = exchange.received.substr(0, head_end);
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200"));
  const std::size_t at = head.find("Content-Length: ");
  ASSERT_NE(at, std::string::npos);
  const std::size_t announced = std::stoul(head.substr(at + 16));
  const std::size_t sent = exchange.received.size() - head_end - 4;
  EXPECT_GT(sent, 0u);
  EXPECT_LT(sent, announced);
}

TEST(FakeOpenAIServer, FinishLengthFaultSetsFinishReason) {
  FakeOpenAIServer server;
  server.push_fault(Fault::finish_length());
  httplib::Client client("127.0.0.1", server.port());
  json request = chat_request("x");
  request["n"] = 2;
  const auto cut = post(client, kChatPath, request);
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->status, 200);
  const json reply = json::parse(cut->body);
  for (const json& choice : reply["choices"]) {
    EXPECT_EQ(choice["finish_reason"], "length");
  }
  const auto next = post(client, kChatPath, request);
  ASSERT_TRUE(next);
  EXPECT_EQ(json::parse(next->body)["choices"][0]["finish_reason"], "stop");
}

TEST(FakeOpenAIServer, ApiKeyIsChecked) {
  FakeServerOptions options;
  options.api_key = "sk-test";
  FakeOpenAIServer server(options);
  httplib::Client client("127.0.0.1", server.port());

  const auto missing = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  expect_error_body(*missing);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "invalid_api_key");

  const auto wrong =
      post(client, kChatPath, chat_request("x"), {{"Authorization", "Bearer sk-wrong"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  expect_error_body(*wrong);

  client.set_bearer_token_auth("sk-test");
  const auto right = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
  EXPECT_EQ(server.authorization_headers(),
            (std::vector<std::string>{"", "Bearer sk-wrong", "Bearer sk-test"}));
  EXPECT_EQ(server.summary()["unauthorized"], 2);
}

TEST(FakeOpenAIServer, GoDownResetsEveryRequestUntilResume) {
  FakeOpenAIServer server;
  server.push_fault(Fault::status_code(500));
  httplib::Client client("127.0.0.1", server.port());
  server.go_down();
  EXPECT_FALSE(post(client, kChatPath, chat_request("x")));
  EXPECT_FALSE(post(client, kEmbeddingsPath, {{"model", "e"}, {"input", "x"}}));
  server.resume();
  // The queued fault waited for the replica to come back.
  const auto faulted = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(faulted);
  EXPECT_EQ(faulted->status, 500);
  const auto fine = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200);
  EXPECT_EQ(server.requests(), 4u);
  EXPECT_EQ(server.summary()["resets"], 2);
}

TEST(FakeOpenAIServer, EmbeddingsAreDeterministicNormalisedAndReversed) {
  FakeServerOptions options;
  options.embedding_dim = 16;
  FakeOpenAIServer server(options);
  httplib::Client client("127.0.0.1", server.port());
  const auto response =
      post(client, kEmbeddingsPath, {{"model", "embed-small"}, {"input", {"alpha", "beta", "ü"}}});
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  const json reply = json::parse(response->body);
  EXPECT_EQ(reply["object"], "list");
  EXPECT_EQ(reply["model"], "embed-small");
  EXPECT_EQ(reply["usage"]["prompt_tokens"], 5 + 4 + 1);
  EXPECT_EQ(reply["usage"]["total_tokens"], 10);
  ASSERT_EQ(reply["data"].size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    const json& item = reply["data"][k];
    EXPECT_EQ(item["object"], "embedding");
    EXPECT_EQ(item["index"], 2 - k);
    ASSERT_EQ(item["embedding"].size(), 16u);
    double norm2 = 0;
    for (const json& value : item["embedding"]) {
      const double x = value.get<double>();
      EXPECT_GE(x, -1.0);
      EXPECT_LE(x, 1.0);
      norm2 += x * x;
    }
    EXPECT_NEAR(std::sqrt(norm2), 1.0, 1e-5);
  }
  EXPECT_NE(reply["data"][0]["embedding"], reply["data"][1]["embedding"]);

  // The same text gives the same vector in another request, whatever its position.
  const auto single = post(client, kEmbeddingsPath, {{"model", "embed-small"}, {"input", "beta"}});
  ASSERT_TRUE(single);
  const json single_reply = json::parse(single->body);
  ASSERT_EQ(single_reply["data"].size(), 1u);
  EXPECT_EQ(single_reply["data"][0]["index"], 0);
  EXPECT_EQ(single_reply["data"][0]["embedding"], reply["data"][1]["embedding"]);
  EXPECT_EQ(server.summary()["embeddings"], 2);
}

TEST(FakeOpenAIServer, InvalidRequestsGet400) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  const auto not_json = client.Post(kChatPath, "{not json", "application/json");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  expect_error_body(*not_json);
  const auto no_messages = post(client, kChatPath, {{"model", "m"}});
  ASSERT_TRUE(no_messages);
  EXPECT_EQ(no_messages->status, 400);
  const auto bad_input = post(client, kEmbeddingsPath, {{"model", "m"}, {"input", 3}});
  ASSERT_TRUE(bad_input);
  EXPECT_EQ(bad_input->status, 400);
  expect_error_body(*bad_input);
  EXPECT_EQ(server.requests(), 3u);
  // A body that is not JSON is kept as its raw text.
  EXPECT_EQ(server.bodies()[0], json("{not json"));
}

TEST(FakeOpenAIServer, UnknownPathIs404AndWrongMethodIs405) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  const auto models = client.Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 404);
  expect_error_body(*models);
  const auto get_chat = client.Get(kChatPath);
  ASSERT_TRUE(get_chat);
  EXPECT_EQ(get_chat->status, 405);
  expect_error_body(*get_chat);
  const auto put_embeddings = client.Put(kEmbeddingsPath, "{}", "application/json");
  ASSERT_TRUE(put_embeddings);
  EXPECT_EQ(put_embeddings->status, 405);
  EXPECT_EQ(server.requests(), 0u);
}

TEST(FakeOpenAIServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  for (int i = 0; i < 5; ++i) {
    const auto response = post(client, kChatPath, chat_request(std::to_string(i)));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(server.requests(), 5u);
  EXPECT_EQ(server.summary()["connections"], 1);
}

TEST(FakeOpenAIServer, RawConnectionCarriesPipelinedRequests) {
  FakeOpenAIServer server;
  const int fd = connect_raw(server.port());
  ASSERT_GE(fd, 0);
  const std::string body = chat_request("x").dump();
  // Both requests in one write: the second must wait in the server's buffer, not be lost.
  const std::string two = raw_post(kChatPath, body, false) +
                          raw_post(kEmbeddingsPath, R"({"model":"e","input":"x"})", true);
  ASSERT_EQ(::send(fd, two.data(), two.size(), MSG_NOSIGNAL), static_cast<ssize_t>(two.size()));
  std::string buffer;
  int status = 0;
  const std::string first = read_one_response(fd, buffer, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(json::parse(first, nullptr, false)["object"], "chat.completion");
  const std::string second = read_one_response(fd, buffer, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(json::parse(second, nullptr, false)["object"], "list");
  ::close(fd);
  EXPECT_EQ(server.requests(), 2u);
}

// Concurrency shown by an event, not a clock: every request's answer waits until all
// kClients requests are inside the server at once, which a server serving one at a time never
// reaches (the wait's bound is only a guard against hanging the suite).
TEST(FakeOpenAIServer, ConcurrentClientsAreServedAtOnce) {
  FakeOpenAIServer server;
  constexpr int kClients = 32;
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  std::atomic<int> saw_all{0};
  server.set_responder([&](const json&, int) {
    std::unique_lock lock(mu);
    if (++arrived == kClients) cv.notify_all();
    if (cv.wait_for(lock, std::chrono::minutes(2), [&] { return arrived >= kClients; })) {
      ++saw_all;
    }
    return std::string("ok");
  });
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_read_timeout(300);
      const auto response = post(client, kChatPath, chat_request(std::to_string(i)));
      if (response && response->status == 200) ++ok;
    });
  }
  for (std::thread& thread : clients) thread.join();
  EXPECT_EQ(ok.load(), kClients);
  EXPECT_EQ(saw_all.load(), kClients);
  EXPECT_EQ(server.requests(), static_cast<std::size_t>(kClients));
}

TEST(FakeOpenAIServer, ThreadsBoundConnectionsWithoutLosingAny) {
  FakeServerOptions options;
  options.threads = 2;
  options.latency_ms = 20;
  FakeOpenAIServer server(options);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_read_timeout(30);
      if (const auto response = post(client, kChatPath, chat_request("x"));
          response && response->status == 200) {
        ++ok;
      }
    });
  }
  for (std::thread& thread : clients) thread.join();
  EXPECT_EQ(ok.load(), 8);
}

TEST(FakeOpenAIServer, DestructionInterruptsAHangingRequest) {
  auto server = std::make_unique<FakeOpenAIServer>();
  constexpr auto kHang = std::chrono::minutes(10);
  server->push_fault(Fault::hang(std::chrono::milliseconds(kHang).count()));
  std::atomic<bool> answered{true};
  std::thread client_thread([&, port = server->port()] {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(600);
    answered = static_cast<bool>(post(client, kChatPath, chat_request("x")));
  });
  while (server->requests() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const auto start = Clock::now();
  server.reset();
  const auto elapsed = Clock::now() - start;
  client_thread.join();
  EXPECT_FALSE(answered.load());
  // Interrupted, not waited out: far less than the hang, whatever this machine's speed.
  EXPECT_LT(elapsed, kHang / 2);
}

// The program: reads its first stdout line, serves, and reports on SIGTERM.
TEST(FakeOpenAIProgram, ServesFaultsAndResponderFileThenSummarisesOnSigterm) {
  const std::string program = WEAKDISTILL_FAKE_OPENAI;
  if (!std::filesystem::exists(program)) GTEST_SKIP() << program << " is not built";
  TempDir dir;
  const std::string responses = dir.write("replies.jsonl", "\"alpha\"\n\n{\"label\":\"b\"}\n");
  int out[2];
  ASSERT_EQ(::pipe(out), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  posix_spawn_file_actions_addclose(&actions, out[1]);
  std::vector<std::string> args = {program,    "--port",           "0",
                                   "--faults", "429:2,reset",      "--api-key",
                                   "k",        "--responder-file", responses};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);

  std::string output;
  auto read_until = [&](auto done) {
    char chunk[1024];
    while (!done()) {
      pollfd ready{out[0], POLLIN, 0};
      if (::poll(&ready, 1, 20'000) <= 0) return;  // a guard against a hung program
      const ssize_t got = ::read(out[0], chunk, sizeof chunk);
      if (got <= 0) return;
      output.append(chunk, static_cast<std::size_t>(got));
    }
  };
  read_until([&] { return output.find('\n') != std::string::npos; });
  const std::string prefix = "listening on http://127.0.0.1:";
  ASSERT_THAT(output, StartsWith(prefix));
  const int port = std::stoi(output.substr(prefix.size()));
  EXPECT_THAT(output, HasSubstr("/v1\n"));

  httplib::Client client("127.0.0.1", port);
  client.set_bearer_token_auth("k");
  const auto limited = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(limited->get_header_value("Retry-After"), "2");
  EXPECT_FALSE(post(client, kChatPath, chat_request("x")));
  std::vector<std::string> contents;
  for (int i = 0; i < 3; ++i) {
    const auto response = post(client, kChatPath, chat_request("x"));
    ASSERT_TRUE(response);
    contents.push_back(json::parse(response->body)["choices"][0]["message"]["content"]);
  }
  EXPECT_EQ(contents, (std::vector<std::string>{"alpha", R"({"label":"b"})", "alpha"}));

  ::kill(pid, SIGTERM);
  read_until([] { return false; });
  ::close(out[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const std::string last_line = output.substr(output.find('\n') + 1);
  const json summary = json::parse(last_line, nullptr, false);
  ASSERT_FALSE(summary.is_discarded()) << output;
  EXPECT_EQ(summary["requests"], 5);
  EXPECT_EQ(summary["faults"], 2);
}

TEST(FakeOpenAIProgram, RejectsABadFaultSpec) {
  const std::string program = WEAKDISTILL_FAKE_OPENAI;
  if (!std::filesystem::exists(program)) GTEST_SKIP() << program << " is not built";
  const std::string command = program + " --faults 'hang,bogus' 2>/dev/null";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

// ---- Structured output (response_format) and reasoning ----

json with_format(json request, json response_format) {
  request["response_format"] = std::move(response_format);
  return request;
}

json json_schema_format(json schema, bool strict = false, const std::string& name = "reply") {
  json spec = {{"name", name}, {"schema", std::move(schema)}};
  if (strict) spec["strict"] = true;
  return {{"type", "json_schema"}, {"json_schema", std::move(spec)}};
}

// A schema that satisfies OpenAI's strict rules: every object closed, every property required.
json strict_label_schema() {
  return json::parse(R"({
    "type": "object",
    "properties": {
      "reasoning": {"type": "string"},
      "samples": {
        "type": "array", "minItems": 1, "maxItems": 2,
        "items": {
          "type": "object",
          "properties": {"text": {"type": "string", "minLength": 1},
                         "label": {"type": "string", "enum": ["体育", "财经"]}},
          "required": ["text", "label"],
          "additionalProperties": false
        }
      }
    },
    "required": ["reasoning", "samples"],
    "additionalProperties": false
  })");
}

std::string error_message(const httplib::Response& response) {
  const json body = json::parse(response.body, nullptr, false);
  if (body.is_discarded() || !body.contains("error")) return "<no error body>";
  return body["error"]["message"].get<std::string>();
}

// Asserts that `response` is the 400 a real server gives for a refused response_format.
void expect_response_format_400(const httplib::Result& response) {
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400) << response->body;
  expect_error_body(*response);
  const json body = json::parse(response->body, nullptr, false);
  ASSERT_FALSE(body.is_discarded());
  EXPECT_EQ(body["error"]["param"], "response_format");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(body["error"]["code"].is_null());
}

TEST(FakeOpenAIServer, ResponseFormatOfAnUnacceptedTypeIs400) {
  FakeServerOptions options;
  options.response_formats = {"text", "json_object"};
  FakeOpenAIServer server(options);
  httplib::Client client("127.0.0.1", server.port());
  const json request = chat_request("x");

  const auto refused = post(client, kChatPath,
                            with_format(request, json_schema_format(strict_label_schema(), true)));
  expect_response_format_400(refused);
  EXPECT_THAT(error_message(*refused), HasSubstr("json_schema"));
  const auto unknown = post(client, kChatPath, with_format(request, {{"type", "regex"}}));
  expect_response_format_400(unknown);

  for (const json& accepted : {json{{"type", "text"}}, json{{"type", "json_object"}}, json()}) {
    const auto response = post(client, kChatPath, with_format(request, accepted));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200) << accepted.dump() << " " << response->body;
  }
  const json summary = server.summary();
  EXPECT_EQ(summary["unsupported_format"], 2);
  EXPECT_EQ(summary["bad_schema"], 0);
  EXPECT_EQ(summary["bad_requests"], 2);
  // Every body is recorded, response_format included.
  ASSERT_EQ(server.bodies().size(), 5u);
  EXPECT_EQ(server.bodies()[1]["response_format"], json({{"type", "regex"}}));
}

TEST(FakeOpenAIServer, MalformedResponseFormatsAre400) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  const json schema = {{"type", "object"}, {"properties", {{"a", {{"type", "string"}}}}}};
  const std::vector<json> malformed = {
      "json_object",                                        // not an object
      json::object(),                                       // no type
      {{"type", 3}},                                        // type not a string
      {{"type", "json_schema"}},                            // no json_schema
      {{"type", "json_schema"}, {"json_schema", "reply"}},  // json_schema not an object
      {{"type", "json_schema"}, {"json_schema", {{"schema", schema}}}},  // no name
      {{"type", "json_schema"}, {"json_schema", {{"name", "has space"}, {"schema", schema}}}},
      {{"type", "json_schema"},
       {"json_schema", {{"name", std::string(65, 'a')}, {"schema", schema}}}},
      {{"type", "json_schema"},
       {"json_schema", {{"name", "r"}, {"strict", "yes"}, {"schema", schema}}}},
      {{"type", "json_schema"},
       {"json_schema", {{"name", "r"}, {"description", 3}, {"schema", schema}}}},
      {{"type", "json_schema"}, {"json_schema", {{"name", "r"}}}},                    // no schema
      {{"type", "json_schema"}, {"json_schema", {{"name", "r"}, {"schema", "{}"}}}},  // a string
      {{"type", "json_object"}, {"schema", json::array()}},  // llama-server form
  };
  for (const json& format : malformed) {
    SCOPED_TRACE(format.dump());
    expect_response_format_400(post(client, kChatPath, with_format(chat_request("x"), format)));
    EXPECT_TRUE(response_format_problem(format, FakeServerOptions{}).has_value());
  }
  const json summary = server.summary();
  EXPECT_EQ(summary["bad_requests"], malformed.size());
  EXPECT_EQ(summary["unsupported_format"], 3);  // the first three: the type itself is unusable
  EXPECT_EQ(summary["bad_schema"], malformed.size() - 3);
}

TEST(FakeOpenAIServer, SchemasOutsideTheSupportedSubsetAre400) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  auto object_with = [](json properties) {
    return json{{"type", "object"}, {"properties", std::move(properties)}};
  };
  struct Case {
    json schema;
    bool strict;
    std::string says;
  };
  json with_defs = object_with({{"a", {{"type", "string"}}}});
  with_defs["$defs"] = {{"x", {{"type", "string"}}}};
  json with_definitions = object_with({{"a", {{"type", "string"}}}});
  with_definitions["definitions"] = json::object();
  json open_strict = object_with({{"a", {{"type", "string"}}}});
  open_strict["required"] = {"a"};
  json incomplete_strict = object_with({{"a", {{"type", "string"}}}, {"b", {{"type", "string"}}}});
  incomplete_strict["required"] = {"a"};
  incomplete_strict["additionalProperties"] = false;
  json nested_open_strict = object_with(
      {{"xs", {{"type", "array"}, {"items", object_with({{"t", {{"type", "string"}}}})}}}});
  nested_open_strict["required"] = {"xs"};
  nested_open_strict["additionalProperties"] = false;
  const std::vector<Case> cases = {
      {object_with({{"a", {{"$ref", "#/$defs/x"}}}}), false, "$ref at /properties/a"},
      {with_defs, false, "$defs at /"},
      {with_definitions, false, "definitions at /"},
      {object_with({{"a", {{"anyOf", json::array()}}}}), false,
       "unsupported keyword anyOf at /properties/a"},
      {object_with(
           {{"xs", {{"type", "array"}, {"items", {{"type", "string"}, {"pattern", "^a"}}}}}}),
       false, "unsupported keyword pattern at /properties/xs/items"},
      {object_with({{"a", {{"type", "date"}}}}), false, "unsupported type \"date\""},
      {{{"type", "array"}, {"items", {{"type", "string"}}}}, false, "root"},
      {object_with({{"a", {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}}}),
       false, "additionalProperties must be true or false"},
      {object_with({{"xs", {{"type", "array"}, {"items", json::array()}}}}), false, "items"},
      {object_with({{"xs", {{"type", "array"}, {"minItems", 3}, {"maxItems", 2}}}}), false,
       "minItems exceeds maxItems at /properties/xs"},
      {open_strict, true, "additionalProperties\": false at /"},
      {incomplete_strict, true, "\"b\" is missing from required at /"},
      {nested_open_strict, true, "additionalProperties\": false at /properties/xs/items"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.schema.dump());
    const auto response = post(
        client, kChatPath, with_format(chat_request("x"), json_schema_format(c.schema, c.strict)));
    expect_response_format_400(response);
    if (response) {
      EXPECT_THAT(error_message(*response), HasSubstr(c.says));
    }
  }
  // llama-server's json_object with a schema is checked the same way.
  expect_response_format_400(
      post(client, kChatPath,
           with_format(chat_request("x"),
                       {{"type", "json_object"},
                        {"schema", object_with({{"a", {{"oneOf", json::array()}}}})}})));
  EXPECT_EQ(server.summary()["bad_schema"], cases.size() + 1);
  EXPECT_EQ(server.summary()["bad_requests"], cases.size() + 1);
}

TEST(FakeOpenAIServer, AGoodStrictSchemaIsAccepted) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  json format = json_schema_format(strict_label_schema(), true, "label_samples-1");
  format["json_schema"]["description"] = "labelled samples";
  const auto response = post(client, kChatPath, with_format(chat_request("x"), format));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200) << response->body;
  // A property literally named "$ref" is a name, not a reference.
  json named_ref = {{"type", "object"}, {"properties", {{"$ref", {{"type", "string"}}}}}};
  const auto named =
      post(client, kChatPath, with_format(chat_request("x"), json_schema_format(named_ref)));
  ASSERT_TRUE(named);
  EXPECT_EQ(named->status, 200) << named->body;
  EXPECT_EQ(server.summary()["bad_requests"], 0);
}

TEST(FakeOpenAIServer, CheckSchemaOffAcceptsAnySchemaButStillChecksTheForm) {
  FakeServerOptions options;
  options.check_schema = false;
  FakeOpenAIServer server(options);
  httplib::Client client("127.0.0.1", server.port());
  const json schema = {{"anyOf", {{{"type", "string"}}, {{"$ref", "#/x"}}}}};
  const auto accepted =
      post(client, kChatPath, with_format(chat_request("x"), json_schema_format(schema)));
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->status, 200) << accepted->body;
  expect_response_format_400(post(
      client, kChatPath,
      with_format(chat_request("x"), {{"type", "json_schema"}, {"json_schema", {{"name", "r"}}}})));
}

TEST(ResponseFormatProblem, SaysWhyOrNothing) {
  const FakeServerOptions all;
  EXPECT_EQ(response_format_problem(json(), all), std::nullopt);
  EXPECT_EQ(response_format_problem({{"type", "text"}}, all), std::nullopt);
  EXPECT_EQ(response_format_problem({{"type", "json_object"}}, all), std::nullopt);
  EXPECT_EQ(response_format_problem(json_schema_format(strict_label_schema(), true), all),
            std::nullopt);
  FakeServerOptions text_only;
  text_only.response_formats = {"text"};
  const auto refused = response_format_problem({{"type", "json_object"}}, text_only);
  ASSERT_TRUE(refused.has_value());
  EXPECT_THAT(*refused, HasSubstr("json_object"));
  EXPECT_THAT(*refused, HasSubstr("text"));
  const auto bad_name =
      response_format_problem(json_schema_format(strict_label_schema(), true, "bad.name"), all);
  ASSERT_TRUE(bad_name.has_value());
  EXPECT_THAT(*bad_name, HasSubstr("name"));
}

TEST(SchemaProblem, AcceptsTheSubsetAndNamesThePlaceOfAProblem) {
  EXPECT_EQ(schema_problem(strict_label_schema(), true), std::nullopt);
  const json typed = {{"type", "object"},
                      {"title", "t"},
                      {"description", "d"},
                      {"properties",
                       {{"n", {{"type", {"integer", "null"}}}},
                        {"k", {{"const", "x"}}},
                        {"s", {{"type", "string"}, {"minLength", 0}, {"maxLength", 9}}}}}};
  EXPECT_EQ(schema_problem(typed, false), std::nullopt);
  // Strict only adds rules: the same schema is refused there, as it leaves objects open.
  EXPECT_THAT(schema_problem(typed, true).value_or(""), HasSubstr("additionalProperties"));
  json bad_count = typed;
  bad_count["properties"]["s"]["maxLength"] = -1;
  EXPECT_THAT(schema_problem(bad_count, false).value_or(""),
              HasSubstr("maxLength must be a non-negative integer at /properties/s"));
}

TEST(SchemaViolation, FindsTheFirstPlaceAValueBreaksTheSchema) {
  const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "label": {"type": "string", "enum": ["体育", "财经"]},
      "count": {"type": "integer"},
      "note": {"type": ["string", "null"], "maxLength": 3},
      "kind": {"const": "cls"},
      "a/b": {"type": "boolean"},
      "samples": {
        "type": "array", "minItems": 1, "maxItems": 2,
        "items": {
          "type": "object",
          "properties": {"text": {"type": "string", "minLength": 1},
                         "type": {"enum": ["PER", "LOC"]}},
          "required": ["text"],
          "additionalProperties": false
        }
      }
    },
    "required": ["label", "samples"],
    "additionalProperties": false
  })");
  const json good = json::parse(
      R"({"label": "体育", "count": 3, "note": null, "kind": "cls",
          "samples": [{"text": "李", "type": "PER"}, {"text": "京"}]})");
  EXPECT_EQ(schema_violation(schema, good), std::nullopt);
  auto broken = [&](const std::string& pointer, const json& value) {
    json out = good;
    out[json::json_pointer(pointer)] = value;
    return schema_violation(schema, out).value_or("<fits>");
  };
  EXPECT_EQ(broken("/count", "3"), "/count: expected integer, got string \"3\"");
  EXPECT_EQ(broken("/count", 3.0), "<fits>");  // JSON Schema: 3.0 is an integer
  EXPECT_EQ(broken("/count", 3.5), "/count: expected integer, got number 3.5");
  EXPECT_EQ(broken("/label", "娱乐"), "/label: \"娱乐\" is not one of [\"体育\",\"财经\"]");
  EXPECT_EQ(broken("/note", "四个字符"), "/note: 4 characters, more than maxLength 3");
  EXPECT_EQ(broken("/note", "三个字"), "<fits>");  // code points, not bytes
  EXPECT_EQ(broken("/kind", "ner"), "/kind: expected the constant \"cls\", got \"ner\"");
  EXPECT_EQ(broken("/a~1b", 1), "/a~1b: expected boolean, got integer 1");
  EXPECT_EQ(broken("/extra", 1), "/extra: property not allowed (additionalProperties is false)");
  EXPECT_EQ(broken("/samples", json::array()), "/samples: 0 items, fewer than minItems 1");
  EXPECT_EQ(broken("/samples/2", {{"text", "沪"}}), "/samples: 3 items, more than maxItems 2");
  EXPECT_EQ(broken("/samples/1/type", "ORG"),
            "/samples/1/type: \"ORG\" is not one of [\"PER\",\"LOC\"]");
  EXPECT_EQ(broken("/samples/0/text", ""), "/samples/0/text: 0 characters, fewer than minLength 1");
  EXPECT_EQ(broken("/samples/1/start", 0),
            "/samples/1/start: property not allowed (additionalProperties is false)");
  json missing = good;
  missing.erase("samples");
  EXPECT_EQ(schema_violation(schema, missing), "/: missing required property \"samples\"");
  json missing_nested = good;
  missing_nested["samples"][1].erase("text");
  EXPECT_EQ(schema_violation(schema, missing_nested),
            "/samples/1: missing required property \"text\"");
  EXPECT_EQ(schema_violation(schema, json::array()), "/: expected object, got array []");
}

TEST(FakeOpenAIServer, EnforceSchemaTurnsAReplyThatBreaksTheSchemaInto500) {
  FakeServerOptions options;
  options.enforce_schema = true;
  FakeOpenAIServer server(options);
  std::string scripted;
  std::mutex mu;
  server.set_responder([&](const json&, int) {
    std::lock_guard lock(mu);
    return scripted;
  });
  httplib::Client client("127.0.0.1", server.port());
  const json request =
      with_format(chat_request("x"), json_schema_format(strict_label_schema(), true));
  auto status_for = [&](const std::string& content, std::string* message = nullptr) {
    {
      std::lock_guard lock(mu);
      scripted = content;
    }
    const auto response = post(client, kChatPath, request);
    if (!response) return -1;
    if (message != nullptr) *message = error_message(*response);
    return response->status;
  };
  std::string message;
  EXPECT_EQ(
      status_for(R"({"reasoning": "", "samples": [{"text": "a", "label": "娱乐"}]})", &message),
      500);
  EXPECT_THAT(message, HasSubstr("/samples/0/label"));
  EXPECT_EQ(status_for("not json", &message), 500);
  EXPECT_THAT(message, HasSubstr("not JSON"));
  EXPECT_EQ(status_for(R"({"reasoning": "r", "samples": [{"text": "a", "label": "体育"}]})"), 200);
  // A leading think block and whitespace are not part of the JSON a client parses.
  EXPECT_EQ(status_for("\n<think>\n{\"reasoning\": broken}\n</think>\n\n"
                       R"({"reasoning": "r", "samples": [{"text": "a", "label": "财经"}]})"
                       "\n"),
            200);
  EXPECT_EQ(status_for("<think>unclosed "
                       R"({"reasoning": "r", "samples": []})"),
            500);
  EXPECT_EQ(server.summary()["schema_mismatches"], 3);

  // json_object without a schema: any JSON object will do.
  const json object_request = with_format(chat_request("x"), {{"type", "json_object"}});
  {
    std::lock_guard lock(mu);
    scripted = "[1, 2]";
  }
  const auto array_reply = post(client, kChatPath, object_request);
  ASSERT_TRUE(array_reply);
  EXPECT_EQ(array_reply->status, 500);
  {
    std::lock_guard lock(mu);
    scripted = R"({"anything": 1})";
  }
  const auto object_reply = post(client, kChatPath, object_request);
  ASSERT_TRUE(object_reply);
  EXPECT_EQ(object_reply->status, 200);
  // No response_format: the content is free.
  {
    std::lock_guard lock(mu);
    scripted = "plain words";
  }
  const auto free_reply = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(free_reply);
  EXPECT_EQ(free_reply->status, 200);
}

TEST(FakeOpenAIServer, EnforceSchemaSparesAReplyCutByLength) {
  FakeServerOptions options;
  options.enforce_schema = true;
  FakeOpenAIServer server(options);
  server.set_choice_responder([](const json&, int) {
    return ChatChoice{R"({"reasoning": "r", "samp)", "", "length"};
  });
  httplib::Client client("127.0.0.1", server.port());
  const auto response =
      post(client, kChatPath,
           with_format(chat_request("x"), json_schema_format(strict_label_schema(), true)));
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(json::parse(response->body)["choices"][0]["finish_reason"], "length");
}

TEST(FakeOpenAIServer, ChoiceResponderSendsReasoningAndCountsItAsCompletion) {
  FakeOpenAIServer server;
  server.set_choice_responder([](const json&, int choice) {
    if (choice == 0) return ChatChoice{R"({"label": "体育"})", "先看标题", ""};
    return ChatChoice{"答", "", "length"};
  });
  httplib::Client client("127.0.0.1", server.port());
  json request = chat_request("x");
  request["n"] = 2;
  const auto response = post(client, kChatPath, request);
  ASSERT_TRUE(response);
  ASSERT_EQ(response->status, 200);
  const json reply = json::parse(response->body);
  const json& first = reply["choices"][0];
  EXPECT_EQ(first["message"]["content"], R"({"label": "体育"})");
  EXPECT_EQ(first["message"]["reasoning_content"], "先看标题");
  EXPECT_FALSE(first["message"].contains("reasoning"));
  EXPECT_EQ(first["finish_reason"], "stop");
  const json& second = reply["choices"][1];
  EXPECT_FALSE(second["message"].contains("reasoning_content"));
  EXPECT_EQ(second["finish_reason"], "length");
  // {"label": "体育"} is 15 code points, 先看标题 4, 答 1.
  EXPECT_EQ(reply["usage"]["completion_tokens"], 15 + 4 + 1);
  EXPECT_EQ(reply["usage"]["total_tokens"], 1 + 20);
}

TEST(FakeOpenAIServer, ReasoningFieldOptionNamesTheMessageField) {
  FakeServerOptions options;
  options.reasoning_field = "reasoning";
  FakeOpenAIServer server(options);
  server.set_choice_responder([](const json&, int) { return ChatChoice{"ok", "想", ""}; });
  server.push_fault(Fault::finish_length());
  httplib::Client client("127.0.0.1", server.port());
  const auto response = post(client, kChatPath, chat_request("x"));
  ASSERT_TRUE(response);
  const json message = json::parse(response->body)["choices"][0]["message"];
  EXPECT_EQ(message["reasoning"], "想");
  EXPECT_FALSE(message.contains("reasoning_content"));
  // The fault still overrides the scripted finish_reason.
  EXPECT_EQ(json::parse(response->body)["choices"][0]["finish_reason"], "length");
}

TEST(FakeOpenAIServer, SetResponderAndSetChoiceResponderReplaceEachOther) {
  FakeOpenAIServer server;
  httplib::Client client("127.0.0.1", server.port());
  auto content = [&] {
    const auto response = post(client, kChatPath, chat_request("x"));
    EXPECT_TRUE(response);
    if (!response) return std::string();
    return json::parse(response->body)["choices"][0]["message"]["content"].get<std::string>();
  };
  server.set_responder([](const json&, int) { return std::string("plain"); });
  EXPECT_EQ(content(), "plain");
  server.set_choice_responder([](const json&, int) { return ChatChoice{"chosen", "", ""}; });
  EXPECT_EQ(content(), "chosen");
  server.set_responder([](const json&, int) { return std::string("plain again"); });
  EXPECT_EQ(content(), "plain again");
  server.set_choice_responder(nullptr);
  EXPECT_THAT(content(), StartsWith("reply model=fake-model"));
}

std::vector<nlohmann::ordered_json> cls_samples() {
  return {
      nlohmann::ordered_json::parse(R"({"id": 7, "text": "中国队夺冠", "label": "体育"})"),
      nlohmann::ordered_json::parse(R"({"text": "股市上涨", "label": "财经", "source": "news"})"),
      nlohmann::ordered_json::parse(R"({"text": "新片上映", "label": "娱乐"})")};
}

std::string reply_content(const httplib::Result& response, int choice = 0) {
  if (!response || response->status != 200) return "<no reply>";
  return json::parse(response->body)["choices"][choice]["message"]["content"].get<std::string>();
}

TEST(SamplesResponder, AnswersAsManySamplesAsTheSchemaAllowsInTurn) {
  FakeOpenAIServer server;
  SamplesReplyOptions options;
  options.reasoning_chars = 6;
  server.set_choice_responder(samples_responder(cls_samples(), options));
  httplib::Client client("127.0.0.1", server.port());
  json request = with_format(chat_request("x"), json_schema_format(strict_label_schema(), true));
  // maxItems 2: samples 0 and 1, the reasoning filler in the schema's "reasoning" key, first;
  // "id" and the closed schema's unknown "source" dropped.
  EXPECT_EQ(reply_content(post(client, kChatPath, request)),
            R"({"reasoning":"推理过程推理","samples":[{"text":"中国队夺冠","label":"体育"},)"
            R"({"text":"股市上涨","label":"财经"}]})");
  request["response_format"]["json_schema"]["schema"]["properties"]["samples"]["maxItems"] = 3;
  request["response_format"]["json_schema"]["schema"]["properties"]["samples"]["items"]
         ["properties"]["label"]
             .erase("enum");
  request["n"] = 2;
  const auto two = post(client, kChatPath, request);
  EXPECT_EQ(reply_content(two, 0),
            R"({"reasoning":"推理过程推理","samples":[{"text":"新片上映","label":"娱乐"},)"
            R"({"text":"中国队夺冠","label":"体育"},{"text":"股市上涨","label":"财经"}]})");
  EXPECT_THAT(reply_content(two, 1),
              StartsWith(R"({"reasoning":"推理过程推理","samples":[{"text":"新片上映")"));
}

TEST(SamplesResponder, OneSampleWithoutASamplesPropertyIsTheBareObject) {
  FakeOpenAIServer server;
  SamplesReplyOptions options;
  options.reasoning_chars = 3;
  server.set_choice_responder(samples_responder(cls_samples(), options));
  httplib::Client client("127.0.0.1", server.port());
  // No schema: the sample as it is (without "id"), the reasoning in the reasoning field.
  const auto plain = post(client, kChatPath, chat_request("x"));
  EXPECT_EQ(reply_content(plain), R"({"text":"中国队夺冠","label":"体育"})");
  ASSERT_TRUE(plain);
  EXPECT_EQ(json::parse(plain->body)["choices"][0]["message"]["reasoning_content"], "推理过");
  // A flat schema with "reasoning": that key first, nothing in the reasoning field.
  const json flat = json::parse(R"({"type": "object",
      "properties": {"reasoning": {"type": "string"}, "label": {"type": "string"}},
      "required": ["reasoning", "label"], "additionalProperties": false})");
  const auto keyed =
      post(client, kChatPath, with_format(chat_request("x"), json_schema_format(flat)));
  EXPECT_EQ(reply_content(keyed), R"({"reasoning":"推理过","label":"财经"})");
  ASSERT_TRUE(keyed);
  EXPECT_FALSE(json::parse(keyed->body)["choices"][0]["message"].contains("reasoning_content"));
}

TEST(SamplesResponder, ThinkPutsTheReasoningBeforeTheJsonAndNestedKeysAreFitted) {
  FakeServerOptions server_options;
  server_options.enforce_schema = true;
  FakeOpenAIServer server(server_options);
  SamplesReplyOptions options;
  options.reasoning_chars = 2;
  options.think = true;
  options.samples_per_reply = 2;
  server.set_choice_responder(samples_responder(
      {nlohmann::ordered_json::parse(
          R"({"text": "李富林说", "entities": [{"start": 0, "end": 3, "type": "PER", "text": "李富林"}]})")},
      options));
  httplib::Client client("127.0.0.1", server.port());
  const json schema = json::parse(R"({"type": "object", "properties": {"samples": {"type": "array",
      "items": {"type": "object", "properties": {"text": {"type": "string"}, "entities": {
        "type": "array", "items": {"type": "object", "properties": {
          "text": {"type": "string"}, "type": {"type": "string"}},
          "required": ["text", "type"], "additionalProperties": false}}},
        "required": ["text", "entities"], "additionalProperties": false}}},
      "required": ["samples"], "additionalProperties": false})");
  // No maxItems: samples_per_reply decides; enforce_schema checks the JSON after the think block.
  const auto response =
      post(client, kChatPath, with_format(chat_request("x"), json_schema_format(schema, true)));
  const std::string sample = R"({"text":"李富林说","entities":[{"type":"PER","text":"李富林"}]})";
  EXPECT_EQ(reply_content(response),
            "<think>\n推理\n</think>\n\n{\"samples\":[" + sample + "," + sample + "]}");
}

TEST(SamplesResponder, RefusesNoSamplesAndNonObjects) {
  EXPECT_THROW(samples_responder({}), std::invalid_argument);
  EXPECT_THROW(samples_responder({nlohmann::ordered_json("text")}), std::invalid_argument);
}

// The fake_openai program, started with `flags`; serving once it has printed its address.
class FakeProgram {
 public:
  explicit FakeProgram(std::vector<std::string> flags) {
    int out[2];
    if (::pipe(out) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, out[1]);
    std::vector<std::string> args = {WEAKDISTILL_FAKE_OPENAI, "--port", "0"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const int spawned = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    out_ = out[0];
    if (spawned != 0) {
      pid_ = 0;
      return;
    }
    read_until([&] { return output_.find('\n') != std::string::npos; });
    const std::string prefix = "listening on http://127.0.0.1:";
    if (output_.rfind(prefix, 0) == 0) port_ = std::stoi(output_.substr(prefix.size()));
  }
  ~FakeProgram() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  FakeProgram(const FakeProgram&) = delete;
  FakeProgram& operator=(const FakeProgram&) = delete;

  // The port it serves on, or -1 when it did not start.
  int port() const { return port_; }
  // Stops it with SIGTERM and returns the summary line it printed (discarded JSON when it
  // printed none or did not exit 0).
  json stop() {
    if (pid_ <= 0) return json(json::value_t::discarded);
    ::kill(pid_, SIGTERM);
    read_until([] { return false; });
    int status = 0;
    const bool exited = ::waitpid(pid_, &status, 0) == pid_;
    pid_ = 0;
    if (!exited || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      return json(json::value_t::discarded);
    }
    return json::parse(output_.substr(output_.find('\n') + 1), nullptr, false);
  }

 private:
  template <typename Done>
  void read_until(Done done) {
    char chunk[1024];
    while (!done()) {
      pollfd ready{out_, POLLIN, 0};
      if (::poll(&ready, 1, 20'000) <= 0) return;  // a guard against a hung program
      const ssize_t got = ::read(out_, chunk, sizeof chunk);
      if (got <= 0) return;
      output_.append(chunk, static_cast<std::size_t>(got));
    }
  }

  pid_t pid_ = 0;
  int out_ = -1;
  int port_ = -1;
  std::string output_;
};

TEST(FakeOpenAIProgram, SamplesFileAnswersAsManySamplesAsTheSchemaAsks) {
  if (!std::filesystem::exists(WEAKDISTILL_FAKE_OPENAI)) GTEST_SKIP() << "fake_openai is not built";
  TempDir dir;
  const std::string samples =
      dir.write("samples.jsonl",
                "{\"id\": 7, \"text\": \"中国队夺冠\", \"label\": \"体育\"}\n"
                "\n"
                "{\"text\": \"股市上涨\", \"label\": \"财经\", \"source\": \"news\"}\n"
                "{\"text\": \"新片上映\", \"label\": \"娱乐\"}\n");
  FakeProgram program({"--samples-file", samples, "--reasoning-chars", "4", "--reasoning-field",
                       "reasoning", "--enforce-schema"});
  ASSERT_GT(program.port(), 0);
  httplib::Client client("127.0.0.1", program.port());
  json schema = strict_label_schema();
  schema["properties"]["samples"]["items"]["properties"]["label"].erase("enum");
  json request = with_format(chat_request("x"), json_schema_format(schema, true));
  EXPECT_EQ(reply_content(post(client, kChatPath, request)),
            R"({"reasoning":"推理过程","samples":[{"text":"中国队夺冠","label":"体育"},)"
            R"({"text":"股市上涨","label":"财经"}]})");
  request["response_format"]["json_schema"]["schema"]["properties"]["samples"]["maxItems"] = 3;
  EXPECT_EQ(reply_content(post(client, kChatPath, request)),
            R"({"reasoning":"推理过程","samples":[{"text":"新片上映","label":"娱乐"},)"
            R"({"text":"中国队夺冠","label":"体育"},{"text":"股市上涨","label":"财经"}]})");
  // No schema: one bare sample (its extra key kept), the reasoning in the named field.
  const auto plain = post(client, kChatPath, chat_request("x"));
  EXPECT_EQ(reply_content(plain), R"({"text":"新片上映","label":"娱乐"})");
  ASSERT_TRUE(plain);
  EXPECT_EQ(json::parse(plain->body)["choices"][0]["message"]["reasoning"], "推理过程");
  const json summary = program.stop();
  ASSERT_FALSE(summary.is_discarded());
  EXPECT_EQ(summary["chat_completions"], 3);
  EXPECT_EQ(summary["schema_mismatches"], 0);
}

TEST(FakeOpenAIProgram, ThinkAndSamplesPerReplyShapeTheContent) {
  if (!std::filesystem::exists(WEAKDISTILL_FAKE_OPENAI)) GTEST_SKIP() << "fake_openai is not built";
  TempDir dir;
  const std::string samples =
      dir.write("s.jsonl", "{\"text\": \"摘要原文\", \"summary\": \"摘要\"}\n");
  FakeProgram program(
      {"--samples-file", samples, "--samples-per-reply", "2", "--reasoning-chars", "5", "--think"});
  ASSERT_GT(program.port(), 0);
  httplib::Client client("127.0.0.1", program.port());
  const std::string sample = R"({"text":"摘要原文","summary":"摘要"})";
  EXPECT_EQ(reply_content(
                post(client, kChatPath, with_format(chat_request("x"), {{"type", "json_object"}}))),
            "<think>\n推理过程推\n</think>\n\n{\"samples\":[" + sample + "," + sample + "]}");
  EXPECT_FALSE(program.stop().is_discarded());
}

TEST(FakeOpenAIProgram, ResponseFormatsFlagRefusesOtherTypes) {
  if (!std::filesystem::exists(WEAKDISTILL_FAKE_OPENAI)) GTEST_SKIP() << "fake_openai is not built";
  FakeProgram program({"--response-formats", "text,json_object"});
  ASSERT_GT(program.port(), 0);
  httplib::Client client("127.0.0.1", program.port());
  expect_response_format_400(
      post(client, kChatPath,
           with_format(chat_request("x"), json_schema_format(strict_label_schema(), true))));
  const auto object =
      post(client, kChatPath, with_format(chat_request("x"), {{"type", "json_object"}}));
  ASSERT_TRUE(object);
  EXPECT_EQ(object->status, 200);
  const json summary = program.stop();
  ASSERT_FALSE(summary.is_discarded());
  EXPECT_EQ(summary["unsupported_format"], 1);
  EXPECT_EQ(summary["bad_requests"], 1);
}

TEST(FakeOpenAIProgram, RejectsConflictingOrStraySamplesFlags) {
  const std::string program = WEAKDISTILL_FAKE_OPENAI;
  if (!std::filesystem::exists(program)) GTEST_SKIP() << program << " is not built";
  TempDir dir;
  const std::string samples = dir.write("s.jsonl", "{\"text\": \"a\", \"label\": \"b\"}\n");
  const std::string not_objects = dir.write("bad.jsonl", "[1]\n");
  for (const std::string& flags :
       {"--samples-file " + samples + " --responder-file " + samples, std::string("--think"),
        std::string("--reasoning-chars 3"), "--samples-file " + not_objects,
        "--samples-file " + samples + " --samples-per-reply 0",
        std::string("--response-formats text,grammar"), std::string("--enforce-schema=yes")}) {
    SCOPED_TRACE(flags);
    const int status = std::system((program + " " + flags + " 2>/dev/null").c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2);
  }
}
}  // namespace
}  // namespace weakdistill::testing
