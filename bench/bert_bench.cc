// The native BERT encoder's throughput (sentences/s) on real texts, for
// bench/compare_bert.sh, which runs bench/bert_eager.py (Python PyTorch eager)
// on the very batches this program writes.
//
// Usage: bert_bench MODEL_DIR TEXTS.jsonl --batches-out B.jsonl [--n 256] [--batch 32]
//                   [--threads T] [--max-length 512] [--repeat 3] [--npy-out E.npy]
// Reads the first n "text" fields of TEXTS.jsonl, tokenizes them with the
// folder's vocabulary, sorts them by length and cuts batches of `batch` (as the
// bge embedder does), writes those batches (ids and masks, padded), then times:
//   encoder: the encoder's forward plus CLS pooling and normalisation over all
//            batches (best of `repeat` passes after one warm-up pass);
//   embed:   the `bge` embedder's embed() of the same texts, end to end
//            (tokenization and bucketing included).
// Prints one JSON line per measurement on stdout.
#include <chrono>
#include <fstream>
#include <iostream>
#include <numeric>

#include "bert.h"
#include "torch_util.h"
#include "weakdistill/core/npy.h"
#include "weakdistill/core/progress.h"
#include "weakdistill/embed/embedder.h"

namespace {

using namespace weakdistill;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string model, texts, batches_out, npy_out;
  std::size_t n = 256, batch = 32, max_length = 512;
  int threads = 0, repeat = 3;
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
    if (k == "--batches-out")
      a.batches_out = value();
    else if (k == "--npy-out")
      a.npy_out = value();
    else if (k == "--n")
      a.n = std::stoul(value());
    else if (k == "--batch")
      a.batch = std::stoul(value());
    else if (k == "--max-length")
      a.max_length = std::stoul(value());
    else if (k == "--threads")
      a.threads = std::stoi(value());
    else if (k == "--repeat")
      a.repeat = std::stoi(value());
    else
      positional.push_back(k);
  }
  if (positional.size() != 2 || a.batches_out.empty()) {
    throw std::invalid_argument(
        "usage: bert_bench MODEL_DIR TEXTS.jsonl --batches-out B.jsonl [options]");
  }
  a.model = positional[0];
  a.texts = positional[1];
  return a;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args a = parse(argc, argv);
  Progress::set_enabled(false);
  std::vector<std::string> texts;
  {
    std::ifstream in(a.texts);
    std::string line;
    while (texts.size() < a.n && std::getline(in, line)) {
      texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    }
  }
  auto bert = student_internal::load_pretrained_bert(a.model);
  bert.encoder->eval();
  student_internal::set_torch_threads(CommonOptions{1, a.threads});
  const std::size_t max_length = std::min<std::size_t>(
      a.max_length, static_cast<std::size_t>(bert.config.max_position_embeddings));

  std::vector<std::vector<std::int64_t>> ids;
  for (const auto& t : texts) ids.push_back(bert.tokenizer->encode_ids(t, max_length));
  std::vector<std::size_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t x, std::size_t y) { return ids[x].size() < ids[y].size(); });
  std::vector<std::pair<torch::Tensor, torch::Tensor>> batches;
  std::ofstream out(a.batches_out);
  std::size_t tokens = 0;
  for (std::size_t s = 0; s < order.size(); s += a.batch) {
    std::vector<std::vector<std::int64_t>> rows;
    for (std::size_t k = s; k < std::min(order.size(), s + a.batch); ++k) {
      rows.push_back(ids[order[k]]);
      tokens += ids[order[k]].size();
    }
    batches.push_back(student_internal::pad_ids(rows, bert.tokenizer->pad_id()));
    const auto& [x, m] = batches.back();
    auto to_rows = [](const torch::Tensor& t) {
      std::vector<std::vector<std::int64_t>> r(static_cast<std::size_t>(t.size(0)));
      for (std::int64_t i = 0; i < t.size(0); ++i) {
        r[static_cast<std::size_t>(i)].assign(t[i].data_ptr<std::int64_t>(),
                                              t[i].data_ptr<std::int64_t>() + t.size(1));
      }
      return r;
    };
    out << nlohmann::json{{"input_ids", to_rows(x)}, {"attention_mask", to_rows(m)}}.dump() << "\n";
  }
  out.close();

  torch::InferenceMode inference;
  std::vector<float> vectors(texts.size() * static_cast<std::size_t>(bert.config.hidden_size));
  auto pass = [&] {
    std::size_t row = 0;
    for (const auto& [x, m] : batches) {
      torch::Tensor cls = bert.encoder->forward_cls(x, m);
      cls = (cls / cls.norm(2, 1, true)).contiguous();
      std::copy_n(cls.data_ptr<float>(), cls.numel(),
                  vectors.data() + row * static_cast<std::size_t>(bert.config.hidden_size));
      row += static_cast<std::size_t>(x.size(0));
    }
  };
  pass();  // warm-up
  double best = 1e300;
  for (int r = 0; r < a.repeat; ++r) {
    const auto t0 = Clock::now();
    pass();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const int threads = at::get_num_threads();
  std::cout << nlohmann::json{{"what", "encoder"},
                              {"sentences", texts.size()},
                              {"tokens", tokens},
                              {"seconds", best},
                              {"sentences_per_s", texts.size() / best},
                              {"threads", threads}}
                   .dump()
            << std::endl;
  if (!a.npy_out.empty()) {
    write_npy_f32(a.npy_out, vectors.data(), texts.size(),
                  static_cast<std::size_t>(bert.config.hidden_size));
  }

  auto embedder = make_embedder({{"kind", "bge"},
                                 {"path", a.model},
                                 {"batch_size", a.batch},
                                 {"max_length", a.max_length},
                                 {"threads", a.threads}});
  double best_embed = 1e300;
  for (int r = 0; r < a.repeat; ++r) {
    const auto t0 = Clock::now();
    embedder->embed(texts);
    best_embed = std::min(best_embed, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::cout << nlohmann::json{{"what", "embed"},
                              {"sentences", texts.size()},
                              {"seconds", best_embed},
                              {"sentences_per_s", texts.size() / best_embed},
                              {"threads", threads}}
                   .dump()
            << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bert_bench: " << e.what() << "\n";
  return 2;
}
