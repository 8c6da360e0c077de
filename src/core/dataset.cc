#include "weakdistill/core/dataset.h"

#include <algorithm>
#include <map>

#include "weakdistill/core/error.h"
#include "weakdistill/core/random.h"

namespace weakdistill {
namespace {

Split complete(std::vector<std::size_t> chosen, std::size_t size) {
  std::sort(chosen.begin(), chosen.end());
  Split split;
  split.chosen = std::move(chosen);
  std::size_t c = 0;
  for (std::size_t i = 0; i < size; ++i) {
    if (c < split.chosen.size() && split.chosen[c] == i) {
      ++c;
    } else {
      split.rest.push_back(i);
    }
  }
  return split;
}

}  // namespace

Split sample_per_label(const std::vector<Sample>& samples, std::size_t per_label,
                       std::uint64_t seed) {
  // Labels in sorted order, each with its own draw from one generator, so that a
  // seed gives the same split whatever the file order of labels.
  std::map<std::string, std::vector<std::size_t>> by_label;
  for (std::size_t i = 0; i < samples.size(); ++i) by_label[samples[i].label].push_back(i);
  Rng rng(seed);
  std::vector<std::size_t> chosen;
  for (auto& [label, indices] : by_label) {
    if (indices.size() < per_label) {
      throw InputError("label \"" + label + "\" has " + std::to_string(indices.size()) +
                       " samples, fewer than the " + std::to_string(per_label) + " asked for");
    }
    rng.shuffle(indices);
    chosen.insert(chosen.end(), indices.begin(), indices.begin() + per_label);
  }
  return complete(std::move(chosen), samples.size());
}

Split sample_n(std::size_t size, std::size_t n, std::uint64_t seed) {
  if (size < n) {
    throw InputError("the dataset has " + std::to_string(size) + " samples, fewer than the " +
                     std::to_string(n) + " asked for");
  }
  std::vector<std::size_t> indices(size);
  for (std::size_t i = 0; i < size; ++i) indices[i] = i;
  Rng rng(seed);
  rng.shuffle(indices);
  indices.resize(n);
  return complete(std::move(indices), size);
}

std::vector<Sample> select(const std::vector<Sample>& samples,
                           const std::vector<std::size_t>& indices) {
  std::vector<Sample> out;
  out.reserve(indices.size());
  for (std::size_t i : indices) out.push_back(samples.at(i));
  return out;
}

}  // namespace weakdistill
