// The Files and Batch APIs for chat completions (fake_openai_server.h, "Files and batches"):
// uploads of batch input files, batches that advance one step per poll instead of by the clock,
// and the output and error files a batch leaves, shaped by its BatchScript.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fake/fake_openai_internal.h"

namespace weakdistill::testing {
namespace {

using nlohmann::json;

constexpr std::string_view kFilesPath = "/v1/files";
constexpr std::string_view kBatchesPath = "/v1/batches";
constexpr const char* kChatEndpoint = "/v1/chat/completions";

int64_t now() { return static_cast<int64_t>(std::time(nullptr)); }

std::string numbered(const char* prefix, uint64_t number) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%s%06llu", prefix, static_cast<unsigned long long>(number));
  return buffer;
}

HttpResponse invalid(const std::string& message, const json& param = nullptr) {
  return error_response(400, message, "invalid_request_error", nullptr, param);
}

HttpResponse method_not_allowed(const HttpRequest& request, const std::string& allow) {
  HttpResponse response =
      error_response(405, "Method " + request.method + " not allowed on " + request.path + ".",
                     "invalid_request_error", "method_not_allowed");
  response.headers.emplace_back("Allow", allow);
  return response;
}

// ---------------------------------------------------------------------------------------------
// multipart/form-data (RFC 7578), as much as an upload needs.

struct FormPart {
  std::string name;
  std::optional<std::string> filename;
  std::string content;
};

// The value of `key` among a header's ";"-separated parameters (quotes removed), or nullopt.
std::optional<std::string> header_parameter(std::string_view header, std::string_view key) {
  while (!header.empty()) {
    const std::size_t end = std::min(header.find(';'), header.size());
    const std::string_view item = trim(header.substr(0, end));
    header = end < header.size() ? header.substr(end + 1) : std::string_view();
    const std::size_t equals = item.find('=');
    if (equals == std::string_view::npos) continue;
    if (lowercase(trim(item.substr(0, equals))) != key) continue;
    std::string_view value = trim(item.substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
  }
  return std::nullopt;
}

// The parts of a multipart/form-data body, or nullopt with `error` saying what is wrong.
std::optional<std::vector<FormPart>> parse_form(std::string_view content_type,
                                                std::string_view body, std::string& error) {
  const std::string media = lowercase(trim(content_type.substr(0, content_type.find(';'))));
  if (media != "multipart/form-data") {
    error = "Expected a multipart/form-data body (got Content-Type '" + std::string(content_type) +
            "').";
    return std::nullopt;
  }
  const std::optional<std::string> boundary = header_parameter(content_type, "boundary");
  if (!boundary || boundary->empty()) {
    error = "The multipart/form-data Content-Type has no boundary.";
    return std::nullopt;
  }
  const std::string delimiter = "--" + *boundary;
  std::size_t at = body.find(delimiter);
  if (at == std::string_view::npos) {
    error = "The multipart body has no part.";
    return std::nullopt;
  }
  std::vector<FormPart> parts;
  while (true) {
    at += delimiter.size();
    if (body.substr(at, 2) == "--") return parts;
    if (body.substr(at, 2) != "\r\n") break;
    at += 2;
    const std::size_t head_end = body.find("\r\n\r\n", at);
    if (head_end == std::string_view::npos) break;
    std::string_view head = body.substr(at, head_end - at);
    const std::size_t content_start = head_end + 4;
    const std::size_t next = body.find("\r\n" + delimiter, content_start);
    if (next == std::string_view::npos) break;
    FormPart part;
    part.content = std::string(body.substr(content_start, next - content_start));
    while (!head.empty()) {
      const std::size_t end = std::min(head.find("\r\n"), head.size());
      const std::string_view line = head.substr(0, end);
      head = end < head.size() ? head.substr(end + 2) : std::string_view();
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      if (lowercase(trim(line.substr(0, colon))) != "content-disposition") continue;
      const std::string_view value = line.substr(colon + 1);
      part.name = header_parameter(value, "name").value_or("");
      part.filename = header_parameter(value, "filename");
    }
    parts.push_back(std::move(part));
    at = next + 2;
  }
  error = "The multipart body is malformed (a part without headers or a closing boundary).";
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Batch input files

// The requests of a batch input file, or the 400 that names its first bad line.
std::optional<std::vector<BatchLine>> parse_batch_file(std::string_view content,
                                                       std::size_t max_lines,
                                                       HttpResponse& problem) {
  auto bad = [&](std::size_t line_number, const std::string& message) {
    problem = invalid("line " + std::to_string(line_number) + ": " + message, "file");
    return std::nullopt;
  };
  if (content.empty()) {
    problem = invalid("The batch input file is empty.", "file");
    return std::nullopt;
  }
  // A final newline ends the last line; it does not start another.
  if (content.back() == '\n') content.remove_suffix(1);
  const std::size_t line_count =
      static_cast<std::size_t>(std::count(content.begin(), content.end(), '\n')) + 1;
  if (line_count > max_lines) {
    return bad(max_lines + 1, "a batch input file may hold at most " + std::to_string(max_lines) +
                                  " requests; this one has " + std::to_string(line_count) +
                                  " lines.");
  }
  std::vector<BatchLine> lines;
  lines.reserve(line_count);
  std::unordered_map<std::string, std::size_t> seen;  // custom_id -> its line number
  for (std::size_t number = 1; number <= line_count; ++number) {
    const std::size_t end = std::min(content.find('\n'), content.size());
    std::string_view text = content.substr(0, end);
    content = end < content.size() ? content.substr(end + 1) : std::string_view();
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (trim(text).empty()) return bad(number, "empty line; each line must hold one request.");
    const json request = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded()) return bad(number, "not valid JSON.");
    if (!request.is_object()) return bad(number, "a request must be a JSON object.");
    if (!request.contains("custom_id") || !request["custom_id"].is_string() ||
        request["custom_id"].get_ref<const std::string&>().empty()) {
      return bad(number, "'custom_id' must be a non-empty string.");
    }
    const std::string& custom_id = request["custom_id"].get_ref<const std::string&>();
    if (const auto [it, added] = seen.emplace(custom_id, number); !added) {
      return bad(number, "custom_id '" + custom_id + "' is already used on line " +
                             std::to_string(it->second) + "; custom_ids must be unique.");
    }
    if (!request.contains("method") || request["method"] != "POST") {
      return bad(number, "'method' must be \"POST\".");
    }
    if (!request.contains("url") || request["url"] != kChatEndpoint) {
      return bad(number, std::string("'url' must be \"") + kChatEndpoint +
                             "\" (the only endpoint the fake server batches).");
    }
    if (!request.contains("body") || !request["body"].is_object()) {
      return bad(number, "'body' must be a JSON object.");
    }
    lines.push_back({custom_id, request["body"]});
  }
  return lines;
}

json file_object(const StoredFile& file) {
  return {{"id", file.id},
          {"object", "file"},
          {"bytes", file.content.size()},
          {"created_at", file.created_at},
          {"filename", file.filename},
          {"purpose", file.purpose},
          {"status", "processed"},
          {"status_details", nullptr},
          {"expires_at", nullptr}};
}

// ---------------------------------------------------------------------------------------------
// Batches

bool is_terminal(const std::string& status) {
  return status == "completed" || status == "expired" || status == "cancelled" ||
         status == "failed";
}

json batch_object(const BatchState& batch) {
  return {{"id", batch.id},
          {"object", "batch"},
          {"endpoint", batch.endpoint},
          {"errors", nullptr},
          {"input_file_id", batch.input_file_id},
          {"completion_window", batch.completion_window},
          {"status", batch.status},
          {"output_file_id", batch.output_file_id},
          {"error_file_id", batch.error_file_id},
          {"created_at", batch.created_at},
          {"in_progress_at", batch.in_progress_at},
          {"expires_at", batch.expires_at},
          {"finalizing_at", batch.finalizing_at},
          {"completed_at", batch.completed_at},
          {"failed_at", batch.failed_at},
          {"expired_at", batch.expired_at},
          {"cancelling_at", batch.cancelling_at},
          {"cancelled_at", batch.cancelled_at},
          {"request_counts",
           {{"total", batch.lines->size()},
            {"completed", batch.completed},
            {"failed", batch.errors.size()}}},
          {"metadata", batch.metadata}};
}

bool listed(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// Whether line `number` (from 1) with `custom_id` is chosen by a list or an every-k rule.
bool chosen(const std::vector<std::string>& ids, std::size_t every, const std::string& custom_id,
            std::size_t number) {
  return listed(ids, custom_id) || (every > 0 && number % every == 0);
}

// The records in the file order the script asks for, one JSON a line.
std::string file_content(const std::vector<std::pair<std::size_t, json>>& records,
                         BatchScript::Order order) {
  std::vector<const json*> lines;
  for (const auto& [index, record] : records) lines.push_back(&record);
  if (order == BatchScript::Order::kReversed) {
    std::reverse(lines.begin(), lines.end());
  } else if (order == BatchScript::Order::kShuffled) {
    // Fisher-Yates on splitmix64 seeded by the count, so the permutation is the same on every
    // platform (std::shuffle's is not).
    uint64_t state = lines.size();
    for (std::size_t i = lines.size(); i > 1; --i) {
      uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      std::swap(lines[i - 1], lines[z % i]);
    }
  }
  std::string out;
  for (const json* line : lines) out += line->dump() + "\n";
  return out;
}

}  // namespace

bool is_batch_api_path(std::string_view path) {
  auto under = [&](std::string_view root) {
    return path.substr(0, root.size()) == root &&
           (path.size() == root.size() || path[root.size()] == '/');
  };
  return under(kFilesPath) || under(kBatchesPath);
}

HttpResponse FakeOpenAIServer::Impl::batch_api_reply(const HttpRequest& request) {
  auto not_found = [&](const std::string& message, const json& param = nullptr) {
    count(&Counters::not_found);
    return error_response(404, message, "invalid_request_error", nullptr, param);
  };
  auto unknown_url = [&] {
    return not_found("Unknown request URL: " + request.method + " " + request.path + ".");
  };
  // The path below its root, split at '/': {} for the root itself, {id} or {id, verb}.
  auto segments = [&](std::string_view root) {
    std::vector<std::string> out;
    std::string_view rest = std::string_view(request.path).substr(root.size());
    while (!rest.empty()) {
      rest.remove_prefix(1);  // the '/'
      const std::size_t end = std::min(rest.find('/'), rest.size());
      out.emplace_back(rest.substr(0, end));
      rest = rest.substr(end);
    }
    return out;
  };
  // A step of the state machine (see fake_openai_server.h): called once per GET of a batch.
  auto finish = [&](BatchState& batch, const std::string& status) {
    const int64_t time = now();
    if (status == "expired" || status == "cancelled") {
      const std::string code = status == "expired" ? "batch_expired" : "batch_cancelled";
      const std::string message =
          status == "expired"
              ? "This request could not be executed before the completion window expired."
              : "This request was not executed: the batch was cancelled.";
      for (std::size_t i = batch.next_line; i < batch.lines->size(); ++i) {
        batch.errors.emplace_back(i, json{{"id", numbered("batch_req_", next_batch_request_id++)},
                                          {"custom_id", (*batch.lines)[i].custom_id},
                                          {"response", nullptr},
                                          {"error", {{"code", code}, {"message", message}}}});
      }
      batch.next_line = batch.lines->size();
      (status == "expired" ? batch.expired_at : batch.cancelled_at) = time;
    } else {
      batch.completed_at = time;
    }
    batch.status = status;
    auto store = [&](const std::vector<std::pair<std::size_t, json>>& records,
                     const char* suffix) -> json {
      if (records.empty()) return nullptr;
      StoredFile file;
      file.id = numbered("file-", next_file_id++);
      file.filename = batch.id + suffix;
      file.purpose = "batch_output";
      file.created_at = time;
      file.content = file_content(records, batch.script.order);
      const std::string id = file.id;
      files.emplace(id, std::move(file));
      return id;
    };
    batch.output_file_id = store(batch.output, "_output.jsonl");
    batch.error_file_id = store(batch.errors, "_error.jsonl");
  };
  auto answer_line = [&](BatchState& batch, std::size_t index) {
    const BatchLine& line = (*batch.lines)[index];
    const BatchScript& script = batch.script;
    const std::size_t number = index + 1;
    if (chosen(script.drop_custom_ids, script.drop_every, line.custom_id, number)) {
      ++batch.completed;
      return;
    }
    json record = {{"id", numbered("batch_req_", next_batch_request_id)},
                   {"custom_id", line.custom_id},
                   {"response", nullptr},
                   {"error", nullptr}};
    const std::string request_id = numbered("req_", next_batch_request_id++);
    if (chosen(script.fail_custom_ids, script.fail_every, line.custom_id, number)) {
      if (script.fail_status > 0) {
        const bool server = script.fail_status >= 500;
        const HttpResponse failure = error_response(
            script.fail_status, "The request failed (the fake server's batch script).",
            server ? "server_error" : "invalid_request_error",
            server ? "server_error" : "injected_error");
        record["response"] = {{"status_code", script.fail_status},
                              {"request_id", request_id},
                              {"body", json::parse(failure.body)}};
      } else {
        record["error"] = {{"code", script.fail_code},
                           {"message", "The request failed (the fake server's batch script)."}};
      }
      batch.errors.emplace_back(index, std::move(record));
      return;
    }
    const HttpResponse reply = chat_reply(line.body, /*finish_length=*/false);
    record["response"] = {{"status_code", reply.status},
                          {"request_id", request_id},
                          {"body", json::parse(reply.body)}};
    if (reply.status == 200) {
      ++batch.completed;
      batch.output.emplace_back(index, std::move(record));
    } else {
      batch.errors.emplace_back(index, std::move(record));
    }
  };
  auto step = [&](BatchState& batch) {
    if (++batch.polls_in_step < std::max(1, batch.script.polls_per_step)) return;
    batch.polls_in_step = 0;
    const BatchScript& script = batch.script;
    if (batch.status == "validating") {
      batch.status = "in_progress";
      batch.in_progress_at = now();
    } else if (batch.status == "in_progress") {
      const std::size_t total = batch.lines->size();
      std::size_t end = script.lines_per_step == 0
                            ? total
                            : std::min(total, batch.next_line + script.lines_per_step);
      if (script.expire_after_lines) {
        end = std::min(end, std::max(batch.next_line, *script.expire_after_lines));
      }
      for (std::size_t i = batch.next_line; i < end; ++i) answer_line(batch, i);
      batch.next_line = end;
      if (batch.next_line == total) {
        batch.status = "finalizing";
        batch.finalizing_at = now();
      } else if (script.expire_after_lines && batch.next_line >= *script.expire_after_lines) {
        finish(batch, "expired");
      }
    } else if (batch.status == "finalizing") {
      finish(batch, "completed");
    } else if (batch.status == "cancelling") {
      finish(batch, "cancelled");
    }
  };

  std::lock_guard lock(batch_mu);
  // handle() sends only paths under kFilesPath or kBatchesPath here.
  if (std::string_view(request.path).substr(0, kFilesPath.size()) == kFilesPath) {
    const std::vector<std::string> parts = segments(kFilesPath);
    if (parts.empty()) {
      if (request.method != "POST") return method_not_allowed(request, "POST");
      std::string error;
      const auto form = parse_form(request.header("content-type"), request.body, error);
      if (!form) return invalid(error);
      const FormPart* purpose = nullptr;
      const FormPart* upload = nullptr;
      for (const FormPart& part : *form) {
        if (part.name == "purpose") purpose = &part;
        if (part.name == "file") upload = &part;
      }
      if (purpose == nullptr) return invalid("Missing required parameter: 'purpose'.", "purpose");
      if (upload == nullptr) return invalid("Missing required parameter: 'file'.", "file");
      if (purpose->content != "batch") {
        return invalid(
            "The fake server takes files of purpose 'batch' only (got '" + purpose->content + "').",
            "purpose");
      }
      if (upload->content.size() > options.batch_file_max_bytes) {
        return invalid("The batch input file has " + std::to_string(upload->content.size()) +
                           " bytes; at most " + std::to_string(options.batch_file_max_bytes) +
                           " are allowed.",
                       "file");
      }
      HttpResponse problem;
      auto lines = parse_batch_file(upload->content, options.batch_file_max_lines, problem);
      if (!lines) return problem;
      StoredFile file;
      file.id = numbered("file-", next_file_id++);
      file.filename = upload->filename.value_or("file");
      file.purpose = "batch";
      file.created_at = now();
      file.content = upload->content;
      file.lines = std::make_shared<const std::vector<BatchLine>>(std::move(*lines));
      const json object = file_object(file);
      const std::string id = file.id;
      files.emplace(id, std::move(file));
      count(&Counters::files_uploaded);
      return {200, object.dump(), {}};
    }
    if (parts.size() > 2 || parts[0].empty() || (parts.size() == 2 && parts[1] != "content")) {
      return unknown_url();
    }
    const bool content = parts.size() == 2;
    if (content ? request.method != "GET" : request.method != "GET" && request.method != "DELETE") {
      return method_not_allowed(request, content ? "GET" : "GET, DELETE");
    }
    auto it = files.find(parts[0]);
    if (it == files.end()) return not_found("No such File object: " + parts[0], "id");
    if (content) {
      count(&Counters::files_downloaded);
      HttpResponse response{200, it->second.content, {}};
      response.content_type = "application/octet-stream";
      return response;
    }
    if (request.method == "DELETE") {
      files.erase(it);
      count(&Counters::files_deleted);
      return {200, json{{"id", parts[0]}, {"object", "file"}, {"deleted", true}}.dump(), {}};
    }
    return {200, file_object(it->second).dump(), {}};
  }

  const std::vector<std::string> parts = segments(kBatchesPath);
  if (parts.empty()) {
    if (request.method != "POST") return method_not_allowed(request, "POST");
    const json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) return invalid("We could not parse the JSON body of your request.");
    if (!body.is_object()) return invalid("The request body must be a JSON object.");
    if (!body.contains("input_file_id") || !body["input_file_id"].is_string()) {
      return invalid("'input_file_id' must be a string.", "input_file_id");
    }
    if (!body.contains("endpoint") || body["endpoint"] != kChatEndpoint) {
      return invalid(std::string("'endpoint' must be \"") + kChatEndpoint +
                         "\" (the only endpoint the fake server batches).",
                     "endpoint");
    }
    if (!body.contains("completion_window") || body["completion_window"] != "24h") {
      return invalid("'completion_window' must be \"24h\".", "completion_window");
    }
    const json metadata = body.contains("metadata") ? body["metadata"] : json();
    if (!metadata.is_null() && !metadata.is_object()) {
      return invalid("'metadata' must be an object.", "metadata");
    }
    const std::string& file_id = body["input_file_id"].get_ref<const std::string&>();
    auto file = files.find(file_id);
    if (file == files.end()) return not_found("No such File object: " + file_id, "input_file_id");
    if (file->second.purpose != "batch") {
      return invalid("File " + file_id + " has purpose '" + file->second.purpose +
                         "'; a batch's input file must have purpose 'batch'.",
                     "input_file_id");
    }
    BatchState batch;
    batch.id = numbered("batch_", next_batch_id++);
    batch.input_file_id = file_id;
    batch.endpoint = kChatEndpoint;
    batch.completion_window = "24h";
    batch.metadata = metadata;
    batch.lines = file->second.lines;
    if (!batch_scripts.empty()) {
      batch.script = std::move(batch_scripts.front());
      batch_scripts.pop_front();
    } else {
      batch.script = batch_script.value_or(options.batch_script);
    }
    const int64_t time = now();
    batch.created_at = time;
    batch.expires_at = time + 24 * 60 * 60;
    const json object = batch_object(batch);
    const std::string id = batch.id;
    batch_order.push_back(id);
    batches.emplace(id, std::move(batch));
    count(&Counters::batches_created);
    return {200, object.dump(), {}};
  }
  if (parts.size() > 2 || parts[0].empty() || (parts.size() == 2 && parts[1] != "cancel")) {
    return unknown_url();
  }
  const bool cancel = parts.size() == 2;
  if (request.method != (cancel ? "POST" : "GET")) {
    return method_not_allowed(request, cancel ? "POST" : "GET");
  }
  auto it = batches.find(parts[0]);
  if (it == batches.end()) return not_found("No such Batch object: " + parts[0], "batch_id");
  BatchState& batch = it->second;
  if (cancel) {
    if (is_terminal(batch.status)) {
      return invalid("Cannot cancel a batch with status '" + batch.status + "'.");
    }
    if (batch.status != "cancelling") {
      batch.status = "cancelling";
      batch.cancelling_at = now();
      batch.polls_in_step = 0;
      count(&Counters::batches_cancelled);
    }
  } else {
    count(&Counters::batch_polls);
    step(batch);
  }
  return {200, batch_object(batch).dump(), {}};
}

void FakeOpenAIServer::set_batch_script(BatchScript script) {
  std::lock_guard lock(impl_->batch_mu);
  impl_->batch_script = std::move(script);
}

void FakeOpenAIServer::push_batch_script(BatchScript script) {
  std::lock_guard lock(impl_->batch_mu);
  impl_->batch_scripts.push_back(std::move(script));
}

std::vector<BatchRecord> FakeOpenAIServer::batches() const {
  std::lock_guard lock(impl_->batch_mu);
  std::vector<BatchRecord> out;
  for (const std::string& id : impl_->batch_order) {
    const BatchState& batch = impl_->batches.at(id);
    BatchRecord record{batch.id, batch.input_file_id, batch.lines->size(), {}, batch.status};
    for (const BatchLine& line : *batch.lines) record.custom_ids.push_back(line.custom_id);
    out.push_back(std::move(record));
  }
  return out;
}

}  // namespace weakdistill::testing
