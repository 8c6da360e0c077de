// The `uie` ner student: UIE (Universal Information Extraction, PaddleNLP), an
// ERNIE 3.0 / BERT encoder with two pointer layers (uie_model.h), read from a UIE
// checkpoint in Hugging Face / PyTorch form, used zero-shot or fine-tuned.
//
// Each entity type X has a prompt (人物 for PER, ...). For every (type, text)
// the model reads [CLS] prompt [SEP] text [SEP] (token types 0, then 1 from
// the text on) and gives each text token p_start and p_end. Spans are decoded
// as UIE does (uie_decode.h): positions above `threshold`, each end paired with
// the latest start after the previous end. A span of tokens [s, e] is the
// entity from token s's first code point to token e's last. Spans of all
// types then compete: the most probable (p_start[s] * p_end[e]) is kept, and
// those overlapping it are dropped, so the entities are sorted and disjoint.
//
// A text longer than the window width W = max_length - (longest prompt's
// tokens) - 3 is read in windows (token_windows.h): in prediction, windows of
// W tokens overlapping by min(window_overlap, W / 2), a span kept by the
// window that owns its start token; in training, consecutive windows whose
// borders are moved so that no gold entity is cut.
//
// Training (fine_tune, the default): every weight, AdamW with warm-up and decay
// (bert_finetune.h), on the binary cross-entropy of p_start and p_end against
// 0/1 targets at every text token of every (type, window) pair: a type absent
// from a window is a negative example (all zeros). fine_tune false: train()
// only reads the checkpoint and the types (zero-shot UIE).
//
// Prediction.log_prob: the log-probability of the decoded start and end bits
// (above the threshold or not) under the model's independent per-token
// Bernoulli outputs, summed over the text's tokens (each counted in the window
// that owns it) and over the types: 0 when every pointer is certain.
//
// Model folder: weights.pt (encoder and pointers), uie.json (types and their
// prompts), and the checkpoint's config.json, vocab.txt (and tokenizer_config.json).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "bert.h"
#include "bert_finetune.h"
#include "kinds_internal.h"
#include "neural_kinds.h"
#include "token_windows.h"
#include "torch_util.h"
#include "uie_decode.h"
#include "uie_model.h"
#include "weakdistill/core/atomic_file.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill::neural {
namespace {

using student_internal::TokenWindow;
using student_internal::UieModel;
using student_internal::UieModelImpl;

// The prompts of the paper's People's Daily types; any other type's prompt is its own name.
const std::map<std::string, std::string>& default_prompts() {
  static const std::map<std::string, std::string> prompts = {
      {"PER", "人物"}, {"LOC", "地点"}, {"ORG", "机构"}};
  return prompts;
}

struct UieOptions {
  // path, max_length, epochs, batch_size, lr, head_lr (the pointers'), ...
  student_internal::BertFineTuneOptions tune;
  // A position is a start (end) when its p_start (p_end) is above this, in (0, 1).
  double threshold = 0.5;
  // Prompt of each entity type, over the defaults {PER: 人物, LOC: 地点, ORG: 机构}.
  // A type named here is predicted even when the training data lacks it.
  std::map<std::string, std::string> prompts;
  // Tokens shared by consecutive prediction windows of a long text (at most half a window).
  int window_overlap = 64;
  // false: no training; the checkpoint is used as it is (zero-shot UIE).
  bool fine_tune = true;
};

// A text's tokens (without [CLS]/[SEP]), with their code-point spans.
struct Text {
  std::vector<BertToken> tokens;
};

// One encoder input: a type's prompt and a window of a text; in training, its targets.
struct Row {
  std::size_t sample = 0, type = 0;
  TokenWindow window;
  std::vector<float> start, end;  // window.end - window.begin targets, 0 or 1
};

class UieStudent : public Student {
 public:
  explicit UieStudent(const nlohmann::json& options) {
    OptionReader r(options, "student");
    common_ = student_internal::read_common(r);
    o_.tune.max_length = 256;
    o_.tune.lr = 1e-5;      // UIE's fine-tuning default
    o_.tune.dropout = 0.0;  // UIE has no dropout before its pointers
    student_internal::read_bert_finetune_options(r, o_.tune);
    r.get("threshold", o_.threshold);
    r.get("window_overlap", o_.window_overlap);
    r.get("fine_tune", o_.fine_tune);
    if (r.has("prompts")) {
      const nlohmann::json& p = options.at("prompts");
      if (!p.is_object()) {
        r.fail("prompts",
               "must be a mapping from entity type to its prompt, e.g. {PER: 人物, LOC: 地点}");
      }
      for (const auto& [type, text] : p.items()) {
        if (!text.is_string() || text.get<std::string>().empty() || type.empty()) {
          r.fail("prompts",
                 "the prompt of '" + type + "' must be a non-empty string, not " + text.dump());
        }
        o_.prompts[type] = text.get<std::string>();
      }
    }
    r.finish();
    if (!(o_.threshold > 0 && o_.threshold < 1)) {
      r.fail("threshold", fmt::format("must be in (0, 1), not {}", o_.threshold));
    }
    if (o_.window_overlap < 0) r.fail("window_overlap", "must be 0 or more");
    if (o_.tune.path.empty()) {
      r.fail("path",
             "required: a UIE checkpoint folder (config.json, vocab.txt, model.safetensors "
             "with the encoder and linear_start / linear_end)");
    }
  }

  Task task() const override { return Task::kNer; }
  std::string_view kind() const override { return "uie"; }
  std::vector<std::string> labels() const override {
    return net_ ? types_ : std::vector<std::string>{};
  }

  nlohmann::json options() const override {
    nlohmann::json j = student_internal::bert_finetune_json(o_.tune);
    j["threshold"] = o_.threshold;
    j["prompts"] = o_.prompts;
    j["window_overlap"] = o_.window_overlap;
    j["fine_tune"] = o_.fine_tune;
    j["seed"] = common_.seed;
    j["threads"] = common_.threads;
    return j;
  }

  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override {
    net_ = nullptr;
    std::set<std::string> types;
    for (const Sample& s : train) {
      for (const Entity& e : s.entities) types.insert(e.type);
    }
    for (const auto& [type, prompt] : o_.prompts) types.insert(type);
    if (types.empty()) {
      throw InputError(
          "uie: no entity types: the training samples hold no entities and student.prompts names "
          "none (give prompts: {TYPE: prompt, ...})");
    }
    if (o_.fine_tune && train.empty()) throw InputError("uie: no training samples");
    student_internal::configure_torch(common_);
    student_internal::UieCheckpoint ckpt;
    try {
      ckpt = student_internal::load_uie_checkpoint(o_.tune.path);
    } catch (const InputError& e) {
      throw InputError(std::string("student.path: ") + e.what());
    }
    folder_ = ckpt.bert.folder;
    tokenizer_ = ckpt.bert.tokenizer;
    set_types(std::vector<std::string>(types.begin(), types.end()), nullptr);
    UieModel net = ckpt.model;
    width(*net);  // a max_length too short for the prompts fails here, not at the first predict
    dropout_ = torch::nn::Dropout(o_.tune.dropout);
    if (!o_.fine_tune) {
      net->eval();
      net_ = net;
      return;
    }
    fine_tune(*net, train, dev);
    net->eval();
    net_ = net;
  }

  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    if (!net_) throw std::logic_error("uie: predict() before train() or load");
    student_internal::set_torch_threads(common_);
    return infer(*net_, inputs);
  }

  void save_files(const std::string& dir) const override {
    if (!net_) throw std::logic_error("uie: save before train() or load");
    student_internal::copy_bert_files(folder_, dir);
    nlohmann::ordered_json j;
    j["types"] = types_;
    nlohmann::ordered_json prompts = nlohmann::ordered_json::object();
    for (std::size_t k = 0; k < types_.size(); ++k) prompts[types_[k]] = prompt_text_[k];
    j["prompts"] = prompts;
    write_file_atomically(dir + "/uie.json", j.dump(2) + "\n");
    student_internal::save_module(*net_, dir + "/weights.pt");
  }

  void load_files(const std::string& dir) override {
    net_ = nullptr;
    student_internal::UieCheckpoint ckpt = student_internal::load_uie_skeleton(dir);
    tokenizer_ = ckpt.bert.tokenizer;
    const std::string path = dir + "/uie.json";
    std::ifstream in(path);
    if (!in) throw InputError(path + ": missing (the model folder is incomplete)");
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("types") || !j["types"].is_array() ||
        !j.contains("prompts") || !j["prompts"].is_object()) {
      throw InputError(path + ": not a uie types file ({\"types\": [...], \"prompts\": {...}})");
    }
    std::vector<std::string> types;
    std::map<std::string, std::string> prompts;
    for (const auto& t : j["types"]) {
      if (!t.is_string()) throw InputError(path + ": types must be strings");
      types.push_back(t.get<std::string>());
      const auto p = j["prompts"].find(types.back());
      if (p == j["prompts"].end() || !p->is_string() || p->get<std::string>().empty())
        throw InputError(path + ": no prompt for type '" + types.back() + "'");
      prompts[types.back()] = p->get<std::string>();
    }
    if (types.empty()) throw InputError(path + ": no types");
    set_types(types, &prompts);
    student_internal::load_module(*ckpt.model, dir + "/weights.pt");
    ckpt.model->eval();
    dropout_ = torch::nn::Dropout(o_.tune.dropout);
    folder_ = student_internal::BertFolder{dir + "/config.json", dir + "/vocab.txt", "",
                                           ckpt.bert.folder.tokenizer_config_path};
    net_ = ckpt.model;
  }

 private:
  // Sets the types, their prompts (from `saved`, else the options, the
  // defaults, the type's name) and the prompts' token ids.
  void set_types(std::vector<std::string> types, const std::map<std::string, std::string>* saved) {
    types_ = std::move(types);
    prompt_text_.clear();
    prompt_ids_.clear();
    for (const std::string& t : types_) {
      std::string p = t;
      if (saved) {
        p = saved->at(t);
      } else if (const auto it = o_.prompts.find(t); it != o_.prompts.end()) {
        p = it->second;
      } else if (const auto d = default_prompts().find(t); d != default_prompts().end()) {
        p = d->second;
      }
      std::vector<std::int64_t> ids =
          tokenizer_->encode_ids(p, std::numeric_limits<std::size_t>::max());
      ids.erase(ids.begin());  // [CLS]
      ids.pop_back();          // [SEP]
      if (ids.empty()) {
        throw InputError("uie: the prompt '" + p + "' of type '" + t +
                         "' has no tokens (student.prompts)");
      }
      prompt_text_.push_back(p);
      prompt_ids_.push_back(std::move(ids));
    }
  }

  // Text tokens a window holds: max_length (capped at the model's positions)
  // less the longest prompt and [CLS] [SEP] [SEP].
  std::size_t width(const UieModelImpl& net) const {
    const std::int64_t max_length =
        std::min<std::int64_t>(o_.tune.max_length, net.encoder()->config().max_position_embeddings);
    std::size_t longest = 0, which = 0;
    for (std::size_t k = 0; k < prompt_ids_.size(); ++k) {
      if (prompt_ids_[k].size() > longest) longest = prompt_ids_[k].size(), which = k;
    }
    if (static_cast<std::int64_t>(longest) + 3 >= max_length) {
      throw InputError(fmt::format(
          "student.max_length: {} tokens (capped at the model's {} positions) leave no room for "
          "a text after the prompt '{}' ({} tokens) and [CLS] [SEP] [SEP]",
          o_.tune.max_length, net.encoder()->config().max_position_embeddings, prompt_text_[which],
          longest));
    }
    return static_cast<std::size_t>(max_length) - longest - 3;
  }

  Text tokens_of(const std::string& text) const {
    std::vector<BertToken> all = tokenizer_->encode(text, std::numeric_limits<std::size_t>::max());
    Text t;
    t.tokens.assign(all.begin() + 1, all.end() - 1);  // without [CLS] and [SEP]
    return t;
  }

  // ids, mask, token types [B, L] of `rows`, and each row's first text position (all P_k + 2).
  struct Batch {
    torch::Tensor ids, mask, types, text_mask;  // text_mask [B, L] float: 1 on text tokens
    std::vector<std::size_t> offset;
  };
  Batch batch_of(const std::vector<const Row*>& rows, const std::vector<Text>& texts) const {
    std::vector<std::vector<std::int64_t>> ids;
    std::vector<std::size_t> firsts;
    for (const Row* r : rows) {
      std::vector<std::int64_t> x = {tokenizer_->cls_id()};
      x.insert(x.end(), prompt_ids_[r->type].begin(), prompt_ids_[r->type].end());
      x.push_back(tokenizer_->sep_id());
      firsts.push_back(x.size());
      const auto& tokens = texts[r->sample].tokens;
      for (std::size_t t = r->window.begin; t < r->window.end; ++t) x.push_back(tokens[t].id);
      x.push_back(tokenizer_->sep_id());
      ids.push_back(std::move(x));
    }
    Batch b;
    std::tie(b.ids, b.mask) = student_internal::pad_ids(ids, tokenizer_->pad_id());
    b.types = torch::zeros_like(b.ids);
    b.text_mask = torch::zeros(b.ids.sizes(), torch::kFloat32);
    auto ta = b.types.accessor<std::int64_t, 2>();
    auto ma = b.text_mask.accessor<float, 2>();
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto n = static_cast<std::int64_t>(ids[i].size());
      const auto first = static_cast<std::int64_t>(firsts[i]);
      const auto row = static_cast<std::int64_t>(i);
      for (std::int64_t j = first; j < n; ++j) ta[row][j] = 1;  // text [SEP]
      for (std::int64_t j = first; j + 1 < n; ++j) ma[row][j] = 1;
    }
    b.offset = std::move(firsts);
    return b;
  }

  std::pair<torch::Tensor, torch::Tensor> logits(UieModelImpl& net, const Batch& b) {
    if (!net.is_training() || o_.tune.dropout == 0) return net.logits(b.ids, b.mask, b.types);
    const torch::Tensor h = dropout_(net.encoder()(b.ids, b.mask, nullptr, b.types));
    return {net.linear_start()(h).squeeze(-1), net.linear_end()(h).squeeze(-1)};
  }

  void fine_tune(UieModelImpl& net, const std::vector<Sample>& train,
                 const std::vector<Sample>& dev) {
    const std::size_t w = width(net);
    std::vector<Text> texts;
    std::vector<Row> rows;
    std::map<std::string, std::size_t> type_index;
    for (std::size_t k = 0; k < types_.size(); ++k) type_index[types_[k]] = k;
    for (std::size_t i = 0; i < train.size(); ++i) {
      texts.push_back(tokens_of(train[i].text));
      const auto& tokens = texts.back().tokens;
      // Each entity's first and last token: those whose spans overlap it.
      struct Gold {
        std::size_t first, last, type;
      };
      std::vector<Gold> gold;
      for (const Entity& e : train[i].entities) {
        std::size_t first = tokens.size(), last = 0;
        for (std::size_t t = 0; t < tokens.size(); ++t) {
          if (tokens[t].end > e.start && tokens[t].begin < e.end) {
            first = std::min(first, t);
            last = t;
          }
        }
        if (first < tokens.size()) gold.push_back({first, last, type_index.at(e.type)});
      }
      // Token spans, merged where two entities share a token, for the window borders.
      std::vector<std::pair<std::size_t, std::size_t>> spans;
      for (const Gold& g : gold) {
        if (!spans.empty() && g.first < spans.back().second) {
          spans.back().second = std::max(spans.back().second, g.last + 1);
        } else {
          spans.emplace_back(g.first, g.last + 1);
        }
      }
      for (const TokenWindow& win : student_internal::training_windows(tokens.size(), w, spans)) {
        for (std::size_t k = 0; k < types_.size(); ++k) {
          Row r;
          r.sample = i;
          r.type = k;
          r.window = win;
          r.start.assign(win.end - win.begin, 0.0f);
          r.end.assign(win.end - win.begin, 0.0f);
          for (const Gold& g : gold) {
            if (g.type != k) continue;
            if (g.first >= win.begin && g.first < win.end) r.start[g.first - win.begin] = 1;
            if (g.last >= win.begin && g.last < win.end) r.end[g.last - win.begin] = 1;
          }
          rows.push_back(std::move(r));
        }
      }
    }
    if (rows.empty()) throw InputError("uie: every training text is empty after tokenization");

    const int epochs = student_internal::bert_epochs(o_.tune, rows.size());
    const auto batch = static_cast<std::size_t>(o_.tune.batch_size);
    const std::size_t per_epoch = (rows.size() + batch - 1) / batch;
    student_internal::BertOptimizer optimizer(
        *net.encoder(), {net.linear_start()->weight, net.linear_end()->weight},
        {net.linear_start()->bias, net.linear_end()->bias}, o_.tune,
        static_cast<std::int64_t>(per_epoch) * epochs);
    Rng rng(common_.seed);
    std::vector<std::size_t> order(rows.size());
    std::iota(order.begin(), order.end(), 0);
    student_internal::EpochTracker tracker(o_.tune, epochs, !dev.empty());
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      tracker.start();
      rng.shuffle(order);
      net.train();
      dropout_->train();
      double loss_sum = 0, tokens_seen = 0;
      Progress progress(fmt::format("epoch {}/{}", epoch, epochs), rows.size(), "inputs");
      for (std::size_t start = 0; start < order.size(); start += batch) {
        const std::size_t end = std::min(order.size(), start + batch);
        std::vector<const Row*> items;
        for (std::size_t k = start; k < end; ++k) items.push_back(&rows[order[k]]);
        const Batch b = batch_of(items, texts);
        torch::Tensor start_target = torch::zeros(b.ids.sizes(), torch::kFloat32);
        torch::Tensor end_target = torch::zeros(b.ids.sizes(), torch::kFloat32);
        auto sa = start_target.accessor<float, 2>();
        auto ea = end_target.accessor<float, 2>();
        for (std::size_t i = 0; i < items.size(); ++i) {
          for (std::size_t t = 0; t < items[i]->start.size(); ++t) {
            const auto row = static_cast<std::int64_t>(i);
            const auto col = static_cast<std::int64_t>(b.offset[i] + t);
            sa[row][col] = items[i]->start[t];
            ea[row][col] = items[i]->end[t];
          }
        }
        const auto [start_logits, end_logits] = logits(net, b);
        namespace F = torch::nn::functional;
        const auto sum =
            F::BinaryCrossEntropyWithLogitsFuncOptions().weight(b.text_mask).reduction(torch::kSum);
        const double n = b.text_mask.sum().item<double>();
        const torch::Tensor loss =
            (F::binary_cross_entropy_with_logits(start_logits, start_target, sum) +
             F::binary_cross_entropy_with_logits(end_logits, end_target, sum)) /
            (2 * std::max(1.0, n));
        loss.backward();
        optimizer.step();
        loss_sum += loss.item<double>() * n;
        tokens_seen += n;
        progress.advance(items.size(),
                         fmt::format("loss {:.4f}", loss_sum / std::max(1.0, tokens_seen)));
      }
      progress.finish();
      const EpochReport report = tracker.finish(
          epoch, loss_sum / std::max(1.0, tokens_seen),
          [&] { return student_internal::dev_metric(Task::kNer, dev, infer(net, dev)); },
          net.parameters());
      if (on_epoch) on_epoch(report);
    }
    tracker.restore_best(net.parameters());
  }

  std::vector<Prediction> infer(UieModelImpl& net, const std::vector<Sample>& inputs) {
    const bool was_training = net.is_training();
    net.eval();
    torch::InferenceMode inference;
    const std::size_t w = width(net);
    const std::size_t overlap =
        std::min<std::size_t>(static_cast<std::size_t>(o_.window_overlap), w / 2);
    std::vector<Text> texts;
    std::vector<Row> rows;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      texts.push_back(tokens_of(inputs[i].text));
      for (const TokenWindow& win :
           student_internal::prediction_windows(texts.back().tokens.size(), w, overlap)) {
        for (std::size_t k = 0; k < types_.size(); ++k) {
          Row r;
          r.sample = i;
          r.type = k;
          r.window = win;
          rows.push_back(std::move(r));
        }
      }
    }
    std::vector<std::size_t> order(rows.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return rows[a].window.end - rows[a].window.begin < rows[b].window.end - rows[b].window.begin;
    });
    std::vector<std::vector<student_internal::UieCandidate>> candidates(inputs.size());
    std::vector<Prediction> out(inputs.size());
    constexpr std::size_t kBatch = 64;
    for (std::size_t start = 0; start < order.size(); start += kBatch) {
      const std::size_t end = std::min(order.size(), start + kBatch);
      std::vector<const Row*> items;
      for (std::size_t k = start; k < end; ++k) items.push_back(&rows[order[k]]);
      const Batch b = batch_of(items, texts);
      const auto [start_logits, end_logits] = net.logits(b.ids, b.mask, b.types);
      const torch::Tensor ls = start_logits.to(torch::kFloat32).contiguous();
      const torch::Tensor le = end_logits.to(torch::kFloat32).contiguous();
      const torch::Tensor ps = torch::sigmoid(ls), pe = torch::sigmoid(le);
      const std::int64_t stride = ps.size(1);
      for (std::size_t i = 0; i < items.size(); ++i) {
        const Row& r = *items[i];
        const std::size_t n = r.window.end - r.window.begin;
        const std::size_t at = i * static_cast<std::size_t>(stride) + b.offset[i];
        const float* s = ps.data_ptr<float>() + at;
        const float* e = pe.data_ptr<float>() + at;
        const auto& tokens = texts[r.sample].tokens;
        for (const auto& span : student_internal::uie_spans(s, e, n, o_.threshold)) {
          const std::size_t first = r.window.begin + span.start, last = r.window.begin + span.end;
          if (first < r.window.own_begin || first >= r.window.own_end) continue;
          candidates[r.sample].push_back(
              {tokens[first].begin, tokens[last].end, r.type, span.prob});
        }
        // log P(bits) with log sigmoid(x) = -log1p(exp(-x)), stable for both signs.
        const float* xs = ls.data_ptr<float>() + at;
        const float* xe = le.data_ptr<float>() + at;
        double lp = 0;
        for (std::size_t t = r.window.own_begin; t < r.window.own_end; ++t) {
          const std::size_t j = t - r.window.begin;
          for (const auto& [x, p] : {std::pair{xs[j], s[j]}, std::pair{xe[j], e[j]}}) {
            const double signed_x = static_cast<double>(p) > o_.threshold ? x : -x;
            lp -= signed_x > 0 ? std::log1p(std::exp(-signed_x))
                               : -signed_x + std::log1p(std::exp(signed_x));
          }
        }
        out[r.sample].log_prob += lp;
      }
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const std::u32string text = utf8::decode(inputs[i].text);
      for (const auto& c : student_internal::uie_resolve_overlaps(std::move(candidates[i]))) {
        out[i].entities.push_back(
            Entity{c.begin, c.end, types_[c.type],
                   utf8::encode(std::u32string_view(text).substr(c.begin, c.end - c.begin))});
      }
    }
    if (was_training) net.train();
    return out;
  }

  UieOptions o_;
  CommonOptions common_;
  student_internal::BertFolder folder_;
  std::shared_ptr<BertTokenizer> tokenizer_;
  std::vector<std::string> types_;                     // in byte order of their names
  std::vector<std::string> prompt_text_;               // per type
  std::vector<std::vector<std::int64_t>> prompt_ids_;  // per type, without [CLS]/[SEP]
  torch::nn::Dropout dropout_{nullptr};
  UieModel net_{nullptr};
};

}  // namespace

std::unique_ptr<Student> make_uie(const nlohmann::json& options) {
  return std::make_unique<UieStudent>(options);
}

}  // namespace weakdistill::neural
