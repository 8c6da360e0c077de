#!/usr/bin/python3
"""What a user would otherwise run: a PyTorch eager BertModel, for timing against weakdistill's
native libtorch BERT encoder.

Usage:
  /usr/bin/python3 bench/bert_eager.py MODEL_DIR BATCHES.jsonl --threads T [--warmup 1]
      [--repeat 3] [--out-npy FILE] [--check] [--task-type-ids N]
  /usr/bin/python3 bench/bert_eager.py --selftest

MODEL_DIR is a Hugging Face BERT folder (config.json, model.safetensors; e.g. one written by
tests/reference/bert_reference.py make, or a downloaded bge-small-zh), read with
bert_reference.py's own safetensors reader (F16/BF16 -> float32). BATCHES.jsonl has one batch
per line, already padded: {"input_ids": [[...], ...], "attention_mask": [[...], ...]}
(optional "token_type_ids", and "task_type_ids" for ERNIE).

The model is a float32 nn.Module tree with the structure and arithmetic of transformers'
modeling_bert.py on the "eager" attention path (the only one torch 1.13 has: SDPA needs
torch >= 2.0): BertEmbeddings (word + position_ids[:L] + token_type (+ ERNIE task_type),
LayerNorm, dropout), BertSelfAttention (nn.Linear query/key/value, transpose_for_scores,
QK^T / sqrt(d) + extended mask (1 - mask) * finfo(float32).min, softmax, dropout, context),
BertSelfOutput, BertAttention, BertIntermediate, BertOutput, BertLayer, BertEncoder, BertPooler;
eval() mode and torch.inference_mode(). The sentence embedding is BGE's: the CLS hidden state,
L2-normalised.

torch.set_num_threads(T); `warmup` untimed passes over all batches, then `repeat` timed passes;
prints one JSON line: {"sentences": N, "seconds": best pass, "sentences_per_s": N / best,
"threads": T, "torch": torch.__version__}. Tensors are built from the JSON before timing, so a
pass times only the forwards (and the CLS normalisation). --out-npy FILE saves the [N, H]
float32 CLS-normalised embeddings of all batches (in file order) so the C++ bench can check that
both computed the same thing. --check first compares every batch with the float64 reference
(bert_reference.py forward): last hidden states at mask = 1, pooled and CLS embeddings must
agree to 1e-4, else exit 1.
--selftest makes a small random model and batches in a temporary folder and runs --check on
them for F32/BF16, BERT/ERNIE (a few seconds).
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
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import bert_reference as ref  # noqa: E402

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
    raise ValueError("unsupported hidden_act %r" % name)


class BertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        H = config["hidden_size"]
        self.word_embeddings = nn.Embedding(config["vocab_size"], H,
                                            padding_idx=config.get("pad_token_id", 0))
        self.position_embeddings = nn.Embedding(config["max_position_embeddings"], H)
        self.token_type_embeddings = nn.Embedding(config["type_vocab_size"], H)
        self.use_task_id = bool(config.get("use_task_id", False))
        if self.use_task_id:
            self.task_type_embeddings = nn.Embedding(config["task_type_vocab_size"], H)
        self.LayerNorm = nn.LayerNorm(H, eps=config["layer_norm_eps"])
        self.dropout = nn.Dropout(config["hidden_dropout_prob"])
        self.register_buffer("position_ids",
                             torch.arange(config["max_position_embeddings"]).expand((1, -1)),
                             persistent=False)
        self.register_buffer("token_type_ids", torch.zeros(self.position_ids.size(),
                                                           dtype=torch.long), persistent=False)

    def forward(self, input_ids, token_type_ids=None, task_type_ids=None):
        seq_length = input_ids.size(1)
        position_ids = self.position_ids[:, :seq_length]
        if token_type_ids is None:
            token_type_ids = self.token_type_ids[:, :seq_length].expand(input_ids.size(0),
                                                                        seq_length)
        embeddings = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        embeddings = embeddings + self.position_embeddings(position_ids)
        if self.use_task_id:
            if task_type_ids is None:
                task_type_ids = torch.zeros_like(input_ids)
            embeddings = embeddings + self.task_type_embeddings(task_type_ids)
        embeddings = self.LayerNorm(embeddings)
        return self.dropout(embeddings)


class BertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        H = config["hidden_size"]
        self.num_attention_heads = config["num_attention_heads"]
        self.attention_head_size = H // self.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(H, self.all_head_size)
        self.key = nn.Linear(H, self.all_head_size)
        self.value = nn.Linear(H, self.all_head_size)
        self.dropout = nn.Dropout(config["attention_probs_dropout_prob"])

    def transpose_for_scores(self, x):
        new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        return x.view(new_x_shape).permute(0, 2, 1, 3)

    def forward(self, hidden_states, attention_mask=None):
        query_layer = self.transpose_for_scores(self.query(hidden_states))
        key_layer = self.transpose_for_scores(self.key(hidden_states))
        value_layer = self.transpose_for_scores(self.value(hidden_states))
        attention_scores = torch.matmul(query_layer, key_layer.transpose(-1, -2))
        attention_scores = attention_scores / math.sqrt(self.attention_head_size)
        if attention_mask is not None:
            attention_scores = attention_scores + attention_mask
        attention_probs = nn.functional.softmax(attention_scores, dim=-1)
        attention_probs = self.dropout(attention_probs)
        context_layer = torch.matmul(attention_probs, value_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous()
        new_context_layer_shape = context_layer.size()[:-2] + (self.all_head_size,)
        return context_layer.view(new_context_layer_shape)


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        H = config["hidden_size"]
        self.dense = nn.Linear(H, H)
        self.LayerNorm = nn.LayerNorm(H, eps=config["layer_norm_eps"])
        self.dropout = nn.Dropout(config["hidden_dropout_prob"])

    def forward(self, hidden_states, input_tensor):
        hidden_states = self.dropout(self.dense(hidden_states))
        return self.LayerNorm(hidden_states + input_tensor)


class BertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden_states, attention_mask=None):
        return self.output(self.self(hidden_states, attention_mask), hidden_states)


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config["hidden_size"], config["intermediate_size"])
        self.intermediate_act_fn = _act(config.get("hidden_act", "gelu"))

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class BertOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        H = config["hidden_size"]
        self.dense = nn.Linear(config["intermediate_size"], H)
        self.LayerNorm = nn.LayerNorm(H, eps=config["layer_norm_eps"])
        self.dropout = nn.Dropout(config["hidden_dropout_prob"])

    def forward(self, hidden_states, input_tensor):
        hidden_states = self.dropout(self.dense(hidden_states))
        return self.LayerNorm(hidden_states + input_tensor)


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden_states, attention_mask=None):
        attention_output = self.attention(hidden_states, attention_mask)
        return self.output(self.intermediate(attention_output), attention_output)


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config)
                                    for _ in range(config["num_hidden_layers"])])

    def forward(self, hidden_states, attention_mask=None):
        for layer_module in self.layer:
            hidden_states = layer_module(hidden_states, attention_mask)
        return hidden_states


class BertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config["hidden_size"], config["hidden_size"])
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class BertModel(nn.Module):
    def __init__(self, config, add_pooling_layer=True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config) if add_pooling_layer else None

    def get_extended_attention_mask(self, attention_mask, dtype):
        extended = attention_mask[:, None, None, :].to(dtype=dtype)
        return (1.0 - extended) * torch.finfo(dtype).min

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, task_type_ids=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        extended = self.get_extended_attention_mask(attention_mask, torch.float32)
        embedding_output = self.embeddings(input_ids, token_type_ids, task_type_ids)
        sequence_output = self.encoder(embedding_output, extended)
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return sequence_output, pooled_output


def load_bert(model_dir):
    """(BertModel in eval mode, float32, config) from a Hugging Face folder."""
    config, weights, info = ref.load_model(model_dir, dtype=torch.float32)
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only position_embedding_type absolute is supported")
    config.setdefault("layer_norm_eps", 1e-12)
    model = BertModel(config, add_pooling_layer=info["pooler"])
    wanted = model.state_dict()
    state = {k: v for k, v in weights.items() if k in wanted}
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ValueError("%s: missing tensors %s" % (model_dir, missing))
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, config


def read_batches(path, config, task_type_ids=None):
    """[(input_ids, attention_mask, token_type_ids|None, task_type_ids|None)] as int64."""
    batches = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            b = json.loads(line)
            ids = torch.tensor(b["input_ids"], dtype=torch.int64)
            mask = torch.tensor(b["attention_mask"], dtype=torch.int64) \
                if b.get("attention_mask") is not None else torch.ones_like(ids)
            tt = torch.tensor(b["token_type_ids"], dtype=torch.int64) \
                if b.get("token_type_ids") is not None else None
            task = None
            if config.get("use_task_id"):
                if task_type_ids is not None:
                    task = torch.full_like(ids, int(task_type_ids))
                elif b.get("task_type_ids") is not None:
                    task = torch.tensor(b["task_type_ids"], dtype=torch.int64)
            batches.append((ids, mask, tt, task, b))
    if not batches:
        raise ValueError("%s: no batches" % path)
    return batches


def embed_all(model, batches):
    out = []
    for ids, mask, tt, task, _ in batches:
        hidden, _ = model(ids, mask, tt, task)
        out.append(nn.functional.normalize(hidden[:, 0], p=2, dim=1))
    return out


def check(model, config, weights64, batches, task_type_ids=None, quiet=False):
    """Max abs difference to the float64 reference over all batches (mask = 1 positions)."""
    worst = {"last_hidden": 0.0, "pooled": 0.0, "cls_normalized": 0.0}
    for ids, mask, tt, task, raw in batches:
        with torch.inference_mode():
            hidden, pooled = model(ids, mask, tt, task)
            emb = nn.functional.normalize(hidden[:, 0], p=2, dim=1)
        r = ref.reference_forward(config, weights64,
                                  *ref.prepare_inputs(config, raw, task_type_ids))
        sel = mask.bool()
        worst["last_hidden"] = max(worst["last_hidden"], float(
            (hidden.double()[sel] - r["last_hidden"][sel]).abs().max()))
        worst["cls_normalized"] = max(worst["cls_normalized"], float(
            (emb.double() - r["cls_normalized"]).abs().max()))
        if pooled is not None:
            worst["pooled"] = max(worst["pooled"], float(
                (pooled.double() - r["pooled"]).abs().max()))
    ok = all(v <= CHECK_TOLERANCE for v in worst.values())
    if not quiet or not ok:
        print("check vs float64 reference: %s %s" % (
            "ok" if ok else "FAIL",
            json.dumps({k: float("%.3g" % v) for k, v in worst.items()})), file=sys.stderr)
    return ok


def run(model_dir, batches_path, threads, warmup=1, repeat=3, out_npy=None, do_check=False,
        task_type_ids=None):
    torch.set_num_threads(threads)
    model, config = load_bert(model_dir)
    batches = read_batches(batches_path, config, task_type_ids)
    if do_check:
        cfg64, w64, _ = ref.load_model(model_dir)
        if not check(model, cfg64, w64, batches, task_type_ids):
            return None
    n = sum(int(b[0].shape[0]) for b in batches)
    best = None
    with torch.inference_mode():
        for _ in range(warmup):
            embed_all(model, batches)
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            embs = embed_all(model, batches)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
    if out_npy:
        np.save(out_npy, torch.cat(embs).numpy().astype(np.float32))
    return {"sentences": n, "seconds": best, "sentences_per_s": n / best, "threads": threads,
            "torch": torch.__version__}


def selftest():
    tmp = tempfile.mkdtemp(prefix="bert_eager_selftest_")
    ok = True
    try:
        gen = torch.Generator().manual_seed(3)
        for name, kw in (("bert F32", dict(dtype="F32", prefix="")),
                         ("bert. BF16 gelu_new", dict(dtype="BF16", prefix="bert.",
                                                      act="gelu_new", extra_head=True)),
                         ("ernie. F16 no pooler", dict(dtype="F16", prefix="ernie.",
                                                       ernie_task_types=3, pooler=False))):
            d = os.path.join(tmp, name.replace(" ", "_"))
            ref.make_model(d, vocab_size=120, hidden=64, layers=2, heads=4, intermediate=128,
                           seed=1, std=0.1, **kw)
            path = os.path.join(tmp, "batches.jsonl")
            with open(path, "w") as f:
                for lengths in ([16, 12, 7, 3], [5, 5], [9]):
                    b = ref.random_batch(gen, len(lengths), max(lengths), 120,
                                         task_types=kw.get("ernie_task_types"), lengths=lengths)
                    f.write(json.dumps(b) + "\n")
            r = run(d, path, threads=1, warmup=0, repeat=1, do_check=True,
                    out_npy=os.path.join(tmp, "emb.npy"))
            if r is None:
                ok = False
                print("FAIL %s" % name)
                continue
            emb = np.load(os.path.join(tmp, "emb.npy"))
            assert emb.shape == (7, 64), emb.shape
            assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
            print("ok   %s: %s" % (name, json.dumps(r)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("selftest passed" if ok else "selftest FAILED")
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("batches", nargs="?")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out-npy", default=None)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--task-type-ids", type=int, default=None, metavar="N")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args(argv)
    if a.selftest:
        return selftest()
    if not a.model_dir or not a.batches or a.threads is None:
        ap.error("MODEL_DIR, BATCHES.jsonl and --threads are required")
    r = run(a.model_dir, a.batches, a.threads, a.warmup, a.repeat, a.out_npy, a.check,
            a.task_type_ids)
    if r is None:
        return 1
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
