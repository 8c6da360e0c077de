#!/usr/bin/env bash
# Usage: bench/compare_serve.sh [-n TEXTS] [-t SECONDS] [-w MAX_WAIT_MS] [-N] [BIN [SERVE_BENCH]]
#
# `weakdistill serve` against the same model's in-process predict() loop on the same texts, in
# one run, for a fasttext and a small bert-cls student (docs/PERFORMANCE.md "Serving"). Makes
# both models in a temporary folder:
#   - fasttext, trained on data/cls/train.jsonl;
#   - bert-cls on a random BERT (hidden 256, 4 layers, 4 heads, intermediate 1024, 128
#     positions) from tests/reference/bert_reference.py, whose vocabulary is the characters of
#     data/cls/*.jsonl (each also as a ##piece) plus the specials, fine-tuned 1 epoch on
#     data/cls/train.jsonl on one thread.
# For each model, on the first TEXTS titles of data/cls/test.jsonl:
#   - in process (serve_bench --in-process): predict() in batches of 1 and of 32 on one thread;
#     the batch-32 rate is the ceiling every row's ratio is taken against;
#   - served: `weakdistill serve MODEL --threads 1` with batching on (--max-batch 32
#     --max-wait-ms MAX_WAIT_MS) and off (--max-batch 1), each loaded by serve_bench with 1, 16
#     and 64 concurrent keep-alive clients sending one text a request. A probe of 50 requests
#     sizes each row to about SECONDS (at least 100 requests, at most 100,000); the server is
#     stopped with SIGTERM (it must exit 0) between configurations.
# Prints the command, the machine's load, and a markdown table.
#
#   -n TEXTS        test titles used (default: 500)
#   -t SECONDS      about how long each serve row runs (default: 3)
#   -w MAX_WAIT_MS  the server's --max-wait-ms with batching on (default: 0, the server's own)
#   -N              also serve every configuration with TCP_NODELAY set on the server's accepted
#                   sockets by an LD_PRELOAD shim built here; rows "... +nodelay". It measured
#                   what the option buys before src/serve/server.cc set it itself; since then
#                   the +nodelay rows should equal the plain ones
#   BIN             the weakdistill binary (default: $BIN, else build/weakdistill)
#   SERVE_BENCH     the load generator (default: $SERVE_BENCH, else build/bench/serve_bench)
#
# Data: data/cls/ (WEAKDISTILL_DATA=DIR to use DIR/cls/; scripts/get-data.sh fetches it).
set -euo pipefail
cd "$(dirname "$0")/.."

command_line="bench/compare_serve.sh $*"
texts_n=500
seconds=3
max_wait=0
nodelay=0
usage() { sed -n '2,32s/^# \{0,1\}//p' "$0"; }
while getopts "n:t:w:Nh" opt; do
  case $opt in
    n) texts_n=$OPTARG ;;
    t) seconds=$OPTARG ;;
    w) max_wait=$OPTARG ;;
    N) nodelay=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 2 ]]; then usage >&2; exit 2; fi
bin=${1:-${BIN:-build/weakdistill}}
bench=${2:-${SERVE_BENCH:-build/bench/serve_bench}}
data=${WEAKDISTILL_DATA:-data}/cls
py=/usr/bin/python3

[[ -x $bin ]] || { echo "compare_serve.sh: $bin not built" >&2; exit 2; }
[[ -x $bench ]] || { echo "compare_serve.sh: $bench not built (ninja serve_bench)" >&2; exit 2; }
if [[ ! -f $data/train.jsonl && -z ${WEAKDISTILL_DATA:-} ]]; then scripts/get-data.sh >&2; fi
[[ -f $data/train.jsonl && -f $data/test.jsonl ]] ||
  { echo "compare_serve.sh: $data/{train,test}.jsonl not found (scripts/get-data.sh)" >&2; exit 2; }

work=$(mktemp -d)
server=
cleanup() {
  if [[ -n $server ]]; then kill -KILL "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

head -n "$texts_n" "$data/test.jsonl" >"$work/texts.jsonl"

# --- the two models -------------------------------------------------------------------------
echo "compare_serve: training fasttext" >&2
"$bin" -q train --task classification --student fasttext --train "$data/train.jsonl" \
  --out "$work/fasttext" --set threads=1 >/dev/null

# The vocabulary: the specials, then every character of data/cls (lower-cased, as the tokenizer
# reads it), then each again as a ##piece so that a Latin word or a number is spelt out rather
# than [UNK].
$py - "$data" >"$work/vocab.txt" <<'PY'
import glob, json, sys
chars = set()
for path in sorted(glob.glob(sys.argv[1] + "/*.jsonl")):
    with open(path, encoding="utf-8") as f:
        for line in f:
            chars.update(c.lower() for c in json.loads(line)["text"] if not c.isspace())
chars = sorted(chars)
print("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["##" + c for c in chars]))
PY
$py tests/reference/bert_reference.py make "$work/bert" --vocab "$work/vocab.txt" --hidden 256 \
  --layers 4 --heads 4 --intermediate 1024 --max-position 128 --prefix bert. --seed 1 >/dev/null
echo "compare_serve: training bert-cls (1 epoch, 1 thread)" >&2
"$bin" -q train --task classification --student bert-cls --train "$data/train.jsonl" \
  --out "$work/bert-cls" --set path="$work/bert" --set epochs=1 --set threads=1 >/dev/null

# --- the runs ----------------------------------------------------------------------------------
if ((nodelay)); then
  cat >"$work/nodelay.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
static int nodelay(int fd) {
  int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}
int accept(int s, struct sockaddr* a, socklen_t* l) {
  static int (*real)(int, struct sockaddr*, socklen_t*);
  if (!real) real = (int (*)(int, struct sockaddr*, socklen_t*))dlsym(RTLD_NEXT, "accept");
  return nodelay(real(s, a, l));
}
int accept4(int s, struct sockaddr* a, socklen_t* l, int f) {
  static int (*real)(int, struct sockaddr*, socklen_t*, int);
  if (!real) real = (int (*)(int, struct sockaddr*, socklen_t*, int))dlsym(RTLD_NEXT, "accept4");
  return nodelay(real(s, a, l, f));
}
C
  cc -O2 -shared -fPIC -o "$work/nodelay.so" "$work/nodelay.c" -ldl
fi

# Rows: model <TAB> mode <TAB> the JSON line serve_bench printed.
results=$work/results.tsv
: >"$results"

start_server() {  # MODEL_DIR MAX_BATCH PRELOAD
  rm -f "$work/port"
  env ${3:+LD_PRELOAD=$3} "$bin" serve "$1" --threads 1 --port 0 --port-file "$work/port" \
    --max-batch "$2" --max-wait-ms "$max_wait" >"$work/serve.log" 2>&1 &
  server=$!
  for ((i = 0; i < 600; i++)); do
    [[ -s $work/port ]] && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  echo "compare_serve: the server did not start:" >&2
  cat "$work/serve.log" >&2
  exit 1
}

stop_server() {
  kill -TERM "$server"
  local code=0
  wait "$server" || code=$?
  server=
  if ((code != 0)); then
    echo "compare_serve: the server exited $code after SIGTERM:" >&2
    cat "$work/serve.log" >&2
    exit 1
  fi
}

for model in fasttext bert-cls; do
  # fasttext predicts the 500 titles in a few ms: more rounds, for a steadier best.
  rounds=3
  [[ $model == fasttext ]] && rounds=30
  for batch in 1 32; do
    echo "compare_serve: $model in process, batch $batch" >&2
    printf '%s\tin-process batch %s\t%s\n' "$model" "$batch" \
      "$("$bench" --in-process "$work/$model" --texts "$work/texts.jsonl" --batch "$batch" \
        --threads 1 --rounds "$rounds")" >>"$results"
  done
  variants=("")
  ((nodelay)) && variants+=("$work/nodelay.so")
  for preload in "${variants[@]}"; do
    suffix=${preload:+ +nodelay}
    for max_batch in 32 1; do
      mode="serve, batching off$suffix"
      ((max_batch > 1)) && mode="serve, batching on$suffix"
      start_server "$work/$model" "$max_batch" "$preload"
      port=$(cat "$work/port")
      for c in 1 16 64; do
        probe=$("$bench" --url "http://127.0.0.1:$port" --texts "$work/texts.jsonl" \
          --concurrency "$c" --requests 50)
        n=$($py -c 'import json, sys
r = json.loads(sys.argv[1])["requests_per_s"]
print(min(100000, max(100, round(r * float(sys.argv[2])))))' "$probe" "$seconds")
        echo "compare_serve: $model $mode, concurrency $c, $n requests" >&2
        printf '%s\t%s\t%s\n' "$model" "$mode" \
          "$("$bench" --url "http://127.0.0.1:$port" --texts "$work/texts.jsonl" \
            --concurrency "$c" --requests "$n")" >>"$results"
      done
      stop_server
    done
  done
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - started))
$py - "$results" "$command_line" "$texts_n" "$(nproc)" "$load_start" "$load_end" "$elapsed" \
  "$max_wait" <<'PY'
import json, sys
path, command, texts, cores, load_start, load_end, elapsed, max_wait = sys.argv[1:]
rows = []
for line in open(path, encoding="utf-8"):
    model, mode, js = line.rstrip("\n").split("\t", 2)
    rows.append((model, mode, json.loads(js)))
ceiling = {m: r["texts_per_s"] for m, mode, r in rows if mode == "in-process batch 32"}
print(f"command: `{command}`")
print(f"{texts} data/cls test titles, one a request; model and server on 1 thread "
      f"(--threads 1), batching on = --max-batch 32 --max-wait-ms {max_wait}; {cores} cores, "
      f"load average {load_start} at the start, {load_end} at the end; {elapsed} s in all")
print()
print("| model | mode | concurrency | requests | requests/s | p50 ms | p99 ms "
      "| ratio to in-process batch 32 | texts per model call |")
print("|---|---|---|---|---|---|---|---|---|")
errors = 0
for model, mode, r in rows:
    if r["mode"] == "in-process":
        rate, conc, n, batch = r["texts_per_s"], "—", "—", str(r["batch"])
    else:
        rate, conc, n = r["requests_per_s"], str(r["concurrency"]), f"{r['requests']:,}"
        batch = "—" if r["mean_batch_texts"] is None else f"{r['mean_batch_texts']:.1f}"
        errors += r["errors"] + r["warmup_errors"]
    print(f"| {model} | {mode} | {conc} | {n} | {rate:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
          f"| {rate / ceiling[model]:.2f} | {batch} |")
print()
print("In-process rows: texts/s (best of the rounds) and latency per predict() call (of 1 or 32 "
      "texts). Serve rows: requests/s over the timed phase and latency per request as the "
      "client saw it; texts per model call from the server's weakdistill_batch_size_texts.")
if errors:
    sys.exit(f"compare_serve: {errors} requests failed")
PY
