// The `fasttext` classifier: fastText's supervised model (libfasttext, the
// library behind the `fasttext supervised` command) on characters, with
// character n-grams as fastText's "word n-grams". docs/STUDENTS.md has the
// options and the model folder.
#include <fasttext/fasttext.h>
#include <fmt/format.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <streambuf>
#include <thread>

#include "char_tokens.h"
#include "weakdistill/core/atomic_file.h"
#include "kinds_internal.h"
#include "weakdistill/core/error.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/core/random.h"
#include "weakdistill/text/vocabulary.h"

namespace weakdistill {
namespace {
namespace fs = std::filesystem;

struct FastTextOptions {
  // Passes over the training data (fasttext -epoch). 0 (auto) is 30, raised
  // for small training sets so that fastText sees at least 20,000 examples in
  // all (200 samples: 100 epochs); on 20 samples a label of data/cls that
  // scored 0.598 dev accuracy against 0.507 at 30 epochs.
  int epochs = 0;
  // Initial learning rate, decayed linearly to 0 over the whole run (-lr).
  double lr = 0.5;
  // Size of the character and n-gram vectors (-dim).
  int dim = 100;
  // Longest character n-gram used as a feature: 1 characters only, 2 also
  // bigrams, ... (-wordNgrams; our "words" are characters).
  int word_ngrams = 2;
  // Characters seen fewer times in train are not features of their own; their
  // n-grams still are (-minCount).
  int min_count = 1;
  // Hash buckets shared by all n-grams of 2 or more characters (-bucket). The
  // model holds (characters + bucket) x dim floats: 100,000 at dim 100 is
  // 40 MB. The fasttext command's default, 2,000,000, makes 800 MB files and
  // scored the same on data/cls (docs/STUDENTS.md). Unused when word_ngrams is 1.
  int bucket = 100000;
  // "softmax", "hs" (hierarchical softmax), "ova" (one-vs-all) or "ns"
  // (negative sampling) (-loss). Only softmax gives probabilities directly;
  // the others' label scores are renormalised to sum to 1.
  std::string loss = "softmax";
  // Negative labels sampled per example when loss is ns (-neg).
  int neg = 5;
  // Write the training samples in an order shuffled by the seed. fastText
  // reads its file in order every epoch while its learning rate decays, so a
  // file sorted by label (few-shot splits, generated samples appended after
  // the originals) would favour the last labels. false keeps the input order,
  // as the fasttext command does.
  bool shuffle = true;
};

fasttext::loss_name parse_loss(const std::string& name) {
  if (name == "softmax") return fasttext::loss_name::softmax;
  if (name == "hs") return fasttext::loss_name::hs;
  if (name == "ova") return fasttext::loss_name::ova;
  if (name == "ns") return fasttext::loss_name::ns;
  throw InputError("student.loss: '" + name + "' is not one of softmax, hs, ova, ns");
}

// fastText's classifier with access to what its public API leaves out: the
// exact probability of every label (FastText::predict returns log(p + 1e-5))
// and the running training loss.
class FastTextModel : public fasttext::FastText {
 public:
  // The score of each label, in fastText's label order, for a line already
  // turned into token and n-gram ids by Dictionary::getLine; they sum to 1.
  // `words` must not be empty.
  std::vector<double> label_probabilities(const std::vector<std::int32_t>& words) const {
    const std::int32_t n = dict_->nlabels();
    fasttext::Model::State state(args_->dim, n, 0);
    fasttext::Predictions heap;
    model_->predict(words, n, 0.0, heap, state);  // k = every label, threshold 0
    std::vector<double> p(static_cast<std::size_t>(n), 0.0);
    if (args_->loss == fasttext::loss_name::hs) {
      // The tree search fills only the heap: log-probabilities (each node's
      // probability smoothed by fastText's 1e-5); leaves below fastText's floor
      // (about 1e-5) are pruned and stay 0.
      for (const auto& [log_p, label] : heap) p[static_cast<std::size_t>(label)] = std::exp(log_p);
    } else {
      // softmax: the softmax itself; ova, ns: a sigmoid per label.
      for (std::int32_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = state.output[i];
    }
    double sum = 0;
    for (double v : p) sum += v;
    if (!(sum > 0)) return std::vector<double>(p.size(), 1.0 / static_cast<double>(p.size()));
    for (double& v : p) v /= sum;
    return p;
  }

  // fastText's mean loss since the start of training (thread 0's examples);
  // negative until first measured. Updated only when args.verbose > 1.
  float running_loss() const { return loss_.load(); }
};

// Discards what is written to it.
class NullBuffer : public std::streambuf {
 protected:
  int overflow(int c) override { return traits_type::not_eof(c); }
  std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

// Silences std::cerr while alive. Why: fastText measures its running loss
// only when verbose > 1, and then also prints progress to std::cerr.
class SilencedCerr {
 public:
  SilencedCerr() : old_(std::cerr.rdbuf(&null_)) {}
  ~SilencedCerr() { std::cerr.rdbuf(old_); }
  SilencedCerr(const SilencedCerr&) = delete;
  SilencedCerr& operator=(const SilencedCerr&) = delete;

 private:
  NullBuffer null_;
  std::streambuf* old_;
};

// A temporary file removed with its owner.
class ScratchFile {
 public:
  ScratchFile() {
    std::string tmpl = (fs::temp_directory_path() / "weakdistill-fasttext-XXXXXX").string();
    const int fd = ::mkstemp(tmpl.data());
    if (fd < 0) throw std::runtime_error("fasttext: cannot create a temporary file in " + tmpl);
    ::close(fd);
    path_ = tmpl;
  }
  ~ScratchFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr std::string_view kLabelPrefix = "__label__";

constexpr const char* kExportReadme = R"(# A fastText classifier exported by weakdistill

`model.bin` is a fastText supervised model, read by the fasttext command and library
(`fasttext predict-prob`, `fasttext.load_model` in Python's fasttext package). It has {} labels,
written `__label__<n>`; `labels.tsv` gives each one's name (one line: the fastText label, a tab,
the name).

fastText reads words separated by spaces; this model's words are characters. Turn a text into
its line as weakdistill does: every character (code point) is a word, except whitespace; a run of
whitespace between two characters is the word `\u2581` (U+2581); whitespace at either end is
dropped. In Python:

    import re
    def line(text):
        words = []
        for part in re.split(r"[\s\x00]+", text.strip()):
            if part:
                if words: words.append("\u2581")
                words.extend(part)
        return " ".join(words)

then `fasttext predict-prob model.bin lines.txt K` gives the K most probable labels of each line.
Its probabilities are fastText's, with 1e-5 added (fastText's own rounding); weakdistill's
`predict` and `serve` print them without it.
)";

// A line of fastText's format without its label: the tokens separated by
// spaces, then a newline.
std::string fasttext_line(const std::string& text) {
  std::string line;
  for (const std::string& t : student_internal::char_tokens(text)) {
    if (!line.empty()) line += ' ';
    line += t;
  }
  line += '\n';
  return line;
}

class FastTextStudent : public Student {
 public:
  explicit FastTextStudent(const nlohmann::json& options) {
    OptionReader r(options, "student");
    common_ = student_internal::read_common(r);
    r.get("epochs", o_.epochs);
    r.get("lr", o_.lr);
    r.get("dim", o_.dim);
    r.get("word_ngrams", o_.word_ngrams);
    r.get("min_count", o_.min_count);
    r.get("bucket", o_.bucket);
    r.get("loss", o_.loss);
    r.get("neg", o_.neg);
    r.get("shuffle", o_.shuffle);
    r.finish();
    if (o_.epochs < 0) throw InputError("student.epochs: must be 0 (auto) or more");
    if (!(o_.lr > 0)) throw InputError("student.lr: must be above 0");
    if (o_.dim < 1) throw InputError("student.dim: must be 1 or more");
    if (o_.word_ngrams < 1) throw InputError("student.word_ngrams: must be 1 or more");
    if (o_.min_count < 1) throw InputError("student.min_count: must be 1 or more");
    if (o_.bucket < 0) throw InputError("student.bucket: must be 0 or more");
    if (o_.word_ngrams > 1 && o_.bucket < 1) {
      throw InputError("student.bucket: must be 1 or more when word_ngrams is above 1");
    }
    if (o_.neg < 1) throw InputError("student.neg: must be 1 or more");
    parse_loss(o_.loss);
  }

  Task task() const override { return Task::kClassification; }
  std::string_view kind() const override { return "fasttext"; }

  void train(const std::vector<Sample>& train, const std::vector<Sample>& dev) override {
    model_.reset();
    const std::set<std::string> names = student_internal::training_labels(train, "fasttext");
    // Our labels in name order; in the file each is "__label__<id>", so that
    // any label text, even one with spaces, survives fastText's tokenizer.
    labels_ = Vocabulary();
    for (const std::string& n : names) labels_.add(n);

    ScratchFile data;
    write_training_file(train, data.path());

    auto model = std::make_unique<FastTextModel>();
    const int epochs = epochs_for(train.size());
    const fasttext::Args args = make_args(data.path(), epochs);
    EpochTracker tracker(*this, *model, dev, train.size(), epochs);
    try {
      std::optional<SilencedCerr> quiet;
      if (args.verbose > 0) quiet.emplace();
      model->train(args, [&tracker](float progress, float, double, double, int64_t) {
        tracker.at(progress);
      });
    } catch (const fasttext::FastText::AbortError&) {
      // Only our callback aborts, after storing its exception.
      tracker.rethrow();
      throw;
    } catch (const std::invalid_argument& e) {  // e.g. "Empty vocabulary"
      throw InputError(std::string("fasttext: ") + e.what());
    } catch (const fasttext::DenseMatrix::EncounteredNaNError&) {
      throw InputError("fasttext: training diverged (NaN weights); lower student.lr");
    }
    tracker.rethrow();
    tracker.finish();  // may throw from on_epoch: then the student stays untrained
    ft_to_label_ = label_map(*model);
    model_ = std::move(model);
  }

  std::vector<Prediction> predict(const std::vector<Sample>& inputs) override {
    if (!model_) throw std::logic_error("fasttext: predict() before train() or load");
    return predict_with(*model_, ft_to_label_, inputs);
  }

  std::vector<std::string> labels() const override { return labels_.tokens(); }

  nlohmann::json options() const override {
    return {{"epochs", o_.epochs},
            {"lr", o_.lr},
            {"dim", o_.dim},
            {"word_ngrams", o_.word_ngrams},
            {"min_count", o_.min_count},
            {"bucket", o_.bucket},
            {"loss", o_.loss},
            {"neg", o_.neg},
            {"shuffle", o_.shuffle},
            {"seed", common_.seed},
            {"threads", common_.threads}};
  }

  void save_files(const std::string& dir) const override {
    if (!model_) throw std::logic_error("fasttext: save before train() or load");
    const std::string path = dir + "/model.bin";
    try {
      model_->saveModel(path);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string("fasttext: ") + e.what());
    }
    labels_.save(dir + "/labels.json");
  }

  void load_files(const std::string& dir) override {
    model_.reset();
    const std::string path = dir + "/model.bin";
    if (!fs::exists(path)) throw InputError(path + ": missing (the model folder is incomplete)");
    labels_ = Vocabulary::load(dir + "/labels.json");
    auto model = std::make_unique<FastTextModel>();
    try {
      model->loadModel(path);
    } catch (const std::exception& e) {
      throw InputError(path + ": not a fastText model this library reads (" + e.what() + ")");
    }
    if (model->getArgs().model != fasttext::model_name::sup) {
      throw InputError(path + ": a fastText word-vector model, not a classifier");
    }
    ft_to_label_ = label_map(*model, path);
    model_ = std::move(model);
  }

  // The model's own model.bin is already fastText's format; what a user of the fasttext command
  // needs besides is the label names and how a text becomes a line.
  void export_files(std::string_view format, const std::string& dir) const override {
    if (format != "hf") Student::export_files(format, dir);
    if (!model_) throw std::logic_error("fasttext: export before train() or load");
    try {
      model_->saveModel(dir + "/model.bin");
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string("fasttext: ") + e.what());
    }
    std::string tsv;
    for (std::size_t i = 0; i < labels_.size(); ++i) {
      tsv += std::string(kLabelPrefix) + std::to_string(i) + "\t" + labels_.token(i) + "\n";
    }
    write_file_atomically(dir + "/labels.tsv", tsv);
    write_file_atomically(dir + "/README.md", fmt::format(kExportReadme, labels_.size()));
  }

 private:
  // Turns fastText's progress (fraction of all epochs' tokens, reported by
  // every training thread every 64 lines) into per-batch progress and epoch
  // reports. An epoch is reported at the first callback after its end (up to
  // 64 lines late per thread); the last ones after training returns.
  // Reports never overlap; with several threads they run on a fastText worker
  // thread while the others keep training.
  class EpochTracker {
   public:
    EpochTracker(FastTextStudent& student, FastTextModel& model, const std::vector<Sample>& dev,
                 std::size_t samples, int epochs)
        : s_(student), model_(model), dev_(dev), samples_(samples), epochs_(epochs), last_(now()) {}

    void at(float progress) {
      std::lock_guard lock(mutex_);
      if (error_) return;
      try {
        const int epochs = epochs_;
        const double fraction = std::clamp(static_cast<double>(progress), 0.0, 1.0);
        const double done = fraction * epochs;
        while (reported_ < epochs && done >= reported_ + 1) report(reported_ + 1, fraction);
        if (reported_ < epochs) {
          if (!bar_) {
            bar_.emplace("epoch " + std::to_string(reported_ + 1) + "/" + std::to_string(epochs),
                         samples_, "samples");
          }
          const auto pos = static_cast<std::size_t>((done - reported_) * samples_);
          if (pos > bar_done_) {
            bar_->advance(std::min(pos, samples_) - std::min(bar_done_, samples_));
          }
          bar_done_ = std::max(bar_done_, pos);
        }
      } catch (...) {
        error_ = std::current_exception();
        model_.abort();  // training stops; train() rethrows error_
      }
    }

    // Reports the epochs not reported during training.
    void finish() {
      while (reported_ < epochs_) report(reported_ + 1, 1.0);
    }

    void rethrow() {
      if (error_) std::rethrow_exception(error_);
    }

   private:
    static std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }

    // `fraction`: of all epochs' tokens, when the report is made.
    void report(int epoch, double fraction) {
      if (bar_) {
        bar_->advance(samples_ > bar_done_ ? samples_ - bar_done_ : 0);
        bar_->finish();
        bar_.reset();
      }
      bar_done_ = 0;
      reported_ = epoch;
      if (!s_.on_epoch) return;
      EpochReport r;
      r.epoch = epoch;
      r.epochs = epochs_;
      // fastText's running mean since the start, times the fraction of
      // training done, is the loss summed so far (up to a constant); the
      // difference since the last report over the fraction between them is
      // the mean loss since then (about one epoch; epochs reported together
      // share it).
      const double running = model_.running_loss();
      if (running >= 0 && fraction > loss_fraction_) {
        r.train_loss =
            (running * fraction - loss_running_ * loss_fraction_) / (fraction - loss_fraction_);
        loss_fraction_ = fraction;
        loss_running_ = running;
      } else if (running >= 0) {
        r.train_loss = running;
      }
      if (!dev_.empty()) {
        if (map_.empty()) map_ = s_.label_map(model_);
        std::tie(r.dev_metric, r.dev_metric_name) = student_internal::dev_metric(
            Task::kClassification, dev_, s_.predict_with(model_, map_, dev_));
      }
      const auto t = now();
      r.seconds = std::chrono::duration<double>(t - last_).count();
      last_ = t;
      s_.on_epoch(r);
    }

    FastTextStudent& s_;
    FastTextModel& model_;
    const std::vector<Sample>& dev_;
    const std::size_t samples_;
    const int epochs_;
    std::mutex mutex_;
    std::exception_ptr error_;
    int reported_ = 0;
    std::optional<Progress> bar_;
    std::size_t bar_done_ = 0;
    double loss_fraction_ = 0;
    double loss_running_ = 0;
    std::vector<std::size_t> map_;
    std::chrono::steady_clock::time_point last_;
  };

  // The epochs to train on `samples` samples (epochs 0: auto).
  int epochs_for(std::size_t samples) const {
    if (o_.epochs > 0) return o_.epochs;
    constexpr std::size_t kMinExamples = 20000;
    return static_cast<int>(std::max<std::size_t>(30, (kMinExamples + samples - 1) / samples));
  }

  fasttext::Args make_args(const std::string& input, int epochs) const {
    // What `fasttext supervised` sets (Args::parseArgs), then our options.
    fasttext::Args a;
    a.input = input;
    a.model = fasttext::model_name::sup;
    a.loss = parse_loss(o_.loss);
    a.minn = 0;  // no subwords: our words are single characters
    a.maxn = 0;
    a.minCountLabel = 0;
    a.lr = o_.lr;
    a.dim = o_.dim;
    a.epoch = epochs;
    a.minCount = o_.min_count;
    a.wordNgrams = o_.word_ngrams;
    // Like the command: no n-gram table when there are no n-grams.
    a.bucket = o_.word_ngrams > 1 ? o_.bucket : 0;
    a.neg = o_.neg;
    a.thread = common_.threads > 0
                   ? common_.threads
                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    // fastText's seed is an int: it takes the low 31 bits.
    a.seed = static_cast<int>(common_.seed & 0x7fffffffu);
    a.verbose = on_epoch ? 2 : 0;  // 2 only to have the running loss for reports
    return a;
  }

  void write_training_file(const std::vector<Sample>& train, const std::string& path) const {
    std::vector<std::size_t> order(train.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    if (o_.shuffle) {
      Rng rng(common_.seed);
      rng.shuffle(order);
    }
    std::ofstream out(path, std::ios::binary);
    for (std::size_t i : order) {
      out << kLabelPrefix << labels_.id(train[i].label) << ' ' << fasttext_line(train[i].text);
    }
    out.close();
    if (!out) throw std::runtime_error("fasttext: cannot write the training data to " + path);
  }

  // For each fastText label index, the id of our label; throws InputError
  // naming `where` when the model's labels are not ours.
  std::vector<std::size_t> label_map(const FastTextModel& model,
                                     const std::string& where = "fasttext") const {
    const auto dict = model.getDictionary();
    if (static_cast<std::size_t>(dict->nlabels()) != labels_.size()) {
      throw InputError(where + ": has " + std::to_string(dict->nlabels()) +
                       " labels, labels.json " + std::to_string(labels_.size()));
    }
    std::vector<std::size_t> map;
    for (std::int32_t i = 0; i < dict->nlabels(); ++i) {
      const std::string name = dict->getLabel(i);
      std::size_t id = 0, used = 0;
      try {
        id = std::stoul(name.substr(kLabelPrefix.size()), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (name.rfind(kLabelPrefix, 0) != 0 || used == 0 ||
          used != name.size() - kLabelPrefix.size() || id >= labels_.size()) {
        throw InputError(where + ": unexpected label '" + name + "'");
      }
      map.push_back(id);
    }
    return map;
  }

  std::vector<Prediction> predict_with(const FastTextModel& model,
                                       const std::vector<std::size_t>& ft_to_label,
                                       const std::vector<Sample>& inputs) const {
    const auto dict = model.getDictionary();
    std::vector<Prediction> out(inputs.size());
    std::vector<std::int32_t> words, unused;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      std::istringstream line(fasttext_line(inputs[i].text));
      dict->getLine(line, words, unused);
      std::vector<double> p(labels_.size(), 1.0 / static_cast<double>(labels_.size()));
      // `words` always holds the end-of-line token, which training saw on every line.
      if (!words.empty()) {
        const std::vector<double> ft = model.label_probabilities(words);
        for (std::size_t j = 0; j < ft.size(); ++j) p[ft_to_label[j]] = ft[j];
      }
      std::size_t best = 0;  // ties: the first label in name order
      for (std::size_t j = 0; j < p.size(); ++j) {
        out[i].label_probs[labels_.token(static_cast<std::int64_t>(j))] = p[j];
        if (p[j] > p[best]) best = j;
      }
      out[i].label = labels_.token(static_cast<std::int64_t>(best));
    }
    return out;
  }

  FastTextOptions o_;
  CommonOptions common_;
  Vocabulary labels_;                     // our labels, in name order
  std::vector<std::size_t> ft_to_label_;  // fastText label index -> our label id
  std::unique_ptr<FastTextModel> model_;  // null until trained or loaded
};

}  // namespace

std::unique_ptr<Student> student_internal::make_fasttext(const nlohmann::json& options) {
  return std::make_unique<FastTextStudent>(options);
}

}  // namespace weakdistill
