# Helper of tools/bench/bench-extract.sh: the table (throughputs, bf16 vs fp32 features).
# argv: PHOTOS F32 B16 S32 T32 S16 T16 PY SE WORK
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
