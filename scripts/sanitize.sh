#!/usr/bin/env bash
# Builds weakdistill with sanitizers and runs the tests under them; exits non-zero on any failure
# (a build error, a failed test, or a sanitizer report: the runtimes exit with 86).
# Usage: scripts/sanitize.sh [asan|tsan|all]        (default: all)
#   asan  build-asan/, -DWEAKDISTILL_SANITIZE=address,undefined: the whole test suite
#   tsan  build-tsan/, -DWEAKDISTILL_SANITIZE=thread: the concurrent client tests only
#         (libtorch and OpenMP are not TSan-clean, so the students are left out)
# Environment: JOBS (default: all cores), CTEST_ARGS (extra ctest arguments, e.g. "-R Http").
# Options and suppressions: tests/sanitizers/ (docs/RELIABILITY.md, Sanitizers). Needs only what
# scripts/setup.sh installs; run it first on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-all}"
case "$mode" in
  asan | tsan | all) ;;
  -h | --help)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "sanitize: unknown mode '$mode'; use asan, tsan or all" >&2
    exit 2
    ;;
esac
JOBS="${JOBS:-$(nproc)}"
# -O1 -g1, not RelWithDebInfo's -O2 -g: half the compile time (bert_cls.cc under ASan+UBSan:
# 41 s at -O2 -g, 20 s at -O1 -g1), and line tables are all a sanitizer's stack trace needs.
# -O1 is also what the sanitizers' own documentation recommends.
SANITIZER_FLAGS="-O1 -g1 -DNDEBUG"
read -r -a ctest_extra <<<"${CTEST_ARGS:-}"

# The GoogleTest suites that exercise threads in our code: the HTTP client and its replicas,
# the fake server (a thread per connection), the teachers and embedders that call it with
# `concurrency` requests in flight, the SQLite cache they share, the offline teachers' locks,
# the hashing embedder's worker threads, and the program against fake_openai: `teacher try`,
# and `run` with a flaky teacher, Ctrl-C mid-requests and kill -9 (fastText students only;
# the libtorch ones, and so student_tests, are left out).
TSAN_TARGETS=(weakdistill fake_openai net_tests fake_tests teacher_tests embed_tests cli_tests)
# Kills the program up to 6 times at moments scaled to its measured run: correct under TSan but
# several minutes long there. Points/Crash kills at the same places, deterministically.
TSAN_SKIP='^Crash\.KillNineAtRandomMoments'
TSAN_TESTS='^(HttpClient|Https|FakeOpenAIServer|FakeOpenAIProgram|OpenAITeacher|ResponseCache|OpenAIEmbedder|PoolTeacher|AugmentTeacher|TeacherTry|RunCli|Signals/RunInterrupted|Faults|Secrets|Crash|Points/Crash)\.|^HashingEmbedder\.ThreadCount'

# Tests that read the shipped datasets find them in data/ (skipped, visibly, when absent).
scripts/get-data.sh --quiet || true

failed=()
seconds() { date +%s; }

run_asan() {
  local t0 t1 t2
  t0=$(seconds)
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$SANITIZER_FLAGS" \
    -DWEAKDISTILL_SANITIZE=address,undefined -DWEAKDISTILL_BUILD_BENCH=OFF
  cmake --build build-asan -j "$JOBS"
  t1=$(seconds)
  local rc=0
  ctest --test-dir build-asan --output-on-failure -j "$JOBS" "${ctest_extra[@]}" || rc=$?
  t2=$(seconds)
  echo "sanitize: asan: build $((t1 - t0)) s, tests $((t2 - t1)) s, exit $rc"
  ((rc == 0)) || failed+=(asan)
}

run_tsan() {
  local t0 t1 t2
  t0=$(seconds)
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$SANITIZER_FLAGS" \
    -DWEAKDISTILL_SANITIZE=thread -DWEAKDISTILL_BUILD_BENCH=OFF
  cmake --build build-tsan -j "$JOBS" --target "${TSAN_TARGETS[@]}"
  t1=$(seconds)
  # TSan's shadow memory layout does not fit the wider mmap randomisation of newer kernels
  # ("FATAL: ThreadSanitizer: unexpected memory mapping"); without ASLR it always does.
  local launcher=()
  if [[ $(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28) -gt 28 ]]; then
    launcher=(setarch "$(uname -m)" -R)
  fi
  local rc=0
  "${launcher[@]}" ctest --test-dir build-tsan --output-on-failure -j "$JOBS" -R "$TSAN_TESTS" \
    -E "$TSAN_SKIP" --no-tests=error "${ctest_extra[@]}" || rc=$?
  t2=$(seconds)
  echo "sanitize: tsan: build $((t1 - t0)) s, tests $((t2 - t1)) s, exit $rc"
  ((rc == 0)) || failed+=(tsan)
}

[[ "$mode" == asan || "$mode" == all ]] && run_asan
[[ "$mode" == tsan || "$mode" == all ]] && run_tsan

if ((${#failed[@]})); then
  echo "sanitize: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize: $mode passed"
