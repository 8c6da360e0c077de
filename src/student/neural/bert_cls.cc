// The `bert-cls` classifier: a pretrained BERT / ERNIE encoder (bert.h)
// fine-tuned with a linear layer on top, as Hugging Face's
// BertForSequenceClassification:
//   h = pooled(text)  (tanh(Dense(CLS)); `pooling: cls` takes the CLS state, `mean` the tokens'
//   mean) y = W dropout(h) + b   [C] label scores; softmax: label probabilities
// trained on cross-entropy with AdamW, linear warm-up and decay (bert_finetune.h).
//
// With fine_tune: false, `path` is a sequence-classification folder (a transformers
// *ForSequenceClassification, or a bert-cls export) used as it is: train() reads its
// encoder, pooler and classifier and its labels (config.json's id2label), and trains nothing.
//
// Model folder: weights.pt (encoder and head), labels.json, and the pretrained
// folder's config.json, vocab.txt (and tokenizer_config.json), so that it loads
// without the pretrained folder.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <numeric>
#include <set>

#include "bert.h"
#include "bert_export.h"
#include "bert_finetune.h"
#include "bert_head.h"
#include "kinds_internal.h"
#include "neural_kinds.h"
#include "torch_util.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"
#include "weakdistill/text/vocabulary.h"

namespace weakdistill::neural {
namespace {

using student_internal::BertEncoder;
using student_internal::BertFineTuneOptions;

constexpr const char* kExportReadme = R"(# A bert-cls student exported by weakdistill

A Hugging Face transformers `{0}ForSequenceClassification`: the fine-tuned encoder, its pooler
and a linear classifier over the labels {2} (`config.json`'s `id2label`). It gives the label
probabilities weakdistill's `predict` gives (checked to 1e-4 by weakdistill's tests, with a
reader written from transformers' equations):

    from transformers import AutoTokenizer, AutoModelForSequenceClassification
    tok = AutoTokenizer.from_pretrained("THIS_FOLDER")
    model = AutoModelForSequenceClassification.from_pretrained("THIS_FOLDER").eval()
    batch = tok(["...", "..."], padding=True, truncation=True, return_tensors="pt")
    probs = model(**batch).logits.softmax(-1)

Texts are cut to {1} tokens, [CLS] and [SEP] included (`model_max_length`), as weakdistill cut
them; pass `truncation=True`. Weights are float32 (`model.safetensors`).

The folder is also a pretrained starting point for weakdistill (`student.path`): the encoder is
read and the classifier is left aside. With `--set fine_tune=false` weakdistill uses it as it is
(encoder, pooler, classifier and labels), training nothing.
)";

class BertClassifierImpl : public torch::nn::Module {
 public:
  BertClassifierImpl(BertEncoder encoder, std::int64_t labels, double dropout, std::string pooling)
      : pooling_(std::move(pooling)) {
    encoder_ = register_module("encoder", std::move(encoder));
    dropout_ = register_module("dropout", torch::nn::Dropout(dropout));
    out_ = register_module("out", torch::nn::Linear(encoder_->config().hidden_size, labels));
    torch::NoGradGuard no_grad;
    out_->weight.normal_(0, 0.02);
    out_->bias.zero_();
  }

  // Label scores [B, C].
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask) {
    torch::Tensor h;
    if (pooling_ == "mean") {  // over the tokens
      const torch::Tensor hidden = encoder_(ids, mask);
      const torch::Tensor m = mask.unsqueeze(2).to(hidden.dtype());
      h = (hidden * m).sum(1) / m.sum(1);
    } else {
      h = encoder_->forward_cls(ids, mask);
      if (pooling_ == "pooler") h = encoder_->pool(h);
    }
    return out_(dropout_(h));
  }

  BertEncoder& encoder() { return encoder_; }
  const BertEncoder& encoder() const { return encoder_; }
  torch::nn::Linear& out() { return out_; }
  const torch::nn::Linear& out() const { return out_; }

 private:
  std::string pooling_;
  BertEncoder encoder_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(BertClassifier);

class BertClsStudent : public Student {
 public:
  explicit BertClsStudent(const nlohmann::json& options) {
    OptionReader r(options, "student");
    common_ = student_internal::read_common(r);
    student_internal::read_bert_finetune_options(r, options_);
    r.get("pooling", pooling_);
    r.get("fine_tune", fine_tune_);
    r.finish();
    max_length_given_ = options.contains("max_length");
    if (options_.path.empty())
      r.fail("path",
             "required: a Hugging Face BERT folder (config.json, vocab.txt, model.safetensors)");
    if (pooling_ != "pooler" && pooling_ != "cls" && pooling_ != "mean") {
      r.fail("pooling", "must be pooler, cls or mean, not \"" + pooling_ + "\"");
    }
    if (!fine_tune_ && pooling_ != "pooler") {
      r.fail("pooling",
             "must be pooler with fine_tune=false: the checkpoint's classifier reads the "
             "pooler's output, as in transformers' BertForSequenceClassification");
    }
  }

  Task task() const override { return Task::kClassification; }
  std::string_view kind() const override { return "bert-cls"; }

  std::vector<std::string> labels() const override { return labels_.tokens(); }

  nlohmann::json options() const override {
    nlohmann::json j = student_internal::bert_finetune_json(options_);
    j["pooling"] = pooling_;
    j["fine_tune"] = fine_tune_;
    j["seed"] = common_.seed;
    j["threads"] = common_.threads;
    return j;
  }

  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override {
    net_ = nullptr;
    if (!fine_tune_) return use_as_is(train);
    const std::set<std::string> names = student_internal::training_labels(train, "bert-cls");
    student_internal::configure_torch(common_);
    student_internal::PretrainedBert bert =
        student_internal::load_pretrained_bert_option("student.path", options_.path);
    folder_ = bert.folder;
    tokenizer_ = bert.tokenizer;
    labels_ = Vocabulary();
    for (const std::string& n : names) labels_.add(n);
    BertClassifier net(bert.encoder, static_cast<std::int64_t>(labels_.size()), options_.dropout,
                       pooling_);

    std::vector<std::vector<std::int64_t>> ids;
    std::vector<std::int64_t> gold;
    for (const Sample& s : train) {
      ids.push_back(tokenizer_->encode_ids(s.text, max_length(bert.config)));
      gold.push_back(labels_.id(s.label));
    }
    const int epochs = student_internal::bert_epochs(options_, train.size());
    const auto batch = static_cast<std::size_t>(options_.batch_size);
    const std::size_t per_epoch = (train.size() + batch - 1) / batch;
    student_internal::BertOptimizer optimizer(*net->encoder(), {net->out()->weight},
                                              {net->out()->bias}, options_,
                                              static_cast<std::int64_t>(per_epoch) * epochs);
    Rng rng(common_.seed);
    std::vector<std::size_t> order(train.size());
    std::iota(order.begin(), order.end(), 0);
    student_internal::EpochTracker tracker(options_, epochs, !dev.empty());
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      tracker.start();
      rng.shuffle(order);
      net->train();
      double loss_sum = 0;
      Progress progress(fmt::format("epoch {}/{}", epoch, epochs), train.size(), "samples");
      for (std::size_t start = 0; start < order.size(); start += batch) {
        const std::size_t end = std::min(order.size(), start + batch);
        std::vector<std::vector<std::int64_t>> rows;
        std::vector<std::int64_t> targets;
        for (std::size_t k = start; k < end; ++k) {
          rows.push_back(ids[order[k]]);
          targets.push_back(gold[order[k]]);
        }
        const auto [x, mask] = student_internal::pad_ids(rows, tokenizer_->pad_id());
        const torch::Tensor loss = torch::nn::functional::cross_entropy(
            net(x, mask), torch::tensor(targets, torch::kInt64));
        loss.backward();
        optimizer.step();
        loss_sum += loss.item<double>() * static_cast<double>(end - start);
        progress.advance(end - start,
                         fmt::format("loss {:.4f}", loss_sum / static_cast<double>(end)));
      }
      progress.finish();
      const EpochReport report = tracker.finish(
          epoch, loss_sum / static_cast<double>(train.size()),
          [&] {
            return student_internal::dev_metric(Task::kClassification, dev, infer(*net, dev));
          },
          net->parameters());
      if (on_epoch) on_epoch(report);
    }
    tracker.restore_best(net->parameters());
    net->eval();
    config_ = bert.config;
    net_ = net;
  }

  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    if (!net_) throw std::logic_error("bert-cls: predict() before train() or load");
    student_internal::set_torch_threads(common_);
    return infer(*net_, inputs);
  }

  void save_files(const std::string& dir) const override {
    if (!net_) throw std::logic_error("bert-cls: save before train() or load");
    student_internal::copy_bert_files(folder_, dir);
    labels_.save(dir + "/labels.json");
    student_internal::save_module(*net_, dir + "/weights.pt");
  }

  void load_files(const std::string& dir) override {
    net_ = nullptr;
    student_internal::PretrainedBert bert = student_internal::load_pretrained_bert(dir, false);
    labels_ = Vocabulary::load(dir + "/labels.json");
    if (labels_.size() < 2) throw InputError(dir + "/labels.json: fewer than two labels");
    BertClassifier net(bert.encoder, static_cast<std::int64_t>(labels_.size()), options_.dropout,
                       pooling_);
    student_internal::load_module(*net, dir + "/weights.pt");
    net->eval();
    folder_ = student_internal::BertFolder{dir + "/config.json", dir + "/vocab.txt", "",
                                           bert.folder.tokenizer_config_path};
    tokenizer_ = bert.tokenizer;
    config_ = bert.config;
    net_ = net;
  }

  void export_files(std::string_view format, const std::string& dir) const override {
    if (format != "hf") Student::export_files(format, dir);
    if (!net_) throw std::logic_error("bert-cls: export before train() or load");
    if (pooling_ != "pooler") {
      throw InputError(
          "export: this bert-cls student was trained with pooling: " + pooling_ +
          "; transformers' BertForSequenceClassification classifies the pooler's output "
          "(pooling: pooler), so the exported model would not predict what this one does. "
          "Train it again with --set pooling=pooler to export it");
    }
    student_internal::BertExport e;
    e.head = "ForSequenceClassification";
    e.labels = labels_.tokens();
    e.classifier_weight = net_->out()->weight;
    e.classifier_bias = net_->out()->bias;
    e.max_length = static_cast<std::int64_t>(max_length(config_));
    e.readme = fmt::format(kExportReadme, config_.model_type == "ernie" ? "Ernie" : "Bert",
                           e.max_length, fmt::join(e.labels, ", "));
    student_internal::write_bert_export(*net_->encoder(), folder_, *tokenizer_, e, dir);
  }

 private:
  // fine_tune=false: the folder's encoder, pooler and classifier, with id2label's labels in id
  // order. `train` is only checked: a label the model does not have is an InputError.
  void use_as_is(const std::vector<Sample>& train) {
    student_internal::configure_torch(common_);
    student_internal::PretrainedBert bert =
        student_internal::load_pretrained_bert_option("student.path", options_.path);
    const std::string where = "student.path: " + options_.path;
    student_internal::HfHead head =
        student_internal::read_hf_head_option(options_.path, bert.config.hidden_size, false);
    if (!bert.report.pooler_loaded) {
      throw InputError(student_internal::hf_head_error(
          where, "its model.safetensors has no pooler, whose output the classifier reads"));
    }
    if (head.labels.size() < 2) {
      throw InputError(
          student_internal::hf_head_error(where, "id2label has fewer than two labels"));
    }
    labels_ = Vocabulary();
    for (const std::string& l : head.labels) labels_.add(l);
    std::set<std::string> unknown;
    for (const Sample& s : train) {
      if (!s.label.empty() && labels_.id(s.label) < 0) unknown.insert(s.label);
    }
    if (!unknown.empty()) {
      throw InputError(fmt::format(
          "bert-cls: fine_tune=false: the training data has label(s) {} that {} cannot predict "
          "(its labels: {}); rename them to the model's, or leave those samples out",
          fmt::join(unknown, ", "), options_.path, fmt::join(head.labels, ", ")));
    }
    if (!max_length_given_ && head.model_max_length > 0) {
      options_.max_length = static_cast<int>(head.model_max_length);
    }
    BertClassifier net(bert.encoder, static_cast<std::int64_t>(labels_.size()), options_.dropout,
                       pooling_);
    {
      torch::NoGradGuard no_grad;
      net->out()->weight.copy_(head.weight);
      net->out()->bias.copy_(head.bias);
    }
    net->eval();
    folder_ = bert.folder;
    tokenizer_ = bert.tokenizer;
    config_ = bert.config;
    net_ = net;
  }

  std::size_t max_length(const student_internal::BertConfig& c) const {
    return static_cast<std::size_t>(
        std::min<std::int64_t>(options_.max_length, c.max_position_embeddings));
  }

  // Predictions in eval mode (restored afterwards), similar lengths batched together.
  std::vector<Prediction> infer(BertClassifierImpl& net, const std::vector<Sample>& inputs) const {
    const bool was_training = net.is_training();
    net.eval();
    torch::InferenceMode inference;
    std::vector<std::vector<std::int64_t>> ids;
    for (const Sample& s : inputs) {
      ids.push_back(tokenizer_->encode_ids(s.text, max_length(net.encoder()->config())));
    }
    std::vector<std::size_t> order(inputs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return ids[a].size() < ids[b].size(); });
    std::vector<Prediction> out(inputs.size());
    constexpr std::size_t kBatch = 64;
    for (std::size_t start = 0; start < order.size(); start += kBatch) {
      const std::size_t end = std::min(order.size(), start + kBatch);
      std::vector<std::vector<std::int64_t>> rows;
      for (std::size_t k = start; k < end; ++k) rows.push_back(ids[order[k]]);
      const auto [x, mask] = student_internal::pad_ids(rows, tokenizer_->pad_id());
      const torch::Tensor probs = torch::softmax(net.forward(x, mask).to(torch::kFloat64), 1);
      const auto p = probs.accessor<double, 2>();
      for (std::size_t k = start; k < end; ++k) {
        const auto row = static_cast<std::int64_t>(k - start);
        Prediction& pred = out[order[k]];
        std::int64_t best = 0;  // ties: the first label in the model's order
        for (std::int64_t j = 0; j < p.size(1); ++j) {
          pred.label_probs[labels_.token(j)] = p[row][j];
          if (p[row][j] > p[row][best]) best = j;
        }
        pred.label = labels_.token(best);
      }
    }
    if (was_training) net.train();
    return out;
  }

  BertFineTuneOptions options_;
  std::string pooling_ = "pooler";  // pooler (BertForSequenceClassification), cls or mean
  // false: `path` is a fine-tuned sequence classifier, used as it is (no training).
  bool fine_tune_ = true;
  // Whether the options set max_length; with fine_tune=false, unset means the folder's
  // tokenizer_config.json model_max_length (when it has a usable one).
  bool max_length_given_ = false;
  CommonOptions common_;
  student_internal::BertFolder folder_;
  student_internal::BertConfig config_;
  std::shared_ptr<BertTokenizer> tokenizer_;
  Vocabulary labels_;  // in name order; with fine_tune=false, in the folder's id2label order
  BertClassifier net_{nullptr};
};

}  // namespace

std::unique_ptr<Student> make_bert_cls(const nlohmann::json& options) {
  return std::make_unique<BertClsStudent>(options);
}

}  // namespace weakdistill::neural
