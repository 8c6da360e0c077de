#!/usr/bin/env bash
# Usage: bench/compare_metrics.sh [-b BUILD_DIR] [-d PAIRS.jsonl] [-r REPETITIONS]
#
# Times weakdistill's summarization metrics (build/bench/metrics_bench) against
# a plain-Python implementation of the same definitions (bench/compare_metrics.py)
# on the same pairs, one after the other on this machine, and prints pairs/s and
# the ratio. First checks that both compute the same corpus scores (within 1e-9)
# and stops if they do not. Also times the `rouge-score` / `rouge` Python
# packages, but only if Debian ships them and they are installed.
#
#   -b BUILD_DIR     CMake build dir with WEAKDISTILL_BUILD_BENCH=ON (default: build)
#   -d PAIRS.jsonl   pairs file (default: $WEAKDISTILL_DATA, else data/sum/test.jsonl);
#                    when absent, both sides use the same synthetic pairs
#   -r REPETITIONS   repetitions on each side; the best counts (default: 5)
#
# Paths are relative to the repository root. Build first, e.g.:
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEAKDISTILL_BUILD_BENCH=ON
#   ninja -C build metrics_bench
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
pairs=${WEAKDISTILL_DATA:-data/sum/test.jsonl}
reps=5
usage() { sed -n '2,18s/^# \{0,1\}//p' "$0"; }
while getopts "b:d:r:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    d) pairs=$OPTARG ;;
    r) reps=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi

bench=$build/bench/metrics_bench
py=/usr/bin/python3  # Debian's, not whatever python3 comes first on PATH
if [[ ! -x $bench ]]; then
  echo "compare_metrics.sh: $bench not found; build it first (see the usage below)" >&2
  usage >&2
  exit 2
fi
if [[ ! -x $py ]]; then
  echo "compare_metrics.sh: $py not found (apt-get install python3)" >&2
  exit 2
fi

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if [[ $build_type != Release ]]; then
  echo "compare_metrics.sh: warning: $build is a '${build_type:-?}' build; figures are for Release" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== same scores?"
"$bench" --scores "$pairs" >"$tmp/scores.json"
"$py" bench/compare_metrics.py "$pairs" --expect "$tmp/scores.json"

echo
echo "== third-party Python packages (only if Debian ships them)"
third_party=()
for pkg in python3-rouge-score python3-rouge; do
  policy=$(apt-cache policy "$pkg" 2>/dev/null || true)
  candidate=$(sed -n 's/^ *Candidate: //p' <<<"$policy")
  installed=$(sed -n 's/^ *Installed: //p' <<<"$policy")
  if [[ -z $candidate || $candidate == "(none)" ]]; then
    echo "$pkg: not shipped by Debian here (apt-cache policy: no candidate); skipped"
  elif [[ -z $installed || $installed == "(none)" ]]; then
    echo "$pkg: shipped ($candidate) but not installed; apt-get install $pkg to include it"
  else
    echo "$pkg: installed ($installed); timed below"
    third_party=(--third-party)
  fi
done

echo
echo "== timing (C++, then Python; $reps repetitions each, best counts)"
"$bench" "$pairs" --benchmark_format=json --benchmark_repetitions="$reps" \
  >"$tmp/cpp.json" 2>"$tmp/cpp.err" || { cat "$tmp/cpp.err" >&2; exit 1; }
"$py" bench/compare_metrics.py "$pairs" --repeat "$reps" --json "${third_party[@]}" \
  >"$tmp/py.json"

"$py" - "$tmp/cpp.json" "$tmp/py.json" "${build_type:-?}" <<'EOF'
import json, sys
cpp = json.load(open(sys.argv[1]))
py = json.load(open(sys.argv[2]))
ours = {}
for b in cpp["benchmarks"]:
    if b.get("run_type") == "iteration":
        name = b["run_name"] if "run_name" in b else b["name"]
        ours[name] = max(ours.get(name, 0.0), b["items_per_second"])
ctx = cpp["context"]
print(f"date: {ctx['date']}   cores: {ctx['num_cpus']} x {ctx['mhz_per_cpu']} MHz   "
      f"load average: {' '.join(f'{x:.2f}' for x in ctx.get('load_avg', []))}")
print(f"pairs: {py['pairs']} from {py['source']}   "
      f"weakdistill: {sys.argv[3]} build   Python {py['python']} (/usr/bin/python3)")
print()
rows = py["pairs_per_second"]
print(f"| {'measure':<31} | {'weakdistill pairs/s':>19} | {'Python pairs/s':>14} | {'ours/Python':>11} |")
print(f"|{'-' * 33}|{'-' * 20}:|{'-' * 15}:|{'-' * 12}:|")
for name, theirs in rows.items():
    print(f"| {name:<31} | {ours[name]:>19,.0f} | {theirs:>14,.0f} | {ours[name] / theirs:>10,.1f}x |")
whole = "BM_SummarizationMetrics_Corpus"
for name, theirs in py.get("third_party_pairs_per_second", {}).items():
    print(f"| {name:<31} | {ours[whole]:>19,.0f} | {theirs:>14,.0f} | {ours[whole] / theirs:>10,.1f}x |")
EOF
