// The run report's parts about the teacher's re-asks, the reservoir, the response format and
// the reasoning kept apart from replies (report_internal.h has the contracts). The figures come
// from each round's entry of metrics.json (src/distill/round_stages.cc writes them) and the
// lines of rounds/NN/accepted.jsonl and rejected.jsonl.
#include <fmt/format.h>

#include <string>

#include "report_internal.h"
#include "svg_chart.h"

namespace weakdistill::report {
namespace {

using json = nlohmann::json;

bool any_round_has(const json& rounds, const char* key) {
  for (const json& r : rounds)
    if (r.is_object() && r.contains(key)) return true;
  return false;
}

// A run written since re-asks exist has "reasked" and "yield" in every teacher round.
bool has_reask_figures(const json& rounds) {
  return any_round_has(rounds, "reasked") || any_round_has(rounds, "yield");
}

bool is_continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Characters (UTF-8 code points) in s.
std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (char c : s)
    if (!is_continuation_byte(c)) ++n;
  return n;
}

// The byte offset of character `n` of s (s.size() when s has fewer).
std::size_t utf8_offset(const std::string& s, std::size_t n) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (is_continuation_byte(s[i])) continue;
    if (chars == n) return i;
    ++chars;
  }
  return s.size();
}

// s when it has at most head + tail characters; else its first `head` and last `tail` with
// " … " between (reasoning states its conclusion, or where it was cut, at the end).
std::string shorten(const std::string& s, std::size_t head, std::size_t tail) {
  const std::size_t n = utf8_length(s);
  if (n <= head + tail) return s;
  std::string out = s.substr(0, utf8_offset(s, head));
  out.append(" …");
  if (tail > 0) out.append(" ").append(s, utf8_offset(s, n - tail));
  return out;
}

double number(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

bool has_yield(const json& r) {
  return r.contains("yield") && r["yield"].is_object() && r["yield"].contains("first_try") &&
         r["yield"].contains("after_reasks");
}

std::string string_or(const json& j, const char* key, const std::string& otherwise) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>()
                                                                : otherwise;
}

}  // namespace

std::string reask_section(const json& metrics) {
  const json& rounds = metrics.at("rounds");
  if (!has_reask_figures(rounds)) return "";
  std::string out =
      "<h2>Re-asks and yield per round</h2>\n<p>A reply unusable for its form (cut, unparseable, "
      "a label or entity the task does not have) is asked for again with the same seed, up to "
      "teacher.format_retries times. Yield: usable (parsed and verified) samples per first "
      "request, before and after the re-asks.</p>\n"
      "<table><tr><th>round</th><th>requests</th><th>re-asks sent</th><th>yield, first "
      "try</th><th>yield, after re-asks</th><th>gain</th></tr>\n";
  long long requests = 0, reasks = 0, yield_requests = 0;
  double usable_first = 0, usable = 0;
  for (const json& r : rounds) {
    if (count(r, "round") == 0) continue;
    const long long asked = count(r, "requested");
    requests += asked;
    reasks += count(r, "reasked");
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td>", count(r, "round"), asked,
                       r.contains("reasked") ? std::to_string(count(r, "reasked")) : "–");
    if (!has_yield(r)) {
      out += "<td>–</td><td>–</td><td>–</td></tr>\n";
      continue;
    }
    const double first = number(r["yield"], "first_try");
    const double after = number(r["yield"], "after_reasks");
    usable_first += first * static_cast<double>(asked);
    usable += after * static_cast<double>(asked);
    yield_requests += asked;
    out += fmt::format("<td>{:.2f}</td><td>{:.2f}</td><td>{:+.2f}</td></tr>\n", first, after,
                       after - first);
  }
  if (yield_requests == 0) {
    out +=
        fmt::format("<tr class=\"total\"><td>total</td><td>{}</td><td>{}</td>", requests, reasks) +
        "<td>–</td><td>–</td><td>–</td></tr>\n</table>\n";
    return out;
  }
  const double first = usable_first / static_cast<double>(yield_requests);
  const double after = usable / static_cast<double>(yield_requests);
  out += fmt::format(
      "<tr class=\"total\"><td>total</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.2f}</td>"
      "<td>{:+.2f}</td></tr>\n</table>\n",
      requests, reasks, first, after, after - first);
  if (reasks == 0) {
    return out + fmt::format(
                     "<p>No re-asks were sent: {} requests gave {:.2f} usable samples each.</p>\n",
                     requests, first);
  }
  return out + fmt::format(
                   "<p>In all, {} re-asks for {} requests took the yield from {:.2f} to {:.2f} "
                   "usable samples per request.</p>\n",
                   reasks, requests, first, after);
}

std::string reservoir_section(const json& metrics) {
  const json& rounds = metrics.at("rounds");
  if (!any_round_has(rounds, "reservoir")) {
    if (!has_reask_figures(rounds)) return "";
    return "<h2>Reservoir</h2>\n<p>Off (distill.reservoir): candidates over a round's quota were "
           "not kept for later rounds.</p>\n";
  }
  std::string table =
      "<table><tr><th>round</th><th>held before</th><th>taken (accepted)</th><th>mean age of "
      "taken (rounds)</th><th>dropped</th><th>added</th><th>held after</th></tr>\n";
  long long taken = 0, dropped = 0, added = 0, held_after = 0, accepted = 0;
  double age_sum = 0;
  for (const json& r : rounds) {
    if (count(r, "round") == 0) continue;
    accepted += count(r, "accepted");
    table += fmt::format("<tr><td>{}</td>", count(r, "round"));
    if (!r.contains("reservoir") || !r["reservoir"].is_object()) {
      table += "<td colspan=\"6\">off</td></tr>\n";
      continue;
    }
    const json& v = r["reservoir"];
    const long long t = count(v, "taken");
    taken += t;
    dropped += count(v, "dropped");
    added += count(v, "added");
    held_after = count(v, "held_after");
    age_sum += number(v, "taken_mean_age") * static_cast<double>(t);
    table += fmt::format(
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        count(v, "held"), t, t ? fmt::format("{:.1f}", number(v, "taken_mean_age")) : "–",
        count(v, "dropped"), count(v, "added"), held_after);
  }
  const double mean_age = taken ? age_sum / static_cast<double>(taken) : 0.0;
  table += fmt::format(
      "<tr class=\"total\"><td>total</td><td></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
      "<td>{}</td></tr>\n</table>\n",
      taken, taken ? fmt::format("{:.1f}", mean_age) : "–", dropped, added, held_after);
  std::string out =
      "<h2>Reservoir</h2>\n<p>Candidates verified and diverse but over a round's quota are kept "
      "(distill.reservoir) and taken first by later rounds if they still qualify; dropped: no "
      "longer diverse or valid against the grown training set.</p>\n";
  if (taken == 0) {
    out +=
        fmt::format("<p>None of the {} accepted samples came from the reservoir.</p>\n", accepted);
  } else {
    out += fmt::format(
        "<p>{} of the {} accepted samples ({:.1f}%) came from the reservoir, on average {:.1f} "
        "rounds after the round that generated them.</p>\n",
        taken, accepted, 100.0 * static_cast<double>(taken) / static_cast<double>(accepted),
        mean_age);
  }
  return out + table;
}

std::string response_format_part(const json& metrics) {
  const json& rounds = metrics.at("rounds");
  const json* teacher = nullptr;
  long long round = 0;
  for (auto it = rounds.rbegin(); it != rounds.rend() && !teacher; ++it) {
    const json& t = it->value("teacher", json());
    if (t.is_object() && t.contains("response_format") && t["response_format"].is_string()) {
      teacher = &(*it)["teacher"];
      round = count(*it, "round");
    }
  }
  if (!teacher) return "";
  const std::string format = (*teacher)["response_format"].get<std::string>();
  std::string out = fmt::format(
      "<h3>Response format</h3>\n<p>The teacher was asked with response_format <b>{}</b> (as of "
      "round {}).",
      html_escape(format), round);
  if (format == "text") {
    out +=
        " The server constrained nothing: replies are parsed as they come, so expect more "
        "unparseable ones.";
  }
  out += "</p>\n";
  const json& fallbacks = teacher->value("fallbacks", json());
  if (!fallbacks.is_array() || fallbacks.empty()) return out;
  out +=
      "<p class=\"worse\">The server refused a response_format, and the run fell back for the "
      "rest of the run:</p>\n<table><tr><th>fallback</th><th>HTTP status</th><th>server's "
      "message</th></tr>\n";
  for (const json& f : fallbacks) {
    const std::string status = f.is_object() && f.contains("status") && f["status"].is_number()
                                   ? std::to_string(count(f, "status"))
                                   : "–";
    out += "<tr><td>" + html_escape(string_or(f, "from", "?")) + " → " +
           html_escape(string_or(f, "to", "?")) + "</td><td>" + status + "</td><td>" +
           html_escape(shorten(string_or(f, "message", ""), 200, 0)) + "</td></tr>\n";
  }
  return out + "</table>\n";
}

std::string delivery_part(const json& metrics) {
  std::string out;
  std::string rows;
  std::string mode;
  for (const json& r : metrics.at("rounds")) {
    const json& t = r.value("teacher", json());
    if (!t.is_object() || !t.contains("mode") || !t["mode"].is_string()) continue;
    mode = t["mode"].get<std::string>();
    std::string batches;
    for (const json& b : t.value("batches", json::array())) {
      if (b.is_string()) batches += (batches.empty() ? "" : ", ") + html_escape(b.get<std::string>());
    }
    rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", count(r, "round"),
                        html_escape(mode), batches.empty() ? "–" : batches);
  }
  if (!rows.empty()) {
    out += fmt::format(
        "<h3>Batches</h3>\n<p>The teacher was asked through {} (teacher.mode): each round's "
        "requests went as the batches or result files below.</p>\n<table><tr><th>round</th>"
        "<th>mode</th><th>batches / result files</th></tr>\n{}</table>\n",
        mode == "files" ? "batch files run offline" : "the Batch API", rows);
  }
  if (metrics.value("stop_reason", "") == "budget") {
    out += fmt::format(
        "<p class=\"worse\">The run stopped at its teacher budget: {}. Raise it and continue "
        "with <code>weakdistill run --resume RUN_DIR --set teacher.budget.max_cost=…</code> "
        "(or max_requests, max_tokens).</p>\n",
        html_escape(string_or(metrics, "budget_reached", "a limit was reached")));
  }
  return out;
}

std::string weakness_part(const json& metrics) {
  std::string rows;
  std::string header;
  for (const json& r : metrics.at("rounds")) {
    const json& w = r.value("weakness", json());
    if (!w.is_object()) continue;
    std::string per_label;
    const json allotted = w.value("requests_per_label", json::object());
    for (const auto& [label, n] : allotted.items()) {
      per_label += (per_label.empty() ? "" : ", ") + html_escape(label) + " " +
                   (n.is_number() ? std::to_string(n.get<long long>()) : std::string("?"));
    }
    const json& secs = w.value("cv_seconds", json());
    rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        count(r, "round"), html_escape(string_or(w, "method", "?")),
                        html_escape(string_or(w, "schedule", "?")),
                        html_escape(string_or(w, "allocation", "?")),
                        secs.is_number() ? fmt::format("{:.1f}", secs.get<double>()) : "–",
                        per_label.empty() ? "–" : per_label);
  }
  if (rows.empty()) return "";
  return "<h3>Weakness and seeds</h3>\n<p>How each round measured weakness (distill.weakness: "
         "in_sample, or cv with fold students), its schedule and how requests were spread over "
         "labels.</p>\n<table><tr><th>round</th><th>weakness</th><th>schedule</th>"
         "<th>allocation</th><th>cv seconds</th><th>requests per label</th></tr>\n" +
         rows + "</table>\n";
}

std::string truncated_in_reasoning_advice(long long n) {
  if (n <= 0) return "";
  return fmt::format(
      "<p class=\"worse\">{} {} cut while the teacher was still reasoning "
      "(truncated_in_reasoning): the reasoning used up teacher.max_tokens before the answer "
      "began. Raise teacher.max_tokens to leave room for the answer.</p>\n",
      n, n == 1 ? "reply was" : "replies were");
}

bool any_reasoning(const std::vector<json>& records) {
  for (const json& j : records)
    if (!string_or(j, "reasoning", "").empty()) return true;
  return false;
}

std::string reasoning_html(const json& record) {
  const std::string reasoning = string_or(record, "reasoning", "");
  if (reasoning.empty()) return "–";
  const std::size_t n = utf8_length(reasoning);
  const std::string shown = shorten(reasoning, 150, 50);
  return fmt::format("<div class=\"detail\">{} characters{}</div><div class=\"reply\">{}</div>", n,
                     shown.size() < reasoning.size() ? ", shortened" : "", html_escape(shown));
}

std::string provenance_html(const json& record) {
  std::string out;
  const auto add = [&](const std::string& part) { out += (out.empty() ? "" : " · ") + part; };
  if (count(record, "attempt") > 0) add(fmt::format("re-ask {}", count(record, "attempt")));
  if (count(record, "slot") > 0)
    add(fmt::format("sample {} of its reply", count(record, "slot") + 1));
  if (record.is_object() && record.contains("generated_in_round") &&
      record["generated_in_round"].is_number()) {
    add(fmt::format("from the reservoir, generated in round {}",
                    count(record, "generated_in_round")));
  }
  return out.empty() ? "" : "<div class=\"idx\">" + out + "</div>";
}

std::string outcome_advice_html(const json& record) {
  if (string_or(record, "outcome", "") != "truncated_in_reasoning") return "";
  return "<div class=\"worse\">cut while reasoning: raise teacher.max_tokens</div>";
}

std::string csv_extra_header(const json& metrics) {
  const json& rounds = metrics.at("rounds");
  std::string out;
  if (has_reask_figures(rounds)) out += ",reasked,yield_first_try,yield_after_reasks";
  if (any_round_has(rounds, "reservoir")) {
    out +=
        ",reservoir_taken,reservoir_taken_mean_age,reservoir_dropped,reservoir_added,"
        "reservoir_held_after";
  }
  return out;
}

std::string csv_extra_cells(const json& metrics, const json& round) {
  const json& rounds = metrics.at("rounds");
  std::string out;
  if (has_reask_figures(rounds)) {
    out += round.contains("reasked") ? fmt::format(",{}", count(round, "reasked")) : ",";
    if (has_yield(round)) {
      out += fmt::format(",{},{}", number(round["yield"], "first_try"),
                         number(round["yield"], "after_reasks"));
    } else {
      out += ",,";
    }
  }
  if (any_round_has(rounds, "reservoir")) {
    if (round.contains("reservoir") && round["reservoir"].is_object()) {
      const json& v = round["reservoir"];
      out += fmt::format(",{},{},{},{},{}", count(v, "taken"), number(v, "taken_mean_age"),
                         count(v, "dropped"), count(v, "added"), count(v, "held_after"));
    } else {
      out += ",,,,,";
    }
  }
  return out;
}

}  // namespace weakdistill::report
