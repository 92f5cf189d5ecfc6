#include "visrec/evaluate/metrics.h"

#include <algorithm>
#include <cmath>

namespace visrec::evaluate {

void Accumulate(const std::vector<std::string>& ranked, const std::set<std::string>& relevant, int k,
                RankingMetrics* s) {
  if (relevant.empty()) return;
  const int n = std::min<int>(k, int(ranked.size()));
  int hits = 0;
  double dcg = 0, ap = 0;
  for (int i = 0; i < n; ++i) {
    if (!relevant.count(ranked[size_t(i)])) continue;
    ++hits;
    dcg += 1.0 / std::log2(i + 2.0);
    ap += double(hits) / (i + 1);
  }
  double idcg = 0;
  const int ideal = std::min<int>(k, int(relevant.size()));
  for (int i = 0; i < ideal; ++i) idcg += 1.0 / std::log2(i + 2.0);
  s->hr += hits > 0;
  s->ndcg += dcg / idcg;
  s->precision += double(hits) / k;
  s->recall += double(hits) / double(relevant.size());
  s->map += ap / ideal;
  s->users += 1;
}

RankingMetrics Finish(const RankingMetrics& s) {
  RankingMetrics m = s;
  if (s.users == 0) return m;
  m.hr /= s.users; m.ndcg /= s.users; m.precision /= s.users; m.recall /= s.users; m.map /= s.users;
  return m;
}

}  // namespace visrec::evaluate
