#include "weakdistill/serve/batcher.h"

namespace weakdistill::serve {

PredictBatcher::PredictBatcher(Student& student, BatcherOptions options,
                               std::function<void(std::size_t, std::size_t)> on_batch)
    : student_(student), options_(options), on_batch_(std::move(on_batch)) {
  if (options_.max_batch < 1) options_.max_batch = 1;
  thread_ = std::thread([this] { loop(); });
}

PredictBatcher::~PredictBatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void PredictBatcher::drain() {
  {
    std::lock_guard lock(mutex_);
    draining_ = true;
  }
  wake_.notify_all();
}

std::vector<Prediction> PredictBatcher::predict(std::vector<Sample> inputs) {
  if (inputs.empty()) return {};
  std::future<std::vector<Prediction>> result;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw std::logic_error("PredictBatcher::predict after the batcher stopped");
    queued_texts_ += inputs.size();
    Job& job = queue_.emplace_back();
    job.inputs = std::move(inputs);
    job.queued = std::chrono::steady_clock::now();
    result = job.done.get_future();
  }
  wake_.notify_all();
  return result.get();
}

void PredictBatcher::loop() {
  const auto wait = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double, std::milli>(options_.max_wait_ms));
  for (;;) {
    std::vector<Job> batch;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left
      // Wait for a full batch, but not past the oldest request's deadline.
      const auto deadline = queue_.front().queued + wait;
      wake_.wait_until(lock, deadline, [&] {
        return stopping_ || draining_ || queued_texts_ >= options_.max_batch;
      });
      std::size_t texts = 0;
      while (!queue_.empty() &&
             (batch.empty() || texts + queue_.front().inputs.size() <= options_.max_batch)) {
        texts += queue_.front().inputs.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_texts_ -= texts;
    }
    std::vector<Sample> inputs;
    for (const Job& j : batch) inputs.insert(inputs.end(), j.inputs.begin(), j.inputs.end());
    try {
      std::vector<Prediction> out = student_.predict(inputs);
      // Counted before anyone is answered, so that a client that got its answer sees it counted.
      if (on_batch_) on_batch_(inputs.size(), batch.size());
      std::size_t at = 0;
      for (Job& j : batch) {
        const auto begin = out.begin() + static_cast<std::ptrdiff_t>(at);
        at += j.inputs.size();
        j.done.set_value(std::vector<Prediction>(
            std::make_move_iterator(begin),
            std::make_move_iterator(out.begin() + static_cast<std::ptrdiff_t>(at))));
      }
    } catch (...) {
      for (Job& j : batch) j.done.set_exception(std::current_exception());
    }
  }
}

}  // namespace weakdistill::serve
