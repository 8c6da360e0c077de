// The `textcnn` classifier (Kim 2014, on characters): character embeddings,
// 1-d convolutions of several widths, ReLU, max-pool over time, dropout, a
// linear layer to label scores; trained with Adam on cross-entropy.
//
// Layer order, for a batch of B texts padded to L characters (L >= the widest
// kernel, so a text shorter than every window still has one):
//   x   = embed(ids)                       [B, L, E]   (<pad> and, at start, <unk> rows are 0)
//   c_k = relu(conv_k(x^T))                [B, F, L-k+1]  for each width k
//   m_k = max over the windows of c_k that start inside max(n, k_max)
//         characters of the text (n its length)   [B, F]
//   h   = dropout(cat_k m_k)               [B, F·K]
//   y   = W h + b                          [B, C]      softmax(y): label probabilities
// The masked max pool makes a text's prediction independent of the other
// texts in its batch (and of how far the batch was padded).
//
// Model folder: weights.pt (parameters), chars.json and labels.json
// (Vocabulary files), beside model.json with the options.
#include <algorithm>
#include <chrono>
#include <limits>
#include <numeric>
#include <set>
#include <thread>

#include "char_tokens.h"
#include "kinds_internal.h"
#include "neural_kinds.h"
#include "torch_util.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"
#include "weakdistill/text/vocabulary.h"

namespace weakdistill::neural {
namespace {

struct TextCnnOptions {
  // Size of a character embedding.
  int embedding_dim = 128;
  // Widths (in characters) of the convolution kernels, one filter bank each.
  std::vector<int> kernel_sizes = {2, 3, 4};
  // Filters per kernel width.
  int filters = 100;
  // Dropout on the pooled features, while training.
  double dropout = 0.5;
  // Passes over the training set. 0 (auto) is 20, raised for small training
  // sets to reach 500 mini-batch updates (200 samples at batch 64: 125
  // epochs); on 20 samples a label of data/cls the best dev accuracy rose
  // from 0.451 (20 epochs) to 0.52.
  int epochs = 0;
  // Texts per mini-batch.
  int batch_size = 64;
  // Adam learning rate.
  double lr = 0.001;
  // Characters seen fewer times in train share <unk>.
  int min_count = 1;
  // Characters of a text read; the rest is ignored.
  int max_chars = 256;
  // With a dev set: keep the weights of the epoch with the best dev accuracy
  // (the first on ties) rather than those of the last epoch.
  bool keep_best = true;
};

constexpr const char* kPad = "<pad>";  // id 0
constexpr const char* kUnk = "<unk>";  // id 1
constexpr std::int64_t kPadId = 0;
constexpr std::int64_t kUnkId = 1;

class TextCnnImpl : public torch::nn::Module {
 public:
  TextCnnImpl(std::int64_t chars, std::int64_t labels, const TextCnnOptions& o) {
    embed_ = register_module(
        "embed", torch::nn::Embedding(
                     torch::nn::EmbeddingOptions(chars, o.embedding_dim).padding_idx(kPadId)));
    for (std::size_t i = 0; i < o.kernel_sizes.size(); ++i) {
      convs_.push_back(register_module("conv" + std::to_string(i),
                                       torch::nn::Conv1d(torch::nn::Conv1dOptions(
                                           o.embedding_dim, o.filters, o.kernel_sizes[i]))));
      widths_.push_back(o.kernel_sizes[i]);
    }
    dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout));
    out_ = register_module("out", torch::nn::Linear(static_cast<std::int64_t>(o.filters) *
                                                        static_cast<std::int64_t>(widths_.size()),
                                                    labels));
    // <unk> starts at 0 like <pad>: with min_count 1 no training text has an
    // unknown character, and a random vector would be noise at test time.
    torch::NoGradGuard no_grad;
    if (chars > kUnkId) embed_->weight[kUnkId].zero_();
  }

  // Label scores (before softmax) [B, C] of `ids` [B, L] (L >= widest kernel)
  // whose texts have `lengths` [B] characters.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& lengths) {
    const std::int64_t widest = *std::max_element(widths_.begin(), widths_.end());
    const torch::Tensor x = embed_(ids).transpose(1, 2);                // [B, E, L]
    const torch::Tensor span = lengths.clamp_min(widest).unsqueeze(1);  // [B, 1]
    std::vector<torch::Tensor> pooled;
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      torch::Tensor c = torch::relu(convs_[i](x));  // [B, F, L-k+1]
      const torch::Tensor starts =
          torch::arange(c.size(2), lengths.options()).unsqueeze(0);             // [1, T]
      const torch::Tensor outside = (starts > span - widths_[i]).unsqueeze(1);  // [B, 1, T]
      c = c.masked_fill(outside, -std::numeric_limits<float>::infinity());
      pooled.push_back(std::get<0>(c.max(2)));  // [B, F]
    }
    return out_(dropout_(torch::cat(pooled, 1)));  // [B, C]
  }

 private:
  torch::nn::Embedding embed_{nullptr};
  std::vector<torch::nn::Conv1d> convs_;
  std::vector<std::int64_t> widths_;
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(TextCnn);

class TextCnnStudent : public Student {
 public:
  explicit TextCnnStudent(const nlohmann::json& options) {
    OptionReader r(options, "student");
    common_ = student_internal::read_common(r);
    auto& o = options_;
    r.get("embedding_dim", o.embedding_dim);
    r.get("kernel_sizes", o.kernel_sizes);
    r.get("filters", o.filters);
    r.get("dropout", o.dropout);
    r.get("epochs", o.epochs);
    r.get("batch_size", o.batch_size);
    r.get("lr", o.lr);
    r.get("min_count", o.min_count);
    r.get("max_chars", o.max_chars);
    r.get("keep_best", o.keep_best);
    r.finish();
    const std::string& c = r.context();
    auto require = [&](bool ok, const char* key, const char* what) {
      if (!ok) throw InputError(c + "." + key + ": " + what);
    };
    require(o.embedding_dim >= 1, "embedding_dim", "must be 1 or more");
    require(!o.kernel_sizes.empty(), "kernel_sizes", "needs at least one width");
    for (int k : o.kernel_sizes) require(k >= 1, "kernel_sizes", "every width must be 1 or more");
    require(o.filters >= 1, "filters", "must be 1 or more");
    require(o.dropout >= 0 && o.dropout < 1, "dropout", "must be in [0, 1)");
    require(o.epochs >= 0, "epochs", "must be 0 (auto) or more");
    require(o.batch_size >= 1, "batch_size", "must be 1 or more");
    require(o.lr > 0, "lr", "must be more than 0");
    require(o.min_count >= 1, "min_count", "must be 1 or more");
    require(o.max_chars >= 1, "max_chars", "must be 1 or more");
  }

  Task task() const override { return Task::kClassification; }
  std::string_view kind() const override { return "textcnn"; }

  std::vector<std::string> labels() const override { return labels_.tokens(); }

  nlohmann::json options() const override {
    const auto& o = options_;
    return {{"embedding_dim", o.embedding_dim},
            {"kernel_sizes", o.kernel_sizes},
            {"filters", o.filters},
            {"dropout", o.dropout},
            {"epochs", o.epochs},
            {"batch_size", o.batch_size},
            {"lr", o.lr},
            {"min_count", o.min_count},
            {"max_chars", o.max_chars},
            {"keep_best", o.keep_best},
            {"seed", common_.seed},
            {"threads", common_.threads}};
  }

  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override {
    net_ = nullptr;
    const std::set<std::string> names = student_internal::training_labels(train, "textcnn");
    student_internal::configure_torch(common_);
    labels_ = Vocabulary();
    for (const std::string& n : names) labels_.add(n);
    chars_ = Vocabulary({kPad, kUnk});
    std::vector<std::vector<std::string>> tokens;
    for (const Sample& s : train) {
      tokens.push_back(read_chars(s.text));
      for (const std::string& t : tokens.back()) chars_.count(t);
    }
    chars_.build(static_cast<std::size_t>(options_.min_count));
    TextCnn net(static_cast<std::int64_t>(chars_.size()), static_cast<std::int64_t>(labels_.size()),
                options_);

    std::vector<std::vector<std::int64_t>> ids;
    std::vector<std::int64_t> gold;
    for (std::size_t i = 0; i < train.size(); ++i) {
      ids.push_back(encode(tokens[i]));
      gold.push_back(labels_.id(train[i].label));
    }

    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(options_.lr));
    Rng rng(common_.seed);
    std::vector<std::size_t> order(train.size());
    std::iota(order.begin(), order.end(), 0);
    const auto batch = static_cast<std::size_t>(options_.batch_size);
    int epochs = options_.epochs;
    if (epochs == 0) {
      constexpr std::size_t kMinSteps = 500;
      const std::size_t steps_per_epoch = (train.size() + batch - 1) / batch;
      epochs = static_cast<int>(
          std::max<std::size_t>(20, (kMinSteps + steps_per_epoch - 1) / steps_per_epoch));
    }
    double best = -1;
    std::vector<torch::Tensor> best_weights;
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      const auto started = std::chrono::steady_clock::now();
      rng.shuffle(order);
      net->train();
      double loss_sum = 0;
      Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(epochs),
                        train.size(), "samples");
      for (std::size_t start = 0; start < order.size(); start += batch) {
        const std::size_t end = std::min(order.size(), start + batch);
        std::vector<std::vector<std::int64_t>> seqs;
        std::vector<std::int64_t> targets;
        for (std::size_t k = start; k < end; ++k) {
          seqs.push_back(ids[order[k]]);
          targets.push_back(gold[order[k]]);
        }
        torch::Tensor lengths;
        const torch::Tensor x = collate(seqs, lengths);
        const torch::Tensor y = torch::tensor(targets, torch::kInt64);
        adam.zero_grad();
        const torch::Tensor loss =
            torch::nn::functional::cross_entropy(net(x, lengths), y);  // mean
        loss.backward();
        adam.step();
        loss_sum += loss.item<double>() * static_cast<double>(end - start);
        progress.advance(end - start,
                         "loss " + std::to_string(loss_sum / static_cast<double>(end)));
      }
      progress.finish();

      EpochReport report;
      report.epoch = epoch;
      report.epochs = epochs;
      report.train_loss = loss_sum / static_cast<double>(train.size());
      if (!dev.empty()) {
        std::tie(report.dev_metric, report.dev_metric_name) =
            student_internal::dev_metric(Task::kClassification, dev, infer(*net, dev));
        if (options_.keep_best && report.dev_metric > best) {
          best = report.dev_metric;
          best_weights.clear();
          for (const auto& p : net->parameters()) best_weights.push_back(p.detach().clone());
        }
      }
      report.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (on_epoch) on_epoch(report);
    }
    if (!best_weights.empty()) {
      torch::NoGradGuard no_grad;
      auto params = net->parameters();
      for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(best_weights[i]);
    }
    net->eval();
    net_ = net;
  }

  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    if (!net_) throw std::logic_error("textcnn: predict() before train() or load");
    at::set_num_threads(common_.threads > 0
                            ? common_.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    return infer(*net_, inputs);
  }

  void save_files(const std::string& dir) const override {
    if (!net_) throw std::logic_error("textcnn: save before train() or load");
    chars_.save(dir + "/chars.json");
    labels_.save(dir + "/labels.json");
    student_internal::save_module(*net_, dir + "/weights.pt");
  }

  void load_files(const std::string& dir) override {
    net_ = nullptr;
    chars_ = Vocabulary::load(dir + "/chars.json");
    labels_ = Vocabulary::load(dir + "/labels.json");
    if (chars_.size() < 2 || chars_.token(kPadId) != kPad || chars_.token(kUnkId) != kUnk) {
      throw InputError(dir + "/chars.json: does not start with " + kPad + ", " + kUnk);
    }
    if (labels_.size() < 2) throw InputError(dir + "/labels.json: fewer than two labels");
    TextCnn net(static_cast<std::int64_t>(chars_.size()), static_cast<std::int64_t>(labels_.size()),
                options_);
    student_internal::load_module(*net, dir + "/weights.pt");
    net->eval();
    net_ = net;
  }

 private:
  std::vector<std::string> read_chars(const std::string& text) const {
    std::vector<std::string> t = student_internal::char_tokens(text);
    if (t.size() > static_cast<std::size_t>(options_.max_chars)) t.resize(options_.max_chars);
    return t;
  }

  std::vector<std::int64_t> encode(const std::vector<std::string>& tokens) const {
    std::vector<std::int64_t> ids;
    ids.reserve(tokens.size());
    for (const std::string& t : tokens) ids.push_back(chars_.id(t, kUnkId));
    return ids;
  }

  // Pads `seqs` to one [B, L] tensor, L at least the widest kernel; `lengths` [B].
  torch::Tensor collate(const std::vector<std::vector<std::int64_t>>& seqs,
                        torch::Tensor& lengths) const {
    std::vector<std::int64_t> n;
    torch::Tensor x = student_internal::pad_batch(seqs, kPadId, &n);
    const std::int64_t widest =
        *std::max_element(options_.kernel_sizes.begin(), options_.kernel_sizes.end());
    if (x.size(1) < widest) {
      x = torch::cat({x, torch::full({x.size(0), widest - x.size(1)}, kPadId, torch::kInt64)}, 1);
    }
    lengths = torch::tensor(n, torch::kInt64);
    return x;
  }

  // Predictions of `net` in eval mode (restored afterwards), in batches of 256.
  std::vector<Prediction> infer(TextCnnImpl& net, const std::vector<Sample>& inputs) const {
    const bool was_training = net.is_training();
    net.eval();
    torch::NoGradGuard no_grad;
    std::vector<Prediction> out(inputs.size());
    constexpr std::size_t kBatch = 256;
    for (std::size_t start = 0; start < inputs.size(); start += kBatch) {
      const std::size_t end = std::min(inputs.size(), start + kBatch);
      std::vector<std::vector<std::int64_t>> seqs;
      for (std::size_t i = start; i < end; ++i) seqs.push_back(encode(read_chars(inputs[i].text)));
      torch::Tensor lengths;
      const torch::Tensor x = collate(seqs, lengths);
      const torch::Tensor probs =
          torch::softmax(net.forward(x, lengths).to(torch::kFloat64), 1);  // [B, C]
      const auto p = probs.accessor<double, 2>();
      for (std::size_t i = start; i < end; ++i) {
        Prediction& pred = out[i];
        std::int64_t best = 0;  // ties: the first label in name order
        for (std::int64_t j = 0; j < p.size(1); ++j) {
          const double v = p[static_cast<std::int64_t>(i - start)][j];
          pred.label_probs[labels_.token(j)] = v;
          if (v > p[static_cast<std::int64_t>(i - start)][best]) best = j;
        }
        pred.label = labels_.token(best);
      }
    }
    if (was_training) net.train();
    return out;
  }

  TextCnnOptions options_;
  CommonOptions common_;
  Vocabulary chars_;   // <pad>, <unk>, then train's characters (and kSpaceToken)
  Vocabulary labels_;  // in name order
  TextCnn net_{nullptr};
};

}  // namespace

std::unique_ptr<Student> make_textcnn(const nlohmann::json& options) {
  return std::make_unique<TextCnnStudent>(options);
}

}  // namespace weakdistill::neural
