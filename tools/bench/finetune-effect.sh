#!/usr/bin/env bash
# What fine-tuning does on the sample catalog: same-label precision@10 of similar items over the items
# finetune held out (never trained on), and the recommendation metrics, for the untrained ResNet-18 and
# for fine-tuning the head only and the last block + head. Prints one table; docs/stages.md quotes it.
#   bash tools/bench/finetune-effect.sh [WORKDIR]      (needs build/visrec; makes sample-catalog/ if missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${VISREC:-build/visrec}
W=${1:-/tmp/visrec-finetune-effect}
LABEL=${LABEL:-category}
[ -f sample-catalog/catalog.csv ] || "$BIN" sample --out sample-catalog -q
mkdir -p "$W"

run() {  # NAME ARGS... -> $W/NAME.txt (run table), prints the recommend artifact dir
  local name=$1; shift
  # The demo options on the built-in ResNet-18 (finetune trains built-in models, not the bundled file).
  "$BIN" run --config data/demo.toml --model-file "" --model resnet18 --workdir "$W" -q "$@" > "$W/$name.txt"
  sed -n 's/^recommendations: //p' "$W/$name.txt" | xargs dirname
}
rec_head=$(run head --finetune-label "$LABEL" --finetune-train head)
rec_last=$(run last-block --finetune-label "$LABEL" --finetune-train last-block)
ft_last="$W/finetune/$(cat "$W/finetune/latest")"
rec_none=$(run untrained)
split="$W/split/$(cat "$W/split/latest")"
# The untrained run judged on the same held-out items as the fine-tuned ones.
"$BIN" evaluate --workdir "$W" --recommend "$rec_none" --test "$split/test.csv" --train "$split/train.csv" \
  --catalog sample-catalog/catalog.csv --label-column "$LABEL" --label-items "$ft_last/test_items.txt" -q > /dev/null

/usr/bin/python3 tools/bench/finetune_effect_report.py "$W" "$rec_none" "$rec_head" "$rec_last" "$LABEL"
