// The `hashing` embedder (the default, offline): TF-IDF over character
// n-grams, feature-hashed to a fixed number of dimensions, L2-normalised.
//
// Exactly, for a text t (valid UTF-8):
//  1. Drop every code point c with utf8::is_space(c) (Python's str.isspace()),
//     so "北京 大学" and "北京大学" embed identically: Chinese is written without
//     spaces, and spaces in the data are layout, not content.
//  2. Every run of n consecutive remaining code points, for each n in
//     [min_n, max_n], is one n-gram g; tf(g) is how often g occurs in t.
//  3. h(g) = FNV-1a 64-bit over the UTF-8 bytes of g: start from the offset
//     basis 0xcbf29ce484222325, and for each byte b, h = (h XOR b) * 0x100000001b3
//     modulo 2^64. Fixed and documented (unlike std::hash), so vectors are the
//     same on every machine and in tests/reference/hashing_embedder_reference.py.
//  4. idf(g) = ln((1 + N) / (1 + df(g))) + 1, where N is the number of texts
//     given to fit() and df(g) the number of them containing g (scikit-learn's
//     smooth_idf). An n-gram unseen by fit() has df = 0. df is kept per n-gram
//     (keyed by its 64-bit h, whose collisions are negligible), not per bucket.
//  5. w(g) = (1 + ln tf(g)) · idf(g) with sublinear_tf, else tf(g) · idf(g).
//  6. v[h(g) mod dim] += s(g) · w(g), where s(g) = -1 if bit 63 (the top bit)
//     of h(g) is set, else +1. Signed feature hashing (Weinberger et al. 2009)
//     makes colliding n-grams cancel on average instead of inflating a bucket.
//     The bucket uses the low-order residue and the sign the top bit, so the two
//     are independent for power-of-two dims.
//  7. v /= ||v||_2. A text without n-grams (empty, whitespace only, or shorter
//     than min_n) gives the zero vector, as would one whose terms all cancel.
//     Sums are in double, in ascending order of h(g), then rounded to float, so
//     the result does not depend on thread count or scheduling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "weakdistill/embed/embedder.h"

namespace weakdistill {

struct HashingEmbedderOptions {
  // Output dimensions (buckets). With 1024, most of the ~300 n-grams of a
  // 100-character text get a bucket of their own, and a row stays 4 KiB.
  std::size_t dim = 1024;
  // Character n-gram orders, inclusive. Unigrams carry topic words' characters,
  // bi- and trigrams most Chinese words; longer orders are mostly unique and add
  // noise. At most 5 (make_embedder's limit).
  int min_n = 1;
  int max_n = 3;
  // 1 + ln(tf) instead of tf, so a character repeated in a long text (的, 了)
  // does not dominate the vector.
  bool sublinear_tf = true;
  // Worker threads for embed(); 0 means std::thread::hardware_concurrency().
  // Does not change the results.
  int threads = 0;
};

// FNV-1a 64-bit of `bytes` (step 3 above).
std::uint64_t fnv1a64(std::string_view bytes);

class HashingEmbedder : public Embedder {
 public:
  // Throws InputError naming "embedder.<key>" when dim < 1, min_n < 1,
  // min_n > max_n, max_n > 5 or threads < 0.
  explicit HashingEmbedder(const HashingEmbedderOptions& options = {});

  std::string kind() const override { return "hashing"; }
  std::size_t dim() const override { return options_.dim; }
  const HashingEmbedderOptions& options() const { return options_; }

  // Counts document frequencies over `labeled_texts` (replacing any earlier
  // fit). An empty set is allowed: every idf is then 1 (plain tf). Not
  // thread-safe with embed(). Throws std::invalid_argument on invalid UTF-8.
  void fit(const std::vector<std::string>& labeled_texts) override;

  // One row per text, computed as above on options().threads threads.
  // Thread-safe after fit(). Throws std::logic_error before fit() and
  // std::invalid_argument on invalid UTF-8.
  EmbeddingMatrix embed(const std::vector<std::string>& texts) const override;

  // The idf an n-gram (its UTF-8 text) gets; for tests and diagnostics.
  // Throws std::logic_error before fit().
  double idf(std::string_view ngram) const;

 private:
  // Map from n-gram hash to a double: open addressing with linear probing in
  // one flat array. std::unordered_map's node per n-gram (~10^6 of them for LCSTS)
  // made fit() mostly malloc and embed()'s lookups cache misses.
  class HashMap {
   public:
    // Empties the map.
    void clear();
    // The value of `key`, inserting 0 when absent.
    double& operator[](std::uint64_t key);
    // The value of `key`, or nullptr when absent.
    const double* find(std::uint64_t key) const;
    // Starts loading the memory find(key) reads first, so that the cache
    // misses of many lookups overlap with other work.
    void prefetch(std::uint64_t key) const;
    // Calls f(value) for every entry.
    template <typename F>
    void for_each_value(F f);

   private:
    std::size_t slot(std::uint64_t key) const;
    void grow();

    // Key and value side by side: a lookup touches one cache line.
    struct Entry {
      std::uint64_t key;  // 0 marks an empty slot, so key 0 itself lives aside
      double value;
    };
    std::vector<Entry> entries_;
    std::size_t size_ = 0;
    int shift_ = 64;
    bool has_zero_ = false;
    double zero_value_ = 0;
  };

  double idf_of_hash(std::uint64_t h) const;

  HashingEmbedderOptions options_;
  bool fitted_ = false;
  // idf by n-gram hash, only for n-grams seen by fit(); the rest get unseen_idf_.
  HashMap idf_;
  double unseen_idf_ = 1.0;
};

}  // namespace weakdistill
