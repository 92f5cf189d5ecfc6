#include "visrec/recommend/similarity.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <cctype>
#include <cmath>
#include <map>
#include <stdexcept>

#include <Eigen/Dense>

#include "visrec/artifact/stage.h"
#include "visrec/util/blas.h"
#include "visrec/util/parallel.h"
#include "fused_knn.h"
#include "topk_internal.h"

extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                       const float* beta, float* c, const int* ldc);

namespace visrec::recommend {

using detail::Better;

void SparseRows::Reserve(int64_t rows, int64_t entries) {
  row_start.reserve(size_t(rows) + 1);
  item.reserve(size_t(entries));
  value.reserve(size_t(entries));
}

void SparseRows::AddRow(const std::vector<std::pair<int32_t, float>>& entries) {
  for (auto& [i, v] : entries) {
    item.push_back(i);
    value.push_back(v);
  }
  row_start.push_back(int64_t(item.size()));
}

void SelectTopK(std::vector<Neighbor>& c, int k) {
  const auto better = [](const Neighbor& a, const Neighbor& b) { return Better(a, b); };  // inlinable
  if (int(c.size()) > k) {
    std::nth_element(c.begin(), c.begin() + k, c.end(), better);
    c.resize(size_t(k));
  }
  std::sort(c.begin(), c.end(), better);
}

namespace {
// One occurrence of an item in a context: where that context's row lies in the CSR. Carrying the
// row's extent here, rather than the row number, saves a dependent cache miss on the row offsets
// for every visit; 32-bit offsets (the usual case) keep the entry at 8 bytes.
template <class Offset>
struct Occurrence {
  Offset begin, end;
};

// The k best candidates of one item, in rank order (Better). Candidates go into a buffer while they
// beat the bar; at 8k entries the buffer is cut back to its k best, whose worst becomes the bar.
// Most admitted candidates cost one append, where a bounded heap paid a sift for each (the buffer
// size was picked with tools/bench/bench-recommend.sh).
class TopSelector {
 public:
  static constexpr size_t kBufferFactor = 8;
  explicit TopSelector(int k) : k_(size_t(k)) { buf_.reserve(kBufferFactor * k_); }
  void Reset() {
    buf_.clear();
    has_bar_ = false;
  }
  // Scores below this cannot enter (with a margin, so nothing that could tie after float rounding
  // is rejected by the caller's cheap pre-check); -inf until the first cut.
  double RejectBelow() const { return has_bar_ ? double(bar_.score) - std::abs(double(bar_.score)) * 1e-6 : -HUGE_VAL; }
  void Offer(Neighbor c) {
    if (has_bar_ && !Better(c, bar_)) return;
    buf_.push_back(c);
    if (buf_.size() == kBufferFactor * k_) {
      // A lambda, so the selection inlines the comparison (a function pointer did not).
      std::nth_element(buf_.begin(), buf_.begin() + std::ptrdiff_t(k_ - 1), buf_.end(),
                       [](const Neighbor& a, const Neighbor& b) { return Better(a, b); });
      bar_ = buf_[k_ - 1];
      buf_.resize(k_);
      has_bar_ = true;
    }
  }
  void Finish(std::vector<Neighbor>& out) {
    SelectTopK(buf_, int(k_));
    out.assign(buf_.begin(), buf_.end());
  }

 private:
  size_t k_;
  std::vector<Neighbor> buf_;
  Neighbor bar_{0, 0.f};
  bool has_bar_ = false;
};

// Everything the CF workers share, read-only.
template <class Offset>
struct CfColumns {
  int32_t n = 0;
  std::vector<int64_t> start;  // item i's occurrences: [start[i], start[i + 1])
  LargeVector<Occurrence<Offset>> occ;
  LargeVector<float> value;  // the item's value in that context
  std::vector<double> norm;
};

// One 16-byte slot per item holding its accumulator and norm: a candidate costs one random
// cache-line access instead of two.
struct CfSlot {
  double acc;
  double norm;
};

// Item i's candidates (the nt items touched, tp[0..nt)) ranked into `out`, best k; each touched
// accumulator (and support count) is reset for the next item.
template <bool kFast>
inline void RankTouched(int64_t i, const int32_t* tp, int64_t nt, CfSlot* sl, int32_t* sup, double ni, double shrink,
                        int min_support, TopSelector& top, std::vector<Neighbor>& out) {
  // Item i touched itself through each of its own contexts: forget it.
  sl[i].acc = 0;
  if (!kFast) sup[i] = 0;
  top.Reset();
  double reject_below = -HUGE_VAL;  // acc < reject_below * (ni * nj + shrink) cannot enter
  for (int64_t q = 0; q < nt; ++q) {
    const int32_t j = tp[q];
    if (j == i) continue;
    CfSlot& x = sl[j];
    const double a = x.acc;
    x.acc = 0;
    const bool supported = kFast || sup[j] >= min_support;
    if (!kFast) sup[j] = 0;
    const double den = ni * x.norm + shrink;
    if (a < reject_below * den || !supported || a == 0.0) continue;
    top.Offer(Neighbor{j, float(a / den)});
    reject_below = top.RejectBelow();
  }
  top.Finish(out);
}

// Scores items w, w + threads, ... (in chunks) against all others and keeps each one's top k.
// kUniform: every value equals `uniform` (implicit feedback), so no value is loaded in the inner
// loop. kFast: all values positive and min_support <= 1, so an accumulator is zero exactly until
// its item's first touch and no support counts are needed.
template <class Offset, bool kUniform, bool kFast>
void ScoreItems(const SparseRows& m, const CfColumns<Offset>& cols, int k, double shrink, int min_support,
                float uniform, const std::vector<char>* only, int64_t w, int threads, TopK& out) {
  const int32_t n = cols.n;
  std::vector<CfSlot> slot(static_cast<size_t>(n));
  for (int32_t j = 0; j < n; ++j) slot[size_t(j)] = {0.0, cols.norm[size_t(j)]};
  std::vector<int32_t> support(kFast ? 0 : size_t(n), 0);
  // Touched items, written without a branch: every item is written, the count only moves on first
  // touch (a data-dependent branch here mispredicts about half the time).
  std::vector<int32_t> touched(size_t(n) + 1);
  int32_t* tp = touched.data();
  CfSlot* sl = slot.data();
  int32_t* sup = support.data();
  const int32_t* items = m.item.data();
  const float* values = m.value.data();
  const Occurrence<Offset>* occ = cols.occ.data();
  const double uniform2 = double(uniform) * uniform;
  TopSelector top(k);
  constexpr int64_t kChunk = 64;
  constexpr int64_t kAhead = 8;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  for (int64_t c = w; c < chunks; c += threads) {
    for (int64_t i = c * kChunk; i < std::min<int64_t>(n, (c + 1) * kChunk); ++i) {
      if (cols.norm[size_t(i)] <= 0 || (only && !(*only)[size_t(i)])) continue;
      int64_t nt = 0;
      const int64_t p_end = cols.start[size_t(i) + 1];
      for (int64_t p = cols.start[size_t(i)]; p < p_end; ++p) {
        // The contexts' rows lie scattered over the CSR: fetch them 8 occurrences ahead (the
        // loop is latency-bound otherwise).
        if (p + kAhead < p_end) {
          const Occurrence<Offset> next = occ[p + kAhead];
          __builtin_prefetch(items + next.begin);
          if (!kUniform) {
            __builtin_prefetch(values + next.begin);
          }
        }
        const int64_t q_end = occ[p].end;
        if (kUniform) {
          for (int64_t q = occ[p].begin; q < q_end; ++q) {
            const int32_t j = items[q];
            tp[nt] = j;
            nt += sl[j].acc == 0.0;
            sl[j].acc += uniform2;
          }
        } else {
          const double vi = cols.value[size_t(p)];
          for (int64_t q = occ[p].begin; q < q_end; ++q) {
            const int32_t j = items[q];
            tp[nt] = j;
            if (kFast)
              nt += sl[j].acc == 0.0;
            else
              nt += sup[j]++ == 0;
            sl[j].acc += vi * values[q];
          }
        }
      }
      RankTouched<kFast>(i, tp, nt, sl, sup, cols.norm[size_t(i)], shrink, min_support, top, out[size_t(i)]);
    }
  }
}

template <class Offset>
TopK SparseCosineTopKWith(const SparseRows& m, int k, double shrink, int min_support, int threads,
                          const std::vector<char>* only) {
  CfColumns<Offset> cols;
  const int32_t n = cols.n = m.n_items;
  // Column view: for every item, the contexts (rows) it appears in, with values.
  cols.start.assign(size_t(n) + 1, 0);
  for (int32_t it : m.item) cols.start[size_t(it) + 1]++;
  for (int32_t i = 0; i < n; ++i) cols.start[size_t(i) + 1] += cols.start[size_t(i)];
  std::vector<int64_t> fill(cols.start.begin(), cols.start.end() - 1);
  cols.occ.resize(m.item.size());
  cols.value.resize(m.item.size());
  std::vector<double> norm2(size_t(n), 0.0);
  bool positive = true, uniform = true;
  const float first = m.value.empty() ? 1.f : m.value[0];
  for (int64_t r = 0; r < m.rows(); ++r) {
    const Occurrence<Offset> row{Offset(m.row_start[size_t(r)]), Offset(m.row_start[size_t(r) + 1])};
    for (int64_t p = m.row_start[size_t(r)]; p < m.row_start[size_t(r) + 1]; ++p) {
      const int32_t it = m.item[size_t(p)];
      const float v = m.value[size_t(p)];
      cols.occ[size_t(fill[size_t(it)])] = row;
      cols.value[size_t(fill[size_t(it)]++)] = v;
      norm2[size_t(it)] += double(v) * v;
      positive &= v > 0.f;
      uniform &= v == first;
    }
  }
  cols.norm.resize(size_t(n));
  for (int32_t i = 0; i < n; ++i) cols.norm[size_t(i)] = std::sqrt(norm2[size_t(i)]);
  TopK out(static_cast<size_t>(n));
  threads = ResolveThreads(threads);
  const bool fast = positive && min_support <= 1;
  ParallelFor(threads, threads, [&](int64_t w) {
    if (fast && uniform)
      ScoreItems<Offset, true, true>(m, cols, k, shrink, min_support, first, only, w, threads, out);
    else if (fast)
      ScoreItems<Offset, false, true>(m, cols, k, shrink, min_support, first, only, w, threads, out);
    else
      ScoreItems<Offset, false, false>(m, cols, k, shrink, min_support, first, only, w, threads, out);
  });
  return out;
}
}  // namespace

TopK SparseCosineTopK(const SparseRows& m, int k, double shrink, int min_support, int threads,
                      const std::vector<char>* only) {
  if (only && only->size() != size_t(m.n_items))
    throw std::invalid_argument("SparseCosineTopK: `only` must have one flag per item");
  if (k <= 0) return TopK(static_cast<size_t>(m.n_items));
  if (m.item.size() <= size_t(UINT32_MAX))
    return SparseCosineTopKWith<uint32_t>(m, k, shrink, min_support, threads, only);
  return SparseCosineTopKWith<uint64_t>(m, k, shrink, min_support, threads, only);
}

std::string DenseKernelInUse() {
  const detail::VectorIsa isa = detail::FusedKernelIsa();
  return isa == detail::VectorIsa::kNone ? "blas" : std::string("fused-") + detail::VectorIsaName(isa);
}

TopK DenseCosineTopK(const float* rows, int64_t n, int64_t d, int k, int64_t budget, int threads) {
  return DenseCosineTopK(rows, n, d, k, budget, threads, DenseKernel::kAuto);
}

TopK DenseCosineTopK(const float* rows, int64_t n, int64_t d, int k, int64_t budget, int threads, DenseKernel kernel) {
  return DenseCosineTopKRows(rows, n, d, k, nullptr, budget, threads, kernel);
}

namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Row i's k best among the n scores `sr` (itself and zero rows excluded), best first, into `heap`.
inline void SelectTopK(const float* sr, int64_t n, int64_t i, int k, const std::vector<char>& zero,
                       std::vector<Neighbor>& heap) {
  const auto better = [](const Neighbor& a, const Neighbor& b) {
    return Better(a, b);
  };  // inlinable, unlike a function pointer
  heap.clear();
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
}

// The BLAS path: blocks of rows times all rows (sgemm), each row's scores scanned while in cache.
TopK BlasCosineTopK(const float* rows, int64_t n, int64_t d, int k, const std::vector<int64_t>* query, int64_t budget,
                    int threads, const std::vector<char>& zero) {
  using M = RowMatrixF;
  TopK out(static_cast<size_t>(n));
  threads = ResolveThreads(threads);
  // Rows per block: all workers' score blocks together stay under the budget, and a block stays
  // small enough (64 rows: fastest of 16-1024 here) to be scanned while still in cache.
  // A power of two, so that blocks match between runs whenever the budget allows 64.
  int64_t block = 64;
  while (block > 1 && block * n * 4 * threads > budget) block /= 2;
  // Every product has the same shape (`block` rows; a short block is zero-padded), and row i always
  // sits in slot i mod block: BLAS picks kernels and edge paths by shape and slot, so only this
  // keeps a row's scores independent of which rows share its block — a shard's lists (`query`: its
  // rows, bucketed by slot, one per slot per block) then equal a full run's. Equal blocks need equal
  // `block`: 64 whenever the budget allows it.
  std::vector<std::vector<int64_t>> by_slot;
  int64_t blocks = (n + block - 1) / block;
  if (query) {
    by_slot.resize(size_t(block));
    for (int64_t i : *query) by_slot[size_t(i % block)].push_back(i);
    blocks = 0;
    for (const auto& v : by_slot) blocks = std::max<int64_t>(blocks, int64_t(v.size()));
  }
  const auto row_in = [&](int64_t b, int64_t slot) -> int64_t {  // the row in slot `slot` of block b, or -1
    if (query) return b < int64_t(by_slot[size_t(slot)].size()) ? by_slot[size_t(slot)][size_t(b)] : -1;
    return b * block + slot < n ? b * block + slot : -1;
  };
  Eigen::setNbThreads(1);
  // One score buffer per worker, reused for every block (a fresh multi-MB buffer per block costs
  // page faults).
  std::vector<M> pool;
  std::mutex pool_mu;
  SingleThreadedBlas blas_guard;  // workers split the products (visrec/util/blas.h)
  ParallelFor(blocks, threads, [&](int64_t b) {
    M s;
    {
      std::lock_guard<std::mutex> l(pool_mu);
      if (!pool.empty()) {
        s = std::move(pool.back());
        pool.pop_back();
      }
    }
    s.resize(block, n);
    std::vector<float> gathered;
    const float* block_rows = rows + b * block * d;
    if (query || (b + 1) * block > n) {
      gathered.assign(size_t(block * d), 0.f);
      for (int64_t slot = 0; slot < block; ++slot)
        if (const int64_t i = row_in(b, slot); i >= 0) std::copy_n(rows + i * d, d, gathered.data() + slot * d);
      block_rows = gathered.data();
    }
    // S = X[r0:r1] X^T straight into the reused buffer (BLAS with beta = 0: no zero-fill pass over
    // a block that does not fit in cache). Row-major S is column-major S^T = X X[r0:r1]^T.
    {
      const int m = int(n), cols = int(block), kd = int(d), ld = int(d), ldc = int(n);
      const float one = 1.f, zero_f = 0.f;
      sgemm_("T", "N", &m, &cols, &kd, &one, rows, &ld, block_rows, &ld, &zero_f, s.data(), &ldc);
    }
    std::vector<Neighbor> heap;  // the k best so far; heap.front() is the worst of them
    heap.reserve(size_t(k) + 1);
    for (int64_t slot = 0; slot < block; ++slot) {
      const int64_t i = row_in(b, slot);
      if (i < 0 || zero[size_t(i)]) continue;
      SelectTopK(s.row(slot).data(), n, i, k, zero, heap);
      out[size_t(i)] = heap;
    }
    std::lock_guard<std::mutex> l(pool_mu);
    pool.push_back(std::move(s));
  });
  return out;
}

}  // namespace

TopK DenseCosineTopKRows(const float* rows, int64_t n, int64_t d, int k, const std::vector<int64_t>* query,
                         int64_t budget, int threads, DenseKernel kernel) {
  Eigen::Map<const RowMatrixF> x(rows, n, d);
  std::vector<char> zero(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) zero[size_t(i)] = x.row(i).squaredNorm() == 0.f;
  const detail::VectorIsa isa =
      kernel == DenseKernel::kBlas || k <= 0 ? detail::VectorIsa::kNone : detail::FusedKernelIsa();
  if (isa == detail::VectorIsa::kNone) return BlasCosineTopK(rows, n, d, k, query, budget, threads, zero);
  // The symmetric kernel's per-worker heaps (k neighbours per row each) must fit the budget; with
  // fewer workers if need be, else the one-sided kernel, whose memory does not grow with n^2 or k.
  const int64_t per_worker = n * (int64_t(k) * int64_t(sizeof(Neighbor)) + 8);
  const int workers = int(std::min<int64_t>(ResolveThreads(threads), budget / std::max<int64_t>(1, per_worker)));
  if (kernel == DenseKernel::kOneSided || workers < 1 || query)
    return detail::FusedOneSided(isa, rows, n, d, k, threads, zero, query);
  return detail::FusedSymmetric(isa, rows, n, d, k, workers, zero);
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
      if (std::isalnum(c) || c >= 0x80)
        tok.push_back(char(c < 0x80 ? std::tolower(c) : c));
      else
        flush();
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
