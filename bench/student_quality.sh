#!/usr/bin/env bash
# Trains students on the full train split and on a few-shot split of data/, scores them on the
# test split, and prints a Markdown table (the figures of docs/RESULTS.md, "Students").
#
# Usage: bench/student_quality.sh [-b BUILD_DIR] [-o OUT_DIR] [-s full|few|full,few] [TASK:KIND[:key=value,...] ...]
#   default students: classification:fasttext classification:textcnn ner:bigru-crf
#                     summarization:lead summarization:pointer-generator
#   few-shot splits (seed 1): classification 20 a label, ner 100 sentences, summarization 200 pairs.
# Each row: test metrics, training time (wall) and model size on disk. Results also go to
# OUT_DIR/results.jsonl (default runs/student-quality).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
out=runs/student-quality
splits=full,few
while getopts "b:o:s:" opt; do
  case $opt in
    b) build=$OPTARG ;;
    o) out=$OPTARG ;;
    s) splits=$OPTARG ;;
    *) sed -n 2,10p "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
students=("$@")
((${#students[@]})) || students=(classification:fasttext classification:textcnn ner:bigru-crf
                                 summarization:lead summarization:pointer-generator)
bin="$build/weakdistill"
[[ -x $bin ]] || { echo "no $bin; run scripts/setup.sh" >&2; exit 2; }
scripts/get-data.sh --quiet
mkdir -p "$out"

dir_of() { case $1 in classification) echo cls ;; ner) echo ner ;; summarization) echo sum ;; esac; }

few_shot() {  # task -> path of the few-shot train file
  local task=$1 d; d=$(dir_of "$task")
  local f="$out/$d-few.jsonl"
  if [[ ! -f $f ]]; then
    case $task in
      classification) "$bin" -q data sample --task "$task" --per-label 20 --seed 1 "data/$d/train.jsonl" "$f" ;;
      ner) "$bin" -q data sample --task "$task" --n 100 --seed 1 "data/$d/train.jsonl" "$f" ;;
      summarization) "$bin" -q data sample --task "$task" --n 200 --seed 1 "data/$d/train.jsonl" "$f" ;;
    esac
  fi
  echo "$f"
}

metrics_cells() {  # task metrics.json -> markdown cells
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
task, m = sys.argv[1], json.load(open(sys.argv[2]))
if task == "classification":
    print(f"accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}")
elif task == "ner":
    print(f"P {m['precision']:.4f}, R {m['recall']:.4f}, F1 {m['f1']:.4f}")
else:
    print(f"R-1 {m['rouge1']['f1']:.4f}, R-2 {m['rouge2']['f1']:.4f}, R-L {m['rougeL']['f1']:.4f}, BLEU-4 {m['bleu4']:.4f}")
PY
}

rows=()
for spec in "${students[@]}"; do
  IFS=: read -r task kind opts <<<"$spec"
  d=$(dir_of "$task")
  sets=()
  if [[ -n ${opts:-} ]]; then IFS=, read -ra kv <<<"$opts"; for x in "${kv[@]}"; do sets+=(--set "$x"); done; fi
  IFS=, read -ra split_list <<<"$splits"
  for split in "${split_list[@]}"; do
    train="data/$d/train.jsonl"
    [[ $split == few ]] && train=$(few_shot "$task")
    tag="$d-$kind-$split"
    model="$out/$tag.model"
    echo "== $tag" >&2
    start=$(date +%s%N)
    "$bin" train --task "$task" --student "$kind" --train "$train" --dev "data/$d/dev.jsonl" \
        --out "$model" "${sets[@]}" 2>"$out/$tag.train.log"
    secs=$(( ($(date +%s%N) - start) / 1000000000 ))
    "$bin" -q predict --model "$model" --input "data/$d/test.jsonl" --output "$out/$tag.pred.jsonl"
    "$bin" eval --task "$task" --gold "data/$d/test.jsonl" --pred "$out/$tag.pred.jsonl" --json >"$out/$tag.metrics.json"
    size=$(du -sh "$model" | cut -f1)
    n=$(grep -c . "$train")
    cells=$(metrics_cells "$task" "$out/$tag.metrics.json")
    rows+=("| $task | \`$kind\`${opts:+ ($opts)} | $split ($n) | $cells | $secs s | $size |")
    /usr/bin/python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(json.dumps({'task':sys.argv[2],'kind':sys.argv[3],'options':sys.argv[4],'split':sys.argv[5],'train_size':int(sys.argv[6]),'train_seconds':float(sys.argv[7]),'metrics':m}))" \
      "$out/$tag.metrics.json" "$task" "$kind" "${opts:-}" "$split" "$n" "$secs" >>"$out/results.jsonl"
  done
done

echo "Students on data/ (test split), $(date -u +%Y-%m-%d), $(nproc) cores; command: bench/student_quality.sh $*"
echo
echo "| task | student | train set | test metrics | training time | model size |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
