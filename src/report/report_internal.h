// What report.cc and report_teacher.cc share: a reader of counts, and the run report's parts
// about the teacher's re-asks, the reservoir, the response format and the reasoning kept apart
// from replies (report_teacher.cc). Each part gives "" (or nothing new) for a run folder written
// before these existed, so that such a folder renders byte for byte as it always did.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace weakdistill::report {

// j[key] as an integer; 0 when j is not an object, or key is absent or not a number.
inline long long count(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_number()) return 0;
  return j.at(key).get<long long>();
}

// "Re-asks and yield per round": re-asks sent, usable samples per first request before and
// after re-asks, and the run's totals (yields weighted by requests). "" when no round has
// "reasked" or "yield".
std::string reask_section(const nlohmann::json& metrics);

// "Reservoir": per round held, taken (all accepted), their mean age, dropped, added, held after,
// and the share of accepted samples the reservoir gave. A line saying it was off when the run
// has re-ask figures but no round has "reservoir"; "" for a run older than both.
std::string reservoir_section(const nlohmann::json& metrics);

// The response_format the teacher was last asked with and every fallback (from → to, HTTP
// status, the server's message, shortened), from the last round whose "teacher" has it. "" when
// none has (an older run, or a teacher without one).
std::string response_format_part(const nlohmann::json& metrics);
// teacher.mode batch/files: the batches (or result files) of each round; and, for a run that
// stopped at teacher.budget, what was reached and how to go on. Empty otherwise.
std::string delivery_part(const nlohmann::json& metrics);
// distill.weakness / schedule / allocation other than today's loop: each round's method, cv
// cost and requests per label. Empty for a run of the default loop.
std::string weakness_part(const nlohmann::json& metrics);

// The advice for `n` truncated_in_reasoning rejections (raise teacher.max_tokens); "" for 0.
std::string truncated_in_reasoning_advice(long long n);

// Whether any of the accepted.jsonl / rejected.jsonl lines has a non-empty "reasoning".
bool any_reasoning(const std::vector<nlohmann::json>& records);

// A cell's content for a line's "reasoning": its length in characters and the text shortened
// (head … tail), escaped; "–" when the line has none.
std::string reasoning_html(const nlohmann::json& record);

// Where a line came from, when it says: the re-ask, the sample's place in a reply of several,
// the round a reservoir sample was generated in. "" for a line without these keys.
std::string provenance_html(const nlohmann::json& record);

// The advice for a line whose outcome calls for one (truncated_in_reasoning); "" otherwise.
std::string outcome_advice_html(const nlohmann::json& record);

// metrics.csv's columns for the re-asks and the reservoir, appended after "seconds" and only
// when some round has them: ",reasked,yield_first_try,..." ("" when none), and one round's cells
// (empty where the round lacks the key).
std::string csv_extra_header(const nlohmann::json& metrics);
std::string csv_extra_cells(const nlohmann::json& metrics, const nlohmann::json& round);

}  // namespace weakdistill::report
