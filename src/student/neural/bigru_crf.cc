// The `bigru-crf` ner student: character and character-bigram embeddings, a
// bidirectional GRU, a linear layer to tag scores and a BIO-constrained
// linear-chain CRF (crf.h), trained with Adam on the CRF's negative
// log-likelihood.
//
// Layer order, per sentence of n characters c_0..c_{n-1} (c_{-1} = <s>, c_n = </s>):
//   x_i = dropout([char(c_i); bigram(c_{i-1}c_i); bigram(c_i c_{i+1})])
//   h_i = dropout(BiGRU(x)_i)        [2·hidden]
//   e_i = W h_i + b                  [T] tag scores, the CRF's emissions
//   y   = Viterbi(e) under the CRF   tags O, B-X, I-X for the train set's types X
//
// Model folder: weights.pt (parameters), chars.json, bigrams.json and
// tags.json (Vocabulary files), beside model.json with the options.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <set>

#include "crf.h"
#include "kinds_internal.h"
#include "neural_kinds.h"
#include "torch_util.h"
#include "weakdistill/core/bio.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"
#include "weakdistill/text/vocabulary.h"

namespace weakdistill::neural {
namespace {

using student_internal::Crf;

struct BiGruCrfOptions {
  // Size of a character embedding.
  int char_dim = 100;
  // Size of a character-bigram embedding; each character gets its left and its
  // right bigram. 0 turns bigrams off.
  int bigram_dim = 50;
  // Hidden units of the GRU in each direction.
  int hidden = 128;
  // Stacked GRU layers (dropout applies between them too).
  int layers = 1;
  // Dropout on the embeddings and on the GRU output, while training.
  double dropout = 0.3;
  // Passes over the training set; 0 (auto) is 30, raised for small sets to
  // reach 400 mini-batch updates (100 sentences at batch 32: 100 epochs).
  int epochs = 0;
  // Sentences per mini-batch.
  int batch_size = 32;
  // Adam learning rate.
  double lr = 0.002;
  // Largest global L2 norm of the gradient (clipped above it); 0 = no clipping.
  double clip = 5.0;
  // Characters and bigrams seen fewer times in train share <unk>.
  int min_count = 2;
  // With a dev set: keep the weights of the epoch with the best dev entity F1
  // (the first on ties) rather than those of the last epoch.
  bool keep_best = true;
  // Score dev (and consider keeping the weights) every this many epochs; 0 (auto) is every
  // epoch up to 100 epochs, else about 25 times in all. A handful of sentences get hundreds
  // of one-batch epochs (kAutoSteps), where scoring dev each time costs 100x the training.
  int dev_every = 0;
};

constexpr int kAutoEpochs = 30;  // epochs 0: at least this many epochs,
constexpr int kAutoSteps = 400;  // and at least this many updates

constexpr const char* kPad = "<pad>";  // id 0, also the GRU's padding
constexpr const char* kUnk = "<unk>";  // id 1
constexpr std::int64_t kUnkId = 1;

// A sentence as ids: chars, left and right bigrams and (training) gold tags, each [n].
struct Encoded {
  std::vector<std::int64_t> chars, left, right, tags;
};

// A padded mini-batch, batch-first. Tensors are [B, L] (tags and mask only for
// training); reverse[b][t] = n_b - 1 - t within sentence b, t past it.
struct Batch {
  torch::Tensor chars, left, right, reverse, tags, mask;
  std::vector<std::int64_t> lengths;
};

// A bidirectional GRU over a padded, left-aligned batch, without packing: the
// backward direction reads each sentence reversed within its own length, so
// padding never reaches a sentence's states and each sentence's output is the
// same in any batch. Why not packed sequences: they compute the same, but
// ATen's CPU backward of a packed GRU materialises every time step's gradient
// at the size of the whole batch, which is quadratic in the length (measured:
// 2x slower epochs on data/ner, worse on long sentences). Layers > 1 feed both
// directions to the next, as torch::nn::GRU(bidirectional) does, with dropout
// between layers.
class BiGruImpl : public torch::nn::Module {
 public:
  BiGruImpl(std::int64_t input, std::int64_t hidden, int layers, double dropout)
      : dropout_(dropout) {
    for (int l = 0; l < layers; ++l) {
      const std::int64_t in = l == 0 ? input : 2 * hidden;
      const auto gru = [&] {
        return torch::nn::GRU(torch::nn::GRUOptions(in, hidden).batch_first(true));
      };
      forward_.push_back(register_module("forward" + std::to_string(l), gru()));
      backward_.push_back(register_module("backward" + std::to_string(l), gru()));
    }
  }

  // x [B, L, input] and reverse [B, L] int64, where reverse[b][t] is
  // n_b - 1 - t inside sentence b (length n_b) and t past it. Returns
  // [B, L, 2·hidden]: forward states, then backward states.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& reverse) {
    for (std::size_t l = 0; l < forward_.size(); ++l) {
      if (l > 0) x = torch::dropout(x, dropout_, is_training());
      const torch::Tensor index = reverse.unsqueeze(2).expand({-1, -1, x.size(2)});
      const torch::Tensor ahead = std::get<0>(forward_[l]->forward(x));  // [B, L, H]
      const torch::Tensor back = std::get<0>(backward_[l]->forward(x.gather(1, index)));
      x = torch::cat({ahead, back.gather(1, reverse.unsqueeze(2).expand({-1, -1, back.size(2)}))},
                     2);
    }
    return x;
  }

 private:
  double dropout_;
  std::vector<torch::nn::GRU> forward_, backward_;
};
TORCH_MODULE(BiGru);

class TaggerImpl : public torch::nn::Module {
 public:
  TaggerImpl(std::int64_t chars, std::int64_t bigrams, std::int64_t tags, const BiGruCrfOptions& o)
      : bigrams_on_(o.bigram_dim > 0) {
    char_emb_ = register_module(
        "char_emb",
        torch::nn::Embedding(torch::nn::EmbeddingOptions(chars, o.char_dim).padding_idx(0)));
    if (bigrams_on_) {
      bigram_emb_ = register_module(
          "bigram_emb",
          torch::nn::Embedding(torch::nn::EmbeddingOptions(bigrams, o.bigram_dim).padding_idx(0)));
    }
    dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout));
    gru_ =
        register_module("gru", BiGru(o.char_dim + 2 * o.bigram_dim, o.hidden, o.layers, o.dropout));
    out_ = register_module("out", torch::nn::Linear(2 * o.hidden, tags));
    crf_ = register_module("crf", Crf(tags));
  }

  // Tag scores [B, L, T] of a batch; positions past a sentence's end hold
  // garbage and must be masked.
  torch::Tensor emissions(const Batch& b) {
    torch::Tensor x = char_emb_(b.chars);  // [B, L, char_dim]
    if (bigrams_on_) x = torch::cat({x, bigram_emb_(b.left), bigram_emb_(b.right)}, 2);
    const torch::Tensor h = gru_(dropout_(x), b.reverse);  // [B, L, 2·hidden]
    return out_(dropout_(h));
  }

  Crf& crf() { return crf_; }

 private:
  bool bigrams_on_;
  torch::nn::Embedding char_emb_{nullptr}, bigram_emb_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  BiGru gru_{nullptr};
  torch::nn::Linear out_{nullptr};
  Crf crf_{nullptr};
};
TORCH_MODULE(Tagger);

std::vector<std::string> bigrams_of(const std::vector<std::string>& chars) {
  // n+1 bigrams; character i's left bigram is [i], its right one [i+1].
  std::vector<std::string> out;
  out.reserve(chars.size() + 1);
  for (std::size_t i = 0; i <= chars.size(); ++i) {
    out.push_back((i == 0 ? std::string("<s>") : chars[i - 1]) +
                  (i == chars.size() ? std::string("</s>") : chars[i]));
  }
  return out;
}

Batch make_batch(const std::vector<const Encoded*>& items, bool with_tags) {
  std::vector<std::vector<std::int64_t>> chars, left, right, tags;
  for (const Encoded* e : items) {
    chars.push_back(e->chars);
    left.push_back(e->left);
    right.push_back(e->right);
    if (with_tags) tags.push_back(e->tags);
  }
  Batch b;
  b.chars = student_internal::pad_batch(chars, 0, &b.lengths);
  b.left = student_internal::pad_batch(left, 0);
  b.right = student_internal::pad_batch(right, 0);
  b.reverse = torch::arange(b.chars.size(1), torch::kInt64).repeat({b.chars.size(0), 1});
  auto reverse = b.reverse.accessor<std::int64_t, 2>();
  for (std::size_t i = 0; i < b.lengths.size(); ++i) {
    for (std::int64_t t = 0; t < b.lengths[i]; ++t) reverse[i][t] = b.lengths[i] - 1 - t;
  }
  if (with_tags) {
    b.tags = student_internal::pad_batch(tags, 0);  // tag 0 is O, allowed anywhere
    b.mask = b.chars.ne(0);
  }
  return b;
}

class BiGruCrfStudent : public Student {
 public:
  explicit BiGruCrfStudent(const nlohmann::json& options) {
    OptionReader r(options, "student");
    common_ = student_internal::read_common(r);
    auto& o = options_;
    r.get("char_dim", o.char_dim);
    r.get("bigram_dim", o.bigram_dim);
    r.get("hidden", o.hidden);
    r.get("layers", o.layers);
    r.get("dropout", o.dropout);
    r.get("epochs", o.epochs);
    r.get("batch_size", o.batch_size);
    r.get("lr", o.lr);
    r.get("clip", o.clip);
    r.get("min_count", o.min_count);
    r.get("keep_best", o.keep_best);
    r.get("dev_every", o.dev_every);
    r.finish();
    const std::string& c = r.context();
    auto require = [&](bool ok, const char* key, const char* what) {
      if (!ok) throw InputError(c + "." + key + ": " + what);
    };
    require(o.char_dim >= 1, "char_dim", "must be 1 or more");
    require(o.bigram_dim >= 0, "bigram_dim", "must be 0 (no bigrams) or more");
    require(o.hidden >= 1, "hidden", "must be 1 or more");
    require(o.layers >= 1, "layers", "must be 1 or more");
    require(o.dropout >= 0 && o.dropout < 1, "dropout", "must be in [0, 1)");
    require(o.epochs >= 0, "epochs", "must be 0 (auto) or more");
    require(o.batch_size >= 1, "batch_size", "must be 1 or more");
    require(o.lr > 0, "lr", "must be more than 0");
    require(o.clip >= 0, "clip", "must be 0 (no clipping) or more");
    require(o.min_count >= 1, "min_count", "must be 1 or more");
    require(o.dev_every >= 0, "dev_every", "must be 0 (auto) or more");
  }

  Task task() const override { return Task::kNer; }
  std::string_view kind() const override { return "bigru-crf"; }

  std::vector<std::string> labels() const override {
    std::vector<std::string> types;  // from B-X, in tag order
    for (const std::string& t : tags_.tokens()) {
      if (t.starts_with("B-")) types.push_back(t.substr(2));
    }
    return types;
  }

  nlohmann::json options() const override {
    const auto& o = options_;
    return {{"char_dim", o.char_dim},
            {"bigram_dim", o.bigram_dim},
            {"hidden", o.hidden},
            {"layers", o.layers},
            {"dropout", o.dropout},
            {"epochs", o.epochs},
            {"batch_size", o.batch_size},
            {"lr", o.lr},
            {"clip", o.clip},
            {"min_count", o.min_count},
            {"keep_best", o.keep_best},
            {"dev_every", o.dev_every},
            {"seed", common_.seed},
            {"threads", common_.threads}};
  }

  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override {
    net_ = Tagger(nullptr);  // a failed train() leaves no half-replaced model
    if (train.empty()) throw InputError("bigru-crf: no training samples");
    student_internal::configure_torch(common_);
    build_vocabularies(train);
    net_ =
        Tagger(static_cast<std::int64_t>(chars_.size()), static_cast<std::int64_t>(bigrams_.size()),
               static_cast<std::int64_t>(tags_.size()), options_);
    net_->crf()->set_allowed(student_internal::bio_allowed(tags_.tokens()));

    std::vector<Encoded> data;
    for (const Sample& s : train) {
      Encoded e = encode(s.text);
      if (e.chars.empty()) continue;
      std::vector<std::string> tags = to_bio_tags(e.chars.size(), s.entities);
      for (std::size_t i = 0; i < tags.size(); ++i) {
        // Overlapping entities can leave an I-X that continues no X; the CRF
        // gives such a path probability 0 (an infinite loss), so it starts an X.
        const std::string& before = i > 0 ? tags[i - 1] : "O";
        if (tags[i][0] == 'I' && before.substr(1) != tags[i].substr(1)) tags[i][0] = 'B';
        e.tags.push_back(tags_.id(tags[i]));
      }
      data.push_back(std::move(e));
    }
    if (data.empty()) throw InputError("bigru-crf: every training text is empty");
    // Fixed batches of similar lengths (sorted by length, then input order);
    // their order is shuffled every epoch. Little padding, and the same
    // batches for any implementation of this recipe (bench/bigru_crf_reference.py).
    std::vector<std::size_t> order(data.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return data[a].chars.size() < data[b].chars.size();
    });
    std::vector<Batch> batches;
    for (std::size_t start = 0; start < order.size(); start += options_.batch_size) {
      std::vector<const Encoded*> items;
      for (std::size_t k = start; k < std::min(order.size(), start + options_.batch_size); ++k) {
        items.push_back(&data[order[k]]);
      }
      batches.push_back(make_batch(items, true));
    }

    torch::optim::Adam adam(net_->parameters(), torch::optim::AdamOptions(options_.lr));
    Rng rng(common_.seed);
    std::vector<std::size_t> batch_order(batches.size());
    std::iota(batch_order.begin(), batch_order.end(), 0);
    double best_f1 = -1;
    std::vector<torch::Tensor> best_weights;
    const int epochs =
        options_.epochs > 0
            ? options_.epochs
            : std::max<int>(kAutoEpochs, (kAutoSteps + batches.size() - 1) / batches.size());
    const int dev_every = options_.dev_every > 0 ? options_.dev_every
                          : epochs <= 100         ? 1
                                                  : (epochs + 24) / 25;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      const auto started = std::chrono::steady_clock::now();
      rng.shuffle(batch_order);
      net_->train();
      double loss_sum = 0;
      std::size_t seen = 0;
      Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs),
                        data.size(), "samples");
      for (std::size_t k : batch_order) {
        const Batch& b = batches[k];
        adam.zero_grad();
        const torch::Tensor nll = net_->crf()->nll(net_->emissions(b), b.tags, b.mask);  // [B]
        nll.mean().backward();
        if (options_.clip > 0) torch::nn::utils::clip_grad_norm_(net_->parameters(), options_.clip);
        adam.step();
        loss_sum += nll.sum().item<double>();
        seen += b.lengths.size();
        progress.advance(b.lengths.size(), fmt::format("loss {:.4f}", loss_sum / seen));
      }
      progress.finish();

      EpochReport report;
      report.epoch = epoch;
      report.epochs = epochs;
      report.train_loss = loss_sum / static_cast<double>(data.size());
      if (!dev.empty() && (epoch % dev_every == 0 || epoch == epochs)) {
        std::tie(report.dev_metric, report.dev_metric_name) =
            student_internal::dev_metric(Task::kNer, dev, predict(dev));
        if (options_.keep_best && report.dev_metric > best_f1) {
          best_f1 = report.dev_metric;
          best_weights.clear();
          for (const auto& p : net_->parameters()) best_weights.push_back(p.detach().clone());
        }
      }
      report.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (on_epoch) on_epoch(report);
    }
    if (!best_weights.empty()) {
      torch::NoGradGuard no_grad;
      auto params = net_->parameters();
      for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_weights[i]);
    }
    net_->eval();
  }

  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    if (!net_) throw std::logic_error("bigru-crf: predict() before train() or load");
    student_internal::set_torch_threads(common_);
    const bool was_training = net_->is_training();
    net_->eval();
    torch::NoGradGuard no_grad;
    std::vector<Prediction> out(inputs.size());
    std::vector<Encoded> encoded;
    std::vector<std::vector<std::string>> chars;
    std::vector<std::size_t> order;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      chars.push_back(split_chars(inputs[i].text));
      encoded.push_back(encode_chars(chars.back()));
      if (!encoded.back().chars.empty()) order.push_back(i);  // empty text: no entities, log p = 0
    }
    // Similar lengths together: less padding; results do not depend on the batch.
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return encoded[a].chars.size() < encoded[b].chars.size();
    });
    constexpr std::size_t kBatch = 64;
    for (std::size_t start = 0; start < order.size(); start += kBatch) {
      std::vector<const Encoded*> items;
      const std::size_t end = std::min(order.size(), start + kBatch);
      for (std::size_t k = start; k < end; ++k) items.push_back(&encoded[order[k]]);
      const Batch b = make_batch(items, false);
      const auto decoded = net_->crf()->decode(net_->emissions(b), b.lengths);
      for (std::size_t k = start; k < end; ++k) {
        const auto& d = decoded[k - start];
        Prediction& p = out[order[k]];
        p.entities = entities_of(d.tags, chars[order[k]]);
        p.log_prob = d.score - d.log_z;
      }
    }
    if (was_training) net_->train();
    return out;
  }

  void save_files(const std::string& dir) const override {
    if (!net_) throw std::logic_error("bigru-crf: save before train() or load");
    chars_.save(dir + "/chars.json");
    bigrams_.save(dir + "/bigrams.json");
    tags_.save(dir + "/tags.json");
    student_internal::save_module(*net_, dir + "/weights.pt");
  }

  void load_files(const std::string& dir) override {
    chars_ = Vocabulary::load(dir + "/chars.json");
    bigrams_ = Vocabulary::load(dir + "/bigrams.json");
    tags_ = Vocabulary::load(dir + "/tags.json");
    try {
      student_internal::bio_allowed(tags_.tokens());
    } catch (const std::invalid_argument& e) {
      throw InputError(dir + "/tags.json: " + e.what());
    }
    if (tags_.size() < 1 || tags_.token(0) != "O")
      throw InputError(dir + "/tags.json: tag 0 must be O");
    net_ =
        Tagger(static_cast<std::int64_t>(chars_.size()), static_cast<std::int64_t>(bigrams_.size()),
               static_cast<std::int64_t>(tags_.size()), options_);
    student_internal::load_module(*net_, dir + "/weights.pt");
    net_->eval();
  }

 private:
  // Chars and bigrams seen at least min_count times in train; tags O, then B-X
  // and I-X for every entity type X of train in byte order.
  void build_vocabularies(const std::vector<Sample>& train) {
    chars_ = Vocabulary({kPad, kUnk});
    bigrams_ = Vocabulary({kPad, kUnk});
    std::set<std::string> types;
    for (const Sample& s : train) {
      const auto cs = split_chars(s.text);
      for (const auto& c : cs) chars_.count(c);
      if (options_.bigram_dim > 0) {
        for (const auto& bg : bigrams_of(cs)) bigrams_.count(bg);
      }
      for (const Entity& e : s.entities) types.insert(e.type);
    }
    if (types.empty()) {
      throw InputError(
          "bigru-crf: the training samples hold no entities, so there is nothing to learn");
    }
    chars_.build(static_cast<std::size_t>(options_.min_count));
    bigrams_.build(static_cast<std::size_t>(options_.min_count));
    tags_ = Vocabulary({"O"});
    for (const auto& t : types) {
      tags_.add("B-" + t);
      tags_.add("I-" + t);
    }
  }

  Encoded encode(const std::string& text) const { return encode_chars(split_chars(text)); }

  Encoded encode_chars(const std::vector<std::string>& cs) const {
    Encoded e;
    for (const auto& c : cs) e.chars.push_back(chars_.id(c, kUnkId));
    if (options_.bigram_dim > 0) {
      const auto bg = bigrams_of(cs);
      for (std::size_t i = 0; i < cs.size(); ++i) {
        e.left.push_back(bigrams_.id(bg[i], kUnkId));
        e.right.push_back(bigrams_.id(bg[i + 1], kUnkId));
      }
    } else {
      e.left = e.right = std::vector<std::int64_t>(cs.size(), kUnkId);  // unused
    }
    return e;
  }

  // The entities of a valid BIO tag path over `chars`.
  std::vector<Entity> entities_of(const std::vector<std::int64_t>& tags,
                                  const std::vector<std::string>& chars) const {
    std::vector<Entity> out;
    for (std::size_t i = 0; i < tags.size(); ++i) {
      const std::string& tag = tags_.token(tags[i]);
      if (tag[0] == 'B') {
        out.push_back(Entity{i, i + 1, tag.substr(2), chars[i]});
      } else if (tag[0] == 'I' && !out.empty() && out.back().end == i) {
        out.back().end = i + 1;
        out.back().text += chars[i];
      }
    }
    return out;
  }

  BiGruCrfOptions options_;
  CommonOptions common_;
  Vocabulary chars_, bigrams_, tags_;
  Tagger net_{nullptr};
};

}  // namespace

std::unique_ptr<Student> make_bigru_crf(const nlohmann::json& options) {
  return std::make_unique<BiGruCrfStudent>(options);
}

}  // namespace weakdistill::neural
