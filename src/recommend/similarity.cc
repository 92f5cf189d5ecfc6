#include "visrec/recommend/similarity.h"

#include <algorithm>
#include <mutex>
#include <cctype>
#include <cmath>
#include <map>

#include <Eigen/Dense>

#include "visrec/core/blas.h"
#include "visrec/core/stage.h"

extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                       const float* beta, float* c, const int* ldc);

namespace visrec::recommend {

void SparseRows::Reserve(int64_t rows, int64_t entries) {
  row_start.reserve(size_t(rows) + 1);
  item.reserve(size_t(entries));
  value.reserve(size_t(entries));
}

void SparseRows::AddRow(const std::vector<std::pair<int32_t, float>>& entries) {
  for (auto& [i, v] : entries) { item.push_back(i); value.push_back(v); }
  row_start.push_back(int64_t(item.size()));
}

namespace {
// Ranking order of neighbours: higher score first, then lower index.
inline bool Better(const Neighbor& a, const Neighbor& b) {
  return a.score > b.score || (a.score == b.score && a.item < b.item);
}
}  // namespace

void SelectTopK(std::vector<Neighbor>& c, int k) {
  auto better = Better;
  if (int(c.size()) > k) {
    std::nth_element(c.begin(), c.begin() + k, c.end(), better);
    c.resize(size_t(k));
  }
  std::sort(c.begin(), c.end(), better);
}

TopK SparseCosineTopK(const SparseRows& m, int k, double shrink, int min_support, int threads) {
  const int32_t n = m.n_items;
  // Column view: for every item, the contexts (rows) it appears in, with values.
  std::vector<int64_t> col_start(size_t(n) + 1, 0);
  for (int32_t it : m.item) col_start[size_t(it) + 1]++;
  for (int32_t i = 0; i < n; ++i) col_start[size_t(i) + 1] += col_start[size_t(i)];
  std::vector<int64_t> fill(col_start.begin(), col_start.end() - 1);
  // Context ids fit 32 bits (rows of a CSR whose offsets are 64-bit): half the memory, fewer page faults.
  std::vector<int32_t> col_row(m.item.size());
  std::vector<float> col_val(m.item.size());
  std::vector<double> norm2(size_t(n), 0.0);
  for (int64_t r = 0; r < m.rows(); ++r)
    for (int64_t p = m.row_start[size_t(r)]; p < m.row_start[size_t(r) + 1]; ++p) {
      int32_t it = m.item[size_t(p)];
      col_row[size_t(fill[size_t(it)])] = int32_t(r);
      col_val[size_t(fill[size_t(it)]++)] = m.value[size_t(p)];
      norm2[size_t(it)] += double(m.value[size_t(p)]) * m.value[size_t(p)];
    }
  std::vector<double> norm(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) norm[size_t(i)] = std::sqrt(norm2[size_t(i)]);
  TopK out(static_cast<size_t>(n));
  threads = ResolveThreads(threads);
  const auto better = [](const Neighbor& a, const Neighbor& b) { return Better(a, b); };  // inlinable
  // Per worker, one 16-byte slot per item holding its accumulator and norm: a candidate costs one
  // random cache-line access instead of three. Items are handed out in chunks.
  struct Slot {
    double acc;
    double norm;
  };
  const int64_t chunk = 64;
  const int64_t chunks = (n + chunk - 1) / chunk;
  // Fast path: all values positive and min_support 1. Then an accumulator is zero exactly until its
  // item's first touch, so "was zero" marks first touches and no support counts are needed.
  bool positive = true;
  for (float v : m.value) positive &= v > 0.f;
  const bool fast = positive && min_support <= 1;
  std::vector<std::vector<Slot>> slots(static_cast<size_t>(threads));
  std::vector<std::vector<int32_t>> support(static_cast<size_t>(threads));
  // Touched items per worker, written without a branch: every item slot is written, the count only
  // moves on first touch (a data-dependent branch here mispredicts about half the time).
  std::vector<std::vector<int32_t>> touched(static_cast<size_t>(threads));
  ParallelFor(threads, threads, [&](int64_t w) {
    auto& sl = slots[size_t(w)];
    sl.resize(size_t(n));
    for (int32_t j = 0; j < n; ++j) sl[size_t(j)] = {0.0, norm[size_t(j)]};
    auto& s = support[size_t(w)];
    if (!fast) s.assign(size_t(n), 0);
    auto& t = touched[size_t(w)];
    t.resize(size_t(n) + 1);
    int32_t* tp = t.data();
    Slot* slot = sl.data();
    const int32_t* items = m.item.data();
    const float* values = m.value.data();
    const int64_t* rs = m.row_start.data();
    for (int64_t c = w; c < chunks; c += threads) {
      for (int64_t i = c * chunk; i < std::min<int64_t>(n, (c + 1) * chunk); ++i) {
        if (norm2[size_t(i)] <= 0) continue;
        int64_t nt = 0;
        const int64_t p_end = col_start[size_t(i) + 1];
        for (int64_t p = col_start[size_t(i)]; p < p_end; ++p) {
          // The users' rows lie scattered over the matrix: each visit is a cache miss, so fetch the
          // row offsets 16 users ahead and the rows themselves 8 ahead (latency-bound otherwise).
          if (p + 16 < p_end) __builtin_prefetch(rs + col_row[size_t(p + 16)]);
          if (p + 8 < p_end) {
            const int64_t ahead = rs[col_row[size_t(p + 8)]];
            __builtin_prefetch(items + ahead);
            __builtin_prefetch(values + ahead);
          }
          const int64_t r = col_row[size_t(p)];
          const double vi = col_val[size_t(p)];
          if (fast) {
            for (int64_t q = rs[r]; q < rs[r + 1]; ++q) {
              const int32_t j = items[q];
              tp[nt] = j;
              nt += slot[j].acc == 0.0;
              slot[j].acc += vi * values[q];
            }
          } else {
            for (int64_t q = rs[r]; q < rs[r + 1]; ++q) {
              const int32_t j = items[q];
              tp[nt] = j;
              nt += s[size_t(j)]++ == 0;
              slot[j].acc += vi * values[q];
            }
          }
        }
        // Item i touched itself through each of its own contexts: forget it.
        slot[i].acc = 0;
        if (!fast) s[size_t(i)] = 0;
        // Bounded heap of the k best (front = worst kept): popular items touch most of the
        // catalog, so collecting every candidate first would dominate the run time.
        std::vector<Neighbor>& heap = out[size_t(i)];
        heap.reserve(size_t(k) + 1);
        const double ni = norm[size_t(i)];
        // Once the heap is full, a candidate must beat its worst score; rejecting by a multiplication
        // (with a margin, so nothing that could tie after float rounding is rejected) skips the
        // division and the exact comparison for most candidates.
        double reject_below = -HUGE_VAL;  // acc < reject_below * (ni * nj + shrink) cannot enter
        for (int64_t q = 0; q < nt; ++q) {
          const int32_t j = tp[q];
          if (j == i) continue;
          Slot& x = slot[j];
          const double a = x.acc;
          x.acc = 0;
          const bool supported = fast || s[size_t(j)] >= min_support;
          if (!fast) s[size_t(j)] = 0;
          const double den = ni * x.norm + shrink;
          if (a < reject_below * den || !supported || a == 0.0) continue;
          const Neighbor cand{j, float(a / den)};
          if (int(heap.size()) < k) {
            heap.push_back(cand);
            std::push_heap(heap.begin(), heap.end(), better);
          } else if (better(cand, heap.front())) {
            std::pop_heap(heap.begin(), heap.end(), better);
            heap.back() = cand;
            std::push_heap(heap.begin(), heap.end(), better);
          }
          if (int(heap.size()) == k) {
            const double worst = heap.front().score;
            reject_below = worst - std::abs(worst) * 1e-6;
          }
        }
        std::sort(heap.begin(), heap.end(), better);
      }
    }
  });
  return out;
}

TopK DenseCosineTopK(const float* rows, int64_t n, int64_t d, int k, int64_t budget, int threads) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const M> x(rows, n, d);
  std::vector<char> zero(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) zero[size_t(i)] = x.row(i).squaredNorm() == 0.f;
  TopK out(static_cast<size_t>(n));
  threads = ResolveThreads(threads);
  // Rows per block: all workers' score blocks together stay under the budget, and a block stays
  // small enough (64 rows: fastest of 16-1024 here) to be scanned while still in cache.
  int64_t block = std::max<int64_t>(1, budget / std::max<int64_t>(1, n * 4 * threads));
  block = std::min<int64_t>(block, 64);
  const int64_t blocks = (n + block - 1) / block;
  Eigen::setNbThreads(1);
  const auto better = [](const Neighbor& a, const Neighbor& b) { return Better(a, b); };  // inlinable, unlike a function pointer
  // One score buffer per worker, reused for every block (a fresh multi-MB buffer per block costs
  // page faults).
  std::vector<M> pool;
  std::mutex pool_mu;
  SingleThreadedBlas blas_guard;  // workers split the products (visrec/core/blas.h)
  ParallelFor(blocks, threads, [&](int64_t b) {
    M s;
    {
      std::lock_guard<std::mutex> l(pool_mu);
      if (!pool.empty()) {
        s = std::move(pool.back());
        pool.pop_back();
      }
    }
    const int64_t r0 = b * block, r1 = std::min(n, r0 + block);
    s.resize(r1 - r0, n);
    // S = X[r0:r1] X^T straight into the reused buffer (BLAS with beta = 0: no zero-fill pass over
    // a block that does not fit in cache). Row-major S is column-major S^T = X X[r0:r1]^T.
    {
      const int m = int(n), cols = int(r1 - r0), kd = int(d), ld = int(d), ldc = int(n);
      const float one = 1.f, zero_f = 0.f;
      sgemm_("T", "N", &m, &cols, &kd, &one, rows, &ld, rows + r0 * d, &ld, &zero_f, s.data(), &ldc);
    }
    std::vector<Neighbor> heap;  // the k best so far; heap.front() is the worst of them
    heap.reserve(size_t(k) + 1);
    for (int64_t i = r0; i < r1; ++i) {
      if (zero[size_t(i)]) continue;
      heap.clear();
      const float* sr = s.row(i - r0).data();
      auto consider = [&](int64_t j) {
        if (j == i || zero[size_t(j)]) return;
        const Neighbor c{int32_t(j), sr[j]};
        if (int(heap.size()) < k) {
          heap.push_back(c);
          std::push_heap(heap.begin(), heap.end(), better);
        } else if (c.score > heap.front().score) {  // j ascends: an equal score never wins the tie
          std::pop_heap(heap.begin(), heap.end(), better);
          heap.back() = c;
          std::push_heap(heap.begin(), heap.end(), better);
        }
      };
      int64_t j = 0;
      for (; j < n && int(heap.size()) < k; ++j) consider(j);
      // Once the heap is full, most scores lose to its worst: test 16 at a time (a vectorized
      // compare) and look closer only at chunks holding a possible winner.
      constexpr int64_t kLanes = 16;
      for (; j + kLanes <= n; j += kLanes) {
        const float thr = int(heap.size()) < k ? -INFINITY : heap.front().score;
        bool any = false;
        for (int64_t t = 0; t < kLanes; ++t) any |= sr[j + t] > thr;
        if (!any) continue;
        for (int64_t t = 0; t < kLanes; ++t) consider(j + t);
      }
      for (; j < n; ++j) consider(j);
      std::sort(heap.begin(), heap.end(), better);
      out[size_t(i)] = heap;
    }
    std::lock_guard<std::mutex> l(pool_mu);
    pool.push_back(std::move(s));
  });
  return out;
}

SparseRows TfidfMatrix(const std::vector<std::string>& texts) {
  const int32_t n = int32_t(texts.size());
  std::map<std::string, std::map<int32_t, float>> postings;  // term -> item -> tf
  for (int32_t i = 0; i < n; ++i) {
    std::string tok;
    auto flush = [&] {
      if (!tok.empty()) postings[tok][i] += 1.f;
      tok.clear();
    };
    for (unsigned char c : texts[size_t(i)]) {
      if (std::isalnum(c) || c >= 0x80) tok.push_back(char(c < 0x80 ? std::tolower(c) : c));
      else flush();
    }
    flush();
  }
  // idf = ln((1 + n) / (1 + df)) + 1 (smooth), then each item's vector is L2-normalized.
  std::vector<double> norm2(size_t(n), 0.0);
  std::vector<std::pair<double, std::map<int32_t, float>*>> rows;
  for (auto& [term, items] : postings) {
    double idf = std::log((1.0 + n) / (1.0 + double(items.size()))) + 1.0;
    for (auto& [i, tf] : items) {
      tf = float(tf * idf);
      norm2[size_t(i)] += double(tf) * tf;
    }
    rows.push_back({idf, &items});
  }
  SparseRows m;
  m.n_items = n;
  for (auto& [idf, items] : rows) {
    std::vector<std::pair<int32_t, float>> e;
    for (auto& [i, v] : *items) e.push_back({i, float(v / std::sqrt(norm2[size_t(i)]))});
    m.AddRow(e);
  }
  return m;
}

}  // namespace visrec::recommend
