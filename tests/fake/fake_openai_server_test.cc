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

#include "fake/fake_server_test_support.h"
#include "support/temp_dir.h"

extern char** environ;

namespace weakdistill::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kEmbeddingsPath = "/v1/embeddings";


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

}  // namespace
}  // namespace weakdistill::testing
