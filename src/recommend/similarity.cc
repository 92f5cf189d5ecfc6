#include "visrec/recommend/similarity.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <cctype>
#include <cmath>
#include <map>

#include <Eigen/Dense>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

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
// Most admitted candidates cost one append, where a bounded heap paid a sift for each (CF top-20
// on tools/bench-recommend.sh's data: 0.080 s with 8k, 0.084 s with 4k, 0.093 s with 2k).
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
  double RejectBelow() const {
    return has_bar_ ? double(bar_.score) - std::abs(double(bar_.score)) * 1e-6 : -HUGE_VAL;
  }
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
  std::vector<int64_t> start;     // item i's occurrences: [start[i], start[i + 1])
  LargeVector<Occurrence<Offset>> occ;
  LargeVector<float> value;       // the item's value in that context
  std::vector<double> norm;
};

// Scores items w, w + threads, ... (in chunks) against all others and keeps each one's top k.
// kUniform: every value equals `uniform` (implicit feedback), so no value is loaded in the inner
// loop. kFast: all values positive and min_support <= 1, so an accumulator is zero exactly until
// its item's first touch and no support counts are needed.
template <class Offset, bool kUniform, bool kFast>
void ScoreItems(const SparseRows& m, const CfColumns<Offset>& cols, int k, double shrink, int min_support,
                float uniform, int64_t w, int threads, TopK& out) {
  const int32_t n = cols.n;
  // One 16-byte slot per item holding its accumulator and norm: a candidate costs one random
  // cache-line access instead of two.
  struct Slot {
    double acc;
    double norm;
  };
  std::vector<Slot> slot(static_cast<size_t>(n));
  for (int32_t j = 0; j < n; ++j) slot[size_t(j)] = {0.0, cols.norm[size_t(j)]};
  std::vector<int32_t> support(kFast ? 0 : size_t(n), 0);
  // Touched items, written without a branch: every item is written, the count only moves on first
  // touch (a data-dependent branch here mispredicts about half the time).
  std::vector<int32_t> touched(size_t(n) + 1);
  int32_t* tp = touched.data();
  Slot* sl = slot.data();
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
      if (cols.norm[size_t(i)] <= 0) continue;
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
            if (kFast) nt += sl[j].acc == 0.0;
            else nt += sup[j]++ == 0;
            sl[j].acc += vi * values[q];
          }
        }
      }
      // Item i touched itself through each of its own contexts: forget it.
      sl[i].acc = 0;
      if (!kFast) sup[i] = 0;
      top.Reset();
      const double ni = cols.norm[size_t(i)];
      double reject_below = -HUGE_VAL;  // acc < reject_below * (ni * nj + shrink) cannot enter
      for (int64_t q = 0; q < nt; ++q) {
        const int32_t j = tp[q];
        if (j == i) continue;
        Slot& x = sl[j];
        const double a = x.acc;
        x.acc = 0;
        const bool supported = kFast || sup[j] >= min_support;
        if (!kFast) sup[j] = 0;
        const double den = ni * x.norm + shrink;
        if (a < reject_below * den || !supported || a == 0.0) continue;
        top.Offer(Neighbor{j, float(a / den)});
        reject_below = top.RejectBelow();
      }
      top.Finish(out[size_t(i)]);
    }
  }
}

template <class Offset>
TopK SparseCosineTopKWith(const SparseRows& m, int k, double shrink, int min_support, int threads) {
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
    if (fast && uniform) ScoreItems<Offset, true, true>(m, cols, k, shrink, min_support, first, w, threads, out);
    else if (fast) ScoreItems<Offset, false, true>(m, cols, k, shrink, min_support, first, w, threads, out);
    else ScoreItems<Offset, false, false>(m, cols, k, shrink, min_support, first, w, threads, out);
  });
  return out;
}
}  // namespace

TopK SparseCosineTopK(const SparseRows& m, int k, double shrink, int min_support, int threads) {
  if (k <= 0) return TopK(static_cast<size_t>(m.n_items));
  if (m.item.size() <= size_t(UINT32_MAX)) return SparseCosineTopKWith<uint32_t>(m, k, shrink, min_support, threads);
  return SparseCosineTopKWith<uint64_t>(m, k, shrink, min_support, threads);
}

namespace {
// A bounded heap of the k best neighbours of one row (front = the worst of them). Candidates come
// in ascending id, so an equal score never displaces an earlier one (ties go to the lower id).
struct BetterFn {  // a functor, so the heap operations inline it (a function pointer did not)
  bool operator()(const Neighbor& a, const Neighbor& b) const { return Better(a, b); }
};
struct RowHeap {
  std::vector<Neighbor> heap;
  static constexpr BetterFn Less{};
  // Returns the score a later candidate must beat: -inf until the heap is full.
  float Offer(Neighbor c, int k) {
    if (int(heap.size()) < k) {
      heap.push_back(c);
      std::push_heap(heap.begin(), heap.end(), Less);
    } else if (c.score > heap.front().score) {
      std::pop_heap(heap.begin(), heap.end(), Less);
      heap.back() = c;
      std::push_heap(heap.begin(), heap.end(), Less);
    }
    return int(heap.size()) < k ? -INFINITY : heap.front().score;
  }
};

#if defined(__AVX512F__)
constexpr int64_t kTileRows = 8, kTileCols = 16;  // kTileRows is also spelled out in ScoreTile

// X^T in tiles: tile t holds columns 16t..16t+15 as d x 16 floats, contiguous; columns past n are
// zero. Packed once per call, read by every row block.
std::vector<float> PackColumnTiles(const float* rows, int64_t n, int64_t d) {
  const int64_t tiles = (n + kTileCols - 1) / kTileCols;
  std::vector<float> packed(size_t(tiles * d * kTileCols), 0.f);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < d; ++c)
      packed[size_t((j / kTileCols) * d * kTileCols + c * kTileCols + j % kTileCols)] = rows[j * d + c];
  return packed;
}

// Scores of the 8 rows x[0..7] (d floats each) against one packed tile, into out[0..7]. Eight
// named accumulators: an array indexed inside this loop made GCC keep them on the stack and store
// all eight on every step (0.49 s against 0.31 s at 20k x 64).
__attribute__((always_inline)) inline void ScoreTile(const float* const x[kTileRows], const float* tile, int64_t d,
                                                     __m512 out[kTileRows]) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (int64_t c = 0; c < d; ++c) {
    const __m512 v = _mm512_loadu_ps(tile + c * kTileCols);
    a0 = _mm512_fmadd_ps(_mm512_set1_ps(x[0][c]), v, a0);
    a1 = _mm512_fmadd_ps(_mm512_set1_ps(x[1][c]), v, a1);
    a2 = _mm512_fmadd_ps(_mm512_set1_ps(x[2][c]), v, a2);
    a3 = _mm512_fmadd_ps(_mm512_set1_ps(x[3][c]), v, a3);
    a4 = _mm512_fmadd_ps(_mm512_set1_ps(x[4][c]), v, a4);
    a5 = _mm512_fmadd_ps(_mm512_set1_ps(x[5][c]), v, a5);
    a6 = _mm512_fmadd_ps(_mm512_set1_ps(x[6][c]), v, a6);
    a7 = _mm512_fmadd_ps(_mm512_set1_ps(x[7][c]), v, a7);
  }
  out[0] = a0; out[1] = a1; out[2] = a2; out[3] = a3;
  out[4] = a4; out[5] = a5; out[6] = a6; out[7] = a7;
}

// Exact top-k by a fused kernel: scores of 8 rows x 16 columns are computed in registers (X^T packed
// once into 16-column tiles) and compared with each row's current k-th best right there; only the
// few lanes that beat it leave the registers. No score block is written or read back, and nothing
// is repacked per block (with BLAS, packing X again for every row block and zeroing each output
// block took a third of the time). Every score is the same fused multiply-add chain over d
// whatever the threads or blocks, so results do not depend on them.
TopK DenseCosineTopKFused(const float* rows, int64_t n, int64_t d, int k, int threads, const std::vector<char>& zero) {
  constexpr int64_t kRows = kTileRows, kCols = kTileCols;
  constexpr int64_t kRowBlock = 256;   // rows whose heaps one task keeps (x rows stay in L1/L2)
  constexpr int64_t kPanel = 512;      // columns per pass over a row block (their tiles stay in L2)
  const int64_t tiles = (n + kCols - 1) / kCols;
  const std::vector<float> packed = PackColumnTiles(rows, n, d);
  const std::vector<float> zero_row(size_t(d), 0.f);
  TopK out(static_cast<size_t>(n));
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  ParallelFor(blocks, ResolveThreads(threads), [&](int64_t b) {
    const int64_t r0 = b * kRowBlock, r1 = std::min(n, r0 + kRowBlock);
    const int64_t rows_padded = (r1 - r0 + kRows - 1) / kRows * kRows;
    std::vector<RowHeap> heaps(size_t(r1 - r0));
    for (auto& h : heaps) h.heap.reserve(size_t(k) + 1);
    // The score a column must beat, per row: -inf until its heap is full; +inf for rows that get
    // no neighbours (zero rows, padding), so their lanes never leave the registers.
    std::vector<float> thr(size_t(rows_padded), INFINITY);
    for (int64_t i = r0; i < r1; ++i) thr[size_t(i - r0)] = zero[size_t(i)] ? INFINITY : -INFINITY;
    alignas(64) float lane[kCols];
    for (int64_t p0 = 0; p0 < tiles; p0 += kPanel / kCols) {
      const int64_t p1 = std::min(tiles, p0 + kPanel / kCols);
      for (int64_t g = 0; g < rows_padded; g += kRows) {
        const float* x[kRows];
        for (int64_t r = 0; r < kRows; ++r) x[r] = r0 + g + r < r1 ? rows + (r0 + g + r) * d : zero_row.data();
        for (int64_t t = p0; t < p1; ++t) {
          const float* tile = packed.data() + t * d * kCols;
          __m512 acc[kRows];
          ScoreTile(x, tile, d, acc);
          for (int64_t r = 0; r < kRows; ++r) {
            float& th = thr[size_t(g + r)];
            unsigned mask = _mm512_cmp_ps_mask(acc[r], _mm512_set1_ps(th), _CMP_GT_OQ);
            if (mask == 0) continue;
            const int64_t i = r0 + g + r;
            _mm512_store_ps(lane, acc[r]);
            while (mask != 0) {  // lanes in ascending column order
              const int bit = __builtin_ctz(mask);
              mask &= mask - 1;
              const int64_t j = t * kCols + bit;
              if (j >= n || j == i || zero[size_t(j)] || !(lane[bit] > th)) continue;
              th = heaps[size_t(i - r0)].Offer(Neighbor{int32_t(j), lane[bit]}, k);
            }
          }
        }
      }
    }
    for (int64_t i = r0; i < r1; ++i) {
      auto& h = heaps[size_t(i - r0)].heap;
      std::sort(h.begin(), h.end(), RowHeap::Less);
      out[size_t(i)] = std::move(h);
    }
  });
  return out;
}

// The same kernel using S = S^T: only tiles on or above the diagonal are computed, and each score
// is offered to both of its rows (row i gets j, row j gets i), which halves the multiply-adds.
// Offers then arrive out of id order, so a candidate equal to a row's k-th best is compared in full
// (score, then lower id) — the result is the same set under the same order as the one-sided
// kernel. Each worker keeps heaps for every row (k + 1 neighbours per row), merged at the end; the
// caller checks that they fit the memory budget.
TopK DenseCosineTopKSymmetric(const float* rows, int64_t n, int64_t d, int k, int workers, const std::vector<char>& zero) {
  constexpr int64_t kRows = kTileRows, kCols = kTileCols;
  constexpr int64_t kRowBlock = 128;
  const int64_t tiles = (n + kCols - 1) / kCols;
  const std::vector<float> packed = PackColumnTiles(rows, n, d);
  const std::vector<float> zero_row(size_t(d), 0.f);
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  struct Worker {
    std::vector<Neighbor> slots;  // row i's heap: slots[i*k .. i*k + size[i])
    std::vector<int32_t> size;
    std::vector<float> thr;       // per column/row: -inf until full, then the k-th best score
  };
  std::vector<Worker> ws(static_cast<size_t>(workers));
  std::atomic<int64_t> next{0};
  const BetterFn better;
  ParallelFor(workers, workers, [&](int64_t w) {
    Worker& me = ws[size_t(w)];
    me.slots.resize(size_t(n) * size_t(k));
    me.size.assign(size_t(tiles * kCols), 0);
    me.thr.assign(size_t(tiles * kCols), -INFINITY);
    for (int64_t j = 0; j < tiles * kCols; ++j)
      if (j >= n || zero[size_t(j)]) me.thr[size_t(j)] = INFINITY;  // gets no neighbours
    auto offer = [&](int64_t i, int64_t j, float score) {
      if (!(score >= me.thr[size_t(i)]) || zero[size_t(j)]) return;
      Neighbor* h = me.slots.data() + i * k;
      int32_t& sz = me.size[size_t(i)];
      const Neighbor c{int32_t(j), score};
      if (sz < k) {
        h[sz++] = c;
        std::push_heap(h, h + sz, better);
      } else if (better(c, h[0])) {
        std::pop_heap(h, h + k, better);
        h[k - 1] = c;
        std::push_heap(h, h + k, better);
      } else {
        return;
      }
      if (sz == k) me.thr[size_t(i)] = h[0].score;
    };
    alignas(64) float lane[kCols];
    for (int64_t b = next++; b < blocks; b = next++) {
      const int64_t r0 = b * kRowBlock, r1 = std::min(n, r0 + kRowBlock);
      for (int64_t t = r0 / kCols; t < tiles; ++t) {
        const float* tile = packed.data() + t * d * kCols;
        const int64_t j0 = t * kCols;
        const __m512 col_thr = _mm512_loadu_ps(me.thr.data() + j0);
        for (int64_t g = r0; g < r1; g += kRows) {
          if (g >= j0 + kCols - 1) continue;  // every pair here has j <= i: done from the other side
          const float* x[kRows];
          for (int64_t r = 0; r < kRows; ++r) x[r] = g + r < r1 ? rows + (g + r) * d : zero_row.data();
          __m512 acc[kRows];
          ScoreTile(x, tile, d, acc);
          for (int64_t r = 0; r < kRows; ++r) {
            const int64_t i = g + r;
            if (i >= r1 || zero[size_t(i)]) continue;
            // Lanes worth a look: beating row i's k-th best, or column j's (row i offered to j).
            unsigned mask = _mm512_cmp_ps_mask(acc[r], _mm512_set1_ps(me.thr[size_t(i)]), _CMP_GE_OQ) |
                            _mm512_cmp_ps_mask(acc[r], col_thr, _CMP_GE_OQ);
            if (mask == 0) continue;
            _mm512_store_ps(lane, acc[r]);
            while (mask != 0) {
              const int bit = __builtin_ctz(mask);
              mask &= mask - 1;
              const int64_t j = j0 + bit;
              if (j <= i || j >= n) continue;  // each unordered pair once; j > i
              offer(i, j, lane[bit]);
              offer(j, i, lane[bit]);
            }
          }
        }
      }
    }
  });
  TopK out(static_cast<size_t>(n));
  std::vector<Neighbor> all;
  for (int64_t i = 0; i < n; ++i) {
    all.clear();
    for (const Worker& w : ws) all.insert(all.end(), w.slots.begin() + i * k, w.slots.begin() + i * k + w.size[size_t(i)]);
    const size_t keep = std::min(all.size(), size_t(k));
    std::partial_sort(all.begin(), all.begin() + long(keep), all.end(), better);
    out[size_t(i)].assign(all.begin(), all.begin() + long(keep));
  }
  return out;
}
#endif
}  // namespace

TopK DenseCosineTopK(const float* rows, int64_t n, int64_t d, int k, int64_t budget, int threads) {
  return DenseCosineTopK(rows, n, d, k, budget, threads, DenseKernel::kAuto);
}

TopK DenseCosineTopK(const float* rows, int64_t n, int64_t d, int k, int64_t budget, int threads, DenseKernel kernel) {
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const M> x(rows, n, d);
  std::vector<char> zero(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) zero[size_t(i)] = x.row(i).squaredNorm() == 0.f;
#if defined(__AVX512F__)
  if (kernel != DenseKernel::kBlas && k > 0) {
    // The symmetric kernel's per-worker heaps (k neighbours per row each) must fit the budget; with
    // fewer workers if need be, else the one-sided kernel, whose memory does not grow with n^2 or k.
    const int64_t per_worker = n * (int64_t(k) * int64_t(sizeof(Neighbor)) + 8);
    const int workers = int(std::min<int64_t>(ResolveThreads(threads), budget / std::max<int64_t>(1, per_worker)));
    if (kernel == DenseKernel::kOneSided || workers < 1) return DenseCosineTopKFused(rows, n, d, k, threads, zero);
    return DenseCosineTopKSymmetric(rows, n, d, k, workers, zero);
  }
#endif
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
