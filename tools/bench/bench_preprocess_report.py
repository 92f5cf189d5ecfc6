# Helper of tools/bench/bench-preprocess.sh: the table.
# argv: N PY_S V1_S V1R_S V1T_S V2R_S
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
