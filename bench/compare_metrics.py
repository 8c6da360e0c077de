#!/usr/bin/python3
"""Plain-Python ROUGE-1/2/L and BLEU-4, timed on the pairs metrics_bench uses.

Usage:
  /usr/bin/python3 bench/compare_metrics.py [PAIRS.jsonl] [--repeat N] [--expect SCORES.json]
                                            [--json] [--third-party]

The definitions are weakdistill's (include/weakdistill/eval/summarization_metrics.h),
written the obvious way: characters with whitespace (str.isspace) removed;
ROUGE-N from collections.Counter intersections; ROUGE-L from the textbook
O(|a|*|b|) dynamic-programming LCS; ROUGE P/R/F1 averaged over pairs; corpus
BLEU-4 with uniform weights, no smoothing, brevity penalty exp(1 - r/c) when
c <= r, and 0 when any n-gram precision is 0.

Pairs: PAIRS.jsonl (default $WEAKDISTILL_DATA, else data/sum/test.jsonl);
candidate = first 20 characters of "text", reference = "summary". When the
file does not exist, the same synthetic pairs as bench/metrics_bench.cc.

--expect SCORES.json  the output of `metrics_bench --scores`: exit 1 unless
                      every score agrees within 1e-9 (checked before timing).
--json                print the timings as one JSON object instead of text.
--third-party         also time the `rouge_score` / `rouge` packages if importable.
"""

import argparse
import collections
import json
import math
import os
import sys
import time

CANDIDATE_CHARS = 20
TOLERANCE = 1e-9


# --- the metrics -------------------------------------------------------------

def scoring_chars(text):
    return "".join(c for c in text if not c.isspace())


def lcs_length(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def ngrams(s, n):
    return [s[i:i + n] for i in range(len(s) - n + 1)]


def clipped_ngram_overlap(a, b, n):
    return sum((collections.Counter(ngrams(a, n)) & collections.Counter(ngrams(b, n))).values())


def ngram_count(length, n):
    return length - n + 1 if length >= n else 0


def f1(p, r):
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def prf(overlap, c, r):
    p = overlap / c if c > 0 else 0.0
    rec = overlap / r if r > 0 else 0.0
    return (p, rec, f1(p, rec))


def rouge_n(cand, ref, n):
    return prf(clipped_ngram_overlap(cand, ref, n), ngram_count(len(cand), n),
               ngram_count(len(ref), n))


def rouge_l(cand, ref):
    return prf(lcs_length(cand, ref), len(cand), len(ref))


class BleuStats:
    def __init__(self):
        self.matches = [0.0] * 4
        self.totals = [0.0] * 4
        self.candidate_length = 0.0
        self.reference_length = 0.0

    def add(self, cand, ref):
        for n in range(1, 5):
            self.matches[n - 1] += clipped_ngram_overlap(cand, ref, n)
            self.totals[n - 1] += ngram_count(len(cand), n)
        self.candidate_length += len(cand)
        self.reference_length += len(ref)

    def bleu(self):
        if self.candidate_length == 0:
            return 0.0
        log_sum = 0.0
        for m, t in zip(self.matches, self.totals):
            if m == 0 or t == 0:
                return 0.0
            log_sum += math.log(m / t)
        c, r = self.candidate_length, self.reference_length
        bp = math.exp(1.0 - r / c) if c <= r else 1.0
        return bp * math.exp(log_sum / 4.0)


def summarization_metrics(candidates, references):
    """Returns dict: rouge1/rouge2/rougeL (P, R, F1) averaged over pairs, bleu4 corpus-level."""
    sums = {"rouge1": [0.0] * 3, "rouge2": [0.0] * 3, "rougeL": [0.0] * 3}
    bleu = BleuStats()
    for cand_text, ref_text in zip(candidates, references):
        c = scoring_chars(cand_text)
        r = scoring_chars(ref_text)
        for key, score in (("rouge1", rouge_n(c, r, 1)), ("rouge2", rouge_n(c, r, 2)),
                           ("rougeL", rouge_l(c, r))):
            for k in range(3):
                sums[key][k] += score[k]
        bleu.add(c, r)
    n = len(candidates)
    out = {key: [v / n for v in s] for key, s in sums.items()}
    out["bleu4"] = bleu.bleu()
    return out


# --- the pairs ---------------------------------------------------------------

class Lcg:
    """The generator of bench/metrics_bench.cc, bit for bit."""

    def __init__(self):
        self.state = 0x5EED

    def next(self):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return self.state >> 33


def synthetic_pairs():
    rng = Lcg()
    texts, summaries = [], []
    for _ in range(996):
        text_length = 81 + rng.next() % 52
        text = [chr(0x4E00 + rng.next() % 800) for _ in range(text_length)]
        summary_length = 8 + rng.next() % 17
        summary = []
        while len(summary) < summary_length:
            if rng.next() % 2 == 0:
                start = rng.next() % 36
                run = 2 + rng.next() % 4
                for k in range(run):
                    if len(summary) >= summary_length:
                        break
                    summary.append(text[start + k])
            else:
                summary.append(chr(0x4E00 + rng.next() % 800))
        texts.append("".join(text))
        summaries.append("".join(summary))
    return texts, summaries


def load_pairs(path):
    """Returns (source, texts, summaries)."""
    if not os.path.exists(path):
        print(f"compare_metrics.py: {path} not found; using 996 synthetic Chinese pairs",
              file=sys.stderr)
        return (f"synthetic ({path} not found)",) + synthetic_pairs()
    texts, summaries = [], []
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                texts.append(obj["text"])
                summaries.append(obj["summary"])
    return path, texts, summaries


# --- checking and timing ------------------------------------------------------

def corpus_scores(source, candidates, references, texts):
    m = summarization_metrics(candidates, references)
    chars = [scoring_chars(t) for t in texts]
    n = len(chars)
    text_rouge_l = sum(rouge_l(chars[i], chars[(i + 1) % n])[2] for i in range(n)) / n
    return {"source": source, "pairs": len(candidates), "rouge1_f1": m["rouge1"][2],
            "rouge2_f1": m["rouge2"][2], "rougeL_f1": m["rougeL"][2], "bleu4": m["bleu4"],
            "rougeL_f1_text_pairs": text_rouge_l}


def check(ours, expected_path):
    with open(expected_path) as f:
        theirs = json.loads(f.read())
    ok = True
    print(f"{'score':<22}{'weakdistill (C++)':>22}{'plain Python':>22}{'|diff|':>12}")
    for key in ("rouge1_f1", "rouge2_f1", "rougeL_f1", "bleu4", "rougeL_f1_text_pairs"):
        diff = abs(ours[key] - theirs[key])
        ok &= diff <= TOLERANCE
        print(f"{key:<22}{theirs[key]:>22.15f}{ours[key]:>22.15f}{diff:>12.1e}")
    for key in ("pairs", "source"):
        if ours[key] != theirs[key]:
            print(f"{key} differs: C++ {theirs[key]!r}, Python {ours[key]!r}")
            ok = False
    return ok


def best_seconds(fn, repeat):
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def time_functions(candidates, references, texts, repeat):
    """Pairs per second for each piece, named like metrics_bench's benchmarks."""
    c = [scoring_chars(s) for s in candidates]
    r = [scoring_chars(s) for s in references]
    t = [scoring_chars(s) for s in texts]
    n = len(c)

    def bleu():
        stats = BleuStats()
        for i in range(n):
            stats.add(c[i], r[i])
        return stats.bleu()

    work = {
        "BM_RougeL_Summary": lambda: [rouge_l(c[i], r[i]) for i in range(n)],
        "BM_RougeL_Text": lambda: [rouge_l(t[i], t[(i + 1) % n]) for i in range(n)],
        "BM_Rouge1": lambda: [rouge_n(c[i], r[i], 1) for i in range(n)],
        "BM_Rouge2": lambda: [rouge_n(c[i], r[i], 2) for i in range(n)],
        "BM_Bleu4_Accumulate": bleu,
        "BM_SummarizationMetrics_Corpus": lambda: summarization_metrics(candidates, references),
    }
    return {name: n / best_seconds(fn, repeat) for name, fn in work.items()}


def time_third_party(candidates, references, repeat):
    """ROUGE-1/2/L with the rouge_score or rouge packages, if importable: pairs per second."""
    out = {}
    try:
        from rouge_score import rouge_scorer  # Debian: python3-rouge-score

        class CharTokenizer:  # its default tokenizer keeps only [a-z0-9]: Chinese would score 0
            def tokenize(self, text):
                return list(scoring_chars(text))

        scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"],
                                          tokenizer=CharTokenizer())
        seconds = best_seconds(
            lambda: [scorer.score(ref, cand) for cand, ref in zip(candidates, references)], repeat)
        out["rouge_score (ROUGE-1/2/L)"] = len(candidates) / seconds
    except ImportError:
        pass
    try:
        from rouge import Rouge  # Debian: python3-rouge

        hyps = [" ".join(scoring_chars(s)) for s in candidates]
        refs = [" ".join(scoring_chars(s)) for s in references]
        rouge = Rouge()
        seconds = best_seconds(lambda: rouge.get_scores(hyps, refs), repeat)
        out["rouge (ROUGE-1/2/L)"] = len(candidates) / seconds
    except ImportError:
        pass
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", nargs="?",
                        default=os.environ.get("WEAKDISTILL_DATA") or "data/sum/test.jsonl")
    parser.add_argument("--repeat", type=int, default=7, help="timed repetitions; the best counts")
    parser.add_argument("--expect", help="metrics_bench --scores output to check against")
    parser.add_argument("--json", action="store_true", help="print timings as JSON")
    parser.add_argument("--third-party", action="store_true",
                        help="also time rouge_score / rouge if importable")
    args = parser.parse_args()

    source, texts, summaries = load_pairs(args.pairs)
    candidates = [t[:CANDIDATE_CHARS] for t in texts]

    if args.expect:
        if not check(corpus_scores(source, candidates, summaries, texts), args.expect):
            print(f"FAIL: C++ and Python scores differ by more than {TOLERANCE}", file=sys.stderr)
            return 1
        print(f"OK: all scores agree within {TOLERANCE}")
        return 0

    result = {"source": source, "pairs": len(candidates), "repeat": args.repeat,
              "python": sys.version.split()[0],
              "pairs_per_second": time_functions(candidates, summaries, texts, args.repeat)}
    if args.third_party:
        result["third_party_pairs_per_second"] = time_third_party(candidates, summaries,
                                                                  args.repeat)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['pairs']} pairs from {source}, best of {args.repeat}, "
              f"Python {result['python']}")
        for name, rate in {**result["pairs_per_second"],
                           **result.get("third_party_pairs_per_second", {})}.items():
            print(f"  {name:<34}{rate:>14,.0f} pairs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
