// The fused exact cosine top-k kernels (scores compared with each row's k-th best while still in
// registers), compiled once per vector instruction set (private to visrec_recommend).
#pragma once
#include <cstdint>
#include <vector>

#include "visrec/recommend/similarity.h"

namespace visrec::recommend::detail {

enum class VectorIsa { kNone, kAvx2, kAvx512 };
// The widest instruction set that this build compiled a fused kernel for and that the CPU runs as
// visrec sees it (EffectiveCpuFeatures: VISREC_CPU_LEVEL or a test can mask features away).
VectorIsa FusedKernelIsa();
const char* VectorIsaName(VectorIsa isa);  // "avx512", "avx2", "none"

// `zero[i]`: row i is all zeros (it gets no neighbours and is nobody's neighbour). `isa` must not be
// kNone. One-sided: each row block scans all columns (memory independent of n and k); with `query`,
// only those rows get lists (the others stay empty). Symmetric:
// each pair once, offered to both rows; `workers` threads each keep k neighbours per row.
TopK FusedOneSided(VectorIsa isa, const float* rows, int64_t n, int64_t d, int k, int threads,
                   const std::vector<char>& zero, const std::vector<int64_t>* query = nullptr);
TopK FusedSymmetric(VectorIsa isa, const float* rows, int64_t n, int64_t d, int k, int workers,
                    const std::vector<char>& zero);

}  // namespace visrec::recommend::detail
