// `evaluate` on a tiny finished pipeline: several cut-offs in one call, and the K checks.
#include "visrec/evaluate/evaluate.h"

#include <gtest/gtest.h>

#include "../test_util.h"
#include "visrec/core/csv.h"
#include "visrec/core/errors.h"
#include "visrec/core/fs.h"
#include "visrec/pipeline/pipeline.h"

namespace visrec::evaluate {
namespace {

TEST(Evaluate, SeveralCutOffsEqualSingleRunsAndKIsCheckedAgainstTheLists) {
  testing::TempDir dir;
  testing::MakeTinyCatalog(dir / "catalog", 18, 40, 64, 96, 5);
  pipeline::RunOptions o;
  o.catalog = dir / "catalog" / "catalog.csv";
  o.interactions = dir / "catalog" / "interactions.csv";
  o.split = "leave-last-out";
  o.preprocess.resize = 40;
  o.preprocess.crop = 32;
  o.preprocess.max_failed_fraction = 0.3;
  o.reduce.pca.dims = 6;
  o.recommend.k = 8;
  RunContext ctx;
  ctx.workdir = dir / "work";
  ctx.threads = 2;
  pipeline::Run(o, ctx);
  const Artifact split = OpenLatest(ctx.workdir, "split");

  EvaluateOptions e;
  e.test = split.File("test.csv");
  e.k = 2;
  e.more_k = {8, 5};
  const json multi = RunEvaluate(e, ctx).summary;
  ASSERT_TRUE(multi.contains("at_k"));
  EXPECT_EQ(multi["at_k"]["2"]["model"], multi["model"]) << "the first cut-off is the headline";
  for (int k : {2, 5, 8}) {
    EvaluateOptions single = e;
    single.k = k;
    single.more_k.clear();
    const json one = RunEvaluate(single, ctx).summary;
    EXPECT_EQ(multi["at_k"][std::to_string(k)]["model"]["hr"], one["model"]["hr"]) << k;
    EXPECT_EQ(multi["at_k"][std::to_string(k)]["model"]["ndcg"], one["model"]["ndcg"]) << k;
    EXPECT_EQ(multi["at_k"][std::to_string(k)]["popularity"]["hr"], one["popularity"]["hr"]) << k;
  }
  EXPECT_LE(multi["at_k"]["2"]["model"]["hr"].get<double>(), multi["at_k"]["8"]["model"]["hr"].get<double>());

  // per_user.csv: one row per evaluated user; its columns average to the report's metrics at each K,
  // and a rank within K is exactly a hit at K.
  {
    e.more_k = {8, 5};
    const Artifact ev = RunEvaluate(e, ctx).artifact;
    const CsvTable pu = ReadCsv(ev.File("per_user.csv"));
    ASSERT_EQ(pu.header, (std::vector<std::string>{"user_id", "held_out", "rank", "hit@2", "hit@8", "hit@5",
                                                   "ndcg@2", "ndcg@8", "ndcg@5"}));
    ASSERT_EQ(int64_t(pu.rows.size()), multi["users_evaluated"].get<int64_t>());
    const int ks[] = {2, 8, 5};
    for (int c = 0; c < 3; ++c) {
      double hits = 0, ndcg = 0;
      for (const auto& r : pu.rows) {
        hits += std::stod(r[size_t(3 + c)]);
        ndcg += std::stod(r[size_t(6 + c)]);
        const bool ranked_within = !r[2].empty() && std::stoi(r[2]) <= ks[c];
        EXPECT_EQ(r[size_t(3 + c)] == "1", ranked_within) << r[0] << " at " << ks[c];
      }
      const json& m = multi["at_k"][std::to_string(ks[c])]["model"];
      EXPECT_NEAR(hits / double(pu.rows.size()), m["hr"].get<double>(), 1e-12) << ks[c];
      EXPECT_NEAR(ndcg / double(pu.rows.size()), m["ndcg"].get<double>(), 1e-6) << ks[c];
    }
    e.more_k.clear();
  }

  // K beyond the 8 recommended per user: refused, naming both.
  e.more_k = {9};
  testing::ExpectThrowWith<UsageError>([&] { RunEvaluate(e, ctx); }, {"--k 9", "the 8 recommendations"});
  // A baseline made at another K is not compared.
  e.more_k.clear();
  EvaluateOptions five = e;
  five.k = 5;
  const fs::path base = dir / "base.json";
  testing::WriteText(base, ReadFileBytes(RunEvaluate(five, ctx).artifact.File("report.json")));
  e.baseline = base;
  testing::ExpectThrowWith<UsageError>([&] { RunEvaluate(e, ctx); }, {"K=5", "K=2"});
}

}  // namespace
}  // namespace visrec::evaluate
