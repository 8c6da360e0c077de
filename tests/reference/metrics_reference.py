#!/usr/bin/python3
"""A slow, plain reference for the metrics of `weakdistill eval`.

Written from the metric definitions alone (not ported from src/eval/), so that the C++ code can be
checked against an independent computation. Standard library only. Every ratio is computed with
exact fractions and turned into a float at the very end; the only floating-point steps are the
log/exp of BLEU.

Usage:
  metrics_reference.py --task classification|ner|summarization --gold G.jsonl --pred P.jsonl
      [--per-sample S.jsonl]
prints one JSON object with the same keys as `weakdistill eval --json`.

Definitions (gold and predictions are paired by line):
- classification: accuracy; macro_f1 = mean over labels in gold and predicted of per-label F1;
  per_label {label: {precision, recall, f1, support}}, support = gold count. Per-sample score 1/0.
- ner: micro precision/recall/F1 over exact (start, end, type) matches summed over the set;
  per_type {type: {precision, recall, f1, support, predicted}} over types in gold and predicted.
  Per-sample score: the sentence's entity F1, and 1 when gold and prediction are both empty.
- summarization, on characters with whitespace (str.isspace) removed: rouge1, rouge2, rougeL as
  {precision, recall, f1} averaged over pairs; corpus BLEU-4 (uniform weights, brevity penalty,
  no smoothing). Per-sample score: ROUGE-L F1.
Everywhere: P = tp / (tp + fp), R = tp / (tp + fn), each 0 when its denominator is 0;
F1 = 2PR / (P + R), 0 when P + R = 0.
"""

import argparse
import json
import math
import sys
from fractions import Fraction

TASK_ALIASES = {
    "classification": "classification",
    "cls": "classification",
    "ner": "ner",
    "summarization": "summarization",
    "sum": "summarization",
}


# ---------------------------------------------------------------------------------------------
# Shared arithmetic.


def ratio(numerator, denominator):
    """numerator / denominator as an exact Fraction, 0 when the denominator is 0."""
    if denominator == 0:
        return Fraction(0)
    return Fraction(numerator, denominator)


def f1_of(precision, recall):
    """2PR / (P + R) as a Fraction, 0 when P + R = 0."""
    if precision + recall == 0:
        return Fraction(0)
    return 2 * precision * recall / (precision + recall)


def prf_from_counts(tp, fp, fn):
    """(precision, recall, f1) as Fractions from true-positive, false-positive, false-negative."""
    precision = ratio(tp, tp + fp)
    recall = ratio(tp, tp + fn)
    return precision, recall, f1_of(precision, recall)


def mean(values):
    """The arithmetic mean of a non-empty list of Fractions."""
    total = Fraction(0)
    for v in values:
        total += v
    return total / len(values)


# ---------------------------------------------------------------------------------------------
# Classification.


def classification_metrics(gold_labels, pred_labels):
    """Metrics dict (without "task"/"n") for two equally long lists of label strings."""
    assert len(gold_labels) == len(pred_labels)
    n = len(gold_labels)
    correct = 0
    for g, p in zip(gold_labels, pred_labels):
        if g == p:
            correct += 1
    accuracy = ratio(correct, n)

    labels = sorted(set(gold_labels) | set(pred_labels))
    per_label = {}
    f1s = []
    for label in labels:
        tp = fp = fn = support = 0
        for g, p in zip(gold_labels, pred_labels):
            if g == label:
                support += 1
            if g == label and p == label:
                tp += 1
            elif g != label and p == label:
                fp += 1
            elif g == label and p != label:
                fn += 1
        precision, recall, f1 = prf_from_counts(tp, fp, fn)
        f1s.append(f1)
        per_label[label] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": support,
        }
    macro_f1 = mean(f1s) if f1s else Fraction(0)
    return {"accuracy": float(accuracy), "macro_f1": float(macro_f1), "per_label": per_label}


def classification_per_sample(gold_labels, pred_labels):
    """1.0 for each correctly labelled sample, else 0.0."""
    return [1.0 if g == p else 0.0 for g, p in zip(gold_labels, pred_labels)]


# ---------------------------------------------------------------------------------------------
# NER.


def entity_keys(entities):
    """The set of (start, end, type) triples of a list of entity dicts."""
    return {(e["start"], e["end"], e["type"]) for e in entities}


def ner_metrics(gold_entity_lists, pred_entity_lists):
    """Metrics dict (without "task"/"n") for two equally long lists of entity lists."""
    assert len(gold_entity_lists) == len(pred_entity_lists)
    tp = fp = fn = 0
    types = set()
    for gold, pred in zip(gold_entity_lists, pred_entity_lists):
        g = entity_keys(gold)
        p = entity_keys(pred)
        for key in p:
            if key in g:
                tp += 1
            else:
                fp += 1
        for key in g:
            if key not in p:
                fn += 1
        for key in g | p:
            types.add(key[2])
    precision, recall, f1 = prf_from_counts(tp, fp, fn)

    per_type = {}
    for t in sorted(types):
        t_tp = t_fp = t_fn = support = predicted = 0
        for gold, pred in zip(gold_entity_lists, pred_entity_lists):
            g = {k for k in entity_keys(gold) if k[2] == t}
            p = {k for k in entity_keys(pred) if k[2] == t}
            support += len(g)
            predicted += len(p)
            t_tp += len(g & p)
            t_fp += len(p - g)
            t_fn += len(g - p)
        tp_precision, tp_recall, tp_f1 = prf_from_counts(t_tp, t_fp, t_fn)
        per_type[t] = {
            "precision": float(tp_precision),
            "recall": float(tp_recall),
            "f1": float(tp_f1),
            "support": support,
            "predicted": predicted,
        }
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "per_type": per_type,
    }


def ner_per_sample(gold_entity_lists, pred_entity_lists):
    """Each sentence's entity F1; 1.0 when gold and prediction are both empty."""
    scores = []
    for gold, pred in zip(gold_entity_lists, pred_entity_lists):
        g = entity_keys(gold)
        p = entity_keys(pred)
        if not g and not p:
            scores.append(1.0)
            continue
        tp = len(g & p)
        _, _, f1 = prf_from_counts(tp, len(p) - tp, len(g) - tp)
        scores.append(float(f1))
    return scores


# ---------------------------------------------------------------------------------------------
# Summarization.


def strip_whitespace(s):
    """The list of characters (code points) of s that are not whitespace by str.isspace()."""
    return [ch for ch in s if not ch.isspace()]


def ngram_counts(chars, n):
    """{n-gram tuple: count} over a character list (empty when the list is shorter than n)."""
    counts = {}
    for i in range(len(chars) - n + 1):
        gram = tuple(chars[i : i + n])
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def clipped_overlap(candidate, reference, n):
    """Sum over candidate n-grams of min(count in candidate, count in reference)."""
    cand = ngram_counts(candidate, n)
    ref = ngram_counts(reference, n)
    total = 0
    for gram, count in cand.items():
        total += min(count, ref.get(gram, 0))
    return total


def ngram_total(chars, n):
    """How many n-grams a character list has."""
    return max(0, len(chars) - n + 1)


def lcs_length(a, b):
    """Length of the longest common subsequence of two lists, by the textbook DP table."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table[len(a)][len(b)]


def rouge_n_pair(candidate, reference, n):
    """(precision, recall, f1) Fractions of ROUGE-n for one pair of character lists."""
    overlap = clipped_overlap(candidate, reference, n)
    precision = ratio(overlap, ngram_total(candidate, n))
    recall = ratio(overlap, ngram_total(reference, n))
    return precision, recall, f1_of(precision, recall)


def rouge_l_pair(candidate, reference):
    """(precision, recall, f1) Fractions of ROUGE-L for one pair of character lists."""
    lcs = lcs_length(candidate, reference)
    precision = ratio(lcs, len(candidate))
    recall = ratio(lcs, len(reference))
    return precision, recall, f1_of(precision, recall)


def averaged(triples):
    """{precision, recall, f1} floats: each component averaged over a list of triples."""
    return {
        "precision": float(mean([t[0] for t in triples])),
        "recall": float(mean([t[1] for t in triples])),
        "f1": float(mean([t[2] for t in triples])),
    }


def corpus_bleu4(candidates, references):
    """Corpus BLEU-4 over lists of character lists, one reference per candidate.

    p_n = (sum of clipped n-gram matches) / (sum of candidate n-grams), n = 1..4; the score is
    BP * exp(mean(log p_n)), BP = exp(1 - r/c) when c <= r else 1; 0 when c = 0 or any p_n = 0
    (including 0/0, when no candidate has n characters).
    """
    c = sum(len(x) for x in candidates)
    r = sum(len(x) for x in references)
    if c == 0:
        return 0.0
    precisions = []
    for n in range(1, 5):
        matches = 0
        total = 0
        for cand, ref in zip(candidates, references):
            matches += clipped_overlap(cand, ref, n)
            total += ngram_total(cand, n)
        p = ratio(matches, total)
        if p == 0:
            return 0.0
        precisions.append(p)
    log_mean = sum(math.log(p) for p in precisions) / 4.0
    if c <= r:
        brevity_penalty = math.exp(1.0 - r / c)
    else:
        brevity_penalty = 1.0
    return brevity_penalty * math.exp(log_mean)


def summarization_metrics(gold_summaries, pred_summaries):
    """Metrics dict (without "task"/"n") for two equally long lists of summary strings."""
    assert len(gold_summaries) == len(pred_summaries)
    refs = [strip_whitespace(s) for s in gold_summaries]
    cands = [strip_whitespace(s) for s in pred_summaries]
    pairs = list(zip(cands, refs))
    return {
        "rouge1": averaged([rouge_n_pair(c, r, 1) for c, r in pairs]),
        "rouge2": averaged([rouge_n_pair(c, r, 2) for c, r in pairs]),
        "rougeL": averaged([rouge_l_pair(c, r) for c, r in pairs]),
        "bleu4": corpus_bleu4(cands, refs),
    }


def summarization_per_sample(gold_summaries, pred_summaries):
    """ROUGE-L F1 of each pair."""
    scores = []
    for g, p in zip(gold_summaries, pred_summaries):
        _, _, f1 = rouge_l_pair(strip_whitespace(p), strip_whitespace(g))
        scores.append(float(f1))
    return scores


# ---------------------------------------------------------------------------------------------
# Records and the CLI.


def read_jsonl(path):
    """The list of JSON objects of a JSON Lines file (blank lines skipped)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                records.append(json.loads(line))
    return records


def evaluate(task, gold_records, pred_records):
    """(metrics dict with "task" and "n" first, per-sample score list) for parsed records."""
    task = TASK_ALIASES[task]
    if len(gold_records) != len(pred_records):
        raise ValueError(
            "%d predictions for %d gold samples" % (len(pred_records), len(gold_records))
        )
    out = {"task": task, "n": len(gold_records)}
    if task == "classification":
        g = [r["label"] for r in gold_records]
        p = [r["label"] for r in pred_records]
        out.update(classification_metrics(g, p))
        per_sample = classification_per_sample(g, p)
    elif task == "ner":
        g = [r["entities"] for r in gold_records]
        p = [r["entities"] for r in pred_records]
        out.update(ner_metrics(g, p))
        per_sample = ner_per_sample(g, p)
    else:
        g = [r["summary"] for r in gold_records]
        p = [r["summary"] for r in pred_records]
        out.update(summarization_metrics(g, p))
        per_sample = summarization_per_sample(g, p)
    return out, per_sample


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, choices=sorted(TASK_ALIASES))
    parser.add_argument("--gold", required=True)
    parser.add_argument("--pred", required=True)
    parser.add_argument("--per-sample", help="write {index, score} lines here")
    args = parser.parse_args(argv)
    metrics, per_sample = evaluate(args.task, read_jsonl(args.gold), read_jsonl(args.pred))
    if args.per_sample:
        with open(args.per_sample, "w", encoding="utf-8") as f:
            for i, score in enumerate(per_sample):
                f.write(json.dumps({"index": i, "score": score}) + "\n")
    print(json.dumps(metrics, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
