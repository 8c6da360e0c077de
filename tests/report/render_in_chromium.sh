#!/usr/bin/env bash
# Renders a real run's report in headless Chromium: the DOM after rendering must
# hold one chart point per round and series, and a screenshot is saved.
# Usage: render_in_chromium.sh WEAKDISTILL_BIN SOURCE_DIR OUT_DIR
# Exit 77 (ctest: skipped, shown as such) when Chromium is not installed.
set -euo pipefail
bin=$1 src=$2 out=$3
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $browser ]]; then
  echo "SKIPPED: chromium is not installed (scripts/setup.sh installs Debian's chromium)"
  exit 77
fi
if [[ ! -f $src/data/cls/train.jsonl ]]; then
  echo "SKIPPED: data/ is empty (scripts/get-data.sh fills it)"
  exit 77
fi
mkdir -p "$out"
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
cd "$src"
"$bin" -q run examples/cls-offline.yaml --run-dir "$run/run" --set distill.max_rounds=2 >/dev/null
"$bin" -q report "$run/run" --out "$out/report.html" >/dev/null
flags=(--headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$run/profile")
dom=$(timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$out/report.html" 2>/dev/null)
rounds=$(/usr/bin/python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['rounds']))" \
         "$run/run/metrics.json")
# Classification charts accuracy and macro-F1: two series, one circle per round each.
circles=$(grep -o '<circle' <<<"$dom" | wc -l)
polylines=$(grep -o '<polyline' <<<"$dom" | wc -l)
echo "rounds $rounds, polylines $polylines, circles $circles"
[[ $polylines -eq 2 ]] || { echo "expected 2 series"; exit 1; }
[[ $circles -eq $((2 * rounds)) ]] || { echo "expected $((2 * rounds)) points"; exit 1; }
grep -q 'SIMULATED' <<<"$dom" || { echo "the simulated-teacher banner is missing"; exit 1; }
timeout 120 "$browser" "${flags[@]}" --window-size=1200,1800 --screenshot="$out/report.png" \
  "file://$out/report.html" >/dev/null 2>&1
[[ -s $out/report.png ]] || { echo "no screenshot"; exit 1; }
echo "screenshot: $out/report.png"
