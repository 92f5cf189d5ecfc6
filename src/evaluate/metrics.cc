#include "visrec/evaluate/metrics.h"

#include <algorithm>
#include <cmath>

namespace visrec::evaluate {

namespace {
template <class Ranked, class IsRelevant>
void AccumulateWith(const Ranked& ranked, size_t relevant_count, const IsRelevant& is_relevant, int k,
                    RankingMetrics* s) {
  if (relevant_count == 0) return;
  const int n = std::min<int>(k, int(ranked.size()));
  int hits = 0;
  double dcg = 0, ap = 0;
  for (int i = 0; i < n; ++i) {
    if (!is_relevant(ranked[size_t(i)])) continue;
    ++hits;
    dcg += 1.0 / std::log2(i + 2.0);
    ap += double(hits) / (i + 1);
  }
  double idcg = 0;
  const int ideal = std::min<int>(k, int(relevant_count));
  for (int i = 0; i < ideal; ++i) idcg += 1.0 / std::log2(i + 2.0);
  s->hr += hits > 0;
  s->ndcg += dcg / idcg;
  s->precision += double(hits) / k;
  s->recall += double(hits) / double(relevant_count);
  s->map += ap / ideal;
  s->users += 1;
}
}  // namespace

void Accumulate(const std::vector<std::string>& ranked, const std::set<std::string>& relevant, int k,
                RankingMetrics* s) {
  AccumulateWith(
      ranked, relevant.size(), [&](const std::string& i) { return relevant.count(i) > 0; }, k, s);
}

void AccumulateIds(const std::vector<int32_t>& ranked, const std::vector<int32_t>& relevant, int k, RankingMetrics* s) {
  AccumulateWith(
      ranked, relevant.size(), [&](int32_t i) { return std::binary_search(relevant.begin(), relevant.end(), i); }, k,
      s);
}

RankingMetrics Finish(const RankingMetrics& s) {
  RankingMetrics m = s;
  if (s.users == 0) return m;
  m.hr /= s.users;
  m.ndcg /= s.users;
  m.precision /= s.users;
  m.recall /= s.users;
  m.map /= s.users;
  return m;
}

}  // namespace visrec::evaluate
