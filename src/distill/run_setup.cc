// The loop's state before its rounds: the data, the components, the run folder and its store,
// what a resume brings back, and round 0.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "round_stages.h"
#include "run_state.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/failpoint.h"
#include "weakdistill/core/jsonl.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/eval/metric_fields.h"

namespace weakdistill::distill_internal {

std::uint64_t ordinal_of(int round, std::size_t i) {
  // The round in the high bits, its number in the low ones, so that every request of a run has
  // its own stable number (and cache entry).
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

fs::path RunState::round_dir(int round) const {
  return dir / "rounds" / fmt::format("{:02d}", round);
}

fs::path RunState::round_student(int round) const { return round_dir(round) / "student"; }

void RunState::check_cancel(const std::string& where) const {
  if (o.cancel != nullptr && o.cancel->load()) {
    throw RunInterrupted(fmt::format("interrupted {}; resume with: weakdistill run --resume {}",
                                     where, o.run_dir));
  }
}

std::size_t RunState::quota() const {
  const DistillConfig& d = c.distill;
  if (d.max_train == 0) return d.round_quota();
  const std::size_t have = data.train.samples.size() + accepted.size();
  return have >= d.max_train ? 0 : std::min(d.round_quota(), d.max_train - have);
}

void RunState::train_student(int round, const std::vector<Sample>& train_set) {
  spdlog::info("round {}: training {} on {} samples", round, c.student_kind, train_set.size());
  student = make_student(c.task, c.student_kind, c.student);
  // One bar for the stage, counting epochs; the student's own bars (batches within an epoch)
  // would bury the round lines.
  Progress progress(fmt::format("round {} training", round), 0, "epochs");
  progress.set_note(fmt::format("{} on {} samples", c.student_kind, train_set.size()));
  student->on_epoch = [&](const EpochReport& r) {
    progress.set_total(static_cast<std::size_t>(std::max(0, r.epochs)));
    progress.advance(1, fmt::format("{} on {} samples · loss {:.4f}{}", c.student_kind,
                                     train_set.size(), r.train_loss,
                                     r.dev_metric >= 0 ? fmt::format(" · dev {} {:.4f}",
                                                                     r.dev_metric_name, r.dev_metric)
                                                       : ""));
  };
  failpoint("training");
  {
    Progress::Mute mute;
    student->train(train_set, data.dev.samples);
  }
  student->on_epoch = nullptr;
  progress.finish();
}

namespace {

// Resume: the committed rounds, the accepted samples (in acceptance order, as the first run
// trained on them) and their vectors, a stateful teacher's "used" state, the best round, and the
// last round's student come back from the store.
void restore_from_store(RunState& s) {
  const RunConfig& c = s.c;
  const int first_round = static_cast<int>(s.rounds.size());
  spdlog::info("resuming {} after round {}", s.o.run_dir, first_round - 1);
  std::vector<GenerationRequest> replay;
  const auto past = s.store->candidates(first_round - 1);
  std::vector<const CandidateRecord*> past_accepted;
  std::set<std::uint64_t> replayed;  // a reply of several samples is one request
  for (const auto& cand : past) {
    if (s.teacher->stateful() && cand.seed_index < s.data.labeled.size() &&
        cand.source_round < 0 && replayed.insert(cand.ordinal).second) {
      replay.push_back({&s.data.labeled[cand.seed_index], cand.ordinal});
    }
    if (cand.accepted) past_accepted.push_back(&cand);
  }
  std::stable_sort(past_accepted.begin(), past_accepted.end(),
                   [](const CandidateRecord* a, const CandidateRecord* b) {
                     return std::pair(a->round, a->rank) < std::pair(b->round, b->rank);
                   });
  for (const CandidateRecord* cp : past_accepted) {
    const CandidateRecord& cand = *cp;
    Sample sample = parse_sample(cand.sample.dump(), c.task, ReadOptions{}, s.store_path);
    s.verifier->add_accepted(sample);
    s.augmented.push_back(augmented_line(s, sample, cand));
    s.accepted.push_back(std::move(sample));
  }
  if (!replay.empty()) s.teacher->generate(replay, {}, s.o.cancel);  // restores "used" state
  if (!s.accepted.empty()) {
    std::vector<std::string> texts;
    for (const auto& a : s.accepted) texts.push_back(a.text);
    const auto m = s.embedder->embed(texts);
    s.accepted_vectors.assign(m.data(), m.data() + m.rows() * m.dim());
  }
  if (c.distill.reservoir) s.reservoir = s.store->reservoir();
  s.best = best_so_far(s.rounds);
  s.test_round0 = s.rounds.front().value("test_round0", nlohmann::ordered_json());
  for (auto& r : s.rounds) r.erase("test_round0");
  s.student = load_student(s.round_student(first_round - 1).string(), c.student_kind, c.task);
}

}  // namespace

void open_run(RunState& s) {
  const RunConfig& c = s.c;
  s.dir = fs::path(s.o.run_dir);
  // Everything that can be wrong with the input is found before the folder exists.
  s.data = load_data(c);
  s.weakness = plan_weakness(c, s.data.train.samples);
  if (s.weakness.method == "cv") {
    s.cv_folds = assign_cv_folds(c.task, s.data.train.samples, s.weakness.folds, c.distill.seed);
  }
  if (!s.o.resume && fs::exists(s.dir) && !fs::is_empty(s.dir)) {
    throw InputError(
        fmt::format("run folder {} exists; continue it with --resume {} or choose "
                    "another --run-dir",
                    s.o.run_dir, s.o.run_dir));
  }
  s.student = make_student(c.task, c.student_kind, c.student);
  std::vector<std::string> labeled_texts;
  for (const auto& sample : s.data.labeled) labeled_texts.push_back(sample.text);
  s.embedder = make_embedder(c.embedder);
  s.embedder->fit(labeled_texts);
  TeacherContext ctx;
  ctx.task = c.task;
  ctx.labeled = &s.data.labeled;
  ctx.pool = s.data.has_pool ? &s.data.pool : nullptr;
  ctx.embedder = s.embedder.get();
  s.teacher = make_teacher(c.teacher, ctx);

  fs::create_directories(s.dir / "rounds");
  s.store_path = (s.dir / "run.sqlite").string();
  s.store = std::make_unique<RunStore>(s.store_path);
  if (!s.o.resume) {
    // The weakness the data allowed (plan_weakness), so that a resume reads what ran.
    nlohmann::ordered_json resolved = c.resolved;
    resolved["distill"]["weakness"] = s.weakness.method;
    if (s.weakness.method == "cv") resolved["distill"]["cv_folds"] = s.weakness.folds;
    write_file_atomically((s.dir / "config.yaml").string(), to_yaml(resolved));
    s.store->put_meta("weakdistill_version", WEAKDISTILL_VERSION);
    s.store->put_meta("config", resolved.dump());
  }
  s.embedder->attach_cache(s.store_path);
  s.teacher->attach_cache(s.store_path);
  // A response_format fallback made earlier in this run holds for the rest of it.
  if (const auto format = s.store->meta("teacher_format")) {
    s.teacher->restore_format_state(nlohmann::ordered_json::parse(*format));
  }
  if (s.teacher->simulated()) {
    spdlog::warn("the {} teacher is SIMULATED: it returns held-out samples, not an LLM's",
                 s.teacher->kind());
  }
  if (c.protocol == "paper") {
    spdlog::warn("protocol paper: dev is the test set, so the reported test figure LEAKS");
  }
  if (dev_is_optimistic(c)) spdlog::warn("{}", kDevOptimistic);
  s.verifier = std::make_unique<Verifier>(c.task, s.data.labeled,
                                          VerifyOptions{c.distill.min_char_overlap});
  s.labeled_vectors = s.embedder->embed(labeled_texts);
  for (const auto& r : s.store->rounds()) s.rounds.push_back(r);
  if (!s.rounds.empty()) restore_from_store(s);
}

void run_round_zero(RunState& s) {
  const RunConfig& c = s.c;
  const auto start = Clock::now();
  s.train_student(0, s.data.train.samples);
  s.check_cancel("after training round 0");
  nlohmann::ordered_json dev = evaluate_student(*s.student, s.data.dev, nullptr, "round 0 dev");
  if (!s.data.test.samples.empty()) {
    s.test_round0 = evaluate_student(*s.student, s.data.test, nullptr, "round 0 test");
  }
  nlohmann::ordered_json r;
  r["round"] = 0;
  r["train_size"] = s.data.train.samples.size();
  for (const char* k : {"requested", "parsed", "verified", "diverse", "accepted"}) r[k] = 0;
  r["dev"] = dev;
  r["dev_e"] = headline(c.task, dev);
  r["per_label"] = per_label(c.task, dev);
  if (c.distill.test_each_round) r["test"] = s.test_round0;
  r["teacher"] = TeacherUsage{}.to_json();
  r["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
  fs::create_directories(s.round_dir(0));
  save_student(*s.student, s.round_student(0).string());
  write_json(s.round_dir(0) / "metrics.json", r);
  nlohmann::ordered_json stored = r;
  stored["test_round0"] = s.test_round0;
  s.store->commit_round(0, stored, {});
  s.rounds.push_back(r);
  s.best = BestSoFar{0, r["dev_e"].get<double>(), 0};
  save_student(*s.student, (s.dir / "best").string());
  spdlog::info("round 0: train {} · dev {} {:.4f}", s.data.train.samples.size(),
               headline_name(c.task), s.best.best_e);
}

}  // namespace weakdistill::distill_internal
