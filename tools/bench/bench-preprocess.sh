#!/usr/bin/env bash
# Benchmark (not a test): preprocess throughput per core vs PIL + torchvision doing the same work
# (decode, Resize(256), CenterCrop(224), to tensor + normalize) on the same large JPEGs, in one run.
# Needs Debian's python3-torchvision (apt-get install python3-torchvision python3-pil).
# Usage: tools/bench/bench-preprocess.sh [N_IMAGES=64] [SIDE=1600]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-64}; side=${2:-1600}
visrec="$root/build/visrec"
work=$(mktemp -d /tmp/visrec-bench-pre.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$root/tools/bench/bench_preprocess_images.py" "$work" "$n" "$side"
echo "images: $n JPEG ${side}x$((side * 3 / 4)) q90"
run_visrec() {  # $1 threads $2 extra flags
  rm -rf "$work/w"
  "$visrec" preprocess --catalog "$work/catalog.csv" --workdir "$work/w" --threads "$1" $2 -q >/dev/null
  /usr/bin/python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['timings_s']['total'])" \
    "$work/w/preprocess/$(cat "$work/w/preprocess/latest")/manifest.json"
}
py=$(/usr/bin/python3 "$root/tools/bench/bench_preprocess_torchvision.py" "$work")
v1=$(run_visrec 1 "--trim off --reduced-decode off")
v1r=$(run_visrec 1 "--trim off")
v1t=$(run_visrec 1 "")
v2r=$(run_visrec 2 "--trim off")
/usr/bin/python3 "$root/tools/bench/bench_preprocess_report.py" "$n" "$py" "$v1" "$v1r" "$v1t" "$v2r"
