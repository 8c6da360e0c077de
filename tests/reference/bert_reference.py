#!/usr/bin/python3
"""Independent float64 reference for the native (libtorch) BERT encoder, and a maker of random
Hugging Face BERT folders for it to read.

Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-numpy); nothing else is needed:
the safetensors writer and reader below are written from the format's description
(https://huggingface.co/docs/safetensors), not taken from the `safetensors` package.

Usage:
  bert_reference.py make OUT_DIR (--vocab VOCAB_TXT | --vocab-size N) --hidden H --layers L
      --heads A --intermediate I [--max-position 128] [--type-vocab 2] [--dtype F32|F16|BF16]
      [--prefix ""|bert.|ernie.] [--ernie-task-types K] [--no-pooler] [--extra-head]
      [--position-ids-buffer] [--act gelu|relu|gelu_new] [--layer-norm-eps 1e-12]
      [--seed S] [--std 0.02] [--ln-noise 0.1]
  bert_reference.py forward MODEL_DIR --ids IDS.json --out OUT_DIR [--task-type-ids N]
  bert_reference.py selftest

make
  Writes OUT_DIR/config.json (as transformers' save_pretrained writes it for BertModel, or
  ErnieModel with --ernie-task-types K: model_type "ernie", "use_task_id": true,
  "task_type_vocab_size": K), OUT_DIR/vocab.txt (the file given, or [PAD] [UNK] [CLS] [SEP]
  [MASK] then generated tokens: ASCII letters and digits, punctuation, CJK characters, "##"
  pieces, tok<n>) and OUT_DIR/model.safetensors, with Hugging Face's tensor names under
  --prefix (BertModel/ErnieModel saved on their own have no prefix; BertForMaskedLM & co. use
  "bert.", ErnieFor* "ernie.").
  Weights ~ normal(0, std); Linear and embedding biases ~ normal(0, std) too (HF initialises them
  to zero, but a zero bias would let a C++ bug that drops it pass); LayerNorm weight = 1 + noise,
  bias = noise, noise ~ normal(0, ln_noise). Every tensor has its own generator seeded from
  (--seed, its name without the prefix), so a tensor's values do not depend on --prefix, the
  optional tensors or --dtype (except for the rounding): e.g. the same --seed with --prefix ""
  and --prefix bert. gives the same model, and F16 is the F32 model rounded to half.
  F16/BF16 store the values rounded by torch's .half()/.bfloat16() (round to nearest even).
  --extra-head adds the MLM/NSP head tensors real pre-training checkpoints carry
  (cls.predictions.bias, cls.predictions.transform.dense.weight/bias,
  cls.predictions.transform.LayerNorm.weight/bias, cls.seq_relationship.weight/bias), which an
  encoder must ignore; --position-ids-buffer adds {prefix}embeddings.position_ids (I64
  [1, max_position], 0..max_position-1), the buffer older transformers versions saved.

forward
  IDS.json: {"input_ids": [[...], ...], "attention_mask": [[...], ...],
             "token_type_ids": [[...], ...] (optional, default 0),
             "task_type_ids": [[...], ...] (optional, ERNIE only, default 0 as in HF)}
  with every row padded to one length L (attention_mask optional: all ones).
  --task-type-ids N sets every task type id to N (overrides the file).
  Reads MODEL_DIR/config.json and MODEL_DIR/model.safetensors with the reader below (F16/BF16 ->
  float32 exactly; the prefix "", "bert.", "ernie." or "roberta." is found from the word
  embeddings' name; old "LayerNorm.gamma/beta" names are accepted), then computes in float64
  with plain torch ops, from BERT's equations (HF modeling_bert.py, eager attention):
    h0 = LN(word[ids] + position[0..L-1] + token_type[tt] (+ task_type[task] for ERNIE))
    per layer: q, k, v = h W^T + b, split into A heads of d = H/A;
      scores = q k^T / sqrt(d) + (1 - mask[key]) * finfo(float64).min; softmax over keys;
      a = LN(h + (probs v) Wo^T + bo);  h' = LN(a + act(a Wi^T + bi) Wo2^T + bo2)
    LN(x) = (x - mean) / sqrt(var_biased + layer_norm_eps) * w + b   (eps from config.json)
    act: gelu = exact x/2 (1 + erf(x/sqrt 2)); gelu_new (= gelu_pytorch_tanh) = tanh form;
         relu; also silu/swish, gelu_fast, quick_gelu for configs that name them.
    pooled = tanh(Wp h[:, 0] + bp)  (if the checkpoint has a pooler)
    cls_normalized = h[:, 0] / ||h[:, 0]||_2  (BGE's CLS pooling)
  and writes, as float32 .npy: OUT_DIR/last_hidden.npy [B,L,H], pooled.npy [B,H] (with a
  pooler), cls_normalized.npy [B,H], hidden_states_{k}.npy [B,L,H] for k = 0 (embeddings) ..
  num_hidden_layers (k = num_hidden_layers is last_hidden), so a mismatch can be located; plus
  OUT_DIR/info.json (prefix, model_type, dtypes, shapes, pooler present).

  Attention mask semantics (as HF): a position with mask 0 is only excluded as a KEY (a large
  negative is added to its score before the softmax). Padded positions are still computed as
  queries and their outputs are garbage that depends on the implementation; comparisons must only
  look at positions where mask = 1 (and CLS is position 0, so pooled/cls_normalized are always
  meaningful provided mask[:, 0] = 1).

selftest
  Checks the reference itself on tiny random models (a few seconds): the safetensors round trip
  (F32 exact; F16/BF16 equal torch's rounding), that the float64 forward matches a second
  implementation built from torch.nn.functional (multi_head_attention_forward with a key padding
  mask, F.layer_norm, F.gelu, F.linear, F.embedding) to 1e-10 at mask = 1 positions, that each
  sequence run alone without padding gives the same values as inside the padded batch, a
  loop-over-positions attention for one layer, the activations against F.gelu/F.relu/F.silu,
  ERNIE task types, prefix invariance and the rejection of broken files.

How the C++ tests use it (one process per model; tests/CMakeLists.txt or a gtest that shells
out to /usr/bin/python3):
  /usr/bin/python3 tests/reference/bert_reference.py make $TMP/m --vocab-size 120 --hidden 64 \
      --layers 2 --heads 4 --intermediate 128 --seed 1 [--dtype F16 --prefix bert. ...]
  (write $TMP/ids.json with the C++ tokenizer's ids and mask)
  /usr/bin/python3 tests/reference/bert_reference.py forward $TMP/m --ids $TMP/ids.json --out $TMP/ref
  then compare the C++ encoder's outputs with $TMP/ref/*.npy at mask = 1 positions (float32
  C++ against float64 reference: ~1e-5 relative for tiny models; F16/BF16 checkpoints are
  converted to float32 on load on both sides, so the tolerance does not change).

  Choose --std for what a test must catch. With HF's std 0.02 the pre-activations and attention
  scores are tiny: exact gelu vs gelu_new then differ by only ~4e-6 in the last hidden state
  (invisible at 1e-4) and attention is close to uniform. With --std 0.3 the gelu variants differ
  by ~1e-3 and ignoring the mask by ~1e-1, while float32 vs this float64 reference stays ~5e-6
  (H=64, 2 layers). So a test meant to catch wrong activations or masking should use --std 0.1
  to 0.3 (the selftest uses 0.3), and keep 0.02 for a "realistic scale" run.
"""

import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time
import zlib

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# safetensors: writer and reader.

# dtype name -> (little-endian numpy dtype of the stored bytes, element size). F16 and BF16 are
# read as uint16 and converted by hand (numpy has no bfloat16).
_ST_DTYPES = {
    "BOOL": ("|b1", 1), "U8": ("|u1", 1), "I8": ("|i1", 1),
    "I16": ("<i2", 2), "U16": ("<u2", 2), "F16": ("<u2", 2), "BF16": ("<u2", 2),
    "I32": ("<i4", 4), "U32": ("<u4", 4), "F32": ("<f4", 4),
    "I64": ("<i8", 8), "U64": ("<u8", 8), "F64": ("<f8", 8),
}
_FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


def tensor_bytes(t, dtype):
    """Raw little-endian bytes of torch tensor `t` stored as safetensors `dtype`.

    F16/BF16: the value rounded by torch (.half() / .bfloat16()), its bits read through an int16
    view. Returns (bytes, the stored values as a float64 torch tensor or the int tensor)."""
    t = t.detach().cpu().contiguous()
    if dtype == "F32":
        s = t.to(torch.float32)
        raw = s.numpy().astype("<f4").tobytes()
    elif dtype == "F64":
        s = t.to(torch.float64)
        raw = s.numpy().astype("<f8").tobytes()
    elif dtype == "F16":
        s = t.to(torch.float32).half()
        raw = s.view(torch.int16).numpy().astype("<i2").tobytes()
    elif dtype == "BF16":
        s = t.to(torch.float32).bfloat16()
        raw = s.view(torch.int16).numpy().astype("<i2").tobytes()
    elif dtype == "I64":
        s = t.to(torch.int64)
        raw = s.numpy().astype("<i8").tobytes()
    elif dtype == "I32":
        s = t.to(torch.int32)
        raw = s.numpy().astype("<i4").tobytes()
    else:
        raise ValueError("tensor_bytes: unsupported dtype %s" % dtype)
    return raw, s


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype, shape, raw_bytes)}. Data in name order, contiguous; the JSON
    header (compact, "__metadata__" first) padded with spaces to a multiple of 8."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    names = sorted(tensors)
    for name in names:
        dtype, shape, raw = tensors[name]
        n = 1
        for d in shape:
            n *= d
        if len(raw) != n * _ST_DTYPES[dtype][1]:
            raise ValueError("%s: %d bytes for shape %s %s" % (name, len(raw), shape, dtype))
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    hj = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for name in names:
            f.write(tensors[name][2])
    os.replace(tmp, path)


def _f16_to_f32(u16):
    return u16.view("<f2").astype(np.float32)


def _bf16_to_f32(u16):
    return (u16.astype(np.uint32) << np.uint32(16)).view(np.float32)


def read_safetensors(path):
    """Reads a safetensors file: returns (tensors, metadata, dtypes) with tensors {name: numpy
    array}: F16/BF16/F32 -> float32 (exact), F64 -> float64, integers as they are. Validates
    the header length, offsets (exact size, inside the file, no overlap) and dtypes; raises
    ValueError naming the problem."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("%s: shorter than 8 bytes" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > 100 * 1000 * 1000 or 8 + n > len(blob):
        raise ValueError("%s: header length %d does not fit in %d bytes" % (path, n, len(blob)))
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("%s: header is not a JSON object" % path)
    data = memoryview(blob)[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    tensors, dtypes, spans = {}, {}, []
    for name, e in header.items():
        if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= set(e):
            raise ValueError("%s: bad entry for %s" % (path, name))
        dtype = e["dtype"]
        if dtype not in _ST_DTYPES:
            raise ValueError("%s: %s has unknown dtype %s" % (path, name, dtype))
        shape = [int(d) for d in e["shape"]]
        if any(d < 0 for d in shape):
            raise ValueError("%s: %s has a negative dimension" % (path, name))
        begin, end = (int(x) for x in e["data_offsets"])
        count = 1
        for d in shape:
            count *= d
        np_dtype, size = _ST_DTYPES[dtype]
        if end - begin != count * size or begin < 0:
            raise ValueError("%s: %s offsets [%d, %d) do not span %d x %d bytes"
                             % (path, name, begin, end, count, size))
        if end > len(data):
            raise ValueError("%s: %s runs past the end of the file (truncated?)" % (path, name))
        spans.append((begin, end, name))
        arr = np.frombuffer(data[begin:end], dtype=np_dtype).copy()
        if dtype == "F16":
            arr = _f16_to_f32(arr)
        elif dtype == "BF16":
            arr = _bf16_to_f32(arr)
        elif dtype == "F32":
            arr = arr.astype(np.float32)
        tensors[name] = arr.reshape(shape)
        dtypes[name] = dtype
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ValueError("%s: %s and %s overlap" % (path, n0, n1))
    return tensors, metadata, dtypes


# ---------------------------------------------------------------------------------------------
# make: a random BERT folder.

TORCH_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def hf_config(vocab_size, hidden, layers, heads, intermediate, max_position, type_vocab, act,
              dtype, ernie_task_types=None, layer_norm_eps=1e-12, std=0.02):
    """config.json as transformers' PretrainedConfig.to_json_string writes it (sort_keys,
    indent 2) for BertModel / ErnieModel (transformers 4.3x-4.4x keys)."""
    c = {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": act,
        "hidden_dropout_prob": 0.1,
        "hidden_size": hidden,
        "initializer_range": std,
        "intermediate_size": intermediate,
        "layer_norm_eps": layer_norm_eps,
        "max_position_embeddings": max_position,
        "model_type": "bert",
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "torch_dtype": TORCH_DTYPE_NAMES[dtype],
        "transformers_version": "4.40.0",
        "type_vocab_size": type_vocab,
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if ernie_task_types is not None:
        c["architectures"] = ["ErnieModel"]
        c["model_type"] = "ernie"
        c["use_task_id"] = True
        c["task_type_vocab_size"] = ernie_task_types
    return json.dumps(c, indent=2, sort_keys=True) + "\n"


SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def generated_vocab(size):
    if size < len(SPECIAL_TOKENS):
        raise ValueError("--vocab-size must be at least %d" % len(SPECIAL_TOKENS))
    pool = []
    pool += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pool += [str(d) for d in range(10)]
    pool += list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    pool += list("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年")
    pool += list("，。！？、；：“”（）《》")
    pool += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    pool += ["##" + s for s in ("ing", "ed", "s", "er", "ly", "的", "们")]
    pool += ["hello", "world", "bert", "model", "un", "##able", "##aff", "[unused1]"]
    out = list(SPECIAL_TOKENS)
    seen = set(out)
    for t in pool:
        if len(out) >= size:
            break
        if t not in seen:
            out.append(t)
            seen.add(t)
    i = 0
    while len(out) < size:
        t = "tok%d" % i
        i += 1
        if t not in seen:
            out.append(t)
            seen.add(t)
    return out


def _generator(seed, name):
    g = torch.Generator()
    g.manual_seed((int(seed) * 1000003 + zlib.crc32(name.encode("utf-8"))) % (2 ** 63))
    return g


def random_weights(vocab_size, hidden, layers, heads, intermediate, max_position, type_vocab,
                   ernie_task_types=None, pooler=True, extra_head=False, position_ids=False,
                   seed=0, std=0.02, ln_noise=0.1):
    """{unprefixed name: float32 tensor (or int64 for position_ids)} in HF module order."""
    if hidden % heads:
        raise ValueError("hidden (%d) must be a multiple of heads (%d)" % (hidden, heads))
    specs = []  # (name, shape, kind) kind: w = normal(0,std), ln_w = 1+noise, ln_b = noise

    def lin(name, out_f, in_f):
        specs.append((name + ".weight", [out_f, in_f], "w"))
        specs.append((name + ".bias", [out_f], "w"))

    def ln(name):
        specs.append((name + ".weight", [hidden], "ln_w"))
        specs.append((name + ".bias", [hidden], "ln_b"))

    specs.append(("embeddings.word_embeddings.weight", [vocab_size, hidden], "w"))
    specs.append(("embeddings.position_embeddings.weight", [max_position, hidden], "w"))
    specs.append(("embeddings.token_type_embeddings.weight", [type_vocab, hidden], "w"))
    if ernie_task_types is not None:
        specs.append(("embeddings.task_type_embeddings.weight", [ernie_task_types, hidden], "w"))
    ln("embeddings.LayerNorm")
    for i in range(layers):
        p = "encoder.layer.%d." % i
        lin(p + "attention.self.query", hidden, hidden)
        lin(p + "attention.self.key", hidden, hidden)
        lin(p + "attention.self.value", hidden, hidden)
        lin(p + "attention.output.dense", hidden, hidden)
        ln(p + "attention.output.LayerNorm")
        lin(p + "intermediate.dense", intermediate, hidden)
        lin(p + "output.dense", hidden, intermediate)
        ln(p + "output.LayerNorm")
    if pooler:
        lin("pooler.dense", hidden, hidden)
    out = {}
    for name, shape, kind in specs:
        g = _generator(seed, name)
        x = torch.randn(shape, generator=g, dtype=torch.float32)
        if kind == "w":
            x = x * std
        elif kind == "ln_w":
            x = 1.0 + x * ln_noise
        else:
            x = x * ln_noise
        out[name] = x
    if position_ids:
        out["embeddings.position_ids"] = torch.arange(max_position, dtype=torch.int64)[None, :]
    if extra_head:
        head = {}
        for name, shape, kind in [
                ("cls.predictions.bias", [vocab_size], "w"),
                ("cls.predictions.transform.dense.weight", [hidden, hidden], "w"),
                ("cls.predictions.transform.dense.bias", [hidden], "w"),
                ("cls.predictions.transform.LayerNorm.weight", [hidden], "ln_w"),
                ("cls.predictions.transform.LayerNorm.bias", [hidden], "ln_b"),
                ("cls.seq_relationship.weight", [2, hidden], "w"),
                ("cls.seq_relationship.bias", [2], "w")]:
            x = torch.randn(shape, generator=_generator(seed, name), dtype=torch.float32)
            head[name] = (1.0 + x * ln_noise) if kind == "ln_w" else \
                (x * ln_noise if kind == "ln_b" else x * std)
        out["__head__"] = head
    return out


def make_model(out_dir, vocab=None, vocab_size=None, hidden=64, layers=2, heads=4,
               intermediate=128, max_position=128, type_vocab=2, dtype="F32", prefix="",
               ernie_task_types=None, pooler=True, extra_head=False, position_ids=False,
               act="gelu", seed=0, std=0.02, ln_noise=0.1, layer_norm_eps=1e-12):
    """Writes the folder; returns {full tensor name: stored values as float64 tensor}."""
    if vocab is not None:
        with open(vocab, encoding="utf-8") as f:
            tokens = f.read().split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()
        vocab_size = len(tokens)
    else:
        tokens = generated_vocab(vocab_size)
    if prefix not in ("", "bert.", "ernie."):
        raise ValueError("--prefix must be '', 'bert.' or 'ernie.'")
    os.makedirs(out_dir, exist_ok=True)
    weights = random_weights(vocab_size, hidden, layers, heads, intermediate, max_position,
                             type_vocab, ernie_task_types, pooler, extra_head, position_ids,
                             seed, std, ln_noise)
    head = weights.pop("__head__", {})
    st, stored = {}, {}
    for name, t in list(weights.items()) + list(head.items()):
        full = name if name.startswith("cls.") else prefix + name
        tdtype = "I64" if t.dtype == torch.int64 else dtype
        raw, s = tensor_bytes(t, tdtype)
        st[full] = (tdtype, list(t.shape), raw)
        stored[full] = s.to(torch.float64) if s.is_floating_point() else s
    write_safetensors(os.path.join(out_dir, "model.safetensors"), st, {"format": "pt"})
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        f.write(hf_config(vocab_size, hidden, layers, heads, intermediate, max_position,
                          type_vocab, act, dtype, ernie_task_types, layer_norm_eps, std))
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))
    return stored


# ---------------------------------------------------------------------------------------------
# forward: the float64 reference.

PREFIXES = ("", "bert.", "ernie.", "roberta.")


def load_model(model_dir, dtype=torch.float64):
    """Returns (config dict, {unprefixed name: tensor in `dtype`}, info dict)."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    tensors, _, dtypes = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    prefix = None
    for p in PREFIXES:
        if p + "embeddings.word_embeddings.weight" in tensors:
            prefix = p
            break
    if prefix is None:
        raise ValueError("%s: no [bert.|ernie.]embeddings.word_embeddings.weight" % model_dir)
    w = {}
    for name, arr in tensors.items():
        if not name.startswith(prefix) or (prefix == "" and name.startswith("cls.")):
            continue
        key = name[len(prefix):]
        key = key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta",
                                                                         "LayerNorm.bias")
        t = torch.from_numpy(np.ascontiguousarray(arr))
        w[key] = t.to(dtype) if t.is_floating_point() else t
    info = {"prefix": prefix, "model_type": config.get("model_type"),
            "dtypes": sorted(set(dtypes.values())),
            "pooler": "pooler.dense.weight" in w}
    return config, w, info


def layer_norm(x, w, b, eps):
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def activation(name):
    name = name.lower() if isinstance(name, str) else name
    if name == "gelu":
        return lambda x: x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        c = math.sqrt(2.0 / math.pi)
        return lambda x: 0.5 * x * (1.0 + torch.tanh(c * (x + 0.044715 * x ** 3)))
    if name == "gelu_fast":
        return lambda x: 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))
    if name == "quick_gelu":
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "relu":
        return lambda x: torch.clamp(x, min=0)
    if name in ("silu", "swish"):
        return lambda x: x * torch.sigmoid(x)
    raise ValueError("unsupported hidden_act %r" % (name,))


def linear(x, w, b):
    return torch.matmul(x, w.transpose(0, 1)) + b


def prepare_inputs(config, batch, task_type_ids=None):
    """batch: the IDS.json dict. Returns int64 ids, float64 mask, token types, task types|None."""
    ids = torch.tensor(batch["input_ids"], dtype=torch.int64)
    if ids.dim() != 2:
        raise ValueError("input_ids must be a list of equal-length rows")
    mask = torch.tensor(batch["attention_mask"], dtype=torch.float64) \
        if batch.get("attention_mask") is not None else torch.ones(ids.shape, dtype=torch.float64)
    tt = torch.tensor(batch["token_type_ids"], dtype=torch.int64) \
        if batch.get("token_type_ids") is not None else torch.zeros_like(ids)
    task = None
    if config.get("use_task_id"):
        if task_type_ids is not None:
            task = torch.full_like(ids, int(task_type_ids))
        elif batch.get("task_type_ids") is not None:
            task = torch.tensor(batch["task_type_ids"], dtype=torch.int64)
        else:
            task = torch.zeros_like(ids)  # ErnieEmbeddings' default
    elif task_type_ids is not None or batch.get("task_type_ids") is not None:
        raise ValueError("task_type_ids given but config.json has no \"use_task_id\": true")
    for name, t in (("attention_mask", mask), ("token_type_ids", tt), ("task_type_ids", task)):
        if t is not None and t.shape != ids.shape:
            raise ValueError("%s has shape %s, input_ids %s" % (name, list(t.shape),
                                                                list(ids.shape)))
    V = config["vocab_size"]
    if ids.numel() and (ids.min() < 0 or ids.max() >= V):
        raise ValueError("input ids outside [0, %d)" % V)
    if ids.shape[1] > config["max_position_embeddings"]:
        raise ValueError("length %d > max_position_embeddings %d"
                         % (ids.shape[1], config["max_position_embeddings"]))
    return ids, mask, tt, task


def reference_forward(config, w, ids, mask, tt, task=None):
    """Float64 BERT forward. Returns dict with hidden_states (list of [B,L,H]), last_hidden,
    pooled (or None), cls_normalized."""
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only position_embedding_type absolute is supported")
    H = config["hidden_size"]
    A = config["num_attention_heads"]
    d = H // A
    eps = float(config.get("layer_norm_eps", 1e-12))
    act = activation(config.get("hidden_act", "gelu"))
    B, L = ids.shape
    dt = w["embeddings.word_embeddings.weight"].dtype
    mask = mask.to(dt)

    pos = torch.arange(L, dtype=torch.int64)
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][pos][None, :, :]
         + w["embeddings.token_type_embeddings.weight"][tt])
    if task is not None:
        x = x + w["embeddings.task_type_embeddings.weight"][task]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    hidden_states = [x]
    add_mask = (1.0 - mask)[:, None, None, :] * torch.finfo(dt).min  # [B,1,1,L] over keys

    for i in range(config["num_hidden_layers"]):
        p = "encoder.layer.%d." % i

        def heads(t):
            return t.reshape(B, L, A, d).permute(0, 2, 1, 3)  # [B,A,L,d]

        q = heads(linear(x, w[p + "attention.self.query.weight"], w[p + "attention.self.query.bias"]))
        k = heads(linear(x, w[p + "attention.self.key.weight"], w[p + "attention.self.key.bias"]))
        v = heads(linear(x, w[p + "attention.self.value.weight"], w[p + "attention.self.value.bias"]))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + add_mask
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(B, L, H)
        a = linear(ctx, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"])
        a = layer_norm(a + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        m = act(linear(a, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]))
        o = linear(m, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
        x = layer_norm(o + a, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        hidden_states.append(x)

    cls = x[:, 0, :]
    pooled = None
    if "pooler.dense.weight" in w:
        pooled = torch.tanh(linear(cls, w["pooler.dense.weight"], w["pooler.dense.bias"]))
    cls_normalized = cls / torch.sqrt((cls * cls).sum(dim=-1, keepdim=True))
    return {"hidden_states": hidden_states, "last_hidden": x, "pooled": pooled,
            "cls_normalized": cls_normalized}


def run_forward(model_dir, ids_json, out_dir, task_type_ids=None):
    config, w, info = load_model(model_dir)
    with open(ids_json, encoding="utf-8") as f:
        batch = json.load(f)
    ids, mask, tt, task = prepare_inputs(config, batch, task_type_ids)
    with torch.no_grad():
        r = reference_forward(config, w, ids, mask, tt, task)
    os.makedirs(out_dir, exist_ok=True)

    def save(name, t):
        np.save(os.path.join(out_dir, name), t.to(torch.float32).numpy())

    save("last_hidden.npy", r["last_hidden"])
    if r["pooled"] is not None:
        save("pooled.npy", r["pooled"])
    save("cls_normalized.npy", r["cls_normalized"])
    for k, h in enumerate(r["hidden_states"]):
        save("hidden_states_%d.npy" % k, h)
    info.update({"batch": int(ids.shape[0]), "length": int(ids.shape[1]),
                 "hidden_size": config["hidden_size"], "layers": config["num_hidden_layers"],
                 "task_type_ids": task is not None})
    with open(os.path.join(out_dir, "info.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1, sort_keys=True)
    return r


# ---------------------------------------------------------------------------------------------
# selftest: the reference against a second implementation.


def functional_forward(config, w, ids, mask, tt, task=None):
    """The same model built from torch.nn.functional blocks: F.embedding, F.layer_norm,
    F.multi_head_attention_forward (packed in-projection, key_padding_mask), F.linear, F.gelu."""
    H = config["hidden_size"]
    A = config["num_attention_heads"]
    eps = float(config.get("layer_norm_eps", 1e-12))
    name = config.get("hidden_act", "gelu")
    acts = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu, "swish": F.silu,
            "gelu_new": lambda t: F.gelu(t, approximate="tanh"),
            "gelu_pytorch_tanh": lambda t: F.gelu(t, approximate="tanh")}
    act = acts[name]
    B, L = ids.shape
    pos = torch.arange(L).expand(B, L)
    x = (F.embedding(ids, w["embeddings.word_embeddings.weight"])
         + F.embedding(pos, w["embeddings.position_embeddings.weight"])
         + F.embedding(tt, w["embeddings.token_type_embeddings.weight"]))
    if task is not None:
        x = x + F.embedding(task, w["embeddings.task_type_embeddings.weight"])
    x = F.layer_norm(x, (H,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    hs = [x]
    pad = mask == 0  # True = ignore this key
    for i in range(config["num_hidden_layers"]):
        p = "encoder.layer.%d.attention." % i
        in_w = torch.cat([w[p + "self.%s.weight" % n] for n in ("query", "key", "value")])
        in_b = torch.cat([w[p + "self.%s.bias" % n] for n in ("query", "key", "value")])
        xt = x.transpose(0, 1)  # [L,B,H]
        attn, _ = F.multi_head_attention_forward(
            xt, xt, xt, H, A, in_w, in_b, None, None, False, 0.0,
            w[p + "output.dense.weight"], w[p + "output.dense.bias"], training=False,
            key_padding_mask=pad, need_weights=False)
        a = F.layer_norm(attn.transpose(0, 1) + x, (H,), w[p + "output.LayerNorm.weight"],
                         w[p + "output.LayerNorm.bias"], eps)
        p = "encoder.layer.%d." % i
        m = act(F.linear(a, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]))
        x = F.layer_norm(F.linear(m, w[p + "output.dense.weight"], w[p + "output.dense.bias"]) + a,
                         (H,), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        hs.append(x)
    cls = x[:, 0]
    pooled = torch.tanh(F.linear(cls, w["pooler.dense.weight"], w["pooler.dense.bias"])) \
        if "pooler.dense.weight" in w else None
    return {"hidden_states": hs, "pooled": pooled, "cls_normalized": F.normalize(cls, dim=-1)}


def loop_attention(x, w, p, mask, A):
    """One layer's self-attention + output dense, one query/head at a time (no masking trick:
    keys with mask 0 are simply skipped)."""
    B, L, H = x.shape
    d = H // A
    q = linear(x, w[p + "attention.self.query.weight"], w[p + "attention.self.query.bias"])
    k = linear(x, w[p + "attention.self.key.weight"], w[p + "attention.self.key.bias"])
    v = linear(x, w[p + "attention.self.value.weight"], w[p + "attention.self.value.bias"])
    out = torch.zeros(B, L, H, dtype=x.dtype)
    for b in range(B):
        keys = [j for j in range(L) if mask[b, j] != 0]
        for i in range(L):
            for h in range(A):
                sl = slice(h * d, (h + 1) * d)
                s = [float((q[b, i, sl] * k[b, j, sl]).sum()) / math.sqrt(d) for j in keys]
                mx = max(s)
                e = [math.exp(t - mx) for t in s]
                z = sum(e)
                for j, ej in zip(keys, e):
                    out[b, i, sl] += ej / z * v[b, j, sl]
    return linear(out, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"])


def _maxdiff(a, b, mask=None):
    if mask is not None:
        sel = mask.bool()
        a, b = a[sel], b[sel]
    return float((a - b).abs().max())


def random_batch(gen, B, L, V, type_vocab=2, task_types=None, lengths=None):
    ids = torch.randint(5, V, (B, L), generator=gen)
    lengths = lengths or [int(torch.randint(2, L + 1, (1,), generator=gen)) for _ in range(B)]
    mask = torch.zeros(B, L, dtype=torch.int64)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        ids[b, 0] = 2
        ids[b, n - 1] = 3
        ids[b, n:] = 0
    tt = torch.randint(0, type_vocab, (B, L), generator=gen) * mask
    batch = {"input_ids": ids.tolist(), "attention_mask": mask.tolist(),
             "token_type_ids": tt.tolist()}
    if task_types:
        batch["task_type_ids"] = (torch.randint(0, task_types, (B, L), generator=gen) * mask).tolist()
    return batch


def selftest():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    failures = []

    def check(what, value, tol):
        ok = value <= tol
        print("%s %-62s %.3g (tol %.0e)" % ("ok  " if ok else "FAIL", what, value, tol))
        if not ok:
            failures.append(what)

    tmp = tempfile.mkdtemp(prefix="bert_reference_selftest_")
    try:
        # Activations.
        xs = torch.linspace(-6, 6, 1001, dtype=torch.float64)
        check("act gelu == F.gelu", _maxdiff(activation("gelu")(xs), F.gelu(xs)), 1e-14)
        check("act gelu_new == F.gelu(tanh)",
              _maxdiff(activation("gelu_new")(xs), F.gelu(xs, approximate="tanh")), 1e-14)
        check("act relu == F.relu", _maxdiff(activation("relu")(xs), F.relu(xs)), 0)
        check("act silu == F.silu", _maxdiff(activation("silu")(xs), F.silu(xs)), 1e-14)

        # Round trips.
        for dtype in ("F32", "F16", "BF16"):
            d = os.path.join(tmp, "rt_" + dtype)
            stored = make_model(d, vocab_size=50, hidden=16, layers=1, heads=2, intermediate=32,
                                max_position=20, dtype=dtype, prefix="bert.", extra_head=True,
                                position_ids=True, seed=3)
            tensors, meta, dtypes = read_safetensors(os.path.join(d, "model.safetensors"))
            assert meta == {"format": "pt"}, meta
            assert set(tensors) == set(stored), set(tensors) ^ set(stored)
            worst = max(_maxdiff(torch.from_numpy(tensors[n]).to(stored[n].dtype), stored[n])
                        for n in stored)
            check("safetensors round trip %s (read == torch-rounded)" % dtype, worst, 0)
            f32 = random_weights(50, 16, 1, 2, 32, 20, 2, seed=3)
            ref_dt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
            worst = max(_maxdiff(torch.from_numpy(tensors["bert." + n]).double(),
                                 f32[n].to(ref_dt).double()) for n in f32)
            check("  %s stored values == torch .to(%s) of the F32 model" % (dtype, ref_dt), worst, 0)
            with open(os.path.join(d, "model.safetensors"), "rb") as f:
                blob = f.read()
            (n,) = struct.unpack("<Q", blob[:8])
            assert n % 8 == 0, n
            hdr = json.loads(blob[8:8 + n])
            assert hdr["__metadata__"] == {"format": "pt"}
            assert hdr["bert.embeddings.position_ids"]["dtype"] == "I64"
            # F16 bits of 1.0 / BF16 bits of 1.0 at a known spot: LayerNorm weights are ~1.
        # A hand-made file with known bytes.
        p = os.path.join(tmp, "known.safetensors")
        write_safetensors(p, {"a": ("F16", [2], struct.pack("<2H", 0x3C00, 0xC000)),
                              "b": ("BF16", [2], struct.pack("<2H", 0x3F80, 0x4049)),
                              "c": ("F32", [1], struct.pack("<f", 0.5))}, {"format": "pt"})
        t, _, _ = read_safetensors(p)
        check("known bytes F16 [1,-2] BF16 [1,3.140625] F32 [0.5]",
              float(np.abs(np.concatenate([t["a"] - [1, -2], t["b"] - [1, 3.140625],
                                           t["c"] - [0.5]])).max()), 0)
        # Broken files are rejected.
        for label, mutate in (("truncated", lambda b: b[:-3]),
                              ("header too long", lambda b: struct.pack("<Q", 10 ** 6) + b[8:]),
                              ("short", lambda b: b[:5])):
            q = os.path.join(tmp, "bad.safetensors")
            with open(p, "rb") as f:
                blob = f.read()
            with open(q, "wb") as f:
                f.write(mutate(blob))
            try:
                read_safetensors(q)
                check("reader rejects %s file" % label, 1, 0)
            except ValueError:
                check("reader rejects %s file" % label, 0, 0)

        # Forward vs the functional implementation, several configurations.
        cases = [
            dict(name="bert gelu F32", prefix="", act="gelu", dtype="F32"),
            dict(name="bert. gelu_new BF16 no pooler", prefix="bert.", act="gelu_new",
                 dtype="BF16", pooler=False),
            dict(name="ernie. relu F16 task types", prefix="ernie.", act="relu", dtype="F16",
                 ernie_task_types=3),
        ]
        for c in cases:
            d = os.path.join(tmp, c["name"].replace(" ", "_"))
            make_model(d, vocab_size=60, hidden=32, layers=2, heads=4, intermediate=48,
                       max_position=24, type_vocab=2, dtype=c["dtype"], prefix=c["prefix"],
                       ernie_task_types=c.get("ernie_task_types"), pooler=c.get("pooler", True),
                       extra_head=True, act=c["act"], seed=7, std=0.3)
            config, w, info = load_model(d)
            assert info["prefix"] == c["prefix"], info
            batch = random_batch(gen, 4, 12, 60, 2, c.get("ernie_task_types"),
                                 lengths=[12, 5, 9, 1])
            ids, mask, tt, task = prepare_inputs(config, batch)
            r = reference_forward(config, w, ids, mask, tt, task)
            f = functional_forward(config, w, ids, mask, tt, task)
            m3 = mask[:, :, None].expand_as(r["last_hidden"])
            worst = max(_maxdiff(a, b, m3) for a, b in zip(r["hidden_states"], f["hidden_states"]))
            check("%s: forward == functional (all layers, mask=1)" % c["name"], worst, 1e-10)
            check("  cls_normalized", _maxdiff(r["cls_normalized"], f["cls_normalized"]), 1e-10)
            if r["pooled"] is not None:
                check("  pooled", _maxdiff(r["pooled"], f["pooled"]), 1e-10)
            else:
                assert f["pooled"] is None
            # The loop attention on layer 0.
            la = loop_attention(r["hidden_states"][0], w, "encoder.layer.0.", mask,
                                config["num_attention_heads"])
            a = layer_norm(la + r["hidden_states"][0],
                           w["encoder.layer.0.attention.output.LayerNorm.weight"],
                           w["encoder.layer.0.attention.output.LayerNorm.bias"],
                           config["layer_norm_eps"])
            act = activation(config["hidden_act"])
            mm = act(linear(a, w["encoder.layer.0.intermediate.dense.weight"],
                            w["encoder.layer.0.intermediate.dense.bias"]))
            h1 = layer_norm(linear(mm, w["encoder.layer.0.output.dense.weight"],
                                   w["encoder.layer.0.output.dense.bias"]) + a,
                            w["encoder.layer.0.output.LayerNorm.weight"],
                            w["encoder.layer.0.output.LayerNorm.bias"], config["layer_norm_eps"])
            check("  layer 0 with loop attention (every position)",
                  _maxdiff(h1, r["hidden_states"][1]), 1e-10)
            # Each sequence alone, unpadded.
            worst = 0.0
            for b in range(ids.shape[0]):
                n = int(mask[b].sum())
                rb = reference_forward(config, w, ids[b:b + 1, :n], mask[b:b + 1, :n],
                                       tt[b:b + 1, :n], None if task is None else task[b:b + 1, :n])
                worst = max(worst, _maxdiff(rb["last_hidden"][0], r["last_hidden"][b, :n]),
                            _maxdiff(rb["cls_normalized"][0], r["cls_normalized"][b]))
            check("  unpadded single sequences == padded batch", worst, 1e-12)
            # Attention is not trivially uniform (std 0.3): outputs differ from mean pooling.
            spread = float(r["last_hidden"][0].std(dim=0).mean())
            check("  hidden states vary across positions (1/spread)", 1.0 / spread, 100)

        # ERNIE: task types matter, default is 0, --task-type-ids N fills.
        d = os.path.join(tmp, "ernie._relu_F16_task_types")
        config, w, _ = load_model(d)
        batch = random_batch(gen, 2, 6, 60, 2, None, lengths=[6, 4])
        ids, mask, tt, task0 = prepare_inputs(config, batch)
        assert task0 is not None and int(task0.abs().sum()) == 0
        _, _, _, task2 = prepare_inputs(config, batch, task_type_ids=2)
        assert int((task2 != 2).sum()) == 0
        r0 = reference_forward(config, w, ids, mask, tt, task0)
        r2 = reference_forward(config, w, ids, mask, tt, task2)
        check("ernie: task type 2 changes the output (1/diff)",
              1.0 / _maxdiff(r0["last_hidden"], r2["last_hidden"]), 1e3)

        # Prefix invariance: same seed, different prefix and extra tensors -> same outputs.
        outs = []
        for prefix, extra in (("", False), ("bert.", True)):
            d = os.path.join(tmp, "prefix_" + (prefix or "none"))
            make_model(d, vocab_size=40, hidden=16, layers=1, heads=2, intermediate=24,
                       max_position=10, prefix=prefix, extra_head=extra, position_ids=extra,
                       seed=11)
            config, w, _ = load_model(d)
            b = random_batch(torch.Generator().manual_seed(5), 2, 7, 40, lengths=[7, 3])
            outs.append(reference_forward(config, w, *prepare_inputs(config, b)))
        check("prefix/extra tensors do not change the model",
              _maxdiff(outs[0]["last_hidden"], outs[1]["last_hidden"]), 0)

        # The CLI end to end (forward writes the files, with the expected shapes).
        d = os.path.join(tmp, "cli")
        make_model(d, vocab_size=70, hidden=64, layers=2, heads=4, intermediate=128, seed=1)
        with open(os.path.join(tmp, "ids.json"), "w") as f:
            json.dump(random_batch(gen, 4, 16, 70, lengths=[16, 10, 7, 3]), f)
        t0 = time.time()
        run_forward(d, os.path.join(tmp, "ids.json"), os.path.join(tmp, "out"))
        dt = time.time() - t0
        shapes = {n: np.load(os.path.join(tmp, "out", n)).shape
                  for n in ("last_hidden.npy", "pooled.npy", "cls_normalized.npy",
                            "hidden_states_0.npy", "hidden_states_2.npy")}
        assert shapes["last_hidden.npy"] == (4, 16, 64), shapes
        assert shapes["pooled.npy"] == shapes["cls_normalized.npy"] == (4, 64), shapes
        assert np.array_equal(np.load(os.path.join(tmp, "out", "hidden_states_2.npy")),
                              np.load(os.path.join(tmp, "out", "last_hidden.npy")))
        print("     forward (H=64, 2 layers, 4x16) in-process: %.3f s" % dt)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("FAILED: %d check(s): %s" % (len(failures), "; ".join(failures)))
        return 1
    print("selftest passed")
    return 0


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="write a random BERT as a Hugging Face folder")
    m.add_argument("out_dir")
    g = m.add_mutually_exclusive_group(required=True)
    g.add_argument("--vocab", help="vocab.txt to copy (its line count is vocab_size)")
    g.add_argument("--vocab-size", type=int)
    m.add_argument("--hidden", type=int, required=True)
    m.add_argument("--layers", type=int, required=True)
    m.add_argument("--heads", type=int, required=True)
    m.add_argument("--intermediate", type=int, required=True)
    m.add_argument("--max-position", type=int, default=128)
    m.add_argument("--type-vocab", type=int, default=2)
    m.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32")
    m.add_argument("--prefix", choices=["", "bert.", "ernie."], default="")
    m.add_argument("--ernie-task-types", type=int, default=None, metavar="K")
    m.add_argument("--no-pooler", action="store_true")
    m.add_argument("--extra-head", action="store_true")
    m.add_argument("--position-ids-buffer", action="store_true")
    m.add_argument("--act", choices=["gelu", "relu", "gelu_new"], default="gelu")
    m.add_argument("--layer-norm-eps", type=float, default=1e-12)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--std", type=float, default=0.02)
    m.add_argument("--ln-noise", type=float, default=0.1)
    fw = sub.add_parser("forward", help="float64 reference forward")
    fw.add_argument("model_dir")
    fw.add_argument("--ids", required=True)
    fw.add_argument("--out", required=True)
    fw.add_argument("--task-type-ids", type=int, default=None, metavar="N")
    sub.add_parser("selftest", help="check the reference against torch.nn.functional")
    a = ap.parse_args(argv)
    if a.cmd == "make":
        make_model(a.out_dir, vocab=a.vocab, vocab_size=a.vocab_size, hidden=a.hidden,
                   layers=a.layers, heads=a.heads, intermediate=a.intermediate,
                   max_position=a.max_position, type_vocab=a.type_vocab, dtype=a.dtype,
                   prefix=a.prefix, ernie_task_types=a.ernie_task_types, pooler=not a.no_pooler,
                   extra_head=a.extra_head, position_ids=a.position_ids_buffer, act=a.act,
                   seed=a.seed, std=a.std, ln_noise=a.ln_noise, layer_norm_eps=a.layer_norm_eps)
        return 0
    if a.cmd == "forward":
        run_forward(a.model_dir, a.ids, a.out, a.task_type_ids)
        return 0
    torch.set_num_threads(1)
    return selftest()


if __name__ == "__main__":
    sys.exit(main())
