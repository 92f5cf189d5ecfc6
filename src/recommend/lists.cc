#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "visrec/recommend/similarity.h"
#include "visrec/util/errors.h"
#include "visrec/util/numfmt.h"
#include "phases.h"

namespace visrec::recommend::internal {
namespace {
// Visual neighbours of every vector row (or the rows of flagged items), item-indexed.
TopK VisualLists(const RecommendOptions& o, const Universe& u, const std::vector<char>* only, int threads,
                 json& visual_index) {
  const auto& vec = u.vectors;
  TopK v;
  if (o.visual_index == VisualIndex::kHnsw) {
    const auto start = std::chrono::steady_clock::now();
    HnswOptions h;
    h.m = o.hnsw_m;
    h.ef_construction = o.hnsw_ef_construction;
    h.ef_search = o.hnsw_ef_search;
    v = HnswCosineTopK(vec.data.data(), vec.rows(), vec.cols(), o.neighbors, h, threads);
    const double build_search = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int k_check = std::min<int64_t>(o.neighbors, std::max<int64_t>(1, vec.rows() - 1));
    RecallCheck rc = RecallAgainstExact(v, vec.data.data(), vec.rows(), vec.cols(), k_check, o.recall_sample, 0);
    visual_index["recall_at_k"] = rc.recall;
    visual_index["k"] = k_check;
    visual_index["recall_sample_rows"] = rc.rows;
    visual_index["seconds"] = build_search;
    spdlog::info(
        "recommend: visual neighbours by HNSW (m {}, ef_search {}) in {:.2f} s; recall@{} against exact search "
        "on {} sampled items: {:.4f}",
        o.hnsw_m, o.hnsw_ef_search, build_search, k_check, rc.rows, rc.recall);
    if (rc.recall < o.min_recall)
      throw TooManyFailuresError("recommend: HNSW recall@" + std::to_string(k_check) + " " + FormatFixed(rc.recall, 4) +
                                 " is below --min-recall " + FormatFixed(o.min_recall, 4) +
                                 "; raise --hnsw-ef-search or --hnsw-m, or use --visual-index exact");
  } else {
    visual_index["kernel"] = o.neighbors > 0 ? DenseKernelInUse() : "none";
    if (only) {
      std::vector<int64_t> query;  // the flagged items among the vectors' rows
      for (int64_t r = 0; r < vec.rows(); ++r)
        if ((*only)[size_t(u.index.at(u.vector_ids[size_t(r)]))]) query.push_back(r);
      v = DenseCosineTopKRows(vec.data.data(), vec.rows(), vec.cols(), o.neighbors, &query, o.memory_budget_mb << 20,
                              threads);
    } else {
      v = DenseCosineTopK(vec.data.data(), vec.rows(), vec.cols(), o.neighbors, o.memory_budget_mb << 20, threads);
    }
  }
  TopK by_item(u.ids.size());
  for (size_t r = 0; r < v.size(); ++r) {
    auto& dst = by_item[size_t(u.index.at(u.vector_ids[r]))];
    for (auto nb : v[r]) dst.push_back({u.index.at(u.vector_ids[size_t(nb.item)]), nb.score});
  }
  return by_item;
}
}  // namespace

Lists ComputeLists(const RecommendOptions& o, const Universe& u, const FlatHistories& h, const std::vector<char>* only,
                   int threads, PhaseClock& clock) {
  Lists lists;
  lists.sims[kCf] = SparseCosineTopK(UserItemRows(h, u.size()), o.neighbors, o.shrink, o.min_support, threads, only);
  clock.Lap("collaborative");
  lists.visual_index = json{{"kind", o.visual_index}};
  lists.sims[kVisual] = VisualLists(o, u, only, threads, lists.visual_index);
  clock.Lap("visual");
  lists.sims[kText].assign(u.ids.size(), {});
  const std::vector<std::string> texts = ItemTexts(u, &lists.has_text);
  if (lists.has_text) lists.sims[kText] = SparseCosineTopK(TfidfMatrix(texts), o.neighbors, 0.0, 1, threads, only);
  clock.Lap("text");
  return lists;
}

}  // namespace visrec::recommend::internal
