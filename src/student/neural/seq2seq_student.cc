// The `seq2seq` summarizer: a pretrained BART or Pegasus (seq2seq.h) fine-tuned with AdamW,
// linear warm-up and decay, label smoothing and teacher forcing, decoded greedily or by beam
// search (seq2seq_decode.h).
//
// A text is framed as the checkpoint's tokenizer frames it: BART [bos] tokens [eos] (for
// fnlp/bart-base-chinese [CLS] ... [SEP]), Pegasus tokens [eos]. A summary is framed the same
// way as the target; the decoder reads [decoder_start] target[:-1] (transformers'
// shift_tokens_right). Decoding generates at most max_length summary tokens, plus the bos a BART
// target starts with and the end token.
//
// Model folder: weights.pt, and the pretrained folder's config.json, vocab.txt (and
// tokenizer_config.json, generation_config.json).
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "bert_finetune.h"
#include "kinds_internal.h"
#include "neural_kinds.h"
#include "seq2seq.h"
#include "seq2seq_decode.h"
#include "seq2seq_load.h"
#include "torch_util.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"

namespace weakdistill::neural {
namespace {

using student_internal::Seq2SeqConfig;
using student_internal::Seq2SeqModel;

struct Seq2SeqOptions {
  // The pretrained Hugging Face folder (config.json, vocab.txt, model.safetensors); read, never
  // written. Required.
  std::string path;
  // false: no training; the checkpoint is the student as it is (one already fine-tuned).
  bool fine_tune = true;
  // Source tokens read, the framing tokens included; capped at max_position_embeddings.
  int max_source_length = 512;
  // Summary tokens generated at most, the end token excluded; also where training targets are cut.
  int max_length = 64;
  // Summary tokens generated at least before the end token may be.
  int min_length = 0;
  // Beam width; 1 decodes greedily.
  int beam = 4;
  // Exponent of the length dividing a beam hypothesis' log-probability (> 0 favours longer ones).
  double length_penalty = 1.0;
  // No n-gram of this size is generated twice; 0 = off.
  int no_repeat_ngram = 0;
  // Passes over the training set; 0 (auto) is 3, raised for small sets to reach 100 updates, at
  // most 50.
  int epochs = 0;
  // Pairs per mini-batch; batches hold pairs of similar source length (length bucketing).
  int batch_size = 8;
  // Mini-batches whose gradients add up to one update (an effective batch of batch_size × this).
  int grad_accum = 1;
  // AdamW learning rate, reached after the warm-up.
  double lr = 5e-5;
  // AdamW weight decay, on weights only (not biases, not LayerNorm).
  double weight_decay = 0.01;
  // Fraction of all updates over which the rate rises linearly from 0; then it falls to 0.
  double warmup = 0.1;
  // Largest global L2 norm of the gradient; 0 = no clipping.
  double clip = 1.0;
  // Label smoothing of the cross-entropy (as transformers' label_smoothing_factor).
  double label_smoothing = 0.1;
  // With a dev set: keep the weights of the epoch with the best dev ROUGE-L.
  bool keep_best = true;
  // Score dev every this many epochs; 0 (auto): every epoch up to 20, else ~10 times.
  int dev_every = 0;
  // Dev pairs decoded to score an epoch; 0 = all.
  int dev_limit = 0;
  // Texts decoded together (each with `beam` rows).
  int predict_batch = 16;
};

constexpr const char* kExportReadme = R"(# A seq2seq student exported by weakdistill

A Hugging Face transformers `{0}ForConditionalGeneration` with its BERT `vocab.txt`:
the fine-tuned weights in float32 (`model.safetensors`), and in `generation_config.json` the
decoding weakdistill's `predict` uses (beam, length penalty, n-gram ban, minimum and maximum
length; `max_new_tokens` counts the end token, so it is the student's `max_length` + 1).

    from transformers import BertTokenizer, {0}ForConditionalGeneration
    tok = BertTokenizer.from_pretrained("THIS_FOLDER")
    model = {0}ForConditionalGeneration.from_pretrained("THIS_FOLDER").eval()
{2}
    summary = tok.decode(out[0], skip_special_tokens=True).replace(" ", "")

Sources were cut to {1} tokens, the framing tokens included. weakdistill's tests decode this
folder with a reader written from transformers' equations and get the summaries `predict`
gives. Beam search may end differently in rare cases: weakdistill stops an item only when no
live beam can still beat its best finished one, transformers' `early_stopping=False` by a
bound taken at the current length.

The folder is also a pretrained starting point for weakdistill (`student.path`), and with
`--set fine_tune=false` a student as it is.
)";

constexpr const char* kBartFraming =
    R"(    # [CLS] text [SEP], as weakdistill frames a source; no token_type_ids for BART
    batch = tok(["..."], truncation=True, max_length={0}, return_tensors="pt",
                return_token_type_ids=False)
    out = model.generate(**batch))";

constexpr const char* kEosOnlyFraming =
    R"(    # text [SEP] (no [CLS]), as weakdistill frames a source for this model
    import torch
    ids = tok("...", add_special_tokens=False, truncation=True, max_length={0})["input_ids"]
    out = model.generate(torch.tensor([ids + [tok.sep_token_id]])))";

class Seq2SeqStudent : public Student {
 public:
  explicit Seq2SeqStudent(const nlohmann::json& options) {
    OptionReader r(options, "student");
    common_ = student_internal::read_common(r);
    Seq2SeqOptions& o = options_;
    r.get("path", o.path);
    r.get("fine_tune", o.fine_tune);
    r.get("max_source_length", o.max_source_length);
    r.get("max_length", o.max_length);
    r.get("min_length", o.min_length);
    r.get("beam", o.beam);
    r.get("length_penalty", o.length_penalty);
    r.get("no_repeat_ngram", o.no_repeat_ngram);
    r.get("epochs", o.epochs);
    r.get("batch_size", o.batch_size);
    r.get("grad_accum", o.grad_accum);
    r.get("lr", o.lr);
    r.get("weight_decay", o.weight_decay);
    r.get("warmup", o.warmup);
    r.get("clip", o.clip);
    r.get("label_smoothing", o.label_smoothing);
    r.get("keep_best", o.keep_best);
    r.get("dev_every", o.dev_every);
    r.get("dev_limit", o.dev_limit);
    r.get("predict_batch", o.predict_batch);
    r.finish();
    if (o.path.empty()) {
      r.fail("path",
             "required: a Hugging Face BART or Pegasus folder (config.json, vocab.txt, "
             "model.safetensors)");
    }
    if (o.max_source_length < 3) r.fail("max_source_length", "must be 3 or more");
    if (o.max_length < 1) r.fail("max_length", "must be 1 or more");
    if (o.min_length < 0 || o.min_length > o.max_length)
      r.fail("min_length", "must be in 0..max_length");
    if (o.beam < 1 || o.beam > 64) r.fail("beam", "must be in 1..64");
    if (o.no_repeat_ngram < 0) r.fail("no_repeat_ngram", "must be 0 (off) or more");
    if (o.epochs < 0) r.fail("epochs", "must be 0 (auto) or more");
    if (o.batch_size < 1) r.fail("batch_size", "must be 1 or more");
    if (o.grad_accum < 1) r.fail("grad_accum", "must be 1 or more");
    if (!(o.lr > 0)) r.fail("lr", "must be more than 0");
    if (o.weight_decay < 0) r.fail("weight_decay", "must be 0 or more");
    if (o.warmup < 0 || o.warmup >= 1) r.fail("warmup", "must be in [0, 1)");
    if (o.clip < 0) r.fail("clip", "must be 0 (no clipping) or more");
    if (o.label_smoothing < 0 || o.label_smoothing >= 1)
      r.fail("label_smoothing", "must be in [0, 1)");
    if (o.dev_every < 0) r.fail("dev_every", "must be 0 (auto) or more");
    if (o.dev_limit < 0) r.fail("dev_limit", "must be 0 (all) or more");
    if (o.predict_batch < 1) r.fail("predict_batch", "must be 1 or more");
  }

  Task task() const override { return Task::kSummarization; }
  std::string_view kind() const override { return "seq2seq"; }

  nlohmann::json options() const override {
    const Seq2SeqOptions& o = options_;
    return {{"path", o.path},
            {"fine_tune", o.fine_tune},
            {"max_source_length", o.max_source_length},
            {"max_length", o.max_length},
            {"min_length", o.min_length},
            {"beam", o.beam},
            {"length_penalty", o.length_penalty},
            {"no_repeat_ngram", o.no_repeat_ngram},
            {"epochs", o.epochs},
            {"batch_size", o.batch_size},
            {"grad_accum", o.grad_accum},
            {"lr", o.lr},
            {"weight_decay", o.weight_decay},
            {"warmup", o.warmup},
            {"clip", o.clip},
            {"label_smoothing", o.label_smoothing},
            {"keep_best", o.keep_best},
            {"dev_every", o.dev_every},
            {"dev_limit", o.dev_limit},
            {"predict_batch", o.predict_batch},
            {"seed", common_.seed},
            {"threads", common_.threads}};
  }

  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override {
    net_ = nullptr;
    student_internal::configure_torch(common_);
    student_internal::PretrainedSeq2Seq p = load("student.path", options_.path);
    tokenizer_ = p.tokenizer;
    source_dir_ = options_.path;
    if (!options_.fine_tune) {  // the checkpoint as it is
      p.model->eval();
      net_ = p.model;
      return;
    }
    if (train.empty()) throw InputError("seq2seq: no training samples");
    std::vector<std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>> pairs;
    for (std::size_t i = 0; i < train.size(); ++i) {
      if (train[i].summary.empty()) {
        throw InputError(fmt::format("seq2seq: training sample {} ({}) has no summary", i + 1,
                                     train[i].id ? "id " + *train[i].id : std::string("no id")));
      }
      pairs.emplace_back(
          source_ids(p.config, train[i].text),
          frame(p.config, train[i].summary, static_cast<std::size_t>(options_.max_length)));
    }
    Seq2SeqModel net = p.model;
    student_internal::BertFineTuneOptions ft = finetune_options();
    const int epochs = student_internal::bert_epochs(ft, pairs.size());
    const auto batch = static_cast<std::size_t>(options_.batch_size);
    const std::size_t per_epoch = (pairs.size() + batch - 1) / batch;
    const auto updates = static_cast<std::int64_t>(
        (per_epoch + static_cast<std::size_t>(options_.grad_accum) - 1) /
        static_cast<std::size_t>(options_.grad_accum) * static_cast<std::size_t>(epochs));
    student_internal::BertOptimizer optimizer(net->hf_tensors(), ft, updates);
    student_internal::EpochTracker tracker(ft, epochs, !dev.empty());
    const std::vector<Sample> dev_part = dev_subset(dev);
    Rng rng(common_.seed);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      tracker.start();
      net->train();
      double loss_sum = 0;
      std::size_t tokens = 0;
      const std::vector<std::vector<std::size_t>> batches = bucketed_batches(pairs, rng);
      Progress progress(fmt::format("epoch {}/{}", epoch, epochs), pairs.size(), "pairs");
      for (std::size_t b = 0; b < batches.size(); ++b) {
        const auto [loss, count] = batch_loss(*net, p.config, pairs, batches[b]);
        (loss / static_cast<double>(options_.grad_accum)).backward();
        loss_sum += loss.item<double>() * static_cast<double>(count);
        tokens += count;
        const bool last = b + 1 == batches.size();
        if ((b + 1) % static_cast<std::size_t>(options_.grad_accum) == 0 || last) {
          optimizer.step();
        }
        progress.advance(batches[b].size(),
                         fmt::format("loss {:.4f}", loss_sum / static_cast<double>(tokens)));
      }
      progress.finish();
      const EpochReport report = tracker.finish(
          epoch, loss_sum / static_cast<double>(std::max<std::size_t>(1, tokens)),
          [&] {
            return student_internal::dev_metric(Task::kSummarization, dev_part,
                                                infer(*net, dev_part));
          },
          net->parameters());
      if (on_epoch) on_epoch(report);
    }
    tracker.restore_best(net->parameters());
    net->eval();
    net_ = net;
  }

  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    if (!net_) throw std::logic_error("seq2seq: predict() before train() or load");
    student_internal::set_torch_threads(common_);
    return infer(*net_, inputs);
  }

  void save_files(const std::string& dir) const override {
    if (!net_) throw std::logic_error("seq2seq: save before train() or load");
    student_internal::copy_seq2seq_files(source_dir_, dir);
    student_internal::save_module(*net_, dir + "/weights.pt");
  }

  void export_files(std::string_view format, const std::string& dir) const override {
    if (format != "hf") Student::export_files(format, dir);
    if (!net_) throw std::logic_error("seq2seq: export before train() or load");
    const Seq2SeqConfig& c = net_->config();
    const student_internal::GenerateOptions g = generate_options(c);
    const nlohmann::json generation = {{"do_sample", false},
                                       {"num_beams", g.beam},
                                       {"max_new_tokens", g.max_new_tokens},
                                       {"min_new_tokens", g.min_new_tokens},
                                       {"length_penalty", g.length_penalty},
                                       {"no_repeat_ngram_size", g.no_repeat_ngram}};
    const auto source_limit =
        std::min<std::int64_t>(options_.max_source_length, c.max_position_embeddings);
    const std::string framing = bart_bos(c) ? fmt::format(kBartFraming, source_limit)
                                            : fmt::format(kEosOnlyFraming, source_limit - 1);
    const std::string readme =
        fmt::format(kExportReadme, c.bart() ? "Bart" : "Pegasus", source_limit, framing);
    student_internal::write_seq2seq_folder(*net_, source_dir_, generation, readme, dir);
  }

  void load_files(const std::string& dir) override {
    net_ = nullptr;
    student_internal::PretrainedSeq2Seq p = student_internal::load_pretrained_seq2seq(dir, false);
    student_internal::load_module(*p.model, dir + "/weights.pt");
    p.model->eval();
    tokenizer_ = p.tokenizer;
    source_dir_ = dir;
    net_ = p.model;
  }

 private:
  static student_internal::PretrainedSeq2Seq load(const char* key, const std::string& dir) {
    try {
      return student_internal::load_pretrained_seq2seq(dir);
    } catch (const InputError& e) {
      throw InputError(std::string(key) + ": " + e.what());
    }
  }

  student_internal::BertFineTuneOptions finetune_options() const {
    student_internal::BertFineTuneOptions ft;
    ft.epochs = options_.epochs;
    ft.batch_size = options_.batch_size * options_.grad_accum;
    ft.lr = options_.lr;
    ft.weight_decay = options_.weight_decay;
    ft.warmup = options_.warmup;
    ft.clip = options_.clip;
    ft.keep_best = options_.keep_best;
    ft.dev_every = options_.dev_every;
    return ft;
  }

  bool bart_bos(const Seq2SeqConfig& c) const { return c.bart() && c.bos_token_id >= 0; }

  // [bos] (BART with one) + the first `max_tokens` tokens of `text` + [eos].
  std::vector<std::int64_t> frame(const Seq2SeqConfig& c, const std::string& text,
                                  std::size_t max_tokens) const {
    std::vector<BertToken> tokens = tokenizer_->encode(text, max_tokens + 2);
    std::vector<std::int64_t> ids;
    if (bart_bos(c)) ids.push_back(c.bos_token_id);
    for (std::size_t i = 1; i + 1 < tokens.size(); ++i) ids.push_back(tokens[i].id);
    ids.push_back(c.eos_token_id);
    return ids;
  }

  std::vector<std::int64_t> source_ids(const Seq2SeqConfig& c, const std::string& text) const {
    const auto limit = static_cast<std::size_t>(
        std::min<std::int64_t>(options_.max_source_length, c.max_position_embeddings));
    return frame(c, text, limit - (bart_bos(c) ? 2 : 1));
  }

  // Batches of pair indices: sorted by source length with a random tie-break, cut into batches,
  // the batches shuffled, so a batch pads little and the order still changes every epoch.
  std::vector<std::vector<std::size_t>> bucketed_batches(
      const std::vector<std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>>& pairs,
      Rng& rng) const {
    std::vector<std::size_t> order(pairs.size());
    std::iota(order.begin(), order.end(), 0);
    rng.shuffle(order);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return pairs[a].first.size() < pairs[b].first.size();
    });
    std::vector<std::vector<std::size_t>> batches;
    const auto size = static_cast<std::size_t>(options_.batch_size);
    for (std::size_t i = 0; i < order.size(); i += size) {
      batches.emplace_back(
          order.begin() + static_cast<std::ptrdiff_t>(i),
          order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), i + size)));
    }
    rng.shuffle(batches);
    return batches;
  }

  // The label-smoothed cross-entropy, mean over the batch's target tokens, and their count.
  std::pair<torch::Tensor, std::size_t> batch_loss(
      student_internal::Seq2SeqModelImpl& net, const Seq2SeqConfig& c,
      const std::vector<std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>>& pairs,
      const std::vector<std::size_t>& batch) const {
    std::vector<std::vector<std::int64_t>> sources, inputs, labels;
    std::size_t count = 0;
    for (std::size_t i : batch) {
      sources.push_back(pairs[i].first);
      const std::vector<std::int64_t>& target = pairs[i].second;
      std::vector<std::int64_t> in = {c.decoder_start_token_id};
      in.insert(in.end(), target.begin(), target.end() - 1);
      inputs.push_back(std::move(in));
      labels.push_back(target);
      count += target.size();
    }
    const auto [src, src_mask] = student_internal::pad_ids(sources, c.pad_token_id);
    const auto [dec, dec_mask] = student_internal::pad_ids(inputs, c.pad_token_id);
    const torch::Tensor gold = student_internal::pad_ids(labels, -100).first;
    const torch::Tensor hidden = net.decode(dec, net.encode(src, src_mask), src_mask);
    const torch::Tensor logits = net.logits(hidden);
    namespace F = torch::nn::functional;
    const torch::Tensor loss = F::cross_entropy(
        logits.view({-1, logits.size(-1)}), gold.view({-1}),
        F::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(options_.label_smoothing));
    return {loss, count};
  }

  std::vector<Sample> dev_subset(const std::vector<Sample>& dev) const {
    if (options_.dev_limit == 0 || dev.size() <= static_cast<std::size_t>(options_.dev_limit))
      return dev;
    return std::vector<Sample>(dev.begin(), dev.begin() + options_.dev_limit);
  }

  student_internal::GenerateOptions generate_options(const Seq2SeqConfig& c) const {
    student_internal::GenerateOptions g;
    const int framing = bart_bos(c) ? 1 : 0;
    g.max_new_tokens = options_.max_length + framing + 1;
    g.min_new_tokens = options_.min_length + framing;
    g.beam = options_.beam;
    g.length_penalty = options_.length_penalty;
    g.no_repeat_ngram = options_.no_repeat_ngram;
    return g;
  }

  std::vector<Prediction> infer(student_internal::Seq2SeqModelImpl& net,
                                const std::vector<Sample>& inputs) const {
    const bool was_training = net.is_training();
    net.eval();
    torch::InferenceMode inference;
    const Seq2SeqConfig& c = net.config();
    std::vector<std::vector<std::int64_t>> sources;
    for (const Sample& s : inputs) sources.push_back(source_ids(c, s.text));
    std::vector<std::size_t> order(sources.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return sources[a].size() < sources[b].size();
    });
    std::vector<Prediction> out(inputs.size());
    const student_internal::GenerateOptions g = generate_options(c);
    const std::vector<std::int64_t> skip = {c.pad_token_id, c.eos_token_id, c.bos_token_id,
                                            c.decoder_start_token_id};
    const auto batch = static_cast<std::size_t>(options_.predict_batch);
    for (std::size_t start = 0; start < order.size(); start += batch) {
      const std::size_t end = std::min(order.size(), start + batch);
      std::vector<std::vector<std::int64_t>> rows;
      for (std::size_t k = start; k < end; ++k) rows.push_back(sources[order[k]]);
      const auto [ids, mask] = student_internal::pad_ids(rows, c.pad_token_id);
      const std::vector<student_internal::Generated> generated =
          student_internal::generate(net, ids, mask, g);
      for (std::size_t k = start; k < end; ++k) {
        Prediction& p = out[order[k]];
        p.summary = tokenizer_->decode(generated[k - start].tokens, skip);
        p.log_prob = generated[k - start].sum_logprob;
      }
    }
    if (was_training) net.train();
    return out;
  }

  Seq2SeqOptions options_;
  CommonOptions common_;
  std::string source_dir_;  // where config.json and vocab.txt are copied from on save
  std::shared_ptr<BertTokenizer> tokenizer_;
  Seq2SeqModel net_{nullptr};
};

}  // namespace

std::unique_ptr<Student> make_seq2seq(const nlohmann::json& options) {
  return std::make_unique<Seq2SeqStudent>(options);
}

}  // namespace weakdistill::neural
