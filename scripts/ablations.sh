#!/usr/bin/env bash
# Ablations of the distillation loop on classification with the simulated pool teacher
# (issue [5/8]): weakness sampling vs uniform seeds, diversity on/off, verification on/off,
# and a tau sweep, each over several seeds, at an equal number of rounds (8, no early stop)
# and so an equal number of accepted samples (200 a round) unless a variant rejects more.
#
#   scripts/ablations.sh [-b BUILD_DIR] [-o OUT_DIR] [-s "1 2 3"] [-v "baseline uniform ..."] [-c]
#
#   -b  build folder with weakdistill (default build; a copy with lib/*.so works too)
#   -o  output folder (default runs/ablations)
#   -s  seeds (default "1 2 3")
#   -v  variants (default: all of these)
#         baseline             weakness seeds, tau 0.5, diversity on, verify on (the example's)
#         uniform              distill.seeds=uniform
#         diversity-off        distill.diversity=off
#         verify-off           distill.verify=off
#         tau<X>               distill.tau=<X>: tau0.1 tau0.25 tau1 tau2 tau10 (any X works)
#         train-seeds          distill.seed_from=train (dev never imitated)
#         uniform-train-seeds  distill.seeds=uniform distill.seed_from=train
#   -c  after scoring a run on test, delete its saved students (about 80 MB a run)
#
# Each run is `weakdistill run examples/cls-offline.yaml --run-dir OUT/<variant>-s<seed>
# --set data.few_shot.seed=<seed> distill.seed=<seed> distill.max_rounds=8 distill.reservoir=off
# (the paper's loop: over-quota candidates are thrown away) distill.seed_from=train_dev
# distill.weakness=in_sample distill.allocation=global (the defaults when these figures were
# measured; a variant's own keys come after and win)
# distill.patience=100 <variant's keys>`: the seed picks both the 20-a-label draw and the
# seed sampling, so a seed's round-0 student is the same in every variant.
# Runs whose folder already has metrics.json are skipped (the script resumes); a folder
# without one (an interrupted run) is removed and run again.
# After each run the final round's student (rounds/NN/student) and the best round's (best/) are
# scored on the test split with `weakdistill predict` + `eval`; the best one must match
# metrics.json "test" (a consistency check).
# Writes OUT/ablations.md (also printed), OUT/ablations.csv (one line per run) and
# OUT/ablations-summary.csv (one line per variant).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=build
OUT=runs/ablations
SEEDS="1 2 3"
VARIANTS="baseline uniform diversity-off verify-off tau0.1 tau0.25 tau1 tau2 tau10 train-seeds uniform-train-seeds"
CLEAN=0
while getopts "b:o:s:v:ch" opt; do
  case $opt in
    b) BUILD=$OPTARG ;;
    o) OUT=$OPTARG ;;
    s) SEEDS=$OPTARG ;;
    v) VARIANTS=$OPTARG ;;
    c) CLEAN=1 ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "usage: $0 [-b BUILD_DIR] [-o OUT_DIR] [-s \"1 2 3\"] [-v \"variants\"] [-c]" >&2; exit 2 ;;
  esac
done
BIN=$BUILD/weakdistill
[ -x "$BIN" ] || { echo "no $BIN: build it first (cmake --build $BUILD --target weakdistill)" >&2; exit 1; }
# A copy of a build folder (weakdistill + lib/*.so) works too: its libraries come first.
if [ -d "$BUILD/lib" ]; then export LD_LIBRARY_PATH=$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; fi
CONFIG=examples/cls-offline.yaml
TEST=data/cls/test.jsonl
PY=/usr/bin/python3
mkdir -p "$OUT"

variant_sets() {
  case $1 in
    baseline) ;;
    uniform) echo "distill.seeds=uniform" ;;
    diversity-off) echo "distill.diversity=off" ;;
    verify-off) echo "distill.verify=off" ;;
    tau*) echo "distill.tau=${1#tau}" ;;
    # Seeds from train only: dev is analysed but never imitated, so dev is not made
    # optimistic by samples written after dev samples (weakness favours those it gets wrong).
    train-seeds) echo "distill.seed_from=train" ;;
    uniform-train-seeds) echo "distill.seeds=uniform distill.seed_from=train" ;;
    *) echo "unknown variant: $1" >&2; return 1 ;;
  esac
}

for v in $VARIANTS; do
  variant_sets "$v" >/dev/null
done

for v in $VARIANTS; do
  for s in $SEEDS; do
    dir=$OUT/$v-s$s
    if [ -f "$dir/metrics.json" ] && [ -f "$dir/test-eval.json" ]; then
      echo "skip $dir (done)" >&2
      continue
    fi
    if [ ! -f "$dir/metrics.json" ]; then
      if [ -d "$dir" ]; then
        echo "removing incomplete $dir" >&2
        rm -rf -- "$dir"
      fi
      echo "run  $dir" >&2
      start=$(date +%s.%N)
      # shellcheck disable=SC2046
      nice "$BIN" run "$CONFIG" --run-dir "$dir" \
        --set data.few_shot.seed="$s" distill.seed="$s" distill.max_rounds=8 \
              distill.patience=100 distill.reservoir=off distill.seed_from=train_dev \
              distill.weakness=in_sample distill.allocation=global \
              $(variant_sets "$v") \
        > "$dir.stdout" 2> "$dir.log"
      end=$(date +%s.%N)
      mv "$dir.stdout" "$dir/stdout.txt"
      mv "$dir.log" "$dir/run.log"
      $PY -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" \
        "$start" "$end" > "$dir/wall_seconds.txt"
    fi
    # Final-round and best-round students on test. The run keeps the final round's
    # student in rounds/NN/student (NN = the last round) and the best one in best/.
    last_round=$(printf "%s\n" "$dir"/rounds/[0-9][0-9]/student | sort | tail -1)
    for which in last best; do
      model=$dir/best
      [ "$which" = last ] && model=$last_round
      nice "$BIN" -q predict --model "$model" --input "$TEST" --output "$dir/test-pred-$which.jsonl"
      nice "$BIN" -q eval --task classification --gold "$TEST" --pred "$dir/test-pred-$which.jsonl" \
        --json > "$dir/test-eval-$which.json"
      rm -f "$dir/test-pred-$which.jsonl"
    done
    $PY - "$dir" <<'EOF'
import json, sys
d = sys.argv[1]
json.dump({w: json.load(open(f"{d}/test-eval-{w}.json")) for w in ("last", "best")},
          open(f"{d}/test-eval.json", "w"), indent=1)
EOF
    if [ "$CLEAN" = 1 ]; then
      rm -rf -- "$dir/best" "$dir"/rounds/[0-9][0-9]/student
    fi
  done
done

$PY - "$OUT" "$SEEDS" "$VARIANTS" "$BIN" <<'EOF'
import csv, datetime, json, os, platform, statistics, subprocess, sys

out, seeds, variants, binary = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
DESC = {
    "baseline": "weakness seeds, tau 0.5, diversity on, verify on",
    "uniform": "uniform seeds (`distill.seeds=uniform`)",
    "diversity-off": "diversity off (`distill.diversity=off`)",
    "verify-off": "verification off (`distill.verify=off`)",
    "train-seeds": "seeds from train only (`distill.seed_from=train`), weakness, tau 0.5",
    "uniform-train-seeds": "seeds from train only, uniform",
}
def desc(v):
    return DESC.get(v, f"tau {v[3:]} (`distill.tau={v[3:]}`)" if v.startswith("tau") else v)

problems = []
rows = []
for v in variants:
    for s in seeds:
        d = f"{out}/{v}-s{s}"
        m = json.load(open(f"{d}/metrics.json"))
        te = json.load(open(f"{d}/test-eval.json"))
        rounds = m["rounds"]
        acc = lambda x: x["accuracy"]
        funnel = {k: sum(r[k] for r in rounds) for k in
                  ("requested", "parsed", "verified", "diverse", "accepted")}
        rejected = {}
        for r in rounds:
            for k, n in r.get("rejected", {}).items():
                rejected[k] = rejected.get(k, 0) + n
        # Consistency checks on what the loop wrote.
        for r in rounds:
            if not (r["requested"] >= r["parsed"] >= r["verified"] >= r["diverse"] >= r["accepted"]):
                problems.append(f"{d} round {r['round']}: funnel not monotone")
            if r["round"] > 0 and r["requested"] - r["accepted"] != sum(r["rejected"].values()):
                problems.append(f"{d} round {r['round']}: rejected reasons do not add up")
        if rounds[-1]["train_size"] != rounds[0]["train_size"] + funnel["accepted"]:
            problems.append(f"{d}: final train_size != round-0 size + accepted")
        if abs(acc(te["best"]) - acc(m["test"])) > 1e-9:
            problems.append(f"{d}: best student re-scored on test {acc(te['best'])} "
                            f"!= metrics.json test {acc(m['test'])}")
        if len(rounds) != 9:
            problems.append(f"{d}: {len(rounds)} rounds, expected 9 (0..8)")
        # Where the seeds came from (rounds 1..): train samples the student got wrong,
        # the share of seed probability on dev, accepted samples written after a dev seed.
        n_train = rounds[0]["train_size"]
        train_wrong, p_dev, acc_dev, n_r = 0, 0.0, 0, 0
        for r in rounds[1:]:
            rd = f"{d}/rounds/{r['round']:02d}"
            for line in open(f"{rd}/weakness.jsonl"):
                w = json.loads(line)
                if w["set"] == "train":
                    train_wrong += w["h"] < 1
                else:
                    p_dev += w["p"]
            acc_dev += sum(json.loads(l)["seed_index"] >= n_train for l in open(f"{rd}/accepted.jsonl"))
            n_r += 1
        wall = open(f"{d}/wall_seconds.txt").read().strip() if os.path.exists(
            f"{d}/wall_seconds.txt") else ""
        rows.append({
            "variant": v, "seed": int(s),
            "test_round0": acc(m["test_round0"]),
            "test_best": acc(m["test"]),
            "best_round": m["best_round"],
            "test_final": acc(te["last"]),
            "dev_round0": rounds[0]["dev"]["accuracy"],
            "dev_best": rounds[m["best_round"]]["dev"]["accuracy"],
            "dev_final": rounds[-1]["dev"]["accuracy"],
            "rounds": len(rounds) - 1,
            "final_train_size": rounds[-1]["train_size"],
            **{f"total_{k}": n for k, n in funnel.items()},
            "rejected": ";".join(f"{k}={n}" for k, n in sorted(rejected.items())),
            "train_wrong_all_rounds": train_wrong,
            "seed_p_on_dev_mean": round(p_dev / max(n_r, 1), 4),
            "accepted_from_dev_seeds": acc_dev,
            "wall_seconds": wall,
        })

with open(f"{out}/ablations.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)

def ms(xs, scale=100.0, digits=1):
    xs = [x * scale for x in xs]
    mean = statistics.mean(xs)
    sd = statistics.stdev(xs) if len(xs) > 1 else float("nan")
    return mean, sd, f"{mean:.{digits}f} ± {sd:.{digits}f}"

by = {v: [r for r in rows if r["variant"] == v] for v in variants}
summary = []
lines = []
now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
cpu = ""
try:
    for l in open("/proc/cpuinfo"):
        if l.startswith("model name"):
            cpu = l.split(":", 1)[1].strip()
            break
except OSError:
    pass
lines.append(f"# Ablations, classification, pool teacher ({now})\n")
def sha(p):
    try:
        return subprocess.run(["sha256sum", p], capture_output=True, text=True).stdout.split()[0][:12]
    except (OSError, IndexError):
        return "?"
libdir = os.path.join(os.path.dirname(binary), "lib", "libweakdistill.so")
lines.append(f"`scripts/ablations.sh -o {out} -s \"{' '.join(seeds)}\"` · binary `{binary}` "
             f"(sha256 {sha(binary)}…, libweakdistill.so {sha(libdir)}…) · "
             f"{os.cpu_count()} cores ({cpu}) · load average when this table was written "
             f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
lines.append("examples/cls-offline.yaml with `distill.max_rounds=8 distill.patience=100` "
             "(8 rounds, no early stop), `per_round` 200, seed s = `data.few_shot.seed` = "
             f"`distill.seed`, seeds {', '.join(seeds)}. Test accuracy in %, mean ± sample std "
             "over seeds. *best* = the best-by-dev round (metrics.json `test`); *final* = "
             "the final round's student (rounds/08/student) scored with `weakdistill predict` + `eval`.\n")
lines.append("| variant | round-0 test | best-round test | best round | final-round test | "
             "final-round dev | accepted (total) | final train size |")
lines.append("|---|---|---|---|---|---|---|---|")
for v in variants:
    rs = by[v]
    r0 = ms([r["test_round0"] for r in rs])
    tb = ms([r["test_best"] for r in rs])
    tf = ms([r["test_final"] for r in rs])
    df = ms([r["dev_final"] for r in rs])
    acc_counts = sorted({r["total_accepted"] for r in rs})
    sizes = sorted({r["final_train_size"] for r in rs})
    br = ",".join(str(r["best_round"]) for r in rs)
    lines.append(f"| {desc(v)} | {r0[2]} | {tb[2]} | {br} | {tf[2]} | {df[2]} | "
                 f"{'/'.join(map(str, acc_counts))} | {'/'.join(map(str, sizes))} |")
    summary.append({"variant": v, "n_seeds": len(rs),
                    "test_round0_mean": r0[0], "test_round0_sd": r0[1],
                    "test_best_mean": tb[0], "test_best_sd": tb[1],
                    "test_final_mean": tf[0], "test_final_sd": tf[1],
                    "dev_final_mean": df[0], "dev_final_sd": df[1],
                    "best_rounds": br,
                    "accepted_totals": "/".join(str(r["total_accepted"]) for r in rs)})

# Paired differences: every variant against the baseline, and uniform against weakness
# seeds again when both draw seeds from train only.
pairs = [(v, "baseline") for v in variants if v != "baseline" and "baseline" in by]
if "uniform-train-seeds" in by and "train-seeds" in by:
    pairs.append(("uniform-train-seeds", "train-seeds"))
if pairs:
    lines.append("\nDifferences, paired by seed (same few-shot draw, same round-0 student), in "
                 "points: mean ± sample std of the per-seed differences; *wins* = seeds where "
                 "the variant is higher / lower on final-round test.\n")
    lines.append("| variant | against | Δ best-round test | Δ final-round test | wins (final test) "
                 "| Δ final-round dev |")
    lines.append("|---|---|---|---|---|---|")
    for v, ref in pairs:
        rseed = {r["seed"]: r for r in by[ref]}
        d = {k: [r[k] - rseed[r["seed"]][k] for r in by[v] if r["seed"] in rseed]
             for k in ("test_best", "test_final", "dev_final")}
        up = sum(x > 1e-12 for x in d["test_final"])
        down = sum(x < -1e-12 for x in d["test_final"])
        lines.append(f"| {desc(v)} | {ref} | {ms(d['test_best'])[2]} | {ms(d['test_final'])[2]} | "
                     f"{up} / {down} | {ms(d['dev_final'])[2]} |")
        for srow in summary:
            if srow["variant"] == v and ref == "baseline":
                for k in d:
                    srow[f"diff_{k}_mean"], srow[f"diff_{k}_sd"] = ms(d[k])[:2]

lines.append("\nWhat the teacher's samples went through, summed over rounds and seeds "
             "(requested → parsed → verified → diverse → accepted; rejection reasons):\n")
lines.append("| variant | requested | parsed | verified | diverse | accepted | rejected |")
lines.append("|---|---|---|---|---|---|---|")
for v in variants:
    rs = by[v]
    tot = {k: sum(r[f"total_{k}"] for r in rs)
           for k in ("requested", "parsed", "verified", "diverse", "accepted")}
    rej = {}
    for r in rs:
        for kv in filter(None, r["rejected"].split(";")):
            k, n = kv.split("=")
            rej[k] = rej.get(k, 0) + int(n)
    lines.append(f"| {v} | " + " | ".join(str(tot[k]) for k in tot) + " | " +
                 ", ".join(f"{k} {n}" for k, n in sorted(rej.items())) + " |")

lines.append("\nWhere the seeds came from, rounds 1–8, over seeds: train samples the student "
             "got wrong at weakness analysis (summed over rounds), the seed probability on dev "
             "samples (mean over rounds; dev is 1000 of the 1200 labeled samples), and the accepted "
             "samples written after a dev seed:\n")
lines.append("| variant | train wrong | seed probability on dev | accepted from dev seeds |")
lines.append("|---|---|---|---|")
for v in variants:
    rs = by[v]
    lines.append(f"| {v} | {sum(r['train_wrong_all_rounds'] for r in rs)} | "
                 f"{statistics.mean(r['seed_p_on_dev_mean'] for r in rs):.3f} | "
                 f"{sum(r['accepted_from_dev_seeds'] for r in rs)} of "
                 f"{sum(r['total_accepted'] for r in rs)} |")

walls = [float(r["wall_seconds"]) for r in rows if r["wall_seconds"]]
if walls:
    lines.append(f"\nWall time per run: {min(walls):.0f}–{max(walls):.0f} s "
                 f"(mean {statistics.mean(walls):.0f} s, {len(walls)} runs timed).")
lines.append("\nConsistency checks: " + ("all passed (funnel monotone, rejections add up, "
             "final train size = 200 + accepted, best student re-scored on test = "
             "metrics.json test, 9 rounds each)." if not problems else
             "FAILED:\n" + "\n".join(f"- {p}" for p in problems)))

with open(f"{out}/ablations-summary.csv", "w", newline="") as f:
    keys = []
    for s in summary:
        keys += [k for k in s if k not in keys]
    w = csv.DictWriter(f, fieldnames=keys)
    w.writeheader()
    w.writerows(summary)
text = "\n".join(lines) + "\n"
open(f"{out}/ablations.md", "w").write(text)
print(text, end="")
if problems:
    sys.exit(1)
EOF
