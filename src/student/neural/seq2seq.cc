#include "seq2seq.h"

#include <ATen/record_function.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include "cached_attention.h"
#include "hf_config.h"
#include "hf_tensors.h"
#include "weakdistill/core/error.h"

namespace weakdistill::student_internal {
namespace fs = std::filesystem;

namespace {

// Pegasus' fixed table (transformers' PegasusSinusoidalPositionalEmbedding): the first
// ceil(d/2) columns sin(p / 10000^(2i/d)), the others cos of the same angles.
torch::Tensor sinusoid_table(std::int64_t positions, std::int64_t d) {
  torch::Tensor t = torch::empty({positions, d}, torch::kFloat64);
  auto a = t.accessor<double, 2>();
  const std::int64_t half = (d + 1) / 2;
  for (std::int64_t p = 0; p < positions; ++p) {
    for (std::int64_t j = 0; j < d; ++j) {
      const std::int64_t i = j < half ? j : j - half;
      const double angle =
          static_cast<double>(p) / std::pow(10000.0, 2.0 * static_cast<double>(i) / d);
      a[p][j] = j < half ? std::sin(angle) : std::cos(angle);
    }
  }
  return t.to(torch::kFloat32);
}

// x W^T + b through aten::linear, which folds a contiguous [B, T, in] input into one addmm with
// the bias fused; the C++ frontend's Linear::forward runs matmul and then a separate add_.
torch::Tensor apply_linear(const torch::nn::Linear& l, const torch::Tensor& x) {
  return torch::linear(x, l->weight, l->bias);
}

}  // namespace

namespace {

// Rows `rows` of a self-attention buffer [B, capacity, h, hd], in a buffer of the same capacity.
// Only the positions written so far are copied: one block a row, as the buffer is position-major.
torch::Tensor select_positions(const torch::Tensor& buffer, const torch::Tensor& rows,
                               std::int64_t length) {
  RECORD_FUNCTION("weakdistill::select_positions", std::vector<c10::IValue>());
  torch::Tensor out = torch::empty({rows.size(0), buffer.size(1), buffer.size(2), buffer.size(3)},
                                   buffer.options());
  const torch::Tensor index = rows.to(torch::kInt64).contiguous();
  const std::int64_t* from = index.data_ptr<std::int64_t>();
  const std::int64_t row = buffer.stride(0), block = length * buffer.stride(1);
  const float* in = buffer.data_ptr<float>();
  float* to = out.data_ptr<float>();
  for (std::int64_t r = 0; r < index.size(0); ++r) {
    if (from[r] < 0 || from[r] >= buffer.size(0))
      throw std::out_of_range("select: row out of range");
    std::memcpy(to + r * row, in + from[r] * row, static_cast<std::size_t>(block) * sizeof(float));
  }
  return out;
}

}  // namespace

void DecoderCache::select(const torch::Tensor& rows) { select_grouped(rows, rows); }

void DecoderCache::select_grouped(const torch::Tensor& rows, const torch::Tensor& sources) {
  for (auto* list : {&self_k, &self_v}) {
    for (torch::Tensor& t : *list) {
      if (t.defined()) t = select_positions(t, rows, length);
    }
  }
  if (!sources.defined()) return;
  for (auto* list : {&cross_k, &cross_v}) {
    for (torch::Tensor& t : *list) t = t.index_select(0, sources);
  }
  source_mask = source_mask.index_select(0, sources);
}

Seq2SeqModelImpl::Attention Seq2SeqModelImpl::make_attention(const std::string& name) {
  const std::int64_t d = config_.d_model;
  Attention a;
  a.q = register_module(name + "_q", torch::nn::Linear(d, d));
  a.k = register_module(name + "_k", torch::nn::Linear(d, d));
  a.v = register_module(name + "_v", torch::nn::Linear(d, d));
  a.out = register_module(name + "_out", torch::nn::Linear(d, d));
  return a;
}

Seq2SeqModelImpl::Layer Seq2SeqModelImpl::make_layer(const std::string& name, bool decoder) {
  const std::int64_t d = config_.d_model;
  const std::int64_t ffn = decoder ? config_.decoder_ffn_dim : config_.encoder_ffn_dim;
  auto norm = [&](const std::string& n) {
    return register_module(n, torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-5)));
  };
  Layer l;
  l.self_attn = make_attention(name + "self");
  l.self_norm = norm(name + "self_norm");
  if (decoder) {
    l.cross_attn = make_attention(name + "cross");
    l.cross_norm = norm(name + "cross_norm");
  }
  l.fc1 = register_module(name + "fc1", torch::nn::Linear(d, ffn));
  l.fc2 = register_module(name + "fc2", torch::nn::Linear(ffn, d));
  l.ffn_norm = norm(name + "ffn_norm");
  return l;
}

Seq2SeqModelImpl::Seq2SeqModelImpl(const Seq2SeqConfig& config) : config_(config) {
  const auto& c = config_;
  const std::int64_t d = c.d_model;
  auto norm = [&](const std::string& n) {
    return register_module(n, torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-5)));
  };
  shared_ = register_module("shared", torch::nn::Embedding(c.vocab_size, d));
  if (c.bart()) {
    // BART's learned positions start at row 2 (an offset kept from fairseq).
    encoder_positions_ = register_module("encoder_positions",
                                         torch::nn::Embedding(c.max_position_embeddings + 2, d));
    decoder_positions_ = register_module("decoder_positions",
                                         torch::nn::Embedding(c.max_position_embeddings + 2, d));
    encoder_embedding_norm_ = norm("encoder_embedding_norm");
    decoder_embedding_norm_ = norm("decoder_embedding_norm");
  } else {
    encoder_sinusoid_ =
        register_buffer("encoder_sinusoid", sinusoid_table(c.max_position_embeddings, d));
    decoder_sinusoid_ =
        register_buffer("decoder_sinusoid", sinusoid_table(c.max_position_embeddings, d));
  }
  if (c.pre_layer_norm()) {
    encoder_final_norm_ = norm("encoder_final_norm");
    decoder_final_norm_ = norm("decoder_final_norm");
  }
  for (std::int64_t i = 0; i < c.encoder_layers; ++i)
    encoder_layers_.push_back(make_layer("encoder" + std::to_string(i) + "_", false));
  for (std::int64_t i = 0; i < c.decoder_layers; ++i)
    decoder_layers_.push_back(make_layer("decoder" + std::to_string(i) + "_", true));
  if (!c.tie_word_embeddings) {
    lm_head_ = register_module(
        "lm_head", torch::nn::Linear(torch::nn::LinearOptions(d, c.vocab_size).bias(false)));
  }
  final_logits_bias_ = register_buffer("final_logits_bias", torch::zeros({1, c.vocab_size}));
  dropout_ = register_module("dropout", torch::nn::Dropout(c.dropout));
  activation_dropout_ =
      register_module("activation_dropout", torch::nn::Dropout(c.activation_dropout));

  HfTensors init = hf_tensors();
  std::erase_if(init, [](const auto& named) { return named.first == "final_logits_bias"; });
  init_hf_weights(init);
}

std::vector<std::pair<std::string, torch::Tensor>> Seq2SeqModelImpl::hf_tensors() const {
  HfTensors out;
  auto add_linear = [&](const std::string& name, const torch::nn::Linear& l) {
    add_hf_linear(out, name, l);
  };
  auto add_norm = [&](const std::string& name, const torch::nn::LayerNorm& n) {
    add_hf_norm(out, name, n);
  };
  auto add_attention = [&](const std::string& name, const Attention& a) {
    add_linear(name + ".q_proj", a.q);
    add_linear(name + ".k_proj", a.k);
    add_linear(name + ".v_proj", a.v);
    add_linear(name + ".out_proj", a.out);
  };
  out.emplace_back("shared.weight", shared_->weight);
  for (const bool decoder : {false, true}) {
    const std::string part = decoder ? "decoder" : "encoder";
    if (config_.bart()) {
      out.emplace_back(part + ".embed_positions.weight",
                       (decoder ? decoder_positions_ : encoder_positions_)->weight);
      add_norm(part + ".layernorm_embedding",
               decoder ? decoder_embedding_norm_ : encoder_embedding_norm_);
    }
    const std::vector<Layer>& layers = decoder ? decoder_layers_ : encoder_layers_;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const std::string p = part + ".layers." + std::to_string(i) + ".";
      const Layer& l = layers[i];
      add_attention(p + "self_attn", l.self_attn);
      add_norm(p + "self_attn_layer_norm", l.self_norm);
      if (decoder) {
        add_attention(p + "encoder_attn", l.cross_attn);
        add_norm(p + "encoder_attn_layer_norm", l.cross_norm);
      }
      add_linear(p + "fc1", l.fc1);
      add_linear(p + "fc2", l.fc2);
      add_norm(p + "final_layer_norm", l.ffn_norm);
    }
    if (config_.pre_layer_norm()) {
      add_norm(part + ".layer_norm", decoder ? decoder_final_norm_ : encoder_final_norm_);
    }
  }
  out.emplace_back("final_logits_bias", final_logits_bias_);
  if (lm_head_) out.emplace_back("lm_head.weight", lm_head_->weight);
  return out;
}

torch::Tensor Seq2SeqModelImpl::activation(const torch::Tensor& x) const {
  const std::string& a = config_.activation_function;
  if (a == "gelu") return torch::gelu(x);
  if (a == "gelu_new" || a == "gelu_pytorch_tanh") return torch::gelu(x, "tanh");
  if (a == "relu") return torch::relu(x);
  return torch::silu(x);  // silu, swish
}

torch::Tensor Seq2SeqModelImpl::embed(const torch::Tensor& ids, std::int64_t offset, bool decoder) {
  const std::int64_t length = ids.size(1);
  if (offset + length > config_.max_position_embeddings) {
    throw std::invalid_argument(
        fmt::format("{} {} positions, beyond the model's max_position_embeddings ({})",
                    decoder ? "a decoder input of" : "a source of", offset + length,
                    config_.max_position_embeddings));
  }
  torch::Tensor x = shared_(ids);
  if (config_.scale_embedding) x = x * std::sqrt(static_cast<double>(config_.d_model));
  if (config_.bart()) {
    const auto& table = (decoder ? decoder_positions_ : encoder_positions_)->weight;
    x = x + table.slice(0, offset + 2, offset + 2 + length).unsqueeze(0);
    x = (decoder ? decoder_embedding_norm_ : encoder_embedding_norm_)(x);
  } else {
    const torch::Tensor& table = decoder ? decoder_sinusoid_ : encoder_sinusoid_;
    x = x + table.slice(0, offset, offset + length).unsqueeze(0);
  }
  return dropout_(x);
}

torch::Tensor Seq2SeqModelImpl::heads_of(const torch::Tensor& t, std::int64_t heads) const {
  return t.view({t.size(0), t.size(1), heads, config_.d_model / heads}).transpose(1, 2);
}

torch::Tensor Seq2SeqModelImpl::attend(Attention& a, const torch::Tensor& x, const torch::Tensor& k,
                                       const torch::Tensor& v, const torch::Tensor& mask,
                                       std::int64_t heads, std::int64_t group) {
  const double scaling = 1.0 / std::sqrt(static_cast<double>(config_.d_model / heads));
  if (group > 1) {
    // One query position in each of `group` rows per source row: the rows' queries become
    // `group` query positions over their source's keys, which are then read once, not once a row.
    const std::int64_t items = x.size(0) / group, hd = config_.d_model / heads;
    const torch::Tensor q =
        apply_linear(a.q, x).mul(scaling).view({items, group, heads, hd}).transpose(1, 2);
    torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2));  // [items, h, group, S]
    if (mask.defined()) scores = scores + mask;
    const torch::Tensor context =
        torch::matmul(torch::softmax(scores, -1), v)  // [items,h,group,hd]
            .transpose(1, 2)
            .reshape({x.size(0), 1, config_.d_model});
    return apply_linear(a.out, context);
  }
  const torch::Tensor q = heads_of(apply_linear(a.q, x).mul(scaling), heads);
  torch::Tensor scores = torch::matmul(q, k.transpose(-1, -2));
  if (mask.defined()) scores = scores + mask;
  torch::Tensor probs = torch::softmax(scores, -1);
  if (is_training() && config_.attention_dropout > 0) {
    probs = torch::dropout(probs, config_.attention_dropout, true);
  }
  const torch::Tensor context =
      torch::matmul(probs, v).transpose(1, 2).reshape({x.size(0), x.size(1), config_.d_model});
  return apply_linear(a.out, context);
}

torch::Tensor Seq2SeqModelImpl::feed_forward(Layer& l, const torch::Tensor& x) {
  return dropout_(apply_linear(l.fc2, activation_dropout_(activation(apply_linear(l.fc1, x)))));
}

torch::Tensor Seq2SeqModelImpl::encode(const torch::Tensor& ids, const torch::Tensor& mask) {
  const std::int64_t heads = config_.encoder_attention_heads;
  const bool pre = config_.pre_layer_norm();
  const torch::Tensor additive = (1.0 - mask.to(torch::kFloat32))
                                     .mul(std::numeric_limits<float>::lowest())
                                     .view({ids.size(0), 1, 1, ids.size(1)});
  torch::Tensor x = embed(ids, 0, false);
  for (Layer& l : encoder_layers_) {
    torch::Tensor h = pre ? l.self_norm(x) : x;
    h = dropout_(attend(l.self_attn, h, heads_of(apply_linear(l.self_attn.k, h), heads),
                        heads_of(apply_linear(l.self_attn.v, h), heads), additive, heads));
    x = pre ? x + h : l.self_norm(x + h);
    x = pre ? x + feed_forward(l, l.ffn_norm(x)) : l.ffn_norm(x + feed_forward(l, x));
  }
  return pre ? encoder_final_norm_(x) : x;
}

torch::Tensor Seq2SeqModelImpl::decoder_block(Layer& l, torch::Tensor x, const Sublayer& self_attn,
                                              const Sublayer& cross_attn) {
  const bool pre = config_.pre_layer_norm();
  torch::Tensor h = dropout_(self_attn(pre ? l.self_norm(x) : x));
  x = pre ? x + h : l.self_norm(x + h);
  h = dropout_(cross_attn(pre ? l.cross_norm(x) : x));
  x = pre ? x + h : l.cross_norm(x + h);
  return pre ? x + feed_forward(l, l.ffn_norm(x)) : l.ffn_norm(x + feed_forward(l, x));
}

torch::Tensor Seq2SeqModelImpl::decoder_layer(Layer& l, torch::Tensor x,
                                              const torch::Tensor& self_mask,
                                              const torch::Tensor& cross_k,
                                              const torch::Tensor& cross_v,
                                              const torch::Tensor& cross_mask) {
  const std::int64_t heads = config_.decoder_attention_heads;
  return decoder_block(
      l, std::move(x),
      [&](const torch::Tensor& h) {
        return attend(l.self_attn, h, heads_of(apply_linear(l.self_attn.k, h), heads),
                      heads_of(apply_linear(l.self_attn.v, h), heads), self_mask, heads);
      },
      [&](const torch::Tensor& h) {
        return attend(l.cross_attn, h, cross_k, cross_v, cross_mask, heads);
      });
}

torch::Tensor Seq2SeqModelImpl::attend_cached(Attention& a, const torch::Tensor& x,
                                              const torch::Tensor& k, const torch::Tensor& v,
                                              const torch::Tensor& mask, std::int64_t length,
                                              std::int64_t group) {
  const std::int64_t heads = k.size(1);
  if (torch::GradMode::is_enabled() || is_training()) {
    // Differentiable (and with attention dropout): the general path over the positions so far.
    return attend(a, x, k.narrow(2, 0, length), v.narrow(2, 0, length),
                  mask.defined() ? mask.view({mask.size(0), 1, 1, length}) : mask, heads, group);
  }
  const double scaling = 1.0 / std::sqrt(static_cast<double>(config_.d_model / heads));
  const torch::Tensor q =
      apply_linear(a.q, x).mul(scaling).view({x.size(0), heads, config_.d_model / heads});
  return apply_linear(a.out,
                      cached_attention(q, k, v, mask, length, group).view({x.size(0), 1, -1}));
}

namespace {

// Writes `t` [B, 1, d] at position `at` of `buffer` [B, capacity, h, hd], doubling the buffer's
// capacity first when it is full (or allocating it when undefined).
void append_position(torch::Tensor& buffer, const torch::Tensor& t, std::int64_t at,
                     std::int64_t heads) {
  if (!buffer.defined() || buffer.size(1) == at) {
    const std::int64_t capacity = std::max<std::int64_t>(16, 2 * at);
    torch::Tensor grown =
        torch::empty({t.size(0), capacity, heads, t.size(2) / heads}, t.options());
    if (at > 0) grown.narrow(1, 0, at).copy_(buffer.narrow(1, 0, at));
    buffer = grown;
  }
  buffer.select(1, at).copy_(t.view({t.size(0), heads, -1}));
}

}  // namespace

torch::Tensor Seq2SeqModelImpl::decoder_step_layer(std::size_t i, torch::Tensor x,
                                                   DecoderCache& cache) {
  Layer& l = decoder_layers_[i];
  const std::int64_t heads = config_.decoder_attention_heads;
  return decoder_block(
      l, std::move(x),
      [&](const torch::Tensor& h) {
        append_position(cache.self_k[i], apply_linear(l.self_attn.k, h), cache.length, heads);
        append_position(cache.self_v[i], apply_linear(l.self_attn.v, h), cache.length, heads);
        // One query over every position so far: no causal mask is needed.
        return attend_cached(l.self_attn, h, cache.self_k[i].transpose(1, 2),
                             cache.self_v[i].transpose(1, 2), torch::Tensor(), cache.length + 1, 1);
      },
      [&](const torch::Tensor& h) {
        return attend_cached(l.cross_attn, h, cache.cross_k[i], cache.cross_v[i], cache.source_mask,
                             cache.cross_k[i].size(2), cache.group);
      });
}

torch::Tensor Seq2SeqModelImpl::decode(const torch::Tensor& ids, const torch::Tensor& source,
                                       const torch::Tensor& source_mask) {
  const std::int64_t heads = config_.decoder_attention_heads, t = ids.size(1);
  const torch::Tensor causal =
      torch::full({t, t}, std::numeric_limits<float>::lowest()).triu(1).view({1, 1, t, t});
  const torch::Tensor cross_mask = (1.0 - source_mask.to(torch::kFloat32))
                                       .mul(std::numeric_limits<float>::lowest())
                                       .view({source.size(0), 1, 1, source.size(1)});
  torch::Tensor x = embed(ids, 0, true);
  for (Layer& l : decoder_layers_) {
    x = decoder_layer(l, x, causal, heads_of(apply_linear(l.cross_attn.k, source), heads),
                      heads_of(apply_linear(l.cross_attn.v, source), heads), cross_mask);
  }
  return config_.pre_layer_norm() ? decoder_final_norm_(x) : x;
}

DecoderCache Seq2SeqModelImpl::start(const torch::Tensor& source, const torch::Tensor& source_mask,
                                     std::int64_t group) {
  const std::int64_t heads = config_.decoder_attention_heads;
  DecoderCache cache;
  cache.group = group;
  cache.source_mask = (1.0 - source_mask.to(torch::kFloat32))
                          .mul(std::numeric_limits<float>::lowest())
                          .view({source.size(0), source.size(1)});
  for (Layer& l : decoder_layers_) {
    // Contiguous once: each head's keys are then one block, read by every step.
    cache.cross_k.push_back(heads_of(apply_linear(l.cross_attn.k, source), heads).contiguous());
    cache.cross_v.push_back(heads_of(apply_linear(l.cross_attn.v, source), heads).contiguous());
    cache.self_k.emplace_back();
    cache.self_v.emplace_back();
  }
  return cache;
}

torch::Tensor Seq2SeqModelImpl::step(const torch::Tensor& ids, DecoderCache& cache) {
  torch::Tensor x = embed(ids.view({ids.size(0), 1}), cache.length, true);
  for (std::size_t i = 0; i < decoder_layers_.size(); ++i) x = decoder_step_layer(i, x, cache);
  ++cache.length;
  return config_.pre_layer_norm() ? decoder_final_norm_(x) : x;
}

torch::Tensor Seq2SeqModelImpl::logits(const torch::Tensor& hidden) {
  const torch::Tensor& e = lm_head_ ? lm_head_->weight : shared_->weight;
  return torch::linear(hidden, e, final_logits_bias_.view({-1}));
}

}  // namespace weakdistill::student_internal
