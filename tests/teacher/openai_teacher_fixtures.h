// What the OpenAITeacher tests (openai_teacher_test.cc, openai_teacher_format_test.cc) share:
// classification seeds, a teacher section for a fake server, and the requests for seeds.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <vector>

#include "fake/fake_openai_server.h"
#include "weakdistill/core/sample.h"
#include "weakdistill/teacher/teacher.h"

namespace weakdistill::testing {

// Three classification seeds, one for each of the labels 体育, 财经 and 科技.
inline std::vector<Sample> cls_seeds() {
  std::vector<Sample> s(3);
  s[0].text = "国足世预赛客场告负";
  s[0].label = "体育";
  s[1].text = "央行宣布降准0.5个百分点";
  s[1].label = "财经";
  s[2].text = "新款手机发布会定于下周举行";
  s[2].label = "科技";
  return s;
}

// An openai teacher section for `server`, with concurrency 4 and short backoffs.
inline nlohmann::json section(const FakeOpenAIServer& server) {
  return {{"kind", "openai"}, {"base_url", server.base_url()}, {"model", "qwen2-72b-instruct"},
          {"concurrency", 4}, {"backoff_initial_s", 0.01},     {"backoff_max_s", 0.05},
          {"timeout_s", 60}};
}

// `per_seed` requests for each seed, numbered from 0 in seed order.
inline std::vector<GenerationRequest> requests_for(const std::vector<Sample>& seeds,
                                                   int per_seed = 1) {
  std::vector<GenerationRequest> r;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    for (int k = 0; k < per_seed; ++k) r.push_back({&seeds[i], i * per_seed + k});
  }
  return r;
}

}  // namespace weakdistill::testing
