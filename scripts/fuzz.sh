#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang) into build-fuzz/ and runs each
# for SECONDS on a copy of its corpus (tests/fuzz/corpus/<target>/, plus the
# inputs in tests/fuzz/regressions/<target>/). Exits non-zero if a target finds
# a crash, a sanitizer report, a broken invariant, a timeout or an out-of-memory,
# and prints the input that did it.
# Usage: scripts/fuzz.sh [-t SECONDS | -n RUNS] [-j JOBS] [-m] [TARGET...]
#   -t SECONDS  how long each target runs (default 30)
#   -n RUNS     instead: each target runs exactly RUNS inputs from seed 1, as many on a slow
#               machine as on a fast one (what CI uses)
#   -j JOBS     targets run at the same time, and compile jobs (default 1)
#   -m          merge what the runs found back into tests/fuzz/corpus/<target>/
#               (only inputs that add coverage; review before committing)
#   TARGET      jsonl, bio, reply_parser, config, openai_reply (default: all five)
# Environment: FUZZ_CXX (default clang++), FUZZ_FLAGS (more libFuzzer flags,
# e.g. "-max_len=65536"). Each run's log, corpus copy and crash inputs are in
# build-fuzz/runs/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=30
jobs=1
merge=0
runs=0
usage() { sed -n '7,17s/^# \{0,1\}//p' "$0" >&2; exit 2; }
while getopts "t:n:j:mh" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    n) runs=$OPTARG ;;
    j) jobs=$OPTARG ;;
    m) merge=1 ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[[ $seconds =~ ^[0-9]+$ && $runs =~ ^[0-9]+$ && $jobs =~ ^[1-9][0-9]*$ ]] || usage
# What bounds a run: a count of inputs from seed 1 (repeatable), or a time.
if ((runs > 0)); then
  bound=(-runs="$runs" -seed=1)
  amount="$runs inputs"
else
  bound=(-max_total_time="$seconds")
  amount="$seconds s"
fi
all=(jsonl bio reply_parser config openai_reply)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (${all[*]})" >&2; exit 2; }
done

build="build-fuzz"
if [[ ! -f $build/CMakeCache.txt ]]; then
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S tests/fuzz -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="${FUZZ_CXX:-clang++}"
fi
cmake --build "$build" -j "$jobs" --target "${targets[@]/%/_fuzzer}"

# Runs one target; writes the fuzzer's exit status to runs/<target>/status.
run_target() {
  local t=$1 dir=$build/runs/$1
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
  local inputs=("$dir/corpus")
  [[ -n $(ls -A tests/fuzz/regressions/"$t" 2>/dev/null) ]] && inputs+=(tests/fuzz/regressions/"$t")
  # -timeout: one input running 10 s is a hang (the readers are linear).
  # -max_len: libFuzzer would otherwise take the largest input (a 40 KB regression)
  # as the limit and run ten times slower; FUZZ_FLAGS="-max_len=65536" looks for
  # superlinear time.
  # shellcheck disable=SC2086
  "$build/${t}_fuzzer" "${bound[@]}" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -dict=tests/fuzz/dict/"$t".dict -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
    ${FUZZ_FLAGS:-} "${inputs[@]}" >"$dir/log" 2>&1 && echo 0 >"$dir/status" || echo $? >"$dir/status"
}

# Prints a target's outcome; returns non-zero on a finding.
report() {
  local t=$1 status=$2 dir=$build/runs/$1
  local executed rate
  executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  if ((status == 0)); then
    echo "fuzz: $t: ok, ${executed:-?} inputs (${rate:-?}/s), corpus $(find "$dir/corpus" -type f | wc -l) inputs"
    if ((merge)); then
      "$build/${t}_fuzzer" -merge=1 tests/fuzz/corpus/"$t" "$dir/corpus" >"$dir/merge.log" 2>&1
      echo "fuzz: $t: merged into tests/fuzz/corpus/$t/ ($(find tests/fuzz/corpus/"$t" -type f | wc -l) inputs)"
    fi
    return 0
  fi
  echo "fuzz: $t: FAILED (exit $status); from $dir/log:" >&2
  # The finding, the sanitizer's summary, and the stack frames in our code.
  grep -aE '==weakdistill fuzz==|ERROR:|SUMMARY:|^ +#[0-9]+ .* in (weakdistill|LLVMFuzzerTestOneInput)|Test unit written|^(INFO|WARNING|ParseDictionary)' \
    "$dir/log" | grep -v '^INFO: ' | head -30 | cut -c1-400 | sed 's/^/    /' >&2
  local found
  found=$(ls "$dir"/artifacts/* 2>/dev/null || true)
  if [[ -n $found ]]; then
    while read -r input; do
      echo "fuzz: $t: the input is $input; replay it with: $build/${t}_fuzzer $input" >&2
      echo "fuzz: $t: once fixed, keep it as tests/fuzz/regressions/$t/<what-it-is>" >&2
    done <<<"$found"
  fi
  return 1
}

for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  echo "fuzz: $t: running for $amount"
  run_target "$t" &
done
wait
failed=0
for t in "${targets[@]}"; do
  report "$t" "$(cat "$build/runs/$t/status")" || failed=1
done
exit "$failed"
