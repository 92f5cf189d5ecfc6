#include "visrec/evaluate/metrics.h"

#include <gtest/gtest.h>

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
  Accumulate({"a", "b", "c"}, {"c"}, 2, &s);   // hit beyond K: a miss
  Accumulate({"x", "y"}, {"x", "z", "w"}, 2, &s);  // hit at 1 of 3 relevant
  Accumulate({"q"}, {}, 2, &s);                // no relevant items: not counted
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

}  // namespace
}  // namespace visrec::evaluate
