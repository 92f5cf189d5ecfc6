// Item-item similarities: sparse cosine (collaborative, TF-IDF text) and exact dense cosine kNN.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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
  std::vector<int64_t> row_start{0};  // CSR
  std::vector<int32_t> item;
  std::vector<float> value;
  void AddRow(const std::vector<std::pair<int32_t, float>>& entries);  // entries: sorted, unique items
  int64_t rows() const { return int64_t(row_start.size()) - 1; }
};

// Cosine between item columns: sum_c v_ci v_cj / (|v_i| |v_j| + shrink), only for pairs sharing at
// least `min_support` contexts. Computed by direct accumulation over co-occurrences (never N x N).
TopK SparseCosineTopK(const SparseRows& m, int k, double shrink, int min_support, int threads);

// Exact top-k cosine over L2-normalized rows (n x d, row-major), blocked matrix products whose
// score block stays under `memory_budget_bytes`. Zero rows get no neighbours.
TopK DenseCosineTopK(const float* rows, int64_t n, int64_t d, int k, int64_t memory_budget_bytes, int threads);

// TF-IDF (smooth idf, L2-normalized) of lowercase alphanumeric tokens, as a term x item matrix.
SparseRows TfidfMatrix(const std::vector<std::string>& texts);

// Keeps the best k of `cands` (score desc, item asc), in that order.
void SelectTopK(std::vector<Neighbor>& cands, int k);

}  // namespace visrec::recommend
