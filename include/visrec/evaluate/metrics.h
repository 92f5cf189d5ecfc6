// Offline ranking metrics with binary relevance. All take a ranked list and the relevant set.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace visrec::evaluate {

struct RankingMetrics {
  double hr = 0, ndcg = 0, precision = 0, recall = 0, map = 0;
  int users = 0;
};

// Adds one user's list (first k entries used) to running sums.
void Accumulate(const std::vector<std::string>& ranked, const std::set<std::string>& relevant, int k,
                RankingMetrics* sums);
// The same over item numbers, with the relevant items as a sorted vector (for millions of users).
void AccumulateIds(const std::vector<int32_t>& ranked, const std::vector<int32_t>& relevant_sorted, int k,
                   RankingMetrics* sums);
// Divides the sums by the user count.
RankingMetrics Finish(const RankingMetrics& sums);

}  // namespace visrec::evaluate
