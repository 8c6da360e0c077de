#!/usr/bin/python3
"""Independent float64 reference for BART and Pegasus encoder-decoders (forward and decoding), and
a maker of small random Hugging Face folders for them.

Written from the equations of Hugging Face transformers' modeling_bart.py / modeling_pegasus.py
(eager attention) and generation/logits_process.py, beam_search.py, not from weakdistill's C++.
Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-numpy); the safetensors writer and
reader are bert_reference.py's (written from the format's description).

Usage:
  seq2seq_reference.py make OUT_DIR --arch bart|pegasus [--vocab-size 40] [--d-model 32]
      [--encoder-layers 2] [--decoder-layers 2] [--heads 4] [--ffn 48] [--max-position 64]
      [--dtype F32|F16|BF16] [--seed 1] [--std 0.1] [--act gelu|gelu_new|relu|silu]
      [--normalize-before] [--scale-embedding | --no-scale-embedding] [--untied]
      [--prefix model.|""] [--no-final-logits-bias] [--store-positions]
      [--duplicate-embeddings] [--with-lm-head] [--forced-bos ID] [--decoder-start ID]
  seq2seq_reference.py forward MODEL_DIR --ids IDS.json --out OUT_DIR
  seq2seq_reference.py generate MODEL_DIR --ids IDS.json --max-new-tokens N
      [--min-new-tokens 0] [--no-repeat-ngram 0] [--beam 1] [--length-penalty 1.0]
      [--brute-force] --out OUT.json
  seq2seq_reference.py selftest

make
  OUT_DIR/vocab.txt: [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0..4), then CJK characters from U+4E00
  on (一, 丁, 丂, ...), then the first min(10, (N - 5) // 4) of a b c d e 0 1 2 3 4: N lines in
  all (N = --vocab-size >= 5; N = 40 gives 27 CJK characters at ids 5..31 and a..e 0 1 2).
  OUT_DIR/config.json as transformers' save_pretrained writes it (sort_keys, indent 2):
  model_type, architectures ["BartForConditionalGeneration"] / ["PegasusForConditionalGeneration"],
  vocab_size, d_model, encoder_layers, decoder_layers, encoder_attention_heads,
  decoder_attention_heads, encoder_ffn_dim, decoder_ffn_dim, activation_function,
  max_position_embeddings, scale_embedding, normalize_before (bart only), tie_word_embeddings,
  num_hidden_layers, token ids, dropout 0.1, attention_dropout 0, activation_dropout 0, init_std
  (= --std), is_encoder_decoder true, use_cache, torch_dtype, transformers_version.
    bart:    pad 0, bos 2 ([CLS]), eos 3 ([SEP]), decoder_start_token_id 3, forced_eos 3,
             forced_bos_token_id --forced-bos (default null); act gelu, scale_embedding false.
    pegasus: pad 0, bos null, eos 3, decoder_start_token_id 0, forced_eos 3, forced_bos
             --forced-bos (default null); act relu, scale_embedding true.
    --decoder-start ID overrides decoder_start_token_id.
  OUT_DIR/model.safetensors, Hugging Face's names under --prefix (default "model.", as
  BartForConditionalGeneration saves; "" as a bare BartModel/PegasusModel):
    {p}shared.weight [V, d]
    {p}encoder.embed_positions.weight, {p}decoder.embed_positions.weight
        bart: learned [max_position + 2, d] (rows 0 and 1 unused: BART's offset 2);
        pegasus: only with --store-positions (as older transformers saved it), the sinusoid
        [max_position, d] below, stored in --dtype
    {p}encoder.layernorm_embedding.{weight,bias}, decoder likewise (bart only)
    {p}encoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight [d,d], bias [d]},
        .self_attn_layer_norm.{weight,bias}, .fc1.{weight [ffn,d], bias}, .fc2.{weight [d,ffn],
        bias}, .final_layer_norm.{weight,bias}
    {p}decoder.layers.{i}.: the same plus .encoder_attn.{q,k,v,out}_proj.{weight,bias} and
        .encoder_attn_layer_norm.{weight,bias}
    {p}encoder.layer_norm, {p}decoder.layer_norm .{weight,bias} (pegasus; bart with
        --normalize-before, as mBART)
    final_logits_bias [1, V] (always top-level; omitted with --no-final-logits-bias: it is then 0)
    lm_head.weight [V, d] (always top-level): --untied (tie_word_embeddings false) a separate
        random matrix; --with-lm-head a copy of shared (tied)
    --duplicate-embeddings adds {p}encoder.embed_tokens.weight and {p}decoder.embed_tokens.weight
        equal to shared, as some checkpoints carry them.
  --normalize-before writes "normalize_before": true, a transformers 3.x BartConfig key (3.x
  pegasus configs carry it too); transformers 4.x's BartModel ignores it (the same layout is
  MBartForConditionalGeneration there), but this reference honours it as mBART's layout.
  Values: weights and biases ~ normal(0, std) (HF initialises biases to 0 and the pad row of the
  embedding to 0; random values here let a dropped bias or a zeroed row be caught), LayerNorm
  weight 1 + noise, bias noise, noise ~ normal(0, 0.1); final_logits_bias ~ normal(0, std). Each
  tensor has its own generator seeded from (--seed, its name without the prefix) as
  bert_reference.py does, so the model does not depend on --prefix or the optional tensors, and
  F16/BF16 are the F32 model rounded by torch's .half()/.bfloat16().

forward
  IDS.json: {"input_ids": [[...]], "attention_mask": [[...]] (optional: all ones),
             "decoder_input_ids": [[...]]}, rows padded to one length each (S and T).
  Reads config.json and model.safetensors (F16/BF16 -> float64 exactly; the prefix "model." or ""
  is found from the name of shared.weight, or encoder.embed_tokens.weight when shared is absent;
  the token embedding E is shared.weight (else encoder.embed_tokens.weight); a missing
  final_logits_bias is 0; missing pegasus positions are computed; a stored table is used as
  stored, as from_pretrained would load it), computes in float64 and writes float32 .npy:
  OUT_DIR/encoder_last.npy [B,S,d], decoder_last.npy [B,T,d] (after the final layer norm where
  there is one), logits.npy [B,T,V]; and info.json.
  Equations (modeling_bart.py / modeling_pegasus.py / modeling_mbart.py, eval mode):
    embed_scale = sqrt(d) if scale_embedding else 1;  x = E[ids] * embed_scale + pos[0..L-1]
    pos: BART the learned table read at row position + 2; Pegasus the sinusoid, for position p and
      i in 0..d/2-1: angle = p / 10000^(2i/d), column i = sin(angle), column d/2 + i = cos(angle)
      (PegasusSinusoidalPositionalEmbedding._init_weight: not interleaved). Decoder positions
      count from 0 at the decoder start token.
    BART (post-LN): x = layernorm_embedding(x); per encoder layer
      x = LN1(x + SelfAttn(x));  x = LN2(x + fc2(act(fc1(x))))
      per decoder layer x = LN1(x + CausalSelfAttn(x)); x = LN2(x + CrossAttn(x, enc));
      x = LN3(x + fc2(act(fc1(x)))). No final layer norm.
    Pre-LN (Pegasus; BART with normalize_before, as mBART): x = layernorm_embedding(x) for BART
      only (Pegasus has none); per layer x = x + SelfAttn(LN1(x)) (decoder: causal, then
      x = x + CrossAttn(LN2(x), enc)); x = x + fc2(act(fc1(LN(x)))); then
      encoder.layer_norm / decoder.layer_norm at the end.
    Attn(x, y): q = (x Wq^T + bq) * head_dim^-0.5, k = y Wk^T + bk, v = y Wv^T + bv, per head
      softmax(q k^T + mask) v, heads concatenated, then out_proj (W, b). Mask: encoder keys with
      attention_mask 0 get finfo(float64).min (encoder self-attention and cross-attention);
      decoder self-attention is causal (key j > query i gets -inf).
    LayerNorm eps 1e-5 (biased variance).  act: gelu = exact erf form; gelu_new = tanh form;
      relu; silu.
    logits = decoder_last E_out^T + final_logits_bias, E_out = lm_head.weight when
      tie_word_embeddings is false, else E (a stored lm_head.weight is then ignored, as HF ties).
  As in bert_reference.py, padded encoder positions are computed as queries too; their outputs
  are garbage: compare encoder_last only where attention_mask = 1. Decoder rows have no mask:
  padding at the end of decoder_input_ids does not change earlier positions (causal).

generate
  Per row of IDS.json (input_ids / attention_mask only), float64, the whole decoder recomputed at
  every step (no cache). N = --max-new-tokens >= 1, eos = eos_token_id.
  - seq = [decoder_start_token_id]; g = number of tokens generated so far (0).
  - Each step: s = log_softmax(logits at the last position) over V; then, in this order:
      no_repeat_ngram n > 0: tokens x such that (the last n-1 tokens of seq) + x is an n-gram
        already in seq (seq includes the start token) get -inf (NoRepeatNGramLogitsProcessor);
      g < min_new_tokens: eos gets -inf (MinNewTokensLengthLogitsProcessor);
      g == 0 and forced_bos_token_id not null: every token -inf except forced_bos, which is 0;
      g == N-1: every token -inf except eos, which is 0 (ForcedEOSTokenLogitsProcessor at
        max_length - 1 with max_length = N + 1 counting the start token; this overrides all the
        above, so every sequence ends by g = N).
    The token is appended and g += 1; a sequence ends when it takes eos. A forced token adds 0 to
    the sum (HF sums the processed scores too).
  - Greedy (--beam 1, no --brute-force): argmax of s (the lowest id on exact ties).
  - Beam K: live beams start as [([start], sum 0)]. Each step, every live beam x every token with
    finite s is a candidate with sum = beam sum + s[token]. Candidates taking eos become finished
    hypotheses with score = sum / g_len ** length_penalty, g_len = tokens generated including the
    eos (HF's generated_len; the start token is not counted); the K best finished (by score) are
    kept. The K best candidates not taking eos (by sum; ties: lower beam index, then lower token
    id) become the live beams. Stop when no live beam is left or g == N. No early-stopping
    heuristic (unlike HF's default early_stopping=False, which stops once no live beam can beat
    the worst finished one by its estimate; and unlike HF, every eos candidate is considered, not
    only those ranked in the top K of the 2K best). Result: the finished hypothesis with the best
    score (ties: the one found first).
  - --brute-force: every sequence the rules allow (finite sum) that ends in eos with g <= N; the
    best score (ties: the first in order of length, then beam order). Each level's prefixes go
    through the decoder in one batch. Equals beam K when K >= V^(N-1).
  Under these rules the beam search always runs N steps while V - 1 >= K (eos candidates never
  take a live slot), whereas HF's is_done can stop it earlier.
  Note: greedy is not the beam search above run with K = 1. That search also files the eos
  candidate of every step as a finished hypothesis while its one live beam follows the best
  non-eos token, so greedy's result is always among its finished hypotheses and its score is
  never below greedy's, but it can be above it, even with length_penalty 0: an eos that greedy
  passed over at step 1 (not the argmax) can have a better sum than where greedy ends. (HF runs
  greedy for num_beams = 1, and its beam search only files an eos ranked in the top K.) So an
  implementation's "--beam 1" must be greedy to match this reference.
  OUT.json: [{"tokens": [generated ids, including the final eos, not the start token],
              "sum_logprob": sum, "score": sum / len(tokens) ** length_penalty}, ...], one per
  row (greedy too). If a step leaves no token with a finite score (possible only with an
  aggressive --no-repeat-ngram on a tiny vocabulary) the command fails with exit status 2.

selftest
  A minute or less: folders for bart/pegasus, F32/F16/BF16, normalize_before, untied, prefix "",
  --store-positions, --duplicate-embeddings; checks the reader against the maker, the forward
  against a second implementation from torch.nn.functional (multi_head_attention_forward,
  F.layer_norm, F.embedding), the decoder fed one token at a time (recomputing everything) against
  the full causal pass, padded encoder inputs against unpadded ones, the sinusoid against
  hand-computed entries, F16/BF16 tensors against the F32 ones rounded, greedy against the CLI's
  --beam 1 and against the K = 1 search (never better), sums against a rescoring of the tokens in
  one decoder pass, and wide beam against brute force on a V = 8 model with N = 3 (with
  min_new_tokens, no_repeat_ngram, forced_bos and several length penalties).

How the C++ tests use it (as tests/support/bert_model.h does with bert_reference.py):
  /usr/bin/python3 tests/reference/seq2seq_reference.py make $TMP/m --arch pegasus --dtype BF16
  (write $TMP/ids.json)
  /usr/bin/python3 tests/reference/seq2seq_reference.py forward $TMP/m --ids $TMP/ids.json \
      --out $TMP/ref
  /usr/bin/python3 tests/reference/seq2seq_reference.py generate $TMP/m --ids $TMP/ids.json \
      --max-new-tokens 6 --beam 4 --out $TMP/gen.json
  The default --std 0.1 makes logits differ clearly between tokens (decoding is not decided by
  float32 rounding) and attention far from uniform; a float32 eager model against this reference
  differs by < 1e-6 in the logits (bench/seq2seq_eager.py --selftest).
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_reference import (_generator, activation, read_safetensors, tensor_bytes,  # noqa: E402
                            write_safetensors)

LN_EPS = 1e-5
LN_NOISE = 0.1
TORCH_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


class UsageError(Exception):
    """Bad input (exit status 2)."""


# ---------------------------------------------------------------------------------------------
# make: a random BART / Pegasus folder.


def generated_vocab(size):
    """[PAD] [UNK] [CLS] [SEP] [MASK], CJK from U+4E00 on, then the first min(10, (size-5)//4)
    of a b c d e 0 1 2 3 4."""
    if size < len(SPECIAL_TOKENS):
        raise UsageError("--vocab-size must be at least %d" % len(SPECIAL_TOKENS))
    rest = size - len(SPECIAL_TOKENS)
    ascii_tokens = list("abcde01234")[:min(10, rest // 4)]
    cjk = [chr(0x4E00 + i) for i in range(rest - len(ascii_tokens))]
    return SPECIAL_TOKENS + cjk + ascii_tokens


def sinusoid_table(n_pos, dim):
    """Pegasus' fixed positions [n_pos, dim] float64: column i < ceil(dim/2) is
    sin(p / 10000^(2i/dim)), column ceil(dim/2) + i is cos(p / 10000^(2i/dim))."""
    half_sin = (dim + 1) // 2
    half_cos = dim // 2
    p = torch.arange(n_pos, dtype=torch.float64)[:, None]
    out = torch.empty(n_pos, dim, dtype=torch.float64)
    i_sin = torch.arange(half_sin, dtype=torch.float64)
    i_cos = torch.arange(half_cos, dtype=torch.float64)
    out[:, :half_sin] = torch.sin(p / torch.pow(10000.0, 2.0 * i_sin / dim))
    out[:, half_sin:] = torch.cos(p / torch.pow(10000.0, 2.0 * i_cos / dim))
    return out


def token_ids(arch, forced_bos=None, decoder_start=None):
    if arch == "bart":
        ids = {"pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3,
               "decoder_start_token_id": 3, "forced_eos_token_id": 3}
    else:
        ids = {"pad_token_id": 0, "bos_token_id": None, "eos_token_id": 3,
               "decoder_start_token_id": 0, "forced_eos_token_id": 3}
    ids["forced_bos_token_id"] = forced_bos
    if decoder_start is not None:
        ids["decoder_start_token_id"] = decoder_start
    return ids


def hf_config(arch, vocab_size, d_model, encoder_layers, decoder_layers, heads, ffn,
              max_position, act, scale_embedding, normalize_before, tied, dtype, std,
              forced_bos=None, decoder_start=None):
    """config.json as PretrainedConfig.to_json_string writes it (sort_keys, indent 2)."""
    c = {
        "activation_dropout": 0.0,
        "activation_function": act,
        "architectures": ["BartForConditionalGeneration" if arch == "bart"
                          else "PegasusForConditionalGeneration"],
        "attention_dropout": 0.0,
        "d_model": d_model,
        "decoder_attention_heads": heads,
        "decoder_ffn_dim": ffn,
        "decoder_layerdrop": 0.0,
        "decoder_layers": decoder_layers,
        "dropout": 0.1,
        "encoder_attention_heads": heads,
        "encoder_ffn_dim": ffn,
        "encoder_layerdrop": 0.0,
        "encoder_layers": encoder_layers,
        "init_std": std,
        "is_encoder_decoder": True,
        "max_position_embeddings": max_position,
        "model_type": arch,
        "num_hidden_layers": encoder_layers,
        "scale_embedding": bool(scale_embedding),
        "tie_word_embeddings": bool(tied),
        "torch_dtype": TORCH_DTYPE_NAMES[dtype],
        "transformers_version": "4.40.0",
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if arch == "bart":
        c["normalize_before"] = bool(normalize_before)
        c["classifier_dropout"] = 0.0
    c.update(token_ids(arch, forced_bos, decoder_start))
    return json.dumps(c, indent=2, sort_keys=True) + "\n"


def weight_specs(arch, vocab_size, d_model, encoder_layers, decoder_layers, enc_ffn, dec_ffn,
                 max_position, normalize_before):
    """[(unprefixed name, shape, kind)] of the model proper (kind: w = normal(0, std),
    ln_w = 1 + noise, ln_b = noise), in HF module order."""
    specs = []

    def lin(name, out_f, in_f):
        specs.append((name + ".weight", [out_f, in_f], "w"))
        specs.append((name + ".bias", [out_f], "w"))

    def ln(name):
        specs.append((name + ".weight", [d_model], "ln_w"))
        specs.append((name + ".bias", [d_model], "ln_b"))

    def attn(name):
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            lin(name + "." + proj, d_model, d_model)

    specs.append(("shared.weight", [vocab_size, d_model], "w"))
    for side, layers in (("encoder", encoder_layers), ("decoder", decoder_layers)):
        if arch == "bart":
            specs.append((side + ".embed_positions.weight", [max_position + 2, d_model], "w"))
        for i in range(layers):
            p = "%s.layers.%d." % (side, i)
            attn(p + "self_attn")
            ln(p + "self_attn_layer_norm")
            if side == "decoder":
                attn(p + "encoder_attn")
                ln(p + "encoder_attn_layer_norm")
            f = enc_ffn if side == "encoder" else dec_ffn
            lin(p + "fc1", f, d_model)
            lin(p + "fc2", d_model, f)
            ln(p + "final_layer_norm")
        if arch == "bart":
            ln(side + ".layernorm_embedding")
        if arch == "pegasus" or normalize_before:
            ln(side + ".layer_norm")
    return specs


def random_tensor(seed, name, shape, kind, std):
    x = torch.randn(shape, generator=_generator(seed, name), dtype=torch.float32)
    if kind == "w":
        return x * std
    if kind == "ln_w":
        return 1.0 + x * LN_NOISE
    return x * LN_NOISE


def make_model(out_dir, arch="bart", vocab_size=40, d_model=32, encoder_layers=2,
               decoder_layers=2, heads=4, ffn=48, max_position=64, dtype="F32", seed=1, std=0.1,
               act=None, normalize_before=False, scale_embedding=None, untied=False,
               prefix="model.", final_logits_bias=True, store_positions=False,
               duplicate_embeddings=False, with_lm_head=False, forced_bos=None,
               decoder_start=None):
    """Writes the folder; returns {full tensor name: stored values as float64 tensor}."""
    if arch not in ("bart", "pegasus"):
        raise UsageError("--arch must be bart or pegasus")
    if prefix not in ("", "model."):
        raise UsageError("--prefix must be 'model.' or ''")
    if d_model % heads:
        raise UsageError("--d-model (%d) must be a multiple of --heads (%d)" % (d_model, heads))
    if normalize_before and arch != "bart":
        raise UsageError("--normalize-before is for bart (pegasus is always pre-LN)")
    if store_positions and arch != "pegasus":
        raise UsageError("--store-positions is for pegasus (bart's positions are always stored)")
    act = act or ("gelu" if arch == "bart" else "relu")
    if scale_embedding is None:
        scale_embedding = arch == "pegasus"
    tokens = generated_vocab(vocab_size)
    for name, v in (("--forced-bos", forced_bos), ("--decoder-start", decoder_start)):
        if v is not None and not 0 <= v < vocab_size:
            raise UsageError("%s %d is outside the vocabulary [0, %d)" % (name, v, vocab_size))
    os.makedirs(out_dir, exist_ok=True)

    values = {}  # full name -> float32 tensor (or float64 for the computed sinusoid)
    for name, shape, kind in weight_specs(arch, vocab_size, d_model, encoder_layers,
                                          decoder_layers, ffn, ffn, max_position,
                                          normalize_before):
        values[prefix + name] = random_tensor(seed, name, shape, kind, std)
    shared = values[prefix + "shared.weight"]
    if duplicate_embeddings:
        values[prefix + "encoder.embed_tokens.weight"] = shared.clone()
        values[prefix + "decoder.embed_tokens.weight"] = shared.clone()
    if store_positions:
        table = sinusoid_table(max_position, d_model)
        values[prefix + "encoder.embed_positions.weight"] = table.clone()
        values[prefix + "decoder.embed_positions.weight"] = table.clone()
    if final_logits_bias:
        values["final_logits_bias"] = random_tensor(seed, "final_logits_bias", [1, vocab_size],
                                                    "w", std)
    if untied:
        values["lm_head.weight"] = random_tensor(seed, "lm_head.weight", [vocab_size, d_model],
                                                 "w", std)
    elif with_lm_head:
        values["lm_head.weight"] = shared.clone()

    st, stored = {}, {}
    for name, t in values.items():
        raw, s = tensor_bytes(t, dtype)
        st[name] = (dtype, list(t.shape), raw)
        stored[name] = s.to(torch.float64)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), st, {"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        f.write(hf_config(arch, vocab_size, d_model, encoder_layers, decoder_layers, heads, ffn,
                          max_position, act, scale_embedding, normalize_before, not untied, dtype,
                          std, forced_bos, decoder_start))
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))
    return stored


# ---------------------------------------------------------------------------------------------
# The reader.


class Model:
    """A loaded encoder-decoder: config, float64 weights without prefix, and what was found."""

    def __init__(self, config, w, info):
        self.config = config
        self.w = w
        self.info = info
        c = config
        self.arch = c["model_type"]
        self.d = int(c["d_model"])
        self.V = int(c["vocab_size"])
        self.enc_heads = int(c["encoder_attention_heads"])
        self.dec_heads = int(c["decoder_attention_heads"])
        self.enc_layers = int(c["encoder_layers"])
        self.dec_layers = int(c["decoder_layers"])
        self.act = activation(c.get("activation_function", "gelu"))
        self.embed_scale = math.sqrt(self.d) if c.get("scale_embedding", False) else 1.0
        self.pre_ln = self.arch == "pegasus" or bool(c.get("normalize_before", False))
        self.eos = int(c["eos_token_id"])
        self.decoder_start = int(c["decoder_start_token_id"])
        fb = c.get("forced_bos_token_id")
        self.forced_bos = None if fb is None else int(fb)


def load_model(model_dir, dtype=torch.float64):
    """Reads MODEL_DIR/config.json and model.safetensors. Returns a Model whose weights are
    {unprefixed name: tensor in `dtype`}, with 'embed' (the token embedding), 'lm_head' (the output
    matrix), 'final_logits_bias' [1, V] and the positions ('encoder.positions' /
    'decoder.positions': rows indexed by position, BART's offset already applied) filled in."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    arch = config.get("model_type")
    if arch not in ("bart", "pegasus"):
        raise UsageError("%s: model_type %r is not bart or pegasus" % (model_dir, arch))
    for key in ("vocab_size", "d_model", "encoder_layers", "decoder_layers",
                "encoder_attention_heads", "decoder_attention_heads", "max_position_embeddings",
                "eos_token_id", "decoder_start_token_id"):
        if config.get(key) is None:
            raise UsageError("%s/config.json: no %s" % (model_dir, key))
    tensors, _, dtypes = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    prefix = None
    for anchor in ("shared.weight", "encoder.embed_tokens.weight"):
        for p in ("model.", ""):
            if p + anchor in tensors:
                prefix = p
                break
        if prefix is not None:
            break
    if prefix is None:
        raise UsageError("%s: no [model.]shared.weight or [model.]encoder.embed_tokens.weight"
                         % model_dir)
    w = {}
    for name, arr in tensors.items():
        if name in ("final_logits_bias", "lm_head.weight"):
            key = name
        elif name.startswith(prefix):
            key = name[len(prefix):]
        else:
            continue
        w[key] = torch.from_numpy(np.ascontiguousarray(arr)).to(dtype)
    V, d = int(config["vocab_size"]), int(config["d_model"])
    P = int(config["max_position_embeddings"])
    embed = w.get("shared.weight", w.get("encoder.embed_tokens.weight"))
    tied = bool(config.get("tie_word_embeddings", True))
    if not tied and "lm_head.weight" not in w:
        raise UsageError("%s: tie_word_embeddings is false but there is no lm_head.weight"
                         % model_dir)
    w["embed"] = embed
    w["lm_head"] = embed if tied else w["lm_head.weight"]
    if "final_logits_bias" not in w:
        w["final_logits_bias"] = torch.zeros(1, V, dtype=dtype)
    info = {"prefix": prefix, "model_type": arch, "dtypes": sorted(set(dtypes.values())),
            "tied": tied, "final_logits_bias_stored": "final_logits_bias" in tensors,
            "positions_stored": "encoder.embed_positions.weight" in w}
    for side in ("encoder", "decoder"):
        name = side + ".embed_positions.weight"
        if arch == "bart":
            if name not in w:
                raise UsageError("%s: no %s%s" % (model_dir, prefix, name))
            w[side + ".positions"] = w[name][2:]
        else:
            w[side + ".positions"] = w[name] if name in w else \
                sinusoid_table(P, d).to(dtype)
    m = Model(config, w, info)
    # Every tensor the equations need, with its shape.
    needed = weight_specs(arch, V, d, m.enc_layers, m.dec_layers,
                          int(config.get("encoder_ffn_dim", 4096)),
                          int(config.get("decoder_ffn_dim", 4096)), P,
                          m.pre_ln and arch == "bart")
    if arch == "pegasus" and info["positions_stored"]:
        needed += [(s + ".embed_positions.weight", [P, d], "") for s in ("encoder", "decoder")]
    for name, shape, _ in needed:
        if name == "shared.weight":
            continue
        if name not in w:
            raise UsageError("%s: missing tensor %s%s" % (model_dir, prefix, name))
        if list(w[name].shape) != shape:
            raise UsageError("%s: %s%s has shape %s, expected %s"
                             % (model_dir, prefix, name, list(w[name].shape), shape))
    if list(embed.shape) != [V, d] or list(w["lm_head"].shape) != [V, d]:
        raise UsageError("%s: embedding or lm_head shape is not [%d, %d]" % (model_dir, V, d))
    return m


# ---------------------------------------------------------------------------------------------
# forward: the float64 reference.


def layer_norm(x, w, b):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + LN_EPS) * w + b


def linear(x, w, b):
    return torch.matmul(x, w.transpose(0, 1)) + b


def attention(m, p, x, y, heads, add_mask):
    """Multi-head attention of queries x [B,T,d] over keys/values y [B,S,d]; add_mask broadcasts
    to [B,heads,T,S]. p: the module's name prefix ("encoder.layers.0.self_attn.")."""
    w = m.w
    B, T, d = x.shape
    S = y.shape[1]
    hd = d // heads

    def split(t, L):
        return t.reshape(B, L, heads, hd).permute(0, 2, 1, 3)  # [B,h,L,hd]

    q = split(linear(x, w[p + "q_proj.weight"], w[p + "q_proj.bias"]) * hd ** -0.5, T)
    k = split(linear(y, w[p + "k_proj.weight"], w[p + "k_proj.bias"]), S)
    v = split(linear(y, w[p + "v_proj.weight"], w[p + "v_proj.bias"]), S)
    scores = torch.matmul(q, k.transpose(-1, -2)) + add_mask
    probs = torch.softmax(scores, dim=-1)
    ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(B, T, d)
    return linear(ctx, w[p + "out_proj.weight"], w[p + "out_proj.bias"])


def ffn(m, p, x):
    w = m.w
    return linear(m.act(linear(x, w[p + "fc1.weight"], w[p + "fc1.bias"])),
                  w[p + "fc2.weight"], w[p + "fc2.bias"])


def ln(m, name, x):
    return layer_norm(x, m.w[name + ".weight"], m.w[name + ".bias"])


def embed(m, side, ids):
    L = ids.shape[1]
    table = m.w[side + ".positions"]
    if L > table.shape[0]:
        raise UsageError("%s length %d > max_position_embeddings %d" % (side, L, table.shape[0]))
    x = m.w["embed"][ids] * m.embed_scale + table[:L][None, :, :]
    if m.arch == "bart":
        x = ln(m, side + ".layernorm_embedding", x)
    return x


def key_mask(mask):
    """[B,S] 1/0 -> additive [B,1,1,S]: 0 or finfo(float64).min (HF's _prepare_4d_attention_mask)."""
    return (1.0 - mask.to(torch.float64))[:, None, None, :] * torch.finfo(torch.float64).min


def encode(m, ids, mask):
    """ids [B,S] int64, mask [B,S] -> encoder last hidden states [B,S,d]."""
    x = embed(m, "encoder", ids)
    am = key_mask(mask)
    for i in range(m.enc_layers):
        p = "encoder.layers.%d." % i
        if m.pre_ln:
            h = ln(m, p + "self_attn_layer_norm", x)
            x = x + attention(m, p + "self_attn.", h, h, m.enc_heads, am)
            x = x + ffn(m, p, ln(m, p + "final_layer_norm", x))
        else:
            x = ln(m, p + "self_attn_layer_norm", x + attention(m, p + "self_attn.", x, x,
                                                               m.enc_heads, am))
            x = ln(m, p + "final_layer_norm", x + ffn(m, p, x))
    if m.pre_ln:
        x = ln(m, "encoder.layer_norm", x)
    return x


def decode(m, dec_ids, enc, enc_mask):
    """dec_ids [B,T] (starting with the decoder start token), enc [B,S,d], enc_mask [B,S] ->
    decoder last hidden states [B,T,d] (after the final layer norm where there is one)."""
    T = dec_ids.shape[1]
    x = embed(m, "decoder", dec_ids)
    causal = torch.zeros(T, T, dtype=torch.float64)
    causal.masked_fill_(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    causal = causal[None, None]
    cm = key_mask(enc_mask)
    for i in range(m.dec_layers):
        p = "decoder.layers.%d." % i
        if m.pre_ln:
            h = ln(m, p + "self_attn_layer_norm", x)
            x = x + attention(m, p + "self_attn.", h, h, m.dec_heads, causal)
            x = x + attention(m, p + "encoder_attn.", ln(m, p + "encoder_attn_layer_norm", x),
                              enc, m.dec_heads, cm)
            x = x + ffn(m, p, ln(m, p + "final_layer_norm", x))
        else:
            x = ln(m, p + "self_attn_layer_norm",
                   x + attention(m, p + "self_attn.", x, x, m.dec_heads, causal))
            x = ln(m, p + "encoder_attn_layer_norm",
                   x + attention(m, p + "encoder_attn.", x, enc, m.dec_heads, cm))
            x = ln(m, p + "final_layer_norm", x + ffn(m, p, x))
    if m.pre_ln:
        x = ln(m, "decoder.layer_norm", x)
    return x


def lm_logits(m, h):
    return torch.matmul(h, m.w["lm_head"].transpose(0, 1)) + m.w["final_logits_bias"][0]


def _ids_tensor(rows, what, V):
    try:
        t = torch.tensor(rows, dtype=torch.int64)
    except (ValueError, TypeError) as e:
        raise UsageError("%s must be a list of equal-length rows of ints (%s)" % (what, e))
    if t.dim() != 2 or t.shape[1] == 0:
        raise UsageError("%s must be a non-empty list of equal-length rows" % what)
    if t.min() < 0 or t.max() >= V:
        raise UsageError("%s has ids outside [0, %d)" % (what, V))
    return t


def prepare_inputs(m, batch, decoder=True):
    """IDS.json dict -> (input_ids [B,S], mask [B,S] float64, decoder_input_ids [B,T] or None)."""
    if "input_ids" not in batch:
        raise UsageError("IDS.json has no input_ids")
    ids = _ids_tensor(batch["input_ids"], "input_ids", m.V)
    if batch.get("attention_mask") is not None:
        mask = torch.tensor(batch["attention_mask"], dtype=torch.float64)
        if mask.shape != ids.shape:
            raise UsageError("attention_mask has shape %s, input_ids %s"
                             % (list(mask.shape), list(ids.shape)))
    else:
        mask = torch.ones(ids.shape, dtype=torch.float64)
    dec = None
    if decoder:
        if batch.get("decoder_input_ids") is None:
            raise UsageError("IDS.json has no decoder_input_ids")
        dec = _ids_tensor(batch["decoder_input_ids"], "decoder_input_ids", m.V)
        if dec.shape[0] != ids.shape[0]:
            raise UsageError("decoder_input_ids has %d rows, input_ids %d"
                             % (dec.shape[0], ids.shape[0]))
    return ids, mask, dec


def forward(m, ids, mask, dec_ids):
    """Returns (encoder_last [B,S,d], decoder_last [B,T,d], logits [B,T,V]) in float64."""
    enc = encode(m, ids, mask)
    h = decode(m, dec_ids, enc, mask)
    return enc, h, lm_logits(m, h)


def run_forward(model_dir, ids_json, out_dir):
    m = load_model(model_dir)
    with open(ids_json, encoding="utf-8") as f:
        batch = json.load(f)
    ids, mask, dec = prepare_inputs(m, batch)
    with torch.no_grad():
        enc, h, logits = forward(m, ids, mask, dec)
    os.makedirs(out_dir, exist_ok=True)
    for name, t in (("encoder_last.npy", enc), ("decoder_last.npy", h), ("logits.npy", logits)):
        np.save(os.path.join(out_dir, name), t.to(torch.float32).numpy())
    info = dict(m.info)
    info.update({"batch": int(ids.shape[0]), "source_length": int(ids.shape[1]),
                 "target_length": int(dec.shape[1]), "d_model": m.d, "vocab_size": m.V,
                 "pre_layer_norm": m.pre_ln, "embed_scale": m.embed_scale})
    with open(os.path.join(out_dir, "info.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1, sort_keys=True)
    return enc, h, logits


# ---------------------------------------------------------------------------------------------
# generate.


class DecodeOptions:
    def __init__(self, max_new_tokens, min_new_tokens=0, no_repeat_ngram=0, beam=1,
                 length_penalty=1.0):
        if max_new_tokens < 1:
            raise UsageError("--max-new-tokens must be at least 1")
        if beam < 1:
            raise UsageError("--beam must be at least 1")
        if min_new_tokens < 0 or no_repeat_ngram < 0:
            raise UsageError("--min-new-tokens and --no-repeat-ngram must be >= 0")
        self.max_new_tokens = max_new_tokens
        self.min_new_tokens = min_new_tokens
        self.no_repeat_ngram = no_repeat_ngram
        self.beam = beam
        self.length_penalty = length_penalty


def apply_rules(m, opts, s, seq):
    """Applies the decoding rules in place to s [V], the log-probabilities of the token after
    `seq` (which starts with the decoder start token); returns s."""
    g = len(seq) - 1
    n = opts.no_repeat_ngram
    neg = float("-inf")
    if n > 0 and len(seq) >= n - 1:
        context = seq[len(seq) - (n - 1):] if n > 1 else []
        for j in range(len(seq) - n + 1):
            if seq[j:j + n - 1] == context:
                s[seq[j + n - 1]] = neg
    if g < opts.min_new_tokens:
        s[m.eos] = neg
    if g == 0 and m.forced_bos is not None:
        s[:] = neg
        s[m.forced_bos] = 0.0
    if g == opts.max_new_tokens - 1:
        s[:] = neg
        s[m.eos] = 0.0
    return s


def step_scores(m, opts, prefixes, enc, enc_mask):
    """prefixes: equal-length lists of ids, each starting with the decoder start token, all for
    one source row (enc [1,S,d], enc_mask [1,S]). Returns the processed log-probabilities [P, V]
    (float64) of the next token of each prefix."""
    P = len(prefixes)
    dec = torch.tensor(prefixes, dtype=torch.int64)
    h = decode(m, dec, enc.expand(P, -1, -1), enc_mask.expand(P, -1))
    s = torch.log_softmax(lm_logits(m, h[:, -1, :]), dim=-1)
    for r, seq in enumerate(prefixes):
        apply_rules(m, opts, s[r], list(seq))
    return s


def rescore(m, opts, tokens, enc, enc_mask):
    """The sum of processed log-probabilities of `tokens` (generated ids) after the decoder start,
    from ONE decoder pass over the whole sequence (logits of every position at once)."""
    seq = [m.decoder_start] + list(tokens)
    h = decode(m, torch.tensor([seq[:-1]], dtype=torch.int64), enc, enc_mask)
    s = torch.log_softmax(lm_logits(m, h[0]), dim=-1)
    total = 0.0
    for t in range(len(tokens)):
        total += float(apply_rules(m, opts, s[t].clone(), seq[:t + 1])[seq[t + 1]])
    return total


def _result(tokens, total, lp):
    return {"tokens": list(tokens), "sum_logprob": float(total),
            "score": float(total) / (len(tokens) ** lp)}


def greedy(m, opts, enc, enc_mask):
    seq = [m.decoder_start]
    total = 0.0
    while True:
        s = step_scores(m, opts, [seq], enc, enc_mask)[0]
        best = float(s.max())
        if best == float("-inf"):
            raise UsageError("no token is allowed at step %d (every score is -inf)"
                             % (len(seq) - 1))
        t = int(torch.nonzero(s == best)[0, 0])
        seq.append(t)
        total += best
        if t == m.eos:
            return _result(seq[1:], total, opts.length_penalty)


def beam_search(m, opts, enc, enc_mask):
    K, lp = opts.beam, opts.length_penalty
    live = [([m.decoder_start], 0.0)]
    finished = []  # (score, order, tokens, sum)
    order = 0
    g = 0
    while live and g < opts.max_new_tokens:
        s = step_scores(m, opts, [b[0] for b in live], enc, enc_mask)
        cands = []
        for bi, (seq, total) in enumerate(live):
            row = s[bi]
            for t in torch.nonzero(torch.isfinite(row))[:, 0].tolist():
                cand = total + float(row[t])
                if t == m.eos:
                    finished.append((cand / (g + 1) ** lp, order, seq[1:] + [t], cand))
                    order += 1
                else:
                    cands.append((-cand, bi, t, seq, cand))
        finished.sort(key=lambda f: (-f[0], f[1]))
        finished = finished[:K]
        cands.sort(key=lambda c: (c[0], c[1], c[2]))
        live = [(c[3] + [c[2]], c[4]) for c in cands[:K]]
        g += 1
    if not finished:
        raise UsageError("beam search finished no hypothesis")
    best = finished[0]
    return _result(best[2], best[3], lp)


def brute_force(m, opts, enc, enc_mask, limit=200000):
    lp = opts.length_penalty
    live = [([m.decoder_start], 0.0)]
    best = None
    g = 0
    while live and g < opts.max_new_tokens:
        if len(live) > limit:
            raise UsageError("--brute-force: more than %d prefixes at length %d" % (limit, g))
        nxt = []
        for lo in range(0, len(live), 4096):
            chunk = live[lo:lo + 4096]
            s = step_scores(m, opts, [b[0] for b in chunk], enc, enc_mask)
            for bi, (seq, total) in enumerate(chunk):
                row = s[bi]
                for t in torch.nonzero(torch.isfinite(row))[:, 0].tolist():
                    cand = total + float(row[t])
                    if t == m.eos:
                        score = cand / (g + 1) ** lp
                        if best is None or score > best[0]:
                            best = (score, seq[1:] + [t], cand)
                    else:
                        nxt.append((seq + [t], cand))
        live = nxt
        g += 1
    if best is None:
        raise UsageError("brute force found no sequence ending in eos")
    return _result(best[1], best[2], lp)


def generate_rows(m, ids, mask, opts, brute=False):
    """One result dict per row."""
    out = []
    with torch.no_grad():
        enc = encode(m, ids, mask)
        for b in range(ids.shape[0]):
            e, em = enc[b:b + 1], mask[b:b + 1]
            if brute:
                out.append(brute_force(m, opts, e, em))
            elif opts.beam == 1:
                out.append(greedy(m, opts, e, em))
            else:
                out.append(beam_search(m, opts, e, em))
    return out


def run_generate(model_dir, ids_json, out_json, opts, brute=False):
    m = load_model(model_dir)
    with open(ids_json, encoding="utf-8") as f:
        batch = json.load(f)
    ids, mask, _ = prepare_inputs(m, batch, decoder=False)
    res = generate_rows(m, ids, mask, opts, brute)
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(res, f)
        f.write("\n")
    return res


# ---------------------------------------------------------------------------------------------
# selftest: the reference against a second implementation and against itself.


def hf_numpy_sinusoid(n_pos, dim):
    """The table as the HF docstring describes it, built another way: angle[p, j] =
    p / 10000^(2 (j // 2) / dim); sin of the even columns first, then cos of the odd ones."""
    angle = np.array([[p / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)]
                      for p in range(n_pos)])
    return torch.from_numpy(np.concatenate([np.sin(angle[:, 0::2]), np.cos(angle[:, 1::2])],
                                           axis=1))


def functional_forward(m, ids, mask, dec):
    """The same model from torch.nn.functional: F.embedding, F.layer_norm,
    F.multi_head_attention_forward (separate q/k/v weights, key_padding_mask, a boolean causal
    attn_mask), F.linear, F.gelu/F.relu/F.silu. Returns (encoder_last, decoder_last, logits)."""
    w = m.w
    c = m.config
    d = m.d
    acts = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu,
            "gelu_new": lambda t: F.gelu(t, approximate="tanh")}
    act = acts[c.get("activation_function", "gelu")]

    def positions(side, L):
        if m.arch == "bart":
            return F.embedding(torch.arange(L) + 2, w[side + ".embed_positions.weight"])
        if side + ".embed_positions.weight" in w:
            return F.embedding(torch.arange(L), w[side + ".embed_positions.weight"])
        return hf_numpy_sinusoid(L, d)

    def lnorm(name, x):
        return F.layer_norm(x, (d,), w[name + ".weight"], w[name + ".bias"], LN_EPS)

    def mha(p, x, y, heads, key_padding_mask=None, attn_mask=None):
        out, _ = F.multi_head_attention_forward(
            x.transpose(0, 1), y.transpose(0, 1), y.transpose(0, 1), d, heads, None,
            torch.cat([w[p + n + "_proj.bias"] for n in ("q", "k", "v")]), None, None, False, 0.0,
            w[p + "out_proj.weight"], w[p + "out_proj.bias"], training=False,
            key_padding_mask=key_padding_mask, need_weights=False, attn_mask=attn_mask,
            use_separate_proj_weight=True, q_proj_weight=w[p + "q_proj.weight"],
            k_proj_weight=w[p + "k_proj.weight"], v_proj_weight=w[p + "v_proj.weight"])
        return out.transpose(0, 1)

    def mlp(p, x):
        return F.linear(act(F.linear(x, w[p + "fc1.weight"], w[p + "fc1.bias"])),
                        w[p + "fc2.weight"], w[p + "fc2.bias"])

    E = w["shared.weight"] if "shared.weight" in w else w["encoder.embed_tokens.weight"]
    pad = mask == 0
    x = F.embedding(ids, E) * m.embed_scale + positions("encoder", ids.shape[1])
    if m.arch == "bart":
        x = lnorm("encoder.layernorm_embedding", x)
    for i in range(m.enc_layers):
        p = "encoder.layers.%d." % i
        if m.pre_ln:
            h = lnorm(p + "self_attn_layer_norm", x)
            x = x + mha(p + "self_attn.", h, h, m.enc_heads, pad)
            x = x + mlp(p, lnorm(p + "final_layer_norm", x))
        else:
            x = lnorm(p + "self_attn_layer_norm", x + mha(p + "self_attn.", x, x, m.enc_heads, pad))
            x = lnorm(p + "final_layer_norm", x + mlp(p, x))
    enc = lnorm("encoder.layer_norm", x) if m.pre_ln else x

    T = dec.shape[1]
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)
    y = F.embedding(dec, E) * m.embed_scale + positions("decoder", T)
    if m.arch == "bart":
        y = lnorm("decoder.layernorm_embedding", y)
    for i in range(m.dec_layers):
        p = "decoder.layers.%d." % i
        if m.pre_ln:
            h = lnorm(p + "self_attn_layer_norm", y)
            y = y + mha(p + "self_attn.", h, h, m.dec_heads, attn_mask=future)
            y = y + mha(p + "encoder_attn.", lnorm(p + "encoder_attn_layer_norm", y), enc,
                        m.dec_heads, pad)
            y = y + mlp(p, lnorm(p + "final_layer_norm", y))
        else:
            y = lnorm(p + "self_attn_layer_norm",
                      y + mha(p + "self_attn.", y, y, m.dec_heads, attn_mask=future))
            y = lnorm(p + "encoder_attn_layer_norm",
                      y + mha(p + "encoder_attn.", y, enc, m.dec_heads, pad))
            y = lnorm(p + "final_layer_norm", y + mlp(p, y))
    if m.pre_ln:
        y = lnorm("decoder.layer_norm", y)
    out_w = w["lm_head.weight"] if not m.config.get("tie_word_embeddings", True) else E
    logits = F.linear(y, out_w) + w["final_logits_bias"][0]
    return enc, y, logits


def _maxdiff(a, b, sel=None):
    if sel is not None:
        a, b = a[sel], b[sel]
    return float((a - b).abs().max())


def random_batch(gen, V, lengths, T, lengths_dec=None):
    """A padded batch over ids 5..V-1 (source rows: content then eos 3, padded with 0)."""
    B, S = len(lengths), max(lengths)
    ids = torch.randint(5, V, (B, S), generator=gen)
    mask = torch.zeros(B, S, dtype=torch.int64)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        ids[b, n - 1] = 3
        ids[b, n:] = 0
    dec = torch.randint(5, V, (B, T), generator=gen)
    return {"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
            "decoder_input_ids": dec.tolist()}


def selftest():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    failures = []
    t_start = time.time()

    def check(what, value, tol, above=False):
        ok = value >= tol if above else value <= tol
        print("%s %-66s %.3g (%s %.0e)" % ("ok  " if ok else "FAIL", what, value,
                                          "min" if above else "tol", tol))
        if not ok:
            failures.append(what)

    tmp = tempfile.mkdtemp(prefix="seq2seq_reference_selftest_")
    try:
        # The vocabulary.
        v = generated_vocab(40)
        assert len(v) == 40 and v[:5] == SPECIAL_TOKENS and v[5] == "\u4e00" \
            and v[6] == "\u4e01" and v[-8:] == list("abcde012"), v
        check("vocab: 40 lines, 一 at 5, 丁 at 6, a..e 0 1 2 last", 0, 0)

        # The sinusoid against hand-computed entries and the HF-style numpy construction.
        d = 32
        tab = sinusoid_table(10, d)
        hand = [((1, 0), math.sin(1.0)), ((1, d // 2), math.cos(1.0)),
                ((3, 1), math.sin(3 / 10000 ** (2 / d))), ((3, d // 2 + 1), math.cos(3 / 10000 ** (2 / d))),
                ((7, d // 2 - 1), math.sin(7 / 10000 ** ((d - 2) / d))),
                ((7, d - 1), math.cos(7 / 10000 ** ((d - 2) / d))), ((0, 5), 0.0), ((0, d // 2 + 5), 1.0)]
        check("sinusoid: p=1 i=0 sin(1), cos(1) at d/2, and 6 more hand entries",
              max(abs(float(tab[p]) - x) for p, x in hand), 1e-15)
        check("sinusoid == HF-style numpy construction (d=32 and odd d=7)",
              max(_maxdiff(tab, hf_numpy_sinusoid(10, d)),
                  _maxdiff(sinusoid_table(10, 7), hf_numpy_sinusoid(10, 7))), 1e-12)

        # Folders: round trips, reader, forward against the functional implementation, the
        # incremental decoder, padding.
        cases = [
            ("bart F32", dict(arch="bart")),
            ("bart BF16 normalize_before prefix '' gelu_new no-bias",
             dict(arch="bart", dtype="BF16", normalize_before=True, prefix="", act="gelu_new",
                  final_logits_bias=False)),
            ("bart F16 untied dup-emb scale silu", dict(arch="bart", dtype="F16", untied=True,
                                                        duplicate_embeddings=True,
                                                        scale_embedding=True, act="silu")),
            ("pegasus F32", dict(arch="pegasus")),
            ("pegasus F32 store-positions prefix ''", dict(arch="pegasus", store_positions=True,
                                                           prefix="")),
            ("pegasus BF16 with-lm-head gelu", dict(arch="pegasus", dtype="BF16",
                                                    with_lm_head=True, act="gelu")),
            ("pegasus F16 untied", dict(arch="pegasus", dtype="F16", untied=True)),
        ]
        models = {}
        for name, kw in cases:
            dpath = os.path.join(tmp, name.split(" ")[0] + "_%d" % len(models))
            stored = make_model(dpath, vocab_size=40, d_model=32, encoder_layers=2,
                                decoder_layers=2, heads=4, ffn=48, max_position=24, seed=7, **kw)
            tensors, meta, dtypes = read_safetensors(os.path.join(dpath, "model.safetensors"))
            assert meta == {"format": "pt"} and set(tensors) == set(stored)
            worst = max(_maxdiff(torch.from_numpy(tensors[n]).double(), stored[n]) for n in stored)
            dt = kw.get("dtype", "F32")
            if dt != "F32":
                rd = torch.float16 if dt == "F16" else torch.bfloat16
                f32 = make_model(dpath + "_f32", vocab_size=40, d_model=32, encoder_layers=2,
                                 decoder_layers=2, heads=4, ffn=48, max_position=24, seed=7,
                                 **dict(kw, dtype="F32"))
                worst = max(worst, max(_maxdiff(stored[n], f32[n].float().to(rd).double())
                                       for n in stored))
                check("%s: tensors == the F32 folder's rounded by torch" % name, worst, 0)
            else:
                check("%s: safetensors round trip" % name, worst, 0)
            m = load_model(dpath)
            assert m.info["prefix"] == kw.get("prefix", "model."), m.info
            models[name] = m
            batch = random_batch(gen, 40, [9, 4, 7], 6)
            ids, mask, dec = prepare_inputs(m, batch)
            enc, h, logits = forward(m, ids, mask, dec)
            fe, fh, fl = functional_forward(m, ids, mask, dec)
            sel = mask.bool()
            check("  forward == functional: encoder (mask=1), decoder, logits",
                  max(_maxdiff(enc, fe, sel), _maxdiff(h, fh), _maxdiff(logits, fl)), 1e-11)
            # The decoder fed one token at a time, everything recomputed.
            inc = torch.stack([lm_logits(m, decode(m, dec[:, :t + 1], enc, mask))[:, -1]
                               for t in range(dec.shape[1])], dim=1)
            check("  decoder one token at a time == full causal pass", _maxdiff(inc, logits),
                  1e-12)
            # Each row alone, unpadded; and with extra padding.
            worst = 0.0
            for b in range(ids.shape[0]):
                n = int(mask[b].sum())
                _, _, lb = forward(m, ids[b:b + 1, :n], mask[b:b + 1, :n], dec[b:b + 1])
                worst = max(worst, _maxdiff(lb[0], logits[b]))
            ids_p = torch.cat([ids, torch.full((3, 4), 7, dtype=torch.int64)], dim=1)
            mask_p = torch.cat([mask, torch.zeros(3, 4, dtype=torch.float64)], dim=1)
            _, _, lp_ = forward(m, ids_p, mask_p, dec)
            worst = max(worst, _maxdiff(lp_, logits))
            check("  padded encoder input (masked) leaves logits unchanged", worst, 1e-12)
            # Logits differ clearly between tokens (std 0.1 is big enough for decoding tests).
            top2 = logits.topk(2, dim=-1).values
            check("  median top-1 minus top-2 logit gap", float((top2[..., 0] - top2[..., 1])
                                                                 .median()), 1e-3, above=True)

        # Invariances and sensitivities.
        base = models["pegasus F32"]
        batch = random_batch(gen, 40, [8, 5], 5)
        ref_out = forward(base, *prepare_inputs(base, batch))
        stp = models["pegasus F32 store-positions prefix ''"]
        check("pegasus: stored F32 positions == computed ones rounded to float32",
              _maxdiff(stp.w["encoder.positions"], sinusoid_table(24, 32).float().double()), 0)
        check("pegasus: stored-positions folder == computed-positions folder (logits)",
              _maxdiff(forward(stp, *prepare_inputs(stp, batch))[2], ref_out[2]), 1e-6)
        for label, kw in (("prefix ''", dict(prefix="")),
                          ("--duplicate-embeddings --with-lm-head", dict(duplicate_embeddings=True,
                                                                        with_lm_head=True))):
            dpath = os.path.join(tmp, "inv_" + label.replace(" ", "_").replace("'", ""))
            make_model(dpath, arch="pegasus", vocab_size=40, d_model=32, max_position=24, seed=7,
                       **kw)
            mm = load_model(dpath)
            check("pegasus %s: same logits" % label,
                  _maxdiff(forward(mm, *prepare_inputs(mm, batch))[2], ref_out[2]), 0)
        for label, kw, tol in (
                ("--no-final-logits-bias shifts logits by the bias", dict(final_logits_bias=False),
                 None),
                ("--untied changes logits", dict(untied=True), 1e-2),
                ("--no-scale-embedding changes logits", dict(scale_embedding=False), 1e-2),
                ("--act gelu changes logits", dict(act="gelu"), 1e-3)):
            dpath = os.path.join(tmp, "sens_%d" % len(label))
            make_model(dpath, arch="pegasus", vocab_size=40, d_model=32, max_position=24, seed=7,
                       **kw)
            mm = load_model(dpath)
            lg = forward(mm, *prepare_inputs(mm, batch))[2]
            if tol is None:
                check("pegasus " + label, _maxdiff(lg + base.w["final_logits_bias"][0],
                                                   ref_out[2]), 1e-12)
            else:
                check("pegasus " + label, _maxdiff(lg, ref_out[2]), tol, above=True)
        # A dropped bias shows: zero one q_proj bias and one fc2 bias.
        for bname in ("decoder.layers.1.self_attn.q_proj.bias", "encoder.layers.0.fc2.bias"):
            saved = base.w[bname].clone()
            base.w[bname].zero_()
            lg = forward(base, *prepare_inputs(base, batch))[2]
            base.w[bname].copy_(saved)
            check("zeroing %s changes logits" % bname, _maxdiff(lg, ref_out[2]), 1e-3, above=True)
        bart = models["bart F32"]
        bb = random_batch(gen, 40, [6], 4)
        r0 = forward(bart, *prepare_inputs(bart, bb))[2]
        saved = bart.w["decoder.positions"].clone()
        bart.w["decoder.positions"] = bart.w["decoder.embed_positions.weight"][:-2]  # no offset
        check("bart: reading positions without the offset 2 changes logits",
              _maxdiff(forward(bart, *prepare_inputs(bart, bb))[2], r0), 1e-2, above=True)
        bart.w["decoder.positions"] = saved

        # The decoding rules by hand.
        m = models["bart F32"]
        V = m.V
        o = DecodeOptions(max_new_tokens=6, no_repeat_ngram=2)
        s = apply_rules(m, o, torch.zeros(V, dtype=torch.float64), [3, 5, 6, 5])
        assert torch.isinf(s).nonzero()[:, 0].tolist() == [6], s
        o = DecodeOptions(max_new_tokens=6, no_repeat_ngram=3)
        s = apply_rules(m, o, torch.zeros(V, dtype=torch.float64), [3, 5, 6, 5])
        assert not torch.isinf(s).any()
        s = apply_rules(m, o, torch.zeros(V, dtype=torch.float64), [3, 5, 6, 5, 6])
        assert torch.isinf(s).nonzero()[:, 0].tolist() == [5], s
        o = DecodeOptions(max_new_tokens=6, no_repeat_ngram=1, min_new_tokens=4)
        s = apply_rules(m, o, torch.zeros(V, dtype=torch.float64), [3, 5, 9])
        assert torch.isinf(s).nonzero()[:, 0].tolist() == [3, 5, 9], s
        o = DecodeOptions(max_new_tokens=4, min_new_tokens=9)
        s = apply_rules(m, o, torch.zeros(V, dtype=torch.float64), [3, 5, 9, 7])
        assert torch.isfinite(s).nonzero()[:, 0].tolist() == [3] and float(s[3]) == 0, s
        check("rules by hand: no_repeat_ngram 1/2/3, min_new_tokens, forced eos", 0, 0)

        # Wide beam == brute force on V = 8, N = 3 (K = 64 = V^(N-1)); greedy == beam 1 at lp 0.
        for arch, fb in (("bart", None), ("pegasus", None), ("bart", 6)):
            dpath = os.path.join(tmp, "v8_%s_%s" % (arch, fb))
            make_model(dpath, arch=arch, vocab_size=8, d_model=16, encoder_layers=1,
                       decoder_layers=2, heads=2, ffn=24, max_position=16, seed=3, std=0.3,
                       forced_bos=fb)
            m = load_model(dpath)
            ids, mask, _ = prepare_inputs(m, random_batch(gen, 8, [6, 3], 1), decoder=False)
            with torch.no_grad():
                enc = encode(m, ids, mask)
            label = "%s%s" % (arch, "" if fb is None else " forced_bos %d" % fb)
            for kw in (dict(), dict(length_penalty=0.0), dict(length_penalty=2.0),
                       dict(min_new_tokens=2), dict(no_repeat_ngram=1),
                       dict(no_repeat_ngram=2, length_penalty=0.5),
                       dict(min_new_tokens=1, no_repeat_ngram=2, length_penalty=-0.5)):
                worst_tok, worst = 0, 0.0
                for b in range(ids.shape[0]):
                    e, em = enc[b:b + 1], mask[b:b + 1]
                    o = DecodeOptions(max_new_tokens=3, beam=64, **kw)
                    rb = beam_search(m, o, e, em)
                    rf = brute_force(m, o, e, em)
                    worst_tok += rb["tokens"] != rf["tokens"]
                    worst = max(worst, abs(rb["score"] - rf["score"]),
                                abs(rb["sum_logprob"] - rescore(m, o, rb["tokens"], e, em)))
                    assert rb["tokens"][-1] == m.eos and len(rb["tokens"]) <= 3
                    assert len(rb["tokens"]) > kw.get("min_new_tokens", 0) or \
                        len(rb["tokens"]) == 3
                    if fb is not None:
                        assert rb["tokens"][0] == fb, rb
                check("V=8 N=3 %s %s: beam 64 == brute force (+ rescored sum)"
                      % (label, json.dumps(kw)), worst + worst_tok, 1e-12)
            for kw in (dict(length_penalty=0.0, max_new_tokens=5),
                       dict(length_penalty=1.0, max_new_tokens=5, no_repeat_ngram=2,
                            min_new_tokens=2)):
                worst = 0.0
                for b in range(ids.shape[0]):
                    e, em = enc[b:b + 1], mask[b:b + 1]
                    g1 = greedy(m, DecodeOptions(**kw), e, em)
                    b1 = beam_search(m, DecodeOptions(beam=1, **kw), e, em)
                    # The K = 1 search files greedy's hypothesis too, so it is never worse.
                    worst = max(worst, g1["score"] - b1["score"],
                                abs(g1["sum_logprob"] - rescore(m, DecodeOptions(**kw),
                                                                g1["tokens"], e, em)))
                check("V=8 %s greedy <= K=1 search, sum == rescored %s"
                      % (label, json.dumps(kw)), worst, 1e-12)
        # A larger case: N = 4, K = 512.
        m = load_model(os.path.join(tmp, "v8_pegasus_None"))
        ids, mask, _ = prepare_inputs(m, random_batch(gen, 8, [5], 1), decoder=False)
        with torch.no_grad():
            enc = encode(m, ids, mask)
        o = DecodeOptions(max_new_tokens=4, beam=512, no_repeat_ngram=2)
        rb, rf = beam_search(m, o, enc, mask), brute_force(m, o, enc, mask)
        check("V=8 N=4 pegasus no_repeat 2: beam 512 == brute force",
              abs(rb["score"] - rf["score"]) + (rb["tokens"] != rf["tokens"]), 1e-12)

        # The CLI end to end.
        dpath = os.path.join(tmp, "cli")
        assert main(["make", dpath, "--arch", "bart", "--dtype", "BF16", "--prefix", "",
                     "--forced-bos", "5"]) == 0
        cfg = json.load(open(os.path.join(dpath, "config.json")))
        assert cfg["forced_bos_token_id"] == 5 and cfg["decoder_start_token_id"] == 3 \
            and cfg["architectures"] == ["BartForConditionalGeneration"] \
            and cfg["torch_dtype"] == "bfloat16" and cfg["bos_token_id"] == 2, cfg
        dp = os.path.join(tmp, "cli_peg")
        assert main(["make", dp, "--arch", "pegasus", "--decoder-start", "4"]) == 0
        cfg = json.load(open(os.path.join(dp, "config.json")))
        assert cfg["bos_token_id"] is None and cfg["decoder_start_token_id"] == 4 \
            and cfg["scale_embedding"] is True and cfg["activation_function"] == "relu" \
            and "normalize_before" not in cfg, cfg
        with open(os.path.join(tmp, "ids.json"), "w") as f:
            json.dump(random_batch(gen, 40, [7, 3], 5), f)
        assert main(["forward", dpath, "--ids", os.path.join(tmp, "ids.json"), "--out",
                     os.path.join(tmp, "out")]) == 0
        shapes = {n: np.load(os.path.join(tmp, "out", n)).shape
                  for n in ("encoder_last.npy", "decoder_last.npy", "logits.npy")}
        assert shapes == {"encoder_last.npy": (2, 7, 32), "decoder_last.npy": (2, 5, 32),
                          "logits.npy": (2, 5, 40)}, shapes
        assert main(["generate", dpath, "--ids", os.path.join(tmp, "ids.json"),
                     "--max-new-tokens", "4", "--beam", "3", "--length-penalty", "0.8",
                     "--out", os.path.join(tmp, "gen.json")]) == 0
        res = json.load(open(os.path.join(tmp, "gen.json")))
        assert len(res) == 2 and all(r["tokens"][0] == 5 and r["tokens"][-1] == 3 and
                                     abs(r["score"] - r["sum_logprob"] / len(r["tokens"]) ** 0.8)
                                     < 1e-12 for r in res), res
        assert main(["generate", dpath, "--ids", os.path.join(tmp, "ids.json"),
                     "--max-new-tokens", "4", "--beam", "1", "--out",
                     os.path.join(tmp, "greedy.json")]) == 0
        mc = load_model(dpath)
        ids, mask, _ = prepare_inputs(mc, json.load(open(os.path.join(tmp, "ids.json"))),
                                      decoder=False)
        with torch.no_grad():
            enc = encode(mc, ids, mask)
        assert json.load(open(os.path.join(tmp, "greedy.json"))) == \
            [greedy(mc, DecodeOptions(4), enc[b:b + 1], mask[b:b + 1]) for b in range(2)]
        with open(os.path.join(tmp, "bad.json"), "w") as f:
            json.dump({"input_ids": [[1, 99]], "decoder_input_ids": [[3]]}, f)
        rc = main(["forward", dpath, "--ids", os.path.join(tmp, "bad.json"), "--out",
                   os.path.join(tmp, "out2")])
        check("CLI make/forward/generate; an id outside the vocabulary exits 2", abs(rc - 2), 0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("     selftest took %.1f s" % (time.time() - t_start))
    if failures:
        print("FAILED: %d check(s): %s" % (len(failures), "; ".join(failures)))
        return 1
    print("selftest passed")
    return 0


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make", help="write a random BART or Pegasus as a Hugging Face folder")
    mk.add_argument("out_dir")
    mk.add_argument("--arch", choices=["bart", "pegasus"], required=True)
    mk.add_argument("--vocab-size", type=int, default=40)
    mk.add_argument("--d-model", type=int, default=32)
    mk.add_argument("--encoder-layers", type=int, default=2)
    mk.add_argument("--decoder-layers", type=int, default=2)
    mk.add_argument("--heads", type=int, default=4)
    mk.add_argument("--ffn", type=int, default=48)
    mk.add_argument("--max-position", type=int, default=64)
    mk.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32")
    mk.add_argument("--seed", type=int, default=1)
    mk.add_argument("--std", type=float, default=0.1)
    mk.add_argument("--act", choices=["gelu", "gelu_new", "relu", "silu"], default=None)
    mk.add_argument("--normalize-before", action="store_true")
    se = mk.add_mutually_exclusive_group()
    se.add_argument("--scale-embedding", dest="scale_embedding", action="store_true",
                    default=None)
    se.add_argument("--no-scale-embedding", dest="scale_embedding", action="store_false")
    mk.add_argument("--untied", action="store_true")
    mk.add_argument("--prefix", default="model.")
    mk.add_argument("--no-final-logits-bias", action="store_true")
    mk.add_argument("--store-positions", action="store_true")
    mk.add_argument("--duplicate-embeddings", action="store_true")
    mk.add_argument("--with-lm-head", action="store_true")
    mk.add_argument("--forced-bos", type=int, default=None, metavar="ID")
    mk.add_argument("--decoder-start", type=int, default=None, metavar="ID")
    fw = sub.add_parser("forward", help="float64 reference forward")
    fw.add_argument("model_dir")
    fw.add_argument("--ids", required=True)
    fw.add_argument("--out", required=True)
    gn = sub.add_parser("generate", help="float64 reference decoding")
    gn.add_argument("model_dir")
    gn.add_argument("--ids", required=True)
    gn.add_argument("--max-new-tokens", type=int, required=True)
    gn.add_argument("--min-new-tokens", type=int, default=0)
    gn.add_argument("--no-repeat-ngram", type=int, default=0)
    gn.add_argument("--beam", type=int, default=1)
    gn.add_argument("--length-penalty", type=float, default=1.0)
    gn.add_argument("--brute-force", action="store_true")
    gn.add_argument("--out", required=True)
    sub.add_parser("selftest", help="check the reference against itself and torch.nn.functional")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "make":
            make_model(a.out_dir, arch=a.arch, vocab_size=a.vocab_size, d_model=a.d_model,
                       encoder_layers=a.encoder_layers, decoder_layers=a.decoder_layers,
                       heads=a.heads, ffn=a.ffn, max_position=a.max_position, dtype=a.dtype,
                       seed=a.seed, std=a.std, act=a.act, normalize_before=a.normalize_before,
                       scale_embedding=a.scale_embedding, untied=a.untied, prefix=a.prefix,
                       final_logits_bias=not a.no_final_logits_bias,
                       store_positions=a.store_positions,
                       duplicate_embeddings=a.duplicate_embeddings, with_lm_head=a.with_lm_head,
                       forced_bos=a.forced_bos, decoder_start=a.decoder_start)
            return 0
        if a.cmd == "forward":
            run_forward(a.model_dir, a.ids, a.out)
            return 0
        if a.cmd == "generate":
            opts = DecodeOptions(a.max_new_tokens, a.min_new_tokens, a.no_repeat_ngram, a.beam,
                                 a.length_penalty)
            run_generate(a.model_dir, a.ids, a.out, opts, a.brute_force)
            return 0
    except (UsageError, ValueError, KeyError, OSError) as e:
        print("seq2seq_reference.py %s: %s" % (a.cmd, e), file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    return selftest()


if __name__ == "__main__":
    sys.exit(main())
