// Predictions for concurrent requests, in batches, on one thread: the student is only ever
// called from that thread (no kind has to be thread-safe), and a neural student gets several
// requests' texts in one forward pass instead of one pass each.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "weakdistill/student/student.h"

namespace weakdistill::serve {

struct BatcherOptions {
  // Texts one predict() call takes from the queue at most; requests are never split, so a single
  // request with more texts is predicted on its own. 1 turns batching off.
  std::size_t max_batch = 32;
  // How long the oldest waiting request may wait for others to fill a batch. 0: no waiting; a
  // batch is what queued while the previous one ran, which under load is most of the gain
  // (bench/compare_serve.sh: waiting 2 ms bought nothing at 16 or 64 clients and cost every
  // lone request the 2 ms).
  double max_wait_ms = 0;
};

class PredictBatcher {
 public:
  // `on_batch`, when set, is called on the batching thread after each predict() call with the
  // number of texts and requests in it (for metrics).
  PredictBatcher(Student& student, BatcherOptions options,
                 std::function<void(std::size_t texts, std::size_t requests)> on_batch = {});
  // Predicts everything queued, then stops the thread.
  ~PredictBatcher();
  PredictBatcher(const PredictBatcher&) = delete;
  PredictBatcher& operator=(const PredictBatcher&) = delete;

  // Stops waiting for batches to fill: what is queued, and what comes later, is predicted at
  // once (a server that is shutting down answers its last requests without delay).
  void drain();

  // Blocks until `inputs` are predicted; rethrows what the student's predict() threw for the
  // batch they were in. Thread-safe.
  std::vector<Prediction> predict(std::vector<Sample> inputs);

 private:
  struct Job {
    std::vector<Sample> inputs;
    std::promise<std::vector<Prediction>> done;
    std::chrono::steady_clock::time_point queued;
  };
  void loop();

  Student& student_;
  BatcherOptions options_;
  std::function<void(std::size_t, std::size_t)> on_batch_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::size_t queued_texts_ = 0;
  bool stopping_ = false;
  bool draining_ = false;
  std::thread thread_;
};

}  // namespace weakdistill::serve
