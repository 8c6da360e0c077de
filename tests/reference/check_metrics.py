#!/usr/bin/python3
"""Cross-checks `weakdistill eval` against tests/reference/metrics_reference.py.

Usage: check_metrics.py WEAKDISTILL_BINARY [DATA_DIR] [--cases N] [--seed S] [--keep DIR]

(a) Generates random cases for each task with a fixed seed (small alphabets so that n-grams
    repeat, characters outside the BMP, whitespace of several kinds, empty predictions, labels
    only in predictions, entity lists with partial overlaps, ...), runs the binary with --json and
    --per-sample on each, and compares every number with the reference to 1e-9 absolute.
(b) If DATA_DIR has cls/, ner/ and sum/ test files, evaluates realistic predictions built from
    them the same way; prints a SKIP line for each missing file.
Exits 1 with the exact differences and the failing case's files on any mismatch.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import metrics_reference as ref  # noqa: E402

TOLERANCE = 1e-9
TOP_LEVEL_KEYS = {
    "classification": ["task", "n", "accuracy", "macro_f1", "per_label"],
    "ner": ["task", "n", "precision", "recall", "f1", "per_type"],
    "summarization": ["task", "n", "rouge1", "rouge2", "rougeL", "bleu4"],
}

# Small alphabets so that n-grams and LCS matches are frequent. "𠮷" lies outside the BMP (two
# UTF-16 units, four UTF-8 bytes) so code-point offsets and lengths are exercised.
CHARS = list("的是中国人ab1𠮷")
# Python str.isspace() whitespace of several kinds, including ones that are not ASCII.
WHITESPACE = [" ", "\t", "\n", "\r", "\u3000", "\u00a0", "\u2003", "\x1c", "\x85", "\u2028"]
# Looks like whitespace but is not by str.isspace(): must be kept as a character.
NOT_WHITESPACE = ["\u200b", "\ufeff"]
LABELS = ["sports", "财经", "a b", "x"]
PRED_ONLY_LABELS = ["only_pred", "仅预测"]
TYPES = ["PER", "LOC", "ORG", "X"]


# ---------------------------------------------------------------------------------------------
# Random cases.


def random_text(rng, lo, hi, whitespace_rate=0.0):
    """A random string of lo..hi characters from CHARS, with some whitespace mixed in."""
    out = []
    for _ in range(rng.randint(lo, hi)):
        r = rng.random()
        if r < whitespace_rate:
            out.append(rng.choice(WHITESPACE))
        elif r < whitespace_rate + 0.02:
            out.append(rng.choice(NOT_WHITESPACE))
        else:
            out.append(rng.choice(CHARS))
    return "".join(out)


def nonempty_text(rng, lo, hi):
    """A random text for the "text" field, which must not be empty after strip()."""
    while True:
        t = random_text(rng, max(lo, 1), hi, whitespace_rate=0.1)
        if t.strip():
            return t


def gen_classification(rng):
    """(gold records, prediction records) for one random classification case."""
    n = rng.choice([1, 1, 2, 3, 5, 8, 13, 30])
    labels = rng.sample(LABELS, rng.randint(1, len(LABELS)))
    accuracy_bias = rng.choice([0.0, 0.3, 0.7, 1.0])
    gold, pred = [], []
    for _ in range(n):
        text = nonempty_text(rng, 1, 12)
        g = rng.choice(labels)
        r = rng.random()
        if r < accuracy_bias:
            p = g
        elif r < accuracy_bias + 0.15:
            p = rng.choice(PRED_ONLY_LABELS)
        else:
            p = rng.choice(LABELS)
        gold.append({"text": text, "label": g})
        rec = {"label": p}
        if rng.random() < 0.7:
            rec = {"text": text, "label": p}
        pred.append(rec)
    return gold, pred


def random_spans(rng, length, density):
    """Non-overlapping random [start, end) spans with types inside a text of `length` chars."""
    spans = []
    i = 0
    while i < length:
        if rng.random() < density:
            end = min(length, i + rng.randint(1, 4))
            spans.append((i, end, rng.choice(TYPES)))
            i = end + rng.randint(0, 2)
        else:
            i += 1
    return spans


def without_overlaps(rng, spans, length):
    """The spans, in random order, after dropping invalid ones and any that overlaps a kept one."""
    rng.shuffle(spans)
    kept = []
    for s, e, t in spans:
        if not (0 <= s < e <= length):
            continue
        if any(s < ke and ks < e for ks, ke, _ in kept):
            continue
        kept.append((s, e, t))
    return kept


def mutate_spans(rng, gold, length, noise):
    """A prediction from gold spans: some kept, dropped, shifted, resized, retyped, or added."""
    out = []
    for s, e, t in gold:
        r = rng.random()
        if r >= noise:
            out.append((s, e, t))
            continue
        kind = rng.choice(["drop", "shift", "start", "end", "type"])
        if kind == "shift":
            d = rng.choice([-1, 1])
            out.append((s + d, e + d, t))
        elif kind == "start":
            out.append((s + rng.choice([-1, 1]), e, t))
        elif kind == "end":
            out.append((s, e + rng.choice([-1, 1]), t))
        elif kind == "type":
            out.append((s, e, rng.choice([x for x in TYPES if x != t])))
    for s, e, t in random_spans(rng, length, noise * 0.3):
        out.append((s, e, t))
    return without_overlaps(rng, out, length)


def entity_dicts(rng, text, spans):
    """Entity objects for spans over text, with the optional "text" field on some of them."""
    out = []
    for s, e, t in spans:
        d = {"start": s, "end": e, "type": t}
        if rng.random() < 0.4:
            d["text"] = text[s:e]
        out.append(d)
    return out


def gen_ner(rng):
    """(gold records, prediction records) for one random NER case."""
    n = rng.choice([1, 1, 2, 3, 5, 8, 13, 30])
    density = rng.choice([0.0, 0.1, 0.3, 0.6])
    noise = rng.choice([0.0, 0.3, 0.6, 1.0])
    gold, pred = [], []
    for _ in range(n):
        text = nonempty_text(rng, 1, 25)
        length = len(text)
        g_spans = without_overlaps(rng, random_spans(rng, length, density), length)
        r = rng.random()
        if r < 0.1:
            p_spans = []
        elif r < 0.15:
            p_spans = without_overlaps(rng, random_spans(rng, length, 0.4), length)
        else:
            p_spans = mutate_spans(rng, g_spans, length, noise)
        gold.append({"text": text, "entities": entity_dicts(rng, text, g_spans)})
        rec = {"entities": entity_dicts(rng, text, p_spans)}
        if rng.random() < 0.7:
            rec = {"text": text, "entities": rec["entities"]}
        pred.append(rec)
    return gold, pred


def mutate_string(rng, s, rate):
    """s with characters replaced, deleted or inserted at the given rate."""
    out = []
    for ch in s:
        r = rng.random()
        if r < rate / 3:
            out.append(rng.choice(CHARS))
        elif r < 2 * rate / 3:
            pass
        elif r < rate:
            out.append(ch)
            out.append(rng.choice(CHARS + WHITESPACE))
        else:
            out.append(ch)
    return "".join(out)


def candidate_for(rng, reference, style):
    """A candidate summary for a reference, in one of several styles."""
    if style == "empty":
        return ""
    if style == "whitespace":
        return "".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 3)))
    if style == "copy":
        return reference
    if style == "prefix":
        return reference[: rng.randint(0, len(reference))]
    if style == "longer":  # candidate longer than the reference
        return reference + random_text(rng, 1, 8, whitespace_rate=0.1)
    if style == "repeat":  # clipping: the same n-grams several times
        return reference * rng.randint(2, 3)
    if style == "short":  # fewer than 4 characters: no 4-grams
        return random_text(rng, 1, 3)
    if style == "mutate":
        return mutate_string(rng, reference, rng.choice([0.1, 0.3, 0.6]))
    return random_text(rng, 0, 20, whitespace_rate=0.15)


def gen_summarization(rng):
    """(gold records, prediction records) for one random summarization case."""
    n = rng.choice([1, 1, 2, 3, 5, 8, 13, 30])
    styles = ["empty", "whitespace", "copy", "prefix", "longer", "repeat", "short", "mutate",
              "random"]
    # Some cases favour one style so that corpus-level c > r, c < r and all-short corpora occur.
    favourite = rng.choice(styles + ["mixed", "mixed"])
    gold, pred = [], []
    for _ in range(n):
        text = nonempty_text(rng, 1, 10)
        r = rng.random()
        if r < 0.08:  # whitespace-only reference: empty after whitespace removal
            summary = "".join(rng.choice(WHITESPACE) for _ in range(rng.randint(1, 3)))
        elif r < 0.2:
            summary = random_text(rng, 1, 3, whitespace_rate=0.2)
        else:
            summary = random_text(rng, 1, 20, whitespace_rate=0.15)
        if summary == "":
            summary = rng.choice(CHARS)
        style = rng.choice(styles) if favourite == "mixed" or rng.random() < 0.2 else favourite
        gold.append({"text": text, "summary": summary})
        rec = {"summary": candidate_for(rng, summary, style)}
        if rng.random() < 0.7:
            rec = {"text": text, "summary": rec["summary"]}
        pred.append(rec)
    return gold, pred


GENERATORS = {
    "classification": gen_classification,
    "ner": gen_ner,
    "summarization": gen_summarization,
}


# ---------------------------------------------------------------------------------------------
# Running and comparing.


def write_jsonl(path, records, ascii_escapes):
    """Writes records one a line; with ascii_escapes, non-ASCII as \\u escapes (surrogate pairs)."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=ascii_escapes) + "\n")


def compare(path, got, want, diffs):
    """Appends a line to diffs for every difference between two JSON values."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            diffs.append("%s: binary gives %r, reference an object" % (path, got))
            return
        for k in sorted(set(got) | set(want)):
            sub = "%s[%s]" % (path, json.dumps(k, ensure_ascii=False))
            if k not in got:
                diffs.append("%s: missing in binary output (reference %r)" % (sub, want[k]))
            elif k not in want:
                diffs.append("%s: unexpected in binary output (%r)" % (sub, got[k]))
            else:
                compare(sub, got[k], want[k], diffs)
    elif isinstance(want, str):
        if got != want:
            diffs.append("%s: binary %r, reference %r" % (path, got, want))
    elif isinstance(want, (int, float)):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            diffs.append("%s: binary %r is not a number (reference %r)" % (path, got, want))
        elif isinstance(want, int) and not isinstance(got, int):
            diffs.append("%s: binary %r is not an integer (reference %r)" % (path, got, want))
        elif abs(got - want) > TOLERANCE:
            diffs.append("%s: binary %.17g, reference %.17g (diff %.3g)"
                         % (path, got, want, got - want))
    else:
        diffs.append("%s: unexpected reference value %r" % (path, want))


def run_case(binary, workdir, task, gold, pred, ascii_escapes=False):
    """Runs the binary and the reference on one case; returns a list of difference lines."""
    gold_path = os.path.join(workdir, "gold.jsonl")
    pred_path = os.path.join(workdir, "pred.jsonl")
    per_sample_path = os.path.join(workdir, "per_sample.jsonl")
    write_jsonl(gold_path, gold, ascii_escapes)
    write_jsonl(pred_path, pred, ascii_escapes)
    if os.path.exists(per_sample_path):
        os.remove(per_sample_path)
    proc = subprocess.run(
        [binary, "eval", "--task", task, "--gold", gold_path, "--pred", pred_path, "--json",
         "--per-sample", per_sample_path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        return ["binary exited %d: %s" % (proc.returncode,
                                          proc.stderr.decode("utf-8", "replace").strip())]
    diffs = []
    lines = [l for l in proc.stdout.decode("utf-8").splitlines() if l.strip()]
    if len(lines) != 1:
        return ["binary printed %d non-empty lines on stdout, expected 1" % len(lines)]
    got = json.loads(lines[0])
    want, want_per_sample = ref.evaluate(task, gold, pred)
    if list(got)[: len(TOP_LEVEL_KEYS[task])] != TOP_LEVEL_KEYS[task]:
        diffs.append("top-level keys %s, expected %s" % (list(got), TOP_LEVEL_KEYS[task]))
    compare("metrics", got, want, diffs)

    got_per_sample = ref.read_jsonl(per_sample_path)
    if len(got_per_sample) != len(want_per_sample):
        diffs.append("per-sample file has %d lines, expected %d"
                     % (len(got_per_sample), len(want_per_sample)))
    for i, (g, w) in enumerate(zip(got_per_sample, want_per_sample)):
        compare("per_sample[%d]" % i, g, {"index": i, "score": w}, diffs)
    return diffs


def report_failure(label, task, gold, pred, diffs, keep_dir):
    """Prints the differences and the case; saves the case's files under keep_dir."""
    print("FAIL %s (%s): %d difference(s)" % (label, task, len(diffs)))
    for d in diffs[:40]:
        print("  " + d)
    if len(diffs) > 40:
        print("  ... %d more" % (len(diffs) - 40))
    os.makedirs(keep_dir, exist_ok=True)
    safe = label.replace("/", "_").replace(" ", "_")
    for name, records in (("gold", gold), ("pred", pred)):
        path = os.path.join(keep_dir, "%s.%s.jsonl" % (safe, name))
        write_jsonl(path, records, ascii_escapes=False)
    print("  case saved as %s/%s.{gold,pred}.jsonl" % (keep_dir, safe))
    if len(gold) <= 5:
        for g, p in zip(gold, pred):
            print("  gold " + json.dumps(g, ensure_ascii=True))
            print("  pred " + json.dumps(p, ensure_ascii=True))


# ---------------------------------------------------------------------------------------------
# Realistic predictions from the data folder.


def realistic_classification(rng, gold):
    labels = sorted({g["label"] for g in gold})
    pred = []
    for g in gold:
        r = rng.random()
        if r < 0.25:
            label = rng.choice(labels)
        elif r < 0.27:
            label = "unseen_label"
        else:
            label = g["label"]
        pred.append({"text": g["text"], "label": label})
    return pred


def realistic_ner(rng, gold):
    pred = []
    for g in gold:
        length = len(g["text"])
        spans = [(e["start"], e["end"], e["type"]) for e in g["entities"]]
        p_spans = mutate_spans(rng, spans, length, 0.3)
        pred.append({"text": g["text"], "entities": entity_dicts(rng, g["text"], p_spans)})
    return pred


def realistic_summarization(rng, gold):
    return [{"text": g["text"], "summary": g["text"][:20]} for g in gold]


REALISTIC = [
    ("classification", "cls/test.jsonl", realistic_classification),
    ("ner", "ner/test.jsonl", realistic_ner),
    ("summarization", "sum/test.jsonl", realistic_summarization),
]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary")
    parser.add_argument("data_dir", nargs="?")
    parser.add_argument("--cases", type=int, default=150, help="random cases per task")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--keep", help="where to save failing cases (default: a temp dir)")
    args = parser.parse_args(argv)

    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        print("error: %s is not an executable" % binary)
        return 2
    workdir = tempfile.mkdtemp(prefix="weakdistill_check_metrics_")
    keep_dir = args.keep or os.path.join(workdir, "failures")
    failures = 0
    checked = 0
    try:
        for task, generate in GENERATORS.items():
            rng = random.Random("%d/%s" % (args.seed, task))
            task_failures = 0
            for i in range(args.cases):
                gold, pred = generate(rng)
                ascii_escapes = i % 3 == 0
                diffs = run_case(binary, workdir, task, gold, pred, ascii_escapes)
                checked += 1
                if diffs:
                    task_failures += 1
                    if task_failures <= 5:
                        report_failure("random/%s/%d" % (task, i), task, gold, pred, diffs,
                                       keep_dir)
            print("%s %s: %d random cases, %d failed"
                  % ("ok  " if not task_failures else "FAIL", task, args.cases, task_failures))
            failures += task_failures

        for task, rel, build in REALISTIC:
            path = os.path.join(args.data_dir, rel) if args.data_dir else None
            if not path or not os.path.isfile(path):
                print("SKIP %s on real data: %s not found" % (task, path or "(no data dir given)"))
                continue
            gold = ref.read_jsonl(path)
            rng = random.Random("%d/real/%s" % (args.seed, task))
            pred = build(rng, gold)
            diffs = run_case(binary, workdir, task, gold, pred)
            checked += 1
            if diffs:
                failures += 1
                report_failure("real/%s" % task, task, gold, pred, diffs, keep_dir)
            print("%s %s on %s (%d samples)"
                  % ("ok  " if not diffs else "FAIL", task, path, len(gold)))
    finally:
        if failures == 0:
            shutil.rmtree(workdir, ignore_errors=True)

    if failures:
        print("FAILED: %d of %d cases differ from the reference" % (failures, checked))
        return 1
    print("PASSED: %d cases agree with the reference to %g" % (checked, TOLERANCE))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
