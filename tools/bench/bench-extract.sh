#!/usr/bin/env bash
# Benchmark (not a test) of the extract stage, in one run on this machine:
#  1. forward-only throughput of the model on random tensors (build/extract_forward, the same oneDNN
#     kernels and batch size the stage uses by default) vs the whole stage on real preprocessed
#     images (reading shards, normalizing, pooling, writing); the stage with --cpu-kernels eager too;
#  2. the plain Python pipeline a data scientist writes (PIL + torchvision, sequential) on the same photos;
#  3. bf16 vs fp32: throughput, per-item feature cosine and neighbour overlap@10.
# Needs python3-torchvision and a build with -DVISREC_BUILD_BENCHMARKS=ON.
# Usage: [BUILD=build] [ISA=avx2] tools/bench/bench-extract.sh [MODEL=resnet50] [N_ITEMS=48]
#   ISA=avx2 plays an AVX2-only CPU on both sides: oneDNN and ATen kernels capped at AVX2
#   (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY), OpenBLAS on its Haswell kernels, visrec's own
#   dispatch at avx2; bf16 is left out (oneDNN's bf16 needs AVX-512). Pair it with an AVX2 build
#   (BUILD=build-v3, configured with -DVISREC_ISA=x86-64-v3) so visrec's code has no AVX-512 either.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
model=${1:-resnet50}; items=${2:-48}
build=${BUILD:-build}; isa=${ISA:-native}
visrec="$root/$build/visrec"; fwd="$root/$build/extract_forward"
[ -x "$fwd" ] || { echo "build with: cmake -S . -B $build -DVISREC_BUILD_BENCHMARKS=ON && ninja -C $build" >&2; exit 2; }
case "$isa" in
  native) ;;
  avx2) export ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 OPENBLAS_CORETYPE=Haswell \
               VISREC_CPU_LEVEL=avx2 ;;
  *) echo "ISA must be native or avx2" >&2; exit 2 ;;
esac
work=$(mktemp -d /tmp/visrec-bench-ex.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$visrec" sample --out "$work/cat" --items "$items" --users 10 --awkward false -q
"$visrec" preprocess --catalog "$work/cat/catalog.csv" --workdir "$work/w" -q >/dev/null
photos=$(($(wc -l < "$work/cat/catalog.csv") - 1))
echo "model $model, $photos photos of $items items, 2 cores, default batch 8, build $build, ISA $isa"
stage() {  # precision [kernels] -> seconds of the model loop (manifest timings), workdir
  local wd="$work/w-$1${2:+-$2}"; rm -rf "$wd"; cp -r "$work/w" "$wd"
  "$visrec" extract --workdir "$wd" --model "$model" --precision "$1" --cpu-kernels "${2:-auto}" -q >/dev/null
  /usr/bin/python3 -c "import json,sys; m=json.load(open(sys.argv[1])); t=m['timings_s']; print(t['model'], t['total'])" \
    "$wd/extract/$(cat "$wd/extract/latest")/manifest.json"
}
f32=$("$fwd" "$model" 8 fp32 2 10 fused)
read -r s32 t32 <<<"$(stage fp32)"; read -r se te <<<"$(stage fp32 eager)"
if [ "$isa" = native ]; then
  b16=$("$fwd" "$model" 8 bf16 2 10 fused); read -r s16 t16 <<<"$(stage bf16)"
else
  b16=0; s16=0; t16=0
fi
py=$(/usr/bin/python3 "$root/tools/bench/bench_extract_torchvision.py" "$work/cat/catalog.csv" "$model")
/usr/bin/python3 "$root/tools/bench/bench_extract_report.py" "$photos" "$f32" "$b16" "$s32" "$t32" "$s16" "$t16" "$py" "$se" "$work"
