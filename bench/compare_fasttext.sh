#!/usr/bin/env bash
# Usage: bench/compare_fasttext.sh [-b BUILD_DIR] [-B BUCKET] [-j THREADS] [-s SEED]
#
# Trains the `fasttext supervised` command (Debian package fasttext) and
# `weakdistill train --student fasttext` on the same data with the same
# settings (30 epochs, lr 0.5, wordNgrams 2, dim 100, BUCKET buckets, THREADS
# threads, seed SEED), scores both on the test set, and prints both accuracies,
# their difference, how often the two predict the same label, and the training
# times with their ratio. weakdistill runs twice: with shuffle=false (the
# command's input order: with one thread the two should agree exactly) and
# with its default shuffle=true.
#
#   -b BUILD_DIR   CMake build dir holding the weakdistill binary (default: build)
#   -B BUCKET      n-gram hash buckets for both (default: 100000, weakdistill's
#                  default; the command's own default is 2000000)
#   -j THREADS     training threads for both (default: 1, the reproducible setting)
#   -s SEED        seed for both (default: 1)
#
# Data: data/cls/train.jsonl and data/cls/test.jsonl (WEAKDISTILL_DATA=DIR
# to use DIR/cls/). Both sides read the same characters: the texts are turned
# into fastText's format here with weakdistill's rule (one token a character;
# each whitespace run becomes one "▁"; see src/student/char_tokens.h).
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
bucket=100000
threads=1
seed=1
usage() { sed -n '2,23s/^# \{0,1\}//p' "$0"; }
while getopts "b:B:j:s:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    B) bucket=$OPTARG ;;
    j) threads=$OPTARG ;;
    s) seed=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi

data=${WEAKDISTILL_DATA:-data}
train=$data/cls/train.jsonl
test=$data/cls/test.jsonl
wd=$build/weakdistill
py=/usr/bin/python3
for f in "$train" "$test"; do
  [[ -f $f ]] || { echo "compare_fasttext.sh: $f not found" >&2; exit 2; }
done
[[ -x $wd ]] || { echo "compare_fasttext.sh: $wd not found; build it first" >&2; exit 2; }
command -v fasttext >/dev/null || { echo "compare_fasttext.sh: no fasttext command (apt-get install fasttext)" >&2; exit 2; }
[[ -x $py ]] || { echo "compare_fasttext.sh: $py not found (apt-get install python3)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# JSONL -> "__label__<label> c h a r s". Whitespace as in char_tokens.h:
# str.isspace() or NUL; a run between two characters is one "▁", ends dropped.
to_fasttext() {
  "$py" - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    s = json.loads(line)
    out, space = [], False
    for c in s["text"]:
        if c.isspace() or c == "\0":
            space = True
            continue
        if space and out:
            out.append("\u2581")
        space = False
        out.append(c)
    print("__label__" + s["label"], " ".join(out))
EOF
}
to_fasttext "$train" >"$tmp/train.txt"
to_fasttext "$test" >"$tmp/test.txt"

now() { date +%s.%N; }
settings="30 epochs, lr 0.5, wordNgrams 2, dim 100, bucket $bucket, $threads thread(s), seed $seed"
echo "== $settings; train $(wc -l <"$train") samples, test $(wc -l <"$test")"

start=$(now)
fasttext supervised -input "$tmp/train.txt" -output "$tmp/cli" -epoch 30 -lr 0.5 -wordNgrams 2 \
  -dim 100 -bucket "$bucket" -thread "$threads" -seed "$seed" -verbose 0
cli_secs=$("$py" -c "print($(now) - $start)")
fasttext predict "$tmp/cli.bin" "$tmp/test.txt" >"$tmp/cli.pred"

run_weakdistill() {  # $1 name, $2 shuffle
  local start
  start=$(now)
  "$wd" train --task classification --student fasttext --train "$train" --out "$tmp/$1" \
    --set epochs=30 --set lr=0.5 --set word_ngrams=2 --set dim=100 --set bucket="$bucket" \
    --set threads="$threads" --set seed="$seed" --set shuffle="$2" 2>/dev/null
  "$py" -c "print($(now) - $start)" >"$tmp/$1.secs"
  "$wd" predict --model "$tmp/$1" --input "$test" --output "$tmp/$1.jsonl" 2>/dev/null
}
run_weakdistill wd_ordered false
run_weakdistill wd_shuffled true

"$py" - "$tmp" "$cli_secs" <<'EOF'
import json, sys
tmp, cli_secs = sys.argv[1], float(sys.argv[2])
gold = [l.split(" ", 1)[0][len("__label__"):] for l in open(f"{tmp}/test.txt", encoding="utf-8")]
cli = [l.strip()[len("__label__"):] for l in open(f"{tmp}/cli.pred", encoding="utf-8")]
assert len(cli) == len(gold)
acc = lambda pred: sum(p == g for p, g in zip(pred, gold)) / len(gold)
rows = [("fasttext supervised (command)", cli, cli_secs)]
for name, title in (("wd_ordered", "weakdistill, shuffle=false"), ("wd_shuffled", "weakdistill, shuffle=true")):
    pred = [json.loads(l)["label"] for l in open(f"{tmp}/{name}.jsonl", encoding="utf-8")]
    assert len(pred) == len(gold)
    rows.append((title, pred, float(open(f"{tmp}/{name}.secs").read())))
print(f"{'':32} {'accuracy':>9} {'vs command':>11} {'same label':>11} {'train s':>8} {'time ratio':>11}")
for title, pred, secs in rows:
    same = sum(a == b for a, b in zip(pred, cli)) / len(gold)
    print(f"{title:32} {acc(pred):9.4f} {100 * (acc(pred) - acc(cli)):+10.2f}p {same:11.4f} "
          f"{secs:8.2f} {secs / cli_secs:10.2f}x")
EOF
