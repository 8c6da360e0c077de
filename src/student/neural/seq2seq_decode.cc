#include "seq2seq_decode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace weakdistill::student_internal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double normalized(double sum, std::size_t length, double penalty) {
  return sum / std::pow(static_cast<double>(length), penalty);
}

// Applies the processors of seq2seq_decode.h to scores [R, V] (log-probabilities) of rows whose
// tokens so far are `rows[r]`, at step g.
void process(torch::Tensor& scores, const std::vector<const std::vector<std::int64_t>*>& rows,
             int g, const GenerateOptions& o, const Seq2SeqConfig& c) {
  const float minus_inf = -std::numeric_limits<float>::infinity();
  if (o.no_repeat_ngram > 0) {
    auto a = scores.accessor<float, 2>();
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (std::int64_t t : banned_by_ngram(*rows[r], o.no_repeat_ngram))
        a[static_cast<std::int64_t>(r)][t] = minus_inf;
    }
  }
  if (g < o.min_new_tokens) scores.select(1, c.eos_token_id).fill_(minus_inf);
  auto force = [&](std::int64_t token) {
    scores.fill_(minus_inf);
    scores.select(1, token).fill_(0);
  };
  if (g == 0 && c.forced_bos_token_id >= 0) force(c.forced_bos_token_id);
  if (g == o.max_new_tokens - 1) force(c.eos_token_id);
}

// The best normalized score a live hypothesis with summed score `sum` (<= 0) and `length`
// generated tokens can still reach when it ends: its sum can only fall, and it ends with at
// least one more token (the end) and at most max_new_tokens.
double best_bound(double sum, int length, const GenerateOptions& o) {
  if (o.length_penalty > 0)
    return normalized(sum, static_cast<std::size_t>(o.max_new_tokens), o.length_penalty);
  if (o.length_penalty == 0) return sum;
  return normalized(sum, static_cast<std::size_t>(std::min(length + 1, o.max_new_tokens)),
                    o.length_penalty);
}

// Log-probabilities [R, V] of the next token of the rows in `cache`, whose last tokens are `next`.
torch::Tensor next_scores(Seq2SeqModelImpl& model, const torch::Tensor& next, DecoderCache& cache) {
  return torch::log_softmax(model.logits(model.step(next, cache)).squeeze(1), -1).contiguous();
}

std::vector<Generated> greedy(Seq2SeqModelImpl& model, const torch::Tensor& source,
                              const torch::Tensor& mask, const GenerateOptions& o) {
  const Seq2SeqConfig& c = model.config();
  const std::int64_t b = source.size(0);
  DecoderCache cache = model.start(source, mask);
  std::vector<std::vector<std::int64_t>> seqs(static_cast<std::size_t>(b),
                                              {c.decoder_start_token_id});
  std::vector<Generated> out(static_cast<std::size_t>(b));
  std::vector<std::size_t> live(static_cast<std::size_t>(b));  // original row of each cache row
  for (std::size_t i = 0; i < live.size(); ++i) live[i] = i;
  torch::Tensor next = torch::full({b}, c.decoder_start_token_id, torch::kInt64);
  for (int g = 0; g < o.max_new_tokens && !live.empty(); ++g) {
    torch::Tensor scores = next_scores(model, next, cache);
    std::vector<const std::vector<std::int64_t>*> rows;
    for (std::size_t r : live) rows.push_back(&seqs[r]);
    process(scores, rows, g, o, c);
    const torch::Tensor best = scores.argmax(1);
    auto ba = best.accessor<std::int64_t, 1>();
    auto sa = scores.accessor<float, 2>();
    std::vector<std::int64_t> keep, keep_tokens;
    std::vector<std::size_t> still;
    for (std::size_t k = 0; k < live.size(); ++k) {
      const auto row = static_cast<std::int64_t>(k);
      std::int64_t token = ba[row];
      double lp = sa[row][token];
      if (!std::isfinite(lp)) token = c.eos_token_id;  // every token banned: end the row
      Generated& gen = out[live[k]];
      gen.tokens.push_back(token);
      gen.sum_logprob += lp;
      seqs[live[k]].push_back(token);
      if (token != c.eos_token_id) {
        keep.push_back(row);
        keep_tokens.push_back(token);
        still.push_back(live[k]);
      }
    }
    if (still.size() != live.size() && !still.empty()) cache.select(torch::tensor(keep));
    live = std::move(still);
    next = torch::tensor(keep_tokens, torch::kInt64);
  }
  for (Generated& gen : out) {
    gen.score = normalized(gen.sum_logprob, gen.tokens.size(), o.length_penalty);
  }
  return out;
}

std::vector<Generated> beam_search(Seq2SeqModelImpl& model, const torch::Tensor& source,
                                   const torch::Tensor& mask, const GenerateOptions& o) {
  const Seq2SeqConfig& c = model.config();
  const std::int64_t b = source.size(0), k = o.beam, v = c.vocab_size;
  DecoderCache cache = model.start(source, mask, k);  // cross-attention: one row an item
  // Cache row a*k + j is beam j of the a-th live item.
  std::vector<std::size_t> items(static_cast<std::size_t>(b));
  for (std::size_t i = 0; i < items.size(); ++i) items[i] = i;
  std::vector<std::vector<std::int64_t>> seqs(static_cast<std::size_t>(b * k),
                                              {c.decoder_start_token_id});
  std::vector<double> sums(static_cast<std::size_t>(b * k), -kInf);
  for (std::int64_t i = 0; i < b; ++i) sums[static_cast<std::size_t>(i * k)] = 0;
  std::vector<std::vector<Generated>> finished(static_cast<std::size_t>(b));
  torch::Tensor next = torch::full({b * k}, c.decoder_start_token_id, torch::kInt64);

  for (int g = 0; g < o.max_new_tokens && !items.empty(); ++g) {
    torch::Tensor scores = next_scores(model, next, cache);  // [A*k, V]
    std::vector<const std::vector<std::int64_t>*> rows;
    for (const auto& s : seqs) rows.push_back(&s);
    process(scores, rows, g, o, c);
    const torch::Tensor sum_tensor =
        torch::tensor(std::vector<float>(sums.begin(), sums.end())).view({-1, 1});
    torch::Tensor candidates = scores + sum_tensor;  // -inf rows stay -inf
    const torch::Tensor eos = candidates.select(1, c.eos_token_id).clone();
    candidates.select(1, c.eos_token_id).fill_(-std::numeric_limits<float>::infinity());
    const auto a_count = static_cast<std::int64_t>(items.size());
    const auto [top_values, top_indices] = candidates.view({a_count, k * v}).topk(k, 1);
    auto ea = eos.accessor<float, 1>();
    auto tv = top_values.accessor<float, 2>();
    auto ti = top_indices.accessor<std::int64_t, 2>();

    std::vector<std::size_t> next_items;
    std::vector<std::int64_t> kept_items;  // positions in `items` of the items still live
    std::vector<std::vector<std::int64_t>> next_seqs;
    std::vector<double> next_sums;
    std::vector<std::int64_t> source_rows, next_tokens;
    for (std::int64_t a = 0; a < a_count; ++a) {
      std::vector<Generated>& done = finished[items[static_cast<std::size_t>(a)]];
      for (std::int64_t j = 0; j < k; ++j) {
        const auto row = static_cast<std::size_t>(a * k + j);
        const double s = ea[a * k + j];
        if (!std::isfinite(s)) continue;
        Generated gen;
        gen.tokens.assign(seqs[row].begin() + 1, seqs[row].end());
        gen.tokens.push_back(c.eos_token_id);
        gen.sum_logprob = s;
        gen.score = normalized(s, gen.tokens.size(), o.length_penalty);
        done.push_back(std::move(gen));
      }
      std::stable_sort(done.begin(), done.end(),
                       [](const Generated& x, const Generated& y) { return x.score > y.score; });
      if (done.size() > static_cast<std::size_t>(k)) done.resize(static_cast<std::size_t>(k));
      bool any_live = false;
      for (std::int64_t j = 0; j < k; ++j) any_live = any_live || std::isfinite(tv[a][j]);
      if (!any_live) continue;  // this item is finished
      // Scores only fall as tokens are added, so no live beam can beat the best finished
      // hypothesis once even its best bound does not: stopping there changes no result.
      if (!done.empty() && done.front().score >= best_bound(tv[a][0], g + 1, o)) continue;
      next_items.push_back(items[static_cast<std::size_t>(a)]);
      kept_items.push_back(a);
      for (std::int64_t j = 0; j < k; ++j) {
        const bool live = std::isfinite(tv[a][j]);
        const std::int64_t from = a * k + (live ? ti[a][j] / v : 0);
        const std::int64_t token = live ? ti[a][j] % v : c.pad_token_id;
        source_rows.push_back(from);
        next_tokens.push_back(token);
        next_seqs.push_back(seqs[static_cast<std::size_t>(from)]);
        next_seqs.back().push_back(token);
        next_sums.push_back(live ? static_cast<double>(tv[a][j]) : -kInf);
      }
    }
    items = std::move(next_items);
    if (items.empty()) break;
    // A beam's source is its item's, whichever beam it came from: the cross-attention cache
    // changes only when items finish.
    cache.select_grouped(torch::tensor(source_rows),
                         static_cast<std::int64_t>(items.size()) == a_count
                             ? torch::Tensor()
                             : torch::tensor(kept_items));
    seqs = std::move(next_seqs);
    sums = std::move(next_sums);
    next = torch::tensor(next_tokens, torch::kInt64);
  }
  std::vector<Generated> out(static_cast<std::size_t>(b));
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (finished[i].empty()) {
      out[i].sum_logprob = out[i].score = -kInf;  // every continuation was banned
    } else {
      out[i] = finished[i].front();
    }
  }
  return out;
}

}  // namespace

std::vector<std::int64_t> banned_by_ngram(const std::vector<std::int64_t>& sequence, int n) {
  std::vector<std::int64_t> banned;
  const auto size = static_cast<std::size_t>(n);
  if (n < 1 || sequence.size() + 1 < size) return banned;
  const std::size_t m = sequence.size();
  // The last n-1 tokens, matched against every earlier n-gram's first n-1.
  for (std::size_t i = 0; i + size <= m; ++i) {
    if (std::equal(sequence.begin() + static_cast<std::ptrdiff_t>(i),
                   sequence.begin() + static_cast<std::ptrdiff_t>(i + size - 1),
                   sequence.end() - static_cast<std::ptrdiff_t>(size - 1))) {
      banned.push_back(sequence[i + size - 1]);
    }
  }
  return banned;
}

std::vector<Generated> generate(Seq2SeqModelImpl& model, const torch::Tensor& ids,
                                const torch::Tensor& mask, const GenerateOptions& options) {
  if (options.max_new_tokens < 1) throw std::invalid_argument("max_new_tokens must be 1 or more");
  if (options.beam < 1) throw std::invalid_argument("beam must be 1 or more");
  if (ids.size(0) == 0) return {};
  const torch::Tensor source = model.encode(ids, mask);
  return options.beam == 1 ? greedy(model, source, mask, options)
                           : beam_search(model, source, mask, options);
}

}  // namespace weakdistill::student_internal
