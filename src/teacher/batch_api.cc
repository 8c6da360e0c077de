#include "weakdistill/teacher/batch_api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>
#include <unordered_map>

#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/sqlite.h"
#include "weakdistill/net/http_client.h"

namespace weakdistill {

std::string batch_request_line(const BatchLine& line) {
  // The body is spliced in as serialized: its key order (the schema's) must survive.
  return fmt::format(R"({{"custom_id":{},"method":"POST","url":"/v1/chat/completions","body":{}}})",
                     nlohmann::json(line.custom_id).dump(), line.body);
}

namespace {

// Statuses in which a line may still succeed when asked again.
bool retryable_status(int status) {
  return status == 0 || status == 408 || status == 409 || status == 429 || status >= 500;
}

std::string error_message(const nlohmann::json& e) {
  if (!e.is_object()) return e.is_string() ? e.get<std::string>() : "";
  std::string out = e.value("message", "");
  if (e.contains("code") && e["code"].is_string()) {
    out = out.empty() ? e["code"].get<std::string>() : e["code"].get<std::string>() + ": " + out;
  }
  return out;
}

}  // namespace

void read_batch_results(const std::string& text, const std::string& name,
                        const std::vector<std::string>& ids, bool strict,
                        BatchResultsRead& into) {
  if (into.results.size() != ids.size()) into.results.assign(ids.size(), {});
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < ids.size(); ++i) index.emplace(ids[i], i);
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const auto bad = [&](const std::string& why) {
      if (strict) throw InputError(fmt::format("{}:{}: {}", name, line_no, why));
      ++into.bad_lines;
    };
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      bad("not a JSON object");
      continue;
    }
    if (!j.contains("custom_id") || !j["custom_id"].is_string()) {
      bad("no custom_id string");
      continue;
    }
    const std::string id = j["custom_id"];
    const nlohmann::json response = j.value("response", nlohmann::json());
    const nlohmann::json error = j.value("error", nlohmann::json());
    if (!response.is_object() && error.is_null()) {
      bad("custom_id " + id + ": neither a response object nor an error");
      continue;
    }
    const auto it = index.find(id);
    if (it == index.end()) {
      into.unknown.push_back(id);
      continue;
    }
    BatchLineResult& r = into.results[it->second];
    if (r.state == BatchLineResult::State::kAnswered) continue;  // the first answer stands
    if (response.is_object()) {
      r.status = response.value("status_code", 0);
      r.body = response.value("body", nlohmann::json());
      if (r.status == 200 && r.body.is_object()) {
        r.state = BatchLineResult::State::kAnswered;
        r.error.clear();
        continue;
      }
      r.state = BatchLineResult::State::kFailed;
      std::string why = error_message(r.body.is_object() ? r.body.value("error", nlohmann::json())
                                                         : nlohmann::json());
      // vLLM's run-batch puts the reason of a refused line in "error", beside a response
      // that has only the status.
      if (why.empty()) why = error_message(error);
      r.error = fmt::format("HTTP {}: {}", r.status, why);
      r.retryable = retryable_status(r.status);
    } else {
      r.state = BatchLineResult::State::kFailed;
      r.error = error_message(error);
      r.retryable = true;
    }
    if (r.error.empty() || r.error == fmt::format("HTTP {}: ", r.status)) {
      r.error += "the batch gave no reason";
    }
  }
}

std::vector<std::pair<std::size_t, std::size_t>> split_batch(const std::vector<std::size_t>& bytes,
                                                              std::size_t max_lines,
                                                              std::size_t max_bytes) {
  std::vector<std::pair<std::size_t, std::size_t>> parts;
  std::size_t begin = 0, size = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const std::size_t b = bytes[i] + 1;  // its newline
    if (i > begin && (i - begin >= max_lines || size + b > max_bytes)) {
      parts.emplace_back(begin, i);
      begin = i;
      size = 0;
    }
    size += b;
  }
  if (begin < bytes.size()) parts.emplace_back(begin, bytes.size());
  return parts;
}

BatchJournal::BatchJournal(const std::string& path)
    : db_(std::make_unique<sqlite::Database>(
          path, "batch journal",
          "CREATE TABLE IF NOT EXISTS teacher_batches ("
          "  id TEXT PRIMARY KEY,"
          "  input_file_id TEXT NOT NULL,"
          "  custom_ids TEXT NOT NULL,"
          "  status TEXT NOT NULL DEFAULT 'open',"
          "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
          "  closed TEXT);")) {}

BatchJournal::~BatchJournal() = default;

std::vector<BatchTicket> BatchJournal::open_batches() const {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_,
                      "SELECT id, input_file_id, custom_ids FROM teacher_batches "
                      "WHERE status = 'open' ORDER BY created, id");
  std::vector<BatchTicket> out;
  while (s.step()) {
    BatchTicket t;
    t.id = s.text(0);
    t.input_file_id = s.text(1);
    const auto ids = nlohmann::json::parse(s.text(2), nullptr, false);
    if (ids.is_array()) {
      for (const auto& id : ids) {
        if (id.is_string()) t.custom_ids.push_back(id);
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

void BatchJournal::opened(const BatchTicket& t) {
  std::lock_guard lock(mutex_);
  sqlite::Statement(*db_,
                    "INSERT OR REPLACE INTO teacher_batches (id, input_file_id, custom_ids) "
                    "VALUES (?1, ?2, ?3)")
      .bind(1, t.id)
      .bind(2, t.input_file_id)
      .bind(3, nlohmann::json(t.custom_ids).dump())
      .run();
}

void BatchJournal::closed(const std::string& id, const std::string& status) {
  std::lock_guard lock(mutex_);
  sqlite::Statement(*db_,
                    "UPDATE teacher_batches SET status = ?2, "
                    "closed = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?1")
      .bind(1, id)
      .bind(2, status == "open" ? std::string("ended") : status)
      .run();
}

nlohmann::json BatchJournal::all() const {
  std::lock_guard lock(mutex_);
  sqlite::Statement s(*db_,
                      "SELECT id, status, custom_ids, created, COALESCE(closed, '') "
                      "FROM teacher_batches ORDER BY created, id");
  nlohmann::json out = nlohmann::json::array();
  while (s.step()) {
    const auto ids = nlohmann::json::parse(s.text(2), nullptr, false);
    out.push_back({{"id", s.text(0)},
                   {"status", s.text(1)},
                   {"lines", ids.is_array() ? ids.size() : 0},
                   {"created", s.text(3)},
                   {"closed", s.text(4)}});
  }
  return out;
}

namespace {

using Clock = std::chrono::steady_clock;


bool cancelled(const std::atomic<bool>* cancel) { return cancel != nullptr && cancel->load(); }

// The JSON of a request that must succeed (retries are the client's); a failure after them
// is a runtime error naming what was being done.
nlohmann::json must(const HttpOutcome& o, const std::string& doing) {
  if (!o.ok) {
    if (o.error == "cancelled") return nullptr;
    throw std::runtime_error(fmt::format("teacher batch: {}: {}", doing, o.error));
  }
  return o.body;
}

std::string file_text(HttpClient& client, const nlohmann::json& id,
                      const std::atomic<bool>* cancel) {
  if (!id.is_string() || id.get<std::string>().empty()) return "";
  const HttpOutcome o = client.get_text("/files/" + id.get<std::string>() + "/content", cancel);
  if (!o.ok) {
    if (o.error == "cancelled") return "";
    throw std::runtime_error(
        fmt::format("teacher batch: reading file {}: {}", id.get<std::string>(), o.error));
  }
  return o.text;
}

struct Polled {
  BatchTicket ticket;
  std::vector<std::size_t> lines;  // indices into the caller's lines
  nlohmann::json state = nlohmann::json::object();  // the last Batch object
  bool ended = false;
};

const std::vector<std::string> kEnded = {"completed", "failed", "expired", "cancelled"};

}  // namespace

std::vector<BatchLineResult> run_batch(HttpClient& client, const std::vector<BatchLine>& lines,
                                       const BatchApiOptions& o, BatchJournal* journal,
                                       const std::atomic<bool>* cancel,
                                       const BatchResultCallback& on_result) {
  std::vector<BatchLineResult> out(lines.size());
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < lines.size(); ++i) index.emplace(lines[i].custom_id, i);
  std::vector<bool> covered(lines.size(), false);
  std::vector<Polled> batches;

  // Batches submitted before (a run killed or stopped while waiting) are polled, not re-sent.
  if (journal != nullptr) {
    for (BatchTicket& t : journal->open_batches()) {
      Polled p;
      for (const auto& id : t.custom_ids) {
        if (const auto it = index.find(id); it != index.end() && !covered[it->second]) {
          p.lines.push_back(it->second);
          covered[it->second] = true;
        }
      }
      if (p.lines.empty()) continue;  // another call's batch
      spdlog::info("{}: polling batch {} submitted earlier ({} requests)", o.label, t.id,
                   t.custom_ids.size());
      p.ticket = std::move(t);
      batches.push_back(std::move(p));
    }
  }

  std::vector<std::size_t> todo;
  std::vector<std::string> texts;
  std::vector<std::size_t> bytes;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (covered[i]) continue;
    todo.push_back(i);
    texts.push_back(batch_request_line(lines[i]));
    bytes.push_back(texts.back().size());
  }
  const auto parts = split_batch(bytes, std::max<std::size_t>(1, o.max_lines), o.max_bytes);
  if (parts.size() > 1) {
    spdlog::info("{}: {} requests go as {} batches (the API takes at most {} lines, {} bytes a "
                 "file)",
                 o.label, todo.size(), parts.size(), o.max_lines, o.max_bytes);
  }
  for (const auto& [begin, end] : parts) {
    if (cancelled(cancel)) break;
    std::string content;
    Polled p;
    for (std::size_t k = begin; k < end; ++k) {
      content += texts[k];
      content += '\n';
      p.lines.push_back(todo[k]);
      p.ticket.custom_ids.push_back(lines[todo[k]].custom_id);
    }
    const nlohmann::json file =
        must(client.post_file("/files", {{"purpose", "batch"}}, "file", "weakdistill-batch.jsonl",
                              content, cancel),
             "uploading the requests file");
    if (file.is_null()) break;
    if (!file.contains("id") || !file["id"].is_string()) {
      throw std::runtime_error("teacher batch: the file upload's answer has no id");
    }
    p.ticket.input_file_id = file["id"];
    const nlohmann::json batch = must(
        client.post_json("/batches",
                         {{"input_file_id", p.ticket.input_file_id},
                          {"endpoint", "/v1/chat/completions"},
                          {"completion_window", o.completion_window},
                          {"metadata", {{"created_by", "weakdistill"}}}},
                         cancel),
        "creating the batch");
    if (batch.is_null()) break;
    if (!batch.contains("id") || !batch["id"].is_string()) {
      throw std::runtime_error("teacher batch: the batch creation's answer has no id");
    }
    p.ticket.id = batch["id"];
    p.state = batch;
    // Committed before the first poll: from here on a resumed run polls this batch.
    if (journal != nullptr) journal->opened(p.ticket);
    spdlog::info("{}: submitted batch {} ({} requests)", o.label, p.ticket.id, p.lines.size());
    batches.push_back(std::move(p));
  }

  std::size_t total = 0;
  for (const Polled& p : batches) total += p.lines.size();
  Progress progress(o.label, total, "requests");
  std::size_t shown = 0;
  double wait = o.poll_initial_s;
  const auto start = Clock::now();
  for (;;) {
    std::size_t open = 0, done = 0, failed = 0;
    std::string status;
    for (const Polled& p : batches) {
      if (!p.ended) ++open;
      const nlohmann::json counts = p.state.value("request_counts", nlohmann::json::object());
      if (counts.is_object()) {
        done += counts.value("completed", 0) + counts.value("failed", 0);
        failed += counts.value("failed", 0);
      }
      const std::string st = p.state.value("status", "");
      if (!st.empty() && status.find(st) == std::string::npos) {
        status += (status.empty() ? "" : "/") + st;
      }
    }
    done = std::min(done, total);
    if (done > shown) progress.advance(done - shown);
    shown = std::max(shown, done);
    progress.set_note(fmt::format(
        "{} · failed {} · {}", status.empty() ? "submitted" : status, failed,
        human_duration(std::chrono::duration<double>(Clock::now() - start).count())));
    if (open == 0 || cancelled(cancel)) break;
    if (!sleep_unless_cancelled(wait, cancel)) break;
    wait = std::min(o.poll_max_s, std::max(wait * 1.5, 1e-3));
    for (Polled& p : batches) {
      if (p.ended) continue;
      const nlohmann::json state =
          must(client.get("/batches/" + p.ticket.id, cancel), "polling batch " + p.ticket.id);
      if (state.is_null()) break;
      p.state = state;
      const std::string st = state.value("status", "");
      if (std::find(kEnded.begin(), kEnded.end(), st) == kEnded.end()) continue;
      p.ended = true;
      if (st == "failed") {
        if (journal != nullptr) journal->closed(p.ticket.id, st);
        throw std::runtime_error(fmt::format(
            "teacher batch {} failed as a whole: {}", p.ticket.id,
            state.contains("errors") ? state["errors"].dump() : std::string("no reason given")));
      }
      // The output and error files, matched by custom_id: their order is not the input's.
      BatchResultsRead read;
      std::vector<std::string> ids;
      for (std::size_t i : p.lines) ids.push_back(lines[i].custom_id);
      for (const char* field : {"output_file_id", "error_file_id"}) {
        const std::string text = file_text(client, state.value(field, nlohmann::json()), cancel);
        if (cancelled(cancel)) break;
        read_batch_results(text, std::string("batch ") + p.ticket.id + " " + field, ids, false,
                           read);
      }
      if (cancelled(cancel)) {
        p.ended = false;
        break;
      }
      std::size_t answered = 0, missing = 0;
      for (std::size_t k = 0; k < p.lines.size(); ++k) {
        out[p.lines[k]] = read.results[k];
        out[p.lines[k]].batch_id = p.ticket.id;
        if (on_result) on_result(p.lines[k], out[p.lines[k]]);
        answered += read.results[k].state == BatchLineResult::State::kAnswered;
        missing += read.results[k].state == BatchLineResult::State::kMissing;
      }
      if (read.bad_lines > 0 || !read.unknown.empty()) {
        spdlog::warn("{}: batch {} sent {} unreadable result line(s) and {} of requests it was "
                     "not given; they are ignored",
                     o.label, p.ticket.id, read.bad_lines, read.unknown.size());
      }
      spdlog::info("{}: batch {} {}: {} answered, {} failed, {} missing of {}", o.label,
                   p.ticket.id, st, answered, p.lines.size() - answered - missing, missing,
                   p.lines.size());
      if (journal != nullptr) journal->closed(p.ticket.id, st);
      if (o.delete_files) {
        // Best effort: the results are stored; a file left behind costs storage, not samples.
        for (const nlohmann::json& id : {nlohmann::json(p.ticket.input_file_id),
                                         state.value("output_file_id", nlohmann::json()),
                                         state.value("error_file_id", nlohmann::json())}) {
          if (!id.is_string() || id.get<std::string>().empty()) continue;
          try {
            const HttpOutcome d = client.del("/files/" + id.get<std::string>(), cancel);
            if (!d.ok) spdlog::debug("{}: could not delete file {}: {}", o.label, id.get<std::string>(), d.error);
          } catch (const HttpFatalError& e) {
            spdlog::debug("{}: could not delete file {}: {}", o.label, id.get<std::string>(), e.what());
          }
        }
      }
    }
  }
  progress.finish();
  std::vector<bool> read_back(lines.size(), false);
  for (const Polled& p : batches) {
    for (std::size_t i : p.lines) read_back[i] = p.ended;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!read_back[i]) out[i].state = BatchLineResult::State::kCancelled;
  }
  return out;
}

}  // namespace weakdistill
