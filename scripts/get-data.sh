#!/usr/bin/env bash
# Fills the git-ignored data/ folder from ../shared/data (or $WEAKDISTILL_DATA_SRC).
# Usage: scripts/get-data.sh [--quiet]
set -euo pipefail
cd "$(dirname "$0")/.."
quiet=0
[[ "${1:-}" == "--quiet" ]] && quiet=1
src="${WEAKDISTILL_DATA_SRC:-../shared/data}"

expected=(cls/train.jsonl cls/dev.jsonl cls/test.jsonl
          ner/train.jsonl ner/dev.jsonl ner/test.jsonl ner/train.bio ner/dev.bio ner/test.bio
          sum/train.jsonl sum/dev.jsonl sum/test.jsonl)

if [[ ! -d "$src" ]]; then
  cat >&2 <<MSG
get-data: no dataset folder at $src.
weakdistill's examples and tests expect data/ laid out as:
  data/cls/{train,dev,test}.jsonl   THUCNews titles, 10 labels: {"text", "label"}
                                    (github.com/649453932/Chinese-Text-Classification-Pytorch, THUCNews/data)
  data/ner/{train,dev,test}.jsonl   People's Daily 1998 NER, PER/LOC/ORG: {"text", "entities"}
  data/ner/{train,dev,test}.bio     the same sentences as character BIO
                                    (github.com/zjy-ucas/ChineseNER, data/example.{dev,test})
  data/sum/{train,dev,test}.jsonl   LCSTS PART_II, Weibo post -> headline: {"text", "summary"}
                                    (github.com/CLUEbenchmark/CLGE, LGECdataset/lcsts, commit 2fb38e1)
See docs/FORMATS.md for the formats. Point WEAKDISTILL_DATA_SRC at a folder with this layout,
or put the files in data/ yourself.
MSG
  exit 1
fi

mkdir -p data
for f in "${expected[@]}"; do
  [[ -f "$src/$f" ]] || { echo "get-data: $src/$f is missing" >&2; exit 1; }
  mkdir -p "data/$(dirname "$f")"
  # Copy only what changed, so that repeated runs are cheap.
  if ! cmp -s "$src/$f" "data/$f"; then cp "$src/$f" "data/$f.tmp" && mv "data/$f.tmp" "data/$f"; fi
done
[[ -f "$src/README.md" ]] && cp "$src/README.md" data/README.md
((quiet)) || echo "get-data: data/ holds ${#expected[@]} files from $src"
