// Approximate visual kNN through Faiss's HNSW graph, and its recall against exact search.
#include <algorithm>
#include <cmath>
#include <random>

#include <Eigen/Dense>

#include "visrec/artifact/stage.h"
#include "visrec/recommend/similarity.h"
#include "visrec/util/errors.h"

#ifdef VISREC_HAVE_FAISS
#include <faiss/IndexHNSW.h>
#include <omp.h>
#endif

namespace visrec::recommend {

bool HaveFaiss() {
#ifdef VISREC_HAVE_FAISS
  return true;
#else
  return false;
#endif
}

void RequireFaiss() {
  if (!HaveFaiss())
    throw NotImplementedError(
        "--visual-index hnsw needs Faiss, and this visrec was built without it: "
        "apt-get install libfaiss-dev and rebuild (tools/install-deps.sh does both), or use --visual-index exact");
}

TopK HnswCosineTopK(const float* rows, int64_t n, int64_t d, int k, const HnswOptions& h, int threads) {
  RequireFaiss();
#ifndef VISREC_HAVE_FAISS
  (void)rows;
  (void)n;
  (void)d;
  (void)k;
  (void)h;
  (void)threads;
  return {};
#else
  // Zero rows get no neighbours and are nobody's neighbour (as in exact search): index the others.
  std::vector<int64_t> nonzero;
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t c = 0; c < d; ++c) s += double(rows[i * d + c]) * rows[i * d + c];
    if (s > 0) nonzero.push_back(i);
  }
  TopK out(static_cast<size_t>(n));
  const int64_t m = int64_t(nonzero.size());
  if (m < 2) return out;
  std::vector<float> packed(size_t(m) * size_t(d));
  for (int64_t r = 0; r < m; ++r) std::copy_n(rows + nonzero[size_t(r)] * d, d, packed.begin() + r * d);
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(ResolveThreads(threads));
  try {
    faiss::IndexHNSWFlat index(int(d), h.m, faiss::METRIC_INNER_PRODUCT);
    index.hnsw.efConstruction = h.ef_construction;
    index.add(m, packed.data());
    const int want = std::min<int64_t>(k + 1, m);  // +1: a row usually finds itself
    index.hnsw.efSearch = std::max(h.ef_search, want);
    std::vector<float> dist(size_t(m) * size_t(want));
    std::vector<faiss::Index::idx_t> label(size_t(m) * size_t(want));
    index.search(m, packed.data(), want, dist.data(), label.data());
    for (int64_t r = 0; r < m; ++r) {
      std::vector<Neighbor> c;
      for (int q = 0; q < want; ++q) {
        const faiss::Index::idx_t l = label[size_t(r * want + q)];
        if (l < 0 || l == r) continue;
        c.push_back({int32_t(nonzero[size_t(l)]), dist[size_t(r * want + q)]});
      }
      SelectTopK(c, k);
      out[size_t(nonzero[size_t(r)])] = std::move(c);
    }
  } catch (const std::exception& e) {
    omp_set_num_threads(saved_threads);
    throw Error(ExitCode::kInternal, std::string("Faiss HNSW failed: ") + e.what());
  }
  omp_set_num_threads(saved_threads);
  return out;
#endif
}

RecallCheck RecallAgainstExact(const TopK& approx, const float* rows, int64_t n, int64_t d, int k, int64_t sample,
                               uint64_t seed) {
  RecallCheck r;
  std::vector<int64_t> who(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) who[size_t(i)] = i;
  std::mt19937_64 g(seed);
  std::shuffle(who.begin(), who.end(), g);
  who.resize(size_t(std::min(n, sample)));
  std::sort(who.begin(), who.end());
  std::vector<char> zero(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t c = 0; c < d; ++c) s += double(rows[i * d + c]) * rows[i * d + c];
    zero[size_t(i)] = s == 0;
  }
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<const M> x(rows, n, d);
  Eigen::VectorXf scores;
  int64_t found = 0, wanted = 0;
  std::vector<Neighbor> c;
  for (int64_t i : who) {
    if (zero[size_t(i)]) continue;
    scores.noalias() = x * x.row(i).transpose();
    c.clear();
    for (int64_t j = 0; j < n; ++j)
      if (j != i && !zero[size_t(j)]) c.push_back({int32_t(j), scores[j]});
    SelectTopK(c, k);
    // Exact ties at the K-th score make several neighbour sets equally right: a found item counts
    // when its exact score reaches the K-th best.
    const float kth = c.empty() ? 0.f : c.back().score;
    for (const auto& nb : approx[size_t(i)]) found += scores[nb.item] >= kth;
    wanted += int64_t(c.size());
    ++r.rows;
  }
  r.recall = wanted ? double(std::min(found, wanted)) / double(wanted) : 1.0;
  return r;
}

}  // namespace visrec::recommend
