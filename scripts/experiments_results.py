#!/usr/bin/env python3
"""Writes the "Loop experiments" section of docs/RESULTS.md from scripts/experiments.sh's runs.

    experiments_results.py OUT_DIR RESULTS_MD FIGURES_DIR

Replaces what lies between the BEGIN/END experiments.sh markers (appends the section when the
markers are missing). Every number comes from OUT_DIR's metrics.json and compare.json files; the
"agrees with the paper?" verdicts are computed from them by the rules written next to each one.
"""
import datetime
import json
import os
import statistics
import sys

BEGIN = "<!-- BEGIN experiments.sh: generated, do not edit by hand -->"
END = "<!-- END experiments.sh -->"

METRICS = {
    "classification": [("accuracy", "accuracy", ("accuracy",))],
    "ner": [("precision", "P", ("precision",)), ("recall", "R", ("recall",)), ("f1", "F1", ("f1",))],
    "summarization": [("rouge1_f1", "R-1", ("rouge1", "f1")), ("rouge2_f1", "R-2", ("rouge2", "f1")),
                      ("rougeL_f1", "R-L", ("rougeL", "f1")), ("bleu4", "BLEU-4", ("bleu4",))],
}

CURVES = [
    # (figure, task, runs, what the paper shows)
    ("Figure 1 (classification, from 20 titles a label)", "classification",
     ["cls-pool", "cls-augment"], "accuracy rises fast, then flattens"),
    ("Figure 2 (NER, from 3 sentences)", "ner", ["ner3-pool", "ner3-augment"],
     "recall up a lot, precision down a little, F1 up"),
    ("Figure 2 (NER, from 100 sentences)", "ner", ["ner100-pool", "ner100-augment"],
     "recall up a lot, precision down a little, F1 up"),
    ("Figure 3 (summarization, from 200 pairs)", "summarization", ["sum-pool", "sum-augment"],
     "ROUGE-1/2/L and BLEU-4 all rise"),
]

COMPARES = [
    ("cls-pool", "cls-augment"), ("ner-pool", "ner-augment"), ("sum-pool", "sum-augment"),
]
PAPER_FIG4 = {"classification": "human-labeled better", "ner": "about equal",
              "summarization": "distilled better"}


def value(ev, path):
    for k in path:
        ev = ev[k]
    return ev


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def curve_verdict(task, rounds):
    """Whether the run shows the paper's shape, judged on test, round 0 against the last round."""
    first, last = rounds[0]["test"], rounds[-1]["test"]
    d = {col: value(last, p) - value(first, p) for col, _, p in METRICS[task]}
    pts = lambda x: f"{100 * x:+.1f}"
    if task == "classification":
        # "Rises fast, then flattens": up overall, and the first half of the rounds gains more
        # than the second half.
        acc = [value(r["test"], ("accuracy",)) for r in rounds]
        mid = len(acc) // 2
        early, late = acc[mid] - acc[0], acc[-1] - acc[mid]
        ok = d["accuracy"] > 0 and early > late
        return ok, (f"accuracy {pts(d['accuracy'])} points; first half of the rounds "
                    f"{pts(early)}, second half {pts(late)}")
    if task == "ner":
        # Recall up, F1 up, precision down by less than recall rose ("a little").
        ok = d["recall"] > 0 and d["f1"] > 0 and d["precision"] <= 0 and -d["precision"] < d["recall"]
        return ok, (f"P {pts(d['precision'])}, R {pts(d['recall'])}, F1 {pts(d['f1'])} points")
    ok = all(v > 0 for v in d.values())
    return ok, ", ".join(f"{lab} {pts(d[col])}" for col, lab, _ in METRICS[task]) + " points"


def fig4_verdict(task, summary, seeds):
    """The paper's Figure 4 claim for the task, against our mean paired difference and its sd."""
    head = {"classification": "accuracy", "ner": "f1", "summarization": "rougeL_f1"}[task]
    diff = summary[head]["difference"]
    mean, sd = diff["mean"], diff["sd"] or 0.0
    # "About equal": within one point or within one sd of the paired difference.
    equal = abs(mean) <= max(0.01, sd)
    ours = "about equal" if equal else ("distilled better" if mean > 0 else "human-labeled better")
    return ours == PAPER_FIG4[task], ours, head, mean, sd


def fmt(x):
    return f"{x:.4f}"


def main():
    out, results_md, figures = sys.argv[1], sys.argv[2], sys.argv[3]
    rel_fig = os.path.relpath(figures, os.path.dirname(results_md))
    L = []
    w = L.append
    w(BEGIN)
    w("## Loop experiments: the paper's figures on our data (issue [6/8])")
    w("")
    w("Produced by `scripts/experiments.sh` (runs in `runs/experiments/`, figures in "
      "`docs/figures/`, this section rewritten by `scripts/experiments_results.py`); "
      f"generated {datetime.date.today().isoformat()}. Both teachers are offline: **pool** is "
      "SIMULATED (it answers each request with the unused training sample nearest to the seed, "
      "i.e. real human labels chosen where the student is weak), **augment** is classic "
      "augmentation of the seed (character edits, mention replacement, sentence deletion). "
      "Neither is an LLM, so these runs test the loop's machinery and the shape of the curves, "
      "not what Qwen2-72B would give. Students are the defaults (fasttext, bigru-crf, "
      "pointer-generator), one thread, seed 1; every round's student is scored on the test "
      "split (`distill.test_each_round=on`, never read by the loop) and no run stops early "
      "(`distill.patience=100`).")
    w("")
    for title, task, runs, claim in CURVES:
        present = [r for r in runs if os.path.exists(f"{out}/{r}/metrics.json")]
        if not present:
            continue
        w(f"### {title}")
        w("")
        w(f"The paper: {claim}.")
        w("")
        for r in present:
            fig = f"{rel_fig}/{r}.svg"
            if os.path.exists(os.path.join(figures, f"{r}.svg")):
                w(f"![{r}]({fig})")
                w("")
        cols = METRICS[task]
        w("| run | round | train size | accepted | " + " | ".join(f"test {lab}" for _, lab, _ in cols)
          + " | dev " + cols[-1 if task == "ner" else (2 if task == "summarization" else 0)][1] + " |")
        w("|---|---:|---:|---:|" + "---:|" * len(cols) + "---:|")
        verdicts = []
        for r in present:
            m = load(f"{out}/{r}/metrics.json")
            rounds = m["rounds"]
            for rd in rounds:
                w(f"| {r} | {rd['round']} | {rd['train_size']} | {rd['accepted']} | "
                  + " | ".join(fmt(value(rd["test"], p)) for _, _, p in cols)
                  + f" | {fmt(rd['dev_e'])} |")
            ok, why = curve_verdict(task, rounds)
            secs = sum(rd.get("seconds", 0) for rd in rounds)
            rej = {}
            for rd in rounds:
                for k, n in rd.get("rejected", {}).items():
                    rej[k] = rej.get(k, 0) + n
            # Dev far above test at the end, but not at round 0: samples written after dev
            # samples carry dev's labels into training (distill.seed_from, docs/CONFIG.md).
            head = {"classification": ("accuracy",), "ner": ("f1",),
                    "summarization": ("rougeL", "f1")}[task]
            gap0 = rounds[0]["dev_e"] - value(rounds[0]["test"], head)
            gap = rounds[-1]["dev_e"] - value(rounds[-1]["test"], head)
            leak = (f" Dev ends {100 * gap:.1f} points above test (round 0: {100 * gap0:.1f}): "
                    "samples imitating dev samples carry dev's labels into training "
                    "(`distill.seed_from: train_dev`), so dev is optimistic here and test is the "
                    "figure to read." if gap - gap0 > 0.10 else "")
            verdicts.append(
                f"- **{r}**: {why}, round 0 to round {rounds[-1]['round']}: "
                + ("**agrees** with the paper's shape." if ok else "**differs** from the paper's shape.")
                + f" {sum(rd['requested'] for rd in rounds)} requests, "
                f"{sum(rd['accepted'] for rd in rounds)} accepted; rejected: "
                + (", ".join(f"{k} {n}" for k, n in sorted(rej.items())) or "none")
                + f"; {secs / 60:.1f} min." + leak)
        w("")
        w("Command: `weakdistill run " + {"classification": "examples/cls-offline.yaml",
                                         "ner": "examples/ner-offline.yaml",
                                         "summarization": "examples/sum-offline.yaml"}[task]
          + " --set teacher.kind=<pool|augment> distill.test_each_round=on distill.patience=100 ...`"
          " (the exact keys are in `scripts/experiments.sh`, `curve_args`).")
        w("")
        L.extend(verdicts)
        w("")

    w("### Figure 4: human-labeled against distilled at an equal size")
    w("")
    w("`weakdistill compare CONFIG --size N --seeds K`: for each seed, the loop runs from the few "
      "labels until its training set holds N (`distill.max_train`; its last round's student), and "
      "the same student trains on the same few labels plus N − k samples drawn at random from the "
      "rest of train. Both are scored on test. With the **pool** teacher the distilled arm is "
      "itself human-labeled, only chosen by weakness: the comparison is then weakness-guided "
      "selection against random selection of human labels. With **augment**, it is augmented "
      "copies against new human labels. Paper: ner about equal at 100, classification "
      "human-labeled better at 7,200, summarization distilled better at 1,500.")
    w("")
    rows = []
    for names in COMPARES:
        for name in names:
            p = f"{out}/compare-{name}/compare.json"
            if not os.path.exists(p):
                continue
            m = load(p)
            task = m["task"]
            ok, ours, head, mean, sd = fig4_verdict(task, m["summary"], m["seeds"])
            if os.path.exists(os.path.join(figures, f"compare-{name}.svg")):
                w(f"![compare-{name}]({rel_fig}/compare-{name}.svg)")
                w("")
            s = m["summary"][head]
            short = [r["distilled"]["size"] for r in m["results"] if r["distilled"]["size"] < m["size"]]
            rows.append(
                f"| {name} | {m['size']} | {m['seeds']} | {head} | "
                f"{fmt(s['labeled']['mean'])} ± {fmt(s['labeled']['sd'] or 0)} | "
                f"{fmt(s['distilled']['mean'])} ± {fmt(s['distilled']['sd'] or 0)} | "
                f"{100 * mean:+.2f} ± {100 * sd:.2f} | {s['distilled_better']} of {m['seeds']} | "
                f"{ours} | {PAPER_FIG4[task]} | {'agrees' if ok else '**differs**'}"
                + (f" (loop reached only {', '.join(map(str, short))})" if short else "") + " |")
    if rows:
        w("| comparison | N | seeds | metric | human-labeled | distilled | distilled − labeled "
          "(points) | seeds distilled better | ours | paper | |")
        w("|---|---:|---:|---|---:|---:|---:|---:|---|---|---|")
        L.extend(rows)
        w("")
        w("Commands: `weakdistill compare examples/<task>-offline.yaml --size N --seeds K --set "
          "teacher.kind=<pool|augment> ...` (exact keys in `scripts/experiments.sh`, "
          "`compare_args`); each folder's `compare.md` has every seed and metric.")
        w("")
    missing = [n for names in COMPARES for n in names
               if not os.path.exists(f"{out}/compare-{n}/compare.json")]
    if missing:
        w("Not run: " + ", ".join(missing) + " (`scripts/experiments.sh -c` lists the comparisons; "
          "its usage says why sum-augment is left out by default).")
        w("")
    w(END)

    text = open(results_md, encoding="utf-8").read() if os.path.exists(results_md) else "# Results\n"
    section = "\n".join(L) + "\n"
    if BEGIN in text and END in text:
        before = text[: text.index(BEGIN)]
        after = text[text.index(END) + len(END):].lstrip("\n")
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = results_md + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, results_md)
    print(results_md)


if __name__ == "__main__":
    main()
