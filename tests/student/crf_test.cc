// The CRF's forward algorithm, path score and Viterbi against enumeration of
// every tag path (tests/reference/brute_force_crf.h) on tiny random cases.
#include "crf.h"

#include <gtest/gtest.h>

#include <random>

#include "reference/brute_force_crf.h"

namespace weakdistill::student_internal {
namespace {

const std::vector<std::string> kBioTags = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};

// A CRF in double precision with random N(0, 1) transitions, start and end;
// BIO-constrained when `tags` is given.
Crf random_crf(std::int64_t num_tags, std::mt19937& rng,
               const std::vector<std::string>& tags = {}) {
  Crf crf(num_tags);
  crf->to(torch::kDouble);
  std::normal_distribution<double> normal;
  torch::NoGradGuard no_grad;
  for (auto& p : crf->parameters()) {
    auto flat = p.view({-1});
    for (std::int64_t i = 0; i < flat.numel(); ++i) flat[i] = normal(rng);
  }
  if (!tags.empty()) crf->set_allowed(bio_allowed(tags));
  return crf;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// The brute-force case of sequence b: its first `length` emission rows and the
// CRF's raw parameters (the constraint is the reference's own BIO rule).
reference::CrfCase case_of(Crf& crf, const torch::Tensor& emissions, std::int64_t b,
                           std::int64_t length, const std::vector<std::string>& tags) {
  reference::CrfCase c;
  const std::int64_t t = crf->num_tags();
  for (std::int64_t i = 0; i < length; ++i) c.emissions.push_back(to_vector(emissions[b][i]));
  const auto params = crf->named_parameters();
  const auto trans = to_vector(params["transitions"]);
  for (std::int64_t i = 0; i < t; ++i) {
    c.transitions.emplace_back(trans.begin() + i * t, trans.begin() + (i + 1) * t);
  }
  c.start = to_vector(params["start"]);
  c.end = to_vector(params["end"]);
  c.bio_tags = tags;
  return c;
}

// A left-aligned mask [B, L] of the given lengths.
torch::Tensor mask_of(const std::vector<std::int64_t>& lengths, std::int64_t max_len) {
  torch::Tensor mask =
      torch::zeros({static_cast<std::int64_t>(lengths.size()), max_len}, torch::kBool);
  for (std::size_t b = 0; b < lengths.size(); ++b) {
    mask[static_cast<std::int64_t>(b)].narrow(0, 0, lengths[b]).fill_(true);
  }
  return mask;
}

struct Shape {
  std::int64_t tags;
  std::vector<std::int64_t> lengths;  // one per sequence of the batch
  bool bio;
};

// Unconstrained shapes with T = 1..4, and BIO-constrained ones with T = 5;
// several lengths in a batch so that padding is exercised, and length 1.
std::vector<Shape> shapes() {
  return {{1, {1, 3}, false}, {2, {1}, false},         {3, {4, 1, 2}, false}, {4, {5, 5, 3}, false},
          {3, {6, 2}, false}, {5, {1, 4, 6, 2}, true}, {5, {5}, true},        {5, {3, 3, 1}, true}};
}

TEST(Crf, LogPartitionMatchesEnumeration) {
  std::mt19937 rng(7);
  torch::manual_seed(7);
  for (const Shape& s : shapes()) {
    const auto tags = s.bio ? kBioTags : std::vector<std::string>{};
    Crf crf = random_crf(s.tags, rng, tags);
    const std::int64_t max_len = *std::max_element(s.lengths.begin(), s.lengths.end());
    const auto b_size = static_cast<std::int64_t>(s.lengths.size());
    // Padding is filled with large values: they must not leak into any result.
    torch::Tensor emissions = torch::randn({b_size, max_len, s.tags}, torch::kDouble);
    const torch::Tensor mask = mask_of(s.lengths, max_len);
    emissions.masked_fill_(mask.logical_not().unsqueeze(2), 50.0);

    const auto log_z = to_vector(crf->log_partition(emissions, mask));
    const auto decoded = crf->decode(emissions, s.lengths);
    for (std::int64_t b = 0; b < b_size; ++b) {
      const double expected =
          reference::brute_force_log_partition(case_of(crf, emissions, b, s.lengths[b], tags));
      EXPECT_NEAR(log_z[b], expected, 1e-9) << "T=" << s.tags << " b=" << b;
      EXPECT_NEAR(decoded[b].log_z, expected, 1e-9) << "T=" << s.tags << " b=" << b;
    }
  }
}

TEST(Crf, ViterbiMatchesEnumeration) {
  std::mt19937 rng(11);
  torch::manual_seed(11);
  for (int round = 0; round < 5; ++round) {
    for (const Shape& s : shapes()) {
      const auto tags = s.bio ? kBioTags : std::vector<std::string>{};
      Crf crf = random_crf(s.tags, rng, tags);
      const std::int64_t max_len = *std::max_element(s.lengths.begin(), s.lengths.end());
      const auto b_size = static_cast<std::int64_t>(s.lengths.size());
      const torch::Tensor emissions = torch::randn({b_size, max_len, s.tags}, torch::kDouble);
      const auto decoded = crf->decode(emissions, s.lengths);
      for (std::int64_t b = 0; b < b_size; ++b) {
        const auto c = case_of(crf, emissions, b, s.lengths[b], tags);
        const auto [path, score] = reference::brute_force_best_path(c);
        EXPECT_NEAR(decoded[b].score, score, 1e-9);
        // Random doubles make ties improbable, so the path is the same one.
        EXPECT_EQ(std::vector<std::int64_t>(path.begin(), path.end()), decoded[b].tags);
      }
    }
  }
}

TEST(Crf, PathScoreAndNllMatchEnumeration) {
  std::mt19937 rng(3);
  torch::manual_seed(3);
  for (const Shape& s : shapes()) {
    const auto tags = s.bio ? kBioTags : std::vector<std::string>{};
    Crf crf = random_crf(s.tags, rng, tags);
    const std::int64_t max_len = *std::max_element(s.lengths.begin(), s.lengths.end());
    const auto b_size = static_cast<std::int64_t>(s.lengths.size());
    const torch::Tensor emissions = torch::randn({b_size, max_len, s.tags}, torch::kDouble);
    const torch::Tensor mask = mask_of(s.lengths, max_len);
    // Gold paths: the decoded best paths, which are allowed; padding tag 0.
    const auto decoded = crf->decode(emissions, s.lengths);
    torch::Tensor gold = torch::zeros({b_size, max_len}, torch::kInt64);
    for (std::int64_t b = 0; b < b_size; ++b) {
      for (std::int64_t t = 0; t < s.lengths[b]; ++t) gold[b][t] = decoded[b].tags[t];
    }
    const auto score = to_vector(crf->path_score(emissions, gold, mask));
    const auto nll = to_vector(crf->nll(emissions, gold, mask));
    for (std::int64_t b = 0; b < b_size; ++b) {
      const auto c = case_of(crf, emissions, b, s.lengths[b], tags);
      const std::vector<int> path(decoded[b].tags.begin(), decoded[b].tags.end());
      EXPECT_NEAR(score[b], reference::path_score(c, path), 1e-9);
      EXPECT_NEAR(nll[b], reference::brute_force_log_partition(c) - reference::path_score(c, path),
                  1e-9);
      EXPECT_GE(nll[b], 0);
    }
  }
}

TEST(Crf, LogPartitionGradientIsTheTagMarginals) {
  std::mt19937 rng(5);
  torch::manual_seed(5);
  for (const Shape& s : shapes()) {
    const auto tags = s.bio ? kBioTags : std::vector<std::string>{};
    Crf crf = random_crf(s.tags, rng, tags);
    const std::int64_t max_len = *std::max_element(s.lengths.begin(), s.lengths.end());
    const auto b_size = static_cast<std::int64_t>(s.lengths.size());
    torch::Tensor emissions =
        torch::randn({b_size, max_len, s.tags}, torch::kDouble).requires_grad_(true);
    crf->log_partition(emissions, mask_of(s.lengths, max_len)).sum().backward();
    const torch::Tensor grad = emissions.grad();
    for (std::int64_t b = 0; b < b_size; ++b) {
      const auto m =
          reference::brute_force_marginals(case_of(crf, emissions, b, s.lengths[b], tags));
      for (std::int64_t t = 0; t < max_len; ++t) {
        for (std::int64_t j = 0; j < s.tags; ++j) {
          const double expected = t < s.lengths[b] ? m[t][j] : 0.0;  // padding: no gradient
          EXPECT_NEAR(grad[b][t][j].item<double>(), expected, 1e-9);
        }
      }
    }
    for (const auto& p : crf->parameters()) {
      if (!p.grad().defined()) continue;  // transitions, when every length is 1
      EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>()) << "a NaN from a forbidden -inf";
    }
  }
}

TEST(Crf, BioAllowedForbidsExactlyTheInvalidMoves) {
  const BioAllowed a = bio_allowed(kBioTags);
  for (std::size_t i = 0; i < kBioTags.size(); ++i) {
    EXPECT_EQ(a.start[i].item<bool>(), reference::is_valid_bio({kBioTags[i]})) << kBioTags[i];
    for (std::size_t j = 0; j < kBioTags.size(); ++j) {
      // A valid way to reach tag i (an I-X after its B-X), then tag j: valid
      // BIO exactly when i -> j is an allowed move.
      std::vector<std::string> path = {kBioTags[i], kBioTags[j]};
      if (kBioTags[i].rfind("I-", 0) == 0) path.insert(path.begin(), "B-" + kBioTags[i].substr(2));
      EXPECT_EQ(a.transitions[i][j].item<bool>(), reference::is_valid_bio(path))
          << kBioTags[i] << " -> " << kBioTags[j];
    }
  }
  EXPECT_THROW(bio_allowed({"O", "X-PER"}), std::invalid_argument);
}

TEST(Crf, DecodedPathsAreAlwaysValidBio) {
  // Three types and emissions that favour I- tags, so an unconstrained decoder
  // would emit invalid sequences all the time.
  const std::vector<std::string> tags = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"};
  std::mt19937 rng(13);
  torch::manual_seed(13);
  Crf crf = random_crf(static_cast<std::int64_t>(tags.size()), rng, tags);
  for (int round = 0; round < 20; ++round) {
    std::vector<std::int64_t> lengths;
    for (int b = 0; b < 16; ++b) lengths.push_back(1 + static_cast<std::int64_t>(rng() % 30));
    torch::Tensor emissions = 3 * torch::randn({16, 30, 7}, torch::kDouble);
    emissions.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), 2}, 5.0);
    for (const CrfDecoded& d : crf->decode(emissions, lengths)) {
      std::vector<std::string> names;
      for (std::int64_t y : d.tags) names.push_back(tags[y]);
      EXPECT_TRUE(reference::is_valid_bio(names));
      EXPECT_TRUE(std::isfinite(d.score));
      EXPECT_LE(d.score, d.log_z);
    }
  }
}

}  // namespace
}  // namespace weakdistill::student_internal
