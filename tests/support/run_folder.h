// Reading what `weakdistill run` wrote, for the end-to-end tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "support/temp_dir.h"

namespace weakdistill::testing {

inline nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(read_file(path));
}

// metrics.json without what may differ between two equal runs: times (cross-validation's too),
// and the teacher's usage (cache hits, HTTP attempts and retries depend on what was cached or faulted).
inline nlohmann::json comparable(nlohmann::json metrics) {
  for (auto& r : metrics["rounds"]) {
    r.erase("seconds");
    r.erase("teacher");
    if (r.contains("weakness")) r["weakness"].erase("cv_seconds");
  }
  metrics.erase("teacher");
  return metrics;
}

}  // namespace weakdistill::testing
