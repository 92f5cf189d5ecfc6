// Internal to the recommend stage: the users' histories, the blended (hybrid) neighbour lists, and
// the validation that tunes the blend (`--blend auto`). Shared by Run, Explain and the tuning.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "visrec/recommend/similarity.h"

namespace visrec::recommend::internal {

enum Source { kCf = 0, kVisual = 1, kText = 2 };

// The weight a history item carries in the user's scores: its summed weight, decayed by its age
// relative to the user's latest interaction when a half-life is set.
inline double HistoryWeight(const std::pair<double, double>& weight_ts, double t_last, double half_life_days) {
  double weight = weight_ts.first;
  if (half_life_days > 0) weight *= std::pow(0.5, (t_last - weight_ts.second) / (86400.0 * half_life_days));
  return weight;
}

template <class Entries>  // a History map, or a user's slice of FlatHistories
double LatestTimestamp(const Entries& h) {
  double t = 0;
  for (auto& [i, wt] : h) t = std::max(t, wt.second);
  return t;
}

// All users' histories in one array, users in id order, each user's items ascending: what a map per
// user holds, without a tree node per interaction.
struct FlatHistories {
  using Entry = std::pair<int32_t, std::pair<double, double>>;  // item, (summed weight, latest ts)
  struct Slice {
    const Entry* first;
    const Entry* last;
    const Entry* begin() const { return first; }
    const Entry* end() const { return last; }
    bool empty() const { return first == last; }
    size_t size() const { return size_t(last - first); }
  };
  std::vector<std::string> users;  // sorted
  std::vector<int64_t> start{0};   // user u's entries: [start[u], start[u + 1])
  std::vector<Entry> entries;
  Slice operator[](size_t u) const { return {entries.data() + start[u], entries.data() + start[u + 1]}; }
};

// The user-item matrix of a set of histories (rows in user order, empty histories left out).
SparseRows UserItemRows(const FlatHistories& h, int32_t n_items);

struct HybridNb {
  int32_t item;
  float score;
  float part[3];  // each source's weighted, normalized share of score
};
using HybridLists = std::vector<std::vector<HybridNb>>;
using SourceLists = std::array<const TopK*, 3>;  // collaborative, visual, text; null = absent

// Union of the sources' neighbour lists of every item, blended by w (a source with w <= 0 drops
// out), each source's scores divided by the item's best score of that source, the best `neighbors`
// kept in (score desc, item asc) order.
HybridLists BuildHybrid(const SourceLists& sims, const double w[3], int32_t n, int neighbors, int threads);

// `--blend auto`: each validation user's last interaction (by timestamp; a seeded random one among
// ties, so among all when there are none) is held out, collaborative similarity is recomputed from
// the rest, and every cell of the grid is scored by the held-out item's rank.
struct BlendCell {
  double w[3];
  double hr = 0, ndcg = 0;
};
struct BlendTuning {
  std::vector<BlendCell> cells;  // in grid order: simpler blends first
  int chosen = -1;               // index into cells; -1 when nothing could be validated
  int64_t validation_users = 0;
  int64_t eligible_users = 0;  // users with at least two history items
  bool by_timestamp = false;   // held-out item chosen by time (else seeded random)
  double seconds = 0;
};
struct BlendTuningInput {
  const FlatHistories* histories;
  const TopK* visual;  // item-indexed lists of the stage's universe
  const TopK* text;    // empty lists when there is no text
  bool has_text = false;
  int32_t n_items = 0;
  std::vector<double> grid;  // values tried for w_visual and w_text (w_cf is 1)
  int k = 10;                // cut-off of HR/NDCG
  int neighbors = 100;
  double shrink = 0;
  int min_support = 1;
  double half_life_days = 0;
  uint64_t seed = 0;
  int64_t max_users = 0;  // validation users sampled (seeded) when more are eligible; 0 = all
  int threads = 1;
};
BlendTuning TuneBlend(const BlendTuningInput& in);

}  // namespace visrec::recommend::internal
