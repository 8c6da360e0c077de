#include "weakdistill/distill/run.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>
#include <utility>

#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/dataset.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/failpoint.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/distill/run_store.h"
#include "weakdistill/distill/weakness.h"
#include "weakdistill/embed/diversity.h"
#include "weakdistill/embed/embedder.h"
#include "weakdistill/eval/evaluate.h"
#include "weakdistill/eval/metric_fields.h"
#include "weakdistill/student/student.h"
#include "weakdistill/teacher/reply_parser.h"
#include "weakdistill/teacher/teacher.h"
#include "weakdistill/teacher/verifier.h"

#include "run_progress.h"

namespace weakdistill {

RunInterrupted::~RunInterrupted() = default;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A request's ordinal: the round in the high bits, its number in the low ones,
// so that every request of a run has its own stable number (and cache entry).
std::uint64_t ordinal_of(int round, std::size_t i) {
  return (static_cast<std::uint64_t>(round) << 32) | static_cast<std::uint64_t>(i);
}

double headline(Task task, const nlohmann::ordered_json& m) {
  return eval::metric_value(m, eval::headline_field(task));
}

std::string headline_name(Task task) { return eval::headline_field(task).label; }

nlohmann::ordered_json per_label(Task task, const nlohmann::ordered_json& m) {
  if (task == Task::kClassification) return m.at("per_label");
  if (task == Task::kNer) return m.at("per_type");
  return nlohmann::ordered_json::object();
}

void write_json(const fs::path& path, const nlohmann::ordered_json& j) {
  write_file_atomically(path.string(), j.dump(2) + "\n");
}

void write_lines(const fs::path& path, const std::vector<nlohmann::ordered_json>& lines) {
  AtomicFile out(path.string());
  for (const auto& l : lines) out.stream() << l.dump() << '\n';
  out.commit();
}

struct Data {
  Dataset train, dev, test;
  std::vector<Sample> pool;
  bool has_pool = false;
  std::vector<Sample> labeled;  // train ∪ dev: seeds, label set, copy checks
};

Data load_data(const RunConfig& c) {
  Data d;
  d.train = read_jsonl(c.data.train, c.task);
  if (c.data.few_shot) {
    const auto& f = *c.data.few_shot;
    const Split split = draw_few_shot(d.train.samples, f);
    d.pool = select(d.train.samples, split.rest);
    d.has_pool = true;
    d.train.samples = select(d.train.samples, split.chosen);
    d.train.lines.clear();
    for (std::size_t i : split.chosen) d.train.lines.push_back(i + 1);
  }
  if (!c.data.pool.empty()) {
    d.pool = read_jsonl(c.data.pool, c.task).samples;
    d.has_pool = true;
  }
  if (!c.data.test.empty()) d.test = read_jsonl(c.data.test, c.task);
  // protocol paper: the paper seeds from and stops on the set it reports.
  d.dev = c.protocol == "paper" ? d.test : read_jsonl(c.data.dev, c.task);
  if (c.task == Task::kClassification) {
    std::set<std::string> labels;
    for (const auto& s : d.train.samples) labels.insert(s.label);
    for (const Dataset* set : {&d.dev, &d.test}) {
      for (std::size_t i = 0; i < set->samples.size(); ++i) {
        if (!labels.count(set->samples[i].label)) {
          throw InputError(at(set->path, set->lines.empty() ? 0 : set->lines[i],
                              "label \"" + set->samples[i].label +
                                  "\" does not occur in the training set (" + c.data.train + ")"));
        }
      }
    }
  }
  d.labeled = d.train.samples;
  d.labeled.insert(d.labeled.end(), d.dev.samples.begin(), d.dev.samples.end());
  return d;
}

struct RoundOutcome {
  nlohmann::ordered_json record;  // the round's entry of metrics.json
  std::vector<CandidateRecord> candidates;
  std::vector<Sample> accepted;
};

}  // namespace

nlohmann::ordered_json evaluate_student(Student& student, const Dataset& gold,
                                        std::vector<Prediction>* predictions) {
  std::vector<Prediction> preds = student.predict(gold.samples);
  Dataset pred;
  pred.task = gold.task;
  pred.path = "(predictions)";
  for (std::size_t i = 0; i < preds.size(); ++i) {
    Sample s;
    s.id = gold.samples[i].id;
    s.text = gold.samples[i].text;
    s.label = preds[i].label;
    s.entities = preds[i].entities;
    s.summary = preds[i].summary;
    pred.samples.push_back(std::move(s));
    pred.lines.push_back(i + 1);
  }
  auto metrics = eval::evaluate(gold, pred).metrics;
  if (predictions != nullptr) *predictions = std::move(preds);
  return metrics;
}

Split draw_few_shot(const std::vector<Sample>& train, const FewShotConfig& f) {
  return f.per_label ? sample_per_label(train, f.per_label, f.seed)
                     : sample_n(train.size(), f.n, f.seed);
}

nlohmann::ordered_json run_distillation(const RunConfig& c, const RunOptions& o) {
  const fs::path dir(o.run_dir);
  const auto cancelled = [&] { return o.cancel != nullptr && o.cancel->load(); };
  const auto check_cancel = [&](const char* where) {
    if (cancelled()) {
      throw RunInterrupted(fmt::format("interrupted {}; resume with: weakdistill run --resume {}",
                                       where, o.run_dir));
    }
  };

  // A finished run has nothing to resume: answer from its files, loading nothing else.
  if (o.resume) {
    if (auto m = distill_internal::finished_metrics(c, o.run_dir)) {
      spdlog::info("{} is finished (stop reason {}, best round {}): nothing to do", o.run_dir,
                   (*m)["stop_reason"].get<std::string>(), (*m).value("best_round", 0));
      return *m;
    }
  }
  // Everything that can be wrong with the input is found before the folder exists.
  Data data = load_data(c);
  if (!o.resume && fs::exists(dir) && !fs::is_empty(dir)) {
    throw InputError(
        fmt::format("run folder {} exists; continue it with --resume {} or choose "
                    "another --run-dir",
                    o.run_dir, o.run_dir));
  }
  auto student = make_student(c.task, c.student_kind, c.student);
  std::vector<std::string> labeled_texts;
  for (const auto& s : data.labeled) labeled_texts.push_back(s.text);
  auto embedder = make_embedder(c.embedder);
  embedder->fit(labeled_texts);
  TeacherContext ctx;
  ctx.task = c.task;
  ctx.labeled = &data.labeled;
  ctx.pool = data.has_pool ? &data.pool : nullptr;
  ctx.embedder = embedder.get();
  auto teacher = make_teacher(c.teacher, ctx);

  fs::create_directories(dir / "rounds");
  const std::string store_path = (dir / "run.sqlite").string();
  RunStore store(store_path);
  if (!o.resume) {
    write_file_atomically((dir / "config.yaml").string(), to_yaml(c.resolved));
    store.put_meta("weakdistill_version", WEAKDISTILL_VERSION);
    store.put_meta("config", c.resolved.dump());
  }
  embedder->attach_cache(store_path);
  teacher->attach_cache(store_path);
  if (teacher->simulated()) {
    spdlog::warn("the {} teacher is SIMULATED: it returns held-out samples, not an LLM's",
                 teacher->kind());
  }
  if (c.protocol == "paper") {
    spdlog::warn("protocol paper: dev is the test set, so the reported test figure LEAKS");
  }

  Verifier verifier(c.task, data.labeled, VerifyOptions{c.distill.min_char_overlap});
  EmbeddingMatrix labeled_vectors = embedder->embed(labeled_texts);
  std::vector<Sample> accepted;  // all accepted so far, in acceptance order
  std::vector<nlohmann::ordered_json> augmented;
  std::vector<float> accepted_vectors;  // accepted.size() × dim
  std::vector<nlohmann::ordered_json> rounds;
  int best_round = 0;
  double best_e = -1;
  int since_best = 0;
  nlohmann::ordered_json test_round0;

  // Each round's student is saved in rounds/NN/student before the round is
  // committed; once the next round is committed, it is removed unless it is the
  // best. So a crash never leaves a committed round without its student, and a
  // resumed run continues from exactly the student the first run had.
  const auto round_student = [&](int round) {
    return dir / "rounds" / fmt::format("{:02d}", round) / "student";
  };
  const auto after_commit = [&](int round) {
    if (round > 0 && round - 1 != best_round) fs::remove_all(round_student(round - 1));
  };

  // Resume: the completed rounds come back from the store.
  const auto done = store.rounds();
  for (const auto& r : done) rounds.push_back(r);
  const int first_round = static_cast<int>(rounds.size());
  if (first_round > 0) {
    spdlog::info("resuming {} after round {}", o.run_dir, first_round - 1);
    std::vector<GenerationRequest> replay;
    const auto past = store.candidates(first_round - 1);
    std::vector<const CandidateRecord*> past_accepted;
    for (const auto& cand : past) {
      if (teacher->stateful() && cand.seed_index < data.labeled.size()) {
        replay.push_back({&data.labeled[cand.seed_index], cand.ordinal});
      }
      if (cand.accepted) past_accepted.push_back(&cand);
    }
    // Training sees the accepted samples in acceptance order, as the first run did.
    std::stable_sort(past_accepted.begin(), past_accepted.end(),
                     [](const CandidateRecord* a, const CandidateRecord* b) {
                       return std::pair(a->round, a->rank) < std::pair(b->round, b->rank);
                     });
    for (const CandidateRecord* cp : past_accepted) {
      const CandidateRecord& cand = *cp;
      Sample s = parse_sample(cand.sample.dump(), c.task, ReadOptions{}, store_path);
      verifier.add_accepted(s);
      augmented.push_back(
          {{"sample", to_json(s, c.task)},
           {"seed", data.labeled[cand.seed_index].id.value_or(std::to_string(cand.seed_index))},
           {"round", cand.round},
           {"diversity", cand.diversity >= 0 ? nlohmann::ordered_json(cand.diversity)
                                              : nlohmann::ordered_json()}});
      accepted.push_back(std::move(s));
    }
    if (!replay.empty()) teacher->generate(replay, {}, o.cancel);  // restores "used" state
    if (!accepted.empty()) {
      std::vector<std::string> texts;
      for (const auto& s : accepted) texts.push_back(s.text);
      const auto m = embedder->embed(texts);
      accepted_vectors.assign(m.data(), m.data() + m.rows() * m.dim());
    }
    const distill_internal::BestSoFar b = distill_internal::best_so_far(rounds);
    best_e = b.best_e;
    best_round = b.best_round;
    since_best = b.since_best;
    test_round0 = rounds.front().value("test_round0", nlohmann::ordered_json());
    for (auto& r : rounds) r.erase("test_round0");
    student = load_student(round_student(first_round - 1).string(), c.student_kind, c.task);
  }

  const auto train_round = [&](int round, const std::vector<Sample>& train_set) {
    spdlog::info("round {}: training {} on {} samples", round, c.student_kind, train_set.size());
    student = make_student(c.task, c.student_kind, c.student);
    // The student's own per-epoch bars would bury the round lines: one line per round instead.
    const bool was_enabled = Progress::enabled();
    Progress::set_enabled(false);
    failpoint("training");
    try {
      student->train(train_set, data.dev.samples);
    } catch (...) {
      Progress::set_enabled(was_enabled);
      throw;
    }
    Progress::set_enabled(was_enabled);
  };

  // Round 0: the few-shot baseline.
  if (first_round == 0) {
    const auto start = Clock::now();
    train_round(0, data.train.samples);
    check_cancel("after training round 0");
    nlohmann::ordered_json dev = evaluate_student(*student, data.dev);
    if (!data.test.samples.empty()) test_round0 = evaluate_student(*student, data.test);
    nlohmann::ordered_json r;
    r["round"] = 0;
    r["train_size"] = data.train.samples.size();
    for (const char* k : {"requested", "parsed", "verified", "diverse", "accepted"}) r[k] = 0;
    r["dev"] = dev;
    r["dev_e"] = headline(c.task, dev);
    r["per_label"] = per_label(c.task, dev);
    if (c.distill.test_each_round) r["test"] = test_round0;
    r["teacher"] = TeacherUsage{}.to_json();
    r["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
    fs::create_directories(dir / "rounds" / "00");
    save_student(*student, round_student(0).string());
    write_json(dir / "rounds" / "00" / "metrics.json", r);
    nlohmann::ordered_json stored = r;
    stored["test_round0"] = test_round0;
    store.commit_round(0, stored, {});
    rounds.push_back(r);
    best_e = r["dev_e"];
    best_round = 0;
    save_student(*student, (dir / "best").string());
    spdlog::info("round 0: train {} · dev {} {:.4f}", data.train.samples.size(),
                 headline_name(c.task), best_e);
  }

  const std::size_t n_requests =
      static_cast<std::size_t>(std::llround(c.distill.oversample * c.distill.per_round));
  WeaknessOptions wopt;
  wopt.tau = c.distill.tau;
  wopt.soft_classification = c.distill.soft_h;
  wopt.uniform = c.distill.seeds == "uniform";

  // distill.max_train: the training set's size so far, and what a round may still add.
  const auto train_size_now = [&] { return data.train.samples.size() + accepted.size(); };
  const auto quota = [&]() -> std::size_t {
    if (c.distill.max_train == 0) return c.distill.per_round;
    const std::size_t have = train_size_now();
    return have >= c.distill.max_train ? 0
                                       : std::min(c.distill.per_round, c.distill.max_train - have);
  };
  if (c.distill.max_train != 0 && train_size_now() >= c.distill.max_train) {
    spdlog::info("the training set holds {} samples, distill.max_train {}: no round to run",
                 train_size_now(), c.distill.max_train);
  }

  bool teacher_exhausted = false;
  for (int round = static_cast<int>(rounds.size());
       round <= c.distill.max_rounds && since_best < c.distill.patience && quota() > 0; ++round) {
    const auto start = Clock::now();
    const std::size_t round_quota = quota();
    const fs::path rdir = dir / "rounds" / fmt::format("{:02d}", round);
    fs::create_directories(rdir);
    const TeacherUsage usage_start = teacher->usage();

    // 1. Weakness analysis over train ∪ dev with the last round's student.
    const std::vector<Prediction> preds = student->predict(data.labeled);
    Weakness weak = analyse_weakness(c.task, data.labeled, preds, wopt);
    if (c.distill.seed_from == "train") {
      // dev is analysed and reported, never imitated (draw_seeds needs no normalisation).
      for (std::size_t i = data.train.samples.size(); i < weak.p.size(); ++i) weak.p[i] = 0;
    }
    {
      std::vector<nlohmann::ordered_json> lines;
      for (std::size_t i = 0; i < data.labeled.size(); ++i) {
        lines.push_back({{"index", i},
                         {"set", i < data.train.samples.size() ? "train" : "dev"},
                         {"text", data.labeled[i].text},
                         {"h", weak.h[i]},
                         {"error_value", weak.error_value[i]},
                         {"p", weak.p[i]}});
      }
      write_lines(rdir / "weakness.jsonl", lines);
    }
    // 2. Seeds by error value; 3. the teacher.
    Rng rng(stream_seed(c.distill.seed, static_cast<std::uint64_t>(round)));
    const std::size_t round_requests =
        round_quota == c.distill.per_round
            ? n_requests
            : static_cast<std::size_t>(
                  std::llround(c.distill.oversample * static_cast<double>(round_quota)));
    const std::vector<std::size_t> seeds = draw_seeds(weak.p, round_requests, rng);
    std::vector<GenerationRequest> requests;
    for (std::size_t i = 0; i < seeds.size(); ++i) {
      requests.push_back({&data.labeled[seeds[i]], ordinal_of(round, i)});
    }
    std::vector<Generation> gens;
    {
      Progress progress(fmt::format("round {} teacher", round), requests.size(), "requests");
      std::int64_t tokens = 0;
      gens = teacher->generate(
          requests,
          [&](std::size_t, const Generation& g) {
            tokens += g.prompt_tokens + g.completion_tokens;
            progress.advance(1, tokens ? human_count(static_cast<double>(tokens)) + " tokens" : "");
          },
          o.cancel);
    }
    check_cancel(fmt::format("during round {}'s teacher requests", round).c_str());
    // A teacher that answered nothing is down, not weak: stop (what was answered
    // is cached) rather than train rounds on nothing.
    if (!requests.empty() &&
        std::none_of(gens.begin(), gens.end(), [](const Generation& g) { return g.ok; })) {
      if (teacher->kind() == "pool") {
        spdlog::warn("round {}: the pool teacher has no unused sample left for any seed; stopping",
                     round);
        teacher_exhausted = true;
        break;
      }
      throw std::runtime_error(fmt::format(
          "round {}: the teacher answered none of {} requests (last error: {}); fix it, then "
          "continue with: weakdistill run --resume {}",
          round, requests.size(), gens.back().error, o.run_dir));
    }

    // 4. Parse and verify.
    RoundOutcome out;
    std::vector<std::size_t> verified;  // indices into requests
    std::vector<Sample> candidates(requests.size());
    std::size_t parsed = 0;
    out.candidates.resize(requests.size());
    for (std::size_t i = 0; i < requests.size(); ++i) {
      CandidateRecord& rec = out.candidates[i];
      rec.round = round;
      rec.ordinal = requests[i].ordinal;
      rec.seed_index = seeds[i];
      rec.reply = gens[i].reply;
      if (!gens[i].ok) {
        rec.outcome = std::string(reason_name(RejectReason::kRequestFailed));
        rec.detail = gens[i].error;
        continue;
      }
      ParsedReply p = parse_reply(c.task, gens[i].reply, gens[i].finish_reason);
      if (p.rejection) {
        rec.outcome = std::string(reason_name(p.rejection->reason));
        rec.detail = p.rejection->detail;
        continue;
      }
      ++parsed;
      if (c.distill.verify) {
        if (auto bad = verifier.verify(*p.sample, *requests[i].seed)) {
          rec.outcome = std::string(reason_name(bad->reason));
          rec.detail = bad->detail;
          rec.sample = to_json(*p.sample, c.task);
          continue;
        }
      } else if (c.task == Task::kNer) {
        // Without verification, offsets still have to be found to train on.
        Verifier lenient(c.task, data.labeled, VerifyOptions{0.0});
        if (auto bad = lenient.verify(*p.sample, *requests[i].seed);
            bad && bad->reason == RejectReason::kEntityNotInText) {
          rec.outcome = std::string(reason_name(bad->reason));
          rec.detail = bad->detail;
          continue;
        }
      }
      rec.sample = to_json(*p.sample, c.task);
      candidates[i] = std::move(*p.sample);
      verified.push_back(i);
    }

    // 5. Embed and select the diverse ones.
    std::vector<std::size_t> kept;  // indices into requests, in acceptance order
    std::size_t diverse = 0;
    if (!verified.empty()) {
      std::vector<std::string> texts;
      for (std::size_t i : verified) texts.push_back(candidates[i].text);
      const EmbeddingMatrix cv = embedder->embed(texts);
      const std::size_t dim = cv.dim();
      EmbeddingMatrix reference(labeled_vectors.rows() + accepted.size(), dim);
      std::copy(labeled_vectors.data(), labeled_vectors.data() + labeled_vectors.rows() * dim,
                reference.data());
      std::copy(accepted_vectors.begin(), accepted_vectors.end(),
                reference.data() + labeled_vectors.rows() * dim);
      if (c.distill.diversity) {
        DiversityOptions dopt;
        dopt.dist_min = c.distill.dist_min;
        dopt.keep = round_quota;
        const DiversityResult r = select_diverse(reference, cv, dopt);
        for (std::size_t k = 0; k < verified.size(); ++k) {
          auto& rec = out.candidates[verified[k]];
          rec.diversity = r.diversity[k];
          if (r.kept[k] || r.diversity[k] >= c.distill.dist_min) ++diverse;
          if (!r.kept[k]) {
            rec.outcome = r.diversity[k] >= c.distill.dist_min ? "over_quota" : "not_diverse";
            rec.detail =
                fmt::format("diversity {:.4f} (dist_min {})", r.diversity[k], c.distill.dist_min);
          }
        }
        for (std::size_t k : r.order) kept.push_back(verified[k]);
      } else {
        diverse = verified.size();
        for (std::size_t k = 0; k < verified.size(); ++k) {
          if (kept.size() < round_quota) {
            kept.push_back(verified[k]);
          } else {
            out.candidates[verified[k]].outcome = "over_quota";
          }
        }
      }
      std::vector<std::size_t> pos(requests.size(), 0);
      for (std::size_t k = 0; k < verified.size(); ++k) pos[verified[k]] = k;
      for (std::size_t rank = 0; rank < kept.size(); ++rank) {
        const std::size_t i = kept[rank];
        auto& rec = out.candidates[i];
        rec.accepted = true;
        rec.rank = static_cast<int>(rank);
        rec.outcome = "accepted";
        verifier.add_accepted(candidates[i]);
        accepted_vectors.insert(accepted_vectors.end(), cv.row(pos[i]), cv.row(pos[i]) + dim);
        augmented.push_back({{"sample", to_json(candidates[i], c.task)},
                             {"seed", requests[i].seed->id.value_or(std::to_string(seeds[i]))},
                             {"round", round},
                             {"diversity", rec.diversity >= 0 ? nlohmann::ordered_json(rec.diversity)
                                                              : nlohmann::ordered_json()}});
        accepted.push_back(candidates[i]);
      }
    }

    // 6. Retrain from scratch on train ∪ all accepted; evaluate on dev.
    std::vector<Sample> train_set = data.train.samples;
    train_set.insert(train_set.end(), accepted.begin(), accepted.end());
    check_cancel(fmt::format("before training round {}", round).c_str());
    train_round(round, train_set);
    check_cancel(fmt::format("after training round {}", round).c_str());
    const nlohmann::ordered_json dev = evaluate_student(*student, data.dev);
    const double e = headline(c.task, dev);
    TeacherUsage usage = teacher->usage();
    TeacherUsage delta;
    delta.requests = usage.requests - usage_start.requests;
    delta.http_requests = usage.http_requests - usage_start.http_requests;
    delta.retries = usage.retries - usage_start.retries;
    delta.failures = usage.failures - usage_start.failures;
    delta.cache_hits = usage.cache_hits - usage_start.cache_hits;
    delta.prompt_tokens = usage.prompt_tokens - usage_start.prompt_tokens;
    delta.completion_tokens = usage.completion_tokens - usage_start.completion_tokens;

    nlohmann::ordered_json r;
    r["round"] = round;
    r["train_size"] = train_set.size();
    r["requested"] = requests.size();
    r["parsed"] = parsed;
    r["verified"] = verified.size();
    r["diverse"] = diverse;
    r["accepted"] = kept.size();
    r["dev"] = dev;
    r["dev_e"] = e;
    r["per_label"] = per_label(c.task, dev);
    if (c.distill.test_each_round) r["test"] = evaluate_student(*student, data.test);
    nlohmann::ordered_json reasons = nlohmann::ordered_json::object();
    for (const auto& rec : out.candidates) {
      if (!rec.accepted) reasons[rec.outcome] = reasons.value(rec.outcome, 0) + 1;
    }
    r["rejected"] = reasons;
    r["teacher"] = delta.to_json();
    r["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
    if (c.protocol == "paper") r["leaks"] = true;
    if (teacher->simulated()) r["simulated"] = true;

    // Files first, then the store: the round counts once its row is committed.
    std::vector<nlohmann::ordered_json> acc_lines, rej_lines;
    for (std::size_t i = 0; i < out.candidates.size(); ++i) {
      const auto& rec = out.candidates[i];
      nlohmann::ordered_json line = {
          {"ordinal", rec.ordinal}, {"seed_index", rec.seed_index}, {"outcome", rec.outcome}};
      if (!rec.detail.empty()) line["detail"] = rec.detail;
      if (!rec.sample.is_null()) line["sample"] = rec.sample;
      if (rec.diversity >= 0) line["diversity"] = rec.diversity;
      if (rec.accepted) {
        acc_lines.push_back(line);
      } else {
        line["reply"] = rec.reply;
        rej_lines.push_back(line);
      }
    }
    write_lines(rdir / "accepted.jsonl", acc_lines);
    write_lines(rdir / "rejected.jsonl", rej_lines);
    write_json(rdir / "metrics.json", r);
    failpoint("round_files_written");
    const bool improved = e > best_e;
    save_student(*student, round_student(round).string());
    store.commit_round(round, r, out.candidates);
    failpoint("round_committed");
    rounds.push_back(r);
    if (improved) {
      best_e = e;
      best_round = round;
      since_best = 0;
      save_student(*student, (dir / "best").string());
    } else {
      ++since_best;
    }
    after_commit(round);
    spdlog::info(
        "round {}: requested {} → parsed {} → verified {} → diverse {} → accepted {} · train {} · "
        "dev {} {:.4f}{} · {:.0f} s",
        round, requests.size(), parsed, verified.size(), diverse, kept.size(), train_set.size(),
        headline_name(c.task), e, improved ? " (best)" : "", r["seconds"].get<double>());
  }

  // The best round's student, on test, once.
  nlohmann::ordered_json m;
  m["task"] = std::string(task_name(c.task));
  m["protocol"] = c.protocol;
  if (c.protocol == "paper") m["leaks"] = "dev is the test set: the test figure is not held out";
  m["teacher_kind"] = teacher->kind();
  m["simulated"] = teacher->simulated();
  m["best_round"] = best_round;
  m["stop_reason"] = teacher_exhausted                                  ? "teacher_exhausted"
                     : quota() == 0                                     ? "max_train"
                     : since_best >= c.distill.patience                 ? "patience"
                                                                        : "max_rounds";
  m["rounds"] = rounds;
  if (!data.test.samples.empty()) {
    // best/ may lag the store after a crash between a commit and its copy: refresh it.
    auto best = load_student(round_student(best_round).string(), c.student_kind, c.task);
    save_student(*best, (dir / "best").string());
    m["test"] = evaluate_student(*best, data.test);
    m["test_round0"] = test_round0;
  }
  TeacherUsage total;
  for (const auto& r : rounds) {
    const auto& t = r.at("teacher");
    total.requests += t.at("requests").get<std::int64_t>();
    total.http_requests += t.at("http_requests").get<std::int64_t>();
    total.retries += t.at("retries").get<std::int64_t>();
    total.failures += t.at("failures").get<std::int64_t>();
    total.cache_hits += t.at("cache_hits").get<std::int64_t>();
    total.prompt_tokens += t.at("prompt_tokens").get<std::int64_t>();
    total.completion_tokens += t.at("completion_tokens").get<std::int64_t>();
  }
  m["teacher"] = {{"requests", total.requests},
                  {"cached", total.cache_hits},
                  {"http_requests", total.http_requests},
                  {"retries", total.retries},
                  {"failed", total.failures},
                  {"prompt_tokens", total.prompt_tokens},
                  {"completion_tokens", total.completion_tokens}};
  write_lines(dir / "augmented.jsonl", augmented);
  write_json(dir / "metrics.json", m);
  if (m.contains("test")) {
    spdlog::info("best round {} · test {} {:.4f} (round 0: {:.4f}){}", best_round,
                 headline_name(c.task), headline(c.task, m["test"]),
                 test_round0.is_null() ? 0.0 : headline(c.task, test_round0),
                 c.protocol == "paper" ? " — LEAKS: dev is the test set" : "");
  }
  return m;
}

}  // namespace weakdistill
