# Helper of tools/gpu-check.sh run: device features vs the CPU fp32 reference, per precision, and stage images/s.
# argv: REF_DIR MODEL DEVICE PRECISION:EXTRACT_ARTIFACT...
import json, sys
import numpy as np
ref_dir, model, device, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
ref_p = np.load(f"{ref_dir}/{model}-cpu-fp32-photos.npy").astype(np.float64)
ref_i = np.load(f"{ref_dir}/{model}-cpu-fp32-items.npy").astype(np.float64)
def unit(x): return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
def topk(x, k=10):
    s = unit(x) @ unit(x).T; np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]
ref_top = topk(ref_i)
print(f"{model} on {device}: features vs CPU fp32 ({len(ref_p)} photos, {len(ref_i)} items)")
print(f"{'precision':<10}{'photo cos min':>14}{'photo cos mean':>15}{'rel. error':>11}{'item overlap@10':>16}{'stage img/s':>12}")
for run in runs:
    prec, path = run.split(":", 1)
    p = np.load(f"{path}/photo_features.npy").astype(np.float64)
    it = np.load(f"{path}/features.npy").astype(np.float64)
    cos = np.sum(unit(p) * unit(ref_p), axis=1)
    rel = np.linalg.norm(p - ref_p) / np.linalg.norm(ref_p)
    top = topk(it)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top, ref_top)])
    m = json.load(open(f"{path}/manifest.json"))
    rate = m["counts"]["photos_computed"] / max(m["timings_s"].get("model", 0), 1e-9)
    ok = "ok" if (cos.min() >= (0.9999 if prec == "fp32" else 0.99) and np.isfinite(p).all()) else "FAIL"
    print(f"{prec:<10}{cos.min():>14.6f}{cos.mean():>15.6f}{rel:>11.2e}{overlap:>16.3f}{rate:>12.1f}  {ok}")
