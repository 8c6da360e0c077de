#!/usr/bin/python3
"""Independent float64 reference for the `uie` student: UIE's span decoding, the UIE forward
(encoder + pointer layers) and zero-shot extraction, plus a maker of tiny random UIE checkpoints.

Run with Debian's /usr/bin/python3 (python3-torch, python3-numpy). The encoder's equations, the
safetensors reader/writer and the random weights come from bert_reference.py (imported); what is
UIE's is written here from PaddleNLP's description of UIE (model_zoo/uie: "UIE = ERNIE 3.0 +
linear_start / linear_end", Taskflow information_extraction, utils.get_span /
get_bool_ids_greater_than as documented) and the uie_pytorch conversion's tensor names.

Usage:
  uie_reference.py make OUT_DIR --vocab VOCAB_TXT [--hidden 32 --layers 2 --heads 4
      --intermediate 64 --max-position 64 --type-vocab 4] [--prefix encoder.|ernie.|bert.|""]
      [--pointers linear_start|start_linear|none] [--dtype F32|F16] [--ernie-task-types K]
      [--gamma-beta] [--seed S] [--std 0.2] [--pointer-std 0.5]
  uie_reference.py forward MODEL_DIR --ids IDS.json --out OUT_DIR
  uie_reference.py decode IN.json OUT.json
  uie_reference.py extract MODEL_DIR --input TEXTS.json --out OUT.json [--threshold 0.5]
      [--max-length N] [--window-overlap 64]
  uie_reference.py selftest

make
  A random UIE checkpoint as the uie_pytorch conversion lays it out: config.json (BERT keys,
  "architectures": ["UIE"], with --ernie-task-types K ERNIE 3.0's "use_task_id": true and
  "task_type_vocab_size": K but no model_type, as uie_pytorch writes it), vocab.txt (copied),
  model.safetensors with the encoder under --prefix (uie_pytorch: "encoder."; PaddleNLP's newer
  UIE: "ernie."; conversions to BertModel names: "bert.") and the pointer layers at the top
  level: linear_start.{weight [1,H], bias [1]} and linear_end.* (--pointers linear_start), or
  start_linear.* and end_linear.* (--pointers start_linear), or none (--pointers none: a plain
  encoder, which the student must refuse). --gamma-beta writes LayerNorm weights as .gamma /
  .beta (uie_pytorch's convert.py does). Encoder weights: bert_reference.random_weights (std
  --std); pointer weights ~ normal(0, --pointer-std), biases ~ normal(0, 0.5), so the
  probabilities spread over (0, 1) instead of sitting at 0.5.

forward
  IDS.json: {"input_ids": [[...]], "attention_mask": [[...]], "token_type_ids": [[...]]}.
  Computes in float64: h = BERT encoder (bert_reference.reference_forward, task type 0 for an
  ERNIE config), p_start = sigmoid(h . w_start + b_start), p_end likewise, and writes
  OUT_DIR/p_start.npy and p_end.npy ([B, L] float32) and OUT_DIR/probs.json (the float64
  values, {"p_start": [[...]], "p_end": [[...]]}).

decode
  IN.json: {"threshold": t, "rows": [{"start": [p...], "end": [p...]}, ...],
            "candidates": [[[begin, end, type, prob], ...], ...]}   (candidates optional)
  OUT.json: {"spans": [[[s, e, prob], ...] per row], "kept": [[[begin, end, type, prob], ...]
  per candidate list]}. Spans: positions with p > t (strictly) are starts / ends; each end
  takes the latest start that lies after the previous end and at or before it (PaddleNLP's
  get_span: every start and end used once, spans never overlap); prob = p_start[s] * p_end[e].
  Kept: the candidates sorted by falling prob (ties: earlier begin, shorter, lower type), each
  kept unless it shares a code point with one kept before; empty ones dropped; sorted by begin.

extract
  TEXTS.json: {"texts": [...], "types": [...], "prompts": {type: prompt}}. Zero-shot UIE with a
  character tokenizer (each character of a CJK text is one WordPiece token; every character must
  be in vocab.txt). A text is read in the prediction windows of token_windows.h's contract
  (width W = min(--max-length, max_position_embeddings) - longest prompt - 3, overlap
  min(--window-overlap, W // 2)); for each window and type, [CLS] prompt [SEP] window [SEP] with
  token types 0 / 1, float64 forward, decode over the window's tokens, keep a span whose start
  token the window owns, spans to character offsets, then the overlap rule above across types
  and windows. OUT.json: {"windows": [count per text], "entities":
  [[{"start", "end", "type", "text", "prob"}...] per text], "min_gap": smallest |p - t| of any
  text position of any window (how far a decision is from a threshold tie), "log_prob": [per
  text: the sum over types and owned text tokens of log p (p > t) or log(1 - p), start and
  end]}.

selftest
  The direct decoding rule against a two-pointer merge over the sorted start and end lists on
  random tables; the overlap rule against brute force over all subsets on small cases; that
  token type 1 on the text changes p_start (the embeddings are used); ERNIE task type rows.
"""

import argparse
import itertools
import json
import math
import os
import random
import shutil
import sys
import tempfile
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_reference as br  # noqa: E402

ENCODER_PREFIXES = ("", "bert.", "ernie.", "encoder.")
POINTER_NAMES = {"linear_start": ("linear_start", "linear_end"),
                 "start_linear": ("start_linear", "end_linear")}


# ---------------------------------------------------------------------------------------------
# make

def make(out_dir, vocab, hidden=32, layers=2, heads=4, intermediate=64, max_position=64,
         type_vocab=4, prefix="encoder.", pointers="linear_start", dtype="F32",
         ernie_task_types=None, gamma_beta=False, seed=0, std=0.2, pointer_std=0.5):
    with open(vocab, encoding="utf-8") as f:
        tokens = f.read().split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    os.makedirs(out_dir, exist_ok=True)
    w = br.random_weights(len(tokens), hidden, layers, heads, intermediate, max_position,
                          type_vocab, ernie_task_types, pooler=True, seed=seed, std=std)
    st = {}
    for name, t in w.items():
        if gamma_beta and "LayerNorm." in name:
            name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
                "LayerNorm.bias", "LayerNorm.beta")
        raw, _ = br.tensor_bytes(t, dtype)
        st[prefix + name] = (dtype, list(t.shape), raw)
    if pointers != "none":
        for name in POINTER_NAMES[pointers]:
            g = torch.Generator().manual_seed((seed * 7919 + zlib.crc32(name.encode())) % 2 ** 63)
            weight = torch.randn(1, hidden, generator=g) * pointer_std
            bias = torch.randn(1, generator=g) * 0.5
            for suffix, t in ((".weight", weight), (".bias", bias)):
                raw, _ = br.tensor_bytes(t, dtype)
                st[name + suffix] = (dtype, list(t.shape), raw)
    br.write_safetensors(os.path.join(out_dir, "model.safetensors"), st, {"format": "pt"})
    config = json.loads(br.hf_config(len(tokens), hidden, layers, heads, intermediate,
                                     max_position, type_vocab, "gelu", dtype, ernie_task_types,
                                     1e-12, std))
    config["architectures"] = ["UIE"]
    if ernie_task_types is not None:
        del config["model_type"]  # uie_pytorch's config.json has none: read as BERT
    with open(os.path.join(out_dir, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in tokens))


# ---------------------------------------------------------------------------------------------
# forward

def load(model_dir):
    """(config, encoder weights {unprefixed name: float64}, (w_start, b_start, w_end, b_end))."""
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    tensors, _, _ = br.read_safetensors(os.path.join(model_dir, "model.safetensors"))
    prefix = next((p for p in ENCODER_PREFIXES if p + "embeddings.word_embeddings.weight"
                   in tensors), None)
    if prefix is None:
        raise ValueError("%s: no encoder" % model_dir)
    w = {}
    for name, arr in tensors.items():
        if not name.startswith(prefix):
            continue
        key = name[len(prefix):].replace("LayerNorm.gamma", "LayerNorm.weight").replace(
            "LayerNorm.beta", "LayerNorm.bias")
        w[key] = torch.from_numpy(np.ascontiguousarray(arr)).to(torch.float64)
    pointers = None
    for start, end in POINTER_NAMES.values():
        if start + ".weight" in tensors:
            pointers = tuple(torch.from_numpy(np.ascontiguousarray(tensors[n])).to(torch.float64)
                             for n in (start + ".weight", start + ".bias", end + ".weight",
                                       end + ".bias"))
    if pointers is None:
        raise ValueError("%s: no pointer layers" % model_dir)
    return config, w, pointers


def uie_probs(config, w, pointers, ids, mask, token_types):
    """p_start, p_end [B, L] float64 of int64 ids / token types and a 0/1 mask [B, L]."""
    task = torch.zeros_like(ids) if config.get("use_task_id") else None
    h = br.reference_forward(config, w, ids, mask.to(torch.float64), token_types,
                             task)["last_hidden"]
    ws, bs, we, be = pointers
    p_start = torch.sigmoid(torch.matmul(h, ws[0]) + bs[0])
    p_end = torch.sigmoid(torch.matmul(h, we[0]) + be[0])
    return p_start, p_end


def run_forward(model_dir, ids_json, out_dir):
    config, w, pointers = load(model_dir)
    with open(ids_json, encoding="utf-8") as f:
        batch = json.load(f)
    ids = torch.tensor(batch["input_ids"], dtype=torch.int64)
    mask = torch.tensor(batch["attention_mask"], dtype=torch.int64)
    tt = torch.tensor(batch["token_type_ids"], dtype=torch.int64)
    with torch.no_grad():
        ps, pe = uie_probs(config, w, pointers, ids, mask, tt)
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "p_start.npy"), ps.to(torch.float32).numpy())
    np.save(os.path.join(out_dir, "p_end.npy"), pe.to(torch.float32).numpy())
    with open(os.path.join(out_dir, "probs.json"), "w") as f:
        json.dump({"p_start": ps.tolist(), "p_end": pe.tolist()}, f)


# ---------------------------------------------------------------------------------------------
# decode

def spans(p_start, p_end, threshold):
    """The direct rule: for each end e (in order), the latest start s with prev_end < s <= e."""
    starts = [i for i, p in enumerate(p_start) if p > threshold]
    ends = [i for i, p in enumerate(p_end) if p > threshold]
    out = []
    previous = -1
    for e in ends:
        chosen = [s for s in starts if previous < s <= e]
        if chosen:
            s = max(chosen)
            out.append((s, e, float(p_start[s]) * float(p_end[e])))
        previous = e
    return out


def spans_by_merge(p_start, p_end, threshold):
    """The same by a two-pointer walk over the sorted lists, as get_span is described: a start
    before the current end is remembered for it (a later one replaces it) and consumed; a start
    at the end is paired and both advance; a start after the end moves to the next end."""
    starts = [i for i, p in enumerate(p_start) if p > threshold]
    ends = [i for i, p in enumerate(p_end) if p > threshold]
    pairs = {}
    i = j = 0
    while i < len(starts) and j < len(ends):
        if starts[i] < ends[j]:
            pairs[ends[j]] = starts[i]
            i += 1
        elif starts[i] == ends[j]:
            pairs[ends[j]] = starts[i]
            i += 1
            j += 1
        else:
            j += 1
    return sorted((s, e, float(p_start[s]) * float(p_end[e])) for e, s in pairs.items())


def resolve(candidates):
    order = sorted((c for c in candidates if c[1] > c[0]),
                   key=lambda c: (-c[3], c[0], c[1] - c[0], c[2]))
    kept = []
    for c in order:
        if all(c[1] <= k[0] or k[1] <= c[0] for k in kept):
            kept.append(c)
    return sorted(kept)


def check_resolved(candidates):
    """The greedy rule's defining property, checked on its result: the kept candidates are
    disjoint, and every dropped non-empty one overlaps a kept one of higher priority."""
    kept = resolve(candidates)
    pri = sorted((c for c in candidates if c[1] > c[0]),
                 key=lambda c: (-c[3], c[0], c[1] - c[0], c[2]))
    rank = {}
    for i, c in enumerate(pri):
        rank.setdefault(c, i)
    for a, b in itertools.combinations(kept, 2):
        assert a[1] <= b[0] or b[1] <= a[0], (a, b)
    for c in pri:
        if c in kept:
            continue
        assert any(rank[k] < rank[c] and not (c[1] <= k[0] or k[1] <= c[0]) for k in kept) \
            or any(k == c for k in kept), (c, kept)
    return kept


def run_decode(in_json, out_json):
    with open(in_json, encoding="utf-8") as f:
        job = json.load(f)
    t = job["threshold"]
    out = {"spans": [[list(s) for s in spans(r["start"], r["end"], t)] for r in job["rows"]],
           "kept": [[list(c) for c in resolve([tuple(x) for x in cs])]
                    for cs in job.get("candidates", [])]}
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(out, f)


# ---------------------------------------------------------------------------------------------
# extract

def windows(n, width, overlap):
    """Prediction windows as token_windows.h's contract states them: stride s = width - overlap;
    window k reads [k s, min(k s + width, n)) for k = 0, 1, ... until one reaches n; it owns
    [k s + overlap // 2, (k + 1) s + overlap // 2), the first from 0 and the last to n.
    Returns [(begin, end, own_begin, own_end)]."""
    out = []
    s = width - overlap
    k = 0
    while n > 0:
        begin, end = k * s, min(k * s + width, n)
        out.append([begin, end, k * s + overlap // 2, (k + 1) * s + overlap // 2])
        if end == n:
            break
        k += 1
    if out:
        out[0][2] = 0
        out[-1][3] = n
    return [tuple(w) for w in out]


def run_extract(model_dir, texts_json, out_json, threshold, max_length=None, overlap=64):
    config, w, pointers = load(model_dir)
    with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
        vocab = {t: i for i, t in enumerate(f.read().split("\n"))}
    with open(texts_json, encoding="utf-8") as f:
        job = json.load(f)

    def ids_of(s):
        s = "".join(ch for ch in s if not ch.isspace())
        for ch in s:
            if ch not in vocab:
                raise ValueError("character %r is not in vocab.txt" % ch)
        return [vocab[ch] for ch in s]

    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    prompts = [ids_of(job["prompts"][t]) for t in job["types"]]
    limit = min(max_length or config["max_position_embeddings"],
                config["max_position_embeddings"])
    width = limit - max(len(p) for p in prompts) - 3
    overlap = min(overlap, width // 2)
    result = {"entities": [], "min_gap": 1.0, "log_prob": [], "windows": []}
    for text in job["texts"]:
        text_ids = ids_of(text)
        # The i-th token is the i-th non-space character; its index in the text:
        chars = [i for i, ch in enumerate(text) if not ch.isspace()]
        candidates = []
        log_prob = 0.0
        wins = windows(len(text_ids), width, overlap)
        result["windows"].append(len(wins))
        for begin, end, own_begin, own_end in wins:
            for k, prompt_ids in enumerate(prompts):
                ids = [cls] + prompt_ids + [sep] + text_ids[begin:end] + [sep]
                tt = [0] * (len(prompt_ids) + 2) + [1] * (end - begin + 1)
                with torch.no_grad():
                    ps, pe = uie_probs(config, w, pointers, torch.tensor([ids]),
                                       torch.ones(1, len(ids), dtype=torch.int64),
                                       torch.tensor([tt]))
                first = len(prompt_ids) + 2
                ps = ps[0, first:first + end - begin].tolist()
                pe = pe[0, first:first + end - begin].tolist()
                for j, (a, b) in enumerate(zip(ps, pe)):
                    result["min_gap"] = min(result["min_gap"], abs(a - threshold),
                                            abs(b - threshold))
                    if own_begin <= begin + j < own_end:
                        for p in (a, b):
                            log_prob += math.log(p) if p > threshold else math.log(1 - p)
                for s, e, prob in spans(ps, pe, threshold):
                    if own_begin <= begin + s < own_end:
                        candidates.append((chars[begin + s], chars[begin + e] + 1, k, prob))
        ents = []
        for b, e, k, prob in resolve(candidates):
            ents.append({"start": b, "end": e, "type": job["types"][k], "text": text[b:e],
                         "prob": prob})
        result["entities"].append(ents)
        result["log_prob"].append(log_prob)
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# selftest

def selftest():
    failures = []

    def check(what, ok):
        print("%s %s" % ("ok  " if ok else "FAIL", what))
        if not ok:
            failures.append(what)

    rng = random.Random(7)
    for trial in range(3000):
        n = rng.randint(0, 12)
        grid = [0.2, 0.5, 0.7, 0.9]
        ps = [rng.choice(grid) for _ in range(n)]
        pe = [rng.choice(grid) for _ in range(n)]
        a, b = spans(ps, pe, 0.5), spans_by_merge(ps, pe, 0.5)
        if a != b:
            check("direct rule == two-pointer merge (%s %s: %s vs %s)" % (ps, pe, a, b), False)
            break
    else:
        check("direct rule == two-pointer merge on 3000 random tables", True)
    check("a probability equal to the threshold is not a start",
          spans([0.5, 0.6], [0.6, 0.5], 0.5) == []
          and [(s, e) for s, e, _ in spans([0.5, 0.6], [0.5, 0.6], 0.4999)] == [(0, 0), (1, 1)])
    check("nested starts: the latest before the end wins",
          [(s, e) for s, e, _ in spans([0.9, 0.9, 0.1], [0.1, 0.1, 0.9], 0.5)] == [(1, 2)])
    check("an end consumes the wait: a start before it never pairs with a later end",
          [(s, e) for s, e, _ in spans([0.9, 0.1, 0.1], [0.1, 0.9, 0.9], 0.5)] == [(0, 1)])
    for trial in range(500):
        cands = []
        for _ in range(rng.randint(0, 7)):
            b = rng.randint(0, 8)
            cands.append((b, b + rng.randint(0, 4), rng.randint(0, 2), rng.choice([0.3, 0.5, 0.8])))
        check_resolved(cands)
    check("overlap rule: kept are disjoint, each dropped one loses to a kept one (500 cases)", True)

    tmp = tempfile.mkdtemp(prefix="uie_reference_selftest_")
    try:
        vocab = os.path.join(tmp, "vocab.txt")
        with open(vocab, "w", encoding="utf-8") as f:
            f.write("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] +
                              list("人物地点张伟在北京")) + "\n")
        for prefix, pointers, ernie in (("encoder.", "linear_start", 3), ("bert.", "start_linear",
                                                                          None)):
            d = os.path.join(tmp, prefix + pointers)
            make(d, vocab, prefix=prefix, pointers=pointers, ernie_task_types=ernie,
                 gamma_beta=prefix == "encoder.", seed=3)
            config, w, ptr = load(d)
            ids = torch.tensor([[2, 5, 6, 3, 9, 10, 11, 3]])
            mask = torch.ones_like(ids)
            t0 = torch.zeros_like(ids)
            t1 = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1]])
            a, _ = uie_probs(config, w, ptr, ids, mask, t0)
            b, _ = uie_probs(config, w, ptr, ids, mask, t1)
            check("%s%s: token type 1 changes p_start (%.3g)" % (prefix, pointers,
                                                                float((a - b).abs().max())),
                  float((a - b).abs().max()) > 1e-3)
            spread = float(a.std())
            check("  probabilities spread (std %.3f)" % spread, spread > 0.05)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print("FAILED: %d" % len(failures))
        return 1
    print("selftest passed")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("out_dir")
    m.add_argument("--vocab", required=True)
    m.add_argument("--hidden", type=int, default=32)
    m.add_argument("--layers", type=int, default=2)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--intermediate", type=int, default=64)
    m.add_argument("--max-position", type=int, default=64)
    m.add_argument("--type-vocab", type=int, default=4)
    m.add_argument("--prefix", default="encoder.", choices=ENCODER_PREFIXES)
    m.add_argument("--pointers", default="linear_start",
                   choices=["linear_start", "start_linear", "none"])
    m.add_argument("--dtype", default="F32", choices=["F32", "F16"])
    m.add_argument("--ernie-task-types", type=int, default=None)
    m.add_argument("--gamma-beta", action="store_true")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--std", type=float, default=0.2)
    m.add_argument("--pointer-std", type=float, default=0.5)
    f = sub.add_parser("forward")
    f.add_argument("model_dir")
    f.add_argument("--ids", required=True)
    f.add_argument("--out", required=True)
    d = sub.add_parser("decode")
    d.add_argument("in_json")
    d.add_argument("out_json")
    x = sub.add_parser("extract")
    x.add_argument("model_dir")
    x.add_argument("--input", required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--threshold", type=float, default=0.5)
    x.add_argument("--max-length", type=int, default=None)
    x.add_argument("--window-overlap", type=int, default=64)
    sub.add_parser("selftest")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.cmd == "make":
        make(a.out_dir, a.vocab, a.hidden, a.layers, a.heads, a.intermediate, a.max_position,
             a.type_vocab, a.prefix, a.pointers, a.dtype, a.ernie_task_types, a.gamma_beta,
             a.seed, a.std, a.pointer_std)
    elif a.cmd == "forward":
        run_forward(a.model_dir, a.ids, a.out)
    elif a.cmd == "decode":
        run_decode(a.in_json, a.out_json)
    elif a.cmd == "extract":
        run_extract(a.model_dir, a.input, a.out, a.threshold, a.max_length, a.window_overlap)
    else:
        return selftest()
    return 0


if __name__ == "__main__":
    sys.exit(main())
