# Helper of tools/bench/bench-preprocess.sh: writes N synthetic JPEGs and OUT/catalog.csv.
# argv: OUT N SIDE
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
