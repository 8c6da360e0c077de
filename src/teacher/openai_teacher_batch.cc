// teacher.mode batch and files: the requests of one generate() call as batch lines, their
// custom_ids the cache keys, and what comes back handed to the same handler as online replies.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "weakdistill/core/error.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/teacher/openai_teacher.h"

namespace weakdistill {

namespace fs = std::filesystem;

namespace {

HttpOutcome outcome_of(const BatchLineResult& r, const std::string& where) {
  HttpOutcome o;
  o.replica = where;
  o.attempts = r.state == BatchLineResult::State::kCancelled ? 0 : 1;
  o.status = r.status;
  if (r.state == BatchLineResult::State::kAnswered) {
    o.ok = true;
    o.body = r.body;
  } else if (r.state == BatchLineResult::State::kCancelled) {
    o.error = "cancelled";
  } else if (r.state == BatchLineResult::State::kMissing) {
    o.error = where + ": no result came back for the request";
  } else {
    o.error = where + ": " + r.error;
  }
  return o;
}

constexpr int kMaxFollowUpBatches = 2;

}  // namespace

bool OpenAITeacher::send_batch(const std::vector<std::size_t>& pending,
                               const std::vector<std::string>& bodies,
                               const std::vector<std::string>& keys, const Handle& handle,
                               std::size_t format_sent, const std::atomic<bool>* cancel) {
  const std::string where = options_.http.base_urls.front() + " (batch)";
  std::vector<std::size_t> todo(pending.size());  // indices into pending/bodies
  for (std::size_t k = 0; k < todo.size(); ++k) todo[k] = k;
  std::optional<HttpFatalError> refusal;
  for (int pass = 0;; ++pass) {
    std::vector<BatchLine> lines;
    for (std::size_t k : todo) lines.push_back({keys[pending[k]], bodies[k]});
    BatchApiOptions o = options_.batch;
    o.label = pass == 0 ? "teacher batch" : fmt::format("teacher follow-up batch {}", pass);
    bool confirmed;
    {
      std::lock_guard lock(format_mutex_);
      confirmed = format_confirmed_;
    }
    const auto results = run_batch(
        *client_, lines, o, journal_.get(), cancel, [&](std::size_t j, const BatchLineResult& r) {
          if (r.state == BatchLineResult::State::kAnswered) handle(pending[todo[j]], outcome_of(r, where));
        });
    {
      std::lock_guard lock(batches_mutex_);
      for (const auto& r : results) {
        if (!r.batch_id.empty() &&
            std::find(batches_.begin(), batches_.end(), r.batch_id) == batches_.end()) {
          batches_.push_back(r.batch_id);
        }
      }
    }
    std::vector<std::size_t> again;  // positions in this pass (results, todo) to ask again
    for (std::size_t j = 0; j < results.size(); ++j) {
      const BatchLineResult& r = results[j];
      const std::size_t i = pending[todo[j]];
      switch (r.state) {
        case BatchLineResult::State::kAnswered:
          break;
        case BatchLineResult::State::kCancelled:
          handle(i, outcome_of(r, where));
          break;
        case BatchLineResult::State::kFailed:
          if (!r.retryable) {
            // A 400 before any reply confirmed the form is the form's: fall back, as online.
            if (r.status == 400 && !confirmed && kResponseFormats[format_sent] != "text") {
              if (!refusal) refusal.emplace(where + ": HTTP 400: " + r.error, 400);
              continue;
            }
            handle(i, outcome_of(r, where));
            break;
          }
          again.push_back(j);
          break;
        case BatchLineResult::State::kMissing:
          again.push_back(j);
          break;
      }
    }
    if (refusal) {
      if (!fall_back(format_sent, *refusal)) throw *refusal;
      return false;
    }
    if (again.empty() || (cancel != nullptr && cancel->load())) {
      BatchLineResult stopped;
      stopped.state = BatchLineResult::State::kCancelled;
      for (std::size_t j : again) handle(pending[todo[j]], outcome_of(stopped, where));
      return true;
    }
    if (options_.batch_retry == "online") {
      spdlog::info("teacher: {} request(s) failed or missing in the batch; asking them online",
                   again.size());
      std::vector<std::string> retry_bodies;
      for (std::size_t j : again) retry_bodies.push_back(bodies[todo[j]]);
      client_->post_many_serialized(
          "/chat/completions", retry_bodies,
          [&](std::size_t n, const HttpOutcome& outcome) { handle(pending[todo[again[n]]], outcome); },
          cancel);
      return true;
    }
    if (pass >= kMaxFollowUpBatches) {
      spdlog::warn("teacher: {} request(s) still failed after {} follow-up batches",
                   again.size(), kMaxFollowUpBatches);
      for (std::size_t j : again) handle(pending[todo[j]], outcome_of(results[j], where));
      return true;
    }
    spdlog::info("teacher: {} request(s) failed or missing in the batch; asking them in a "
                 "follow-up batch",
                 again.size());
    std::vector<std::size_t> next;
    for (std::size_t j : again) next.push_back(todo[j]);
    todo = std::move(next);
  }
}

namespace {

std::string numbered(const std::string& stem, int k) {
  return k == 1 ? stem + ".jsonl" : fmt::format("{}.{}.jsonl", stem, k);
}

// The custom_ids of a requests file we wrote (one request a line), in order.
std::vector<std::string> request_ids(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("custom_id") && j["custom_id"].is_string()) {
      ids.push_back(j["custom_id"]);
    }
  }
  return ids;
}

std::string listed(const std::vector<std::string>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < 10; ++i) out += (i ? ", " : "") + ids[i];
  if (ids.size() > 10) out += fmt::format(" and {} more", ids.size() - 10);
  return out;
}

}  // namespace

void OpenAITeacher::send_files(const std::vector<std::size_t>& pending,
                               const std::vector<std::string>& bodies,
                               const std::vector<std::string>& keys, const Handle& handle) {
  if (work_dir_.empty()) {
    throw InputError(
        "teacher.mode files: requests are written into a run's round folder; use mode online "
        "or batch here (teacher try, or a teacher outside a run)");
  }
  std::vector<std::string> ids;
  for (std::size_t i : pending) ids.push_back(keys[i]);
  const std::set<std::string> wanted(ids.begin(), ids.end());
  fs::create_directories(work_dir_);
  // Each set of requests of the round has its own file: teacher_requests.jsonl, then (re-asks)
  // teacher_requests.2.jsonl, ...; the results file has the same number.
  int k = 1;
  fs::path requests, results;
  for (;; ++k) {
    requests = fs::path(work_dir_) / numbered("teacher_requests", k);
    results = fs::path(work_dir_) / numbered("teacher_results", k);
    if (!fs::exists(requests)) break;
    const auto found = request_ids(requests);
    if (std::set<std::string>(found.begin(), found.end()) == wanted) break;
  }
  if (!fs::exists(requests)) {
    std::string text;
    for (std::size_t j = 0; j < pending.size(); ++j) {
      text += batch_request_line({keys[pending[j]], bodies[j]});
      text += '\n';
    }
    write_file_atomically(requests.string(), text);
  }
  if (!fs::exists(results)) {
    throw TeacherResultsPending(fmt::format(
        "teacher.mode files: {} request(s) are in {}. Run them with any runner of OpenAI batch "
        "files, e.g. on a vLLM cluster:\n  vllm run-batch -i {} -o {} --model {}\n(or split the "
        "file over several GPUs and concatenate the outputs, in any order), and put the "
        "results in {}",
        pending.size(), requests.string(), requests.string(), results.string(), options_.model,
        results.string()));
  }
  std::ifstream in(results, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  BatchResultsRead read;
  read_batch_results(text.str(), results.string(), ids, true, read);
  if (!read.unknown.empty()) {
    throw InputError(fmt::format(
        "{}: {} result(s) have a custom_id that is not one of the requests in {}: {}",
        results.string(), read.unknown.size(), requests.string(), listed(read.unknown)));
  }
  std::vector<std::string> missing;
  for (std::size_t j = 0; j < ids.size(); ++j) {
    if (read.results[j].state == BatchLineResult::State::kMissing) missing.push_back(ids[j]);
  }
  if (!missing.empty()) {
    throw InputError(fmt::format("{}: no result for {} of the {} requests in {}: {}",
                                 results.string(), missing.size(), ids.size(), requests.string(),
                                 listed(missing)));
  }
  spdlog::info("teacher: reading {} results from {}", ids.size(), results.string());
  {
    std::lock_guard lock(batches_mutex_);
    batches_.push_back(results.filename().string());
  }
  for (std::size_t j = 0; j < pending.size(); ++j) {
    handle(pending[j], outcome_of(read.results[j], results.string()));
  }
}

std::vector<std::string> OpenAITeacher::batches() const {
  std::lock_guard lock(batches_mutex_);
  return batches_;
}

}  // namespace weakdistill
