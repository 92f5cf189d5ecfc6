#!/usr/bin/env bash
# Benchmark (not a test): visrec's exact similarity kernels beside the usual Python approaches, on
# the same data in one run, with identical top-K checked and peak memory (max RSS) reported.
#  CF:     item-item cosine top-20, USERS x ITEMS, NNZ implicit interactions; reference: scipy sparse
#          X^T X + per-row top-K (the sklearn/scipy approach), OpenBLAS, 2 cores.
#  Visual: exact cosine top-20 over N x 64 unit vectors, N = N_VISUAL and N_LARGE; references: numpy
#          blocked X @ X^T + argpartition, and Faiss IndexFlatIP (exact, BLAS + heaps, 2 OpenMP threads).
#          At N_LARGE numpy is timed on the first N_VISUAL query rows (against all N_LARGE) and scaled by
#          N_LARGE / N_VISUAL (marked "est."): the full run takes many minutes and scales linearly in rows.
#          visrec's approximate --visual-index hnsw runs on N_LARGE clustered vectors (2000 Gaussian
#          clusters, the kind of structure real reduced image features have), timed and recall-checked
#          against visrec exact on the same vectors; uniformly random vectors are graph search's worst case.
# Needs python3-scipy/numpy/faiss and a build with -DVISREC_BUILD_BENCHMARKS=ON.
# Usage: [BUILD=build] [REPEAT=5] tools/bench/bench-recommend.sh [USERS=100000] [ITEMS=20000] [NNZ=1000000] [N_VISUAL=20000] [N_LARGE=200000]
# BUILD picks the build directory, e.g. an AVX2 build measured on an AVX-512 machine:
#   cmake -S . -B build-v3 -G Ninja -DVISREC_ISA=x86-64-v3 -DVISREC_BUILD_BENCHMARKS=ON && ninja -C build-v3 knn_bench
#   BUILD=build-v3 tools/bench/bench-recommend.sh
# (VISREC_CPU_LEVEL=avx2 instead plays an AVX2 CPU in a native build: the same kernel choice, but the
# compiler may still use AVX-512 registers and instructions elsewhere, so it is not the AVX2 speed.)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
users=${1:-100000}; items=${2:-20000}; nnz=${3:-1000000}; nvis=${4:-20000}; nlarge=${5:-200000}
repeat=${REPEAT:-5}  # CF (a tenth of a second for visrec) is timed as the median of REPEAT whole runs, both sides
build="$root/${BUILD:-build}"
bench="$build/knn_bench"
[ -x "$bench" ] || { echo "build with: cmake -S . -B ${BUILD:-build} -DVISREC_BUILD_BENCHMARKS=ON && ninja -C ${BUILD:-build} knn_bench" >&2; exit 2; }
info=$("$bench" info)
# The references' BLAS (OpenBLAS, picked at run time) and numpy's own SIMD get the same instruction
# set as visrec's build: against an AVX2 build they run AVX2 code too (OpenBLAS's Haswell kernels,
# numpy without AVX-512), as on an AVX2-only CPU. Otherwise this machine's OPENBLAS_CORETYPE pin is
# unset so that OpenBLAS picks the CPU's own kernels.
if [[ $info == *fused-avx512* ]]; then
  blas_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
else
  blas_env=(env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Haswell "NPY_DISABLE_CPU_FEATURES=AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL")
fi
echo "visrec: $info; CPU: $(lscpu | sed -n 's/^Model name: *//p'), AVX-512: $(lscpu | grep -q avx512f && echo yes || echo no)"
echo "references: ${blas_env[*]:1}"
work=$(mktemp -d /tmp/visrec-bench-rec.XXXXXX)
trap 'rm -rf "$work"' EXIT
py=(/usr/bin/python3)
"${py[@]}" "$root/tools/bench/bench_recommend_data.py" "$work" "$users" "$items" "$nnz" "$nvis" "$nlarge"
measure() {  # a failing command stops the whole benchmark, with its error (kill: this runs in a subshell)
  if ! /usr/bin/time -f "%M" -o "$work/rss" "$@" > "$work/out" 2> "$work/err"; then
    echo "bench-recommend: failed: $*" >&2; tail -n 5 "$work/err" >&2; kill -TERM $$; return 1
  fi
  echo "$(cat "$work/out") $(( $(tail -n 1 "$work/rss") / 1024 ))"
}
# Both sides with the same BLAS environment.
read -r cf_s cf_mb <<<"$(measure "${blas_env[@]}" "$bench" cf "$work/pairs.npy" "$items" 20 0 "$work/cf.npy" "$repeat")"
vis() { measure "${blas_env[@]}" "$bench" "$1" "$work/$2.npy" 20 0 "$work/$3.npy"; }
read -r vis_s vis_mb <<<"$(vis dense x vis)"
read -r big_s big_mb <<<"$(vis dense y big)"
read -r zex_s zex_mb <<<"$(vis dense z zexact)"
read -r hnsw_s hnsw_mb <<<"$(vis hnsw z hnsw)"
read -r rcf_s rcf_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$root/tools/bench/bench_recommend_ref.py" "$work" cf "$items" 0 "$repeat")"
read -r rvis_s rvis_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$root/tools/bench/bench_recommend_ref.py" "$work" numpy-x "$items")"
read -r fvis_s fvis_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$root/tools/bench/bench_recommend_ref.py" "$work" faiss-x "$items")"
read -r rbig_s rbig_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$root/tools/bench/bench_recommend_ref.py" "$work" numpy-y "$items" "$nvis")"
read -r fbig_s fbig_mb <<<"$(measure "${blas_env[@]}" "${py[@]}" "$root/tools/bench/bench_recommend_ref.py" "$work" faiss-y "$items")"
"${py[@]}" "$root/tools/bench/bench_recommend_report.py" "$work" "$nvis" "$nlarge" "$cf_s" "$cf_mb" "$rcf_s" "$rcf_mb" "$vis_s" "$vis_mb" "$rvis_s" "$rvis_mb" "$fvis_s" "$fvis_mb" \
  "$big_s" "$big_mb" "$rbig_s" "$rbig_mb" "$fbig_s" "$fbig_mb" "$zex_s" "$zex_mb" "$hnsw_s" "$hnsw_mb" "$repeat"
