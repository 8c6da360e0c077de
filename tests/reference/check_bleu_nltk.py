#!/usr/bin/python3
"""Cross-checks the corpus BLEU-4 of `weakdistill eval` against NLTK's corpus_bleu.

Usage: /usr/bin/python3 check_bleu_nltk.py WEAKDISTILL_BINARY [DATA_DIR] [--corpora N] [--seed S]

Needs NLTK (Debian package python3-nltk, installed by scripts/setup.sh) for /usr/bin/python3.
Each candidate and reference is a list of characters with whitespace (str.isspace) removed, one
reference per candidate; NLTK runs with its default weights (0.25 each) and no smoothing.
Random character-level corpora cover c > r, c < r and c = r (c, r: total candidate and reference
lengths) and corpora without any matching 4-gram; if DATA_DIR/sum/test.jsonl exists, the LCSTS
test set is scored with the first 20 characters of each text as the candidate. The binary's
"bleu4" (and tests/reference/metrics_reference.py's) must equal NLTK's to 1e-9.

One known difference is kept out of the corpora on purpose: NLTK's modified_precision divides by
max(1, number of candidate n-grams) per sentence, so a candidate shorter than n characters adds 1
to NLTK's corpus denominator for that n, while weakdistill (and the usual definition) sums the
true n-gram counts. Every candidate here therefore has at least 4 characters.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metrics_reference as ref  # noqa: E402

TOLERANCE = 1e-9
CHARS = list("的是中国人ab1𠮷")
WHITESPACE = [" ", "\t", "\u3000", "\u00a0", "\n"]


def import_corpus_bleu():
    """NLTK's corpus_bleu, or exits 1 with what to install."""
    try:
        from nltk.translate.bleu_score import corpus_bleu
    except ImportError as e:
        print("FAIL: cannot import nltk.translate.bleu_score for %s (%s). Install the Debian "
              "package python3-nltk (scripts/setup.sh does: apt-get install python3-nltk)."
              % (sys.executable, e))
        sys.exit(1)
    return corpus_bleu


def nltk_bleu(corpus_bleu, candidates, references):
    """NLTK corpus BLEU with default weights, no smoothing, over character lists."""
    with warnings.catch_warnings():
        # Zero n-gram matches make NLTK warn (and score ~1e-77); deprecation notices are noise.
        warnings.simplefilter("ignore")
        return float(corpus_bleu([[r] for r in references], candidates))


def random_string(rng, lo, hi, whitespace_rate=0.1):
    return "".join(rng.choice(WHITESPACE) if rng.random() < whitespace_rate else rng.choice(CHARS)
                   for _ in range(rng.randint(lo, hi)))


def candidate_of(rng, reference, length_bias):
    """A candidate with at least 4 non-whitespace characters, longer or shorter than reference."""
    while True:
        kind = rng.choice(["copy", "mutate", "random", "repeat"])
        if kind == "copy":
            s = reference
        elif kind == "mutate":
            s = "".join(ch if rng.random() > 0.3 else rng.choice(CHARS) for ch in reference)
        elif kind == "repeat":
            s = reference * 2
        else:
            s = random_string(rng, 4, 20)
        if length_bias == "long":
            s += random_string(rng, 0, 10)
        elif length_bias == "short":
            s = s[: max(4, len(s) // 2)]
        if len(ref.strip_whitespace(s)) >= 4:
            return s


def random_corpus(rng):
    """(gold summaries, candidate summaries) of one random corpus."""
    n = rng.choice([1, 2, 3, 5, 10, 40])
    length_bias = rng.choice(["long", "short", "none"])
    gold, cand = [], []
    for _ in range(n):
        if rng.random() < 0.05:
            g = rng.choice(WHITESPACE)  # empty after whitespace removal
        else:
            g = random_string(rng, 1, 25)
            if not g:
                g = rng.choice(CHARS)
        gold.append(g)
        cand.append(candidate_of(rng, g, length_bias))
    return gold, cand


def binary_bleu(binary, workdir, gold_summaries, cand_summaries):
    """The binary's "bleu4" for these summaries (texts are placeholders)."""
    gold_path = os.path.join(workdir, "gold.jsonl")
    pred_path = os.path.join(workdir, "pred.jsonl")
    with open(gold_path, "w", encoding="utf-8") as g, open(pred_path, "w", encoding="utf-8") as p:
        for gs, cs in zip(gold_summaries, cand_summaries):
            g.write(json.dumps({"text": "t", "summary": gs}, ensure_ascii=False) + "\n")
            p.write(json.dumps({"text": "t", "summary": cs}, ensure_ascii=False) + "\n")
    proc = subprocess.run([binary, "eval", "--task", "summarization", "--gold", gold_path,
                           "--pred", pred_path, "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError("binary exited %d: %s"
                           % (proc.returncode, proc.stderr.decode("utf-8", "replace").strip()))
    return json.loads(proc.stdout)["bleu4"]


def check(label, corpus_bleu, binary, workdir, gold, cand, stats):
    """Compares binary, reference and NLTK on one corpus; returns a failure message or None."""
    refs = [ref.strip_whitespace(s) for s in gold]
    cands = [ref.strip_whitespace(s) for s in cand]
    c = sum(len(x) for x in cands)
    r = sum(len(x) for x in refs)
    stats["c>r" if c > r else "c<r" if c < r else "c=r"] += 1
    want = nltk_bleu(corpus_bleu, cands, refs)
    stats["zero" if want < 1e-60 else "nonzero"] += 1
    got = binary_bleu(binary, workdir, gold, cand)
    reference = ref.corpus_bleu4(cands, refs)
    problems = []
    if abs(got - want) > TOLERANCE:
        problems.append("binary %.17g vs NLTK %.17g" % (got, want))
    if abs(reference - want) > TOLERANCE:
        problems.append("metrics_reference %.17g vs NLTK %.17g" % (reference, want))
    if not problems:
        return None
    lines = ["FAIL %s (n=%d, c=%d, r=%d): %s" % (label, len(gold), c, r, "; ".join(problems))]
    if len(gold) <= 5:
        for g, p in zip(gold, cand):
            lines.append("  reference %s candidate %s" % (json.dumps(g), json.dumps(p)))
    return "\n".join(lines)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary")
    parser.add_argument("data_dir", nargs="?")
    parser.add_argument("--corpora", type=int, default=200, help="random corpora")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args(argv)
    corpus_bleu = import_corpus_bleu()
    binary = os.path.abspath(args.binary)

    failures = []
    stats = {"c>r": 0, "c<r": 0, "c=r": 0, "zero": 0, "nonzero": 0}
    with tempfile.TemporaryDirectory(prefix="weakdistill_bleu_nltk_") as workdir:
        rng = random.Random(args.seed)
        for i in range(args.corpora):
            gold, cand = random_corpus(rng)
            failure = check("random/%d" % i, corpus_bleu, binary, workdir, gold, cand, stats)
            if failure:
                failures.append(failure)
        print("%s %d random corpora (c>r %d, c<r %d, c=r %d; BLEU 0 in %d)"
              % ("ok  " if not failures else "FAIL", args.corpora, stats["c>r"], stats["c<r"],
                 stats["c=r"], stats["zero"]))

        path = os.path.join(args.data_dir, "sum", "test.jsonl") if args.data_dir else None
        if not path or not os.path.isfile(path):
            print("SKIP LCSTS: %s not found" % (path or "(no data dir given)"))
        else:
            records = ref.read_jsonl(path)
            gold = [r["summary"] for r in records]
            cand = [r["text"][:20] for r in records]
            kept = [(g, c) for g, c in zip(gold, cand) if len(ref.strip_whitespace(c)) >= 4]
            dropped = len(gold) - len(kept)
            failure = check("LCSTS", corpus_bleu, binary, workdir, [k[0] for k in kept],
                            [k[1] for k in kept], stats)
            if failure:
                failures.append(failure)
            print("%s LCSTS %s: %d pairs (%d with candidates under 4 characters left out)"
                  % ("ok  " if not failure else "FAIL", path, len(kept), dropped))

    for f in failures[:20]:
        print(f)
    if failures:
        print("FAILED: %d corpora differ from NLTK" % len(failures))
        return 1
    print("PASSED: bleu4 agrees with NLTK corpus_bleu to %g" % TOLERANCE)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
