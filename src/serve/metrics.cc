#include "weakdistill/serve/metrics.h"

#include <fmt/format.h>

namespace weakdistill::serve {
namespace {

// A label value with \, " and newline escaped, as the format requires.
std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

template <std::size_t N, typename H>
void write_histogram(std::string& out, const char* name, const char* help,
                     const std::array<double, N>& bounds, const H& h) {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < N; ++i) {
    cumulative += h.counts[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.count, name,
                     h.sum, name, h.count);
}

}  // namespace

template <std::size_t N>
void ServeMetrics::Histogram<N>::add(const std::array<double, N>& bounds, double v) {
  for (std::size_t i = 0; i < N; ++i) {
    if (v <= bounds[i]) {
      ++counts[i];
      break;
    }
  }
  ++count;
  sum += v;
}

void ServeMetrics::request_finished(const std::string& path, int status, double seconds,
                                    std::size_t texts) {
  --in_flight_;
  std::lock_guard lock(mutex_);
  ++requests_[{path, status}];
  if (path == "/v1/predict") {
    latency_.add(kLatencyBuckets, seconds);
    if (status == 200) texts_ += texts;
  }
}

void ServeMetrics::rejected(const std::string& path, int status) {
  std::lock_guard lock(mutex_);
  ++requests_[{path, status}];
}

void ServeMetrics::batch(std::size_t texts, std::size_t requests) {
  std::lock_guard lock(mutex_);
  batch_texts_.add(kBatchBuckets, static_cast<double>(texts));
  batched_requests_ += requests;
}

std::uint64_t ServeMetrics::requests() const {
  std::lock_guard lock(mutex_);
  std::uint64_t n = 0;
  for (const auto& [key, count] : requests_) n += count;
  return n;
}

std::string ServeMetrics::prometheus(const std::map<std::string, std::string>& labels) const {
  std::string out;
  std::string info;
  for (const auto& [k, v] : labels)
    info += fmt::format("{}{}=\"{}\"", info.empty() ? "" : ",", k, escape(v));
  out +=
      "# HELP weakdistill_model_info The served model (value always 1).\n"
      "# TYPE weakdistill_model_info gauge\n";
  out += fmt::format("weakdistill_model_info{{{}}} 1\n", info);
  out +=
      "# HELP weakdistill_requests_in_flight Requests being handled now.\n"
      "# TYPE weakdistill_requests_in_flight gauge\n";
  out += fmt::format("weakdistill_requests_in_flight {}\n", in_flight_.load());
  std::lock_guard lock(mutex_);
  out +=
      "# HELP weakdistill_http_requests_total Requests answered, by endpoint and status.\n"
      "# TYPE weakdistill_http_requests_total counter\n";
  for (const auto& [key, count] : requests_) {
    out += fmt::format("weakdistill_http_requests_total{{path=\"{}\",status=\"{}\"}} {}\n",
                       escape(key.first), key.second, count);
  }
  out +=
      "# HELP weakdistill_http_request_errors_total Requests answered with a status of 400 "
      "or more.\n# TYPE weakdistill_http_request_errors_total counter\n";
  std::uint64_t errors = 0;
  for (const auto& [key, count] : requests_) errors += key.second >= 400 ? count : 0;
  out += fmt::format("weakdistill_http_request_errors_total {}\n", errors);
  out +=
      "# HELP weakdistill_predicted_texts_total Texts predicted in successful requests.\n"
      "# TYPE weakdistill_predicted_texts_total counter\n";
  out += fmt::format("weakdistill_predicted_texts_total {}\n", texts_);
  write_histogram(out, "weakdistill_request_duration_seconds",
                  "Time from a POST /v1/predict request's arrival to its answer.", kLatencyBuckets,
                  latency_);
  write_histogram(out, "weakdistill_batch_size_texts",
                  "Texts in one call of the model (requests batched together).", kBatchBuckets,
                  batch_texts_);
  out +=
      "# HELP weakdistill_batched_requests_total Requests that went through the model.\n"
      "# TYPE weakdistill_batched_requests_total counter\n";
  out += fmt::format("weakdistill_batched_requests_total {}\n", batched_requests_);
  return out;
}

}  // namespace weakdistill::serve
