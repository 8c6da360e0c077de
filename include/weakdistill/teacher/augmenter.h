// Classic label-preserving augmentation, the `augment` offline teacher's
// generator: no LLM, deterministic for a seed.
//   classification: character-level edits of the seed's text (random deletion,
//     swap of neighbours, insertion of characters drawn from same-label samples);
//   ner: mention replacement: entities swapped for other mentions of the same
//     type from the labeled set, offsets recomputed, characters outside mentions
//     kept;
//   summarization: sentences of the text deleted and reordered, always keeping the
//     sentences that share most characters with the summary; the summary is kept.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "weakdistill/core/random.h"
#include "weakdistill/core/sample.h"

namespace weakdistill {

struct AugmentOptions {
  // Classification: expected share of the text's characters touched by edits
  // (at least one edit is made).
  double edit_rate = 0.1;
  // Ner: probability that each entity is replaced (at least one is, when the
  // labeled set offers another mention of its type).
  double replace_prob = 0.5;
  // Summarization: sentences kept whatever happens, ranked by the characters they
  // share with the summary.
  int keep_sentences = 1;
  // Summarization: probability that each other sentence is deleted.
  double delete_prob = 0.3;
  // Attempts at producing a text different from the seed's before giving up.
  int max_attempts = 8;
};

class Augmenter {
 public:
  // `labeled` supplies same-label characters (classification) and mentions by
  // type (ner). It is copied from as needed; it need not outlive the Augmenter.
  Augmenter(Task task, const std::vector<Sample>& labeled, AugmentOptions options = {});

  // A new sample derived from `seed` with `rng` (same rng state, same result).
  // Returns a sample whose text differs from the seed's (whitespace ignored, as
  // the verifier compares) when one can be made in max_attempts tries, else a
  // copy of the seed (verification rejects it as a copy). The result has no id
  // and no extra fields; ner entities are valid (sorted, non-overlapping, text
  // matching offsets). Throws InputError if the seed's entities are invalid.
  //
  // Fallbacks: a ner seed with no entity that has another mention of its type
  // in the labeled set gets one deletion or swap of characters outside its
  // mentions. A summarization text of one sentence has its clauses (split after
  // ，and ,) deleted, never reordered, and an end mark that was deleted with the
  // last clause is restored. A classification seed whose label is not in the
  // labeled set draws inserted characters from its own text.
  Sample augment(const Sample& seed, Rng& rng) const;

 private:
  // One attempt each; nullopt when no attempt can ever change the text.
  std::optional<Sample> edit_characters(const Sample& seed, const std::u32string& text,
                                        Rng& rng) const;
  std::optional<Sample> replace_mentions(const std::u32string& text,
                                         const std::vector<Entity>& entities, Rng& rng) const;
  static std::optional<Sample> edit_outside_mentions(const std::u32string& text,
                                                     const std::vector<Entity>& entities, Rng& rng);
  std::optional<Sample> drop_sentences(const Sample& seed, const std::u32string& text,
                                       Rng& rng) const;

  Task task_;
  AugmentOptions options_;
  std::vector<std::string> labels_;          // distinct labels, sorted
  std::vector<std::u32string> label_chars_;  // per label: its non-space chars, repeats kept
  std::vector<std::string> types_;           // distinct entity types, sorted
  std::vector<std::vector<std::u32string>> mentions_;  // per type: distinct mentions, sorted
};

}  // namespace weakdistill
