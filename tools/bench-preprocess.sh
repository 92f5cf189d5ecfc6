#!/usr/bin/env bash
# Benchmark (not a test): preprocess throughput per core vs PIL + torchvision doing the same work
# (decode, Resize(256), CenterCrop(224), to tensor + normalize) on the same large JPEGs, in one run.
# Needs Debian's python3-torchvision (apt-get install python3-torchvision python3-pil).
# Usage: tools/bench-preprocess.sh [N_IMAGES=64] [SIDE=1600]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-64}; side=${2:-1600}
visrec="$root/build/visrec"
work=$(mktemp -d /tmp/visrec-bench-pre.XXXXXX)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" "$n" "$side" <<'PY'
import sys, os, numpy as np
from PIL import Image
out, n, side = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{out}/img", exist_ok=True)
rng = np.random.default_rng(0)
rows = ["item_id,image"]
for i in range(n):
    h = int(side * 0.75)
    y, x = np.mgrid[0:h, 0:side]
    a = np.stack([x * 255 // side, y * 255 // h, (x + y) % 256], -1).astype(np.uint8)
    a = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    Image.fromarray(a).save(f"{out}/img/{i:04d}.jpg", quality=90)
    rows.append(f"I{i:04d},img/{i:04d}.jpg")
open(f"{out}/catalog.csv", "w").write("\n".join(rows) + "\n")
PY
echo "images: $n JPEG ${side}x$((side * 3 / 4)) q90"
run_visrec() {  # $1 threads $2 extra flags
  rm -rf "$work/w"
  "$visrec" preprocess --catalog "$work/catalog.csv" --workdir "$work/w" --threads "$1" $2 -q >/dev/null
  /usr/bin/python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['timings_s']['total'])" \
    "$work/w/preprocess/$(cat "$work/w/preprocess/latest")/manifest.json"
}
py=$(/usr/bin/python3 - "$work" <<'PY'
import sys, time, glob, torch
from PIL import Image
from torchvision import transforms
torch.set_num_threads(1)
t = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
files = sorted(glob.glob(sys.argv[1] + "/img/*.jpg"))
t0 = time.perf_counter()
for f in files:
    t(Image.open(f).convert("RGB"))
print(time.perf_counter() - t0)
PY
)
v1=$(run_visrec 1 "--trim off --reduced-decode off")
v1r=$(run_visrec 1 "--trim off")
v1t=$(run_visrec 1 "")
v2r=$(run_visrec 2 "--trim off")
/usr/bin/python3 - "$n" "$py" "$v1" "$v1r" "$v1t" "$v2r" <<'PY'
import sys
n = int(sys.argv[1]); py, v1, v1r, v1t, v2r = map(float, sys.argv[2:])
r = lambda s: n / s
print(f"{'configuration':58s} {'img/s':>8s} {'vs PIL':>7s}")
print(f"{'PIL + torchvision, 1 thread':58s} {r(py):8.1f} {1:7.2f}")
for name, s in [("visrec preprocess, 1 thread, full decode (parity mode)", v1),
                ("visrec preprocess, 1 thread, reduced decode (default)", v1r),
                ("visrec preprocess, 1 thread, reduced decode + trim", v1t),
                ("visrec preprocess, 2 threads, reduced decode", v2r)]:
    print(f"{name:58s} {r(s):8.1f} {py / s:7.2f}")
print("visrec times include hashing every source file and writing the artifact.")
PY
