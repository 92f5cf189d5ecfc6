// `evaluate` on a tiny finished pipeline: several cut-offs in one call, and the K checks.
#include "visrec/evaluate/evaluate.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "../test_util.h"
#include "visrec/artifact/csv.h"
#include "visrec/pipeline/pipeline.h"
#include "visrec/util/errors.h"
#include "visrec/util/fs.h"

namespace visrec::evaluate {
namespace {

// A tiny catalog run end to end with a leave-last-out split into DIR/work (recommend_k lists per user).
struct TinySplitRun {
  pipeline::RunOptions options;
  RunContext ctx;
  TinySplitRun(const fs::path& dir, int recommend_k) {
    testing::MakeTinyCatalog(dir / "catalog", 18, 40, 64, 96, 5);
    options.catalog = dir / "catalog" / "catalog.csv";
    options.interactions = dir / "catalog" / "interactions.csv";
    options.split = evaluate::SplitMethod::kLeaveLastOut;
    options.preprocess.resize = 40;
    options.preprocess.crop = 32;
    options.preprocess.max_failed_fraction = 0.3;
    options.reduce.pca.dims = 6;
    options.recommend.k = recommend_k;
    ctx.workdir = dir / "work";
    ctx.threads = 2;
    pipeline::Run(options, ctx);
  }
};

TEST(Evaluate, SeveralCutOffsEqualSingleRunsAndKIsCheckedAgainstTheLists) {
  testing::TempDir dir;
  const TinySplitRun run(dir.path(), 8);
  const RunContext& ctx = run.ctx;
  const Artifact split = OpenLatest(ctx.workdir, "split");

  EvaluateOptions e;
  e.test = split.File("test.csv");
  e.k = 2;
  e.more_k = {8, 5};
  const json multi = json::parse(ReadFileBytes(RunEvaluate(e, ctx).artifact.File("report.json")));
  ASSERT_TRUE(multi.contains("at_k"));
  EXPECT_EQ(multi["at_k"]["2"]["model"], multi["model"]) << "the first cut-off is the headline";
  for (int k : {2, 5, 8}) {
    EvaluateOptions single = e;
    single.k = k;
    single.more_k.clear();
    const json one = json::parse(ReadFileBytes(RunEvaluate(single, ctx).artifact.File("report.json")));
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
    ASSERT_EQ(pu.header, (std::vector<std::string>{"user_id", "held_out", "rank", "hit@2", "hit@8", "hit@5", "ndcg@2",
                                                   "ndcg@8", "ndcg@5"}));
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

// Another library's lists, in visrec's recommendations format, score exactly as visrec's own; every
// malformed file is exit 3 naming the line.
TEST(Evaluate, RecommendationsFromAnySourceScoreAsTheArtifactsOwn) {
  testing::TempDir dir;
  const TinySplitRun run(dir.path(), recommend::RecommendOptions{}.k);
  const pipeline::RunOptions& o = run.options;
  const RunContext& ctx = run.ctx;
  const Artifact split = OpenLatest(ctx.workdir, "split"), rec = OpenLatest(ctx.workdir, "recommend");

  EvaluateOptions e;
  e.test = split.File("test.csv");
  e.catalog = o.catalog;
  e.more_k = {5};
  const Artifact own = RunEvaluate(e, ctx).artifact;
  // The same lists as an outside file, rows shuffled (ranks say the order), extra columns dropped.
  CsvTable lists = ReadCsv(rec.File("recommendations.csv"));
  std::reverse(lists.rows.begin(), lists.rows.end());
  std::string csv = "item_id,user_id,rank\n";
  for (const auto& r : lists.rows) csv += r[2] + "," + r[0] + "," + r[1] + "\n";
  testing::WriteText(dir / "theirs.csv", csv);
  EvaluateOptions x = e;
  x.recommendations = dir / "theirs.csv";
  x.train = split.File("train.csv");
  const Artifact theirs = RunEvaluate(x, ctx).artifact;
  EXPECT_EQ(ReadFileBytes(theirs.File("per_user.csv")), ReadFileBytes(own.File("per_user.csv")));
  const json a = json::parse(ReadFileBytes(own.File("report.json"))),
             b = json::parse(ReadFileBytes(theirs.File("report.json")));
  EXPECT_EQ(a["model"], b["model"]);
  EXPECT_EQ(a["popularity"], b["popularity"]);
  EXPECT_EQ(a["at_k"]["5"]["model"], b["at_k"]["5"]["model"]);
  bool recorded = false;
  for (const auto& in : theirs.manifest_json["inputs"]) recorded |= in["role"] == "recommendations";
  EXPECT_TRUE(recorded);

  // Hostile files and requests.
  const auto bad = [&](const std::string& text, const char* first, const char* second = "") {
    testing::WriteText(dir / "bad.csv", text);
    EvaluateOptions y = x;
    y.recommendations = dir / "bad.csv";
    y.more_k.clear();
    y.k = 1;
    testing::ExpectThrowWith<InputError>([&] { RunEvaluate(y, ctx); }, {first, second});
  };
  const std::string user = lists.rows[0][0], item = lists.rows[0][2];
  bad("user_id,rank,item_id\n", "no recommendations");
  bad("user,rank,item\n" + user + ",1," + item + "\n", "user_id and item_id");
  bad("user_id,rank,item_id\n" + user + ",1," + item + "\n" + user + ",2," + item + "\n", "line 3", "twice");
  bad("user_id,rank,item_id\n" + user + ",0," + item + "\n", "line 2", "rank '0'");
  bad("user_id,rank,item_id\n" + user + ",1," + item + "\n" + user + ",1,other\n", "line 3", "(line 2)");
  bad("user_id,rank,item_id\n" + user + ",1e9," + item + "\n", "line 2", "rank '1e9'");
  bad("user_id,rank,item_id\n" + user + ",1,nosuchitem\n", "nosuchitem", "does not list");
  bad("user_id,rank,item_id,rank\n" + user + ",1," + item + ",1\n", "'rank' twice");
  bad("user_id,rank,item_id\n" + user + ",1\n", "line 2", "fields");
  EvaluateOptions y = x;
  y.more_k = {500};
  testing::ExpectThrowWith<UsageError>([&] { RunEvaluate(y, ctx); }, {"--k 500", "longest list"});
  y = x;
  y.train.clear();
  EXPECT_THROW(RunEvaluate(y, ctx), UsageError);
  y = x;
  y.recommend = rec.dir;
  EXPECT_THROW(RunEvaluate(y, ctx), UsageError);
  y = x;
  y.label_column = "category";
  EXPECT_THROW(RunEvaluate(y, ctx), UsageError);
}

}  // namespace
}  // namespace visrec::evaluate
