#!/usr/bin/env bash
# Benchmark (not a test) of the extract stage, in one run on this machine:
#  1. forward-only throughput of the model on random tensors (build/extract_forward, the same oneDNN
#     kernels and batch size the stage uses by default) vs the whole stage on real preprocessed
#     images (reading shards, normalizing, pooling, writing); the stage with --cpu-kernels eager too;
#  2. the plain Python pipeline a data scientist writes (PIL + torchvision, sequential) on the same photos;
#  3. bf16 vs fp32: throughput, per-item feature cosine and neighbour overlap@10.
# Needs python3-torchvision and a build with -DVISREC_BUILD_BENCHMARKS=ON.
# Usage: [BUILD=build] [ISA=avx2] tools/bench-extract.sh [MODEL=resnet50] [N_ITEMS=48]
#   ISA=avx2 plays an AVX2-only CPU on both sides: oneDNN and ATen kernels capped at AVX2
#   (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY), OpenBLAS on its Haswell kernels, visrec's own
#   dispatch at avx2; bf16 is left out (oneDNN's bf16 needs AVX-512). Pair it with an AVX2 build
#   (BUILD=build-v3, configured with -DVISREC_ISA=x86-64-v3) so visrec's code has no AVX-512 either.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
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
py=$(/usr/bin/python3 - "$work/cat/catalog.csv" "$model" <<'PY'
import sys, csv, os, time, torch, torchvision
from PIL import Image
from torchvision import transforms
torch.set_num_threads(2)
rows = list(csv.DictReader(open(sys.argv[1])))
base = os.path.dirname(sys.argv[1])
m = getattr(torchvision.models, sys.argv[2])(weights=None).eval()
m.fc = torch.nn.Identity()
t = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
t0 = time.perf_counter()
with torch.no_grad():
    for r in rows:
        m(t(Image.open(os.path.join(base, r["image"])).convert("RGB")).unsqueeze(0))
print(len(rows) / (time.perf_counter() - t0))
PY
)
/usr/bin/python3 - "$photos" "$f32" "$b16" "$s32" "$t32" "$s16" "$t16" "$py" "$se" "$work" <<'PY'
import sys, glob, json, numpy as np
n = int(sys.argv[1]); f32, b16, s32, t32, s16, t16, py, se = map(float, sys.argv[2:10]); work = sys.argv[10]
print(f"{'':46s} {'img/s':>8s}")
print(f"{'forward only, fp32 (random tensors)':46s} {f32:8.1f}")
print(f"{'extract stage, fp32 (model loop)':46s} {n/s32:8.1f}   {100*n/s32/f32:5.1f}% of forward-only")
print(f"{'extract stage, fp32 (whole stage incl. start)':46s} {n/t32:8.1f}")
print(f"{'extract stage, fp32, --cpu-kernels eager':46s} {n/se:8.1f}   (oneDNN path {se/s32:.2f}x faster)")
if s16 <= 0:
    print(f"{'Python PIL + torchvision, sequential, fp32':46s} {py:8.1f}")
    print(f"stage fp32 vs Python: {n/s32/py:.2f}x   (bf16 left out: needs AVX-512)")
    sys.exit(0)
print(f"{'forward only, bf16':46s} {b16:8.1f}")
print(f"{'extract stage, bf16 (model loop)':46s} {n/s16:8.1f}   {100*n/s16/b16:5.1f}% of forward-only")
print(f"{'extract stage, bf16 (whole stage incl. start)':46s} {n/t16:8.1f}")
print(f"{'Python PIL + torchvision, sequential, fp32':46s} {py:8.1f}")
print(f"stage fp32 vs Python: {n/s32/py:.2f}x   stage bf16 vs Python: {n/s16/py:.2f}x   bf16 vs fp32 stage: {s32/s16:.2f}x")
def feats(p):
    d = sorted(glob.glob(f"{work}/w-{p}/extract/*/features.npy"))[0]
    return np.load(d)
a, b = feats("fp32"), feats("bf16")
an = a / np.linalg.norm(a, axis=1, keepdims=True); bn = b / np.linalg.norm(b, axis=1, keepdims=True)
cos = (an * bn).sum(1)
k = min(10, len(a) - 1)
def nn(x):
    s = x @ x.T; np.fill_diagonal(s, -np.inf); return np.argsort(-s, axis=1)[:, :k]
na, nb = nn(an), nn(bn)
ov = np.mean([len(set(na[i]) & set(nb[i])) / k for i in range(len(a))])
print(f"bf16 vs fp32 item features: cosine min {cos.min():.4f} mean {cos.mean():.4f}; neighbour overlap@{k} {ov:.3f}")
PY
