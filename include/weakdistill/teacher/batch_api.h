// Generation through batch files (teacher.mode batch and files): OpenAI's Batch API (a JSONL
// file of requests uploaded to /files, a batch created on /batches, polled until it ends, its
// output and error files read back) and the same JSONL format written for `vllm run-batch`
// on a cluster. Results are matched to requests by custom_id, never by line order.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace weakdistill {

class HttpClient;

namespace sqlite {
class Database;
}

// One request of a batch: its custom_id (the request's cache key) and its body, serialized.
struct BatchLine {
  std::string custom_id;
  std::string body;
};

// The JSONL line of a request: {"custom_id", "method": "POST", "url": "/v1/chat/completions",
// "body"} (the body's key order kept).
std::string batch_request_line(const BatchLine& line);

// What came back for one line.
struct BatchLineResult {
  enum class State {
    kAnswered,  // status 200: `body` is the chat completion
    kFailed,    // the line has an error (status, message); retryable says if asking again may help
    kMissing,   // no line came back for it (dropped, or the batch expired or was cancelled)
    kCancelled  // the caller stopped before its batch ended
  };
  State state = State::kMissing;
  int status = 0;
  nlohmann::json body;
  std::string error;
  bool retryable = true;
  std::string batch_id;  // the batch that answered it (kAnswered, kFailed)
};

// Reads a results file (an output or error file of the Batch API, or `vllm run-batch`'s
// output): each line {"custom_id", "response": {"status_code", "body"} or null, "error"}. The
// result for each custom_id found, in `ids` order (kMissing where none came back). `unknown`
// gets the custom_ids that are not in `ids`. Throws InputError "<name>:<line>: ..." for a line
// that is not such an object, when `strict`; otherwise such lines are skipped and counted in
// `bad_lines`.
struct BatchResultsRead {
  std::vector<BatchLineResult> results;
  std::vector<std::string> unknown;
  std::size_t bad_lines = 0;
};
void read_batch_results(const std::string& text, const std::string& name,
                        const std::vector<std::string>& ids, bool strict,
                        BatchResultsRead& into);

// Splits lines (their JSONL text lengths in `bytes`) into consecutive parts of at most
// `max_lines` lines and `max_bytes` bytes (a line longer than max_bytes alone is a part).
std::vector<std::pair<std::size_t, std::size_t>> split_batch(const std::vector<std::size_t>& bytes,
                                                              std::size_t max_lines,
                                                              std::size_t max_bytes);

// A batch submitted and not yet read back: committed before its first poll, so that a run
// killed while waiting polls it again on resume instead of submitting it twice.
struct BatchTicket {
  std::string id;
  std::string input_file_id;
  std::vector<std::string> custom_ids;
};

// The open batches, in the table `teacher_batches` of a SQLite file (the run store).
class BatchJournal {
 public:
  explicit BatchJournal(const std::string& path);
  ~BatchJournal();
  BatchJournal(const BatchJournal&) = delete;
  BatchJournal& operator=(const BatchJournal&) = delete;
  std::vector<BatchTicket> open_batches() const;
  void opened(const BatchTicket& ticket);
  // Records how it ended; it is no longer open.
  void closed(const std::string& id, const std::string& status);
  // Every batch recorded, open or not: {id, status, lines, created, closed}.
  nlohmann::json all() const;

 private:
  std::unique_ptr<sqlite::Database> db_;
  mutable std::mutex mutex_;
};

struct BatchApiOptions {
  // completion_window of the batches created ("24h" is the only value OpenAI takes).
  std::string completion_window = "24h";
  // Seconds before the first poll; each later wait is 1.5 times the last, up to poll_max_s.
  double poll_initial_s = 5;
  double poll_max_s = 60;
  // An input file's limits (OpenAI: 50,000 requests, 200 MB); more is split into batches.
  std::size_t max_lines = 50000;
  std::size_t max_bytes = 200 * 1024 * 1024;
  // Delete the batch's input, output and error files once its results are stored (they would
  // stay in the account's storage otherwise).
  bool delete_files = true;
  // What the progress line calls this work ("round 3 batch").
  std::string label = "teacher batch";
};

// Runs `lines` through the Batch API of `client` (paths /files, /batches under its base URL):
// batches in `journal` (may be null) that hold some of these custom_ids are polled again
// rather than submitted; the rest is uploaded and submitted in parts within the limits, each
// committed to the journal before its first poll. Polls with backoff and a progress line,
// reads the output and error files, and returns one result per line, in input order.
// `on_result(i, result)` is called for each line of a batch that ended, before the journal
// closes it (so that what it stores, such as the response cache, is durable first). When
// `cancel` becomes true it returns at once with the unfinished lines kCancelled (their batches
// stay open in the journal). Throws HttpFatalError when the API refuses a request, and
// std::runtime_error when a batch fails as a whole (its errors quoted).
using BatchResultCallback = std::function<void(std::size_t, const BatchLineResult&)>;
std::vector<BatchLineResult> run_batch(HttpClient& client, const std::vector<BatchLine>& lines,
                                       const BatchApiOptions& options, BatchJournal* journal,
                                       const std::atomic<bool>* cancel,
                                       const BatchResultCallback& on_result = {});

}  // namespace weakdistill
