// The `bert-ner` tagger: a pretrained BERT / ERNIE encoder (bert.h) with a
// linear layer to tag scores and a BIO-constrained linear-chain CRF (crf.h),
// fine-tuned with AdamW, linear warm-up and decay (bert_finetune.h) on the
// CRF's negative log-likelihood.
//
// Tags are per WordPiece token. A token takes part in an entity when its span
// (the code points it came from) overlaps the entity's: the first such token is
// B-X, the others I-X. A decoded run B-X I-X... becomes the entity from the
// first token's start to the last one's end. In Chinese every character is a
// token, so spans are exact; a Latin word split into pieces keeps its pieces
// together. [CLS] and [SEP] are fed to the encoder but not tagged.
//
// A text longer than max_length - 2 tokens is read in windows of that many
// tokens (token_windows.h). Training cuts it into consecutive windows whose
// borders move back to the start of an entity they would cut, so an entity is
// only cut when it is longer than a window. Prediction reads overlapping windows
// (`window_overlap` tokens shared by neighbours), CRF-decodes each, takes each
// token's tag from the window that owns it (the one reading most context on both
// sides), and reads entities off the stitched tags: an entity of up to
// window_overlap/2 + 1 tokens is decided by windows that read all of it.
//
// Prediction.log_prob is the sum over a text's windows of log p(window's
// decoded path) under that window's CRF: log p(tags) for a text of one window;
// for a longer one a confidence, not a probability of the stitched tags (the
// windows overlap and are decoded apart).
//
// With fine_tune: false, `path` is a token-classification folder (a transformers
// *ForTokenClassification, or a bert-ner export) used as it is: train() reads its encoder,
// classifier and BIO tags (config.json's id2label), the CRF's scores from crf.transitions,
// crf.start_transitions and crf.end_transitions when the file has them, else zero scores (the
// best BIO-valid path of the classifier's scores), and trains nothing.
//
// Model folder: weights.pt (encoder, head, CRF), tags.json, and the pretrained
// folder's config.json, vocab.txt (and tokenizer_config.json).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <numeric>
#include <set>

#include "bert.h"
#include "bert_export.h"
#include "bert_finetune.h"
#include "bert_head.h"
#include "crf.h"
#include "kinds_internal.h"
#include "neural_kinds.h"
#include "token_windows.h"
#include "torch_util.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"
#include "weakdistill/core/utf8.h"
#include "weakdistill/text/vocabulary.h"

namespace weakdistill::neural {
namespace {

using student_internal::BertEncoder;
using student_internal::Crf;
using student_internal::TokenWindow;

constexpr const char* kExportReadme = R"(# A bert-ner student exported by weakdistill

A Hugging Face transformers `{0}ForTokenClassification`: the fine-tuned encoder and a linear
layer giving each token a score per BIO tag ({3}; `config.json`'s `id2label`).

weakdistill decodes these scores with a linear-chain CRF, whose learned scores are in the same
`model.safetensors` under names transformers does not know (it loads the model and warns that
they were not used):

- `crf.transitions` [T, T]: `transitions[i][j]`, tag i followed by tag j;
- `crf.start_transitions` [T]: tag j starts a text; `crf.end_transitions` [T]: tag i ends it.

Plain transformers (`pipeline("token-classification")`, or `logits.argmax(-1)`) ignores them
and takes each token's best tag on its own, which can differ from weakdistill's entities: an
`I-X` after `O`, or an entity boundary the CRF would not have drawn. To get weakdistill's
entities, take the logits of the tokens between [CLS] and [SEP] as emissions e[t][j] and find
the tag path y that maximises

    start[y_0] + sum_t e[t][y_t] + sum_(t>0) transitions[y_(t-1)][y_t] + end[y_(n-1)]

over the paths BIO allows (no `I-X` first, and `I-X` only after `B-X` or `I-X`): Viterbi.
pytorch-crf's `CRF(num_tags, batch_first=True)` loads the three tensors as its state dict
(`transitions`, `start_transitions`, `end_transitions`); it knows no BIO rule, so set the
forbidden entries to -10000 first.

Texts longer than {2} tokens are read by weakdistill in windows of {2} tokens, each as
[CLS] window [SEP] ({1} tokens, `model_max_length`). Consecutive windows overlap by {4} tokens
(`config.json`'s `window_overlap`): with stride s = {2} - {4}, window k reads tokens
[k*s, k*s + {2}) until one reaches the end of the text. Each window is decoded on its own (its
own Viterbi path), and each token takes its tag from the window that owns it: window k owns
[k*s + {5}, (k+1)*s + {5}) ({5}: half the overlap, rounded down), the first from token 0 and
the last to the end. Entities are then read off the whole text's tags: B-X opens one, a
following I-X extends it, any other tag (or an I-X of another type) closes it. Weights are
float32.

The folder is also a pretrained starting point for weakdistill (`student.path`): the encoder is
read, the classifier and CRF are left aside. With `--set fine_tune=false` weakdistill uses it as
it is (encoder, classifier, CRF, tags, `model_max_length` and `window_overlap`), training nothing.
)";

class BertTaggerImpl : public torch::nn::Module {
 public:
  BertTaggerImpl(BertEncoder encoder, std::int64_t tags, double dropout) {
    encoder_ = register_module("encoder", std::move(encoder));
    dropout_ = register_module("dropout", torch::nn::Dropout(dropout));
    out_ = register_module("out", torch::nn::Linear(encoder_->config().hidden_size, tags));
    crf_ = register_module("crf", Crf(tags));
    torch::NoGradGuard no_grad;
    out_->weight.normal_(0, 0.02);
    out_->bias.zero_();
  }

  // Tag scores [B, L-2, T] of the tokens between [CLS] and [SEP] (padded
  // rows: L-2 is the longest window).
  torch::Tensor emissions(const torch::Tensor& ids, const torch::Tensor& mask) {
    const torch::Tensor hidden = encoder_(ids, mask);
    return out_(dropout_(hidden.slice(1, 1, hidden.size(1) - 1)));
  }

  BertEncoder& encoder() { return encoder_; }
  const BertEncoder& encoder() const { return encoder_; }
  torch::nn::Linear& out() { return out_; }
  const torch::nn::Linear& out() const { return out_; }
  Crf& crf() { return crf_; }
  const Crf& crf() const { return crf_; }

 private:
  BertEncoder encoder_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
  torch::nn::Linear out_{nullptr};
  Crf crf_{nullptr};
};
TORCH_MODULE(BertTagger);

// One window of a text: its tokens (without [CLS]/[SEP]) and, in training, their tags.
struct Window {
  std::size_t sample = 0;
  std::vector<BertToken> tokens;
  std::vector<std::int64_t> tags;
};

class BertNerStudent : public Student {
 public:
  explicit BertNerStudent(const nlohmann::json& options) {
    OptionReader r(options, "student");
    common_ = student_internal::read_common(r);
    options_.head_lr = 1e-3;  // the CRF's transitions start at 0 and need more than 5e-5
    options_.max_length = 256;
    student_internal::read_bert_finetune_options(r, options_);
    r.get("window_overlap", window_overlap_);
    r.get("fine_tune", fine_tune_);
    r.finish();
    max_length_given_ = options.contains("max_length");
    if (options_.path.empty())
      r.fail("path",
             "required: a Hugging Face BERT folder (config.json, vocab.txt, model.safetensors)");
    if (window_overlap_ < -1 || window_overlap_ >= options_.max_length - 2) {
      r.fail("window_overlap", fmt::format("must be -1 (auto) or 0 .. max_length - 3 ({}), not {}",
                                           options_.max_length - 3, window_overlap_));
    }
  }

  Task task() const override { return Task::kNer; }
  std::string_view kind() const override { return "bert-ner"; }

  std::vector<std::string> labels() const override {
    std::vector<std::string> types;  // from B-X, in tag order
    for (const std::string& t : tags_.tokens()) {
      if (t.starts_with("B-")) types.push_back(t.substr(2));
    }
    return types;
  }

  nlohmann::json options() const override {
    nlohmann::json j = student_internal::bert_finetune_json(options_);
    j["window_overlap"] = window_overlap_;
    j["fine_tune"] = fine_tune_;
    j["seed"] = common_.seed;
    j["threads"] = common_.threads;
    return j;
  }

  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override {
    net_ = nullptr;
    if (!fine_tune_) return use_as_is(train);
    if (train.empty()) throw InputError("bert-ner: no training samples");
    std::set<std::string> types;
    for (const Sample& s : train) {
      for (const Entity& e : s.entities) types.insert(e.type);
    }
    if (types.empty()) {
      throw InputError(
          "bert-ner: the training samples hold no entities, so there is nothing to learn");
    }
    student_internal::configure_torch(common_);
    student_internal::PretrainedBert bert =
        student_internal::load_pretrained_bert_option("student.path", options_.path);
    folder_ = bert.folder;
    tokenizer_ = bert.tokenizer;
    tags_ = Vocabulary({"O"});
    for (const auto& t : types) {
      tags_.add("B-" + t);
      tags_.add("I-" + t);
    }
    BertTagger net(bert.encoder, static_cast<std::int64_t>(tags_.size()), options_.dropout);
    net->crf()->set_allowed(student_internal::bio_allowed(tags_.tokens()));

    std::vector<Window> windows;
    const std::size_t width = window_width(bert.config);
    for (std::size_t i = 0; i < train.size(); ++i) {
      const std::vector<BertToken> tokens = tokens_of(train[i].text);
      for (const TokenWindow& tw : student_internal::training_windows(
               tokens.size(), width, entity_token_spans(tokens, train[i].entities))) {
        Window w;
        w.sample = i;
        w.tokens.assign(tokens.begin() + static_cast<std::ptrdiff_t>(tw.begin),
                        tokens.begin() + static_cast<std::ptrdiff_t>(tw.end));
        w.tags = tags_of(w.tokens, train[i].entities);
        windows.push_back(std::move(w));
      }
    }
    if (windows.empty())
      throw InputError("bert-ner: every training text is empty after tokenization");

    const int epochs = student_internal::bert_epochs(options_, windows.size());
    const auto batch = static_cast<std::size_t>(options_.batch_size);
    const std::size_t per_epoch = (windows.size() + batch - 1) / batch;
    std::vector<torch::Tensor> head_weights = {net->out()->weight};
    std::vector<torch::Tensor> head_plain = {net->out()->bias};
    for (const auto& p : net->crf()->parameters()) head_plain.push_back(p);
    student_internal::BertOptimizer optimizer(*net->encoder(), head_weights, head_plain, options_,
                                              static_cast<std::int64_t>(per_epoch) * epochs);
    Rng rng(common_.seed);
    std::vector<std::size_t> order(windows.size());
    std::iota(order.begin(), order.end(), 0);
    student_internal::EpochTracker tracker(options_, epochs, !dev.empty());
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      tracker.start();
      rng.shuffle(order);
      net->train();
      double loss_sum = 0;
      std::size_t seen = 0;
      Progress progress(fmt::format("epoch {}/{}", epoch, epochs), windows.size(), "windows");
      for (std::size_t start = 0; start < order.size(); start += batch) {
        const std::size_t end = std::min(order.size(), start + batch);
        std::vector<const Window*> items;
        for (std::size_t k = start; k < end; ++k) items.push_back(&windows[order[k]]);
        const auto [x, mask] = student_internal::pad_ids(rows_of(items), tokenizer_->pad_id());
        const auto [tags, tag_mask] = tags_tensor(items);
        const torch::Tensor nll = net->crf()->nll(net->emissions(x, mask), tags, tag_mask);  // [B]
        nll.mean().backward();
        optimizer.step();
        loss_sum += nll.sum().item<double>();
        seen += items.size();
        progress.advance(items.size(),
                         fmt::format("loss {:.4f}", loss_sum / static_cast<double>(seen)));
      }
      progress.finish();
      const EpochReport report = tracker.finish(
          epoch, loss_sum / static_cast<double>(windows.size()),
          [&] { return student_internal::dev_metric(Task::kNer, dev, infer(*net, dev)); },
          net->parameters());
      if (on_epoch) on_epoch(report);
    }
    tracker.restore_best(net->parameters());
    net->eval();
    net_ = net;
  }

  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    if (!net_) throw std::logic_error("bert-ner: predict() before train() or load");
    student_internal::set_torch_threads(common_);
    return infer(*net_, inputs);
  }

  void save_files(const std::string& dir) const override {
    if (!net_) throw std::logic_error("bert-ner: save before train() or load");
    student_internal::copy_bert_files(folder_, dir);
    tags_.save(dir + "/tags.json");
    student_internal::save_module(*net_, dir + "/weights.pt");
  }

  void load_files(const std::string& dir) override {
    net_ = nullptr;
    student_internal::PretrainedBert bert = student_internal::load_pretrained_bert(dir, false);
    tags_ = Vocabulary::load(dir + "/tags.json");
    if (tags_.size() < 1 || tags_.token(0) != "O")
      throw InputError(dir + "/tags.json: tag 0 must be O");
    student_internal::BioAllowed allowed;
    try {
      allowed = student_internal::bio_allowed(tags_.tokens());
    } catch (const std::exception& e) {
      throw InputError(dir + "/tags.json: " + e.what());
    }
    BertTagger net(bert.encoder, static_cast<std::int64_t>(tags_.size()), options_.dropout);
    net->crf()->set_allowed(allowed);
    student_internal::load_module(*net, dir + "/weights.pt");
    net->eval();
    folder_ = student_internal::BertFolder{dir + "/config.json", dir + "/vocab.txt", "",
                                           bert.folder.tokenizer_config_path};
    tokenizer_ = bert.tokenizer;
    net_ = net;
  }

  void export_files(std::string_view format, const std::string& dir) const override {
    if (format != "hf") Student::export_files(format, dir);
    if (!net_) throw std::logic_error("bert-ner: export before train() or load");
    const student_internal::BertConfig& c = net_->encoder()->config();
    student_internal::BertExport e;
    e.head = "ForTokenClassification";
    e.labels = tags_.tokens();
    e.classifier_weight = net_->out()->weight;
    e.classifier_bias = net_->out()->bias;
    e.extra = {{"crf.transitions", net_->crf()->transitions()},
               {"crf.start_transitions", net_->crf()->start()},
               {"crf.end_transitions", net_->crf()->end()}};
    e.max_length = std::min<std::int64_t>(options_.max_length, c.max_position_embeddings);
    const std::size_t overlap = window_overlap(c);
    e.config_extra["window_overlap"] = overlap;
    e.readme = fmt::format(kExportReadme, c.model_type == "ernie" ? "Ernie" : "Bert", e.max_length,
                           e.max_length - 2, fmt::join(e.labels, ", "), overlap, overlap / 2);
    student_internal::write_bert_export(*net_->encoder(), folder_, *tokenizer_, e, dir);
  }

 private:
  // fine_tune=false: the folder's encoder, classifier and CRF, its id2label's tags reordered
  // to O first (then B-X and I-X in id order), as this student numbers them. `train` is only
  // checked: an entity type the model does not have is an InputError.
  void use_as_is(const std::vector<Sample>& train) {
    student_internal::configure_torch(common_);
    student_internal::PretrainedBert bert =
        student_internal::load_pretrained_bert_option("student.path", options_.path);
    const std::string where = "student.path: " + options_.path;
    student_internal::HfHead head =
        student_internal::read_hf_head_option(options_.path, bert.config.hidden_size, true);
    // perm[new id] = the folder's id.
    std::vector<std::int64_t> perm;
    std::set<std::string> types, begins;
    for (std::size_t i = 0; i < head.labels.size(); ++i) {
      const std::string& l = head.labels[i];
      if (l == "O") perm.insert(perm.begin(), static_cast<std::int64_t>(i));
      const bool bio = l.size() > 2 && (l[0] == 'B' || l[0] == 'I') && l[1] == '-';
      if (l != "O" && !bio) {
        throw InputError(student_internal::hf_head_error(
            where, "its id2label must be BIO tags (O, B-X, I-X), not \"" + l + "\""));
      }
      if (bio) types.insert(l.substr(2));
      if (bio && l[0] == 'B') begins.insert(l.substr(2));
    }
    if (perm.empty())
      throw InputError(student_internal::hf_head_error(where, "its id2label has no O tag"));
    if (begins != types || types.empty()) {
      throw InputError(student_internal::hf_head_error(
          where, "its id2label needs a B-X for every entity type X, and at least one"));
    }
    tags_ = Vocabulary({"O"});
    for (std::size_t i = 0; i < head.labels.size(); ++i) {
      if (head.labels[i] == "O") continue;
      tags_.add(head.labels[i]);
      perm.push_back(static_cast<std::int64_t>(i));
    }
    std::set<std::string> unknown;
    for (const Sample& s : train) {
      for (const Entity& e : s.entities) {
        if (!types.count(e.type)) unknown.insert(e.type);
      }
    }
    if (!unknown.empty()) {
      throw InputError(fmt::format(
          "bert-ner: fine_tune=false: the training data has entity type(s) {} that {} cannot "
          "predict (its types: {}); rename them to the model's, or leave those entities out",
          fmt::join(unknown, ", "), options_.path, fmt::join(types, ", ")));
    }
    if (!max_length_given_ && head.model_max_length > 0) {
      options_.max_length = static_cast<int>(head.model_max_length);
    }
    if (window_overlap_ < 0 && head.window_overlap >= 0) window_overlap_ = head.window_overlap;
    BertTagger net(bert.encoder, static_cast<std::int64_t>(tags_.size()), options_.dropout);
    net->crf()->set_allowed(student_internal::bio_allowed(tags_.tokens()));
    {
      torch::NoGradGuard no_grad;
      const torch::Tensor p = torch::tensor(perm, torch::kInt64);
      net->out()->weight.copy_(head.weight.index_select(0, p));
      net->out()->bias.copy_(head.bias.index_select(0, p));
      if (head.transitions.defined()) {
        net->crf()->transitions().copy_(head.transitions.index_select(0, p).index_select(1, p));
        net->crf()->start().copy_(head.start.index_select(0, p));
        net->crf()->end().copy_(head.end.index_select(0, p));
      }
    }
    net->eval();
    folder_ = bert.folder;
    tokenizer_ = bert.tokenizer;
    net_ = net;
  }

  // Tokens a window reads besides [CLS] and [SEP]: max_length - 2, within the model's positions.
  std::size_t window_width(const student_internal::BertConfig& config) const {
    return static_cast<std::size_t>(
               std::min<std::int64_t>(options_.max_length, config.max_position_embeddings)) -
           2;
  }

  // Tokens consecutive prediction windows share: window_overlap, or a quarter of the window
  // when it is -1; at most width - 1 (the model's positions may make the window narrower).
  std::size_t window_overlap(const student_internal::BertConfig& config) const {
    const std::size_t width = window_width(config);
    if (window_overlap_ < 0) return width / 4;
    return std::min(static_cast<std::size_t>(window_overlap_), width - 1);
  }

  // The WordPiece tokens of `text`, without [CLS] and [SEP].
  std::vector<BertToken> tokens_of(const std::string& text) const {
    std::vector<BertToken> all = tokenizer_->encode(text, std::numeric_limits<std::size_t>::max());
    return {all.begin() + 1, all.end() - 1};
  }

  // The token ranges [b, e) of the entities (the tokens whose spans overlap each), sorted, with
  // ranges that share a token merged.
  static std::vector<std::pair<std::size_t, std::size_t>> entity_token_spans(
      const std::vector<BertToken>& tokens, const std::vector<Entity>& entities) {
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    for (const Entity& e : entities) {
      std::size_t b = tokens.size(), end = 0;
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i].begin < e.end && e.start < tokens[i].end) {
          b = std::min(b, i);
          end = i + 1;
        }
      }
      if (b < end) spans.emplace_back(b, end);
    }
    std::sort(spans.begin(), spans.end());
    std::vector<std::pair<std::size_t, std::size_t>> merged;
    for (const auto& sp : spans) {
      if (!merged.empty() && sp.first < merged.back().second) {
        merged.back().second = std::max(merged.back().second, sp.second);
      } else {
        merged.push_back(sp);
      }
    }
    return merged;
  }

  // B-X for the first token overlapping entity X, I-X for the next ones; a
  // window that starts inside an entity starts it with B-X.
  std::vector<std::int64_t> tags_of(const std::vector<BertToken>& tokens,
                                    const std::vector<Entity>& entities) const {
    std::vector<std::int64_t> tags(tokens.size(), 0);
    std::size_t e = 0;
    const Entity* previous = nullptr;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      while (e < entities.size() && entities[e].end <= tokens[i].begin) ++e;
      const Entity* in = nullptr;
      if (e < entities.size() && entities[e].start < tokens[i].end) in = &entities[e];
      if (in) tags[i] = tags_.id((in == previous ? "I-" : "B-") + in->type);
      previous = in;
    }
    return tags;
  }

  std::vector<std::vector<std::int64_t>> rows_of(const std::vector<const Window*>& items) const {
    std::vector<std::vector<std::int64_t>> rows;
    for (const Window* w : items) {
      std::vector<std::int64_t> r = {tokenizer_->cls_id()};
      for (const BertToken& t : w->tokens) r.push_back(t.id);
      r.push_back(tokenizer_->sep_id());
      rows.push_back(std::move(r));
    }
    return rows;
  }

  // Gold tags [B, L-2] (0 = O where padding) and their mask.
  static std::pair<torch::Tensor, torch::Tensor> tags_tensor(
      const std::vector<const Window*>& items) {
    std::size_t longest = 1;
    for (const Window* w : items) longest = std::max(longest, w->tokens.size());
    const auto b = static_cast<std::int64_t>(items.size());
    torch::Tensor tags = torch::zeros({b, static_cast<std::int64_t>(longest)}, torch::kInt64);
    torch::Tensor mask = torch::zeros({b, static_cast<std::int64_t>(longest)}, torch::kBool);
    auto ta = tags.accessor<std::int64_t, 2>();
    auto ma = mask.accessor<bool, 2>();
    for (std::int64_t i = 0; i < b; ++i) {
      const Window& w = *items[static_cast<std::size_t>(i)];
      for (std::size_t j = 0; j < w.tokens.size(); ++j) {
        ta[i][static_cast<std::int64_t>(j)] = w.tags[j];
        ma[i][static_cast<std::int64_t>(j)] = true;
      }
    }
    return {tags, mask};
  }

  std::vector<Prediction> infer(BertTaggerImpl& net, const std::vector<Sample>& inputs) const {
    const bool was_training = net.is_training();
    net.eval();
    torch::InferenceMode inference;
    // Every text's tokens and prediction windows; `windows` holds all texts' windows in order.
    const std::size_t width = window_width(net.encoder()->config());
    const std::size_t overlap = window_overlap(net.encoder()->config());
    std::vector<std::vector<BertToken>> tokens(inputs.size());
    std::vector<std::vector<TokenWindow>> text_windows(inputs.size());
    std::vector<Window> windows;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      tokens[i] = tokens_of(inputs[i].text);
      text_windows[i] = student_internal::prediction_windows(tokens[i].size(), width, overlap);
      for (const TokenWindow& tw : text_windows[i]) {
        Window w;
        w.sample = i;
        w.tokens.assign(tokens[i].begin() + static_cast<std::ptrdiff_t>(tw.begin),
                        tokens[i].begin() + static_cast<std::ptrdiff_t>(tw.end));
        windows.push_back(std::move(w));
      }
    }
    std::vector<std::size_t> order(windows.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return windows[a].tokens.size() < windows[b].tokens.size();
    });
    std::vector<std::vector<std::int64_t>> decoded(windows.size());
    std::vector<double> log_prob(windows.size());
    constexpr std::size_t kBatch = 64;
    for (std::size_t start = 0; start < order.size(); start += kBatch) {
      const std::size_t end = std::min(order.size(), start + kBatch);
      std::vector<const Window*> items;
      std::vector<std::int64_t> lengths;
      for (std::size_t k = start; k < end; ++k) {
        items.push_back(&windows[order[k]]);
        lengths.push_back(static_cast<std::int64_t>(windows[order[k]].tokens.size()));
      }
      const auto [x, mask] = student_internal::pad_ids(rows_of(items), tokenizer_->pad_id());
      const auto paths = net.crf()->decode(net.emissions(x, mask), lengths);
      for (std::size_t k = start; k < end; ++k) {
        decoded[order[k]] = paths[k - start].tags;
        log_prob[order[k]] = paths[k - start].score - paths[k - start].log_z;
      }
    }
    // Each text's tags stitched from the windows that own them, then read as entities.
    std::vector<Prediction> out(inputs.size());
    std::size_t next = 0;  // the first window of text s
    for (std::size_t s = 0; s < inputs.size(); ++s) {
      const std::size_t count = text_windows[s].size();
      std::vector<std::vector<std::int64_t>> per_window(
          std::make_move_iterator(decoded.begin() + static_cast<std::ptrdiff_t>(next)),
          std::make_move_iterator(decoded.begin() + static_cast<std::ptrdiff_t>(next + count)));
      Prediction& p = out[s];
      for (std::size_t w = next; w < next + count; ++w) p.log_prob += log_prob[w];
      next += count;
      const std::vector<std::int64_t> tags = student_internal::stitch(text_windows[s], per_window);
      bool open = false;
      for (std::size_t i = 0; i < tags.size(); ++i) {
        const std::string& tag = tags_.token(tags[i]);
        const BertToken& t = tokens[s][i];
        // Two pieces of one character (a letter that lower-cases to two) share
        // a span: a B there continues the entity, which must not overlap the next.
        const bool shared = !p.entities.empty() && t.begin < p.entities.back().end;
        // One window's path is valid BIO; at an own border, an I-X may follow a tag of another
        // window that is not B-X or I-X: it then opens nothing.
        const bool continues = tag[0] == 'I' && open && p.entities.back().type == tag.substr(2);
        if (tag[0] == 'B' && !shared) {
          p.entities.push_back(Entity{t.begin, t.end, tag.substr(2), ""});
          open = true;
        } else if (continues || shared) {
          p.entities.back().end = t.end;
        } else {
          open = false;
        }
      }
    }
    for (std::size_t s = 0; s < out.size(); ++s) {
      if (out[s].entities.empty()) continue;
      const std::u32string text = utf8::decode(inputs[s].text);
      for (Entity& e : out[s].entities) {
        e.text = utf8::encode(std::u32string_view(text).substr(e.start, e.end - e.start));
      }
    }
    if (was_training) net.train();
    return out;
  }
  student_internal::BertFineTuneOptions options_;
  // Tokens shared by consecutive prediction windows of a long text; -1 (auto): a quarter of the
  // window (63 at max_length 256). A quarter costs a third more encoder work on long texts only,
  // and reads every entity of up to 32 tokens (at 256) whole with 31 tokens of context on each
  // side of every token: Chinese names, places and organisations are far shorter.
  std::int64_t window_overlap_ = -1;
  // false: `path` is a fine-tuned token classifier, used as it is (no training).
  bool fine_tune_ = true;
  // Whether the options set max_length; with fine_tune=false, unset means the folder's
  // tokenizer_config.json model_max_length (when it has a usable one).
  bool max_length_given_ = false;
  CommonOptions common_;
  student_internal::BertFolder folder_;
  std::shared_ptr<BertTokenizer> tokenizer_;
  Vocabulary tags_;  // O, then B-X and I-X for every entity type X of train in byte order
  BertTagger net_{nullptr};
};

}  // namespace

std::unique_ptr<Student> make_bert_ner(const nlohmann::json& options) {
  return std::make_unique<BertNerStudent>(options);
}

}  // namespace weakdistill::neural
