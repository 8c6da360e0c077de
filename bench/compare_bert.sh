#!/usr/bin/env bash
# Usage: bench/compare_bert.sh [-b BUILD_DIR] [-n TEXTS] [-B BATCH] [-j THREADS] [-r REPEAT]
#
# The native BERT encoder against Python PyTorch eager (bench/bert_eager.py, a
# transformers-style BertModel on torch 1.13) on the same weights, threads and
# batches, in one run. The model is a random bge-small-zh-sized BERT (hidden
# 512, 4 layers, 8 heads, intermediate 2048, max 512 positions) whose
# vocabulary is LCSTS's characters, written by tests/reference/bert_reference.py.
# bert_bench tokenizes the first TEXTS LCSTS articles, sorts them by length,
# cuts batches of BATCH and writes them; both sides then time their forward
# (plus CLS pooling and normalisation) over those batches, best of REPEAT
# passes after a warm-up. Prints both rates, the ratio (ours / eager), the
# largest difference between the two sets of vectors, and our end-to-end
# `bge` embed() rate (tokenization included).
#
#   -b BUILD_DIR   CMake build dir with bench/bert_bench (default: build)
#   -n TEXTS       LCSTS articles (default: 256)
#   -B BATCH       texts per batch (default: 32)
#   -j THREADS     threads for both (default: all cores)
#   -r REPEAT      timed passes, the best kept (default: 3)
#
# Data: data/sum/train.jsonl (WEAKDISTILL_DATA=DIR to use DIR/sum/).
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
n=256
batch=32
threads=$(nproc)
repeat=3
usage() { sed -n '2,22s/^# \{0,1\}//p' "$0"; }
while getopts "b:n:B:j:r:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    n) n=$OPTARG ;;
    B) batch=$OPTARG ;;
    j) threads=$OPTARG ;;
    r) repeat=$OPTARG ;;
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

echo "compare_bert: $n LCSTS texts, batches of $batch, $threads threads, best of $repeat" >&2
ours=$("$build/bench/bert_bench" "$work/model" "$texts" --n "$n" --batch "$batch" --threads "$threads" \
  --repeat "$repeat" --batches-out "$work/batches.jsonl" --npy-out "$work/ours.npy")
eager=$($py bench/bert_eager.py "$work/model" "$work/batches.jsonl" --threads "$threads" \
  --repeat "$repeat" --out-npy "$work/eager.npy")
$py - "$work" "$ours" "$eager" <<'PY'
import json, sys
import numpy as np
work, ours, eager = sys.argv[1], sys.argv[2].splitlines(), json.loads(sys.argv[3])
enc = json.loads(ours[0]); emb = json.loads(ours[1])
diff = float(np.abs(np.load(f"{work}/ours.npy") - np.load(f"{work}/eager.npy")).max())
print(f"texts {enc['sentences']}, tokens {enc['tokens']}, threads {enc['threads']} "
      f"(torch {eager['torch']})")
print(f"weakdistill encoder   {enc['sentences_per_s']:9.1f} sentences/s ({enc['seconds']:.3f} s)")
print(f"PyTorch eager         {eager['sentences_per_s']:9.1f} sentences/s ({eager['seconds']:.3f} s)")
print(f"ratio (ours / eager)  {enc['sentences_per_s'] / eager['sentences_per_s']:9.2f}")
print(f"largest |difference| of the normalised vectors: {diff:.2e}")
print(f"weakdistill bge embed {emb['sentences_per_s']:9.1f} sentences/s end to end (tokenization included)")
if diff > 1e-4:
    sys.exit("compare_bert: the two computed different vectors")
PY
