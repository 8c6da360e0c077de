#!/usr/bin/python3
"""Figures and Markdown tables for bench/teacher_efficiency.sh (standard library only).

Usage:
  teacher_efficiency.py reservoir-run RUN_DIR --task T --arm on|off --seed S --per-round N
                        --max-train N --seconds X [--note TEXT]
  teacher_efficiency.py k-run RUN_DIR --k K --seconds X
  teacher_efficiency.py reservoir-table FILE.jsonl
  teacher_efficiency.py k-table FILE.jsonl

The *-run verbs read RUN_DIR/metrics.json and print one JSON line of figures; the
*-table verbs read those lines and print a Markdown table. Checks that fail (the
per-round teacher counts do not add up to the run's totals, a run that did not reach
max_train, a run served from the cache) are printed on stderr and kept in the line's
"warnings", and the tables flag them.
"""

import argparse
import json
import math
import os
import sys

# The test metric each task's table reports, and where it lives in metrics.json "test".
METRICS = {
    "classification": ("accuracy", lambda t: t["accuracy"]),
    "ner": ("entity F1", lambda t: t["f1"]),
    "summarization": ("ROUGE-L F1", lambda t: t["rougeL"]["f1"]),
}


def load_metrics(run_dir):
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
        return json.load(f)


def teacher_sums(metrics, warnings):
    """Sums of the per-round teacher counters, checked against the run's totals."""
    keys = ("requests", "http_requests", "prompt_tokens", "completion_tokens")
    sums = {k: sum(r.get("teacher", {}).get(k, 0) for r in metrics["rounds"]) for k in keys}
    total = metrics.get("teacher", {})
    for k in keys:
        if k in total and total[k] != sums[k]:
            warnings.append(f"sum over rounds of teacher.{k} is {sums[k]}, "
                            f"the run's teacher.{k} is {total[k]}")
    if total.get("cached", 0):
        warnings.append(f"{total['cached']} teacher answers came from the cache")
    return sums


def reservoir_run(args):
    m = load_metrics(args.run_dir)
    warnings = []
    name, get = METRICS[m["task"]]
    rounds = m["rounds"]
    sums = teacher_sums(m, warnings)
    accepted = sum(r.get("accepted", 0) for r in rounds)
    final_size = rounds[-1]["train_size"]
    if m.get("stop_reason") != "max_train" or final_size != args.max_train:
        warnings.append(f"stopped by {m.get('stop_reason')!r} at train size {final_size}, "
                        f"not by max_train at {args.max_train}")
    res = [r.get("reservoir") or {} for r in rounds]
    line = {
        "part": "reservoir", "task": m["task"], "arm": args.arm, "seed": args.seed,
        "per_round": args.per_round, "max_train": args.max_train, "note": args.note,
        "rounds": len(rounds) - 1, "train_size": final_size, "stop_reason": m.get("stop_reason"),
        "accepted": accepted, "teacher_requests": sums["requests"],
        "requests_per_accepted": sums["requests"] / accepted if accepted else None,
        "first_asks": sum(r.get("requested", 0) for r in rounds),
        "reasked": sum(r.get("reasked", 0) or 0 for r in rounds),
        "reservoir_taken": sum(x.get("taken", 0) for x in res),
        "reservoir_dropped": sum(x.get("dropped", 0) for x in res),
        "reservoir_left": res[-1].get("held_after", 0),
        "metric": name, "test": get(m["test"]),
        "test_round0": get(m["test_round0"]) if "test_round0" in m else None,
        "best_round": m.get("best_round"), "seconds": round(args.seconds, 1),
        "run_dir": args.run_dir, "warnings": warnings,
    }
    for w in warnings:
        print(f"teacher_efficiency.py: {args.run_dir}: {w}", file=sys.stderr)
    print(json.dumps(line, ensure_ascii=False))


def k_run(args):
    m = load_metrics(args.run_dir)
    warnings = []
    rounds = m["rounds"]
    sums = teacher_sums(m, warnings)
    accepted = sum(r.get("accepted", 0) for r in rounds)
    per = (lambda x: x / accepted) if accepted else (lambda x: None)
    line = {
        "part": "samples_per_request", "k": args.k, "rounds": len(rounds) - 1,
        "train_size": rounds[-1]["train_size"], "stop_reason": m.get("stop_reason"),
        "accepted": accepted, "requests": sums["requests"], "http_requests": sums["http_requests"],
        "parsed": sum(r.get("parsed", 0) for r in rounds),
        "verified": sum(r.get("verified", 0) for r in rounds),
        "reservoir_taken": sum((r.get("reservoir") or {}).get("taken", 0) for r in rounds),
        "prompt_tokens": sums["prompt_tokens"], "completion_tokens": sums["completion_tokens"],
        "prompt_tokens_per_accepted": per(sums["prompt_tokens"]),
        "completion_tokens_per_accepted": per(sums["completion_tokens"]),
        "tokens_per_accepted": per(sums["prompt_tokens"] + sums["completion_tokens"]),
        "requests_per_accepted": per(sums["requests"]),
        "test_accuracy": m["test"]["accuracy"], "seconds": round(args.seconds, 1),
        "run_dir": args.run_dir, "warnings": warnings,
    }
    for w in warnings:
        print(f"teacher_efficiency.py: {args.run_dir}: {w}", file=sys.stderr)
    print(json.dumps(line, ensure_ascii=False))


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def mean_std(xs):
    """Mean and sample standard deviation (n - 1); std is None for fewer than 2 values."""
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, None
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def fmt_ms(xs, digits=4):
    m, s = mean_std(xs)
    return f"{m:.{digits}f}" if s is None else f"{m:.{digits}f} ± {s:.{digits}f}"


def fmt_range(xs):
    lo, hi = min(xs), max(xs)
    m = sum(xs) / len(xs)
    return f"{m:.3f}" if hi - lo < 5e-4 else f"{m:.3f} ({lo:.3f}–{hi:.3f})"


def reservoir_table(args):
    lines = read_lines(args.file)
    order = [t for t in METRICS if any(x["task"] == t for x in lines)]
    flagged = False
    print("| task (test metric) | per_round → max_train | seeds | requests / accepted, off "
          "| requests / accepted, on | test, off | test, on | on − off (paired) |")
    print("|---|---|---|---|---|---|---|---|")
    for task in order:
        runs = [x for x in lines if x["task"] == task]
        by = {(x["arm"], x["seed"]): x for x in runs}
        seeds = sorted({s for (_, s) in by})
        paired = [s for s in seeds if ("on", s) in by and ("off", s) in by]
        cells = []
        for arm in ("off", "on"):
            xs = [by[(arm, s)] for s in seeds if (arm, s) in by]
            ratio = [x["requests_per_accepted"] for x in xs if x["requests_per_accepted"]]
            cells.append((fmt_range(ratio) if ratio else "–",
                          fmt_ms([x["test"] for x in xs]) if xs else "–"))
        diff = (fmt_ms([by[("on", s)]["test"] - by[("off", s)]["test"] for s in paired])
                if paired else "–")
        mark = ""
        if any(x["warnings"] for x in runs):
            mark, flagged = " ⚠", True
        sizes = {(x["per_round"], x["max_train"]) for x in runs}
        size = ", ".join(f"{p} → {t}" for p, t in sorted(sizes))
        note = next((x["note"] for x in runs if x.get("note")), "")
        name = f"{task}{mark} ({runs[0]['metric']})"
        print(f"| {name} | {size}{' (' + note + ')' if note else ''} | {len(paired)} "
              f"| {cells[0][0]} | {cells[1][0]} | {cells[0][1]} | {cells[1][1]} | {diff} |")
    print()
    print("Requests / accepted: the teacher requests of all rounds over the samples accepted "
          "(pooled over seeds; the range over seeds in brackets when it varies). Test: the best "
          "round's student on the test set, mean ± sample std over seeds; on − off: mean ± std "
          "of the per-seed differences.")
    if flagged:
        print()
        print("⚠ some runs have warnings (see the JSON lines' \"warnings\").")
    print()
    print("| task | arm | seed | rounds | accepted | teacher requests | requests / accepted "
          "| reservoir taken | left in reservoir | test | round 0 test | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for task in order:
        for x in sorted((x for x in lines if x["task"] == task),
                        key=lambda x: (x["seed"], x["arm"])):
            r0 = "–" if x["test_round0"] is None else f"{x['test_round0']:.4f}"
            print(f"| {task} | {x['arm']} | {x['seed']} | {x['rounds']} | {x['accepted']} "
                  f"| {x['teacher_requests']} | {x['requests_per_accepted']:.3f} "
                  f"| {x['reservoir_taken']} | {x['reservoir_left']} | {x['test']:.4f} | {r0} "
                  f"| {x['seconds']:.0f} |")


def k_table(args):
    lines = sorted(read_lines(args.file), key=lambda x: x["k"])
    base = next((x for x in lines if x["k"] == 1), None)
    print("| k | requests | accepted | samples parsed | prompt tokens | completion tokens "
          "| prompt tokens / accepted | (prompt + completion) / accepted | vs k = 1 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for x in lines:
        rel = (f"{x['tokens_per_accepted'] / base['tokens_per_accepted']:.2f}×"
               if base and base["tokens_per_accepted"] and x["tokens_per_accepted"] else "–")
        mark = " ⚠" if x["warnings"] else ""
        print(f"| {x['k']}{mark} | {x['requests']} | {x['accepted']} | {x['parsed']} "
              f"| {x['prompt_tokens']} | {x['completion_tokens']} "
              f"| {x['prompt_tokens_per_accepted']:.1f} | {x['tokens_per_accepted']:.1f} "
              f"| {rel} |")
    print()
    print("Tokens as the fake server counts them: prompt = code points of the messages' "
          "contents (the JSON Schema in response_format is not counted), completion = code "
          "points of the reply's content and reasoning.")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)
    a = sub.add_parser("reservoir-run")
    a.add_argument("run_dir")
    a.add_argument("--task", required=True)
    a.add_argument("--arm", required=True, choices=["on", "off"])
    a.add_argument("--seed", required=True, type=int)
    a.add_argument("--per-round", required=True, type=int)
    a.add_argument("--max-train", required=True, type=int)
    a.add_argument("--seconds", required=True, type=float)
    a.add_argument("--note", default="")
    b = sub.add_parser("k-run")
    b.add_argument("run_dir")
    b.add_argument("--k", required=True, type=int)
    b.add_argument("--seconds", required=True, type=float)
    for verb in ("reservoir-table", "k-table"):
        sub.add_parser(verb).add_argument("file")
    args = p.parse_args()
    {"reservoir-run": reservoir_run, "k-run": k_run,
     "reservoir-table": reservoir_table, "k-table": k_table}[args.verb](args)


if __name__ == "__main__":
    main()
