#!/usr/bin/env bash
# Usage: bench/compare_bert.sh [-b BUILD_DIR] [-n TEXTS] [-B BATCH] [-j THREADS] [-r REPEAT] [-R ROUNDS]
#
# The native BERT encoder against Python PyTorch eager (bench/bert_eager.py, a
# transformers-style BertModel on torch 1.13) on the same weights, threads and
# batches, in one run. The model is a random bge-small-zh-sized BERT (hidden
# 512, 4 layers, 8 heads, intermediate 2048, max 512 positions) whose
# vocabulary is LCSTS's characters, written by tests/reference/bert_reference.py.
# bert_bench tokenizes the first TEXTS LCSTS articles, sorts them by length,
# cuts batches of BATCH and writes them; both sides then time their forward
# (plus CLS pooling and normalisation) over those batches: ROUNDS rounds, one
# side then the other, of a warm-up and REPEAT timed passes; the best pass of
# each side is kept. Both run with OPENBLAS_NUM_THREADS=THREADS. Prints both
# rates, the ratio (ours / eager), the largest difference between the two sets
# of vectors, and our end-to-end `bge` embed() rate (tokenization included).
#
#   -b BUILD_DIR   CMake build dir with bench/bert_bench (default: build)
#   -n TEXTS       LCSTS articles (default: 256)
#   -B BATCH       texts per batch (default: 32)
#   -j THREADS     threads for both (default: all cores)
#   -r REPEAT      timed passes per round (default: 2)
#   -R ROUNDS      rounds, alternating the two sides (default: 3)
#
# Data: data/sum/train.jsonl (WEAKDISTILL_DATA=DIR to use DIR/sum/).
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
n=256
batch=32
threads=$(nproc)
repeat=2
rounds=3
usage() { sed -n '2,25s/^# \{0,1\}//p' "$0"; }
while getopts "b:n:B:j:r:R:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    n) n=$OPTARG ;;
    B) batch=$OPTARG ;;
    j) threads=$OPTARG ;;
    r) repeat=$OPTARG ;;
    R) rounds=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi

texts=${WEAKDISTILL_DATA:-data}/sum/train.jsonl
[[ -f $texts ]] || { echo "compare_bert.sh: $texts not found (scripts/get-data.sh)" >&2; exit 2; }
[[ -x $build/bench/bert_bench ]] || { echo "compare_bert.sh: $build/bench/bert_bench not built" >&2; exit 2; }
py=/usr/bin/python3
# The same threads on both sides: torch.set_num_threads() leaves OpenBLAS's own pool at all
# cores (Python at "1 thread" ran its GEMMs on 2: 64 sentences/s against 44 with 1), and
# libgomp's spinning starves the other side's threads on a loaded machine.
export OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The vocabulary: the specials, then every character of the texts read (lower-cased).
head -n "$n" "$texts" | $py -c '
import json, sys
chars = set()
for line in sys.stdin:
    chars.update(c.lower() for c in json.loads(line)["text"] if not c.isspace())
print("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(chars)))
' >"$work/vocab.txt"
$py tests/reference/bert_reference.py make "$work/model" --vocab "$work/vocab.txt" \
  --hidden 512 --layers 4 --heads 8 --intermediate 2048 --max-position 512 --seed 1 >/dev/null

echo "compare_bert: $n LCSTS texts, batches of $batch, $threads threads, $rounds rounds of $repeat passes" >&2
# Rounds alternate the two sides, so that a change in the machine's load during the run (other
# jobs share it) falls on both; each side's best pass over all rounds is kept.
: >"$work/ours.jsonl"
: >"$work/eager.jsonl"
for ((r = 1; r <= rounds; r++)); do
  "$build/bench/bert_bench" "$work/model" "$texts" --n "$n" --batch "$batch" --threads "$threads" \
    --repeat "$repeat" --batches-out "$work/batches.jsonl" --npy-out "$work/ours.npy" >>"$work/ours.jsonl"
  $py bench/bert_eager.py "$work/model" "$work/batches.jsonl" --threads "$threads" \
    --repeat "$repeat" --out-npy "$work/eager.npy" >>"$work/eager.jsonl"
done
$py - "$work" <<'PY'
import json, sys
import numpy as np
work = sys.argv[1]
ours = [json.loads(l) for l in open(f"{work}/ours.jsonl")]
runs = [json.loads(l) for l in open(f"{work}/eager.jsonl")]
best = lambda rows: max(rows, key=lambda x: x["sentences_per_s"])
enc = best([o for o in ours if o["what"] == "encoder"])
emb = best([o for o in ours if o["what"] == "embed"])
eager = best(runs)
rates = lambda rows: ", ".join(f"{x['sentences_per_s']:.1f}" for x in rows)
diff = float(np.abs(np.load(f"{work}/ours.npy") - np.load(f"{work}/eager.npy")).max())
print(f"texts {enc['sentences']}, tokens {enc['tokens']}, threads {enc['threads']} "
      f"(torch {eager['torch']})")
print(f"weakdistill encoder   {enc['sentences_per_s']:9.1f} sentences/s ({enc['seconds']:.3f} s)")
print(f"PyTorch eager         {eager['sentences_per_s']:9.1f} sentences/s ({eager['seconds']:.3f} s)")
print(f"ratio (ours / eager)  {enc['sentences_per_s'] / eager['sentences_per_s']:9.2f}")
print(f"every round: ours {rates([o for o in ours if o['what'] == 'encoder'])}; eager {rates(runs)}")
print(f"largest |difference| of the normalised vectors: {diff:.2e}")
print(f"weakdistill bge embed {emb['sentences_per_s']:9.1f} sentences/s end to end (tokenization included)")
if diff > 1e-4:
    sys.exit("compare_bert: the two computed different vectors")
PY
