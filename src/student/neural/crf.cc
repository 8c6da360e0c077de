#include "crf.h"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace weakdistill::student_internal {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// The type of a BIO tag and its prefix ('O', 'B' or 'I').
std::pair<char, std::string> split_tag(const std::string& tag) {
  if (tag == "O") return {'O', ""};
  if (tag.size() > 2 && (tag[0] == 'B' || tag[0] == 'I') && tag[1] == '-') {
    return {tag[0], tag.substr(2)};
  }
  throw std::invalid_argument("not a BIO tag: '" + tag + "'");
}

// log(exp(a) + exp(b)) without overflow; -inf is the identity.
double log_add(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  return a > b ? a + std::log1p(std::exp(b - a)) : b + std::log1p(std::exp(a - b));
}

}  // namespace

BioAllowed bio_allowed(const std::vector<std::string>& tags) {
  const auto t = static_cast<std::int64_t>(tags.size());
  BioAllowed a{torch::ones({t, t}, torch::kBool), torch::ones({t}, torch::kBool)};
  auto trans = a.transitions.accessor<bool, 2>();
  auto start = a.start.accessor<bool, 1>();
  for (std::int64_t j = 0; j < t; ++j) {
    const auto [to_prefix, to_type] = split_tag(tags[j]);
    if (to_prefix != 'I') continue;
    start[j] = false;
    for (std::int64_t i = 0; i < t; ++i) {
      const auto [from_prefix, from_type] = split_tag(tags[i]);
      trans[i][j] = from_prefix != 'O' && from_type == to_type;
    }
  }
  return a;
}

CrfImpl::CrfImpl(std::int64_t num_tags) : num_tags_(num_tags) {
  if (num_tags < 1) throw std::invalid_argument("CRF: needs at least one tag");
  transitions_ = register_parameter("transitions", torch::zeros({num_tags, num_tags}));
  start_ = register_parameter("start", torch::zeros({num_tags}));
  end_ = register_parameter("end", torch::zeros({num_tags}));
  forbidden_ = register_buffer("forbidden", torch::zeros({num_tags, num_tags}));
  forbidden_start_ = register_buffer("forbidden_start", torch::zeros({num_tags}));
}

void CrfImpl::set_allowed(const BioAllowed& allowed) {
  const float inf = std::numeric_limits<float>::infinity();
  torch::NoGradGuard no_grad;
  forbidden_.copy_(torch::where(allowed.transitions, torch::zeros({}), torch::full({}, -inf)));
  forbidden_start_.copy_(torch::where(allowed.start, torch::zeros({}), torch::full({}, -inf)));
}

torch::Tensor CrfImpl::log_partition(const torch::Tensor& emissions, const torch::Tensor& mask) {
  const auto length = emissions.size(1);
  // [1, T, T]: every path's next step from tag i (dim 1) to tag j (dim 2).
  const torch::Tensor trans = effective_transitions().unsqueeze(0);
  // L tensors [B, T]. unbind() and not select(t): the backward of one unbind
  // is one stack, while each select's would allocate all of [B, L, T].
  const std::vector<torch::Tensor> steps = emissions.unbind(1);
  const std::vector<torch::Tensor> live = mask.unsqueeze(2).unbind(1);  // L × [B, 1]
  // alpha [B, T]: log of the summed scores of all prefixes ending in each tag.
  torch::Tensor alpha = effective_start().unsqueeze(0) + steps[0];
  for (std::int64_t t = 1; t < length; ++t) {
    // Why no -inf trouble: each tag has an allowed predecessor with finite alpha
    // (B-X may follow anything), so no logsumexp here is over -inf only.
    torch::Tensor next = torch::logsumexp(alpha.unsqueeze(2) + trans, 1) + steps[t];  // [B, T]
    alpha = torch::where(live[t], next, alpha);
  }
  return torch::logsumexp(alpha + end_.unsqueeze(0), 1);
}

torch::Tensor CrfImpl::path_score(const torch::Tensor& emissions, const torch::Tensor& tags,
                                  const torch::Tensor& mask) {
  const torch::Tensor zero = torch::zeros({}, emissions.options());
  // [B, L]: the emission of each position's tag; padding counts 0.
  torch::Tensor emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2);
  torch::Tensor score = torch::where(mask, emitted, zero).sum(1);
  score = score + effective_start().index({tags.select(1, 0)});
  if (tags.size(1) > 1) {
    using torch::indexing::Slice;
    // [B, L-1]: transitions[y_{t-1}][y_t]; where() and not a product, since a
    // padded step's -inf times 0 would be NaN.
    torch::Tensor steps =
        effective_transitions().index({tags.index({Slice(), Slice(0, -1)}),
                                       tags.index({Slice(), Slice(1, torch::indexing::None)})});
    score =
        score +
        torch::where(mask.index({Slice(), Slice(1, torch::indexing::None)}), steps, zero).sum(1);
  }
  // [B]: the tag at each sequence's last position.
  const torch::Tensor last = mask.sum(1).sub(1).unsqueeze(1);
  score = score + end_.index({tags.gather(1, last).squeeze(1)});
  return score;
}

std::vector<CrfDecoded> CrfImpl::decode(const torch::Tensor& emissions,
                                        const std::vector<std::int64_t>& lengths) const {
  const torch::Tensor e = emissions.detach().to(torch::kDouble).contiguous();
  const torch::Tensor trans_t = effective_transitions().detach().to(torch::kDouble).contiguous();
  const torch::Tensor start_t = effective_start().detach().to(torch::kDouble).contiguous();
  const torch::Tensor end_t = end_.detach().to(torch::kDouble).contiguous();
  const double* trans = trans_t.data_ptr<double>();
  const double* start = start_t.data_ptr<double>();
  const double* end = end_t.data_ptr<double>();
  const std::int64_t b_size = e.size(0), l_size = e.size(1), t_size = e.size(2);
  if (static_cast<std::int64_t>(lengths.size()) != b_size || t_size != num_tags_) {
    throw std::invalid_argument("CRF decode: emissions do not match lengths or tags");
  }

  std::vector<CrfDecoded> out(static_cast<std::size_t>(b_size));
  std::vector<double> best(t_size), best_next(t_size), alpha(t_size), alpha_next(t_size);
  std::vector<std::int64_t> back;  // [n, T]: the best predecessor of each tag
  for (std::int64_t b = 0; b < b_size; ++b) {
    const std::int64_t n = lengths[b];
    if (n < 1 || n > l_size) throw std::invalid_argument("CRF decode: bad length");
    const double* eb = e.data_ptr<double>() + b * l_size * t_size;  // [L, T]
    for (std::int64_t j = 0; j < t_size; ++j) best[j] = alpha[j] = start[j] + eb[j];
    back.assign(static_cast<std::size_t>(n * t_size), 0);
    for (std::int64_t t = 1; t < n; ++t) {
      for (std::int64_t j = 0; j < t_size; ++j) {
        double top = kNegInf, sum = kNegInf;
        std::int64_t arg = 0;
        for (std::int64_t i = 0; i < t_size; ++i) {
          const double s = trans[i * t_size + j];
          if (best[i] + s > top) top = best[i] + s, arg = i;
          sum = log_add(sum, alpha[i] + s);
        }
        best_next[j] = top + eb[t * t_size + j];
        alpha_next[j] = sum + eb[t * t_size + j];
        back[t * t_size + j] = arg;
      }
      best.swap(best_next);
      alpha.swap(alpha_next);
    }
    CrfDecoded& d = out[static_cast<std::size_t>(b)];
    double top = kNegInf, log_z = kNegInf;
    std::int64_t tag = 0;
    for (std::int64_t j = 0; j < t_size; ++j) {
      if (best[j] + end[j] > top) top = best[j] + end[j], tag = j;
      log_z = log_add(log_z, alpha[j] + end[j]);
    }
    d.score = top;
    d.log_z = log_z;
    d.tags.assign(static_cast<std::size_t>(n), 0);
    for (std::int64_t t = n - 1; t >= 0; --t) {
      d.tags[t] = tag;
      tag = back[t * t_size + tag];
    }
  }
  return out;
}

}  // namespace weakdistill::student_internal
