#!/usr/bin/python3
"""The bigru-crf ner student's architecture and training recipe in Python
PyTorch, for timing training against weakdistill's libtorch implementation.

Usage:
  /usr/bin/python3 bench/bigru_crf_reference.py TRAIN.jsonl [--epochs N] [--threads K]
      [--seed S] [--char-dim 100] [--bigram-dim 50] [--hidden 128] [--layers 1]
      [--dropout 0.3] [--batch-size 32] [--lr 0.002] [--clip 5] [--min-count 2]
      [--packed] [--json]

Same as src/student/neural/bigru_crf.cc: vocabularies of characters and
character bigrams (<pad> = 0, <unk> = 1, tokens seen at least min-count times,
most frequent first); tags O, then B-X, I-X per entity type in byte order;
x_i = dropout([char(c_i); bigram(c_{i-1}c_i); bigram(c_i c_{i+1})]); a
bidirectional GRU made of two nn.GRU, the backward one reading each sentence
reversed within its length (no packing; --packed for nn.GRU on packed
sequences instead); dropout; a linear layer to tag scores; a linear-chain CRF
(parameters start at zero) with BIO's forbidden moves at -inf, log Z by the
forward algorithm in tensor operations; loss = mean NLL of the batch; Adam;
gradient-norm clipping. Batches: sentences sorted by length (stable), cut
into batch-size groups, the group order shuffled every epoch.

Prints each epoch's seconds and mean loss, then the median samples/s; with
--json one object. Timing covers training steps only (not reading the data).
Run with Debian's /usr/bin/python3 (python3-torch), not a pyenv python.
"""

import argparse
import collections
import json
import random
import statistics
import sys
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def split_tag(tag):
    return ("O", "") if tag == "O" else (tag[0], tag[2:])


class Crf(nn.Module):
    def __init__(self, tags):
        super().__init__()
        t = len(tags)
        self.transitions = nn.Parameter(torch.zeros(t, t))
        self.start = nn.Parameter(torch.zeros(t))
        self.end = nn.Parameter(torch.zeros(t))
        forbidden = torch.zeros(t, t)
        forbidden_start = torch.zeros(t)
        for j, to in enumerate(tags):
            to_prefix, to_type = split_tag(to)
            if to_prefix != "I":
                continue
            forbidden_start[j] = float("-inf")
            for i, frm in enumerate(tags):
                frm_prefix, frm_type = split_tag(frm)
                if frm_prefix == "O" or frm_type != to_type:
                    forbidden[i, j] = float("-inf")
        self.register_buffer("forbidden", forbidden)
        self.register_buffer("forbidden_start", forbidden_start)

    def log_partition(self, emissions, mask):  # [B, L, T], [B, L] -> [B]
        trans = (self.transitions + self.forbidden).unsqueeze(0)
        steps = emissions.unbind(1)
        live = mask.unsqueeze(2).unbind(1)
        alpha = (self.start + self.forbidden_start).unsqueeze(0) + steps[0]
        for t in range(1, emissions.size(1)):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans, 1) + steps[t]
            alpha = torch.where(live[t], nxt, alpha)
        return torch.logsumexp(alpha + self.end.unsqueeze(0), 1)

    def path_score(self, emissions, tags, mask):
        zero = torch.zeros((), dtype=emissions.dtype)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        score = torch.where(mask, emitted, zero).sum(1)
        score = score + (self.start + self.forbidden_start)[tags[:, 0]]
        if tags.size(1) > 1:
            steps = (self.transitions + self.forbidden)[tags[:, :-1], tags[:, 1:]]
            score = score + torch.where(mask[:, 1:], steps, zero).sum(1)
        last = (mask.sum(1) - 1).unsqueeze(1)
        return score + self.end[tags.gather(1, last).squeeze(1)]

    def nll(self, emissions, tags, mask):
        return self.log_partition(emissions, mask) - self.path_score(emissions, tags, mask)


class BiGru(nn.Module):
    """Bidirectional GRU over a padded batch without packing: the backward
    direction reads each sentence reversed within its own length."""

    def __init__(self, input_size, hidden, layers, dropout):
        super().__init__()
        self.dropout = dropout
        sizes = [input_size] + [2 * hidden] * (layers - 1)
        self.fwd = nn.ModuleList(nn.GRU(n, hidden, batch_first=True) for n in sizes)
        self.bwd = nn.ModuleList(nn.GRU(n, hidden, batch_first=True) for n in sizes)

    def forward(self, x, reverse):  # [B, L, D], [B, L] -> [B, L, 2H]
        for layer, (f, b) in enumerate(zip(self.fwd, self.bwd)):
            if layer > 0:
                x = nn.functional.dropout(x, self.dropout, self.training)
            ahead, _ = f(x)
            back, _ = b(x.gather(1, reverse.unsqueeze(2).expand(-1, -1, x.size(2))))
            back = back.gather(1, reverse.unsqueeze(2).expand(-1, -1, back.size(2)))
            x = torch.cat([ahead, back], 2)
        return x


class Tagger(nn.Module):
    def __init__(self, chars, bigrams, tags, a):
        super().__init__()
        self.bigrams_on = a.bigram_dim > 0
        self.char_emb = nn.Embedding(chars, a.char_dim, padding_idx=0)
        if self.bigrams_on:
            self.bigram_emb = nn.Embedding(bigrams, a.bigram_dim, padding_idx=0)
        self.dropout = nn.Dropout(a.dropout)
        self.packed = a.packed
        if a.packed:
            self.gru = nn.GRU(a.char_dim + 2 * a.bigram_dim, a.hidden, num_layers=a.layers,
                              dropout=a.dropout if a.layers > 1 else 0.0, bidirectional=True,
                              batch_first=True)
        else:
            self.gru = BiGru(a.char_dim + 2 * a.bigram_dim, a.hidden, a.layers, a.dropout)
        self.out = nn.Linear(2 * a.hidden, len(tags))
        self.crf = Crf(tags)

    def emissions(self, chars, left, right, lengths, reverse):
        x = self.char_emb(chars)
        if self.bigrams_on:
            x = torch.cat([x, self.bigram_emb(left), self.bigram_emb(right)], 2)
        x = self.dropout(x)
        if self.packed:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.gru(packed)
            h, _ = pad_packed_sequence(out, batch_first=True, padding_value=0.0,
                                       total_length=chars.size(1))
        else:
            h = self.gru(x, reverse)
        return self.out(self.dropout(h))


def build_vocab(counter, min_count):
    tokens = ["<pad>", "<unk>"]
    kept = sorted(((tok, n) for tok, n in counter.items() if n >= min_count),
                  key=lambda p: (-p[1], p[0].encode("utf-8")))
    return {tok: i for i, tok in enumerate(tokens + [t for t, _ in kept])}


def bigrams_of(chars):
    return [("<s>" if i == 0 else chars[i - 1]) + ("</s>" if i == len(chars) else chars[i])
            for i in range(len(chars) + 1)]


def pad(seqs):
    out = torch.zeros(len(seqs), max(len(s) for s in seqs), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("train")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="0 = all cores")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--char-dim", type=int, default=100)
    p.add_argument("--bigram-dim", type=int, default=50)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--min-count", type=int, default=2)
    p.add_argument("--packed", action="store_true",
                   help="use nn.GRU(bidirectional) on packed sequences instead (the idiomatic "
                        "way, whose CPU backward is quadratic in the length)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()

    import os
    torch.set_num_threads(a.threads if a.threads > 0 else os.cpu_count())
    torch.manual_seed(a.seed)

    samples = [json.loads(line) for line in open(a.train, encoding="utf-8") if line.strip()]
    char_counts, bigram_counts, types = collections.Counter(), collections.Counter(), set()
    for s in samples:
        cs = list(s["text"])
        char_counts.update(cs)
        if a.bigram_dim > 0:
            bigram_counts.update(bigrams_of(cs))
        types.update(e["type"] for e in s["entities"])
    chars = build_vocab(char_counts, a.min_count)
    bigrams = build_vocab(bigram_counts, a.min_count)
    tags = ["O"]
    for t in sorted(types, key=lambda t: t.encode("utf-8")):
        tags += ["B-" + t, "I-" + t]
    tag_id = {t: i for i, t in enumerate(tags)}

    data = []
    for s in samples:
        cs = list(s["text"])
        if not cs:
            continue
        bg = bigrams_of(cs)
        y = ["O"] * len(cs)
        for e in s["entities"]:
            for k in range(e["start"], e["end"]):
                y[k] = ("B-" if k == e["start"] else "I-") + e["type"]
        data.append(([chars.get(c, 1) for c in cs],
                     [bigrams.get(b, 1) for b in bg[:-1]] if a.bigram_dim > 0 else [1] * len(cs),
                     [bigrams.get(b, 1) for b in bg[1:]] if a.bigram_dim > 0 else [1] * len(cs),
                     [tag_id[t] for t in y]))
    order = sorted(range(len(data)), key=lambda i: len(data[i][0]))
    batches = []
    for start in range(0, len(order), a.batch_size):
        items = [data[i] for i in order[start:start + a.batch_size]]
        c, l, r, y = (pad([it[k] for it in items]) for k in range(4))
        lengths = torch.tensor([len(it[0]) for it in items], dtype=torch.long)
        reverse = torch.arange(c.size(1)).repeat(c.size(0), 1)
        for i, n in enumerate(lengths.tolist()):
            reverse[i, :n] = torch.arange(n - 1, -1, -1)
        batches.append((c, l, r, y, c.ne(0), lengths, reverse))

    net = Tagger(len(chars), len(bigrams), tags, a)
    adam = torch.optim.Adam(net.parameters(), lr=a.lr)
    rng = random.Random(a.seed)
    batch_order = list(range(len(batches)))
    seconds, losses = [], []
    for epoch in range(1, a.epochs + 1):
        started = time.perf_counter()
        rng.shuffle(batch_order)
        net.train()
        loss_sum = 0.0
        for k in batch_order:
            c, l, r, y, mask, lengths, reverse = batches[k]
            adam.zero_grad()
            nll = net.crf.nll(net.emissions(c, l, r, lengths, reverse), y, mask)
            nll.mean().backward()
            if a.clip > 0:
                nn.utils.clip_grad_norm_(net.parameters(), a.clip)
            adam.step()
            loss_sum += nll.sum().item()
        seconds.append(time.perf_counter() - started)
        losses.append(loss_sum / len(data))
        if not a.json:
            print(f"epoch {epoch}/{a.epochs}  loss {losses[-1]:.4f}  ({seconds[-1]:.1f}s)",
                  file=sys.stderr)
    result = {
        "implementation": f"Python PyTorch {torch.__version__}",
        "samples": len(data),
        "threads": torch.get_num_threads(),
        "epoch_seconds": seconds,
        "epoch_loss": losses,
        "samples_per_second": len(data) / statistics.median(seconds),
    }
    if a.json:
        print(json.dumps(result))
    else:
        print(f"{result['samples_per_second']:.1f} samples/s (median of {a.epochs} epochs, "
              f"{result['threads']} threads)")


if __name__ == "__main__":
    main()
