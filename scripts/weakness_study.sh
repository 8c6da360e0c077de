#!/usr/bin/env bash
# Weakness study: ways of choosing the teacher's seeds, compared on each task with the
# simulated pool teacher, over several seeds, at an equal number of teacher requests
# (oversample x per_round x R) and so an equal number of accepted samples unless candidates
# are rejected.
#
#   scripts/weakness_study.sh [-b BUILD_DIR] [-o OUT_DIR] [-t "cls ner sum"] [-s SEEDS]
#                             [-a "arms"] [-r ROUNDS] [-j JOBS] [-c]
#
#   -b  build folder with weakdistill (default build; a copy with lib/*.so works too)
#   -o  output folder (default runs/weakness-study)
#   -t  tasks (default "cls ner sum"):
#         cls  examples/cls-offline.yaml (fastText, 20 titles a label), R=8; test accuracy
#         ner  examples/ner-offline.yaml (bigru-crf, 100 sentences), R=3, student.dev_every=20,
#              cv arms: distill.cv_student.epochs=30 distill.cv_student.keep_best=false;
#              test entity F1 (micro)
#         sum  examples/sum-offline.yaml (pointer-generator, 200 pairs), R=2,
#              distill.per_round=200 student.epochs=5, cv arms: distill.cv_student.epochs=3;
#              test ROUGE-L F1
#   -s  seeds for every task given, "1 2" or 1,2 (default: cls "1 2 3 4 5", ner and sum "1 2 3")
#   -a  arms (default: all that apply to the task; every arm also pins distill.seeds and
#       distill.allocation, global unless said, so that per-task defaults do not change it):
#         one_shot       distill.schedule=one_shot distill.seeds=uniform distill.seed_from=train
#                        (every request in round 1 from uniform seeds, one training)
#         uniform        distill.seeds=uniform distill.seed_from=train
#         weak_in        distill.weakness=in_sample distill.seed_from=train
#         weak_cv        distill.weakness=cv distill.seed_from=train, fold students as -t says
#         weak_cv_full   distill.weakness=cv distill.seed_from=train, fold students trained as
#                        the round's student (ner and sum: what the cheap ones cost in quality)
#         weak_cv_label  distill.weakness=cv distill.allocation=per_label distill.seed_from=train
#                        (cls and ner: sum has no labels to allocate over)
#         weak_in_label  distill.weakness=in_sample distill.allocation=per_label distill.seed_from=train
#                        (cls and ner)
#         weak_cv_soft   distill.weakness=cv distill.soft_h=on distill.seed_from=train (cls only)
#         paper          distill.weakness=in_sample distill.seed_from=train_dev (the paper's
#                        C_label: dev samples may be seeds, so dev is optimistic)
#         random_pool    teacher.draw=random distill.seeds=uniform distill.seed_from=train
#                        (random held-out samples whatever the seed: active-learning-style)
#   -r  rounds R for every task (overrides the per-task R; for quick checks)
#   -j  runs at once (default 1; every run uses one thread and runs under nice)
#   -c  after a run is scored (metrics.json written), delete its saved students
#
# Every run of a task gets the same: distill.reservoir=off distill.patience=100
# distill.max_rounds=R data.few_shot.seed=S distill.seed=S (S = the seed; so a seed's round-0
# student is the same in every arm), plus the task's keys and the arm's. Each run is
#   BIN run CONFIG --run-dir OUT/<task>/<arm>-s<seed> --set ...
# with its stderr in run.log, stdout in stdout.txt, wall seconds in wall_seconds.txt and the
# exact arguments in args.json, all in the run folder. A folder with metrics.json is kept
# (the script resumes; a kept run made with other arguments is reported); a folder without it
# (an interrupted or failed run) is removed and run again. The test figure is metrics.json
# "test": the best round on dev, evaluated once on test.
# At the end scripts/weakness_study.py writes OUT/weakness_study.md (also printed),
# OUT/weakness_study.csv (one line per run) and OUT/weakness_study_summary.csv (one line per
# task x arm), over every run folder under OUT; the exit code is 1 if a run failed or a
# consistency check found a problem.
set -euo pipefail

CMDLINE="scripts/weakness_study.sh"
for a in "$@"; do
  case $a in
    *[!A-Za-z0-9_./,:=+-]*|'') CMDLINE+=" '${a//\'/\'\\\'\'}'" ;;
    *) CMDLINE+=" $a" ;;
  esac
done

cd "$(dirname "$0")/.."
BUILD=build
OUT=runs/weakness-study
TASKS="cls ner sum"
SEEDS=""
ARMS=""
ROUNDS=""
JOBS=1
CLEAN=0
ALL_ARMS="one_shot uniform weak_in weak_cv weak_cv_full weak_cv_label weak_in_label weak_cv_soft paper random_pool"
while getopts "b:o:t:s:a:r:j:ch" opt; do
  case $opt in
    b) BUILD=$OPTARG ;;
    o) OUT=$OPTARG ;;
    t) TASKS=$OPTARG ;;
    s) SEEDS=${OPTARG//,/ } ;;
    a) ARMS=${OPTARG//,/ } ;;
    r) ROUNDS=$OPTARG ;;
    j) JOBS=$OPTARG ;;
    c) CLEAN=1 ;;
    h) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "usage: $0 [-b BUILD_DIR] [-o OUT_DIR] [-t \"cls ner sum\"] [-s SEEDS] [-a \"arms\"] [-r ROUNDS] [-j JOBS] [-c]" >&2
       exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { echo "unexpected argument: $1 (see -h)" >&2; exit 2; }
case $JOBS in ''|*[!0-9]*|0) echo "-j: expected a positive integer, got '$JOBS'" >&2; exit 2 ;; esac
if [ -n "$ROUNDS" ]; then
  case $ROUNDS in *[!0-9]*|0) echo "-r: expected a positive integer, got '$ROUNDS'" >&2; exit 2 ;; esac
fi
for s in $SEEDS; do
  case $s in *[!0-9]*) echo "-s: seeds are non-negative integers, got '$s'" >&2; exit 2 ;; esac
done

BIN=$BUILD/weakdistill
[ -x "$BIN" ] || { echo "no $BIN: build it first (cmake --build $BUILD --target weakdistill)" >&2; exit 1; }
# A copy of a build folder (weakdistill + lib/*.so) works too: its libraries come first.
if [ -d "$BUILD/lib" ]; then export LD_LIBRARY_PATH=$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}; fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

task_config() {
  case $1 in
    cls) echo examples/cls-offline.yaml ;;
    ner) echo examples/ner-offline.yaml ;;
    sum) echo examples/sum-offline.yaml ;;
    *) echo "unknown task: $1 (cls, ner or sum)" >&2; return 1 ;;
  esac
}
task_rounds() {
  if [ -n "$ROUNDS" ]; then echo "$ROUNDS"; return; fi
  case $1 in cls) echo 8 ;; ner) echo 3 ;; sum) echo 2 ;; esac
}
task_seeds() {
  if [ -n "$SEEDS" ]; then echo "$SEEDS"; return; fi
  case $1 in cls) echo "1 2 3 4 5" ;; *) echo "1 2 3" ;; esac
}
# The task's own keys (the same in every arm), made affordable on 2 cores.
task_sets() {
  case $1 in
    cls) ;;
    ner) echo "student.dev_every=20" ;;
    sum) echo "distill.per_round=200 student.epochs=5" ;;
  esac
}
# Fold-student options of the cv arms. `--set distill.cv_student={"epochs":30}` is refused by
# the binary (a JSON object is kept as a string: "distill.cv_student: expected a mapping of
# student options"), so the mapping is set key by key (docs/CONFIG.md, --set).
task_cv_sets() {
  case $1 in
    cls) ;;
    ner) echo "distill.cv_student.epochs=30 distill.cv_student.keep_best=false" ;;
    sum) echo "distill.cv_student.epochs=3" ;;
  esac
}
arm_applies() {  # arm task
  # soft h needs label probabilities; per-label allocation needs labels (sum has none).
  # weak_cv_full differs from weak_cv only where the cv arms train cheaper fold students.
  case $1 in
    weak_cv_soft) [ "$2" = cls ] ;;
    *_label) [ "$2" != sum ] ;;
    weak_cv_full) [ -n "$(task_cv_sets "$2")" ] ;;
    *) return 0 ;;
  esac
}
arm_sets() {  # arm task
  # Every arm names its seeds and allocation, so that a change of default (docs/CONFIG.md:
  # per-task defaults under protocol clean) does not change what an arm measures.
  local w="distill.seeds=weakness distill.allocation=global distill.seed_from=train"
  case $1 in
    one_shot) echo "distill.schedule=one_shot distill.seeds=uniform distill.allocation=global distill.seed_from=train" ;;
    uniform) echo "distill.seeds=uniform distill.allocation=global distill.seed_from=train" ;;
    weak_in) echo "distill.weakness=in_sample $w" ;;
    weak_cv) echo "distill.weakness=cv $w $(task_cv_sets "$2")" ;;
    weak_cv_full) echo "distill.weakness=cv $w" ;;
    weak_cv_label) echo "distill.weakness=cv distill.seeds=weakness distill.allocation=per_label distill.seed_from=train $(task_cv_sets "$2")" ;;
    weak_in_label) echo "distill.weakness=in_sample distill.seeds=weakness distill.allocation=per_label distill.seed_from=train" ;;
    weak_cv_soft) echo "distill.weakness=cv distill.soft_h=on $w $(task_cv_sets "$2")" ;;
    paper) echo "distill.weakness=in_sample distill.seeds=weakness distill.allocation=global distill.seed_from=train_dev" ;;
    random_pool) echo "teacher.draw=random distill.seeds=uniform distill.allocation=global distill.seed_from=train" ;;
    *) echo "unknown arm: $1 (known: $ALL_ARMS)" >&2; return 1 ;;
  esac
}

# Check every name before running anything.
for t in $TASKS; do task_config "$t" >/dev/null; done
for a in ${ARMS:-$ALL_ARMS}; do arm_sets "$a" cls >/dev/null; done

mkdir -p "$OUT"
STARTED=$(date +%s.%N)

# One run: OUT/<task>/<arm>-s<seed>. Prints nothing on stdout; returns 1 if the run failed.
run_one() {
  local task=$1 arm=$2 seed=$3
  local dir=$OUT/$task/$arm-s$seed config common armk args
  config=$(task_config "$task")
  common="distill.reservoir=off distill.patience=100 distill.max_rounds=$(task_rounds "$task") data.few_shot.seed=$seed distill.seed=$seed $(task_sets "$task")"
  armk=$(arm_sets "$arm" "$task")
  # The arguments as JSON, kept in the run folder (and compared when a run is kept).
  args=$($PY -c 'import json, sys; print(json.dumps({"config": sys.argv[1], "common": sys.argv[2].split(), "arm": sys.argv[3].split()}))' \
         "$config" "$common" "$armk")
  if [ -f "$dir/metrics.json" ]; then
    if [ -f "$dir/args.json" ] && [ "$(cat "$dir/args.json")" != "$args" ]; then
      echo "keep $dir (done) — WARNING: made with other arguments: $(cat "$dir/args.json"); delete it to run it again" >&2
    else
      echo "skip $dir (done)" >&2
    fi
  else
    if [ -e "$dir" ]; then
      echo "removing incomplete $dir" >&2
      rm -rf -- "$dir"
    fi
    mkdir -p "$OUT/$task"
    echo "run  $dir" >&2
    local start end rc=0
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    nice "$BIN" run "$config" --run-dir "$dir" --set $common $armk \
      > "$dir.stdout" 2> "$dir.log" || rc=$?
    end=$(date +%s.%N)
    if [ "$rc" != 0 ] || [ ! -f "$dir/metrics.json" ]; then
      echo "FAILED $dir (exit $rc): last lines of $dir.log:" >&2
      tail -5 "$dir.log" | sed 's/^/  /' >&2
      echo "$dir (exit $rc)" >> "$FAILLOG"
      return 1
    fi
    mv "$dir.stdout" "$dir/stdout.txt"
    mv "$dir.log" "$dir/run.log"
    printf '%s\n' "$args" > "$dir/args.json"
    $PY -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" \
      "$start" "$end" > "$dir/wall_seconds.txt"
    echo "done $dir ($(cat "$dir/wall_seconds.txt") s)" >&2
  fi
  if [ "$CLEAN" = 1 ]; then
    rm -rf -- "$dir/best" "$dir"/rounds/[0-9][0-9]/student
  fi
}

# The queue: JOBS runs at once; a failed run does not stop the others (failures are
# collected in a file, since a background job's status can be missed by wait -n).
FAILLOG=$OUT/.failed-runs
: > "$FAILLOG"
for t in $TASKS; do
  for a in ${ARMS:-$ALL_ARMS}; do
    if ! arm_applies "$a" "$t"; then
      [ -n "$ARMS" ] && echo "note: arm $a does not apply to $t: skipped" >&2
      continue
    fi
    for s in $(task_seeds "$t"); do
      while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
      run_one "$t" "$a" "$s" &
    done
  done
done
wait || true

ENDED=$(date +%s.%N)
ELAPSED=$($PY -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$STARTED" "$ENDED")
selection=()
for t in $TASKS; do
  arms=""
  for a in ${ARMS:-$ALL_ARMS}; do arm_applies "$a" "$t" && arms+="$a,"; done
  selection+=("$t:${arms%,}:$(task_seeds "$t" | tr ' ' ',')")
done
rc=0
$PY scripts/weakness_study.py --out "$OUT" --bin "$BIN" --cmdline "$CMDLINE" \
  --elapsed "$ELAPSED" --selection "${selection[@]}" || rc=$?
if [ -s "$FAILLOG" ]; then
  echo "$(wc -l < "$FAILLOG") run(s) FAILED (logs: the folder's name + .log):" >&2
  sed 's/^/  /' "$FAILLOG" >&2
  exit 1
fi
rm -f -- "$FAILLOG"
exit $rc
