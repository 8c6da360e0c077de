// The native seq2seq model's decoding and training throughput on real texts, for
// bench/compare_seq2seq.sh, which runs bench/seq2seq_eager.py (Python PyTorch eager) on the very
// batches this program writes.
//
// Usage:
//   seq2seq_bench MODEL_DIR --write-batches TEXTS.jsonl B.jsonl [--n 64] [--batch 16]
//                 [--max-length 30] [--max-source-length 512]
//   seq2seq_bench MODEL_DIR B.jsonl --decode greedy|beam [--beam 4] --max-new-tokens N
//                 [--threads T] [--warmup 1] [--repeat 3] [--out-json F] [--profile TRACE.json]
//   seq2seq_bench MODEL_DIR B.jsonl --train [--optimizer adamw|student] [--lr 5e-5]
//                 [--label-smoothing 0.1] [--threads T] [--warmup 1] [--repeat 3]
//                 [--profile TRACE.json]
//
// --write-batches reads the first n pairs ("text", "summary") of TEXTS.jsonl, frames them as
// the seq2seq student does (source: [bos] text tokens [eos], cut to max_source_length; target:
// [bos] summary tokens [eos], at most max_length summary tokens), sorts them by source length
// (as the student's predict() does), cuts batches of `batch` and writes one line a batch:
// {"input_ids", "attention_mask", "labels"} (ids padded with pad, labels with -100), the format
// bench/seq2seq_eager.py reads.
//
// --decode times student_internal::generate() over every batch of the file (eval mode,
// InferenceMode; no min length, no n-gram ban): `warmup` untimed passes, then the best of
// `repeat` timed passes. Prints one JSON line: tokens_per_s = generated tokens of the returned
// sequences (through eos) / seconds, and row_steps (decoder rows fed through model.step(),
// summed over steps) with row_steps_per_s. Greedy drops a row once it took eos, so its
// row_steps are the generated tokens; beam search runs every item until its last live beam
// dies, which without bans is the forced eos of step max_new_tokens, so its row_steps are
// rows × beam × max_new_tokens. cpu_seconds: the least CPU time (user + system, all threads) of a
// timed pass. --out-json writes the last pass's tokens as the eager script does.
//
// --train times training steps over the batches, one step a batch: train mode (dropout), the
// seq2seq student's batch_loss arithmetic (decoder input = [decoder_start] + labels[:-1] with
// -100 read as pad; cross-entropy with label smoothing, ignoring -100, mean over target tokens),
// backward, optimizer step, gradients set to none. --optimizer adamw (default): torch AdamW over
// every parameter, weight decay 0.01, as the eager script; student: the student's own
// BertOptimizer (no decay on biases and LayerNorms, linear schedule, gradient clipping at 1.0).
// Prints {"samples_per_s", "seconds", "samples", "steps", "final_loss", ...}.
//
// --profile writes the CPU ops of one more pass, untimed, as Chrome trace events.
#include <torch/csrc/autograd/profiler_kineto.h>

#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <numeric>

#include "bert.h"
#include "bert_finetune.h"
#include "seq2seq.h"
#include "seq2seq_load.h"
#include "seq2seq_decode.h"
#include "torch_util.h"
#include "weakdistill/core/progress.h"

namespace {

using namespace weakdistill;
using Clock = std::chrono::steady_clock;
namespace si = weakdistill::student_internal;

struct Args {
  std::string model, batches, texts, decode, out_json, profile, optimizer = "adamw";
  bool write = false, train = false;
  std::size_t n = 64, batch = 16, max_length = 30, max_source_length = 512;
  int threads = 0, warmup = 1, repeat = 3, beam = 4, max_new_tokens = 0;
  double lr = 5e-5, label_smoothing = 0.1;
};

Args parse(int argc, char** argv) {
  Args a;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
      return argv[++i];
    };
    if (k == "--write-batches") {
      a.write = true;
      a.texts = value();
    } else if (k == "--n") {
      a.n = std::stoul(value());
    } else if (k == "--batch") {
      a.batch = std::stoul(value());
    } else if (k == "--max-length") {
      a.max_length = std::stoul(value());
    } else if (k == "--max-source-length") {
      a.max_source_length = std::stoul(value());
    } else if (k == "--decode") {
      a.decode = value();
    } else if (k == "--beam") {
      a.beam = std::stoi(value());
    } else if (k == "--max-new-tokens") {
      a.max_new_tokens = std::stoi(value());
    } else if (k == "--train") {
      a.train = true;
    } else if (k == "--optimizer") {
      a.optimizer = value();
    } else if (k == "--lr") {
      a.lr = std::stod(value());
    } else if (k == "--label-smoothing") {
      a.label_smoothing = std::stod(value());
    } else if (k == "--threads") {
      a.threads = std::stoi(value());
    } else if (k == "--warmup") {
      a.warmup = std::stoi(value());
    } else if (k == "--repeat") {
      a.repeat = std::stoi(value());
    } else if (k == "--out-json") {
      a.out_json = value();
    } else if (k == "--profile") {
      a.profile = value();
    } else {
      positional.push_back(k);
    }
  }
  const int modes = int{a.write} + int{a.train} + int{!a.decode.empty()};
  if (positional.size() != 2 || modes != 1 ||
      (!a.decode.empty() && a.decode != "greedy" && a.decode != "beam") ||
      (!a.decode.empty() && a.max_new_tokens < 1) ||
      (a.optimizer != "adamw" && a.optimizer != "student")) {
    throw std::invalid_argument(
        "usage: seq2seq_bench MODEL_DIR (--write-batches TEXTS.jsonl B.jsonl | B.jsonl --decode "
        "greedy|beam --max-new-tokens N | B.jsonl --train) [options]; see the header of "
        "bench/seq2seq_bench.cc");
  }
  a.model = positional[0];
  a.batches = positional[1];
  return a;
}

// [bos] (BART with one) + at most `max_tokens` tokens of `text` + [eos], as the student frames.
std::vector<std::int64_t> frame(const si::PretrainedSeq2Seq& p, const std::string& text,
                                std::size_t max_tokens) {
  const std::vector<BertToken> tokens = p.tokenizer->encode(text, max_tokens + 2);
  std::vector<std::int64_t> ids;
  if (p.config.bart() && p.config.bos_token_id >= 0) ids.push_back(p.config.bos_token_id);
  for (std::size_t i = 1; i + 1 < tokens.size(); ++i) ids.push_back(tokens[i].id);
  ids.push_back(p.config.eos_token_id);
  return ids;
}

std::vector<std::vector<std::int64_t>> rows_of(const torch::Tensor& t) {
  std::vector<std::vector<std::int64_t>> r(static_cast<std::size_t>(t.size(0)));
  const torch::Tensor c = t.contiguous();
  for (std::int64_t i = 0; i < c.size(0); ++i) {
    r[static_cast<std::size_t>(i)].assign(c[i].data_ptr<std::int64_t>(),
                                          c[i].data_ptr<std::int64_t>() + c.size(1));
  }
  return r;
}

torch::Tensor tensor_of(const nlohmann::json& rows) {
  const auto b = static_cast<std::int64_t>(rows.size());
  const auto t = static_cast<std::int64_t>(rows.at(0).size());
  torch::Tensor out = torch::empty({b, t}, torch::kInt64);
  auto a = out.accessor<std::int64_t, 2>();
  for (std::int64_t i = 0; i < b; ++i) {
    for (std::int64_t j = 0; j < t; ++j) a[i][j] = rows[static_cast<std::size_t>(i)][j];
  }
  return out;
}

void write_batches(const Args& a, const si::PretrainedSeq2Seq& p) {
  std::vector<std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>> pairs;
  {
    std::ifstream in(a.texts);
    if (!in) throw std::runtime_error(a.texts + ": cannot read");
    std::string line;
    const std::size_t source_limit =
        std::min<std::size_t>(a.max_source_length,
                              static_cast<std::size_t>(p.config.max_position_embeddings)) -
        (p.config.bart() && p.config.bos_token_id >= 0 ? 2 : 1);
    while (pairs.size() < a.n && std::getline(in, line)) {
      const nlohmann::json j = nlohmann::json::parse(line);
      pairs.emplace_back(frame(p, j.at("text").get<std::string>(), source_limit),
                         frame(p, j.at("summary").get<std::string>(), a.max_length));
    }
  }
  std::vector<std::size_t> order(pairs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) {
    return pairs[x].first.size() < pairs[y].first.size();
  });
  std::ofstream out(a.batches);
  std::size_t source_tokens = 0, target_tokens = 0, lines = 0;
  for (std::size_t s = 0; s < order.size(); s += a.batch) {
    std::vector<std::vector<std::int64_t>> sources, labels;
    for (std::size_t k = s; k < std::min(order.size(), s + a.batch); ++k) {
      sources.push_back(pairs[order[k]].first);
      labels.push_back(pairs[order[k]].second);
      source_tokens += sources.back().size();
      target_tokens += labels.back().size();
    }
    const auto [ids, mask] = si::pad_ids(sources, p.config.pad_token_id);
    const torch::Tensor gold = si::pad_ids(labels, -100).first;
    out << nlohmann::json{{"input_ids", rows_of(ids)},
                          {"attention_mask", rows_of(mask)},
                          {"labels", rows_of(gold)}}
               .dump()
        << "\n";
    ++lines;
  }
  std::cout << nlohmann::json{{"what", "batches"},
                              {"pairs", pairs.size()},
                              {"batches", lines},
                              {"source_tokens", source_tokens},
                              {"target_tokens", target_tokens}}
                   .dump()
            << std::endl;
}

struct Batch {
  torch::Tensor ids, mask, labels;  // [B, S], [B, S], [B, T] (-100 padding)
};

std::vector<Batch> read_batches(const std::string& path) {
  std::vector<Batch> out;
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot read");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line);
    Batch b;
    b.ids = tensor_of(j.at("input_ids"));
    b.mask = j.contains("attention_mask") ? tensor_of(j.at("attention_mask"))
                                          : torch::ones_like(b.ids);
    if (j.contains("labels")) b.labels = tensor_of(j.at("labels"));
    out.push_back(std::move(b));
  }
  if (out.empty()) throw std::runtime_error(path + ": no batches");
  return out;
}

// The process' CPU time so far (user + system, every thread), in seconds.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * t.tv_usec; };
  return s(u.ru_utime) + s(u.ru_stime);
}

struct Timing {
  double seconds = 1e300;      // the best timed pass, wall clock
  double cpu_seconds = 1e300;  // the least CPU time of a timed pass (all threads)
};

// Best of `repeat` timed calls of `pass` after `warmup` untimed ones. On a shared machine the
// CPU time varies less than the wall time (it leaves out time spent waiting for a core).
template <typename F>
Timing best_seconds(int warmup, int repeat, F&& pass) {
  for (int i = 0; i < warmup; ++i) pass();
  Timing best;
  for (int r = 0; r < std::max(1, repeat); ++r) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    pass();
    best.cpu_seconds = std::min(best.cpu_seconds, cpu_seconds() - c0);
    best.seconds = std::min(best.seconds, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// Writes the CPU ops of one call of `pass` as Chrome trace events ([{"name", "ph": "X", "ts",
// "dur", "tid"}], microseconds), recorded by the profiler torch.profiler uses (this libtorch has
// no Kineto library, so the events are written here). The legacy profiler costs microseconds an
// op, which swamps the hundreds of thousands of select() calls of bmm's per-matrix loop.
template <typename F>
void profile(const std::string& path, F&& pass) {
  namespace prof = torch::autograd::profiler;
  const torch::profiler::impl::ProfilerConfig config(torch::profiler::impl::ProfilerState::KINETO);
  const std::set<torch::profiler::impl::ActivityType> cpu = {
      torch::profiler::impl::ActivityType::CPU};
  prof::prepareProfiler(config, cpu);
  prof::enableProfiler(config, cpu);
  pass();
  const std::unique_ptr<prof::ProfilerResult> result = prof::disableProfiler();
  std::ofstream out(path);
  out << "[";
  bool first = true;
  for (const prof::KinetoEvent& e : result->events()) {
    if (e.deviceType() != c10::DeviceType::CPU) continue;
    out << (first ? "" : ",\n")
        << nlohmann::json{{"name", e.name()},
                          {"ph", "X"},
                          {"ts", e.startUs()},
                          {"dur", e.durationUs()},
                          {"tid", e.startThreadId()}}
               .dump();
    first = false;
  }
  out << "]\n";
}

void run_decode(const Args& a, si::PretrainedSeq2Seq& p, const std::vector<Batch>& batches) {
  si::Seq2SeqModelImpl& model = *p.model;
  model.eval();
  torch::InferenceMode inference;
  si::GenerateOptions g;
  g.max_new_tokens = a.max_new_tokens;
  g.beam = a.decode == "greedy" ? 1 : a.beam;
  std::vector<std::vector<std::int64_t>> outs;
  auto pass = [&] {
    outs.clear();
    for (const Batch& b : batches) {
      for (si::Generated& gen : si::generate(model, b.ids, b.mask, g)) {
        outs.push_back(std::move(gen.tokens));
      }
    }
  };
  const Timing timing = best_seconds(a.warmup, a.repeat, pass);
  const double best = timing.seconds;
  std::size_t tokens = 0, row_steps = 0, steps = 0;
  std::size_t row = 0;
  for (const Batch& b : batches) {
    std::size_t longest = 0;
    for (std::int64_t i = 0; i < b.ids.size(0); ++i, ++row) {
      longest = std::max(longest, outs[row].size());
      tokens += outs[row].size();
    }
    if (g.beam == 1) {
      steps += longest;
    } else {
      steps += static_cast<std::size_t>(g.max_new_tokens);
      row_steps += static_cast<std::size_t>(b.ids.size(0) * g.beam * g.max_new_tokens);
    }
  }
  if (g.beam == 1) row_steps = tokens;
  if (!a.profile.empty()) profile(a.profile, pass);
  if (!a.out_json.empty()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& t : outs) j.push_back({{"tokens", t}});
    std::ofstream(a.out_json) << j.dump() << "\n";
  }
  std::cout << nlohmann::json{{"what", a.decode},
                              {"beam", g.beam},
                              {"tokens_per_s", static_cast<double>(tokens) / best},
                              {"seconds", best},
                              {"cpu_seconds", timing.cpu_seconds},
                              {"sequences", outs.size()},
                              {"generated_tokens", tokens},
                              {"decoder_steps", steps},
                              {"row_steps", row_steps},
                              {"row_steps_per_s", static_cast<double>(row_steps) / best},
                              {"max_new_tokens", g.max_new_tokens},
                              {"threads", at::get_num_threads()}}
                   .dump()
            << std::endl;
}

void run_train(const Args& a, si::PretrainedSeq2Seq& p, const std::vector<Batch>& batches) {
  si::Seq2SeqModelImpl& net = *p.model;
  const si::Seq2SeqConfig& c = p.config;
  net.train();
  std::vector<torch::Tensor> params;
  for (const torch::Tensor& t : net.parameters()) {
    if (t.requires_grad()) params.push_back(t);
  }
  std::unique_ptr<torch::optim::AdamW> adamw;
  std::unique_ptr<si::BertOptimizer> student;
  if (a.optimizer == "adamw") {
    adamw = std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(a.lr).weight_decay(0.01));
  } else {
    si::BertFineTuneOptions ft;
    ft.lr = a.lr;
    student = std::make_unique<si::BertOptimizer>(
        net.hf_tensors(), ft,
        static_cast<std::int64_t>(batches.size()) * (a.warmup + a.repeat + 1));
  }
  // Decoder inputs: the labels shifted right after decoder_start, -100 read as pad.
  std::vector<torch::Tensor> decoder_inputs;
  for (const Batch& b : batches) {
    if (!b.labels.defined()) throw std::runtime_error(a.batches + ": --train needs labels");
    torch::Tensor in = torch::full_like(b.labels, c.decoder_start_token_id);
    in.slice(1, 1) = b.labels.slice(1, 0, -1);
    in.masked_fill_(in == -100, c.pad_token_id);
    decoder_inputs.push_back(in);
  }
  namespace F = torch::nn::functional;
  double last_loss = 0;
  auto pass = [&] {
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const Batch& b = batches[i];
      const torch::Tensor logits =
          net.logits(net.decode(decoder_inputs[i], net.encode(b.ids, b.mask), b.mask));
      const torch::Tensor loss =
          F::cross_entropy(logits.view({-1, logits.size(-1)}), b.labels.view({-1}),
                           F::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(
                               a.label_smoothing));
      loss.backward();
      if (adamw) {
        adamw->step();
        for (torch::Tensor& t : params) t.mutable_grad() = torch::Tensor();  // set_to_none
      } else {
        student->step();
      }
      last_loss = loss.item<double>();
    }
  };
  const Timing timing = best_seconds(a.warmup, a.repeat, pass);
  const double best = timing.seconds;
  if (!a.profile.empty()) profile(a.profile, pass);
  std::size_t samples = 0;
  for (const Batch& b : batches) samples += static_cast<std::size_t>(b.ids.size(0));
  std::cout << nlohmann::json{{"what", "train"},
                              {"optimizer", a.optimizer},
                              {"samples_per_s", static_cast<double>(samples) / best},
                              {"seconds", best},
                              {"cpu_seconds", timing.cpu_seconds},
                              {"samples", samples},
                              {"steps", batches.size()},
                              {"final_loss", last_loss},
                              {"threads", at::get_num_threads()}}
                   .dump()
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  Progress::set_enabled(false);
  si::PretrainedSeq2Seq p = si::load_pretrained_seq2seq(a.model);
  if (a.write) {
    write_batches(a, p);
    return 0;
  }
  si::set_torch_threads(CommonOptions{1, a.threads});
  const std::vector<Batch> batches = read_batches(a.batches);
  if (a.train) {
    torch::manual_seed(1);
    run_train(a, p, batches);
  } else {
    run_decode(a, p, batches);
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "seq2seq_bench: " << e.what() << "\n";
  return 2;
}
