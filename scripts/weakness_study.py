#!/usr/bin/env python3
"""Summary of the weakness study (scripts/weakness_study.sh): how the teacher's seeds are chosen.

Reads every run folder OUT/<task>/<arm>-s<seed> that has metrics.json (so a later call, e.g.
for another task, summarises everything done so far), and writes
  OUT/weakness_study.md           (also printed): per task a table, one row per arm, the
                                  targets block and the consistency problems
  OUT/weakness_study.csv          one line per run
  OUT/weakness_study_summary.csv  one line per task x arm
Exit code 1 if a consistency check found a problem (they are listed at the end of the md).

  scripts/weakness_study.py --out runs/weakness-study [--bin build/weakdistill]
      [--cmdline "scripts/weakness_study.sh ..."] [--elapsed SECONDS]
      [--selection cls:one_shot,uniform:1,2,3 ...]

--selection names the runs the driver was asked for (task:arms:seeds); a missing one is a
problem. Python 3 standard library only.
"""
import argparse
import csv
import datetime
import json
import math
import os
import statistics
import subprocess
import sys

TASKS = ["cls", "ner", "sum"]
ARMS = ["one_shot", "uniform", "weak_in", "weak_cv", "weak_cv_full", "weak_cv_label",
        "weak_in_label", "weak_cv_soft", "paper", "random_pool"]
TASK_INFO = {
    "cls": {"config": "examples/cls-offline.yaml", "metric": ("accuracy",),
            "name": "test accuracy", "student": "fastText, 20 titles a label"},
    "ner": {"config": "examples/ner-offline.yaml", "metric": ("f1",),
            "name": "test entity F1 (micro)", "student": "bigru-crf, 100 sentences"},
    "sum": {"config": "examples/sum-offline.yaml", "metric": ("rougeL", "f1"),
            "name": "test ROUGE-L F1", "student": "pointer-generator, 200 pairs"},
}
ARM_DESC = {
    "one_shot": "all requests in round 1 from uniform seeds, one training",
    "uniform": "iterative, uniform seeds",
    "weak_in": "weakness, in-sample h",
    "weak_cv": "weakness, cross-validated h",
    "weak_cv_full": "weakness, cross-validated h, fold students trained as the round's student",
    "weak_cv_label": "weakness cv, per-label allocation",
    "weak_in_label": "weakness in-sample, per-label allocation",
    "weak_cv_soft": "weakness cv, soft h (probability of the gold label)",
    "paper": "weakness in-sample, seeds from train ∪ dev (the paper's C_label; dev optimistic)",
    "random_pool": "pool teacher returns random held-out samples (active-learning-style)",
}
# Targets (points = metric x 100). Which tasks each applies to.
TARGET_VS_ONE_SHOT = (3.0, {"cls", "ner"})
TARGET_VS_UNIFORM = (2.0, {"cls"})
TARGET_GAP = 1.5
SEED_KEYS = ("data.few_shot.seed", "distill.seed")


def metric(obj, path):
    for k in path:
        obj = obj[k]
    return float(obj)


def mean_sd(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return float("nan"), float("nan")
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else float("nan"))


def fnum(x, digits=4, sign=False):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def read_run(out, task, arm, seed, problems):
    d = f"{out}/{task}/{arm}-s{seed}"
    m = json.load(open(f"{d}/metrics.json"))
    args = {}
    if os.path.exists(f"{d}/args.json"):
        args = json.load(open(f"{d}/args.json"))
    else:
        problems.append(f"{d}: no args.json (not made by weakness_study.sh?)")
    sets = dict(kv.split("=", 1) for kv in args.get("common", []) + args.get("arm", []))
    path = TASK_INFO[task]["metric"]
    rounds = m["rounds"]
    best = m["best_round"]
    if "test" not in m or "test_round0" not in m:
        problems.append(f"{d}: metrics.json has no test (data.test missing?)")
        return None
    try:
        test = metric(m["test"], path)
        test0 = metric(m["test_round0"], path)
        dev_best = metric(rounds[best]["dev"], path)
    except (KeyError, TypeError, IndexError) as e:
        problems.append(f"{d}: metric {'.'.join(path)} not found in metrics.json ({e!r})")
        return None
    funnel = {k: sum(r.get(k, 0) for r in rounds)
              for k in ("requested", "parsed", "verified", "diverse", "accepted")}
    cv = [r["weakness"]["cv_seconds"] for r in rounds
          if isinstance(r.get("weakness"), dict) and "cv_seconds" in r["weakness"]]
    wall = None
    if os.path.exists(f"{d}/wall_seconds.txt"):
        try:
            wall = float(open(f"{d}/wall_seconds.txt").read().strip())
        except ValueError:
            problems.append(f"{d}: wall_seconds.txt unreadable")

    # Consistency checks on what the loop wrote.
    for r in rounds:
        if not (r["requested"] + r.get("reasked", 0) >= r["parsed"] >= r["verified"]
                >= r["diverse"] >= r["accepted"]):
            problems.append(f"{d} round {r['round']}: funnel not monotone "
                            f"({r['requested']}+{r.get('reasked', 0)} → {r['parsed']} → "
                            f"{r['verified']} → {r['diverse']} → {r['accepted']})")
        if r["round"] > 0 and "rejected" in r and \
                r["requested"] + r.get("reasked", 0) - r["accepted"] != sum(r["rejected"].values()):
            problems.append(f"{d} round {r['round']}: rejected reasons do not add up "
                            f"({r['requested']} requested, {r['accepted']} accepted, "
                            f"rejected {r['rejected']})")
    if rounds[-1]["train_size"] != rounds[0]["train_size"] + funnel["accepted"]:
        problems.append(f"{d}: final train_size {rounds[-1]['train_size']} != round-0 size "
                        f"{rounds[0]['train_size']} + accepted {funnel['accepted']}")
    treq = m.get("teacher", {}).get("requests")
    if treq is not None and treq != funnel["requested"] + sum(r.get("reasked", 0) for r in rounds):
        problems.append(f"{d}: teacher.requests {treq} != sum of rounds' requested "
                        f"{funnel['requested']} (+ re-asks)")
    R = sets.get("distill.max_rounds")
    one_shot = sets.get("distill.schedule") == "one_shot"
    if R is not None:
        want = 2 if one_shot else int(R) + 1
        if len(rounds) != want:
            problems.append(f"{d}: {len(rounds)} rounds (0..{len(rounds) - 1}), expected {want} "
                            f"(stop_reason {m.get('stop_reason')})")
    want_stop = "one_shot" if one_shot else "max_rounds"
    if m.get("stop_reason") != want_stop:
        problems.append(f"{d}: stop_reason {m.get('stop_reason')}, expected {want_stop}")
    # Did the arm's keys take effect? (what each round's metrics.json says)
    # An arm with uniform seeds leaves distill.weakness to the binary's default (cv under
    # protocol clean since [4/6]): its draw does not read h, so only what an arm sets is checked.
    want_w = {"allocation": sets.get("distill.allocation", "global"),
              "schedule": sets.get("distill.schedule", "iterative")}
    if "distill.weakness" in sets:
        want_w["method"] = sets["distill.weakness"]
    for r in rounds[1:]:
        w = r.get("weakness", {})
        for k, v in want_w.items():
            if k in w and w[k] != v:
                problems.append(f"{d} round {r['round']}: weakness.{k} is {w[k]}, the arm sets {v}")
    optimistic = any(r.get("dev_optimistic") for r in rounds) or bool(m.get("dev_optimistic"))
    if optimistic != (sets.get("distill.seed_from", "train_dev") == "train_dev") and sets:
        problems.append(f"{d}: dev_optimistic is {optimistic} with distill.seed_from="
                        f"{sets.get('distill.seed_from', 'train_dev')}")
    return {
        "task": task, "arm": arm, "seed": int(seed),
        "metric": ".".join(path),
        "test": test,
        "dev_at_best": dev_best,
        "gap_dev_minus_test": dev_best - test,
        "best_round": best,
        "rounds": len(rounds) - 1,
        "stop_reason": m.get("stop_reason", ""),
        "total_requested": funnel["requested"],
        "teacher_requests": treq if treq is not None else "",
        "total_accepted": funnel["accepted"],
        "final_train_size": rounds[-1]["train_size"],
        "wall_seconds": wall if wall is not None else "",
        "cv_seconds": round(sum(cv), 3) if cv else "",
        "test_round0": test0,
        "_common": tuple(kv for kv in args.get("common", []) if kv.split("=", 1)[0] not in SEED_KEYS),
        "_arm": tuple(args.get("arm", [])),
        "_config": args.get("config", ""),
        "_R": R,
    }


def find_runs(out):
    found = []
    for task in TASKS:
        td = f"{out}/{task}"
        if not os.path.isdir(td):
            continue
        for name in os.listdir(td):
            p = f"{td}/{name}"
            if not os.path.isdir(p) or not os.path.exists(f"{p}/metrics.json") or "-s" not in name:
                continue
            arm, seed = name.rsplit("-s", 1)
            if arm in ARMS and seed.isdigit():
                found.append((task, arm, int(seed)))
    return sorted(found, key=lambda x: (TASKS.index(x[0]), ARMS.index(x[1]), x[2]))


def task_cv_keys(runs):
    """The distill.cv_student.* keys the runs of an arm were made with."""
    keys = set()
    for r in runs.values():
        keys |= {kv for kv in r["_arm"] if kv.startswith("distill.cv_student.")}
    return " ".join(sorted(keys)) or "none"


def paired(by_seed, arm, ref):
    a, b = by_seed.get(arm, {}), by_seed.get(ref, {})
    seeds = sorted(set(a) & set(b))
    diffs = [(a[s]["test"] - b[s]["test"]) * 100 for s in seeds]
    better = sum(x > 1e-9 for x in diffs)
    mean, sd = mean_sd(diffs)
    return {"mean": mean, "sd": sd, "better": better, "n": len(diffs)}


def diff_cell(p):
    if p["n"] == 0:
        return "—", "—"
    return f"{fnum(p['mean'], 2, True)} ± {fnum(p['sd'], 2)}", f"{p['better']}/{p['n']}"


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        n = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    except OSError:
        n = str(os.cpu_count())
    return n, cpu


def version(binary):
    if not binary:
        return "?"
    try:
        r = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
        return (r.stdout or r.stderr).strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def spread_fact(p):
    if p["n"] < 2 or math.isnan(p["sd"]):
        return f"spread n/a ({p['n']} seed(s))"
    exceeds = abs(p["mean"]) > p["sd"]
    return (f"spread (std of the paired differences) {p['sd']:.2f} points; "
            f"|mean difference| exceeds it: {'yes' if exceeds else 'no'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/weakness-study")
    ap.add_argument("--bin", default="")
    ap.add_argument("--cmdline", default="")
    ap.add_argument("--elapsed", type=float, default=None)
    ap.add_argument("--selection", nargs="*", default=[])
    a = ap.parse_args()
    out = a.out

    problems = []
    # Runs the driver was asked for and did not produce.
    for sel in a.selection:
        task, arms, seeds = sel.split(":")
        for arm in filter(None, arms.split(",")):
            for s in filter(None, seeds.split(",")):
                if not os.path.exists(f"{out}/{task}/{arm}-s{s}/metrics.json"):
                    problems.append(f"{out}/{task}/{arm}-s{s}: missing (no metrics.json: the run failed "
                                    f"or was not made)")
    failed_log = f"{out}/.failed-runs"
    if os.path.exists(failed_log):
        for line in open(failed_log):
            if line.strip():
                problems.append(f"run failed: {line.strip()} (log: folder name + .log)")

    rows = []
    for task, arm, seed in find_runs(out):
        r = read_run(out, task, arm, seed, problems)
        if r:
            rows.append(r)
    if not rows:
        print(f"no finished runs under {out}", file=sys.stderr)
        return 1

    cols = [k for k in rows[0] if not k.startswith("_")]
    with open(f"{out}/weakness_study.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()})

    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    nproc, cpu = machine()
    walls = [r["wall_seconds"] for r in rows if r["wall_seconds"] != ""]
    L = []
    L.append(f"# Weakness study: how the teacher's seeds are chosen ({now})\n")
    L.append(f"- command: `{a.cmdline or 'scripts/weakness_study.sh'}` (this summary covers every "
             f"finished run folder under `{out}`)")
    L.append(f"- binary: `{a.bin}` — `{version(a.bin)}`")
    L.append(f"- date: {now}; machine: {nproc} cores (nproc), {cpu or '?'}; load average now "
             f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    el = f"{a.elapsed:.0f} s elapsed for this invocation" if a.elapsed is not None else "elapsed n/a"
    L.append(f"- total wall time: {sum(walls):.0f} s summed over {len(walls)} timed runs "
             f"({sum(walls) / 3600:.2f} h); {el}\n")
    L.append("Every arm of a task runs the task's example config with `distill.reservoir=off "
             "distill.patience=100 distill.max_rounds=R data.few_shot.seed=S distill.seed=S` and "
             "the task's keys, so all arms ask the teacher for the same number of samples "
             "(oversample × per_round × R) and a seed's round-0 student is the same in every arm. "
             "The test figure is metrics.json `test`: the best round on dev, evaluated once on test. "
             "Metrics to 4 decimals, mean ± sample std over seeds; differences in points (× 100), "
             "paired by seed (arm − reference on the same seed), *better* = seeds where the arm "
             "is strictly higher. dev − test: at the best round, in points.\n")

    summary = []
    for task in TASKS:
        trows = [r for r in rows if r["task"] == task]
        if not trows:
            continue
        info = TASK_INFO[task]
        arms = [x for x in ARMS if any(r["arm"] == x for r in trows)]
        by_seed = {x: {r["seed"]: r for r in trows if r["arm"] == x} for x in arms}
        seeds = sorted({r["seed"] for r in trows})
        Rs = sorted({str(r["_R"]) for r in trows})
        commons = sorted({r["_common"] for r in trows})
        L.append(f"## {task}: {info['config']} ({info['student']}), {info['name']}\n")
        L.append(f"R = {', '.join(Rs)} · seeds {', '.join(map(str, seeds))} · keys common to every "
                 f"arm (besides the seed): `{' '.join(commons[0]) if commons else '?'}`; "
                 f"round-0 test {fnum(mean_sd([r['test_round0'] for r in trows if r['arm'] == arms[0]])[0])} "
                 f"(mean over seeds).\n")
        if len(commons) > 1:
            problems.append(f"{task}: runs were made with different common keys: "
                            + " | ".join(" ".join(c) for c in commons))
        L.append("| arm | seeds | test | dev − test (pts) | Δ vs one_shot (pts) | better | "
                 "Δ vs uniform (pts) | better | teacher requests | accepted | wall s | cv s |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        pairs = {}
        for arm in arms:
            rs = list(by_seed[arm].values())
            tm, ts = mean_sd([r["test"] for r in rs])
            gm, _ = mean_sd([r["gap_dev_minus_test"] * 100 for r in rs])
            p1 = paired(by_seed, arm, "one_shot") if arm != "one_shot" else {"n": 0}
            p2 = paired(by_seed, arm, "uniform") if arm != "uniform" else {"n": 0}
            pairs[arm] = (p1, p2)
            req = mean_sd([r["teacher_requests"] for r in rs if r["teacher_requests"] != ""])[0]
            accm = mean_sd([r["total_accepted"] for r in rs])[0]
            wm = mean_sd([r["wall_seconds"] for r in rs if r["wall_seconds"] != ""])[0]
            cvs = [r["cv_seconds"] for r in rs if r["cv_seconds"] != ""]
            cvm = mean_sd(cvs)[0] if cvs else None
            d1, b1 = diff_cell(p1)
            d2, b2 = diff_cell(p2)
            L.append(f"| {arm} | {len(rs)} | {fnum(tm)} ± {fnum(ts)} | {fnum(gm, 2, True)} | {d1} | {b1} | "
                     f"{d2} | {b2} | {fnum(req, 0)} | {fnum(accm, 0)} | {fnum(wm, 1)} | "
                     f"{fnum(cvm, 1) if cvm is not None else '—'} |")
            srow = {"task": task, "arm": arm, "metric": info["name"], "n_seeds": len(rs),
                    "test_mean": tm, "test_sd": ts,
                    "gap_dev_minus_test_pts_mean": gm,
                    "abs_gap_pts_mean": mean_sd([abs(r["gap_dev_minus_test"]) * 100 for r in rs])[0],
                    "test_round0_mean": mean_sd([r["test_round0"] for r in rs])[0]}
            for name, p in (("one_shot", p1), ("uniform", p2)):
                srow[f"diff_vs_{name}_pts_mean"] = p.get("mean", "") if p["n"] else ""
                srow[f"diff_vs_{name}_pts_sd"] = p.get("sd", "") if p["n"] else ""
                srow[f"better_than_{name}"] = f"{p['better']}/{p['n']}" if p["n"] else ""
            srow.update({"teacher_requests_mean": req, "accepted_mean": accm,
                         "wall_seconds_mean": wm, "cv_seconds_mean": cvm if cvm is not None else "",
                         "best_rounds": ",".join(str(by_seed[arm][s]["best_round"])
                                                 for s in sorted(by_seed[arm]))})
            summary.append(srow)
        L.append("")
        L.append("Arms: " + "; ".join(f"`{x}` {ARM_DESC[x]}" for x in arms) + ".\n")
        # Facts about cost and about arms that came out the same.
        tw = [r["wall_seconds"] for r in trows if r["wall_seconds"] != ""]
        cv_rounds = []
        for r in trows:
            if r["cv_seconds"] != "" and r["rounds"] > 0:
                cv_rounds.append(r["cv_seconds"] / r["rounds"])
        if tw:
            L.append(f"Wall time per run: mean {statistics.mean(tw):.1f} s, min {min(tw):.1f} s, "
                     f"max {max(tw):.1f} s, {sum(tw):.0f} s over {len(tw)} runs"
                     + (f"; cross-validated weakness: mean {statistics.mean(cv_rounds):.1f} s a round "
                        f"(max {max(cv_rounds):.1f} s)" if cv_rounds else "") + ".\n")
        # What the cheap fold students of the cv arms cost: weak_cv against weak_cv_full.
        if "weak_cv" in by_seed and "weak_cv_full" in by_seed:
            pf = paired(by_seed, "weak_cv", "weak_cv_full")
            cv_a = [r["cv_seconds"] / r["rounds"] for r in by_seed["weak_cv"].values()
                    if r["cv_seconds"] != "" and r["rounds"] > 0]
            cv_b = [r["cv_seconds"] / r["rounds"] for r in by_seed["weak_cv_full"].values()
                    if r["cv_seconds"] != "" and r["rounds"] > 0]
            if pf["n"] and cv_a and cv_b:
                L.append(f"Fold students: `weak_cv` (cheap fold students: "
                         f"`{task_cv_keys(by_seed['weak_cv'])}`) − `weak_cv_full` (fold students "
                         f"trained as the round's student) = {pf['mean']:+.2f} ± {pf['sd']:.2f} "
                         f"points ({pf['better']}/{pf['n']} seeds better); cross-validation took "
                         f"{statistics.mean(cv_a):.1f} s a round against {statistics.mean(cv_b):.1f} s "
                         f"({statistics.mean(cv_b) / statistics.mean(cv_a):.1f}× as long with full "
                         f"fold students).\n")
        same = []
        for i, x in enumerate(arms):
            for y in arms[i + 1:]:
                common_seeds = sorted(set(by_seed[x]) & set(by_seed[y]))
                if common_seeds and all(abs(by_seed[x][s]["test"] - by_seed[y][s]["test"]) < 1e-12
                                        and by_seed[x][s]["best_round"] == by_seed[y][s]["best_round"]
                                        for s in common_seeds):
                    same.append(f"`{x}` = `{y}` ({len(common_seeds)} seed(s))")
        if same:
            L.append("Arms with the same test figure and best round on every shared seed: "
                     + ", ".join(same) + ".\n")

        # Equal requests across arms (and seeds) of the task.
        counts = {}
        for r in trows:
            counts.setdefault(r["total_requested"], []).append(f"{r['arm']}-s{r['seed']}")
        if len(counts) > 1:
            modal = max(counts, key=lambda k: len(counts[k]))
            for k, names in sorted(counts.items()):
                if k != modal:
                    problems.append(f"{task}: total requested {k} (most runs: {modal}) in "
                                    + ", ".join(names))
        # The same round-0 student for a seed in every arm.
        for s in seeds:
            t0 = {r["arm"]: r["test_round0"] for r in trows if r["seed"] == s}
            if len(t0) > 1 and max(t0.values()) - min(t0.values()) > 1e-9:
                problems.append(f"{task} seed {s}: round-0 test differs across arms: "
                                + ", ".join(f"{k} {v:.4f}" for k, v in t0.items()))

        # Targets: facts only.
        L.append(f"### Targets ({task})\n")
        if "weak_cv" not in by_seed:
            L.append("- weak_cv not run: no targets.\n")
            continue
        p1, p2 = pairs["weak_cv"]
        thr, tasks_ = TARGET_VS_ONE_SHOT
        if p1["n"]:
            if task in tasks_:
                L.append(f"- weak_cv beats one_shot by ≥ {thr:g} points: "
                         f"{'yes' if p1['mean'] >= thr else 'no'}, by {p1['mean']:+.2f} points "
                         f"({p1['better']}/{p1['n']} seeds better); {spread_fact(p1)}.")
            else:
                L.append(f"- weak_cv − one_shot: {p1['mean']:+.2f} points, no target for {task} "
                         f"({p1['better']}/{p1['n']} seeds better); {spread_fact(p1)}.")
        else:
            L.append("- weak_cv vs one_shot: one_shot not run on the same seeds.")
        thr, tasks_ = TARGET_VS_UNIFORM
        if p2["n"]:
            if task in tasks_:
                L.append(f"- weak_cv beats uniform by ≥ {thr:g} points: "
                         f"{'yes' if p2['mean'] >= thr else 'no'}, by {p2['mean']:+.2f} points "
                         f"({p2['better']}/{p2['n']} seeds better); {spread_fact(p2)}.")
            else:
                L.append(f"- weak_cv − uniform: {p2['mean']:+.2f} points, no target for {task} "
                         f"({p2['better']}/{p2['n']} seeds better); {spread_fact(p2)}.")
        else:
            L.append("- weak_cv vs uniform: uniform not run on the same seeds.")
        gaps = [r["gap_dev_minus_test"] * 100 for r in by_seed["weak_cv"].values()]
        absm = statistics.mean(abs(g) for g in gaps)
        worst = max(gaps, key=abs)
        L.append(f"- weak_cv keeps |dev − test| ≤ {TARGET_GAP:g} points (mean over seeds of "
                 f"|dev − test| at the best round): {'yes' if absm <= TARGET_GAP else 'no'}, "
                 f"{absm:.2f} points (signed mean {statistics.mean(gaps):+.2f}, largest "
                 f"{worst:+.2f}; {sum(abs(g) <= TARGET_GAP for g in gaps)}/{len(gaps)} seeds within).")
        L.append("")

    with open(f"{out}/weakness_study_summary.csv", "w", newline="") as f:
        keys = []
        for s in summary:
            keys += [k for k in s if k not in keys]
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for s in summary:
            w.writerow({k: (round(v, 6) if isinstance(v, float) and not math.isnan(v) else
                            ("" if isinstance(v, float) else v)) for k, v in s.items()})

    L.append("## Consistency checks\n")
    L.append("Checked: funnel monotone per round, rejection reasons add up, final train size = "
             "round-0 size + accepted, teacher.requests = sum of rounds' requested, equal "
             "requests across the arms of a task, rounds = R + 1 (one_shot: 2) with the expected "
             "stop reason, the weakness method / allocation / schedule each round records match "
             "the arm, dev_optimistic only with seeds from train ∪ dev, the same round-0 student "
             "per seed, equal common keys, every asked-for run present.\n")
    if problems:
        L.append(f"Problems ({len(problems)}):\n")
        L += [f"- {p}" for p in problems]
    else:
        L.append("Problems: none.")
    text = "\n".join(L) + "\n"
    open(f"{out}/weakness_study.md", "w").write(text)
    print(text, end="")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
