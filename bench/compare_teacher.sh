#!/usr/bin/env bash
# Usage: bench/compare_teacher.sh [-b BUILD_DIR] [-n REQUESTS] [-c CONCURRENCY] [-l LATENCY_MS]
#
# Teacher client throughput: starts the fake OpenAI server (BUILD_DIR/tests/fake_openai)
# with a fixed latency, then sends the same workload (REQUESTS chat requests with the
# built-in Chinese classification prompt, CONCURRENCY in flight) to that one server,
# one client after the other:
#   1. weakdistill HttpClient::post_many        (BUILD_DIR/bench/teacher_throughput)
#   2. weakdistill OpenAITeacher::generate       (same program, --mode teacher: rendering,
#                                                 HTTP and reply parsing, no cache)
#   3. Python asyncio + aiohttp (Debian's python3-aiohttp, bench/teacher_throughput_aiohttp.py),
#      with the same request body byte for byte
# and prints a Markdown table: wall seconds, requests/s, the ideal CONCURRENCY / latency,
# achieved/ideal and ours/Python. Exits 1 if any client had failures.
#
#   -b BUILD_DIR     CMake build dir with WEAKDISTILL_BUILD_BENCH=ON (default: build)
#   -n REQUESTS      requests per client (default: 2000)
#   -c CONCURRENCY   requests in flight (default: 64)
#   -l LATENCY_MS    the server's latency before every answer (default: 200)
#
# Paths are relative to the repository root. Build first, e.g.:
#   cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DWEAKDISTILL_BUILD_BENCH=ON
#   ninja -C build teacher_throughput fake_openai
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
requests=2000
concurrency=64
latency_ms=200
usage() { sed -n '2,23s/^# \{0,1\}//p' "$0"; }
while getopts "b:n:c:l:h" opt; do
  case $opt in
    b) build=$OPTARG ;;
    n) requests=$OPTARG ;;
    c) concurrency=$OPTARG ;;
    l) latency_ms=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi
for v in "$requests" "$concurrency" "$latency_ms"; do
  if ! [[ $v =~ ^[1-9][0-9]*$ ]]; then
    echo "compare_teacher.sh: '$v' is not a positive integer" >&2
    exit 2
  fi
done

bench=$build/bench/teacher_throughput
server=$build/tests/fake_openai
py=/usr/bin/python3  # Debian's, not whatever python3 comes first on PATH
for exe in "$bench" "$server"; do
  if [[ ! -x $exe ]]; then
    echo "compare_teacher.sh: $exe not found; build it first (see the usage below)" >&2
    usage >&2
    exit 2
  fi
done
if ! "$py" -c 'import aiohttp' 2>/dev/null; then
  echo "compare_teacher.sh: $py cannot import aiohttp (apt-get install python3-aiohttp)" >&2
  exit 2
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
if [[ $build_type != Release ]]; then
  echo "compare_teacher.sh: warning: $build is a '${build_type:-?}' build;" \
    "figures are for Release" >&2
fi

tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# Enough server threads for every client connection plus slack (one thread per connection).
"$server" --port 0 --latency-ms "$latency_ms" --threads $((2 * concurrency)) \
  >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
url=
for _ in $(seq 100); do
  line=$(head -n 1 "$tmp/server.out")
  if [[ $line == "listening on "* ]]; then
    url=${line#listening on }
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "compare_teacher.sh: fake_openai did not start:" >&2
  cat "$tmp/server.err" >&2
  exit 1
fi

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
common=(--url "$url" --requests "$requests" --concurrency "$concurrency" --latency-ms "$latency_ms")
"$bench" "${common[@]}" --body-out "$tmp/body.json" >"$tmp/http.json"
"$bench" "${common[@]}" --mode teacher >"$tmp/teacher.json"
"$py" bench/teacher_throughput_aiohttp.py "${common[@]}" --body "$tmp/body.json" >"$tmp/py.json"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

kill -TERM "$server_pid"
wait "$server_pid"
server_pid=
server_summary=$(sed -n 2p "$tmp/server.out")

"$py" - "$tmp/http.json" "$tmp/teacher.json" "$tmp/py.json" "$server_summary" \
  "$(nproc)" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$load_before" "$load_after" \
  "${build_type:-?}" <<'EOF'
import json, sys
http, teacher, py = (json.load(open(p)) for p in sys.argv[1:4])
server = json.loads(sys.argv[4] or "{}")
cores, date, load_before, load_after, build_type = sys.argv[5:10]
cpu = "?"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
except OSError:
    pass
print(f"machine: {cores} cores ({cpu}), {date}, load average {load_before} before, "
      f"{load_after} after")
print(f"workload: {http['requests']} requests, concurrency {http['concurrency']}, server latency "
      f"{http['latency_ms']} ms, body {http['body_bytes']} bytes ({http['prompt_chars']}-character "
      f"Chinese {http['task']} prompt); weakdistill {build_type} build, "
      f"{py['client']} on Python {py['python']}")
print(f"ideal = concurrency / latency = {http['ideal_requests_per_s']:.1f} req/s; with the slots "
      f"starting together, {http['requests']} requests take ceil(n/c) waves, so the best "
      f"achieved/ideal is {http['wave_ceiling']:.4f}")
print()
print("| client | requests | wall s | req/s | ideal req/s | achieved/ideal | ours/Python "
      "| p50 / p99 ms | failures | retries |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for r, what in ((http, "cycle"), (teacher, "cycle"), (py, "latency")):
    lat = r["worker_cycle_ms"] if what == "cycle" else r["latency_ms_per_request"]
    vs = r["requests_per_s"] / py["requests_per_s"]
    print(f"| {r['client']} | {r['requests']} | {r['wall_s']:.3f} | {r['requests_per_s']:.1f} | "
          f"{r['ideal_requests_per_s']:.1f} | {r['ratio']:.3f} | {vs:.3f} | "
          f"{lat['p50']:.1f} / {lat['p99']:.1f} ({what}) | {r['failures']} | {r['retries']} |")
print()
print("p50 / p99: (cycle) time between consecutive completions on one C++ worker thread "
      "(request latency + the client's per-request work); (latency) Python, per request "
      "from holding the semaphore to the parsed reply.")
print(f"server: {server.get('chat_completions')} chat requests over "
      f"{server.get('connections')} connections in total for the three clients")
failed = [r["client"] for r in (http, teacher, py) if r["failures"]]
for r in (http, teacher, py):
    if r["failures"]:
        print(f"FAILURES: {r['client']}: {r['failures']}, first: {r.get('first_error')}",
              file=sys.stderr)
sys.exit(1 if failed else 0)
EOF
