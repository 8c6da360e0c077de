// What `weakdistill serve` counts, written in Prometheus' text exposition format (version
// 0.0.4) for GET /metrics. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace weakdistill::serve {

class ServeMetrics {
 public:
  // A request began (in flight until request_finished()).
  void request_started() { ++in_flight_; }
  // A request on `path` (an endpoint of the API, or "other") ended with `status` after
  // `seconds`; `texts` it asked to predict (0 for other endpoints).
  void request_finished(const std::string& path, int status, double seconds, std::size_t texts);
  // A request httplib answered before any handler ran (413, 400 on a malformed request line).
  void rejected(const std::string& path, int status);
  // A predict() call of the batcher: its texts and requests.
  void batch(std::size_t texts, std::size_t requests);

  // The exposition text. `labels` are the model's constant labels, e.g. kind="fasttext",
  // written on weakdistill_model_info.
  std::string prometheus(const std::map<std::string, std::string>& labels) const;

  // Requests answered so far (any status), for the log at exit.
  std::uint64_t requests() const;

  // Upper bounds of the latency histogram's buckets, in seconds.
  static constexpr std::array<double, 14> kLatencyBuckets = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  // Upper bounds of the batch-size histogram's buckets, in texts.
  static constexpr std::array<double, 10> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

 private:
  template <std::size_t N>
  struct Histogram {
    std::array<std::uint64_t, N> counts{};  // not cumulative; summed when written
    std::uint64_t count = 0;
    double sum = 0;
    void add(const std::array<double, N>& bounds, double v);
  };

  std::atomic<std::int64_t> in_flight_{0};
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;  // (path, status) -> count
  Histogram<kLatencyBuckets.size()> latency_;                      // POST /v1/predict only
  Histogram<kBatchBuckets.size()> batch_texts_;
  std::uint64_t texts_ = 0, batched_requests_ = 0;
};

}  // namespace weakdistill::serve
