#include <gtest/gtest.h>

#include <cmath>

#include "../test_util.h"
#include "visrec/evaluate/evaluate.h"
#include "visrec/util/errors.h"

namespace visrec::evaluate {
namespace {

TEST(Split, LeaveLastOutHoldsOutEachUsersLatestItem) {
  testing::TempDir d;
  testing::WriteText(d / "i.csv",
                     "user_id,item_id,timestamp\n"
                     "u1,A,2024-01-01\nu1,B,2024-01-03\nu1,C,2024-01-02\nu1,B,2024-01-01\n"
                     "u2,A,2024-01-01\n"   // a single item: stays in training
                     "u3,A,5\nu3,C,5\n");  // tie: the later line wins
  SplitOptions o;
  o.interactions = d / "i.csv";
  RunContext ctx;
  ctx.workdir = d / "w";
  Artifact a = RunSplit(o, ctx).artifact;
  Interactions train = ReadInteractions(a.File("train.csv")), test = ReadInteractions(a.File("test.csv"));
  std::set<std::pair<std::string, std::string>> te;
  for (auto& x : test.rows) te.insert({x.user_id, x.item_id});
  EXPECT_EQ(te, (std::set<std::pair<std::string, std::string>>{{"u1", "B"}, {"u3", "C"}}));
  EXPECT_EQ(test.rows.size(), 3u) << "both rows of u1's latest item are held out";
  EXPECT_EQ(train.rows.size(), 4u);
  for (auto& x : train.rows) EXPECT_FALSE(te.count({x.user_id, x.item_id}));
}

TEST(Split, RandomFractionIsSeededAndNeedsNoTimestamps) {
  testing::TempDir d;
  std::string csv = "user_id,item_id\n";
  for (int i = 0; i < 1000; ++i) csv += "u" + std::to_string(i % 37) + ",i" + std::to_string(i) + "\n";
  testing::WriteText(d / "i.csv", csv);
  SplitOptions o;
  o.interactions = d / "i.csv";
  o.method = evaluate::SplitMethod::kRandom;
  o.test_fraction = 0.25;
  o.seed = 3;
  RunContext ctx;
  ctx.workdir = d / "w";
  Artifact a = RunSplit(o, ctx).artifact;
  size_t n_test = ReadInteractions(a.File("test.csv")).rows.size();
  EXPECT_NEAR(double(n_test), 250.0, 45.0);
  o.seed = 4;
  Artifact b = RunSplit(o, ctx).artifact;
  EXPECT_NE(a.dir, b.dir);
  EXPECT_NE(testing::ReadText(a.File("test.csv")), testing::ReadText(b.File("test.csv")));
  o.method = evaluate::SplitMethod::kLeaveLastOut;
  EXPECT_THROW(RunSplit(o, ctx), InputError) << "leave-last-out without timestamps";
}

}  // namespace
}  // namespace visrec::evaluate

namespace visrec::evaluate {
namespace {

// Red-team round 2: a split that leaves nobody to evaluate, or rows without timestamps under
// leave-last-out, is an error naming the file (and row), not a report of 0.0000 metrics.
TEST(Split, NothingToTestAndMissingTimestampsAreErrors) {
  testing::TempDir d;
  RunContext ctx;
  ctx.workdir = d / "w";
  SplitOptions o;
  testing::WriteText(d / "single.csv", "user_id,item_id,timestamp\nu1,A,2024-01-01\nu2,B,2024-01-02\n");
  o.interactions = d / "single.csv";
  testing::ExpectThrowWith<InputError>([&] { RunSplit(o, ctx); }, {"no interaction to test"});
  testing::WriteText(d / "gaps.csv", "user_id,item_id,timestamp\nu1,A,2024-01-01\nu1,B,\nu2,B,2024-01-02\n");
  o.interactions = d / "gaps.csv";
  testing::ExpectThrowWith<InputError>([&] { RunSplit(o, ctx); }, {"gaps.csv:3"});
  o.method = evaluate::SplitMethod::kRandom;
  o.test_fraction = 0.5;
  EXPECT_NO_THROW(RunSplit(o, ctx));  // random needs no timestamps; the empty cell stays empty
  o.test_fraction = std::nan("");
  EXPECT_THROW(RunSplit(o, ctx), UsageError);
}

}  // namespace
}  // namespace visrec::evaluate
