#include "weakdistill/embed/hashing_embedder.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <exception>
#include <stdexcept>
#include <thread>

#include "weakdistill/core/error.h"
#include "weakdistill/core/utf8.h"

namespace weakdistill {
namespace {

constexpr std::uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;
constexpr int kMaxOrder = 5;
// Texts a worker claims at a time: big enough that the atomic counter is not
// contended, small enough that uneven text lengths still balance.
constexpr std::size_t kChunk = 64;

inline std::uint64_t fnv1a_step(std::uint64_t h, unsigned char byte) {
  return (h ^ byte) * kFnvPrime;
}

// Per-thread buffers, reused across texts so that embedding allocates little.
struct Scratch {
  std::string kept;                 // the text without whitespace, UTF-8
  std::vector<std::size_t> starts;  // byte offset of each kept code point, plus the end
  std::vector<std::uint64_t> hashes;
  std::vector<double> sums;
};

// Fills scratch.hashes with h(g) of every n-gram occurrence of `text` (steps 1-3
// of the header), unsorted. Throws std::invalid_argument on invalid UTF-8.
void ngram_hashes(std::string_view text, int min_n, int max_n, Scratch& scratch) {
  scratch.kept.clear();
  scratch.starts.clear();
  scratch.hashes.clear();
  for (const char32_t c : utf8::decode(text)) {
    if (utf8::is_space(c)) continue;
    scratch.starts.push_back(scratch.kept.size());
    utf8::append(scratch.kept, c);
  }
  const std::size_t length = scratch.starts.size();
  scratch.starts.push_back(scratch.kept.size());
  const auto* bytes = reinterpret_cast<const unsigned char*>(scratch.kept.data());
  for (std::size_t i = 0; i < length; ++i) {
    // FNV-1a is sequential, so the hash of the (n+1)-gram at i continues the n-gram's.
    std::uint64_t h = kFnvOffsetBasis;
    const std::size_t orders = std::min<std::size_t>(max_n, length - i);
    for (std::size_t k = 0; k < orders; ++k) {
      for (std::size_t b = scratch.starts[i + k]; b < scratch.starts[i + k + 1]; ++b) {
        h = fnv1a_step(h, bytes[b]);
      }
      if (static_cast<int>(k) + 1 >= min_n) scratch.hashes.push_back(h);
    }
  }
}

// Fibonacci hashing: spreads FNV's weakly mixed low bits over the slot index.
constexpr std::uint64_t kSlotMultiplier = 0x9e3779b97f4a7c15ULL;

void check(bool ok, const char* key, const std::string& message) {
  if (!ok) throw InputError(std::string("embedder.") + key + ": " + message);
}

}  // namespace

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = kFnvOffsetBasis;
  for (const char c : bytes) h = fnv1a_step(h, static_cast<unsigned char>(c));
  return h;
}

HashingEmbedder::HashingEmbedder(const HashingEmbedderOptions& options) : options_(options) {
  check(options_.dim >= 1, "dim", "must be at least 1, got " + std::to_string(options_.dim));
  check(options_.min_n >= 1, "min_n", "must be at least 1, got " + std::to_string(options_.min_n));
  check(options_.max_n <= kMaxOrder, "max_n",
        "must be at most " + std::to_string(kMaxOrder) + ", got " + std::to_string(options_.max_n));
  check(options_.min_n <= options_.max_n, "min_n",
        "must not exceed max_n (" + std::to_string(options_.max_n) + "), got " +
            std::to_string(options_.min_n));
  check(options_.threads >= 0, "threads",
        "must be 0 (all cores) or more, got " + std::to_string(options_.threads));
}

void HashingEmbedder::HashMap::clear() {
  entries_.clear();
  size_ = 0;
  shift_ = 64;
  has_zero_ = false;
  zero_value_ = 0;
}

std::size_t HashingEmbedder::HashMap::slot(std::uint64_t key) const {
  return static_cast<std::size_t>((key * kSlotMultiplier) >> shift_);
}

void HashingEmbedder::HashMap::grow() {
  std::vector<Entry> old = std::move(entries_);
  const std::size_t capacity = old.empty() ? std::size_t{1} << 12 : 2 * old.size();
  entries_.assign(capacity, Entry{0, 0.0});
  shift_ = 64 - std::countr_zero(capacity);
  const std::size_t mask = capacity - 1;
  for (const Entry& e : old) {
    if (e.key == 0) continue;
    std::size_t j = slot(e.key);
    while (entries_[j].key != 0) j = (j + 1) & mask;
    entries_[j] = e;
  }
}

double& HashingEmbedder::HashMap::operator[](std::uint64_t key) {
  if (key == 0) {
    has_zero_ = true;
    return zero_value_;
  }
  // At most 70% full, so that probe runs stay short.
  if (10 * (size_ + 1) > 7 * entries_.size()) grow();
  const std::size_t mask = entries_.size() - 1;
  std::size_t j = slot(key);
  while (entries_[j].key != 0 && entries_[j].key != key) j = (j + 1) & mask;
  if (entries_[j].key == 0) {
    entries_[j].key = key;
    ++size_;
  }
  return entries_[j].value;
}

const double* HashingEmbedder::HashMap::find(std::uint64_t key) const {
  if (key == 0) return has_zero_ ? &zero_value_ : nullptr;
  if (entries_.empty()) return nullptr;
  const std::size_t mask = entries_.size() - 1;
  for (std::size_t j = slot(key);; j = (j + 1) & mask) {
    if (entries_[j].key == key) return &entries_[j].value;
    if (entries_[j].key == 0) return nullptr;
  }
}

void HashingEmbedder::HashMap::prefetch(std::uint64_t key) const {
  if (!entries_.empty()) __builtin_prefetch(&entries_[slot(key)]);
}

template <typename F>
void HashingEmbedder::HashMap::for_each_value(F f) {
  for (Entry& e : entries_) {
    if (e.key != 0) f(e.value);
  }
  if (has_zero_) f(zero_value_);
}

void HashingEmbedder::fit(const std::vector<std::string>& labeled_texts) {
  // Counts df in place, then turns each count into its idf.
  idf_.clear();
  Scratch scratch;
  for (const std::string& text : labeled_texts) {
    ngram_hashes(text, options_.min_n, options_.max_n, scratch);
    auto& h = scratch.hashes;
    std::sort(h.begin(), h.end());
    h.erase(std::unique(h.begin(), h.end()), h.end());
    for (const std::uint64_t x : h) idf_[x] += 1.0;
  }
  const double n = static_cast<double>(labeled_texts.size());
  idf_.for_each_value([n](double& v) { v = std::log((1.0 + n) / (1.0 + v)) + 1.0; });
  unseen_idf_ = std::log(1.0 + n) + 1.0;
  fitted_ = true;
}

double HashingEmbedder::idf_of_hash(std::uint64_t h) const {
  const double* idf = idf_.find(h);
  return idf != nullptr ? *idf : unseen_idf_;
}

double HashingEmbedder::idf(std::string_view ngram) const {
  if (!fitted_) throw std::logic_error("HashingEmbedder::idf() called before fit()");
  return idf_of_hash(fnv1a64(ngram));
}

EmbeddingMatrix HashingEmbedder::embed(const std::vector<std::string>& texts) const {
  if (!fitted_) throw std::logic_error("HashingEmbedder::embed() called before fit()");
  const std::size_t dim = options_.dim;
  EmbeddingMatrix out(texts.size(), dim);

  const auto embed_one = [&](std::size_t i, Scratch& scratch) {
    ngram_hashes(texts[i], options_.min_n, options_.max_n, scratch);
    auto& hashes = scratch.hashes;
    if (hashes.empty()) return;  // the row stays zero
    // The idf lookups are cache misses in a table of ~10^6 n-grams: start them
    // all now, and sort meanwhile.
    for (const std::uint64_t h : hashes) idf_.prefetch(h);
    // Sorting groups equal n-grams for tf and fixes the order of the sums.
    std::sort(hashes.begin(), hashes.end());
    scratch.sums.assign(dim, 0.0);
    for (std::size_t a = 0; a < hashes.size();) {
      std::size_t b = a + 1;
      while (b < hashes.size() && hashes[b] == hashes[a]) ++b;
      const std::uint64_t h = hashes[a];
      const double tf = static_cast<double>(b - a);
      const double w = (options_.sublinear_tf ? 1.0 + std::log(tf) : tf) * idf_of_hash(h);
      scratch.sums[h % dim] += (h >> 63) ? -w : w;
      a = b;
    }
    double norm2 = 0.0;
    for (const double x : scratch.sums) norm2 += x * x;
    if (norm2 == 0.0) return;  // contributions cancelled exactly
    const double inv = 1.0 / std::sqrt(norm2);
    float* row = out.row(i);
    for (std::size_t d = 0; d < dim; ++d) row[d] = static_cast<float>(scratch.sums[d] * inv);
  };

  std::size_t workers = options_.threads > 0 ? static_cast<std::size_t>(options_.threads)
                                             : std::max(1u, std::thread::hardware_concurrency());
  workers = std::min(workers, (texts.size() + kChunk - 1) / kChunk);
  if (workers <= 1) {
    Scratch scratch;
    for (std::size_t i = 0; i < texts.size(); ++i) embed_one(i, scratch);
    return out;
  }

  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::exception_ptr> errors(workers);
  const auto work = [&](std::size_t w) {
    try {
      Scratch scratch;
      while (!failed.load(std::memory_order_relaxed)) {
        const std::size_t begin = next.fetch_add(kChunk, std::memory_order_relaxed);
        if (begin >= texts.size()) break;
        const std::size_t end = std::min(begin + kChunk, texts.size());
        for (std::size_t i = begin; i < end; ++i) embed_one(i, scratch);
      }
    } catch (...) {
      errors[w] = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work, w);
  work(0);
  for (auto& t : pool) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return out;
}

}  // namespace weakdistill
