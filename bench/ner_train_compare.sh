#!/usr/bin/env bash
# Usage: bench/ner_train_compare.sh [-b BUILD_DIR] [-d TRAIN.jsonl] [-e EPOCHS] [-t THREADS]
#                                   [-m MODEL_DIR] [-i INPUT.jsonl] [-n SENTENCES]
#
# Training throughput of the bigru-crf ner student (build/bench/ner_bench)
# against the same architecture, hyperparameters and batches in Python PyTorch
# (bench/bigru_crf_reference.py, Debian's python3-torch), one after the other
# on the same data and threads; prints samples/s (median epoch) and the ratio.
# Then the inference latency per sentence on one thread (p50, p99) and the
# model folder's size on disk.
#
#   -b BUILD_DIR   CMake build dir with WEAKDISTILL_BUILD_BENCH=ON (default: build)
#   -d TRAIN.jsonl training data (default: data/ner/train.jsonl)
#   -e EPOCHS      epochs timed on each side (default: 3)
#   -t THREADS     threads on each side (default: all cores)
#   -m MODEL_DIR   a trained bigru-crf model for the latency part; default: one
#                  trained for 1 epoch on TRAIN.jsonl here (same size on disk)
#   -i INPUT.jsonl sentences for the latency part (default: data/ner/test.jsonl)
#   -n SENTENCES   sentences timed for latency (default: 1000)
#
# Both sides run with OPENBLAS_NUM_THREADS=THREADS (libtorch's
# set_num_threads leaves OpenBLAS's own pool at all cores) and
# OMP_WAIT_POLICY=PASSIVE (spinning OpenMP threads are 5-10x slower when other
# work shares the cores). Paths are relative to the repository root. Build first:
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEAKDISTILL_BUILD_BENCH=ON
#   ninja -C build ner_bench weakdistill
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
data=data/ner/train.jsonl
epochs=3
threads=$(nproc)
model=
input=data/ner/test.jsonl
sentences=1000
usage() { sed -n '2,26s/^# \{0,1\}//p' "$0"; }
while getopts "b:d:e:t:m:i:n:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    d) data=$OPTARG ;;
    e) epochs=$OPTARG ;;
    t) threads=$OPTARG ;;
    m) model=$OPTARG ;;
    i) input=$OPTARG ;;
    n) sentences=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi

bench=$build/bench/ner_bench
py=/usr/bin/python3  # Debian's python3-torch, not whatever python3 comes first on PATH
if [[ ! -x $bench ]]; then
  echo "ner_train_compare.sh: $bench not found; build it first (see the usage below)" >&2
  usage >&2
  exit 2
fi
if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "ner_train_compare.sh: $py cannot import torch (apt-get install python3-torch)" >&2
  exit 2
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if [[ $build_type != Release ]]; then
  echo "ner_train_compare.sh: warning: $build is a '${build_type:-?}' build;" \
    "figures are for Release" >&2
fi

export OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== training, $epochs epochs on $data, $threads thread(s): weakdistill, then Python PyTorch"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"$bench" train "$data" --epochs "$epochs" --threads "$threads" >"$tmp/cpp.json"
"$py" bench/bigru_crf_reference.py "$data" --epochs "$epochs" --threads "$threads" --json \
  >"$tmp/py.json"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "== inference latency (one thread) and size on disk"
if [[ -z $model ]]; then
  model=$tmp/model
  "$build/weakdistill" -q train --task ner --student bigru-crf --train "$data" --out "$model" \
    --set epochs=1 --set threads="$threads"
fi
"$bench" latency "$model" "$input" --n "$sentences" >"$tmp/latency.json"

"$py" - "$tmp/cpp.json" "$tmp/py.json" "$tmp/latency.json" "${build_type:-?}" \
  "$load_before" "$load_after" <<'EOF'
import json, os, sys
cpp, py, lat = (json.load(open(p)) for p in sys.argv[1:4])
print(f"cores: {os.cpu_count()}   load average before: {sys.argv[5]}   after: {sys.argv[6]}")
print(f"weakdistill: {sys.argv[4]} build   {py['implementation']} (/usr/bin/python3)   "
      f"samples: {cpp['samples']}   threads: {py['threads']}")
print()
print(f"| {'implementation':<26} | {'samples/s':>9} | {'epoch seconds':<24} "
      f"| {'epoch mean loss':<26} |")
print(f"|{'-' * 28}|{'-' * 10}:|{'-' * 26}|{'-' * 28}|")
for name, r in (("weakdistill (libtorch C++)", cpp), ("Python PyTorch", py)):
    secs = " ".join(f"{s:.1f}" for s in r["epoch_seconds"])
    loss = " ".join(f"{x:.3f}" for x in r["epoch_loss"])
    print(f"| {name:<26} | {r['samples_per_second']:>9.1f} | {secs:<24} | {loss:<26} |")
print()
print(f"ratio weakdistill / Python: {cpp['samples_per_second'] / py['samples_per_second']:.2f}x")
print()
print(f"latency per sentence, 1 thread, {lat['sentences']} sentences one at a time: "
      f"p50 {lat['p50_ms']:.2f} ms   p99 {lat['p99_ms']:.2f} ms   mean {lat['mean_ms']:.2f} ms")
size = lat["model_bytes"]
print(f"model folder size on disk: {size / 2**20:.2f} MiB ({size} bytes)")
EOF
