#!/usr/bin/python3
"""What a user would otherwise run: PyTorch eager BART / Pegasus (transformers'
BartForConditionalGeneration / PegasusForConditionalGeneration structure and arithmetic) with
generate-style greedy and beam decoding on a key/value cache, and AdamW training steps, for timing
against weakdistill's native libtorch seq2seq student.

Usage:
  /usr/bin/python3 bench/seq2seq_eager.py MODEL_DIR BATCHES.jsonl --threads T
      --decode greedy|beam [--beam 4] --max-new-tokens N [--min-new-tokens 0]
      [--no-repeat-ngram 0] [--length-penalty 1.0] [--warmup 1] [--repeat 3] [--out-json FILE]
  /usr/bin/python3 bench/seq2seq_eager.py MODEL_DIR BATCHES.jsonl --threads T --train
      [--lr 5e-5] [--label-smoothing 0.1] [--warmup 1] [--repeat 3]
  /usr/bin/python3 bench/seq2seq_eager.py --selftest

MODEL_DIR is a Hugging Face BART or Pegasus folder (config.json, model.safetensors; e.g. one
written by tests/reference/seq2seq_reference.py make), read with that reference's reader (its
safetensors reader, prefix "model." or "", missing final_logits_bias = 0, Pegasus positions
computed when absent), as float32. BATCHES.jsonl has one padded batch per line:
{"input_ids": [[...]], "attention_mask": [[...]] (optional: all ones)} and, for --train,
"labels": [[...]] (target ids ending in eos, padded with -100 as transformers' collators do).

The model is a float32 nn.Module tree named as transformers names it (model.shared,
model.encoder.embed_positions, model.encoder.layers.{i}.self_attn.{q,k,v,out}_proj, ...,
final_logits_bias, lm_head) with the arithmetic of modeling_bart.py (post-LN, layernorm_embedding,
learned positions at offset 2), modeling_mbart.py (BART with normalize_before: pre-LN and final
layer norms) and modeling_pegasus.py (pre-LN, sinusoidal positions, no layernorm_embedding) on
the eager attention path (the only one torch 1.13 has): q_proj(x) * head_dim^-0.5, bmm, additive
masks (finfo(float32).min for padded source keys, causal for the decoder), softmax, dropout,
bmm, out_proj; eval() mode and torch.inference_mode() for decoding.

Decoding follows GenerationMixin on a cache (past_key_values: per decoder layer the
self-attention keys/values, grown by one position a step, and the cross-attention ones,
computed once from the encoder output), batched over the rows of a batch:
  greedy: argmax of the processed logits, finished rows continue with pad (as HF does), stop when
    every row has produced eos or after N new tokens;
  beam (HF's BeamSearchScorer, early_stopping=False): scores = log_softmax + processors + beam
    sums, the 2K best of K x V per row, an eos among the first K filed as a finished hypothesis
    with score sum / generated_len ** length_penalty (generated_len counting the eos, not the
    start token), the first K non-eos ones become the beams, the cache reordered with
    index_select; a row is done when K hypotheses are finished and the worst beats the best live
    sum / cur_generated_len ** length_penalty; the best finished hypothesis is returned.
  processors, in HF's order: no_repeat_ngram, min_new_tokens (eos -inf before M new tokens),
    forced_bos_token_id (from config.json, at the first step), forced_eos_token_id at the last
    (N-th) step.
torch.set_num_threads(T) (run with OPENBLAS_NUM_THREADS=T OMP_WAIT_POLICY=PASSIVE, as
bench/compare_bert.sh does: on a loaded 2-core machine libgomp's spinning made 2 threads ~10x
slower than 1); `warmup` untimed passes over all batches then `repeat` timed passes;
prints one JSON line: {"tokens_per_s": generated tokens / best pass, "seconds", "sequences",
"generated_tokens" (summed over sequences, up to and including eos), "threads", "decode", "beam",
"torch"}. --out-json FILE writes the decoded ids of the last pass ([{"tokens": [...]}, ...], the
generated ids through eos, one per input row in file order), for checking against the C++ side.

--train: model.train() (dropout 0.1 as config.json says), --optimizer adamw (default: torch AdamW,
lr 5e-5, weight decay 0.01 on every parameter) or student (TrainerOptimizer: the student's and
transformers Trainer's recipe, no decay on biases and LayerNorms, clipping at 1.0, linear schedule),
teacher forcing (decoder_input_ids = labels shifted right after decoder_start_token_id, -100 ->
pad, as shift_tokens_right), cross entropy with label_smoothing 0.1 ignoring -100, backward,
step, zero_grad; one step a batch. Prints {"samples_per_s", "seconds", "samples", "steps",
"threads", "final_loss", "torch"}.

--selftest: on small random folders (bart, pegasus, BF16, normalize_before, forced_bos) checks
that the full-pass logits match seq2seq_reference.py's float64 forward to 1e-4, that cached
one-token decoding gives the full pass's logits, that greedy output equals the reference's
greedy (seq2seq_reference.py generate semantics) with and without min_new_tokens /
no_repeat_ngram, that beam search with length_penalty 0 and K >= V^(N-1) equals the reference's
brute force, that each beam result's sum is the reference's rescoring, and that training steps
run and lower the loss on a repeated batch.
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import seq2seq_reference as ref  # noqa: E402

CHECK_TOLERANCE = 1e-4


def _act(name):
    name = name.lower()
    if name == "gelu":
        return nn.GELU()
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return nn.GELU(approximate="tanh")
    if name == "relu":
        return nn.ReLU()
    if name in ("silu", "swish"):
        return nn.SiLU()
    raise ValueError("unsupported activation_function %r" % name)


class Cfg:
    """config.json as attributes, with transformers' defaults for the keys we read."""

    def __init__(self, c):
        self.model_type = c["model_type"]
        self.vocab_size = int(c["vocab_size"])
        self.d_model = int(c["d_model"])
        self.encoder_layers = int(c["encoder_layers"])
        self.decoder_layers = int(c["decoder_layers"])
        self.encoder_attention_heads = int(c["encoder_attention_heads"])
        self.decoder_attention_heads = int(c["decoder_attention_heads"])
        self.encoder_ffn_dim = int(c.get("encoder_ffn_dim", 4096))
        self.decoder_ffn_dim = int(c.get("decoder_ffn_dim", 4096))
        self.activation_function = c.get("activation_function", "gelu")
        self.max_position_embeddings = int(c["max_position_embeddings"])
        self.scale_embedding = bool(c.get("scale_embedding", False))
        self.normalize_before = self.model_type == "pegasus" or bool(c.get("normalize_before",
                                                                           False))
        self.tie_word_embeddings = bool(c.get("tie_word_embeddings", True))
        self.dropout = float(c.get("dropout", 0.1))
        self.attention_dropout = float(c.get("attention_dropout", 0.0))
        self.activation_dropout = float(c.get("activation_dropout", 0.0))
        self.pad_token_id = int(c.get("pad_token_id", 0) or 0)
        self.eos_token_id = int(c["eos_token_id"])
        self.decoder_start_token_id = int(c["decoder_start_token_id"])
        fb = c.get("forced_bos_token_id")
        self.forced_bos_token_id = None if fb is None else int(fb)
        fe = c.get("forced_eos_token_id")
        self.forced_eos_token_id = None if fe is None else int(fe)


class LearnedPositionalEmbedding(nn.Embedding):
    """BartLearnedPositionalEmbedding: num_embeddings + 2 rows, position p read at row p + 2."""

    def __init__(self, num_embeddings, embedding_dim):
        self.offset = 2
        super().__init__(num_embeddings + self.offset, embedding_dim)

    def forward(self, input_shape, past_key_values_length=0):
        seq_len = input_shape[1]
        positions = torch.arange(past_key_values_length, past_key_values_length + seq_len,
                                 dtype=torch.long, device=self.weight.device)
        return super().forward(positions + self.offset)


class SinusoidalPositionalEmbedding(nn.Embedding):
    """PegasusSinusoidalPositionalEmbedding: a fixed table (loaded, not trained)."""

    def __init__(self, num_positions, embedding_dim):
        super().__init__(num_positions, embedding_dim)
        self.weight.requires_grad = False

    def forward(self, input_shape, past_key_values_length=0):
        seq_len = input_shape[1]
        positions = torch.arange(past_key_values_length, past_key_values_length + seq_len,
                                 dtype=torch.long, device=self.weight.device)
        return super().forward(positions)


class Attention(nn.Module):
    """BartAttention (eager)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, is_decoder=False):
        super().__init__()
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise ValueError("d_model %d is not a multiple of the heads %d" % (embed_dim, num_heads))
        self.scaling = self.head_dim ** -0.5
        self.is_decoder = is_decoder
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim)

    def _shape(self, tensor, seq_len, bsz):
        return tensor.view(bsz, seq_len, self.num_heads, self.head_dim).transpose(1, 2).contiguous()

    def forward(self, hidden_states, key_value_states=None, past_key_value=None,
                attention_mask=None):
        is_cross_attention = key_value_states is not None
        bsz, tgt_len, _ = hidden_states.size()
        query_states = self.q_proj(hidden_states) * self.scaling
        if is_cross_attention and past_key_value is not None:
            key_states, value_states = past_key_value
        elif is_cross_attention:
            key_states = self._shape(self.k_proj(key_value_states), -1, bsz)
            value_states = self._shape(self.v_proj(key_value_states), -1, bsz)
        elif past_key_value is not None:
            key_states = self._shape(self.k_proj(hidden_states), -1, bsz)
            value_states = self._shape(self.v_proj(hidden_states), -1, bsz)
            key_states = torch.cat([past_key_value[0], key_states], dim=2)
            value_states = torch.cat([past_key_value[1], value_states], dim=2)
        else:
            key_states = self._shape(self.k_proj(hidden_states), -1, bsz)
            value_states = self._shape(self.v_proj(hidden_states), -1, bsz)
        present = (key_states, value_states) if self.is_decoder else None

        proj_shape = (bsz * self.num_heads, -1, self.head_dim)
        query_states = self._shape(query_states, tgt_len, bsz).view(*proj_shape)
        key_states = key_states.reshape(*proj_shape)
        value_states = value_states.reshape(*proj_shape)
        src_len = key_states.size(1)
        attn_weights = torch.bmm(query_states, key_states.transpose(1, 2))
        if attention_mask is not None:
            attn_weights = attn_weights.view(bsz, self.num_heads, tgt_len, src_len) + attention_mask
            attn_weights = attn_weights.view(bsz * self.num_heads, tgt_len, src_len)
        attn_weights = nn.functional.softmax(attn_weights, dim=-1)
        attn_probs = nn.functional.dropout(attn_weights, p=self.dropout, training=self.training)
        attn_output = torch.bmm(attn_probs, value_states)
        attn_output = attn_output.view(bsz, self.num_heads, tgt_len, self.head_dim)
        attn_output = attn_output.transpose(1, 2).reshape(bsz, tgt_len, self.embed_dim)
        return self.out_proj(attn_output), present


class EncoderLayer(nn.Module):
    """BartEncoderLayer (post-LN) or MBartEncoderLayer / PegasusEncoderLayer (pre-LN)."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_model
        self.pre_ln = cfg.normalize_before
        self.self_attn = Attention(d, cfg.encoder_attention_heads, cfg.attention_dropout)
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.dropout = cfg.dropout
        self.activation_fn = _act(cfg.activation_function)
        self.activation_dropout = cfg.activation_dropout
        self.fc1 = nn.Linear(d, cfg.encoder_ffn_dim)
        self.fc2 = nn.Linear(cfg.encoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, hidden_states, attention_mask):
        drop = nn.functional.dropout
        residual = hidden_states
        if self.pre_ln:
            hidden_states = self.self_attn_layer_norm(hidden_states)
        hidden_states, _ = self.self_attn(hidden_states, attention_mask=attention_mask)
        hidden_states = residual + drop(hidden_states, p=self.dropout, training=self.training)
        if not self.pre_ln:
            hidden_states = self.self_attn_layer_norm(hidden_states)
        residual = hidden_states
        if self.pre_ln:
            hidden_states = self.final_layer_norm(hidden_states)
        hidden_states = self.activation_fn(self.fc1(hidden_states))
        hidden_states = drop(hidden_states, p=self.activation_dropout, training=self.training)
        hidden_states = self.fc2(hidden_states)
        hidden_states = residual + drop(hidden_states, p=self.dropout, training=self.training)
        if not self.pre_ln:
            hidden_states = self.final_layer_norm(hidden_states)
        return hidden_states


class DecoderLayer(nn.Module):
    """BartDecoderLayer (post-LN) or MBartDecoderLayer / PegasusDecoderLayer (pre-LN).
    past_key_value: (self k, self v, cross k, cross v) or None."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_model
        self.pre_ln = cfg.normalize_before
        self.self_attn = Attention(d, cfg.decoder_attention_heads, cfg.attention_dropout, True)
        self.dropout = cfg.dropout
        self.activation_fn = _act(cfg.activation_function)
        self.activation_dropout = cfg.activation_dropout
        self.self_attn_layer_norm = nn.LayerNorm(d)
        self.encoder_attn = Attention(d, cfg.decoder_attention_heads, cfg.attention_dropout, True)
        self.encoder_attn_layer_norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, cfg.decoder_ffn_dim)
        self.fc2 = nn.Linear(cfg.decoder_ffn_dim, d)
        self.final_layer_norm = nn.LayerNorm(d)

    def forward(self, hidden_states, attention_mask, encoder_hidden_states,
                encoder_attention_mask, past_key_value=None):
        drop = nn.functional.dropout
        residual = hidden_states
        if self.pre_ln:
            hidden_states = self.self_attn_layer_norm(hidden_states)
        hidden_states, present = self.self_attn(
            hidden_states, past_key_value=past_key_value[:2] if past_key_value else None,
            attention_mask=attention_mask)
        hidden_states = residual + drop(hidden_states, p=self.dropout, training=self.training)
        if not self.pre_ln:
            hidden_states = self.self_attn_layer_norm(hidden_states)

        residual = hidden_states
        if self.pre_ln:
            hidden_states = self.encoder_attn_layer_norm(hidden_states)
        hidden_states, cross_present = self.encoder_attn(
            hidden_states, key_value_states=encoder_hidden_states,
            past_key_value=past_key_value[2:] if past_key_value else None,
            attention_mask=encoder_attention_mask)
        hidden_states = residual + drop(hidden_states, p=self.dropout, training=self.training)
        if not self.pre_ln:
            hidden_states = self.encoder_attn_layer_norm(hidden_states)
        present = present + cross_present

        residual = hidden_states
        if self.pre_ln:
            hidden_states = self.final_layer_norm(hidden_states)
        hidden_states = self.activation_fn(self.fc1(hidden_states))
        hidden_states = drop(hidden_states, p=self.activation_dropout, training=self.training)
        hidden_states = self.fc2(hidden_states)
        hidden_states = residual + drop(hidden_states, p=self.dropout, training=self.training)
        if not self.pre_ln:
            hidden_states = self.final_layer_norm(hidden_states)
        return hidden_states, present


def _expand_mask(mask, dtype, tgt_len):
    """[B, S] 1/0 -> [B, 1, tgt_len, S] additive (0 / finfo.min), as _prepare_4d_attention_mask."""
    bsz, src_len = mask.size()
    expanded = mask[:, None, None, :].expand(bsz, 1, tgt_len, src_len).to(dtype)
    inverted = 1.0 - expanded
    return inverted.masked_fill(inverted.to(torch.bool), torch.finfo(dtype).min)


def _causal_mask(bsz, tgt_len, dtype, past_len):
    mask = torch.full((tgt_len, tgt_len), torch.finfo(dtype).min)
    cond = torch.arange(tgt_len)
    mask.masked_fill_(cond < (cond + 1).view(tgt_len, 1), 0)
    mask = mask.to(dtype)
    if past_len > 0:
        mask = torch.cat([torch.zeros(tgt_len, past_len, dtype=dtype), mask], dim=-1)
    return mask[None, None, :, :].expand(bsz, 1, tgt_len, tgt_len + past_len)


class Encoder(nn.Module):
    def __init__(self, cfg, embed_tokens):
        super().__init__()
        d = cfg.d_model
        self.dropout = cfg.dropout
        self.embed_scale = math.sqrt(d) if cfg.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.bart = cfg.model_type == "bart"
        if self.bart:
            self.embed_positions = LearnedPositionalEmbedding(cfg.max_position_embeddings, d)
            self.layernorm_embedding = nn.LayerNorm(d)
        else:
            self.embed_positions = SinusoidalPositionalEmbedding(cfg.max_position_embeddings, d)
        self.layers = nn.ModuleList([EncoderLayer(cfg) for _ in range(cfg.encoder_layers)])
        self.layer_norm = nn.LayerNorm(d) if cfg.normalize_before else None

    def forward(self, input_ids, attention_mask):
        inputs_embeds = self.embed_tokens(input_ids) * self.embed_scale
        hidden_states = inputs_embeds + self.embed_positions(input_ids.size())
        if self.bart:
            hidden_states = self.layernorm_embedding(hidden_states)
        hidden_states = nn.functional.dropout(hidden_states, p=self.dropout,
                                              training=self.training)
        mask = _expand_mask(attention_mask, inputs_embeds.dtype, input_ids.size(1))
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        return hidden_states


class Decoder(nn.Module):
    def __init__(self, cfg, embed_tokens):
        super().__init__()
        d = cfg.d_model
        self.dropout = cfg.dropout
        self.embed_scale = math.sqrt(d) if cfg.scale_embedding else 1.0
        self.embed_tokens = embed_tokens
        self.bart = cfg.model_type == "bart"
        if self.bart:
            self.embed_positions = LearnedPositionalEmbedding(cfg.max_position_embeddings, d)
            self.layernorm_embedding = nn.LayerNorm(d)
        else:
            self.embed_positions = SinusoidalPositionalEmbedding(cfg.max_position_embeddings, d)
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg.decoder_layers)])
        self.layer_norm = nn.LayerNorm(d) if cfg.normalize_before else None

    def forward(self, input_ids, encoder_hidden_states, encoder_attention_mask,
                past_key_values=None):
        """Returns (hidden states [B, T, d], the new past_key_values)."""
        bsz, tgt_len = input_ids.size()
        past_len = past_key_values[0][0].shape[2] if past_key_values is not None else 0
        inputs_embeds = self.embed_tokens(input_ids) * self.embed_scale
        causal = _causal_mask(bsz, tgt_len, inputs_embeds.dtype, past_len) \
            if tgt_len > 1 else None
        cross = _expand_mask(encoder_attention_mask, inputs_embeds.dtype, tgt_len)
        hidden_states = inputs_embeds + self.embed_positions(input_ids.size(), past_len)
        if self.bart:
            hidden_states = self.layernorm_embedding(hidden_states)
        hidden_states = nn.functional.dropout(hidden_states, p=self.dropout,
                                              training=self.training)
        presents = []
        for i, layer in enumerate(self.layers):
            hidden_states, present = layer(
                hidden_states, causal, encoder_hidden_states, cross,
                past_key_values[i] if past_key_values is not None else None)
            presents.append(present)
        if self.layer_norm is not None:
            hidden_states = self.layer_norm(hidden_states)
        return hidden_states, presents


class Seq2SeqModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.shared = nn.Embedding(cfg.vocab_size, cfg.d_model, cfg.pad_token_id)
        self.encoder = Encoder(cfg, self.shared)
        self.decoder = Decoder(cfg, self.shared)


class ForConditionalGeneration(nn.Module):
    """BartForConditionalGeneration / PegasusForConditionalGeneration."""

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.model = Seq2SeqModel(cfg)
        self.register_buffer("final_logits_bias", torch.zeros((1, cfg.vocab_size)))
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.shared.weight

    def logits(self, hidden_states):
        return self.lm_head(hidden_states) + self.final_logits_bias

    def forward(self, input_ids, attention_mask, decoder_input_ids):
        enc = self.model.encoder(input_ids, attention_mask)
        h, _ = self.model.decoder(decoder_input_ids, enc, attention_mask)
        return self.logits(h)


def load_seq2seq(model_dir):
    """(ForConditionalGeneration in eval mode, float32, Cfg) from a Hugging Face folder."""
    m = ref.load_model(model_dir, dtype=torch.float32)
    cfg = Cfg(m.config)
    model = ForConditionalGeneration(cfg)
    state = {}
    for key in model.state_dict():
        if key in ("final_logits_bias",):
            state[key] = m.w["final_logits_bias"]
        elif key == "lm_head.weight":
            state[key] = m.w["lm_head"]
        else:
            name = key[len("model."):]
            if name == "shared.weight" or name.endswith("embed_tokens.weight"):
                state[key] = m.w["embed"]
            elif name.endswith("embed_positions.weight") and cfg.model_type == "pegasus":
                side = name.split(".")[0]
                state[key] = m.w[side + ".positions"]
            else:
                state[key] = m.w[name]
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, cfg


# ---------------------------------------------------------------------------------------------
# Decoding (GenerationMixin-style, on the cache).


class Processors:
    """The logits processors generate() would build from config.json and the options, applied
    in HF's order to scores [R, V] for the sequences input_ids [R, t] (t includes the start)."""

    def __init__(self, cfg, max_new_tokens, min_new_tokens=0, no_repeat_ngram=0):
        self.cfg = cfg
        self.N = max_new_tokens
        self.min_new = min_new_tokens
        self.ngram = no_repeat_ngram

    def __call__(self, input_ids, scores):
        cur_len = input_ids.shape[1]
        g = cur_len - 1
        n = self.ngram
        if n > 0 and cur_len + 1 >= n:
            rows = input_ids.tolist()
            for r, seq in enumerate(rows):
                context = seq[cur_len - (n - 1):] if n > 1 else []
                banned = [seq[j + n - 1] for j in range(cur_len - n + 1)
                          if seq[j:j + n - 1] == context]
                if banned:
                    scores[r, banned] = -float("inf")
        eos = self.cfg.eos_token_id
        if g < self.min_new:
            scores[:, eos] = -float("inf")
        if g == 0 and self.cfg.forced_bos_token_id is not None:
            scores[:, :] = -float("inf")
            scores[:, self.cfg.forced_bos_token_id] = 0
        forced_eos = self.cfg.forced_eos_token_id if self.cfg.forced_eos_token_id is not None \
            else eos
        if g == self.N - 1:
            scores[:, :] = -float("inf")
            scores[:, forced_eos] = 0
        return scores


def _reorder(past, beam_idx):
    return [tuple(t.index_select(0, beam_idx) for t in layer[:2]) + tuple(layer[2:])
            for layer in past]


def greedy_generate(model, input_ids, attention_mask, procs):
    """Returns [B] lists of generated ids (through eos)."""
    cfg = model.config
    B = input_ids.shape[0]
    enc = model.model.encoder(input_ids, attention_mask)
    seqs = torch.full((B, 1), cfg.decoder_start_token_id, dtype=torch.long)
    unfinished = torch.ones(B, dtype=torch.long)
    past = None
    for _ in range(procs.N):
        h, past = model.model.decoder(seqs[:, -1:], enc, attention_mask, past)
        scores = procs(seqs, model.logits(h[:, -1, :]))
        nxt = torch.argmax(scores, dim=-1)
        nxt = nxt * unfinished + cfg.pad_token_id * (1 - unfinished)
        seqs = torch.cat([seqs, nxt[:, None]], dim=-1)
        unfinished = unfinished & (nxt != cfg.eos_token_id).long()
        if int(unfinished.max()) == 0:
            break
    out = []
    for row in seqs[:, 1:].tolist():
        out.append(row[:row.index(cfg.eos_token_id) + 1] if cfg.eos_token_id in row else row)
    return out


class _Hyps:
    """BeamHypotheses: the K best finished hypotheses of one row."""

    def __init__(self, K, length_penalty):
        self.K, self.lp = K, length_penalty
        self.beams = []  # (score, tokens, sum)
        self.worst_score = 1e9

    def add(self, tokens, sum_logprobs, generated_len):
        score = sum_logprobs / (generated_len ** self.lp)
        if len(self.beams) < self.K or score > self.worst_score:
            self.beams.append((score, tokens, sum_logprobs))
            if len(self.beams) > self.K:
                order = sorted((s, i) for i, (s, _, _) in enumerate(self.beams))
                del self.beams[order[0][1]]
                self.worst_score = order[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_sum_logprobs, generated_len):
        if len(self.beams) < self.K:
            return False
        return self.worst_score >= best_sum_logprobs / generated_len ** self.lp


def beam_generate(model, input_ids, attention_mask, procs, K, length_penalty, with_scores=False):
    """HF beam search (early_stopping=False, one returned sequence a row). Returns [B] lists of
    generated ids through eos (or (tokens, sum, score) triples with with_scores)."""
    cfg = model.config
    B = input_ids.shape[0]
    V = cfg.vocab_size
    eos = cfg.eos_token_id
    enc = model.model.encoder(input_ids, attention_mask)
    enc = enc.repeat_interleave(K, dim=0)
    mask = attention_mask.repeat_interleave(K, dim=0)
    seqs = torch.full((B * K, 1), cfg.decoder_start_token_id, dtype=torch.long)
    beam_scores = torch.zeros(B, K, dtype=torch.float32)
    beam_scores[:, 1:] = -1e9
    beam_scores = beam_scores.view(-1)
    hyps = [_Hyps(K, length_penalty) for _ in range(B)]
    done = [False] * B
    past = None
    for _ in range(procs.N):
        h, past = model.model.decoder(seqs[:, -1:], enc, mask, past)
        scores = nn.functional.log_softmax(model.logits(h[:, -1, :]), dim=-1)
        scores = procs(seqs, scores)
        scores = scores + beam_scores[:, None]
        top_scores, top_tokens = torch.topk(scores.view(B, K * V), 2 * K, dim=1, largest=True,
                                            sorted=True)
        next_indices = torch.div(top_tokens, V, rounding_mode="floor")
        next_tokens = top_tokens % V
        cur_len = seqs.shape[1] + 1  # as BeamSearchScorer.process counts
        new_scores = torch.zeros(B, K)
        new_tokens = torch.full((B, K), cfg.pad_token_id, dtype=torch.long)
        new_indices = torch.zeros(B, K, dtype=torch.long)
        ts, tt, ti = top_scores.tolist(), next_tokens.tolist(), next_indices.tolist()
        for b in range(B):
            if done[b]:
                new_indices[b] = b * K  # padding rows; their scores stay 0
                continue
            j = 0
            for rank in range(2 * K):
                token, score, bi = tt[b][rank], ts[b][rank], b * K + ti[b][rank]
                if token == eos:
                    if rank >= K:
                        continue
                    hyps[b].add(seqs[bi, 1:].tolist() + [eos], score, cur_len - 1)
                else:
                    new_scores[b, j], new_tokens[b, j], new_indices[b, j] = score, token, bi
                    j += 1
                if j == K:
                    break
            done[b] = done[b] or hyps[b].is_done(max(ts[b]), cur_len - 1)
        if all(done):
            break
        idx = new_indices.view(-1)
        seqs = torch.cat([seqs.index_select(0, idx), new_tokens.view(-1, 1)], dim=-1)
        beam_scores = new_scores.view(-1)
        past = _reorder(past, idx)
    out = []
    for b in range(B):
        if not done[b]:  # finalize: live beams count as hypotheses
            for k in range(K):
                bi = b * K + k
                hyps[b].add(seqs[bi, 1:].tolist(), float(beam_scores[bi]), seqs.shape[1] - 1)
        best = max(hyps[b].beams, key=lambda x: x[0])
        out.append((best[1], best[2], best[0]) if with_scores else best[1])
    return out


def read_batches(path, train=False):
    """[(input_ids, attention_mask, labels|None)] as int64 tensors."""
    batches = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            b = json.loads(line)
            ids = torch.tensor(b["input_ids"], dtype=torch.int64)
            mask = torch.tensor(b["attention_mask"], dtype=torch.int64) \
                if b.get("attention_mask") is not None else torch.ones_like(ids)
            labels = None
            if train:
                if b.get("labels") is None:
                    raise ValueError("%s: --train needs \"labels\" in every batch" % path)
                labels = torch.tensor(b["labels"], dtype=torch.int64)
            batches.append((ids, mask, labels))
    if not batches:
        raise ValueError("%s: no batches" % path)
    return batches


def decode_all(model, batches, procs, decode, beam, length_penalty):
    out = []
    for ids, mask, _ in batches:
        if decode == "greedy":
            out.extend(greedy_generate(model, ids, mask, procs))
        else:
            out.extend(beam_generate(model, ids, mask, procs, beam, length_penalty))
    return out


def run_decode(model_dir, batches_path, threads, decode, beam, max_new_tokens, min_new_tokens=0,
               no_repeat_ngram=0, length_penalty=1.0, warmup=1, repeat=3, out_json=None):
    torch.set_num_threads(threads)
    model, cfg = load_seq2seq(model_dir)
    batches = read_batches(batches_path)
    procs = Processors(cfg, max_new_tokens, min_new_tokens, no_repeat_ngram)
    best, outs = None, None
    with torch.inference_mode():
        for _ in range(warmup):
            decode_all(model, batches, procs, decode, beam, length_penalty)
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            outs = decode_all(model, batches, procs, decode, beam, length_penalty)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    if out_json:
        with open(out_json, "w", encoding="utf-8") as f:
            json.dump([{"tokens": t} for t in outs], f)
            f.write("\n")
    n_tokens = sum(len(t) for t in outs)
    return {"tokens_per_s": n_tokens / best, "seconds": best, "sequences": len(outs),
            "generated_tokens": n_tokens, "threads": threads, "decode": decode,
            "beam": beam if decode == "beam" else 1, "torch": torch.__version__}


def shift_tokens_right(labels, pad_token_id, decoder_start_token_id):
    shifted = labels.new_zeros(labels.shape)
    shifted[:, 1:] = labels[:, :-1].clone()
    shifted[:, 0] = decoder_start_token_id
    shifted.masked_fill_(shifted == -100, pad_token_id)
    return shifted


def train_steps(model, cfg, batches, optimizer, loss_fn):
    loss = None
    for ids, mask, labels in batches:
        dec = shift_tokens_right(labels, cfg.pad_token_id, cfg.decoder_start_token_id)
        logits = model(ids, mask, dec)
        loss = loss_fn(logits.view(-1, cfg.vocab_size), labels.view(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return float(loss)


class TrainerOptimizer:
    """transformers Trainer's recipe, as the seq2seq student trains: AdamW with weight decay 0.01
    on weights but not on biases and LayerNorms, the global gradient norm clipped to 1.0, and a
    linear schedule (10% warm-up from 0, then down to 0 at total_steps)."""

    def __init__(self, model, lr, total_steps):
        decay, plain = [], []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            norm = any(s in name for s in ("LayerNorm", "layer_norm", "layernorm"))
            (plain if norm or name.endswith(".bias") else decay).append(p)
        self.params = decay + plain
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                      {"params": plain, "weight_decay": 0.0}], lr=lr, eps=1e-8)
        warm = max(1, int(math.ceil(0.1 * total_steps)))
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: s / warm if s < warm else max(0.0, (total_steps - s) /
                                                               max(1, total_steps - warm)))

    def step(self):
        nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.sched.step()

    def zero_grad(self, set_to_none=True):
        self.opt.zero_grad(set_to_none=set_to_none)


def make_optimizer(model, recipe, lr, total_steps):
    """"adamw": torch AdamW on every parameter (weight decay 0.01), nothing else; "student": the
    seq2seq student's recipe (TrainerOptimizer)."""
    if recipe == "student":
        return TrainerOptimizer(model, lr, total_steps)
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                             weight_decay=0.01)


def run_train(model_dir, batches_path, threads, lr=5e-5, label_smoothing=0.1, warmup=1,
              repeat=3, optimizer="adamw"):
    torch.set_num_threads(threads)
    model, cfg = load_seq2seq(model_dir)
    model.train()
    batches = read_batches(batches_path, train=True)
    optimizer = make_optimizer(model, optimizer, lr, len(batches) * (warmup + repeat + 1))
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=label_smoothing)
    for _ in range(warmup):
        train_steps(model, cfg, batches, optimizer, loss_fn)
    best, loss = None, None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        loss = train_steps(model, cfg, batches, optimizer, loss_fn)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    n = sum(int(b[0].shape[0]) for b in batches)
    return {"samples_per_s": n / best, "seconds": best, "samples": n, "steps": len(batches),
            "threads": threads, "final_loss": loss, "torch": torch.__version__}


# ---------------------------------------------------------------------------------------------


def selftest():
    tmp = tempfile.mkdtemp(prefix="seq2seq_eager_selftest_")
    failures = []

    def check(what, value, tol):
        ok = value <= tol
        print("%s %-64s %.3g (tol %.0e)" % ("ok  " if ok else "FAIL", what, value, tol))
        if not ok:
            failures.append(what)

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(11)
    try:
        for name, kw in (("bart F32", dict(arch="bart")),
                         ("bart BF16 normalize_before forced_bos",
                          dict(arch="bart", dtype="BF16", normalize_before=True, forced_bos=7)),
                         ("pegasus F32", dict(arch="pegasus")),
                         ("pegasus F16 untied prefix ''",
                          dict(arch="pegasus", dtype="F16", untied=True, prefix=""))):
            d = os.path.join(tmp, name.split(" ")[0] + str(len(failures)) + kw.get("dtype", ""))
            ref.make_model(d, vocab_size=40, d_model=32, encoder_layers=2, decoder_layers=2,
                           heads=4, ffn=48, max_position=32, seed=5, **kw)
            model, cfg = load_seq2seq(d)
            rm = ref.load_model(d)
            batch = ref.random_batch(gen, 40, [9, 4, 7], 6)
            ids, mask, dec = ref.prepare_inputs(rm, batch)
            with torch.inference_mode():
                lg = model(ids, mask.long(), dec)
            _, _, rl = ref.forward(rm, ids, mask, dec)
            check("%s: logits == reference (float32 vs float64)" % name,
                  float((lg.double() - rl).abs().max()), CHECK_TOLERANCE)
            # Cached one-token decoding == the full pass.
            with torch.inference_mode():
                enc = model.model.encoder(ids, mask.long())
                past, steps = None, []
                for t in range(dec.shape[1]):
                    h, past = model.model.decoder(dec[:, t:t + 1], enc, mask.long(), past)
                    steps.append(model.logits(h[:, -1]))
            check("  cached one-token decoding == full pass",
                  float((torch.stack(steps, 1) - lg).abs().max()), 1e-5)
            # Greedy against the reference.
            for opts in (dict(), dict(min_new_tokens=3, no_repeat_ngram=2)):
                N = 8
                procs = Processors(cfg, N, opts.get("min_new_tokens", 0),
                                   opts.get("no_repeat_ngram", 0))
                with torch.inference_mode():
                    got = greedy_generate(model, ids, mask.long(), procs)
                want = ref.generate_rows(rm, ids, mask, ref.DecodeOptions(N, **opts))
                check("  greedy == reference greedy %s (rows differing)" % json.dumps(opts),
                      sum(g != w["tokens"] for g, w in zip(got, want)), 0)
            # Beam: each result's sum is the reference's rescoring.
            procs = Processors(cfg, 6, 0, 2)
            with torch.inference_mode():
                got = beam_generate(model, ids, mask.long(), procs, 4, 1.0, with_scores=True)
            worst = 0.0
            for b, (tokens, total, score) in enumerate(got):
                o = ref.DecodeOptions(6, no_repeat_ngram=2)
                worst = max(worst, abs(total - ref.rescore(rm, o, tokens, ref.encode(
                    rm, ids[b:b + 1], mask[b:b + 1]), mask[b:b + 1])),
                    abs(score - total / len(tokens)))
            check("  beam 4: sums == reference rescoring", worst, CHECK_TOLERANCE)

        # Wide beam with length_penalty 0 == the reference's brute force (V = 8, N = 3, K = 64).
        for arch in ("bart", "pegasus"):
            d = os.path.join(tmp, "v8" + arch)
            ref.make_model(d, arch=arch, vocab_size=8, d_model=16, encoder_layers=1,
                           decoder_layers=2, heads=2, ffn=24, max_position=16, seed=3, std=0.3)
            model, cfg = load_seq2seq(d)
            rm = ref.load_model(d)
            ids, mask, _ = ref.prepare_inputs(rm, ref.random_batch(gen, 8, [6, 3], 1),
                                              decoder=False)
            for opts in (dict(), dict(min_new_tokens=1, no_repeat_ngram=1)):
                procs = Processors(cfg, 3, opts.get("min_new_tokens", 0),
                                   opts.get("no_repeat_ngram", 0))
                with torch.inference_mode():
                    got = beam_generate(model, ids, mask.long(), procs, 64, 0.0, with_scores=True)
                want = ref.generate_rows(rm, ids, mask,
                                         ref.DecodeOptions(3, length_penalty=0.0, **opts),
                                         brute=True)
                bad = sum(g[0] != w["tokens"] for g, w in zip(got, want)) + \
                    max(abs(g[2] - w["score"]) for g, w in zip(got, want))
                check("V=8 %s beam 64 lp 0 == reference brute force %s" % (arch, json.dumps(opts)),
                      bad, CHECK_TOLERANCE)

        # The CLI: decode and train on a small batch file.
        d = os.path.join(tmp, "cli")
        ref.make_model(d, arch="bart", vocab_size=40, d_model=32, max_position=32, seed=2)
        path = os.path.join(tmp, "batches.jsonl")
        with open(path, "w") as f:
            for lengths in ([9, 6, 3], [5, 5]):
                b = ref.random_batch(gen, 40, lengths, 1)
                labels = torch.randint(5, 40, (len(lengths), 6), generator=gen)
                labels[:, -1] = 3
                labels[0, 4:] = -100
                b["labels"] = labels.tolist()
                del b["decoder_input_ids"]
                f.write(json.dumps(b) + "\n")
        for decode in ("greedy", "beam"):
            r = run_decode(d, path, 1, decode, 3, 5, warmup=0, repeat=1,
                           out_json=os.path.join(tmp, "out.json"))
            outs = json.load(open(os.path.join(tmp, "out.json")))
            assert r["sequences"] == 5 == len(outs) and r["generated_tokens"] == \
                sum(len(o["tokens"]) for o in outs), r
            print("ok   %s: %s" % (decode, json.dumps(r)))
        r = run_train(d, path, 1, lr=1e-3, warmup=0, repeat=1)
        print("ok   train: %s" % json.dumps(r))
        model, cfg = load_seq2seq(d)
        model.train()
        batches = read_batches(path, train=True)[:1]
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
        loss_fn = nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=0.1)
        first = train_steps(model, cfg, batches, opt, loss_fn)
        for _ in range(20):
            last = train_steps(model, cfg, batches, opt, loss_fn)
        check("train: 20 AdamW steps on one batch lower the loss (last/first)", last / first, 0.9)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("selftest FAILED: %s" % "; ".join(failures))
        return 1
    print("selftest passed")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("batches", nargs="?")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--decode", choices=["greedy", "beam"], default=None)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--min-new-tokens", type=int, default=0)
    ap.add_argument("--no-repeat-ngram", type=int, default=0)
    ap.add_argument("--length-penalty", type=float, default=1.0)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--optimizer", choices=["adamw", "student"], default="adamw")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out-json", default=None)
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args(argv)
    if a.selftest:
        return selftest()
    if not a.model_dir or not a.batches or a.threads is None:
        ap.error("MODEL_DIR, BATCHES.jsonl and --threads are required")
    if a.train == (a.decode is not None):
        ap.error("give exactly one of --decode greedy|beam and --train")
    if a.train:
        r = run_train(a.model_dir, a.batches, a.threads, a.lr, a.label_smoothing, a.warmup,
                      a.repeat, a.optimizer)
    else:
        if a.max_new_tokens is None or a.max_new_tokens < 1:
            ap.error("--decode needs --max-new-tokens N >= 1")
        r = run_decode(a.model_dir, a.batches, a.threads, a.decode, a.beam, a.max_new_tokens,
                       a.min_new_tokens, a.no_repeat_ngram, a.length_penalty, a.warmup, a.repeat,
                       a.out_json)
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
