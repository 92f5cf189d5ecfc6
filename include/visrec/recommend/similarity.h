// Item-item similarities: sparse cosine (collaborative, TF-IDF text) and exact dense cosine kNN.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "visrec/util/allocator.h"

namespace visrec::recommend {

struct Neighbor {
  int32_t item;
  float score;
};
// Per item, neighbours sorted by score descending, ties by item index ascending; self excluded.
using TopK = std::vector<std::vector<Neighbor>>;

// A sparse matrix stored by rows ("contexts": users for CF, terms for text), columns = items.
struct SparseRows {
  int32_t n_items = 0;
  // CSR, in huge-page-backed arrays: the kernel visits rows at random, and at 1M entries the
  // page faults of ordinary 4 KiB pages cost more than the CSR's construction.
  LargeVector<int64_t> row_start{0};
  LargeVector<int32_t> item;
  LargeVector<float> value;
  void AddRow(const std::vector<std::pair<int32_t, float>>& entries);  // entries: sorted, unique items
  void Reserve(int64_t rows, int64_t entries);  // capacity up front: no regrowth copies, fewer page faults
  int64_t rows() const { return int64_t(row_start.size()) - 1; }
};

// Cosine between item columns: sum_c v_ci v_cj / (|v_i| |v_j| + shrink), only for pairs sharing at
// least `min_support` contexts. Computed by direct accumulation over co-occurrences (never N x N).
// With `only` (one flag per item), only the flagged items get lists, each the same as in a full call
// (the others stay empty): a shard's share (`recommend --shard`).
TopK SparseCosineTopK(const SparseRows& m, int k, double shrink, int min_support, int threads,
                      const std::vector<char>* only = nullptr);

// Exact top-k cosine over L2-normalized rows (n x d, row-major), blocked matrix products whose
// score block stays under `memory_budget_bytes`. Zero rows get no neighbours.
TopK DenseCosineTopK(const float* rows, int64_t n, int64_t d, int k, int64_t memory_budget_bytes, int threads);
// kAuto: a fused kernel (scores and selection in registers, each pair computed once and offered to
// both rows; per-thread heaps within the budget, else the one-sided fused kernel) for the widest
// instruction set the build has it for and the CPU runs (AVX-512, else AVX2+FMA: visrec's own
// detection, EffectiveCpuFeatures, so VISREC_CPU_LEVEL and tests can mask it down); otherwise BLAS
// blocks under the budget. kOneSided and kBlas force those (tests compare all of them). The fused
// kernels give bit-identical scores on every instruction set.
enum class DenseKernel { kAuto, kOneSided, kBlas };
TopK DenseCosineTopK(const float* rows, int64_t n, int64_t d, int k, int64_t memory_budget_bytes, int threads,
                     DenseKernel kernel);
// Lists for the rows in `query` only (row numbers; null = all rows), against all rows; the other
// rows' lists stay empty. A subset always runs the one-sided fused kernel (or BLAS), whose lists are
// those of a full call: a shard's share (`recommend --shard`).
TopK DenseCosineTopKRows(const float* rows, int64_t n, int64_t d, int k, const std::vector<int64_t>* query,
                         int64_t memory_budget_bytes, int threads, DenseKernel kernel = DenseKernel::kAuto);
// What kAuto runs on this CPU as visrec sees it: "fused-avx512", "fused-avx2" or "blas".
std::string DenseKernelInUse();

// Approximate top-k cosine over L2-normalized rows with Faiss's HNSW graph (inner product), for
// catalogs where exact search is too slow. Same output contract as DenseCosineTopK. Builds with
// several threads are not bit-reproducible (graph insertion order); --threads 1 is.
struct HnswOptions {
  // Defaults chosen for recall near 1 on clustered vectors (docs/benchmarks.md, tools/bench/bench-recommend.sh).
  int m = 16;                // graph degree
  int ef_construction = 40;  // build-time candidate list
  int ef_search = 64;        // query-time candidate list (raised to k + 1 when smaller)
};
bool HaveFaiss();     // false: HnswCosineTopK throws NotImplementedError (exit 5) naming the fix
void RequireFaiss();  // that error when !HaveFaiss(), before any work
TopK HnswCosineTopK(const float* rows, int64_t n, int64_t d, int k, const HnswOptions& options, int threads);
// recall@k of `approx` against exact search on `sample` rows drawn with `seed` (exact ties at the
// k-th score count as found).
struct RecallCheck {
  double recall = 1;
  int64_t rows = 0;
};
RecallCheck RecallAgainstExact(const TopK& approx, const float* rows, int64_t n, int64_t d, int k, int64_t sample,
                               uint64_t seed);

// TF-IDF (smooth idf, L2-normalized) of lowercase alphanumeric tokens, as a term x item matrix.
SparseRows TfidfMatrix(const std::vector<std::string>& texts);

// Keeps the best k of `cands` (score desc, item asc), in that order.
void SelectTopK(std::vector<Neighbor>& cands, int k);

}  // namespace visrec::recommend
