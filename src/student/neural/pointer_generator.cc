#include "pointer_generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "kinds_internal.h"
#include "neural_kinds.h"
#include "torch_util.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"

namespace weakdistill::neural {
namespace {

constexpr std::int64_t kPad = 0, kUnk = 1, kBos = 2, kEos = 3;
const std::vector<std::string> kSpecials = {"<pad>", "<unk>", "<bos>", "<eos>"};

// One training pair as ids.
struct Example {
  std::vector<std::int64_t> source;      // vocabulary ids, <unk> for unknown chars
  std::vector<std::int64_t> source_ext;  // extended ids: unknown chars -> V + their oov index
  std::vector<std::int64_t> target_in;   // <bos> y_1 .. y_n, vocabulary ids
  std::vector<std::int64_t> target_out;  // y_1 .. y_n <eos>, extended ids
};

struct Batch {
  torch::Tensor source;      // [B,S] int64
  torch::Tensor lengths;     // [B] int64
  torch::Tensor source_ext;  // [B,S] int64
  torch::Tensor target_in;   // [B,T] int64
  torch::Tensor target_out;  // [B,T] int64, <pad> after the end
};

Batch make_batch(const std::vector<Example>& examples, const std::vector<std::size_t>& order,
                 std::size_t begin, std::size_t end) {
  std::vector<std::vector<std::int64_t>> src, ext, in, out;
  for (std::size_t i = begin; i < end; ++i) {
    const Example& e = examples[order[i]];
    src.push_back(e.source);
    ext.push_back(e.source_ext);
    in.push_back(e.target_in);
    out.push_back(e.target_out);
  }
  Batch b;
  std::vector<std::int64_t> lengths;
  b.source = student_internal::pad_batch(src, kPad, &lengths);
  b.lengths = torch::tensor(lengths, torch::kInt64);
  b.source_ext = student_internal::pad_batch(ext, kPad);
  b.target_in = student_internal::pad_batch(in, kPad);
  b.target_out = student_internal::pad_batch(out, kPad);
  return b;
}

// The teacher-forced loss of a batch (see the header for its definition).
torch::Tensor batch_loss(PointerGeneratorNet& net, const Batch& b, std::int64_t vocab_size,
                         const PointerGeneratorOptions& o) {
  const Encoded encoded = net->encode(b.source, b.lengths);
  DecoderState state = net->start(encoded);
  const std::int64_t steps = b.target_in.size(1);
  std::vector<torch::Tensor> features, attentions, p_gens, coverage_losses;
  for (std::int64_t t = 0; t < steps; ++t) {
    StepOutput out = net->step(encoded, state, b.target_in.select(1, t));
    features.push_back(out.features);
    attentions.push_back(out.attention);
    p_gens.push_back(out.p_gen);
    if (o.coverage) coverage_losses.push_back(out.coverage_loss);
  }
  const auto target = b.target_out;  // [B,T]
  const auto vocab =
      torch::softmax(net->vocabulary_logits(torch::stack(features, 1)), 2);  // [B,T,V]
  const auto attention = torch::stack(attentions, 1);                        // [B,T,S]
  const auto p_gen = torch::stack(p_gens, 1).squeeze(2);                     // [B,T]
  const auto in_vocab = (target < vocab_size).to(torch::kFloat);             // [B,T]
  const auto generated =
      vocab.gather(2, target.clamp_max(vocab_size - 1).unsqueeze(2)).squeeze(2) * in_vocab;
  const auto same_char =
      (b.source_ext.unsqueeze(1) == target.unsqueeze(2)).to(torch::kFloat);  // [B,T,S]
  const auto copied = (attention * same_char).sum(2);                        // [B,T]
  const auto prob = p_gen * generated + (1 - p_gen) * copied;                // [B,T]
  const auto mask = (target != kPad).to(torch::kFloat);
  const auto tokens = mask.sum();
  auto loss = -(torch::log(prob + 1e-12) * mask).sum() / tokens;
  if (o.coverage) {
    loss = loss + o.coverage_weight * (torch::stack(coverage_losses, 1) * mask).sum() / tokens;
  }
  return loss;
}

// The tokens that may not come next: the specials other than <eos>; <eos> too
// before min_length; and any char that would repeat an n-gram.
std::vector<std::int64_t> banned_next(const std::vector<std::int64_t>& tokens,
                                      const PointerGeneratorOptions& o) {
  std::vector<std::int64_t> banned = {kPad, kUnk, kBos};
  if (tokens.size() < o.min_length) banned.push_back(kEos);
  const std::size_t n = static_cast<std::size_t>(o.no_repeat_ngram);
  if (n > 0 && tokens.size() + 1 >= n) {
    // The last n-1 tokens, followed by x, must not equal any earlier n-gram.
    const std::size_t prefix = n - 1, end = tokens.size();
    for (std::size_t i = 0; i + n <= end; ++i) {
      if (std::equal(tokens.begin() + i, tokens.begin() + i + prefix, tokens.end() - prefix)) {
        banned.push_back(tokens[i + prefix]);
      }
    }
  }
  return banned;
}

}  // namespace

// ---------------------------------------------------------------- the network

PointerGeneratorNetImpl::PointerGeneratorNetImpl(std::int64_t vocab_size,
                                                 const PointerGeneratorOptions& o)
    : coverage_(o.coverage) {
  const std::int64_t e = o.embedding_dim, h = o.hidden;
  embedding_ = register_module(
      "embedding",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(vocab_size, e).padding_idx(kPad)));
  dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout));
  encoder_ = register_module(
      "encoder",
      torch::nn::LSTM(torch::nn::LSTMOptions(e, h / 2).bidirectional(true).batch_first(true)));
  reduce_h_ = register_module("reduce_h", torch::nn::Linear(h, h));
  reduce_c_ = register_module("reduce_c", torch::nn::Linear(h, h));
  memory_features_ = register_module("memory_features",
                                     torch::nn::Linear(torch::nn::LinearOptions(h, h).bias(false)));
  query_features_ = register_module("query_features", torch::nn::Linear(2 * h, h));
  if (coverage_) {
    coverage_features_ = register_module(
        "coverage_features", torch::nn::Linear(torch::nn::LinearOptions(1, h).bias(false)));
    // Zero at first, so that the coverage term enters attention as it is learnt
    // (See et al. found coverage from the first step interfered with learning).
    torch::NoGradGuard no_grad;
    coverage_features_->weight.zero_();
  }
  attention_score_ = register_module("attention_score",
                                     torch::nn::Linear(torch::nn::LinearOptions(h, 1).bias(false)));
  decoder_input_ = register_module("decoder_input", torch::nn::Linear(e + h, e));
  decoder_ = register_module("decoder", torch::nn::LSTMCell(e, h));
  switch_ = register_module("switch", torch::nn::Linear(3 * h + e, 1));
  output_ = register_module("output", torch::nn::Linear(2 * h, h));
  projection_ = register_module("projection", torch::nn::Linear(h, vocab_size));
}

Encoded PointerGeneratorNetImpl::encode(const torch::Tensor& source, const torch::Tensor& lengths) {
  namespace rnn = torch::nn::utils::rnn;
  const auto embedded = dropout_(embedding_(source));  // [B,S,E]
  // Packing keeps padding out of the backward direction and of the final states.
  const auto packed = rnn::pack_padded_sequence(embedded, lengths, /*batch_first=*/true,
                                                /*enforce_sorted=*/false);
  auto [outputs, states] = encoder_->forward_with_packed_input(packed);
  Encoded e;
  e.memory =
      std::get<0>(rnn::pad_packed_sequence(outputs, /*batch_first=*/true, 0.0, source.size(1)));
  e.features = memory_features_(e.memory);
  e.mask = source != kPad;
  const auto& [h_n, c_n] = states;  // [2,B,H/2]: forward, backward
  e.h = torch::relu(reduce_h_(torch::cat({h_n[0], h_n[1]}, 1)));
  e.c = torch::relu(reduce_c_(torch::cat({c_n[0], c_n[1]}, 1)));
  return e;
}

DecoderState PointerGeneratorNetImpl::start(const Encoded& encoded) {
  DecoderState s;
  s.h = encoded.h;
  s.c = encoded.c;
  s.context = torch::zeros_like(encoded.h);
  s.coverage = torch::zeros(encoded.mask.sizes(), torch::kFloat);
  return s;
}

StepOutput PointerGeneratorNetImpl::step(const Encoded& encoded, DecoderState& s,
                                         const torch::Tensor& previous) {
  const auto embedded = dropout_(embedding_(previous));                        // [B,E]
  const auto x = decoder_input_(torch::cat({embedded, s.context}, 1));         // [B,E]
  std::tie(s.h, s.c) = decoder_(x, std::make_tuple(s.h, s.c));                 // [B,H] each
  const auto query = query_features_(torch::cat({s.h, s.c}, 1)).unsqueeze(1);  // [B,1,H]
  auto energy = encoded.features + query;                                      // [B,S,H]
  if (coverage_) energy = energy + coverage_features_(s.coverage.unsqueeze(2));
  const auto scores = attention_score_(torch::tanh(energy))
                          .squeeze(2)
                          .masked_fill(encoded.mask.logical_not(),
                                       -std::numeric_limits<float>::infinity());  // [B,S]
  StepOutput out;
  out.attention = torch::softmax(scores, 1);                                      // [B,S]
  s.context = torch::bmm(out.attention.unsqueeze(1), encoded.memory).squeeze(1);  // [B,H]
  if (coverage_) {
    out.coverage_loss = torch::min(out.attention, s.coverage).sum(1);
    s.coverage = s.coverage + out.attention;
  }
  out.p_gen = torch::sigmoid(switch_(torch::cat({s.context, s.h, s.c, x}, 1)));  // [B,1]
  out.features = output_(torch::cat({s.h, s.context}, 1));                       // [B,H]
  return out;
}

torch::Tensor PointerGeneratorNetImpl::vocabulary_logits(const torch::Tensor& features) {
  return projection_(dropout_(features));
}

// ---------------------------------------------------------------- the student

struct PointerGeneratorStudent::Source {
  std::vector<std::int64_t> ids;       // [S] vocabulary ids
  std::vector<std::int64_t> extended;  // [S] extended ids
  std::vector<std::string> oovs;       // the chars behind extended ids V, V+1, ...
};

PointerGeneratorStudent::PointerGeneratorStudent(const nlohmann::json& options) {
  OptionReader r(options, "student");
  common_ = student_internal::read_common(r);
  PointerGeneratorOptions& o = options_;
  r.get("min_count", o.min_count);
  r.get("max_vocab", o.max_vocab);
  r.get("embedding_dim", o.embedding_dim);
  r.get("hidden", o.hidden);
  r.get("dropout", o.dropout);
  r.get("max_source", o.max_source);
  r.get("max_target", o.max_target);
  r.get("epochs", o.epochs);
  r.get("batch_size", o.batch_size);
  r.get("lr", o.lr);
  r.get("clip", o.clip);
  r.get("coverage", o.coverage);
  r.get("coverage_weight", o.coverage_weight);
  r.get("patience", o.patience);
  r.get("dev_limit", o.dev_limit);
  r.get("beam", o.beam);
  r.get("max_length", o.max_length);
  r.get("min_length", o.min_length);
  r.get("length_penalty", o.length_penalty);
  r.get("no_repeat_ngram", o.no_repeat_ngram);
  r.finish();
  const auto bad = [&](const char* key, const char* what) {
    throw InputError(r.context() + "." + key + ": " + what);
  };
  if (o.min_count < 1) bad("min_count", "must be at least 1");
  if (o.max_vocab != 0 && o.max_vocab <= kSpecials.size()) {
    bad("max_vocab", "must be 0 (no limit) or more than the 4 special tokens");
  }
  if (o.embedding_dim < 1) bad("embedding_dim", "must be at least 1");
  if (o.hidden < 2 || o.hidden % 2 != 0) bad("hidden", "must be even and at least 2");
  if (!(o.dropout >= 0 && o.dropout < 1)) bad("dropout", "must be in [0, 1)");
  if (o.max_source < 1) bad("max_source", "must be at least 1");
  if (o.max_target < 1) bad("max_target", "must be at least 1");
  if (o.epochs < 1) bad("epochs", "must be at least 1");
  if (o.batch_size < 1) bad("batch_size", "must be at least 1");
  if (!(o.lr > 0)) bad("lr", "must be positive");
  if (!(o.clip >= 0)) bad("clip", "must be 0 (off) or positive");
  if (!(o.coverage_weight >= 0)) bad("coverage_weight", "must be 0 or more");
  if (o.patience < 0) bad("patience", "must be 0 (never stop early) or more");
  if (o.beam < 1) bad("beam", "must be at least 1 (1 is greedy decoding)");
  if (o.max_length < 1) bad("max_length", "must be at least 1");
  if (o.min_length > o.max_length) bad("min_length", "must not exceed max_length");
  if (!(o.length_penalty >= 0)) bad("length_penalty", "must be 0 or more");
  if (o.no_repeat_ngram < 0) bad("no_repeat_ngram", "must be 0 (off) or more");
}

nlohmann::json PointerGeneratorStudent::options() const {
  const PointerGeneratorOptions& o = options_;
  return {{"min_count", o.min_count},
          {"max_vocab", o.max_vocab},
          {"embedding_dim", o.embedding_dim},
          {"hidden", o.hidden},
          {"dropout", o.dropout},
          {"max_source", o.max_source},
          {"max_target", o.max_target},
          {"epochs", o.epochs},
          {"batch_size", o.batch_size},
          {"lr", o.lr},
          {"clip", o.clip},
          {"coverage", o.coverage},
          {"coverage_weight", o.coverage_weight},
          {"patience", o.patience},
          {"dev_limit", o.dev_limit},
          {"beam", o.beam},
          {"max_length", o.max_length},
          {"min_length", o.min_length},
          {"length_penalty", o.length_penalty},
          {"no_repeat_ngram", o.no_repeat_ngram},
          {"seed", common_.seed},
          {"threads", common_.threads}};
}

void PointerGeneratorStudent::set_decoding(int beam, std::size_t max_length) {
  if (beam < 1) throw InputError("student.beam: must be at least 1 (1 is greedy decoding)");
  if (max_length < 1) throw InputError("student.max_length: must be at least 1");
  options_.beam = beam;
  options_.max_length = max_length;
  options_.min_length = std::min(options_.min_length, max_length);
}

void PointerGeneratorStudent::build_net() {
  net_ = PointerGeneratorNet(static_cast<std::int64_t>(vocabulary_.size()), options_);
}

void PointerGeneratorStudent::require_trained(const char* what) const {
  if (net_.is_empty()) {
    throw std::logic_error(std::string("pointer-generator: ") + what + " before train() or load");
  }
}

PointerGeneratorStudent::Source PointerGeneratorStudent::make_source(
    const std::string& text) const {
  Source s;
  auto chars = split_chars(text);
  if (chars.size() > options_.max_source) chars.resize(options_.max_source);
  const auto vocab_size = static_cast<std::int64_t>(vocabulary_.size());
  for (const std::string& ch : chars) {
    const std::int64_t id = vocabulary_.id(ch);
    if (id >= 0) {
      s.ids.push_back(id);
      s.extended.push_back(id);
      continue;
    }
    s.ids.push_back(kUnk);
    const auto it = std::find(s.oovs.begin(), s.oovs.end(), ch);
    s.extended.push_back(vocab_size + (it - s.oovs.begin()));
    if (it == s.oovs.end()) s.oovs.push_back(ch);
  }
  return s;
}

void PointerGeneratorStudent::train(const std::vector<Sample>& train,
                                    const std::vector<Sample>& dev) {
  const PointerGeneratorOptions& o = options_;
  student_internal::configure_torch(common_);

  vocabulary_ = Vocabulary(kSpecials);
  for (const Sample& s : train) {
    for (const auto& ch : split_chars(s.text)) vocabulary_.count(ch);
    for (const auto& ch : split_chars(s.summary)) vocabulary_.count(ch);
  }
  vocabulary_.build(o.min_count, o.max_vocab);
  const auto vocab_size = static_cast<std::int64_t>(vocabulary_.size());

  std::vector<Example> examples;
  for (const Sample& s : train) {
    Source src = make_source(s.text);
    if (src.ids.empty()) continue;  // nothing to attend to
    Example e;
    e.source = std::move(src.ids);
    e.source_ext = std::move(src.extended);
    e.target_in.push_back(kBos);
    auto chars = split_chars(s.summary);
    if (chars.size() > o.max_target) chars.resize(o.max_target);
    for (const std::string& ch : chars) {
      const std::int64_t id = vocabulary_.id(ch);
      e.target_in.push_back(id >= 0 ? id : kUnk);
      if (id >= 0) {
        e.target_out.push_back(id);
      } else {
        const auto it = std::find(src.oovs.begin(), src.oovs.end(), ch);
        e.target_out.push_back(it == src.oovs.end() ? kUnk : vocab_size + (it - src.oovs.begin()));
      }
    }
    e.target_out.push_back(kEos);
    examples.push_back(std::move(e));
  }
  if (examples.empty()) {
    throw InputError("pointer-generator: no training pair has a non-empty text");
  }

  build_net();
  torch::optim::Adam optimizer(net_->parameters(), torch::optim::AdamOptions(o.lr));
  std::mt19937_64 rng(common_.seed);
  std::vector<std::size_t> order(examples.size());
  std::iota(order.begin(), order.end(), 0);

  const std::size_t dev_n = o.dev_limit ? std::min(o.dev_limit, dev.size()) : dev.size();
  const std::vector<Sample> dev_part(dev.begin(), dev.begin() + static_cast<std::ptrdiff_t>(dev_n));
  double best = -1;
  int since_best = 0;
  std::vector<torch::Tensor> best_weights;
  const auto batch = static_cast<std::size_t>(o.batch_size);
  const std::size_t batches = (examples.size() + batch - 1) / batch;

  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
    net_->train();
    std::shuffle(order.begin(), order.end(), rng);
    Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), batches,
                      "batches");
    double loss_sum = 0;
    for (std::size_t start = 0; start < examples.size(); start += batch) {
      const Batch b = make_batch(examples, order, start, std::min(examples.size(), start + batch));
      const auto loss = batch_loss(net_, b, vocab_size, o);
      optimizer.zero_grad();
      loss.backward();
      if (o.clip > 0) torch::nn::utils::clip_grad_norm_(net_->parameters(), o.clip);
      optimizer.step();
      const double l = loss.item<double>();
      loss_sum += l;
      char note[32];
      std::snprintf(note, sizeof note, "loss %.3f", l);
      progress.advance(1, note);
    }
    progress.finish();

    EpochReport report;
    report.epoch = epoch;
    report.epochs = o.epochs;
    report.train_loss = loss_sum / static_cast<double>(batches);
    bool stop = false;
    if (!dev_part.empty()) {
      std::vector<Prediction> predictions;
      for (const Sample& s : dev_part) predictions.push_back(greedy(s.text));
      std::tie(report.dev_metric, report.dev_metric_name) =
          student_internal::dev_metric(task(), dev_part, predictions);
      if (report.dev_metric > best) {
        best = report.dev_metric;
        since_best = 0;
        best_weights.clear();
        for (const auto& p : net_->parameters()) best_weights.push_back(p.detach().clone());
      } else {
        stop = o.patience > 0 && ++since_best >= o.patience;
      }
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (on_epoch) on_epoch(report);
    if (stop) break;
  }
  if (!best_weights.empty()) {
    torch::NoGradGuard no_grad;
    auto params = net_->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_weights[i]);
  }
  net_->eval();
}

namespace {

// The final distribution over the extended vocabulary, as log-probabilities:
// [B, V + oovs] from a step's output and the source's extended ids [1,S].
torch::Tensor extended_log_probs(PointerGeneratorNet& net, const StepOutput& out,
                                 const torch::Tensor& source_ext, std::int64_t extended_size) {
  const auto vocab = torch::softmax(net->vocabulary_logits(out.features), 1);  // [B,V]
  const std::int64_t rows = vocab.size(0);
  auto probs = torch::zeros({rows, extended_size}, torch::kFloat);
  probs.narrow(1, 0, vocab.size(1)).copy_(out.p_gen * vocab);
  probs.scatter_add_(1, source_ext.expand({rows, source_ext.size(1)}).contiguous(),
                     (1 - out.p_gen) * out.attention);
  return torch::log(probs.clamp_min(1e-30)).contiguous();
}

std::string summary_text(const std::vector<std::int64_t>& tokens, const Vocabulary& vocabulary,
                         const std::vector<std::string>& oovs) {
  std::string out;
  const auto v = static_cast<std::int64_t>(vocabulary.size());
  for (const std::int64_t t : tokens) {
    out += t < v ? vocabulary.token(t) : oovs.at(static_cast<std::size_t>(t - v));
  }
  return out;
}

}  // namespace

Prediction PointerGeneratorStudent::greedy(const std::string& text) {
  require_trained("greedy()");
  const Source src = make_source(text);
  Prediction p;
  if (src.ids.empty()) return p;  // nothing to summarize: the empty summary, probability 1
  torch::NoGradGuard no_grad;
  net_->eval();
  const auto vocab_size = static_cast<std::int64_t>(vocabulary_.size());
  const std::int64_t extended_size = vocab_size + static_cast<std::int64_t>(src.oovs.size());
  const auto source = torch::tensor(src.ids, torch::kInt64).unsqueeze(0);           // [1,S]
  const auto source_ext = torch::tensor(src.extended, torch::kInt64).unsqueeze(0);  // [1,S]
  const auto lengths = torch::tensor({source.size(1)}, torch::kInt64);
  const Encoded encoded = net_->encode(source, lengths);
  DecoderState state = net_->start(encoded);
  std::vector<std::int64_t> tokens;
  std::int64_t previous = kBos;
  while (tokens.size() < options_.max_length) {
    const StepOutput out = net_->step(encoded, state, torch::tensor({previous}, torch::kInt64));
    const auto log_probs = extended_log_probs(net_, out, source_ext, extended_size);
    const float* lp = log_probs.data_ptr<float>();
    std::vector<float> scores(lp, lp + extended_size);
    for (const std::int64_t t : banned_next(tokens, options_)) {
      scores[static_cast<std::size_t>(t)] = -std::numeric_limits<float>::infinity();
    }
    // The first highest score, as beam search's tie order (score, then lower id).
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < extended_size; ++j) {
      if (scores[j] > scores[best]) best = j;
    }
    p.log_prob += lp[best];
    if (best == kEos) break;
    tokens.push_back(best);
    previous = best < vocab_size ? best : kUnk;
  }
  p.summary = summary_text(tokens, vocabulary_, src.oovs);
  return p;
}

Prediction PointerGeneratorStudent::beam_search(const std::string& text, int beam) {
  require_trained("beam_search()");
  if (beam < 1) throw InputError("student.beam: must be at least 1 (1 is greedy decoding)");
  const Source src = make_source(text);
  Prediction p;
  if (src.ids.empty()) return p;
  torch::NoGradGuard no_grad;
  net_->eval();
  const auto vocab_size = static_cast<std::int64_t>(vocabulary_.size());
  const std::int64_t extended_size = vocab_size + static_cast<std::int64_t>(src.oovs.size());
  const auto source = torch::tensor(src.ids, torch::kInt64).unsqueeze(0);
  const auto source_ext = torch::tensor(src.extended, torch::kInt64).unsqueeze(0);
  const auto lengths = torch::tensor({source.size(1)}, torch::kInt64);
  const Encoded one = net_->encode(source, lengths);
  DecoderState state = net_->start(one);

  struct Hypothesis {
    std::vector<std::int64_t> tokens;
    double log_prob = 0;
    bool ended = false;  // emitted <eos>
  };
  std::vector<Hypothesis> live = {Hypothesis{}}, finished;
  const auto k = static_cast<std::size_t>(beam);
  for (std::size_t length = 0; length < options_.max_length && !live.empty(); ++length) {
    const auto n = static_cast<std::int64_t>(live.size());
    Encoded encoded = one;  // the one source, seen by each live hypothesis
    encoded.memory = one.memory.expand({n, -1, -1});
    encoded.features = one.features.expand({n, -1, -1});
    encoded.mask = one.mask.expand({n, -1});
    std::vector<std::int64_t> previous;
    for (const Hypothesis& h : live) {
      const std::int64_t last = h.tokens.empty() ? kBos : h.tokens.back();
      previous.push_back(last < vocab_size ? last : kUnk);
    }
    const StepOutput out = net_->step(encoded, state, torch::tensor(previous, torch::kInt64));
    const auto log_probs = extended_log_probs(net_, out, source_ext, extended_size);  // [n, V_ext]
    const float* lp = log_probs.data_ptr<float>();

    // Candidates (row, token) ranked by total log-probability, then by position.
    std::vector<std::pair<double, std::int64_t>> candidates;
    candidates.reserve(static_cast<std::size_t>(n * extended_size));
    for (std::int64_t r = 0; r < n; ++r) {
      std::vector<bool> banned(static_cast<std::size_t>(extended_size), false);
      for (const std::int64_t t : banned_next(live[r].tokens, options_)) banned[t] = true;
      for (std::int64_t j = 0; j < extended_size; ++j) {
        if (!banned[j])
          candidates.emplace_back(live[r].log_prob + lp[r * extended_size + j],
                                  r * extended_size + j);
      }
    }
    const std::size_t keep = std::min(candidates.size(), 2 * k);
    std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end(),
                      [](const auto& a, const auto& b) {
                        return a.first != b.first ? a.first > b.first : a.second < b.second;
                      });
    std::vector<Hypothesis> next;
    std::vector<std::int64_t> rows;
    for (std::size_t i = 0; i < keep && next.size() < k; ++i) {
      const std::int64_t r = candidates[i].second / extended_size;
      const std::int64_t token = candidates[i].second % extended_size;
      Hypothesis h = live[static_cast<std::size_t>(r)];
      h.log_prob = candidates[i].first;
      if (token == kEos) {
        h.ended = true;
        finished.push_back(std::move(h));
      } else {
        h.tokens.push_back(token);
        next.push_back(std::move(h));
        rows.push_back(r);
      }
    }
    live = std::move(next);
    if (finished.size() >= k || live.empty()) break;
    const auto index = torch::tensor(rows, torch::kInt64);
    state.h = state.h.index_select(0, index);
    state.c = state.c.index_select(0, index);
    state.context = state.context.index_select(0, index);
    state.coverage = state.coverage.index_select(0, index);
  }
  // Summaries cut by max_length compete only when too few ended.
  if (finished.size() < k) {
    for (Hypothesis& h : live) finished.push_back(std::move(h));
  }
  const auto score = [&](const Hypothesis& h) {
    const double length = static_cast<double>(h.tokens.size() + (h.ended ? 1 : 0));
    return h.log_prob / std::pow(std::max(1.0, length), options_.length_penalty);
  };
  const Hypothesis* best = &finished.front();
  for (const Hypothesis& h : finished) {
    if (score(h) > score(*best)) best = &h;
  }
  p.summary = summary_text(best->tokens, vocabulary_, src.oovs);
  p.log_prob = best->log_prob;
  return p;
}

std::vector<Prediction> PointerGeneratorStudent::predict(const std::vector<Sample>& inputs) {
  require_trained("predict()");
  student_internal::set_torch_threads(common_);  // no reseeding: decoding draws nothing
  std::vector<Prediction> out;
  out.reserve(inputs.size());
  for (const Sample& s : inputs) {
    out.push_back(options_.beam <= 1 ? greedy(s.text) : beam_search(s.text, options_.beam));
  }
  return out;
}

void PointerGeneratorStudent::save_files(const std::string& dir) const {
  require_trained("save");
  vocabulary_.save(dir + "/vocab.json");
  student_internal::save_module(*net_, dir + "/weights.pt");
}

void PointerGeneratorStudent::load_files(const std::string& dir) {
  vocabulary_ = Vocabulary::load(dir + "/vocab.json");
  for (std::size_t i = 0; i < kSpecials.size(); ++i) {
    if (vocabulary_.size() <= i ||
        vocabulary_.token(static_cast<std::int64_t>(i)) != kSpecials[i]) {
      throw InputError(dir + "/vocab.json: does not start with <pad>, <unk>, <bos>, <eos>");
    }
  }
  build_net();
  student_internal::load_module(*net_, dir + "/weights.pt");
  net_->eval();
}

std::unique_ptr<Student> make_pointer_generator(const nlohmann::json& options) {
  return std::make_unique<PointerGeneratorStudent>(options);
}

}  // namespace weakdistill::neural
