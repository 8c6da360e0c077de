// The fake server's Files and Batch APIs (fake_openai_batches.cc), driven over HTTP with
// httplib's client as a batch client would. No clock: batches advance per poll.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "fake/fake_openai_server.h"

namespace weakdistill::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;
using json = nlohmann::json;

json chat_body(const std::string& user_text) {
  return {{"model", "fake-model"}, {"messages", {{{"role", "user"}, {"content", user_text}}}}};
}

// One line of a batch input file: a chat request whose user message is `text`.
json batch_line(const std::string& custom_id, const std::string& text) {
  return {{"custom_id", custom_id},
          {"method", "POST"},
          {"url", "/v1/chat/completions"},
          {"body", chat_body(text)}};
}

std::string jsonl(const std::vector<json>& lines) {
  std::string out;
  for (const json& line : lines) out += line.dump() + "\n";
  return out;
}

// A file of lines with custom_ids `ids`, each asking about "text of <id>".
std::string file_of(const std::vector<std::string>& ids) {
  std::vector<json> lines;
  for (const std::string& id : ids) lines.push_back(batch_line(id, "text of " + id));
  return jsonl(lines);
}

std::vector<json> parse_jsonl(const std::string& text) {
  std::vector<json> out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    out.push_back(json::parse(text.substr(start, end - start)));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

std::vector<std::string> custom_ids_of(const std::vector<json>& records) {
  std::vector<std::string> out;
  for (const json& record : records) out.push_back(record["custom_id"]);
  return out;
}

// Answers every chat request with "echo <the user message>", so that an output line can be
// checked against its own input line.
void echo_responder(FakeOpenAIServer& server) {
  server.set_responder([](const json& request, int) {
    return "echo " + request["messages"][0]["content"].get<std::string>();
  });
}

std::string error_message(const httplib::Response& response) {
  const json body = json::parse(response.body, nullptr, false);
  if (body.is_discarded() || !body.contains("error"))
    return "<no error body: " + response.body + ">";
  return body["error"]["message"];
}

// Talks to the fake as a batch client does.
class BatchClient {
 public:
  explicit BatchClient(int port) : client_("127.0.0.1", port) {}

  httplib::Result upload(const std::string& content, const std::string& purpose = "batch",
                         const std::string& filename = "requests.jsonl") {
    const httplib::MultipartFormDataItems items = {
        {"purpose", purpose, "", ""}, {"file", content, filename, "application/jsonl"}};
    return client_.Post("/v1/files", items);
  }
  // Uploads `content` and returns the new file's id ("" after a failed assertion).
  std::string upload_ok(const std::string& content) {
    const auto response = upload(content);
    EXPECT_TRUE(response && response->status == 200)
        << (response ? response->body : httplib::to_string(response.error()));
    if (!response || response->status != 200) return "";
    return json::parse(response->body)["id"];
  }
  httplib::Result create(const json& body) {
    return client_.Post("/v1/batches", body.dump(), "application/json");
  }
  // Creates a batch over `file_id` and returns the Batch object.
  json create_ok(const std::string& file_id) {
    const auto response = create({{"input_file_id", file_id},
                                  {"endpoint", "/v1/chat/completions"},
                                  {"completion_window", "24h"}});
    EXPECT_TRUE(response && response->status == 200) << (response ? response->body : "no reply");
    if (!response || response->status != 200) return json();
    return json::parse(response->body);
  }
  json poll(const std::string& batch_id) {
    const auto response = client_.Get(("/v1/batches/" + batch_id).c_str());
    EXPECT_TRUE(response && response->status == 200) << (response ? response->body : "no reply");
    if (!response || response->status != 200) return json();
    return json::parse(response->body);
  }
  // Polls until the batch has ended (at most 100 polls) and returns its last state.
  json poll_until_done(const std::string& batch_id) {
    json batch;
    for (int i = 0; i < 100; ++i) {
      batch = poll(batch_id);
      const std::string status = batch.value("status", "");
      if (status == "completed" || status == "expired" || status == "cancelled" ||
          status == "failed" || status.empty()) {
        break;
      }
    }
    return batch;
  }
  httplib::Result cancel(const std::string& batch_id) {
    return client_.Post(("/v1/batches/" + batch_id + "/cancel").c_str(), "", "application/json");
  }
  httplib::Result content(const std::string& file_id) {
    return client_.Get(("/v1/files/" + file_id + "/content").c_str());
  }
  // The records of a batch output or error file (none when `file_id` is null).
  std::vector<json> records(const json& file_id) {
    if (file_id.is_null()) return {};
    const auto response = content(file_id.get<std::string>());
    EXPECT_TRUE(response && response->status == 200) << (response ? response->body : "no reply");
    if (!response || response->status != 200) return {};
    return parse_jsonl(response->body);
  }
  httplib::Client& http() { return client_; }

 private:
  httplib::Client client_;
};

TEST(FakeBatches, UploadCreatePollToCompletedAndDownloadTheOutput) {
  FakeOpenAIServer server;
  echo_responder(server);
  BatchClient client(server.port());
  const std::string content = file_of({"q1", "q2", "q3"});

  const auto uploaded = client.upload(content, "batch", "round-1.jsonl");
  ASSERT_TRUE(uploaded);
  ASSERT_EQ(uploaded->status, 200) << uploaded->body;
  const json file = json::parse(uploaded->body);
  EXPECT_THAT(file["id"].get<std::string>(), StartsWith("file-"));
  EXPECT_EQ(file["object"], "file");
  EXPECT_EQ(file["bytes"], content.size());
  EXPECT_TRUE(file["created_at"].is_number_integer());
  EXPECT_EQ(file["filename"], "round-1.jsonl");
  EXPECT_EQ(file["purpose"], "batch");

  const json created = client.create_ok(file["id"]);
  EXPECT_THAT(created["id"].get<std::string>(), StartsWith("batch_"));
  EXPECT_EQ(created["object"], "batch");
  EXPECT_EQ(created["endpoint"], "/v1/chat/completions");
  EXPECT_EQ(created["input_file_id"], file["id"]);
  EXPECT_EQ(created["completion_window"], "24h");
  EXPECT_EQ(created["status"], "validating");
  EXPECT_TRUE(created["output_file_id"].is_null());
  EXPECT_TRUE(created["error_file_id"].is_null());
  EXPECT_TRUE(created["created_at"].is_number_integer());
  EXPECT_EQ(created["expires_at"], created["created_at"].get<int64_t>() + 24 * 3600);
  EXPECT_EQ(created["request_counts"], json({{"total", 3}, {"completed", 0}, {"failed", 0}}));

  const std::string id = created["id"];
  EXPECT_EQ(client.poll(id)["status"], "in_progress");
  const json finalizing = client.poll(id);
  EXPECT_EQ(finalizing["status"], "finalizing");
  EXPECT_TRUE(finalizing["output_file_id"].is_null());
  const json done = client.poll(id);
  EXPECT_EQ(done["status"], "completed");
  EXPECT_TRUE(done["completed_at"].is_number_integer());
  EXPECT_TRUE(done["error_file_id"].is_null());
  EXPECT_EQ(done["request_counts"], json({{"total", 3}, {"completed", 3}, {"failed", 0}}));
  EXPECT_EQ(client.poll(id), done);  // an ended batch stays as it is

  const auto output = client.content(done["output_file_id"]);
  ASSERT_TRUE(output);
  ASSERT_EQ(output->status, 200);
  EXPECT_EQ(output->get_header_value("Content-Type"), "application/octet-stream");
  const std::vector<json> records = parse_jsonl(output->body);
  EXPECT_THAT(custom_ids_of(records), ElementsAre("q1", "q2", "q3"));
  for (const json& record : records) {
    EXPECT_THAT(record["id"].get<std::string>(), StartsWith("batch_req_"));
    EXPECT_TRUE(record["error"].is_null());
    EXPECT_EQ(record["response"]["status_code"], 200);
    EXPECT_THAT(record["response"]["request_id"].get<std::string>(), StartsWith("req_"));
    const json& completion = record["response"]["body"];
    EXPECT_EQ(completion["object"], "chat.completion");
    EXPECT_EQ(completion["model"], "fake-model");
    EXPECT_EQ(completion["choices"][0]["message"]["content"],
              "echo text of " + record["custom_id"].get<std::string>());
  }
  // The input file reads back byte for byte.
  const auto input = client.content(file["id"]);
  ASSERT_TRUE(input);
  EXPECT_EQ(input->body, content);
  // Batch lines are not synchronous chat requests.
  EXPECT_EQ(server.requests(), 0u);
}

TEST(FakeBatches, ALineIsAnsweredAsTheChatEndpointAnswersItsBody) {
  FakeOpenAIServer server;  // the default content: it names the model, seed and messages
  BatchClient client(server.port());
  json line = batch_line("only", "hello");
  line["body"]["seed"] = 7;
  const json batch = client.create_ok(client.upload_ok(jsonl({line})));
  const std::vector<json> records =
      client.records(client.poll_until_done(batch["id"])["output_file_id"]);
  ASSERT_EQ(records.size(), 1u);
  const auto direct =
      client.http().Post("/v1/chat/completions", line["body"].dump(), "application/json");
  ASSERT_TRUE(direct);
  const json reply = json::parse(direct->body);
  EXPECT_EQ(records[0]["response"]["body"]["choices"], reply["choices"]);
  EXPECT_EQ(records[0]["response"]["body"]["usage"], reply["usage"]);
}

TEST(FakeBatches, PollsPerStepAndLinesPerStepPaceTheBatch) {
  FakeServerOptions options;
  options.batch_script.polls_per_step = 2;
  options.batch_script.lines_per_step = 2;
  FakeOpenAIServer server(options);
  BatchClient client(server.port());
  const json batch = client.create_ok(client.upload_ok(file_of({"a", "b", "c", "d", "e"})));
  // A step every 2nd poll: in_progress, then 2 + 2 + 1 lines, then finalizing, completed.
  const std::vector<std::string> expected_status = {
      "validating",  "in_progress", "in_progress", "in_progress", "in_progress",
      "in_progress", "in_progress", "finalizing",  "finalizing",  "completed"};
  const std::vector<int> expected_completed = {0, 0, 0, 2, 2, 4, 4, 5, 5, 5};
  std::vector<std::string> status;
  std::vector<int> completed;
  for (int i = 0; i < 10; ++i) {
    const json state = client.poll(batch["id"]);
    status.push_back(state["status"]);
    completed.push_back(state["request_counts"]["completed"]);
  }
  EXPECT_EQ(status, expected_status);
  EXPECT_EQ(completed, expected_completed);
}

TEST(FakeBatches, OutputCanComeReversedOrShuffled) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e", "f", "g", "h"};
  BatchScript reversed;
  reversed.order = BatchScript::Order::kReversed;
  BatchScript shuffled;
  shuffled.order = BatchScript::Order::kShuffled;
  server.push_batch_script(reversed);
  server.push_batch_script(shuffled);
  const std::string file_id = client.upload_ok(file_of(ids));
  const json first = client.create_ok(file_id);
  const json second = client.create_ok(file_id);

  const std::vector<std::string> backwards(ids.rbegin(), ids.rend());
  EXPECT_THAT(custom_ids_of(client.records(client.poll_until_done(first["id"])["output_file_id"])),
              ElementsAreArray(backwards));
  const std::vector<std::string> mixed =
      custom_ids_of(client.records(client.poll_until_done(second["id"])["output_file_id"]));
  EXPECT_THAT(mixed, UnorderedElementsAreArray(ids));
  EXPECT_NE(mixed, ids);
  EXPECT_NE(mixed, backwards);
}

TEST(FakeBatches, FailedLinesGoToTheErrorFile) {
  FakeOpenAIServer server;
  echo_responder(server);
  BatchClient client(server.port());
  BatchScript script;
  script.fail_custom_ids = {"b"};
  script.fail_every = 3;  // lines 3 and 6: c and f
  server.set_batch_script(script);
  const json batch = client.create_ok(client.upload_ok(file_of({"a", "b", "c", "d", "e", "f"})));
  const json done = client.poll_until_done(batch["id"]);
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(done["request_counts"], json({{"total", 6}, {"completed", 3}, {"failed", 3}}));
  EXPECT_THAT(custom_ids_of(client.records(done["output_file_id"])), ElementsAre("a", "d", "e"));
  const std::vector<json> errors = client.records(done["error_file_id"]);
  EXPECT_THAT(custom_ids_of(errors), ElementsAre("b", "c", "f"));
  for (const json& record : errors) {
    EXPECT_THAT(record["id"].get<std::string>(), StartsWith("batch_req_"));
    EXPECT_EQ(record["response"]["status_code"], 500);
    EXPECT_TRUE(record["response"]["request_id"].is_string());
    EXPECT_TRUE(record["response"]["body"]["error"]["message"].is_string());
    EXPECT_TRUE(record["error"].is_null());
  }
}

TEST(FakeBatches, FailStatusZeroGivesAnErrorWithoutResponse) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  BatchScript script;
  script.fail_custom_ids = {"a"};
  script.fail_status = 0;
  server.set_batch_script(script);
  const json batch = client.create_ok(client.upload_ok(file_of({"a", "b"})));
  const json done = client.poll_until_done(batch["id"]);
  const std::vector<json> errors = client.records(done["error_file_id"]);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["custom_id"], "a");
  EXPECT_TRUE(errors[0]["response"].is_null());
  EXPECT_EQ(errors[0]["error"]["code"], "request_timeout");
  EXPECT_TRUE(errors[0]["error"]["message"].is_string());
}

TEST(FakeBatches, ALineTheChatEndpointRefusesGoesToTheErrorFileWithItsStatus) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  json no_messages = batch_line("bad", "x");
  no_messages["body"].erase("messages");
  const json batch =
      client.create_ok(client.upload_ok(jsonl({batch_line("good", "y"), no_messages})));
  const json done = client.poll_until_done(batch["id"]);
  EXPECT_EQ(done["request_counts"], json({{"total", 2}, {"completed", 1}, {"failed", 1}}));
  const std::vector<json> errors = client.records(done["error_file_id"]);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["custom_id"], "bad");
  EXPECT_EQ(errors[0]["response"]["status_code"], 400);
  EXPECT_THAT(errors[0]["response"]["body"]["error"]["message"].get<std::string>(),
              HasSubstr("messages"));
  EXPECT_TRUE(errors[0]["error"].is_null());
}

TEST(FakeBatches, DroppedLinesAreInNeitherFile) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  BatchScript script;
  script.drop_custom_ids = {"a"};
  script.drop_every = 2;           // b and d
  script.fail_custom_ids = {"d"};  // dropping wins
  server.set_batch_script(script);
  const json batch = client.create_ok(client.upload_ok(file_of({"a", "b", "c", "d"})));
  const json done = client.poll_until_done(batch["id"]);
  EXPECT_EQ(done["status"], "completed");
  // The server believes it answered all four.
  EXPECT_EQ(done["request_counts"], json({{"total", 4}, {"completed", 4}, {"failed", 0}}));
  EXPECT_THAT(custom_ids_of(client.records(done["output_file_id"])), ElementsAre("c"));
  EXPECT_TRUE(done["error_file_id"].is_null());
}

TEST(FakeBatches, ExpiryKeepsTheLinesDoneAndReportsTheRestAsExpired) {
  FakeOpenAIServer server;
  echo_responder(server);
  BatchClient client(server.port());
  BatchScript script;
  script.lines_per_step = 1;
  script.expire_after_lines = 2;
  server.set_batch_script(script);
  const json batch = client.create_ok(client.upload_ok(file_of({"a", "b", "c", "d", "e"})));
  EXPECT_EQ(client.poll(batch["id"])["status"], "in_progress");
  EXPECT_EQ(client.poll(batch["id"])["status"], "in_progress");  // a done
  const json expired = client.poll(batch["id"]);                 // b done: expired
  EXPECT_EQ(expired["status"], "expired");
  EXPECT_TRUE(expired["expired_at"].is_number_integer());
  EXPECT_TRUE(expired["completed_at"].is_null());
  EXPECT_EQ(expired["request_counts"], json({{"total", 5}, {"completed", 2}, {"failed", 3}}));
  const std::vector<json> output = client.records(expired["output_file_id"]);
  EXPECT_THAT(custom_ids_of(output), ElementsAre("a", "b"));
  EXPECT_EQ(output[1]["response"]["body"]["choices"][0]["message"]["content"], "echo text of b");
  const std::vector<json> errors = client.records(expired["error_file_id"]);
  EXPECT_THAT(custom_ids_of(errors), ElementsAre("c", "d", "e"));
  for (const json& record : errors) {
    EXPECT_TRUE(record["response"].is_null());
    EXPECT_EQ(record["error"]["code"], "batch_expired");
  }
}

TEST(FakeBatches, ExpiryBeforeAnyLineLeavesNoOutputFile) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  BatchScript script;
  script.expire_after_lines = 0;
  server.set_batch_script(script);
  const json batch = client.create_ok(client.upload_ok(file_of({"a", "b"})));
  const json done = client.poll_until_done(batch["id"]);
  EXPECT_EQ(done["status"], "expired");
  EXPECT_TRUE(done["output_file_id"].is_null());
  EXPECT_THAT(custom_ids_of(client.records(done["error_file_id"])), ElementsAre("a", "b"));
}

TEST(FakeBatches, CancelKeepsTheLinesDoneSoFar) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  BatchScript script;
  script.lines_per_step = 2;
  server.set_batch_script(script);
  const json batch = client.create_ok(client.upload_ok(file_of({"a", "b", "c", "d", "e"})));
  const std::string id = batch["id"];
  EXPECT_EQ(client.poll(id)["status"], "in_progress");
  EXPECT_EQ(client.poll(id)["request_counts"]["completed"], 2);

  const auto cancelling = client.cancel(id);
  ASSERT_TRUE(cancelling);
  ASSERT_EQ(cancelling->status, 200) << cancelling->body;
  const json state = json::parse(cancelling->body);
  EXPECT_EQ(state["status"], "cancelling");
  EXPECT_TRUE(state["cancelling_at"].is_number_integer());
  const auto again = client.cancel(id);  // still cancelling: answered, not counted twice
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);

  const json cancelled = client.poll(id);
  EXPECT_EQ(cancelled["status"], "cancelled");
  EXPECT_TRUE(cancelled["cancelled_at"].is_number_integer());
  EXPECT_EQ(cancelled["request_counts"], json({{"total", 5}, {"completed", 2}, {"failed", 3}}));
  EXPECT_THAT(custom_ids_of(client.records(cancelled["output_file_id"])), ElementsAre("a", "b"));
  const std::vector<json> errors = client.records(cancelled["error_file_id"]);
  EXPECT_THAT(custom_ids_of(errors), ElementsAre("c", "d", "e"));
  EXPECT_EQ(errors[0]["error"]["code"], "batch_cancelled");

  const auto too_late = client.cancel(id);
  ASSERT_TRUE(too_late);
  EXPECT_EQ(too_late->status, 400);
  EXPECT_THAT(error_message(*too_late), HasSubstr("cancelled"));
  EXPECT_EQ(server.summary()["batches_cancelled"], 1);
}

TEST(FakeBatches, ABadFileLineIs400NamingTheLine) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  const json good = batch_line("first", "x");
  json duplicate = batch_line("first", "y");
  json no_id = batch_line("x", "y");
  no_id.erase("custom_id");
  json numeric_id = batch_line("x", "y");
  numeric_id["custom_id"] = 7;
  json get = batch_line("x", "y");
  get["method"] = "GET";
  json embeddings = batch_line("x", "y");
  embeddings["url"] = "/v1/embeddings";
  json string_body = batch_line("x", "y");
  string_body["body"] = "hello";
  // The second line of each file is bad, and the message says what is wrong with it.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{not json", "not valid JSON"},
      {"[1, 2]", "JSON object"},
      {"", "empty line"},
      {no_id.dump(), "custom_id"},
      {numeric_id.dump(), "custom_id"},
      {duplicate.dump(), "already used on line 1"},
      {get.dump(), "method"},
      {embeddings.dump(), "url"},
      {string_body.dump(), "body"},
  };
  for (const auto& [line, why] : cases) {
    const auto response = client.upload(good.dump() + "\n" + line + "\n" + good.dump() + "\n");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400) << line;
    EXPECT_THAT(error_message(*response), StartsWith("line 2: ")) << line;
    EXPECT_THAT(error_message(*response), HasSubstr(why)) << line;
  }
  // Not a batch file at all.
  const auto empty = client.upload("");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);
  const auto other_purpose = client.upload(good.dump() + "\n", "fine-tune");
  ASSERT_TRUE(other_purpose);
  EXPECT_EQ(other_purpose->status, 400);
  EXPECT_THAT(error_message(*other_purpose), HasSubstr("purpose"));
  const auto not_multipart = client.http().Post("/v1/files", good.dump(), "application/json");
  ASSERT_TRUE(not_multipart);
  EXPECT_EQ(not_multipart->status, 400);
  const auto no_file = client.http().Post(
      "/v1/files", httplib::MultipartFormDataItems{{"purpose", "batch", "", ""}});
  ASSERT_TRUE(no_file);
  EXPECT_EQ(no_file->status, 400);
  EXPECT_THAT(error_message(*no_file), HasSubstr("'file'"));

  const json summary = server.summary();
  EXPECT_EQ(summary["files_uploaded"], 0);
  EXPECT_EQ(summary["bad_requests"], cases.size() + 4);
  // A last line without its newline, and CRLF line ends, are fine.
  EXPECT_NE(client.upload_ok(good.dump() + "\r\n" + batch_line("second", "z").dump()), "");
}

TEST(FakeBatches, TheLineLimitIsConfigurable) {
  FakeServerOptions options;
  options.batch_file_max_lines = 3;
  FakeOpenAIServer server(options);
  BatchClient client(server.port());
  EXPECT_NE(client.upload_ok(file_of({"a", "b", "c"})), "");
  const auto four_lines = client.upload(file_of({"a", "b", "c", "d"}));
  ASSERT_TRUE(four_lines);
  EXPECT_EQ(four_lines->status, 400);
  EXPECT_THAT(error_message(*four_lines), StartsWith("line 4: "));
  EXPECT_THAT(error_message(*four_lines), HasSubstr("at most 3 requests"));
  EXPECT_EQ(server.summary()["files_uploaded"], 1);
}

TEST(FakeBatches, TheByteLimitIsConfigurable) {
  const std::string three = file_of({"a", "b", "c"});
  FakeServerOptions options;
  options.batch_file_max_bytes = three.size();
  FakeOpenAIServer server(options);
  BatchClient client(server.port());
  EXPECT_NE(client.upload_ok(three), "");
  const std::string bigger = file_of({"aa", "b", "c"});  // two bytes more
  const auto too_big = client.upload(bigger);
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 400);
  EXPECT_THAT(error_message(*too_big),
              HasSubstr("has " + std::to_string(bigger.size()) + " bytes; at most " +
                        std::to_string(three.size()) + " are allowed"));
}

TEST(FakeBatches, TheDefaultLimitsAreOpenAIs) {
  const FakeServerOptions options;
  EXPECT_EQ(options.batch_file_max_lines, 50000u);
  EXPECT_EQ(options.batch_file_max_bytes, 200u * 1024 * 1024);
}

TEST(FakeBatches, UnknownIdsAre404AndOtherMisusesAre400Or405) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  httplib::Client& http = client.http();
  for (const char* path : {"/v1/files/file-999999", "/v1/files/file-999999/content",
                           "/v1/batches/batch_999999", "/v1/files/x/y", "/v1/batches/x/y/z"}) {
    const auto response = http.Get(path);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 404) << path;
  }
  const auto cancel = client.cancel("batch_999999");
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->status, 404);
  const auto no_file = client.create({{"input_file_id", "file-999999"},
                                      {"endpoint", "/v1/chat/completions"},
                                      {"completion_window", "24h"}});
  ASSERT_TRUE(no_file);
  EXPECT_EQ(no_file->status, 404);
  EXPECT_THAT(error_message(*no_file), HasSubstr("file-999999"));
  EXPECT_EQ(server.summary()["not_found"], 7);

  const std::string file_id = client.upload_ok(file_of({"a"}));
  for (const auto& [key, value] : std::vector<std::pair<std::string, json>>{
           {"endpoint", "/v1/embeddings"}, {"completion_window", "48h"}, {"metadata", "tag"}}) {
    json body = {{"input_file_id", file_id},
                 {"endpoint", "/v1/chat/completions"},
                 {"completion_window", "24h"}};
    body[key] = value;
    const auto response = client.create(body);
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 400) << key;
  }
  // An output file is not an input file.
  const json done = client.poll_until_done(client.create_ok(file_id)["id"]);
  const auto from_output = client.create({{"input_file_id", done["output_file_id"]},
                                          {"endpoint", "/v1/chat/completions"},
                                          {"completion_window", "24h"}});
  ASSERT_TRUE(from_output);
  EXPECT_EQ(from_output->status, 400);

  const auto put_files = http.Put("/v1/files", "", "text/plain");
  ASSERT_TRUE(put_files);
  EXPECT_EQ(put_files->status, 405);
  const auto get_cancel =
      http.Get(("/v1/batches/" + done["id"].get<std::string>() + "/cancel").c_str());
  ASSERT_TRUE(get_cancel);
  EXPECT_EQ(get_cancel->status, 405);
}

TEST(FakeBatches, FilesCanBeReadAndDeleted) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  const std::string file_id = client.upload_ok(file_of({"a", "b"}));
  const std::string batch_id = client.create_ok(file_id)["id"];
  const auto object = client.http().Get(("/v1/files/" + file_id).c_str());
  ASSERT_TRUE(object);
  EXPECT_EQ(json::parse(object->body)["id"], file_id);
  const auto deleted = client.http().Delete(("/v1/files/" + file_id).c_str());
  ASSERT_TRUE(deleted);
  EXPECT_EQ(json::parse(deleted->body),
            json({{"id", file_id}, {"object", "file"}, {"deleted", true}}));
  const auto gone = client.content(file_id);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  // The batch made from it still runs.
  const json done = client.poll_until_done(batch_id);
  EXPECT_EQ(done["status"], "completed");
  EXPECT_THAT(custom_ids_of(client.records(done["output_file_id"])), ElementsAre("a", "b"));
  const auto output =
      client.http().Get(("/v1/files/" + done["output_file_id"].get<std::string>()).c_str());
  ASSERT_TRUE(output);
  EXPECT_EQ(json::parse(output->body)["purpose"], "batch_output");
}

TEST(FakeBatches, CountersAndTheBatchListTellWhatAClientDid) {
  FakeOpenAIServer server;
  BatchClient client(server.port());
  BatchScript expire_at_once;
  expire_at_once.expire_after_lines = 1;
  server.push_batch_script(expire_at_once);  // the first batch only
  const std::string first_file = client.upload_ok(file_of({"a", "b", "c"}));
  const json first = client.poll_until_done(client.create_ok(first_file)["id"]);
  EXPECT_EQ(first["status"], "expired");
  // A client resubmits what the first batch left undone.
  const std::string second_file = client.upload_ok(file_of({"b", "c"}));
  const json second = client.poll_until_done(client.create_ok(second_file)["id"]);
  EXPECT_EQ(second["status"], "completed");
  client.records(first["output_file_id"]);
  client.records(first["error_file_id"]);
  client.records(second["output_file_id"]);
  const std::string third_file = client.upload_ok(file_of({"z"}));
  const std::string third = client.create_ok(third_file)["id"];
  ASSERT_TRUE(client.cancel(third));

  const std::vector<BatchRecord> batches = server.batches();
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].id, first["id"]);
  EXPECT_EQ(batches[0].input_file_id, first_file);
  EXPECT_EQ(batches[0].input_lines, 3u);
  EXPECT_THAT(batches[0].custom_ids, ElementsAre("a", "b", "c"));
  EXPECT_EQ(batches[0].status, "expired");
  EXPECT_EQ(batches[1].input_lines, 2u);
  EXPECT_THAT(batches[1].custom_ids, ElementsAre("b", "c"));
  EXPECT_EQ(batches[1].status, "completed");
  EXPECT_EQ(batches[2].id, third);
  EXPECT_EQ(batches[2].status, "cancelling");

  const json summary = server.summary();
  EXPECT_EQ(summary["files_uploaded"], 3);
  EXPECT_EQ(summary["batches_created"], 3);
  // first: in_progress, expired; second: in_progress, finalizing, completed.
  EXPECT_EQ(summary["batch_polls"], 5);
  EXPECT_EQ(summary["batches_cancelled"], 1);
  EXPECT_EQ(summary["files_downloaded"], 3);
  EXPECT_EQ(summary["batch_api_requests"], 3 + 3 + 5 + 3 + 1);
  EXPECT_EQ(summary["requests"], 0);
  EXPECT_EQ(summary["chat_completions"], 0);
}

TEST(FakeBatches, BatchFaultsKeyCheckAndDownApplyToTheBatchEndpoints) {
  FakeServerOptions options;
  options.api_key = "sk-test";
  FakeOpenAIServer server(options);
  BatchClient client(server.port());
  const auto no_key = client.upload(file_of({"a"}));
  ASSERT_TRUE(no_key);
  EXPECT_EQ(no_key->status, 401);
  client.http().set_bearer_token_auth("sk-test");

  server.push_batch_fault(Fault::status_code(503));
  const auto faulted = client.upload(file_of({"a"}));
  ASSERT_TRUE(faulted);
  EXPECT_EQ(faulted->status, 503);
  const std::string file_id = client.upload_ok(file_of({"a"}));
  // The chat queue is apart: a chat fault does not touch batch requests, nor the reverse.
  server.push_fault(Fault::status_code(429));
  const std::string batch_id = client.create_ok(file_id)["id"];
  const auto chat =
      client.http().Post("/v1/chat/completions", chat_body("x").dump(), "application/json");
  ASSERT_TRUE(chat);
  EXPECT_EQ(chat->status, 429);

  server.go_down();
  EXPECT_FALSE(client.http().Get(("/v1/batches/" + batch_id).c_str()));
  server.resume();
  EXPECT_EQ(client.poll(batch_id)["status"], "in_progress");
  EXPECT_EQ(server.summary()["files_uploaded"], 1);
  EXPECT_EQ(server.summary()["unauthorized"], 1);
}

}  // namespace
}  // namespace weakdistill::testing
