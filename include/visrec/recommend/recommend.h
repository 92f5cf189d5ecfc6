// `visrec recommend`: collaborative, visual and text item-item similarities, their blend, and
// top-K recommendations per user with reasons.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "visrec/artifact/inputs.h"
#include "visrec/artifact/stage.h"
#include "visrec/artifact/stage_versions.h"
#include "visrec/util/choice.h"

namespace visrec::recommend {

enum class VisualIndex { kExact, kHnsw };

constexpr int kStageVersion = stage_version::kRecommend;

enum class BlendMode { kFixed, kAuto };

struct RecommendOptions {
  std::filesystem::path reduce;  // artifact dir; empty = WORKDIR/reduce/latest
  // user_id,item_id[,weight][,timestamp]; empty: a catalog without behaviour data yet. Then only
  // similar items are written (visual and text sources), and no recommendations.csv.
  std::filesystem::path interactions;
  std::filesystem::path catalog;       // optional: item universe and text columns
  std::string text_columns = "title";  // comma-separated catalog columns for TF-IDF ("" = no text)
  int k = 10;                          // recommendations per user
  int similar_k = 10;                  // similar items written per item and source
  int neighbors = 100;                 // neighbours per item used for scoring
  // Blend: hybrid(i,j) = w_cf * cf(i,j) + w_visual * visual(i,j) + w_text * text(i,j).
  double w_cf = 1.0;
  double w_visual = 1.0;
  double w_text = 1.0;
  // kAuto: the weights are tuned on the user's own data (each validation user's last interaction held
  // out, every (w_visual, w_text) pair of blend_grid tried with w_cf = 1, the best validation NDCG@k
  // kept, ties to the simpler blend), then the lists are made from all interactions with them. The
  // w_* above are used when tuning is impossible (no interactions, or no user with two items).
  BlendMode blend = BlendMode::kFixed;
  std::vector<double> blend_grid{0, 0.1, 0.3, 1, 3};
  uint64_t blend_seed = 0;
  int64_t blend_users = 20000;     // validation users sampled (seeded); 0 = every eligible user
  double shrink = 50.0;            // CF cosine shrinkage (dampens pairs with few co-users)
  int min_support = 1;             // CF: least co-occurring users for a pair
  double half_life_days = 0;       // recency decay of history weights; 0 = off
  int64_t memory_budget_mb = 512;  // visual kNN score blocks
  // Visual neighbours: exact (blocked matrix products) or HNSW (Faiss HNSW graph, approximate,
  // for very large catalogs; its recall@neighbors against exact search on recall_sample items is
  // printed and recorded in the manifest).
  VisualIndex visual_index = VisualIndex::kExact;
  int hnsw_m = 16;  // defaults as HnswOptions (similarity.h)
  int hnsw_ef_construction = 40;
  int hnsw_ef_search = 64;
  int64_t recall_sample = 1000;
  double min_recall = 0.0;  // hnsw: exit 7 below this recall (0 = report only)
  // Store the hybrid neighbour lists scoring used (items x neighbors x (id + 3 parts), 16 bytes per
  // entry: 32 MB for 20k items at 100) so `visrec explain` can decompose any score exactly.
  bool store_scoring = true;
  BadRowPolicy bad_rows = BadRowPolicy::kSkip;
  // Exit 3 when more interaction rows than this share are malformed or name unknown items (and
  // always when none is usable): "0 users" is not a result. Not part of the artifact key.
  double max_bad_rows_fraction = 0.5;
  // N >= 2: merge the neighbour lists of shards 0..N-1 (each made by `recommend --shard i/N`, i.e.
  // RunContext::shard, with the same inputs and options) and write the artifact one unsharded run
  // writes. 0 = compute every list here.
  int merge_shards = 0;
  // Scoring split by user (users in id order, part j of M holds users [j*U/M, (j+1)*U/M)): a part
  // scores its users and writes them as a part artifact; merge_parts = M gathers the M parts and
  // writes the artifact one unsharded run writes. Either combines with merge_shards.
  ShardSpec score_part;
  int merge_parts = 0;
  void Validate() const;
};

StageResult Run(const RecommendOptions& options, const RunContext& context);

// `visrec explain`: why an item got its score for a user, from a recommend artifact: every history
// item whose scoring neighbours include the item, its weight (with recency decay), each source's
// share, and the total, recomputed by the same rule as the stage (equal to the recommendation's
// score when the item was recommended). Reads the interactions file the artifact was made from
// (checked against its digest).
struct ExplainedPart {
  std::string history_item;
  double weight = 0;           // summed interaction weight, decayed
  double part[3] = {0, 0, 0};  // collaborative, visual, text: weighted normalized similarity
  double contribution = 0;     // weight * (part sum)
};
struct Explanation {
  std::string user, item;
  bool seen = false;   // in the user's history: never recommended
  int rank = 0;        // 1-based rank in recommendations.csv, 0 when not in the top-K
  std::string reason;  // the recommendation's reason, when recommended
  double score = 0;    // sum of contributions
  double by_source[3] = {0, 0, 0};
  double blend[3] = {0, 0, 0};  // w_cf, w_visual, w_text of the run
  int history_items = 0;
  int neighbors = 0;
  std::vector<ExplainedPart> parts;  // by contribution, descending
};
Explanation Explain(const std::filesystem::path& recommend_artifact, const std::string& user, const std::string& item);
struct ExplainOptions {
  std::filesystem::path workdir = kDefaultWorkdir;  // where WORKDIR/recommend/latest is looked up
  std::filesystem::path recommend;                  // artifact dir; empty = WORKDIR/recommend/latest
  std::string user, item;                           // both required
  void Validate() const;
};
Explanation Explain(const ExplainOptions& options);
std::string FormatExplanation(const Explanation& e);
std::string ExplanationJson(const Explanation& e);

}  // namespace visrec::recommend

namespace visrec {
template <>
struct ChoiceNames<recommend::VisualIndex> {
  static constexpr std::pair<recommend::VisualIndex, const char*> kNames[] = {{recommend::VisualIndex::kExact, "exact"},
                                                                              {recommend::VisualIndex::kHnsw, "hnsw"}};
};
template <>
struct ChoiceNames<recommend::BlendMode> {
  static constexpr std::pair<recommend::BlendMode, const char*> kNames[] = {{recommend::BlendMode::kFixed, "fixed"},
                                                                            {recommend::BlendMode::kAuto, "auto"}};
};
}  // namespace visrec
