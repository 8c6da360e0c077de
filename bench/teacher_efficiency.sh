#!/usr/bin/env bash
# Usage: bench/teacher_efficiency.sh [-b BUILD_DIR] [-o OUT_DIR] [-s SEEDS] [-j JOBS]
#                                    [-t TASKS] [-p PARTS] [-q]
#
# What the teacher costs per accepted training sample, two measurements:
#
#  A. distill.reservoir on against off, on examples/{cls,ner,sum}-offline.yaml (the simulated
#     `pool` teacher, offline), seeds 1..SEEDS (distill.seed and data.few_shot.seed together).
#     Both arms stop at the same training-set size (distill.max_train = few-shot size +
#     4 × per_round, patience 100, max_rounds 20, so neither stops early). Per task and arm:
#     teacher requests per accepted sample (the rounds' teacher.requests over their accepted),
#     the best round's test metric (accuracy; entity F1; ROUGE-L F1), mean ± std over seeds,
#     and the paired difference on − off.
#  B. teacher.samples_per_request k = 1, 4, 8 on classification with the `openai` teacher
#     against the fake server (BUILD_DIR/tests/fake_openai --samples-file, real THUCNews titles
#     of data/cls/train.jsonl outside the seed-1 few-shot draw, --reasoning-chars 200; its
#     usage counts code points), a fresh server for each k, reservoir at its default (on),
#     per_round 100, max_train 500 (3 rounds). Per k: requests, prompt and completion tokens,
#     prompt tokens and all tokens per accepted sample.
#
# Sizes, chosen so that a task's 6 runs take at most ~25 minutes on 2 cores with -j 2:
#   cls  per_round 200 (the config's), 200 few-shot titles  → max_train 1000
#   ner  per_round 100 (the config's), 100 few-shot         → max_train 500
#   sum  per_round 100 (config: 200), 200 few-shot pairs    → max_train 600, and
#        student.dev_limit 100 (config: 300): one run at the config's 200 → 1000 took 12 min
# -q (quick, a smoke test): one seed; ner 50 → 300 and sum 50 → 400; cls and B unchanged.
#
# Took 41 minutes on 2 cores (-j 2, AMD EPYC, with other builds running beside it: load 4-6):
# B 10 s, cls 25 s, ner 21 min (a run 6.5-7.5 min), sum 19 min (a run 4-8.5 min). -q: 7 min (quieter).
# Prints Markdown tables on stdout (also OUT_DIR/tables.md); progress on stderr. Raw figures,
# one JSON line a run: OUT_DIR/reservoir.jsonl (A) and OUT_DIR/samples_per_request.jsonl (B);
# run folders in OUT_DIR/runs/, logs in OUT_DIR/logs/. The binaries are copied to
# OUT_DIR/bin first, so a rebuild during the bench does not mix versions. Ctrl-C or SIGTERM:
# the runs in flight get SIGTERM and stop at their next safe point (the end of a round).
#
#   -b BUILD_DIR   CMake build dir with weakdistill and tests/fake_openai (default: build)
#   -o OUT_DIR     output folder, replaced (default: runs/teacher_efficiency; runs/ is git-ignored)
#   -s SEEDS       seeds 1..SEEDS for A (default: 3)
#   -j JOBS        runs of A at once; each student trains on one thread (default: 2)
#   -t TASKS       tasks of A, comma-separated among cls, ner, sum (default: cls,ner,sum)
#   -p PARTS       A, B or A,B (default: A,B)
#   -q             quick mode (see above)
#
# Run from anywhere; paths are relative to the repository root. E.g.:
#   ninja -C build weakdistill fake_openai && bench/teacher_efficiency.sh
#   bench/teacher_efficiency.sh -q -t cls        # seconds
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
out=runs/teacher_efficiency
seeds=3
jobs=2
tasks=cls,ner,sum
parts=A,B
quick=0
usage() { sed -n '2,46s/^# \{0,1\}//p' "$0"; }
while getopts "b:o:s:j:t:p:qh" opt; do
  case $opt in
    b) build=$OPTARG ;;
    o) out=$OPTARG ;;
    s) seeds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    t) tasks=$OPTARG ;;
    p) parts=$OPTARG ;;
    q) quick=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi
for v in "$seeds" "$jobs"; do
  if ! [[ $v =~ ^[1-9][0-9]*$ ]]; then
    echo "teacher_efficiency.sh: '$v' is not a positive integer" >&2
    exit 2
  fi
done
IFS=, read -r -a task_list <<<"$tasks"
for t in "${task_list[@]}"; do
  case $t in cls | ner | sum) ;; *) echo "teacher_efficiency.sh: unknown task '$t'" >&2; exit 2 ;; esac
done
part_a=0 part_b=0
IFS=, read -r -a part_list <<<"$parts"
for p in "${part_list[@]}"; do
  case $p in A | a) part_a=1 ;; B | b) part_b=1 ;;
    *) echo "teacher_efficiency.sh: unknown part '$p' (A or B)" >&2; exit 2 ;; esac
done
if ((quick)); then seeds=1; fi

py=/usr/bin/python3
helper=bench/teacher_efficiency.py
for exe in "$build/weakdistill" "$build/tests/fake_openai"; do
  if [[ ! -x $exe ]]; then
    echo "teacher_efficiency.sh: $exe not found; build it: ninja -C $build weakdistill fake_openai" >&2
    exit 2
  fi
done
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if [[ $build_type != Release ]]; then
  echo "teacher_efficiency.sh: warning: $build is a '${build_type:-?}' build; figures are for Release" >&2
fi
if [[ ! -d data/cls || ! -d data/ner || ! -d data/sum ]]; then
  scripts/get-data.sh
fi

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# A fresh output folder, and a copy of the binaries (the CLI finds libweakdistill.so through its
# RUNPATH, which LD_LIBRARY_PATH overrides, and the neural plugin beside libweakdistill.so).
rm -rf "$out"
mkdir -p "$out/bin/lib" "$out/runs" "$out/logs" "$out/raw"
out=$(cd "$out" && pwd)
cp "$build/weakdistill" "$build/tests/fake_openai" "$out/bin/"
cp -L "$build"/lib/libweakdistill*.so "$out/bin/lib/"
export LD_LIBRARY_PATH=$out/bin/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export WEAKDISTILL_PLUGIN_DIR=$out/bin/lib
wd=$out/bin/weakdistill
fake=$out/bin/fake_openai
libs=$(ldd "$wd")  # not `ldd | grep -q`: grep's early exit makes ldd fail under pipefail
if [[ $libs != *"$out/bin/lib/libweakdistill.so"* ]]; then
  echo "teacher_efficiency.sh: the copied $wd does not load the copied libweakdistill.so" >&2
  exit 1
fi
start_s=$(date +%s)
{
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')," \
    "$(git status --porcelain -- src include cli 2>/dev/null | wc -l) changed file(s) in src/ include/ cli/;" \
    "binary built $(date -r "$build/weakdistill" '+%Y-%m-%d %H:%M')"
  echo "machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p;T;q' /proc/cpuinfo)), $(date -u '+%Y-%m-%d %H:%M UTC')"
} >"$out/machine.txt"

server_pid=
job_pids=()
cleanup() {
  local status=$?
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  for pid in "${job_pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      pkill -TERM -P "$pid" 2>/dev/null || true
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs `weakdistill run` in the background once fewer than $jobs are running. On success the
# figures go to $out/raw/NAME.json; on failure NAME goes to $out/raw/NAME.failed with the log.
# Arguments: NAME HELPER_ARGS -- RUN_ARGS...
launch() {
  local name=$1
  shift
  local helper_args=()
  while [[ $1 != -- ]]; do helper_args+=("$1"); shift; done
  shift
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  (
    t0=$(date +%s.%N)
    if "$wd" run "$@" --run-dir "$out/runs/$name" >/dev/null 2>"$out/logs/$name.log"; then
      t1=$(date +%s.%N)
      secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
      "$py" "$helper" "${helper_args[@]}" "$out/runs/$name" --seconds "$secs" >"$out/raw/$name.json"
      log "done $name (${secs%.*} s)"
    else
      rc=$?
      echo "exit $rc: $wd run $* --run-dir $out/runs/$name" >"$out/raw/$name.failed"
      log "FAILED $name (exit $rc); log: $out/logs/$name.log"
    fi
  ) &
  job_pids+=($!)
}

failed=0

# ---------------------------------------------------------------- B: samples_per_request
ks=(1 4 8)
if ((part_b)); then
  log "B: samples_per_request ${ks[*]} against the fake server"
  mkdir -p "$out/b"
  "$wd" data sample --task classification --per-label 20 --seed 1 data/cls/train.jsonl \
    "$out/b/few.jsonl" --rest "$out/b/titles.jsonl" 2>/dev/null
  for k in "${ks[@]}"; do
    "$fake" --port 0 --samples-file "$out/b/titles.jsonl" --reasoning-chars 200 \
      >"$out/b/server-k$k.out" 2>"$out/b/server-k$k.err" &
    server_pid=$!
    url=
    for _ in $(seq 100); do
      line=$(head -n 1 "$out/b/server-k$k.out")
      if [[ $line == "listening on "* ]]; then url=${line#listening on }; break; fi
      if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
      sleep 0.1
    done
    if [[ -z $url ]]; then
      echo "teacher_efficiency.sh: fake_openai did not start:" >&2
      cat "$out/b/server-k$k.err" >&2
      exit 1
    fi
    cat >"$out/b/cls-fake-k$k.yaml" <<EOF
# bench/teacher_efficiency.sh part B: examples/cls-offline.yaml with the openai teacher
# against the fake server, $k sample(s) a request.
task: classification
data:
  train: data/cls/train.jsonl
  dev: data/cls/dev.jsonl
  test: data/cls/test.jsonl
  few_shot: {per_label: 20, seed: 1}
student: {kind: fasttext, threads: 1}
teacher:
  kind: openai
  base_url: $url
  model: fake
  samples_per_request: $k
  timeout_s: 30
  max_retries: 2
embedder: {kind: hashing}
distill: {per_round: 100, oversample: 2, tau: 0.5, max_rounds: 3, patience: 100, seed: 1, max_train: 500}
EOF
    name=B-k$k
    t0=$(date +%s.%N)
    if "$wd" run "$out/b/cls-fake-k$k.yaml" --run-dir "$out/runs/$name" \
      >/dev/null 2>"$out/logs/$name.log"; then
      secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
      "$py" "$helper" k-run "$out/runs/$name" --k "$k" --seconds "$secs" \
        >>"$out/samples_per_request.jsonl"
      log "done $name (${secs%.*} s)"
    else
      rc=$?
      log "FAILED $name (exit $rc); log: $out/logs/$name.log"
      tail -n 20 "$out/logs/$name.log" >&2
      failed=1
    fi
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    server_pid=
  done
fi

# ---------------------------------------------------------------- A: reservoir on / off
if ((part_a)); then
  seed_list=$(seq 1 "$seeds")
  log "A: reservoir on/off, tasks ${task_list[*]}, seeds 1..$seeds, $jobs at once"
  for t in "${task_list[@]}"; do
    extra=()
    note=
    case $t in
      cls) config=examples/cls-offline.yaml few=200 per_round=200 ;;
      ner) config=examples/ner-offline.yaml few=100 per_round=100 ;;
      sum)
        config=examples/sum-offline.yaml few=200 per_round=100
        extra=(--set student.dev_limit=100)
        note="reduced for speed: config per_round 200, dev_limit 300"
        ;;
    esac
    if ((quick)) && [[ $t != cls ]]; then
      per_round=50
      note="quick mode"
      if [[ $t == sum ]]; then note+=", dev_limit 100"; fi
    fi
    max_train=$((few + 4 * per_round))
    for s in $seed_list; do
      for arm in off on; do
        name=A-$t-s$s-$arm
        launch "$name" reservoir-run --task "$t" --arm "$arm" --seed "$s" \
          --per-round "$per_round" --max-train "$max_train" --note "$note" -- \
          "$config" --set "distill.reservoir=$arm" --set "distill.seed=$s" \
          --set distill.seed_from=train_dev --set distill.weakness=in_sample \
          --set distill.seeds=weakness --set distill.allocation=global \
          --set "data.few_shot.seed=$s" --set "distill.per_round=$per_round" \
          --set "distill.max_train=$max_train" --set distill.patience=100 \
          --set distill.max_rounds=20 "${extra[@]}"
      done
    done
  done
  wait
  job_pids=()
  # In launch order, so that the file does not depend on which run finished first.
  for t in "${task_list[@]}"; do
    for s in $seed_list; do
      for arm in off on; do
        name=A-$t-s$s-$arm
        if [[ -f $out/raw/$name.json ]]; then
          cat "$out/raw/$name.json" >>"$out/reservoir.jsonl"
        else
          failed=1
          echo "teacher_efficiency.sh: $name failed: $(cat "$out/raw/$name.failed" 2>/dev/null)" >&2
          tail -n 20 "$out/logs/$name.log" >&2
        fi
      done
    done
  done
fi

# ---------------------------------------------------------------- tables
elapsed=$(($(date +%s) - start_s))
{
  echo "## Teacher efficiency (bench/teacher_efficiency.sh$( ((quick)) && echo ' -q'))"
  echo
  cat "$out/machine.txt"
  echo "wall time: $((elapsed / 60)) min $((elapsed % 60)) s"
  if ((part_a)) && [[ -s $out/reservoir.jsonl ]]; then
    echo
    echo "### A. distill.reservoir on / off at the same training-set size (pool teacher)"
    echo
    "$py" "$helper" reservoir-table "$out/reservoir.jsonl"
  fi
  if ((part_b)) && [[ -s $out/samples_per_request.jsonl ]]; then
    echo
    echo "### B. teacher.samples_per_request (classification, fake OpenAI server, reasoning 200 characters)"
    echo
    "$py" "$helper" k-table "$out/samples_per_request.jsonl"
  fi
} | tee "$out/tables.md"
log "figures: $out/reservoir.jsonl, $out/samples_per_request.jsonl; tables: $out/tables.md"
if ((failed)); then
  echo "teacher_efficiency.sh: some runs failed (above)" >&2
  exit 1
fi
