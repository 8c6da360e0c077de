#!/usr/bin/env bash
# Usage: bench/compare_seq2seq.sh [-b BUILD_DIR] [-n TEXTS] [-B DECODE_BATCH] [-T TRAIN_BATCH]
#                                 [-N MAX_NEW_TOKENS] [-k BEAM] [-j THREADS] [-r REPEAT]
#                                 [-R ROUNDS] [-m MODES] [-O OPTIMIZER] [-P]
#
# The native seq2seq model (src/student/neural/seq2seq.h, seq2seq_decode.h) against Python
# PyTorch eager (bench/seq2seq_eager.py: transformers' BART structure, generate-style greedy
# and beam search on a key/value cache, AdamW training steps; torch 1.13) on the same weights,
# threads and batches, in one run. The model is a random BART half the width of
# fnlp/bart-base-chinese (d_model 512, 6+6 layers, 8 heads, ffn 2048, max 512 positions) whose
# vocabulary is LCSTS's characters (every character of data/sum/train.jsonl, lower-cased, after
# the 5 BERT specials: 4,375 tokens), written by tests/reference/seq2seq_reference.py make with
# init std 0.02 and an untied head (a tied random model copies its input token, and the decoder
# starts from eos, so every row would end at once; untied, eos is as likely as any token and
# every row runs to MAX_NEW_TOKENS on both sides).
# seq2seq_bench frames the first TEXTS LCSTS pairs as the seq2seq student does, sorts them by
# source length and writes batches of DECODE_BATCH (the student's predict_batch) and of
# TRAIN_BATCH (its batch_size). Then, ROUNDS rounds, one side then the other, each mode a warm-up
# and REPEAT timed passes over all batches; each side keeps its best pass:
#   greedy   generated tokens/s (tokens of the returned sequences, eos included)
#   beam     the same with beam K (length penalty 1, no min length, no n-gram ban)
#   train    samples/s of forward + label-smoothed (0.1) cross-entropy + backward + optimizer
#            step (-O), one step a batch, dropout on
# Both run with OPENBLAS_NUM_THREADS=THREADS OMP_WAIT_POLICY=PASSIVE. Prints the rates, the
# ratios (ours / eager), the least CPU time of a pass on each side (user + system of every
# thread: steadier than wall time when other jobs share the cores), decoder row-steps/s (rows fed through the decoder, summed over steps:
# counted on the eager side by a wrapper around its decoder in one untimed pass), and whether both
# sides returned the same tokens. -P also profiles one pass of each side and mode and prints
# the 15 ops of most self time (both: the profiler behind torch.profiler).
#
#   -b BUILD_DIR       CMake build dir with bench/seq2seq_bench (default: build)
#   -n TEXTS           LCSTS pairs (default: 32)
#   -B DECODE_BATCH    texts decoded together (default: 16)
#   -T TRAIN_BATCH     pairs a training step (default: 8)
#   -N MAX_NEW_TOKENS  tokens generated at most, eos included (default: 32)
#   -k BEAM            beam width (default: 4)
#   -j THREADS         threads for both (default: all cores)
#   -r REPEAT          timed passes per round and mode (default: 2)
#   -R ROUNDS          rounds, alternating the two sides (default: 3)
#   -m MODES           comma-separated subset of greedy,beam,train (default: all three)
#   -O OPTIMIZER       train mode's optimizer on both sides: student (default: the seq2seq
#                      student's BertOptimizer, a fused AdamW, against seq2seq_eager.py's
#                      TrainerOptimizer, the same recipe in torch: no decay on biases and
#                      LayerNorms, clipping at 1.0, linear schedule) or adamw (torch AdamW on
#                      every parameter on both sides, nothing else)
#   -P                 profile one pass of each side and mode
#
# Data: data/sum/train.jsonl (WEAKDISTILL_DATA=DIR to use DIR/sum/).
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
n=32
decode_batch=16
train_batch=8
max_new=32
beam=4
threads=$(nproc)
repeat=2
rounds=3
modes=greedy,beam,train
optimizer=student
profile=0
usage() { sed -n '2,48s/^# \{0,1\}//p' "$0"; }
while getopts "b:n:B:T:N:k:j:r:R:m:O:Ph" opt; do
  case $opt in
    b) build=$OPTARG ;;
    n) n=$OPTARG ;;
    B) decode_batch=$OPTARG ;;
    T) train_batch=$OPTARG ;;
    N) max_new=$OPTARG ;;
    k) beam=$OPTARG ;;
    j) threads=$OPTARG ;;
    r) repeat=$OPTARG ;;
    R) rounds=$OPTARG ;;
    m) modes=$OPTARG ;;
    O) optimizer=$OPTARG ;;
    P) profile=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
if [[ $# -gt 0 ]]; then usage >&2; exit 2; fi

texts=${WEAKDISTILL_DATA:-data}/sum/train.jsonl
bench=$build/bench/seq2seq_bench
[[ -f $texts ]] || { echo "compare_seq2seq.sh: $texts not found (scripts/get-data.sh)" >&2; exit 2; }
[[ -x $bench ]] || { echo "compare_seq2seq.sh: $bench not built" >&2; exit 2; }
py=/usr/bin/python3
# The same threads on both sides (torch.set_num_threads() leaves OpenBLAS's own pool at all
# cores), and no libgomp spinning on a shared machine.
export OPENBLAS_NUM_THREADS=$threads OMP_WAIT_POLICY=PASSIVE
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "compare_seq2seq: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
$py -c '
import json, sys
chars = set()
for line in open(sys.argv[1], encoding="utf-8"):
    d = json.loads(line)
    chars.update(c.lower() for c in d["text"] + d["summary"] if not c.isspace())
print("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(chars)))
' "$texts" >"$work/vocab.txt"
vocab_size=$(wc -l <"$work/vocab.txt")
$py tests/reference/seq2seq_reference.py make "$work/model" --arch bart --vocab-size "$vocab_size" \
  --d-model 512 --encoder-layers 6 --decoder-layers 6 --heads 8 --ffn 2048 --max-position 512 \
  --std 0.02 --seed 1 --untied >/dev/null
cp "$work/vocab.txt" "$work/model/vocab.txt"  # the same size; LCSTS's characters instead of U+4E00...
"$bench" "$work/model" --write-batches "$texts" "$work/decode.jsonl" --n "$n" --batch "$decode_batch" >&2
"$bench" "$work/model" --write-batches "$texts" "$work/train.jsonl" --n "$n" --batch "$train_batch" >&2

echo "BART d_model 512, 6+6 layers, 8 heads, ffn 2048, vocabulary $vocab_size (untied head); $n LCSTS pairs," \
  "decode batches of $decode_batch, train batches of $train_batch, max_new_tokens $max_new, beam $beam," \
  "$threads threads, $rounds rounds of $repeat passes"
: >"$work/ours.jsonl"
: >"$work/eager.jsonl"
IFS=, read -r -a mode_list <<<"$modes"
side_args() {  # MODE -> the arguments both programs take for it
  case $1 in
    greedy) echo "$work/decode.jsonl --decode greedy --max-new-tokens $max_new" ;;
    beam) echo "$work/decode.jsonl --decode beam --beam $beam --max-new-tokens $max_new" ;;
    train) echo "$work/train.jsonl --train --optimizer $optimizer" ;;
    *) echo "compare_seq2seq.sh: unknown mode $1" >&2; exit 2 ;;
  esac
}
# Rounds alternate the two sides, so that a change in the machine's load during the run falls on
# both; within a round each mode runs on our side, then on the eager side.
for ((r = 1; r <= rounds; r++)); do
  for mode in "${mode_list[@]}"; do
    # shellcheck disable=SC2046
    "$bench" "$work/model" $(side_args "$mode") --threads "$threads" --repeat "$repeat" \
      $([[ $mode == train ]] || echo "--out-json $work/ours_$mode.json") >>"$work/ours.jsonl"
    # shellcheck disable=SC2046
    $py - "$mode" "$work/model" $(side_args "$mode") --threads "$threads" --repeat "$repeat" \
      $([[ $mode == train ]] || echo "--out-json $work/eager_$mode.json") <<'PY' >>"$work/eager.jsonl"
# bench/seq2seq_eager.py's main(), with the CPU time of each pass recorded as well.
import contextlib, io, json, sys, time
sys.path.insert(0, "bench")
import seq2seq_eager as e
cpu = []
def timed(f):
    def wrapper(*args, **kwargs):
        c0 = time.process_time()
        out = f(*args, **kwargs)
        cpu.append(time.process_time() - c0)
        return out
    return wrapper
e.decode_all, e.train_steps = timed(e.decode_all), timed(e.train_steps)
out = io.StringIO()
with contextlib.redirect_stdout(out):
    e.main(sys.argv[2:])
r = json.loads(out.getvalue().strip().splitlines()[-1])
r["mode"], r["cpu_seconds"] = sys.argv[1], min(cpu[1:])  # the first pass is the warm-up
print(json.dumps(r))
PY
  done
done
echo "load average after the timed rounds: $(cut -d' ' -f1-3 /proc/loadavg)"

# The eager side's decoder row-steps: one more (untimed) pass per decoding mode, counting the
# rows of every decoder call.
for mode in "${mode_list[@]}"; do
  [[ $mode == train ]] && continue
  $py - "$work/model" "$work/decode.jsonl" "$threads" "$mode" "$beam" "$max_new" <<'PY' >>"$work/eager_steps.jsonl"
import json, os, sys
sys.path.insert(0, "bench")
import seq2seq_eager as e
model_dir, batches, threads, mode, beam, max_new = sys.argv[1:7]
counts = {"steps": 0, "row_steps": 0}
forward = e.Decoder.forward
def counting(self, input_ids, *args, **kwargs):
    counts["steps"] += 1
    counts["row_steps"] += int(input_ids.shape[0])
    return forward(self, input_ids, *args, **kwargs)
e.Decoder.forward = counting
e.run_decode(model_dir, batches, int(threads), mode, int(beam), int(max_new), warmup=0, repeat=1)
print(json.dumps({"mode": mode, **counts}))
PY
done

$py - "$work" "$modes" <<'PY'
import json, sys
work, modes = sys.argv[1], sys.argv[2].split(",")
ours = [json.loads(l) for l in open(f"{work}/ours.jsonl")]
eager = [json.loads(l) for l in open(f"{work}/eager.jsonl")]
steps = {}
try:
    steps = {r["mode"]: r for r in map(json.loads, open(f"{work}/eager_steps.jsonl"))}
except FileNotFoundError:
    pass
torch_version = eager[0]["torch"]
print(f"threads {ours[0]['threads']} (torch {torch_version}); best pass of each side")
print(f"{'mode':8} {'weakdistill':>14} {'PyTorch eager':>14} {'ratio':>6}  unit; every round (ours; eager)")
bad = False
for mode in modes:
    o = [x for x in ours if x["what"] == mode]
    p = [x for x in eager if x["mode"] == mode]
    key = "samples_per_s" if mode == "train" else "tokens_per_s"
    bo, bp = max(o, key=lambda x: x[key]), max(p, key=lambda x: x[key])
    rounds = lambda rows: ", ".join(f"{x[key]:.1f}" for x in rows)
    unit = "samples/s" if mode == "train" else "generated tokens/s"
    print(f"{mode:8} {bo[key]:14.1f} {bp[key]:14.1f} {bo[key] / bp[key]:6.2f}  {unit}; "
          f"{rounds(o)}; {rounds(p)}")
    co, cp = min(x["cpu_seconds"] for x in o), min(x["cpu_seconds"] for x in p)
    print(f"{'':8} {co:13.3f}s {cp:13.3f}s {cp / co:6.2f}  least CPU seconds of a pass (all threads); "
          f"ratio = eager / ours")
    if mode == "train":
        print(f"{'':8} {bo['seconds']:13.3f}s {bp['seconds']:13.3f}s         seconds a pass of "
              f"{bo['samples']} samples in {bo['steps']} steps; final loss {bo['final_loss']:.4f} "
              f"(ours), {bp['final_loss']:.4f} (eager)")
        continue
    print(f"{'':8} {bo['seconds']:13.3f}s {bp['seconds']:13.3f}s         seconds a pass; "
          f"generated tokens {bo['generated_tokens']} (ours), {bp['generated_tokens']} (eager)")
    if mode in steps:
        s = steps[mode]
        er = s["row_steps"] / bp["seconds"]
        print(f"{'':8} {bo['row_steps_per_s']:14.1f} {er:14.1f} {bo['row_steps_per_s'] / er:6.2f}  "
              f"decoder row-steps/s: {bo['row_steps']} rows in {bo['decoder_steps']} steps (ours), "
              f"{s['row_steps']} rows in {s['steps']} steps (eager)")
    a = json.load(open(f"{work}/ours_{mode}.json"))
    b = json.load(open(f"{work}/eager_{mode}.json"))
    differ = sum(x["tokens"] != y["tokens"] for x, y in zip(a, b))
    print(f"{'':8} sequences that differ: {differ} of {len(a)}")
    bad = bad or (mode == "greedy" and differ > 0)
if bad:
    print("compare_seq2seq: greedy tokens differ (a near tie?)")
PY

if [[ $profile == 1 ]]; then
  for mode in "${mode_list[@]}"; do
    # shellcheck disable=SC2046
    "$bench" "$work/model" $(side_args "$mode") --threads "$threads" --warmup 1 --repeat 1 \
      --profile "$work/trace_$mode.json" >/dev/null
    echo "== $mode, weakdistill: self time by op over one pass (the profiler behind torch.profiler)"
    $py - "$work/trace_$mode.json" <<'PY'
import collections, json, sys
events = json.load(open(sys.argv[1]))
if isinstance(events, dict):
    events = events.get("traceEvents", [])
by_thread = collections.defaultdict(list)
for ev in events:
    if ev.get("ph") == "X":
        by_thread[ev.get("tid")].append((float(ev["ts"]), float(ev["dur"]), ev["name"]))
self_time, calls, total = collections.Counter(), collections.Counter(), 0.0
for evs in by_thread.values():
    evs.sort(key=lambda e: (e[0], -e[1]))
    stack = []  # [end, name, child time]
    def close(until):
        global total
        while stack and stack[-1][0] <= until:
            end, name, child, dur = stack.pop()
            self_time[name] += dur - child
            if stack:
                stack[-1][2] += dur
            else:
                total += dur
    for ts, dur, name in evs:
        close(ts)
        stack.append([ts + dur, name, 0.0, dur])
        calls[name] += 1
    close(float("inf"))
print(f"{'op':40} {'self ms':>10} {'share':>6} {'calls':>8}")
for name, t in self_time.most_common(15):
    print(f"{name:40} {t / 1e3:10.1f} {t / total:6.1%} {calls[name]:8d}")
print(f"{'total (top-level ops)':40} {total / 1e3:10.1f}")
PY
    echo "== $mode, PyTorch eager: self time by op over one pass (torch.profiler)"
    # shellcheck disable=SC2046
    $py - "$work/model" $(side_args "$mode") "$threads" "$beam" "$max_new" <<'PY'
import sys
sys.path.insert(0, "bench")
import torch
import seq2seq_eager as e
model_dir, batches = sys.argv[1], sys.argv[2]
train = "--train" in sys.argv
threads, beam, max_new = map(int, sys.argv[-3:])
torch.set_num_threads(threads)
model, cfg = e.load_seq2seq(model_dir)
if train:
    model.train()
    data = e.read_batches(batches, train=True)
    recipe = sys.argv[sys.argv.index("--optimizer") + 1]
    opt = e.make_optimizer(model, recipe, 5e-5, len(data) * 3)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100, label_smoothing=0.1)
    run = lambda: e.train_steps(model, cfg, data, opt, loss_fn)
else:
    mode = sys.argv[sys.argv.index("--decode") + 1]
    data = e.read_batches(batches)
    procs = e.Processors(cfg, max_new)
    def run():
        with torch.inference_mode():
            e.decode_all(model, data, procs, mode, beam, 1.0)
run()
with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
    run()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
PY
  done
fi
