// A pretrained encoder-decoder in libtorch for Hugging Face folders (read by seq2seq_load.h:
// config.json, vocab.txt, model.safetensors): BART (BartForConditionalGeneration,
// e.g. fnlp/bart-base-chinese) and Pegasus (PegasusForConditionalGeneration), one
// implementation driven by config.json. Private to src/student/ (the seq2seq student).
//
// For source ids [B, S] with mask m and decoder ids [B, T]:
//   embed(ids) = shared[ids] * (sqrt(d_model) if scale_embedding else 1) + pos[0..L-1]
//     pos: BART a learned table read at position + 2 (BART's offset); Pegasus the fixed
//     sinusoid (column i < d/2: sin(p / 10000^(2i/d)), column d/2 + i: the cos of the same).
//   BART (post-LN):  x = LN_emb(embed);  per layer x = LN(x + Attn(x)) ... x = LN(x + FFN(x))
//   Pegasus, and BART with normalize_before (mBART's pre-LN):
//     x = (LN_emb(embed) for BART, embed for Pegasus); per layer x = x + Attn(LN(x)) ...;
//     then a final LayerNorm (encoder.layer_norm, decoder.layer_norm)
//   decoder layer: causal self-attention, cross-attention over the source (padding masked), FFN
//   Attn: softmax((x Wq + bq) * head_dim^-0.5 (x Wk + bk)^T + mask) (x Wv + bv), then out_proj
//   FFN: fc2(act(fc1(x)));  LayerNorm eps 1e-5
//   logits [B, T, V] = decoder_out E^T + final_logits_bias, E = shared (tied) or lm_head.weight
// hf_tensors() names every parameter as Hugging Face does ("encoder.layers.3.self_attn.q_proj.
// weight", under "model." in a ForConditionalGeneration checkpoint).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>


namespace weakdistill::student_internal {

struct Seq2SeqConfig {
  std::string model_type;  // "bart" or "pegasus"
  std::int64_t vocab_size = 0;
  std::int64_t d_model = 768;
  std::int64_t encoder_layers = 6, decoder_layers = 6;
  std::int64_t encoder_attention_heads = 12, decoder_attention_heads = 12;
  std::int64_t encoder_ffn_dim = 3072, decoder_ffn_dim = 3072;
  std::string activation_function = "gelu";  // gelu, gelu_new, relu, silu
  std::int64_t max_position_embeddings = 1024;
  bool scale_embedding = false;   // Pegasus: true
  bool normalize_before = false;  // pre-LN layers and final LayerNorms (always for Pegasus)
  bool tie_word_embeddings = true;
  double dropout = 0.1, attention_dropout = 0, activation_dropout = 0;
  std::int64_t pad_token_id = 0;
  std::int64_t bos_token_id = -1;  // -1: none
  std::int64_t eos_token_id = 2;
  std::int64_t decoder_start_token_id = 2;
  std::int64_t forced_bos_token_id = -1;  // -1: none
  std::int64_t forced_eos_token_id = -1;  // -1: none (decoding still forces eos at the limit)

  bool bart() const { return model_type == "bart"; }
  bool pre_layer_norm() const { return normalize_before || !bart(); }
};

// The decoder's keys and values so far, for decoding one token at a time: self-attention's grow
// by a position a step (into a buffer with room for more, doubled when full, so a step copies
// one position, not all of them), cross-attention's are the source's, computed once.
struct DecoderCache {
  // per layer [B, capacity >= t, heads, head_dim]: position-major, so that a row's positions so
  // far are one block (reordering rows copies a block a row)
  std::vector<torch::Tensor> self_k, self_v;
  std::vector<torch::Tensor> cross_k, cross_v;  // per layer [B / group, heads, S, head_dim]
  torch::Tensor source_mask;                    // [B / group, S] additive
  // Decoder rows per source row: rows g*i .. g*i + g-1 read source i (the beams of an item), so
  // the source's keys and values are stored and read once for all of them.
  std::int64_t group = 1;
  std::int64_t length = 0;  // t: decoder positions already read
  // group 1: keeps the rows `rows` (int64 [B']) of everything, in that order (dropping finished
  // rows).
  void select(const torch::Tensor& rows);
  // Keeps the decoder rows `rows` of the self-attention keys and values (beam reordering) and the
  // source rows `sources` (int64 [B' / group]; undefined: they do not change).
  void select_grouped(const torch::Tensor& rows, const torch::Tensor& sources);
};

class Seq2SeqModelImpl : public torch::nn::Module {
 public:
  // Random weights (normal(0, 0.02), LayerNorm 1 and 0); pretrained ones overwrite them.
  explicit Seq2SeqModelImpl(const Seq2SeqConfig& config);

  // The encoder's last states [B, S, d] of ids [B, S] with mask [B, S] (1 = token).
  torch::Tensor encode(const torch::Tensor& ids, const torch::Tensor& mask);

  // The decoder's last states [B, T, d] of ids [B, T] read all at once (teacher forcing, causal),
  // positions 0..T-1.
  torch::Tensor decode(const torch::Tensor& ids, const torch::Tensor& source,
                       const torch::Tensor& source_mask);

  // A cache for decoding `source` [B, S, d] (mask [B, S]) step by step, `group` decoder rows per
  // source row (beam search: the beams of an item share its source).
  DecoderCache start(const torch::Tensor& source, const torch::Tensor& source_mask,
                     std::int64_t group = 1);
  // The decoder's states [B, 1, d] of the next token ids [B] at position cache.length; appends
  // their keys and values to the cache.
  torch::Tensor step(const torch::Tensor& ids, DecoderCache& cache);

  // Logits [..., V] of decoder states [..., d].
  torch::Tensor logits(const torch::Tensor& hidden);

  const Seq2SeqConfig& config() const { return config_; }

  // Every parameter and buffer to load, under its Hugging Face name relative to the checkpoint's
  // "model." prefix, except "final_logits_bias" and "lm_head.weight", which are top-level. The
  // Pegasus sinusoids are not listed: they are computed, unless a checkpoint stores them.
  std::vector<std::pair<std::string, torch::Tensor>> hf_tensors() const;

  // Pegasus: the encoder's or decoder's sinusoid table [max_position_embeddings, d] (transformers
  // loads a stored one over the computed one, and so do we).
  torch::Tensor& sinusoid(bool decoder) { return decoder ? decoder_sinusoid_ : encoder_sinusoid_; }

 private:
  struct Attention {
    torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr};
  };
  struct Layer {
    Attention self_attn, cross_attn;  // cross_attn: decoder layers only
    torch::nn::LayerNorm self_norm{nullptr}, cross_norm{nullptr}, ffn_norm{nullptr};
    torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  };
  Attention make_attention(const std::string& name);
  Layer make_layer(const std::string& name, bool decoder);
  torch::Tensor activation(const torch::Tensor& x) const;
  torch::Tensor embed(const torch::Tensor& ids, std::int64_t offset, bool decoder);
  // Attention of queries x [B, T, d] over keys/values k, v [B / group, h, S, hd] with an additive
  // mask broadcastable to [B / group, h, T, S] (undefined: none); group > 1 needs T = 1.
  torch::Tensor attend(Attention& a, const torch::Tensor& x, const torch::Tensor& k,
                       const torch::Tensor& v, const torch::Tensor& mask, std::int64_t heads,
                       std::int64_t group = 1);
  // A decoder layer's residual structure (pre- or post-LN) around its self-attention and
  // cross-attention, each given as a function of the (normed) input.
  using Sublayer = std::function<torch::Tensor(const torch::Tensor&)>;
  torch::Tensor decoder_block(Layer& l, torch::Tensor x, const Sublayer& self_attn,
                              const Sublayer& cross_attn);
  torch::Tensor heads_of(const torch::Tensor& t, std::int64_t heads) const;  // [B,n,d]->[B,h,n,hd]
  torch::Tensor feed_forward(Layer& l, const torch::Tensor& x);
  // One decoder layer over x [B, T, d] read all at once (causal self_mask).
  torch::Tensor decoder_layer(Layer& l, torch::Tensor x, const torch::Tensor& self_mask,
                              const torch::Tensor& cross_k, const torch::Tensor& cross_v,
                              const torch::Tensor& cross_mask);
  // Layer `i` over the next position x [B, 1, d]: appends its self keys and values to `cache`
  // (whose length is not advanced here).
  torch::Tensor decoder_step_layer(std::size_t i, torch::Tensor x, DecoderCache& cache);
  // The attention output [B, 1, d] of query x [B, 1, d] over the first `length` positions of
  // k, v [B / group, h, >= length, hd] (mask: [B / group, length] additive, or undefined).
  torch::Tensor attend_cached(Attention& a, const torch::Tensor& x, const torch::Tensor& k,
                              const torch::Tensor& v, const torch::Tensor& mask,
                              std::int64_t length, std::int64_t group);

  Seq2SeqConfig config_;
  torch::nn::Embedding shared_{nullptr};
  torch::nn::Embedding encoder_positions_{nullptr}, decoder_positions_{nullptr};  // BART
  torch::Tensor encoder_sinusoid_, decoder_sinusoid_;  // Pegasus: [max_position_embeddings, d]
  torch::nn::LayerNorm encoder_embedding_norm_{nullptr}, decoder_embedding_norm_{nullptr};  // BART
  torch::nn::LayerNorm encoder_final_norm_{nullptr}, decoder_final_norm_{nullptr};  // pre-LN
  std::vector<Layer> encoder_layers_, decoder_layers_;
  torch::nn::Linear lm_head_{nullptr};  // untied only, no bias
  torch::Tensor final_logits_bias_;     // [1, V], a buffer
  torch::nn::Dropout dropout_{nullptr}, activation_dropout_{nullptr};
};
TORCH_MODULE(Seq2SeqModel);

}  // namespace weakdistill::student_internal
