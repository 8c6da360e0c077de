#!/usr/bin/python3
"""Independent checker of `weakdistill export MODEL_DIR --format hf OUT_DIR` folders (a fine-tuned
student as a Hugging Face transformers folder), recomputing its predictions in float64.

Debian's /usr/bin/python3 (python3-torch, python3-numpy). The encoder forward and safetensors
reader are bert_reference.py's, the tokenizer bert_tokenizer_reference.py's; expected tensor names
are transformers' module trees, written here, not read from our writer:
  BertForSequenceClassification = "bert." + BertModel (with pooler) + classifier.{weight [C,H],bias}
  BertForTokenClassification    = "bert." + BertModel(add_pooling_layer=False) + classifier
  ErnieFor*: the same under "ernie.", plus ernie.embeddings.task_type_embeddings.weight
  [task_type_vocab_size (default 3), H] when config.json has "use_task_id": true;
  token classification adds the CRF in pytorch-crf's names: crf.transitions [C,C] ([i][j]: tag i
  then tag j), crf.start_transitions [C], crf.end_transitions [C] (learned values, finite).
A pooler in a token-classification folder is tolerated (transformers ignores it) and noted.

Usage:
  hf_export_reference.py check EXPORT_DIR --input INPUT.jsonl --pred PRED.jsonl [--tol 1e-4]
  hf_export_reference.py selftest

check: validates config.json (architectures; id2label {"0".."C-1": name} and label2id its inverse;
token classification: "O" = 0, then B-X/I-X pairs), model.safetensors (metadata {"format": "pt"},
F32, finite, every expected name and shape, nothing else), vocab.txt, tokenizer_config.json
(BertTokenizer, do_lower_case, strip_accents, tokenize_chinese_chars, model_max_length M <=
max_position_embeddings), special_tokens_map.json, README.md. Then for each INPUT line {"id"?,
"text"} it recomputes the prediction and compares it with the same PRED line (weakdistill predict):
  tokens by BertTokenizer with tokenizer_config.json's options; token type 0, ERNIE task type 0;
  h = BERT(ids) (bert_reference.reference_forward, float64, one unpadded sequence at a time)
  sequence classification: ids = [CLS] + wordpieces[:M-2] + [SEP];
    p = softmax(Wc tanh(Wp h[0] + bp) + bc); |PRED.scores[c] - p_c| <= tol for every label c,
    PRED.label = argmax p (unless the top two are within tol).
  token classification: the text's N wordpieces in windows of W = M-2 that overlap by
    V = config.json's window_overlap (0 when absent: the consecutive windows of older exports),
    0 <= V < W: with stride S = W - V, window k reads [k*S, min(k*S + W, N)) for k = 0, 1, ...
    up to the first that reaches N, and owns [k*S + V//2, (k+1)*S + V//2), the first from 0 and
    the last to N; each window is fed as [CLS] w [SEP];
    e = Wc h[1:-1] + bc  [n, C];
    s(y) = start[y_0] + sum_t e[t, y_t] + sum_{t>0} trans[y_{t-1}, y_t] + end[y_{n-1}], with
    start->I-X, O->I-X, B-X->I-Y, I-X->I-Y (X != Y) forbidden (-inf);
    Viterbi best path (ties -> lower tag id), log Z = forward algorithm over allowed paths;
    log_prob = sum over windows of s(best) - log Z. Each wordpiece takes its tag from the best
    path of the window that owns it; entities as bert_ner.cc on these tags: B-X opens an entity
    at its token's character, a following I-X of the open type extends it to that token's end,
    any other tag closes it. Every wordpiece must come from exactly one character
    (code point), as in Chinese text; other texts fail with a message.
    PRED.entities == ours as (start, end, type), entity text == text[start:end], and
    |PRED.log_prob - ours| <= tol * max(1, |PRED.log_prob|).
  Prints a line per check and "OK: N texts, max |diff| = D" (D: probability difference, or the
  scaled log_prob difference); else lists the mismatches (up to 20), exit 1. Usage errors: exit 2.

selftest: builds random export folders (BERT and ERNIE, both heads; token classification with
model_max_length 6 and window_overlap 1, so texts of 5 to 12 characters take 2 to 4 windows);
checks the windows of two hand-worked cases; checks that validation
reports renamed, extra and missing tensors, wrong shapes, -inf CRF values, bad id2label/label2id,
architectures and tokenizer files; Viterbi and log Z against enumeration of all allowed paths
(tags O B-A I-A B-B I-B, lengths 1..6); writes PRED files from a second forward
(torch.nn.functional in float32, padded batches, brute-force CRF) on which `check` must pass, and
fail once a probability moves by 1e-3, a log_prob by 1e-3 relative, an entity's end by one, or
the folder's window_overlap changes.
"""

import argparse
import copy
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_reference as br  # noqa: E402
import bert_tokenizer_reference as btr  # noqa: E402

ARCHS = {("bert", "seq"): "BertForSequenceClassification",
         ("bert", "tok"): "BertForTokenClassification",
         ("ernie", "seq"): "ErnieForSequenceClassification",
         ("ernie", "tok"): "ErnieForTokenClassification"}
SPECIAL_MAP = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
               "cls_token": "[CLS]", "mask_token": "[MASK]"}
INT_KEYS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "max_position_embeddings", "type_vocab_size")
FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
         "special_tokens_map.json", "README.md")
NEG_INF = float("-inf")


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def expected_tensors(config, kind, C):
    """({name: shape} required, {name: shape} tolerated) of ARCHS[(model_type, kind)]."""
    H, I = config["hidden_size"], config["intermediate_size"]
    p = config["model_type"] + "."
    e = {p + "embeddings.word_embeddings.weight": [config["vocab_size"], H],
         p + "embeddings.position_embeddings.weight": [config["max_position_embeddings"], H],
         p + "embeddings.token_type_embeddings.weight": [config["type_vocab_size"], H],
         p + "embeddings.LayerNorm.weight": [H], p + "embeddings.LayerNorm.bias": [H]}
    if config["model_type"] == "ernie" and config.get("use_task_id"):
        e[p + "embeddings.task_type_embeddings.weight"] = [config.get("task_type_vocab_size", 3), H]

    def linear(name, out_f, in_f, into):
        into[name + ".weight"], into[name + ".bias"] = [out_f, in_f], [out_f]

    for i in range(config["num_hidden_layers"]):
        q = "%sencoder.layer.%d." % (p, i)
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            linear(q + n, H, H, e)
        linear(q + "intermediate.dense", I, H, e)
        linear(q + "output.dense", H, I, e)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            e[q + n + ".weight"], e[q + n + ".bias"] = [H], [H]
    pooler = {}
    linear(p + "pooler.dense", H, H, e if kind == "seq" else pooler)
    linear("classifier", C, H, e)
    if kind == "tok":
        e.update({"crf.transitions": [C, C], "crf.start_transitions": [C],
                  "crf.end_transitions": [C]})
    return e, pooler


def bio_allowed(tags):
    """(allowed [T,T]: tag i may be followed by tag j, allowed_start [T])."""
    parsed = [("O", "") if t == "O" else (t[0], t[2:]) for t in tags]
    allowed, start = np.ones((len(tags), len(tags)), bool), np.ones(len(tags), bool)
    for j, (pj, xj) in enumerate(parsed):
        if pj == "I":
            start[j] = False
            for i, (pi, xi) in enumerate(parsed):
                allowed[i, j] = pi != "O" and xi == xj
    return allowed, start


def read_json(d, name, errors):
    try:
        with open(os.path.join(d, name), encoding="utf-8") as f:
            obj = json.load(f)
        if isinstance(obj, dict):
            return obj
        errors.append("%s is not a JSON object" % name)
    except (OSError, ValueError) as exc:
        errors.append("%s: %s" % (name, exc))
    return {}


def check_labels(cfg, kind):
    """(labels or None, errors) from id2label / label2id."""
    id2label, label2id = cfg.get("id2label"), cfg.get("label2id")
    if not isinstance(id2label, dict) or not isinstance(label2id, dict):
        return None, ["config.json: id2label and label2id must be objects"]
    if sorted(id2label) != sorted(str(i) for i in range(len(id2label))):
        return None, ["config.json: id2label keys %s are not \"0\"..\"%d\"" % (
            sorted(id2label), len(id2label) - 1)]
    labels = [id2label[str(i)] for i in range(len(id2label))]
    inverse = {name: i for i, name in enumerate(labels)}
    if not all(isinstance(x, str) for x in labels) or len(inverse) != len(labels):
        return None, ["config.json: id2label names must be distinct strings"]
    if not all(is_int(v) for v in label2id.values()) or label2id != inverse:
        return None, ["config.json: label2id %s is not the inverse of id2label %s" % (
            json.dumps(label2id, ensure_ascii=False), json.dumps(id2label, ensure_ascii=False))]
    if len(labels) < 2:
        return None, ["config.json: %d label(s); need at least 2" % len(labels)]
    if cfg.get("num_labels", len(labels)) != len(labels):
        return None, ["config.json: num_labels %r but %d labels" % (cfg["num_labels"], len(labels))]
    if kind == "tok":
        if labels[0] != "O":
            return None, ["config.json: id2label[\"0\"] is %r, not \"O\"" % labels[0]]
        if any(not re.match(r"^[BI]-.+$", t) for t in labels[1:]):
            return None, ["config.json: labels %s are not O, B-X, I-X" % labels]
        unpaired = [t for t in labels[1:] if "IB"[t[0] == "I"] + t[1:] not in inverse]
        if unpaired:
            return None, ["config.json: %s without their B-/I- partner" % unpaired]
    return labels, []


def validate(d):
    """(errors, notes, model): model holds what the forward needs (None on errors)."""
    errors, notes = ["missing file %s" % f for f in FILES
                     if not os.path.isfile(os.path.join(d, f))], []
    if errors:
        return errors, notes, None
    if not open(os.path.join(d, "README.md"), encoding="utf-8").read().strip():
        errors.append("README.md is empty")
    cfg = read_json(d, "config.json", errors)
    bad = [k for k in INT_KEYS if not is_int(cfg.get(k)) or cfg[k] <= 0]
    bad += [k for k, t in (("hidden_act", str), ("layer_norm_eps", (int, float)))
            if not isinstance(cfg.get(k), t)]
    if bad:
        return errors + ["config.json: missing or bad %s" % ", ".join(bad)], notes, None
    if cfg["hidden_size"] % cfg["num_attention_heads"]:
        errors.append("config.json: hidden_size not a multiple of num_attention_heads")
    try:
        br.activation(cfg["hidden_act"])
    except ValueError as exc:
        errors.append("config.json: %s" % exc)
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        errors.append("config.json: position_embedding_type must be absolute")
    if cfg.get("problem_type") not in (None, "single_label_classification"):
        errors.append("config.json: problem_type %r" % cfg["problem_type"])
    mt, arch = cfg.get("model_type"), cfg.get("architectures")
    if mt not in ("bert", "ernie"):
        return errors + ["config.json: model_type %r is not bert or ernie" % (mt,)], notes, None
    kinds = {ARCHS[(mt, k)]: k for k in ("seq", "tok")}
    if not (isinstance(arch, list) and len(arch) == 1 and arch[0] in kinds):
        return errors + ["config.json: architectures %r, not [%r] or [%r]" % (
            arch, ARCHS[(mt, "seq")], ARCHS[(mt, "tok")])], notes, None
    kind = kinds[arch[0]]
    labels, label_errors = check_labels(cfg, kind)
    if label_errors or errors:
        return errors + label_errors, notes, None

    try:
        tensors, meta, dtypes = br.read_safetensors(os.path.join(d, "model.safetensors"))
    except (OSError, ValueError) as exc:
        return ["model.safetensors: %s" % exc], notes, None
    if meta != {"format": "pt"}:
        errors.append("model.safetensors: metadata %r, not {\"format\": \"pt\"}" % (meta,))
    expected, tolerated = expected_tensors(cfg, kind, len(labels))
    errors += ["model.safetensors: missing tensor %s %s" % (n, expected[n])
               for n in sorted(set(expected) - set(tensors))]
    errors += ["model.safetensors: unexpected tensor %s %s" % (n, list(tensors[n].shape))
               for n in sorted(set(tensors) - set(expected) - set(tolerated))]
    for n in sorted(tensors):
        want = expected.get(n, tolerated.get(n))
        if want is not None and list(tensors[n].shape) != want:
            errors.append("model.safetensors: %s has shape %s, expected %s" % (
                n, list(tensors[n].shape), want))
        if dtypes[n] != "F32":
            errors.append("model.safetensors: %s is %s, not F32" % (n, dtypes[n]))
        elif not np.isfinite(tensors[n]).all():
            errors.append("model.safetensors: %s has non-finite values" % n)
    if set(tolerated) & set(tensors):
        notes.append("a pooler, unused by %s" % arch[0])

    tc = read_json(d, "tokenizer_config.json", errors)
    if tc.get("tokenizer_class") != "BertTokenizer":
        errors.append("tokenizer_config.json: tokenizer_class %r" % (tc.get("tokenizer_class"),))
    errors += ["tokenizer_config.json: %s must be true or false" % k
               for k in ("do_lower_case", "tokenize_chinese_chars")
               if not isinstance(tc.get(k), bool)]
    if "strip_accents" not in tc or tc["strip_accents"] not in (None, True, False):
        errors.append("tokenizer_config.json: strip_accents must be null, true or false")
    M = tc.get("model_max_length")
    if not is_int(M) or not 3 <= M <= cfg["max_position_embeddings"]:
        errors.append("tokenizer_config.json: model_max_length %r not in [3, %d]" % (
            M, cfg["max_position_embeddings"]))
    sm = read_json(d, "special_tokens_map.json", errors)
    for k, v in SPECIAL_MAP.items():
        got = sm.get(k).get("content") if isinstance(sm.get(k), dict) else sm.get(k)
        if got != v:
            errors.append("special_tokens_map.json: %s is %r, not %r" % (k, got, v))
    vocab = btr.load_vocab(os.path.join(d, "vocab.txt"))
    with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
        lines = sum(1 for _ in f)
    if lines > cfg["vocab_size"]:
        errors.append("vocab.txt: %d lines > vocab_size %d" % (lines, cfg["vocab_size"]))
    errors += ["vocab.txt: no %s" % v for v in SPECIAL_MAP.values() if v not in vocab]
    if errors:
        return errors, notes, None
    p = mt + "."
    w = {n[len(p):]: torch.from_numpy(a).double() for n, a in tensors.items()
         if n.startswith(p) and (kind == "seq" or ".pooler." not in n)}
    f64 = {n: a.astype(np.float64) for n, a in tensors.items() if not n.startswith(p)}
    V = cfg.get("window_overlap", 0)
    if kind == "tok" and not (is_int(V) and 0 <= V < M - 2):
        return errors + ["config.json: window_overlap %r not in [0, %d)" % (V, M - 2)], notes, None
    model = dict(config=cfg, kind=kind, labels=labels, w=w, M=M, V=V, vocab=vocab, tok=tc,
                 n_tensors=len(tensors), head=[f64["classifier.weight"], f64["classifier.bias"]])
    if kind == "tok":
        model["crf"] = [f64["crf.transitions"], f64["crf.start_transitions"],
                        f64["crf.end_transitions"]]
        model["allowed"] = bio_allowed(labels)
    return errors, notes, model


def tokenize(model, text):
    tc = model["tok"]
    return btr.tokenize(text, model["vocab"], tc["do_lower_case"], tc["strip_accents"],
                        tc["tokenize_chinese_chars"])


def encode(model, ids):
    """(last hidden [L, H], pooled [H] or None) of one unpadded sequence, float64."""
    cfg, x = model["config"], torch.tensor([ids], dtype=torch.int64)
    task = torch.zeros_like(x) if cfg["model_type"] == "ernie" and cfg.get("use_task_id") else None
    with torch.no_grad():
        r = br.reference_forward(cfg, model["w"], x, torch.ones(x.shape, dtype=torch.float64),
                                 torch.zeros_like(x), task)
    return r["last_hidden"][0].numpy(), None if r["pooled"] is None else r["pooled"][0].numpy()


def classify(model, text):
    v = model["vocab"]
    _, pooled = encode(model, [v["[CLS]"]] + tokenize(model, text)[:model["M"] - 2] + [v["[SEP]"]])
    logits = model["head"][0] @ pooled + model["head"][1]
    p = np.exp(logits - logits.max())
    return p / p.sum()


def logsumexp(x, axis=None):
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out.reshape(()).item() if axis is None else np.squeeze(out, axis=axis)


def viterbi(em, trans, start, end, allowed, allowed_start):
    """(best path, its score, log Z) over the allowed paths; em [n, T] float64, n >= 1."""
    tr = np.where(allowed, trans, NEG_INF)
    best = np.where(allowed_start, start, NEG_INF) + em[0]
    alpha, back = best.copy(), []
    for t in range(1, len(em)):
        cand = best[:, None] + tr                     # [from, to]
        back.append(np.argmax(cand, axis=0))          # the first maximum: lowest tag id
        best = cand.max(axis=0) + em[t]
        alpha = logsumexp(alpha[:, None] + tr, axis=0) + em[t]
    final = best + end
    path = [int(np.argmax(final))]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return path[::-1], float(final.max()), logsumexp(alpha + end)


def char_positions(model, text):
    """(ids, code point of each wordpiece); ValueError unless each wordpiece is one character."""
    ids, pos, pieces = tokenize(model, text), [], []
    for k, ch in enumerate(text):
        one = tokenize(model, ch)
        pos, pieces = pos + [k] * len(one), pieces + one
    if pieces != ids or len(set(pos)) != len(pos):
        raise ValueError("wordpieces do not map one-to-one onto characters; this checker needs "
                         "one wordpiece per character (e.g. Chinese text)")
    return ids, pos


def windows(n, width, overlap):
    """[(begin, end, own_begin, own_end)] of a text of n wordpieces, as the docstring says."""
    out, stride = [], width - overlap
    for k in itertools.count():
        if k * stride >= n:
            break
        out.append([k * stride, min(k * stride + width, n), k * stride + overlap // 2,
                    (k + 1) * stride + overlap // 2])
        if out[-1][1] == n:
            break
    if out:
        out[0][2], out[-1][3] = 0, n
    return out


def decode_entities(labels, tags, pos):
    """bert_ner.cc's decoding of a text's tags: [[start, end, type], ...]."""
    out, open_type = [], None
    for tag, k in zip((labels[t] for t in tags), pos):
        if tag[0] == "B":
            out.append([k, k + 1, tag[2:]])
            open_type = tag[2:]
        elif tag[0] == "I" and open_type == tag[2:]:
            out[-1][1] = k + 1
        else:
            open_type = None
    return out


def tag_text(model, text):
    """(entities [[start, end, type]], log_prob) of one text."""
    ids, pos = char_positions(model, text)
    v, tags, lp = model["vocab"], [], 0.0
    for b, e, own_b, own_e in windows(len(ids), model["M"] - 2, model["V"]):
        h, _ = encode(model, [v["[CLS]"]] + ids[b:e] + [v["[SEP]"]])
        path, score, log_z = viterbi(h[1:-1] @ model["head"][0].T + model["head"][1],
                                     *model["crf"], *model["allowed"])
        tags += path[own_b - b:own_e - b]
        lp += score - log_z
    return decode_entities(model["labels"], tags, pos), lp


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def compare(model, n, inp, pred, tol):
    """(mismatch messages, max diff) for one text."""
    text, bad, worst = inp["text"], [], 0.0
    where = "line %d%s" % (n + 1, " (id %s)" % inp["id"] if "id" in inp else "")
    norm = (lambda v: str(v) if is_int(v) else v)  # predict writes an integer id as a string
    if pred.get("text") != text or norm(pred.get("id")) != norm(inp.get("id")):
        return ["%s: the prediction's id/text differ from the input's" % where], 0.0
    scores = pred.get("scores") if isinstance(pred.get("scores"), dict) else {}
    if model["kind"] == "seq":
        p, labels = classify(model, text), model["labels"]
        if set(scores) != set(labels):
            return ["%s: scores has labels %s, expected %s" % (where, sorted(scores), labels)], 0.0
        for c, name in enumerate(labels):
            worst = max(worst, abs(scores[name] - p[c]))
            if abs(scores[name] - p[c]) > tol:
                bad.append("%s: P(%s) = %.8f, reference %.8f" % (where, name, scores[name], p[c]))
        top = np.argsort(-p)
        if pred.get("label") != labels[top[0]] and p[top[0]] - p[top[1]] > tol:
            bad.append("%s: label %r, reference %r" % (where, pred.get("label"), labels[top[0]]))
        return bad, worst
    try:
        ents, lp = tag_text(model, text)
    except ValueError as exc:
        return ["%s: %s" % (where, exc)], 0.0
    got = [[e.get("start"), e.get("end"), e.get("type")] for e in pred.get("entities", [])]
    if got != ents:
        bad.append("%s: entities %s, reference %s" % (where, got, ents))
    elif any(e.get("text") != text[e["start"]:e["end"]] for e in pred["entities"]):
        bad.append("%s: an entity's text is not text[start:end]" % where)
    theirs = scores.get("log_prob")
    if not isinstance(theirs, (int, float)):
        return bad + ["%s: no scores.log_prob" % where], 0.0
    worst = abs(theirs - lp) / max(1.0, abs(theirs))
    if worst > tol:
        bad.append("%s: log_prob %.8f, reference %.8f" % (where, theirs, lp))
    return bad, worst


def run_check(export_dir, input_path, pred_path, tol):
    """0 when the folder is valid and every prediction matches, else 1 (messages printed)."""
    errors, notes, model = validate(export_dir)
    if errors:
        print("FAIL export folder %s:\n  %s" % (export_dir, "\n  ".join(errors)))
        return 1
    print("ok   files: %s, %d labels, %d F32 tensors, model_max_length %d%s" % (
        ARCHS[(model["config"]["model_type"], model["kind"])], len(model["labels"]),
        model["n_tensors"], model["M"], "".join("; note: " + n for n in notes)))
    inputs, bad, worst = read_jsonl(input_path), [], 0.0
    try:
        preds = read_jsonl(pred_path)
    except (ValueError, UnicodeDecodeError) as exc:
        preds, bad = [], ["%s: %s" % (pred_path, exc)]
    if len(inputs) != len(preds):
        bad.append("%d input lines but %d prediction lines" % (len(inputs), len(preds)))
    for n, (inp, pred) in enumerate(zip(inputs, preds)):
        b, d = compare(model, n, inp, pred, tol)
        bad, worst = bad + b, max(worst, d)
    if bad:
        print("FAIL predictions: %d mismatch(es):\n  %s" % (len(bad), "\n  ".join(bad[:20])))
        if len(bad) > 20:
            print("  ... and %d more" % (len(bad) - 20))
        return 1
    print("ok   predictions: %d texts, %s within %g" % (
        len(inputs), "probabilities" if model["kind"] == "seq" else "log_prob (scaled)", tol))
    print("OK: %d texts, max |diff| = %.3g" % (len(inputs), worst))
    return 0


# ---------------------------------------------------------------------------------------------
# selftest

CHARS = list("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年")


def write_tensors(d, arrays):
    st = {n: ("F32", list(a.shape), np.ascontiguousarray(a, "<f4").tobytes())
          for n, a in arrays.items()}
    br.write_safetensors(os.path.join(d, "model.safetensors"), st, {"format": "pt"})


def make_export(d, model_type, kind, labels, M=6, seed=1, V=1):
    """A random export folder as the contract describes."""
    os.makedirs(d)
    vocab, H, C = br.SPECIAL_TOKENS + CHARS + ["hello"], 32, len(labels)
    task = 3 if model_type == "ernie" else None
    cfg = json.loads(br.hf_config(len(vocab), H, 2, 4, 48, 16, 2, "gelu", "F32", task, std=0.3))
    cfg.update(architectures=[ARCHS[(model_type, kind)]], id2label=dict(enumerate(labels)),
               label2id={n: i for i, n in enumerate(labels)})
    if kind == "tok":
        cfg["window_overlap"] = V
    w = br.random_weights(len(vocab), H, 2, 4, 48, 16, 2, task, pooler=kind == "seq", seed=seed,
                          std=0.3)
    t = {model_type + "." + n: x.numpy() for n, x in w.items()}
    g = np.random.default_rng(seed)
    t.update({"classifier.weight": g.normal(size=(C, H)), "classifier.bias": g.normal(size=C)})
    if kind == "tok":
        t.update({"crf.transitions": g.normal(size=(C, C)), "crf.start_transitions":
                  g.normal(size=C), "crf.end_transitions": g.normal(size=C)})
    write_tensors(d, t)
    tc = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": M,
          "tokenize_chinese_chars": True, "strip_accents": None}
    for name, obj in (("config.json", cfg), ("special_tokens_map.json", SPECIAL_MAP),
                      ("tokenizer_config.json", tc)):
        dump(os.path.join(d, name), obj)
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(v + "\n" for v in vocab))
    with open(os.path.join(d, "README.md"), "w", encoding="utf-8") as f:
        f.write("# test export\n")


def brute_force(em, trans, start, end, allowed, allowed_start):
    """(best path, score, log Z) by enumerating every allowed path (ties: first in order)."""
    best, best_s, all_s = None, NEG_INF, []
    for y in itertools.product(range(em.shape[1]), repeat=len(em)):
        if allowed_start[y[0]] and all(allowed[a, b] for a, b in zip(y, y[1:])):
            s = start[y[0]] + end[y[-1]] + sum(em[t, k] for t, k in enumerate(y)) + \
                sum(trans[a, b] for a, b in zip(y, y[1:]))
            all_s.append(s)
            if s > best_s:
                best, best_s = list(y), s
    return best, best_s, logsumexp(np.array(all_s))


def second_predictions(model, texts):
    """PRED lines from torch.nn.functional in float32 on one padded batch + brute-force CRF."""
    v, M, cfg, seq = model["vocab"], model["M"], model["config"], model["kind"] == "seq"
    rows, owner, lines, tags = [], [], [], [[] for _ in texts]
    for i, text in enumerate(texts):
        ids = tokenize(model, text)
        for b, e, own_b, own_e in ([[0, M - 2, 0, 0]] if seq else
                                   windows(len(ids), M - 2, model["V"])):
            rows.append([v["[CLS]"]] + ids[b:e] + [v["[SEP]"]])
            owner.append((i, own_b - b, own_e - b))
        lines.append({"id": "t%d" % i, "text": text, "entities": [], "scores": {"log_prob": 0.0}})
    L = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (L - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (L - len(r)) for r in rows])
    task = torch.zeros_like(ids) if cfg.get("use_task_id") else None
    out = br.functional_forward(cfg, {n: x.float() for n, x in model["w"].items()}, ids, mask,
                                torch.zeros_like(ids), task)
    W, b = (torch.from_numpy(x).float() for x in model["head"])
    for r, (i, own_b, own_e) in enumerate(owner):
        ln = lines[i]
        if seq:
            p = torch.softmax(out["pooled"][r] @ W.T + b, 0).double().numpy()
            del ln["entities"]
            ln.update(label=model["labels"][int(np.argmax(p))],
                      scores={n: float(p[c]) for c, n in enumerate(model["labels"])})
            continue
        em = (out["hidden_states"][-1][r, 1:len(rows[r]) - 1] @ W.T + b).double().numpy()
        y, score, log_z = brute_force(em, *model["crf"], *model["allowed"])
        tags[i] += y[own_b:own_e]
        ln["scores"]["log_prob"] += score - log_z
    for i, ln in enumerate(lines):
        if not seq:
            pos = char_positions(model, texts[i])[1]
            ln["entities"] = [{"start": a, "end": e, "type": t, "text": texts[i][a:e]}
                              for a, e, t in decode_entities(model["labels"], tags[i], pos)]
    return lines


def dump(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)


def write_jsonl(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))


def selftest():
    rng, failures = np.random.default_rng(7), []

    def expect(what, ok):
        print("%s %s" % ("ok  " if ok else "FAIL", what))
        failures.extend([] if ok else [what])

    tags = ["O", "B-A", "I-A", "B-B", "I-B"]
    al, al_start = bio_allowed(tags)
    expect("BIO: O->I-A, B-A->I-B, I-A->I-B, start->I-A forbidden; B-A->I-A, I-B->I-B allowed",
           not (al[0, 2] or al[1, 4] or al[2, 4] or al_start[2])
           and al[1, 2] and al[4, 4] and al[2, 3] and al_start[1])
    worst, same = 0.0, True
    for n in range(1, 7):
        for _ in range(8):
            case = (rng.normal(size=(n, 5)) * 2, rng.normal(size=(5, 5)), rng.normal(size=5),
                    rng.normal(size=5), al, al_start)
            (p1, s1, z1), (p2, s2, z2) = viterbi(*case), brute_force(*case)
            same, worst = same and p1 == p2, max(worst, abs(s1 - s2), abs(z1 - z2))
    expect("viterbi path == brute force (lengths 1..6, 48 cases)", same)
    expect("viterbi score and log Z == brute force (max diff %.2g)" % worst, worst < 1e-10)
    expect("windows(10, 4, 2) by hand: [0,4) own [0,3), [2,6) [3,5), [4,8) [5,7), [6,10) [7,10)",
           windows(10, 4, 2) == [[0, 4, 0, 3], [2, 6, 3, 5], [4, 8, 5, 7], [6, 10, 7, 10]])
    expect("windows(11, 6, 2): the last is [8, 11) own [9, 11); windows(3, 4, 2): one; (0, 4, 2): none",
           windows(11, 6, 2)[-1] == [8, 11, 9, 11] and windows(3, 4, 2) == [[0, 3, 0, 3]]
           and windows(0, 4, 2) == [])

    tmp = tempfile.mkdtemp(prefix="hf_export_selftest_")
    try:
        texts = ["".join(rng.choice(CHARS, size=k)) for k in (1, 3, 4, 5, 9, 12, 2, 7)]
        texts += ["", "中 国人", "我X的"]  # empty; a space; an unknown character ([UNK])
        inp = os.path.join(tmp, "in.jsonl")
        write_jsonl(inp, [{"id": "t%d" % i, "text": t} for i, t in enumerate(texts)])
        for mt, kind, labels in [("bert", "seq", ["neg", "pos", "mid"]), ("bert", "tok", tags),
                                 ("ernie", "seq", ["x", "y"]),
                                 ("ernie", "tok", ["O", "B-P", "I-P"])]:
            d, name = os.path.join(tmp, mt + kind), "%s %s" % (mt, kind)
            make_export(d, mt, kind, labels, seed=len(labels))
            errors, _, model = validate(d)
            expect("%s: the folder made here validates %s" % (name, errors), not errors)
            lines = second_predictions(model, texts)
            write_jsonl(os.path.join(tmp, mt + kind + ".jsonl"), lines)
            expect("%s: check passes on the second forward's PRED" % name,
                   run_check(d, inp, os.path.join(tmp, mt + kind + ".jsonl"), 1e-4) == 0)
            bad = copy.deepcopy(lines)
            if kind == "seq":
                bad[4]["scores"][labels[1]] += 1e-3
            else:
                bad[4]["scores"]["log_prob"] += 1e-3 * max(1, abs(bad[4]["scores"]["log_prob"]))
            write_jsonl(os.path.join(tmp, "bad_" + mt + kind + ".jsonl"), bad)
            expect("%s: check fails on %s + 1e-3" % (name, "a probability" if kind == "seq"
                                                      else "log_prob (relative)"),
                   run_check(d, inp, os.path.join(tmp, "bad_" + mt + kind + ".jsonl"), 1e-4) == 1)
            if kind == "tok":
                found = [k for k, x in enumerate(lines) if x["entities"]]
                expect("%s: the random model finds entities in %d texts" % (name, len(found)),
                       len(found) > 2)
                bad = copy.deepcopy(lines)
                bad[found[0]]["entities"][0]["end"] += 1
                write_jsonl(os.path.join(tmp, "bad.jsonl"), bad)
                expect("%s: check fails on an entity's end + 1" % name,
                       run_check(d, inp, os.path.join(tmp, "bad.jsonl"), 1e-4) == 1)
        try:
            char_positions(validate(os.path.join(tmp, "berttok"))[2], "我hello")
            expect("a 5-character wordpiece is refused", False)
        except ValueError:
            expect("a 5-character wordpiece is refused", True)

        def swap(t, a, b):
            t[b] = t.pop(a)

        q, bio = "encoder.layer.1.attention.self.key.weight", ["B-A", "O", "I-A", "B-B", "I-B"]
        bad_tc = {"tokenizer_class": "BertTokenizerFast", "do_lower_case": True,
                  "model_max_length": 99, "tokenize_chinese_chars": True}
        cases = [  # (folder, what, change(tensors, config, dir), what the errors must name)
            (src, "renamed tensor", lambda t, c, d, p=p: swap(t, p + q, p + q[:-10] + "k.weight"),
             ["missing tensor " + p + q, "unexpected tensor " + p + q[:-10] + "k.weight"])
            for src, p in (("berttok", "bert."), ("ernieseq", "ernie."))]
        for src in ("berttok", "ernieseq"):
            cases += [
                (src, "transposed classifier.weight", lambda t, c, d: t.update(
                    {"classifier.weight": t["classifier.weight"].T}),
                 ["classifier.weight has shape"]),
                (src, "id2label keys 0, 7", lambda t, c, d: c["id2label"].update(
                    {"7": c["id2label"].pop("1")}), ["id2label keys"]),
                (src, "label2id[id2label[1]] = 0", lambda t, c, d: c["label2id"].update(
                    {c["id2label"]["1"]: 0}), ["not the inverse"]),
                (src, "extra tensor",
                 lambda t, c, d: t.update({"cls.predictions.bias": np.zeros(3)}),
                 ["unexpected tensor cls.predictions.bias"])]
        cases += [
            ("berttok", "no crf.end_transitions", lambda t, c, d: t.pop("crf.end_transitions"),
             ["missing tensor crf.end_transitions"]),
            ("berttok", "-inf baked into crf.transitions", lambda t, c, d: t.update(
                {"crf.transitions": np.where(al, t["crf.transitions"], -np.inf)}),
             ["crf.transitions has non-finite"]),
            ("berttok", "window_overlap 4 = model_max_length - 2", lambda t, c, d: c.update(
                window_overlap=4), ["window_overlap 4 not in [0, 4)"]),
            ("berttok", "a pooler (tolerated)", lambda t, c, d: t.update(
                {"bert.pooler.dense.weight": np.zeros((32, 32)),
                 "bert.pooler.dense.bias": np.zeros(32)}),
             []),
            ("berttok", "architectures seq", lambda t, c, d: c.update(
                architectures=[ARCHS[("bert", "seq")]]),
             ["missing tensor bert.pooler.dense.weight", "unexpected tensor crf.transitions"]),
            ("berttok", "\"O\" at id 1", lambda t, c, d: c.update(
                id2label=dict(enumerate(bio)), label2id={n: i for i, n in enumerate(bio)}),
             ["not \"O\""]),
            ("berttok", "bad tokenizer_config.json", lambda t, c, d: dump(
                os.path.join(d, "tokenizer_config.json"), bad_tc),
             ["tokenizer_class", "model_max_length 99", "strip_accents"])]
        for src, what, change, wanted in cases:
            d = os.path.join(tmp, "mutated")
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(os.path.join(tmp, src), d)
            t = br.read_safetensors(os.path.join(d, "model.safetensors"))[0]
            with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
                c = json.load(f)
            change(t, c, d)
            write_tensors(d, t)
            dump(os.path.join(d, "config.json"), c)
            e = " | ".join(validate(d)[0])
            expect("%s: %s -> %s" % (src, what, " & ".join(wanted) or "valid"),
                   all(w in e for w in wanted) if wanted else e == "")

        d = os.path.join(tmp, "mutated")
        shutil.rmtree(d)
        shutil.copytree(os.path.join(tmp, "berttok"), d)
        with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
            c = json.load(f)
        c["window_overlap"] = 0
        dump(os.path.join(d, "config.json"), c)
        expect("berttok: check fails with window_overlap 0 instead of 1 (the windows differ)",
               run_check(d, inp, os.path.join(tmp, "berttok.jsonl"), 1e-4) == 1)

        run = [sys.executable, os.path.abspath(__file__), "check", os.path.join(tmp, "bertseq"),
               "--input", inp, "--pred"]
        codes = [subprocess.run(run + [os.path.join(tmp, p)], stdout=subprocess.DEVNULL).returncode
                 for p in ("bertseq.jsonl", "bad_bertseq.jsonl")]
        codes.append(subprocess.run(run[:4], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL).returncode)
        expect("CLI exit codes: pass 0, mismatch 1, usage 2 (got %s)" % codes, codes == [0, 1, 2])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("FAILED: %d check(s): %s" % (len(failures), "; ".join(failures)) if failures
          else "selftest passed")
    return 1 if failures else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="validate an export folder and recompute its predictions")
    c.add_argument("export_dir")
    c.add_argument("--input", required=True)
    c.add_argument("--pred", required=True)
    c.add_argument("--tol", type=float, default=1e-4)
    sub.add_parser("selftest", help="check this checker")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.cmd == "selftest":
        return selftest()
    if not os.path.isdir(a.export_dir):
        ap.error("no such folder: %s" % a.export_dir)
    for path in (a.input, a.pred):
        if not os.path.isfile(path):
            ap.error("no such file: %s" % path)
    try:
        if not all(isinstance(x.get("text"), str) for x in read_jsonl(a.input)):
            ap.error("%s: every line needs a \"text\" string" % a.input)
    except (ValueError, UnicodeDecodeError, AttributeError) as exc:
        ap.error("%s: %s" % (a.input, exc))
    return run_check(a.export_dir, a.input, a.pred, a.tol)


if __name__ == "__main__":
    sys.exit(main())
