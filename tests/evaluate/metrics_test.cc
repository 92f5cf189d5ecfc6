#include "visrec/evaluate/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>

#include <cmath>

namespace visrec::evaluate {
namespace {

TEST(Metrics, HandComputedSingleUser) {
  // Relevant {b, d}; list a b c d e; K = 4: hits at ranks 2 and 4.
  RankingMetrics s;
  Accumulate({"a", "b", "c", "d", "e"}, {"b", "d"}, 4, &s);
  RankingMetrics m = Finish(s);
  EXPECT_EQ(m.users, 1);
  EXPECT_DOUBLE_EQ(m.hr, 1.0);
  EXPECT_DOUBLE_EQ(m.precision, 0.5);
  EXPECT_DOUBLE_EQ(m.recall, 1.0);
  double dcg = 1 / std::log2(3.0) + 1 / std::log2(5.0), idcg = 1 + 1 / std::log2(3.0);
  EXPECT_NEAR(m.ndcg, dcg / idcg, 1e-12);
  EXPECT_NEAR(m.map, (0.5 + 0.5) / 2, 1e-12);  // precision@2 = 1/2, precision@4 = 2/4
}

TEST(Metrics, CutoffAndMisses) {
  RankingMetrics s;
  Accumulate({"a", "b", "c"}, {"c"}, 2, &s);       // hit beyond K: a miss
  Accumulate({"x", "y"}, {"x", "z", "w"}, 2, &s);  // hit at 1 of 3 relevant
  Accumulate({"q"}, {}, 2, &s);                    // no relevant items: not counted
  RankingMetrics m = Finish(s);
  EXPECT_EQ(m.users, 2);
  EXPECT_DOUBLE_EQ(m.hr, 0.5);
  EXPECT_DOUBLE_EQ(m.precision, (0 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(m.recall, (0 + 1.0 / 3) / 2);
  // user 2: DCG = 1, IDCG over min(K, 3) = 2 positions.
  EXPECT_NEAR(m.ndcg, (0 + 1 / (1 + 1 / std::log2(3.0))) / 2, 1e-12);
  EXPECT_NEAR(m.map, (0 + 1.0 / 2) / 2, 1e-12);
}

TEST(Metrics, PerfectList) {
  RankingMetrics s;
  Accumulate({"a", "b"}, {"a", "b"}, 2, &s);
  RankingMetrics m = Finish(s);
  EXPECT_DOUBLE_EQ(m.ndcg, 1.0);
  EXPECT_DOUBLE_EQ(m.map, 1.0);
}

// The item-number form (evaluate's, for millions of users) sums exactly what the string form does,
// on lists with hits at every place, misses, duplicates of nothing and relevant sets of any size.
TEST(Metrics, ItemNumbersSumTheSameAsStrings) {
  std::mt19937 g(3);
  RankingMetrics by_name[3], by_number[3];
  for (int user = 0; user < 500; ++user) {
    std::vector<int32_t> ranked, relevant;
    std::vector<std::string> ranked_s;
    std::set<std::string> relevant_s;
    const int len = int(g() % 12);
    for (int q = 0; q < len; ++q) {
      const int32_t i = int32_t(g() % 40);
      if (std::find(ranked.begin(), ranked.end(), i) != ranked.end()) continue;
      ranked.push_back(i);
      ranked_s.push_back("item" + std::to_string(1000 + i));  // same order as the numbers
    }
    for (int q = int(g() % 4); q > 0; --q) {
      const int32_t i = int32_t(g() % 40);
      relevant_s.insert("item" + std::to_string(1000 + i));
      if (!std::binary_search(relevant.begin(), relevant.end(), i))
        relevant.insert(std::upper_bound(relevant.begin(), relevant.end(), i), i);
    }
    const int ks[3] = {1, 5, 10};
    for (int c = 0; c < 3; ++c) {
      Accumulate(ranked_s, relevant_s, ks[c], &by_name[c]);
      AccumulateIds(ranked, relevant, ks[c], &by_number[c]);
    }
  }
  for (int c = 0; c < 3; ++c) {
    EXPECT_GT(by_name[c].users, 300);
    EXPECT_GT(by_name[c].hr, 0);
    EXPECT_EQ(by_name[c].users, by_number[c].users);
    EXPECT_EQ(by_name[c].hr, by_number[c].hr);
    EXPECT_EQ(by_name[c].ndcg, by_number[c].ndcg);
    EXPECT_EQ(by_name[c].precision, by_number[c].precision);
    EXPECT_EQ(by_name[c].recall, by_number[c].recall);
    EXPECT_EQ(by_name[c].map, by_number[c].map);
  }
}

}  // namespace
}  // namespace visrec::evaluate
