#include "fused_knn.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "topk_internal.h"
#include "visrec/artifact/stage.h"
#include "visrec/util/parallel.h"
#include "visrec/util/version.h"

namespace visrec::recommend::detail {

namespace {
constexpr int64_t kTileCols = 16;

// X^T in tiles: tile t holds columns 16t..16t+15 as d x 16 floats, contiguous; columns past n are
// zero. Packed once per call, read by every row block. Both instruction sets use this layout (AVX2
// reads a tile row as two 8-float halves), so every score is the same multiply-add chain.
std::vector<float> PackColumnTiles(const float* rows, int64_t n, int64_t d) {
  const int64_t tiles = (n + kTileCols - 1) / kTileCols;
  std::vector<float> packed(size_t(tiles * d * kTileCols), 0.f);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t c = 0; c < d; ++c)
      packed[size_t((j / kTileCols) * d * kTileCols + c * kTileCols + j % kTileCols)] = rows[j * d + c];
  return packed;
}

// An instruction set's view of one row's 16 scores of a tile: Score fills kRows of them (one
// fused multiply-add chain over d per score, in the same order on every ISA, so scores are
// bit-identical across them); the comparisons return one bit per column, bit b = column 16t + b.
#if defined(__AVX512F__)
struct Avx512 {
  static constexpr int64_t kRows = 8;  // 8 accumulators of 16 lanes
  using Acc = __m512;
  // Eight named accumulators: an array indexed inside this loop made GCC keep them on the stack and
  // store all eight on every step.
  __attribute__((always_inline)) static inline void Score(const float* const x[kRows], const float* tile, int64_t d,
                                                          Acc out[kRows]) {
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
    out[0] = a0;
    out[1] = a1;
    out[2] = a2;
    out[3] = a3;
    out[4] = a4;
    out[5] = a5;
    out[6] = a6;
    out[7] = a7;
  }
  static inline Acc Load(const float* p) { return _mm512_loadu_ps(p); }
  static inline unsigned Above(Acc a, float t) { return _mm512_cmp_ps_mask(a, _mm512_set1_ps(t), _CMP_GT_OQ); }
  static inline unsigned AtLeast(Acc a, float t) { return _mm512_cmp_ps_mask(a, _mm512_set1_ps(t), _CMP_GE_OQ); }
  static inline unsigned AtLeast(Acc a, Acc t) { return _mm512_cmp_ps_mask(a, t, _CMP_GE_OQ); }
  static inline void Store(float* lanes, Acc a) { _mm512_store_ps(lanes, a); }
};
#endif

#if defined(__AVX2__) && defined(__FMA__)
struct Avx2 {
  // 4 rows x 16 columns = 8 accumulators of 8 lanes, plus the tile row's two halves and one
  // broadcast: 11 of AVX2's 16 vector registers, so nothing spills.
  static constexpr int64_t kRows = 4;
  struct Acc {
    __m256 lo, hi;
  };
  __attribute__((always_inline)) static inline void Score(const float* const x[kRows], const float* tile, int64_t d,
                                                          Acc out[kRows]) {
    __m256 a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
    for (int64_t c = 0; c < d; ++c) {
      const __m256 lo = _mm256_loadu_ps(tile + c * kTileCols), hi = _mm256_loadu_ps(tile + c * kTileCols + 8);
      __m256 s = _mm256_broadcast_ss(x[0] + c);
      a0 = _mm256_fmadd_ps(s, lo, a0);
      b0 = _mm256_fmadd_ps(s, hi, b0);
      s = _mm256_broadcast_ss(x[1] + c);
      a1 = _mm256_fmadd_ps(s, lo, a1);
      b1 = _mm256_fmadd_ps(s, hi, b1);
      s = _mm256_broadcast_ss(x[2] + c);
      a2 = _mm256_fmadd_ps(s, lo, a2);
      b2 = _mm256_fmadd_ps(s, hi, b2);
      s = _mm256_broadcast_ss(x[3] + c);
      a3 = _mm256_fmadd_ps(s, lo, a3);
      b3 = _mm256_fmadd_ps(s, hi, b3);
    }
    out[0] = {a0, b0};
    out[1] = {a1, b1};
    out[2] = {a2, b2};
    out[3] = {a3, b3};
  }
  static inline Acc Load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static inline unsigned Bits(__m256 lo, __m256 hi) {
    return unsigned(_mm256_movemask_ps(lo)) | (unsigned(_mm256_movemask_ps(hi)) << 8);
  }
  static inline unsigned Above(Acc a, float t) {
    const __m256 v = _mm256_set1_ps(t);
    return Bits(_mm256_cmp_ps(a.lo, v, _CMP_GT_OQ), _mm256_cmp_ps(a.hi, v, _CMP_GT_OQ));
  }
  static inline unsigned AtLeast(Acc a, float t) { return AtLeast(a, Acc{_mm256_set1_ps(t), _mm256_set1_ps(t)}); }
  static inline unsigned AtLeast(Acc a, Acc t) {
    return Bits(_mm256_cmp_ps(a.lo, t.lo, _CMP_GE_OQ), _mm256_cmp_ps(a.hi, t.hi, _CMP_GE_OQ));
  }
  static inline void Store(float* lanes, Acc a) {
    _mm256_store_ps(lanes, a.lo);
    _mm256_store_ps(lanes + 8, a.hi);
  }
};
#endif

// Exact top-k: scores of kRows rows x 16 columns are computed in registers (X^T packed once into
// 16-column tiles) and compared with each row's current k-th best right there; only the few lanes
// that beat it leave the registers. No score block is written or read back, and nothing is
// repacked per block (with BLAS, packing X again for every row block and zeroing each output block
// took a third of the time). Results do not depend on threads or blocks.
template <class Isa>
TopK OneSided(const float* rows, int64_t n, int64_t d, int k, int threads, const std::vector<char>& zero,
              const std::vector<int64_t>* query) {
  constexpr int64_t kRows = Isa::kRows, kCols = kTileCols;
  constexpr int64_t kRowBlock = 256;  // rows whose heaps one task keeps (x rows stay in L1/L2)
  constexpr int64_t kPanel = 512;     // columns per pass over a row block (their tiles stay in L2)
  const int64_t tiles = (n + kCols - 1) / kCols;
  const std::vector<float> packed = PackColumnTiles(rows, n, d);
  const std::vector<float> zero_row(size_t(d), 0.f);
  TopK out(static_cast<size_t>(n));
  // Query positions 0..m-1 name rows: all of them, or a shard's subset (each row's list is computed
  // the same way whichever rows share its block, so a subset's lists equal a full run's).
  const int64_t m = query ? int64_t(query->size()) : n;
  const auto row_at = [&](int64_t q) { return query ? (*query)[size_t(q)] : q; };
  const int64_t blocks = (m + kRowBlock - 1) / kRowBlock;
  ParallelFor(blocks, ResolveThreads(threads), [&](int64_t b) {
    const int64_t r0 = b * kRowBlock, r1 = std::min(m, r0 + kRowBlock);
    const int64_t rows_padded = (r1 - r0 + kRows - 1) / kRows * kRows;
    std::vector<RowHeap> heaps(size_t(r1 - r0));
    for (auto& h : heaps) h.heap.reserve(size_t(k) + 1);
    // The score a column must beat, per row: -inf until its heap is full; +inf for rows that get
    // no neighbours (zero rows, padding), so their lanes never leave the registers.
    std::vector<float> thr(size_t(rows_padded), INFINITY);
    for (int64_t q = r0; q < r1; ++q) thr[size_t(q - r0)] = zero[size_t(row_at(q))] ? INFINITY : -INFINITY;
    alignas(64) float lane[kCols];
    for (int64_t p0 = 0; p0 < tiles; p0 += kPanel / kCols) {
      const int64_t p1 = std::min(tiles, p0 + kPanel / kCols);
      for (int64_t g = 0; g < rows_padded; g += kRows) {
        const float* x[kRows];
        for (int64_t r = 0; r < kRows; ++r) x[r] = r0 + g + r < r1 ? rows + row_at(r0 + g + r) * d : zero_row.data();
        for (int64_t t = p0; t < p1; ++t) {
          const float* tile = packed.data() + t * d * kCols;
          typename Isa::Acc acc[kRows];
          Isa::Score(x, tile, d, acc);
          for (int64_t r = 0; r < kRows; ++r) {
            float& th = thr[size_t(g + r)];
            unsigned mask = Isa::Above(acc[r], th);
            if (mask == 0) continue;
            const int64_t i = row_at(r0 + g + r);
            Isa::Store(lane, acc[r]);
            while (mask != 0) {  // lanes in ascending column order
              const int bit = __builtin_ctz(mask);
              mask &= mask - 1;
              const int64_t j = t * kCols + bit;
              if (j >= n || j == i || zero[size_t(j)] || !(lane[bit] > th)) continue;
              th = heaps[size_t(g + r)].Offer(Neighbor{int32_t(j), lane[bit]}, k);
            }
          }
        }
      }
    }
    for (int64_t q = r0; q < r1; ++q) {
      auto& h = heaps[size_t(q - r0)].heap;
      std::sort(h.begin(), h.end(), RowHeap::Less);
      out[size_t(row_at(q))] = std::move(h);
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
// One worker's heaps in the symmetric kernel.
struct RowHeaps {
  std::vector<Neighbor> slots;  // row i's heap: slots[i*k .. i*k + size[i])
  std::vector<int32_t> size;
  std::vector<float> thr;  // per column/row: -inf until full, then the k-th best score
};

// Each row's k best over all workers' heaps, best first.
TopK MergeRowHeaps(const std::vector<RowHeaps>& ws, int64_t n, int k) {
  const BetterFn better;
  TopK out(static_cast<size_t>(n));
  std::vector<Neighbor> all;
  for (int64_t i = 0; i < n; ++i) {
    all.clear();
    for (const RowHeaps& w : ws)
      all.insert(all.end(), w.slots.begin() + i * k, w.slots.begin() + i * k + w.size[size_t(i)]);
    const size_t keep = std::min(all.size(), size_t(k));
    std::partial_sort(all.begin(), all.begin() + long(keep), all.end(), better);
    out[size_t(i)].assign(all.begin(), all.begin() + long(keep));
  }
  return out;
}

template <class Isa>
TopK Symmetric(const float* rows, int64_t n, int64_t d, int k, int workers, const std::vector<char>& zero) {
  constexpr int64_t kRows = Isa::kRows, kCols = kTileCols;
  constexpr int64_t kRowBlock = 128;
  static_assert(kRowBlock % kRows == 0, "row groups must not straddle row blocks");
  const int64_t tiles = (n + kCols - 1) / kCols;
  const std::vector<float> packed = PackColumnTiles(rows, n, d);
  const std::vector<float> zero_row(size_t(d), 0.f);
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  std::vector<RowHeaps> ws(static_cast<size_t>(workers));
  std::atomic<int64_t> next{0};
  const BetterFn better;
  ParallelFor(workers, workers, [&](int64_t w) {
    RowHeaps& me = ws[size_t(w)];
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
        const typename Isa::Acc col_thr = Isa::Load(me.thr.data() + j0);
        for (int64_t g = r0; g < r1; g += kRows) {
          if (g >= j0 + kCols - 1) continue;  // every pair here has j <= i: done from the other side
          const float* x[kRows];
          for (int64_t r = 0; r < kRows; ++r) x[r] = g + r < r1 ? rows + (g + r) * d : zero_row.data();
          typename Isa::Acc acc[kRows];
          Isa::Score(x, tile, d, acc);
          for (int64_t r = 0; r < kRows; ++r) {
            const int64_t i = g + r;
            if (i >= r1 || zero[size_t(i)]) continue;
            // Lanes worth a look: beating row i's k-th best, or column j's (row i offered to j).
            unsigned mask = Isa::AtLeast(acc[r], me.thr[size_t(i)]) | Isa::AtLeast(acc[r], col_thr);
            if (mask == 0) continue;
            Isa::Store(lane, acc[r]);
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
  return MergeRowHeaps(ws, n, k);
}

[[noreturn]] void NoKernel(VectorIsa isa) {
  throw std::logic_error(std::string("no fused kernel for ") + VectorIsaName(isa) + " in this build");  // a bug: exit 1
}
}  // namespace

VectorIsa FusedKernelIsa() {
  const CpuFeatures f = EffectiveCpuFeatures();
#if defined(__AVX512F__)
  if (f.avx512f) return VectorIsa::kAvx512;
#endif
#if defined(__AVX2__) && defined(__FMA__)
  if (f.avx2 && f.fma) return VectorIsa::kAvx2;
#endif
  (void)f;
  return VectorIsa::kNone;
}

const char* VectorIsaName(VectorIsa isa) {
  switch (isa) {
    case VectorIsa::kAvx512: return "avx512";
    case VectorIsa::kAvx2: return "avx2";
    case VectorIsa::kNone: break;
  }
  return "none";
}

TopK FusedOneSided(VectorIsa isa, const float* rows, int64_t n, int64_t d, int k, int threads,
                   const std::vector<char>& zero, const std::vector<int64_t>* query) {
#if defined(__AVX512F__)
  if (isa == VectorIsa::kAvx512) return OneSided<Avx512>(rows, n, d, k, threads, zero, query);
#endif
#if defined(__AVX2__) && defined(__FMA__)
  if (isa == VectorIsa::kAvx2) return OneSided<Avx2>(rows, n, d, k, threads, zero, query);
#endif
  NoKernel(isa);
}

TopK FusedSymmetric(VectorIsa isa, const float* rows, int64_t n, int64_t d, int k, int workers,
                    const std::vector<char>& zero) {
#if defined(__AVX512F__)
  if (isa == VectorIsa::kAvx512) return Symmetric<Avx512>(rows, n, d, k, workers, zero);
#endif
#if defined(__AVX2__) && defined(__FMA__)
  if (isa == VectorIsa::kAvx2) return Symmetric<Avx2>(rows, n, d, k, workers, zero);
#endif
  NoKernel(isa);
}

}  // namespace visrec::recommend::detail
