#!/usr/bin/env bash
# Usage: bench/compare_diversity.sh [-b BUILD_DIR] [-C N] [-L N] [-d N] [-t THREADS] [-r ROUNDS]
#
# The diversity selection's min-distance pass (every candidate's least 1 - cos to
# the labeled set) three ways in one run, on the same random unit vectors:
# weakdistill's min_distances (blocked SGEMM + row max), plain cblas_sgemm over
# the same blocks with no reduction (and over 1 GiB blocks), and NumPy
# (bench/diversity_numpy.py, Debian's python3-numpy: block @ labeled.T, max).
# Checks NumPy's distances against ours (within 1e-4) and prints a Markdown table:
# GFLOP/s (2·C·L·d / s), ratios, peak RSS, threads, nproc, load average.
#
#   -b BUILD_DIR  CMake build dir with WEAKDISTILL_BUILD_BENCH=ON (default: build)
#   -C N          candidates (default 100000)
#   -L N          labeled rows (default 20000)
#   -d N          dimension (default 512)
#   -t THREADS    OpenBLAS threads on every side (default: nproc)
#   -r ROUNDS     rounds, each timing every side once (C++ first in odd rounds, NumPy
#                 in even ones) so that load changes hit all alike; the best round
#                 counts for each (default 1).
#                 The 1 GiB-block SGEMM runs in the first round only.
#
# Paths are relative to the repository root. Build first, e.g.:
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEAKDISTILL_BUILD_BENCH=ON
#   ninja -C build diversity_bench
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
C=100000
L=20000
d=512
threads=$(nproc)
rounds=1
usage() { sed -n '2,24s/^# \{0,1\}//p' "$0"; }
while getopts "b:C:L:d:t:r:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    C) C=$OPTARG ;;
    L) L=$OPTARG ;;
    d) d=$OPTARG ;;
    t) threads=$OPTARG ;;
    r) rounds=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi

bench=$build/bench/diversity_bench
py=/usr/bin/python3  # Debian's, with python3-numpy; not whatever python3 comes first on PATH
if [[ ! -x $bench ]]; then
  echo "compare_diversity.sh: $bench not found; build it first (see the usage below)" >&2
  usage >&2
  exit 2
fi
if ! "$py" -c 'import numpy' 2>/dev/null; then
  echo "compare_diversity.sh: $py cannot import numpy (apt-get install python3-numpy)" >&2
  exit 2
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if [[ $build_type != Release ]]; then
  echo "compare_diversity.sh: warning: $build is a '${build_type:-?}' build; figures are for Release" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run_cpp() {
  local extra=(--npy-dir "$tmp/data")
  if (($1 > 1)); then extra=(--no-big); fi
  echo "== round $1/$rounds: C++ ours, then plain cblas_sgemm (C=$C L=$L d=$d, $threads threads)" >&2
  "$bench" --candidates "$C" --labeled "$L" --dim "$d" --threads "$threads" "${extra[@]}" \
    >"$tmp/cpp.$1.json"
}
run_numpy() {
  echo "== round $1/$rounds: NumPy, same data" >&2
  "$py" bench/diversity_numpy.py "$tmp/data" --threads "$threads" >"$tmp/numpy.$1.json"
}
# C++ goes first in odd rounds (round 1 writes the data NumPy reads), NumPy in even ones.
for ((round = 1; round <= rounds; ++round)); do
  if ((round % 2 == 1)); then
    run_cpp $round
    run_numpy $round
  else
    run_numpy $round
    run_cpp $round
  fi
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

"$py" - "$tmp" "$rounds" "$(nproc)" "$load_before" "$load_after" <<'EOF'
import json, sys
tmp, rounds, nproc, load_before, load_after = sys.argv[1:6]
cpps = [json.load(open(f"{tmp}/cpp.{r}.json")) for r in range(1, int(rounds) + 1)]
npys = [json.load(open(f"{tmp}/numpy.{r}.json")) for r in range(1, int(rounds) + 1)]
best = lambda runs: min(runs, key=lambda x: x["seconds"])
cpp = cpps[0]
ours, sg = (best([c[k] for c in cpps]) for k in ("ours", "sgemm"))
big = best([c["sgemm_big"] for c in cpps if c["sgemm_big"]]) if cpps[0]["sgemm_big"] else None
npy = best(npys)
for other in (o for o in (sg, big) if o):
    other["ratio_ours"] = ours["gflops"] / other["gflops"]
cpp["reps"] = rounds
mib = lambda kib: f"{kib / 1024:.0f} MiB"
print(f"C = {cpp['candidates']:,} candidates, L = {cpp['labeled']:,} labeled, d = {cpp['dim']}; "
      f"{cpp['gflop']:.0f} GFLOP; OpenBLAS threads {cpp['openblas_threads']}, nproc {nproc}; "
      f"load average {load_before} before, {load_after} after; best of {rounds} round(s).")
print(f"OpenBLAS: {cpp['openblas_config']}; NumPy {npy['numpy']}.")
print()
print("| what | blocks (rows × cols) | seconds | GFLOP/s | ours ÷ this | peak RSS |")
print("|---|---|---|---|---|---|")
print(f"| weakdistill `min_distances` | {ours['block_rows']} × {ours['block_cols']} | "
      f"{ours['seconds']:.2f} | {ours['gflops']:.1f} | 1.00 | "
      f"{mib(cpp['peak_rss_kib_after_ours'])} (inputs alone: {mib(cpp['peak_rss_kib_after_data'])}) |")
print(f"| plain `cblas_sgemm`, same blocks, no reduction | {sg['block_rows']} × {sg['block_cols']} | "
      f"{sg['seconds']:.2f} | {sg['gflops']:.1f} | {sg['ratio_ours']:.2f} | |")
if big:
    print(f"| plain `cblas_sgemm`, 1 GiB blocks | {big['block_rows']} × {big['block_cols']} | "
          f"{big['seconds']:.2f} | {big['gflops']:.1f} | {big['ratio_ours']:.2f} | |")
print(f"| NumPy `block @ L.T`, `max(axis=1)` | {npy['block_rows']} × {npy['block_cols']} | "
      f"{npy['seconds']:.2f} | {npy['gflops']:.1f} | {ours['gflops'] / npy['gflops']:.2f} | "
      f"{mib(npy['peak_rss_kib'])} (inputs alone: {mib(npy['peak_rss_kib_after_data'])}) |")
print()
print(f"NumPy's distances differ from ours by at most "
      f"{max(n['max_abs_diff_vs_ours'] for n in npys):.2e} "
      f"(tolerance {npy['tolerance']}). Targets: ours ÷ plain SGEMM >= 0.8, ours ÷ NumPy >= 1.0.")
EOF
